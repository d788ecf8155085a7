"""Closed-form baselines cca / kcca / cfa: the solvers against known answers, the runner round trip."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from explorer import checkpoint as ckpt_io
from explorer.evaluate import evaluate
from explorer.models import MODELS, DataSpec
from explorer.models.cca import Cca, CcaConfig, cca_fit
from explorer.models.cfa import cfa_fit
from explorer.models.kcca import Kcca, KccaConfig, median_gamma
from explorer.train import train


def _planted(n=400, dx=6, dy=4, rho=(0.9, 0.6), seed=0):
    """x and y sharing latent components with known canonical correlations ``rho``, mixed linearly."""
    rng = np.random.default_rng(seed)
    k = len(rho)
    z = rng.standard_normal((n, k))
    u = rho * z + np.sqrt(1 - np.square(rho)) * rng.standard_normal((n, k))  # corr(z_j, u_j) = rho_j
    x_lat = np.hstack([z, rng.standard_normal((n, dx - k))])
    y_lat = np.hstack([u, rng.standard_normal((n, dy - k))])
    ax, ay = rng.standard_normal((dx, dx)), rng.standard_normal((dy, dy))  # invertible mixings
    return x_lat @ ax + 3.0, y_lat @ ay - 1.0


def _brute_force_corr(x, y):
    """Canonical correlations from the generalized symmetric eigenproblem [[0,Cxy],[Cyx,0]] w = r diag(Cxx,Cyy) w."""
    c = np.cov(np.hstack([x, y]).T)
    dx = x.shape[1]
    a = np.zeros_like(c)
    a[:dx, dx:], a[dx:, :dx] = c[:dx, dx:], c[dx:, :dx]
    b = np.zeros_like(c)
    b[:dx, :dx], b[dx:, dx:] = c[:dx, :dx], c[dx:, dx:]
    return np.sort(scipy.linalg.eigh(a, b, eigvals_only=True))[::-1]


def test_cca_matches_the_generalized_eigenproblem_and_recovers_planted_correlation():
    x, y = _planted()
    fit = cca_fit(x, y, n_components=4, reg=0.0)
    ref = _brute_force_corr(x, y)[:4]
    np.testing.assert_allclose(fit["corr"], ref, atol=1e-8)
    assert abs(fit["corr"][0] - 0.9) < 0.05 and abs(fit["corr"][1] - 0.6) < 0.1  # the planted components
    # the projections are the canonical variates: unit variance, pairwise correlation = corr, else 0
    px, py = (x - fit["mean_x"]) @ fit["w_x"], (y - fit["mean_y"]) @ fit["w_y"]
    np.testing.assert_allclose(np.cov(px.T), np.eye(4), atol=1e-8)
    np.testing.assert_allclose(np.cov(py.T), np.eye(4), atol=1e-8)
    np.testing.assert_allclose(np.diag(np.corrcoef(px.T, py.T)[:4, 4:]), fit["corr"], atol=1e-8)


def test_cca_agrees_with_sklearn_first_component():
    from sklearn.cross_decomposition import CCA as SkCCA

    x, y = _planted(seed=1)
    ours = cca_fit(x, y, n_components=1, reg=0.0)
    sx, sy = SkCCA(n_components=1, max_iter=1000, tol=1e-10).fit(x, y).transform(x, y)
    sk_corr = abs(np.corrcoef(sx[:, 0], sy[:, 0])[0, 1])
    assert abs(ours["corr"][0] - sk_corr) < 1e-6
    px = (x - ours["mean_x"]) @ ours["w_x"]
    assert abs(abs(np.corrcoef(px[:, 0], sx[:, 0])[0, 1]) - 1) < 1e-6  # same direction up to sign


def test_cca_high_dimensional_and_rank_deficient_inputs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 300))  # D > N: Gram-matrix path
    y = rng.standard_normal((20, 5))
    y[:, 4] = 1 - y[:, :4].sum(1)  # rows sum to 1, like LDA proportions: rank 4 after centring
    fit = cca_fit(x, y, n_components=5, reg=1e-3)
    assert fit["w_x"].shape == (300, 5) and np.all(np.isfinite(fit["w_x"]))
    assert fit["corr"][4] == 0 and np.all(fit["w_y"][:, 4] == 0)  # only 4 components exist
    assert np.all(np.diff(fit["corr"]) <= 1e-12)


def test_cfa_is_the_svd_of_the_cross_product_and_orthonormal():
    x, y = _planted(seed=2)
    fit = cfa_fit(x, y, n_components=3, normalize="center")
    xc, yc = x - x.mean(0), y - y.mean(0)
    s = np.linalg.svd(xc.T @ yc, compute_uv=False)
    np.testing.assert_allclose(fit["s"], s[:3], rtol=1e-10)
    np.testing.assert_allclose(fit["w_x"].T @ fit["w_x"], np.eye(3), atol=1e-10)
    np.testing.assert_allclose(fit["w_y"].T @ fit["w_y"], np.eye(3), atol=1e-10)
    # optimality: no orthonormal pair has a larger tr(Wx^T X^T Y Wy) (the only term of ||X Wx - Y Wy||_F^2
    # that varies under full orthogonal transforms), also not a small perturbation of the optimum
    best = np.trace(fit["w_x"].T @ xc.T @ yc @ fit["w_y"])
    rng = np.random.default_rng(0)
    for scale in (10.0, 0.05):
        for _ in range(20):
            qx = np.linalg.qr(fit["w_x"] + scale * rng.standard_normal((x.shape[1], 3)))[0]
            qy = np.linalg.qr(fit["w_y"] + scale * rng.standard_normal((y.shape[1], 3)))[0]
            assert np.trace(qx.T @ xc.T @ yc @ qy) <= best + 1e-9


def test_kcca_nystroem_reproduces_the_kernel_on_landmarks_and_median_gamma():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 3))
    g = median_gamma(x)
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
    assert np.isclose(g, 1 / (2 * np.median(d2[np.triu_indices(30, 1)])))
    spec = DataSpec("features:builtin", 3, "builtin", 2, 0)
    model = Kcca(KccaConfig(n_landmarks=64, n_components=2), spec)  # 30 rows < 64 slots: all are landmarks
    torch.manual_seed(0)
    y = np.hstack([np.sin(x[:, :1]), x[:, 1:2] ** 2]) + 0.05 * rng.standard_normal((30, 2))
    info = model.fit_closed_form({"image": torch.tensor(x, dtype=torch.float32), "text": torch.tensor(y, dtype=torch.float32)})
    assert info["n_landmarks_used"] == 30
    phi = model._features(torch.tensor(x), "x").numpy()
    k_true = np.exp(-model.gamma_x.item() * d2)
    np.testing.assert_allclose(phi @ phi.T, k_true, atol=1e-5)
    out = model.embed(torch.tensor(x[:5], dtype=torch.float32), torch.tensor(y[:5], dtype=torch.float32))
    assert out["image"].shape == out["text"].shape == (5, 2) and out["joint"].shape == (5, 2)


def test_fresh_models_match_state_dict_shapes():
    spec = DataSpec("features:builtin", 128, "builtin", 10, 10)
    for kind in ("cca", "kcca", "cfa", "jrl", "lgcfl"):
        cls, cfg = MODELS[kind]
        a, b = cls(cfg(), spec), cls(cfg(), spec)
        b.load_state_dict(a.state_dict())  # no fit needed: shapes come from config + spec
        assert cls.closed_form and a.configure_optimizers() == {}
    assert Cca(CcaConfig(), spec).w_x.shape == (128, 10)


@pytest.mark.parametrize("kind", ["cca", "kcca", "cfa"])
def test_train_checkpoint_round_trip_and_beats_random(kind, tiny_collection, tmp_path):
    overrides = {"n_landmarks": 24} if kind == "kcca" else {}  # 24 of the 32 train rows: seeded sampling
    run = train(kind, str(tiny_collection), device="cpu", out=tmp_path / kind, visual="pixels", progress_bar=False,
                overrides=overrides)
    best = run / "best.pt"
    ckpt = ckpt_io.load(best)
    assert ckpt["kind"] == kind and ckpt["progress"]["global_step"] == 1 and "val_p@10" in ckpt["metrics"]
    model = ckpt_io.build_model(ckpt)  # rebuilt from the checkpoint alone
    for name, tensor in ckpt["model_state"].items():
        assert torch.equal(model.state_dict()[name], tensor)
    res = evaluate(str(best), str(tiny_collection), split="test", progress=False)
    # the tiny set has 4 balanced categories: random P@10 / MAP ~ 0.25 (and P@10 <= 3/10 within test)
    assert res["hyperlinking"]["map"] > 0.5, res
    assert set(res["crossmodal"]) == {"img2txt", "txt2img", "img2all", "txt2all"}
    assert res["crossmodal"]["img2txt"] > 0.4 and res["crossmodal"]["txt2img"] > 0.4, res
    # the same numbers from a second evaluation (deterministic embeddings)
    again = evaluate(str(best), str(tiny_collection), split="test", progress=False)
    assert again["hyperlinking"] == res["hyperlinking"]


def test_lgcfl_group_lasso_is_least_squares_without_prior_and_drops_whole_groups():
    from explorer.models.lgcfl import feature_groups, group_lasso_regression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 12))
    w_true = np.zeros((12, 3))
    w_true[:4] = rng.normal(size=(4, 3))  # only the first group of 4 features matters
    y = x @ w_true + 0.01 * rng.normal(size=(200, 3))
    groups = feature_groups(12, 3)
    assert [list(g) for g in groups] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    w0, _ = group_lasso_regression(x, y, groups, lam=0.0, iterations=3, ridge=0.0)
    np.testing.assert_allclose(w0, np.linalg.lstsq(x, y, rcond=None)[0], atol=1e-8)
    w, obj = group_lasso_regression(x, y, groups, lam=50.0, iterations=30)
    norms = [np.linalg.norm(w[g]) for g in groups]
    assert norms[0] > 1.0 and norms[1] < 1e-3 and norms[2] < 1e-3  # the useless groups go as wholes
    assert all(b <= a + 1e-9 for a, b in zip(obj, obj[1:]))  # IRLS never increases the objective


def test_jrl_graph_and_sparse_rows():
    from explorer.models.jrl import JrlConfig, joint_graph_laplacian, jrl_fit

    rng = np.random.default_rng(1)
    label = np.repeat(np.arange(3), 20)
    label[::10] = -1  # a few unlabelled rows: heat-kernel edges
    xi = rng.normal(size=(60, 10)) + np.eye(3)[np.maximum(label, 0)] @ rng.normal(size=(3, 10)) * 3
    xt = rng.normal(size=(60, 6)) + np.eye(3)[np.maximum(label, 0)] @ rng.normal(size=(3, 6)) * 3
    L = joint_graph_laplacian(xi, xt, label, knn=5, heat=1.0).toarray()
    np.testing.assert_allclose(L, L.T)
    np.testing.assert_allclose(L.sum(1), 0, atol=1e-9)  # a Laplacian
    assert all(L[i, 60 + i] < 0 for i in range(60))  # each segment's image and text are joined
    same = [(i, j) for i in range(60) for j in range(60) if i != j and L[i, j] < 0]
    assert all(label[i] == label[j] for i, j in same if label[i] >= 0 and label[j] >= 0)  # labelled: same category only
    xi[:, 9] = rng.normal(size=60) * 0.01  # a feature with no information
    fit = jrl_fit(xi, xt, label, 3, JrlConfig(lambda_sparse=20.0, iterations=20))
    rows = np.linalg.norm(fit["p_image"], axis=1)
    assert rows[9] < 0.05 * rows.max()  # the l2,1 prior switches the useless input feature off
    assert fit["objective"][-1] <= fit["objective"][0]


@pytest.mark.parametrize("kind", ["jrl", "lgcfl"])
def test_label_projections_fit_a_feature_collection_and_beat_random(kind, tmp_path):
    """JRL and LGCFL (supervised, closed form) on a generated Wikipedia-layout collection, rebuilt from the
    checkpoint alone; raw pixels (12,288-d) are refused with a message instead of hours of solving."""
    from .test_models_neural import make_feature_collection

    root = make_feature_collection(tmp_path / "feat")
    run = train(kind, str(root), device="cpu", out=tmp_path / kind, progress_bar=False)
    ckpt = ckpt_io.load(run / "best.pt")
    assert ckpt["kind"] == kind and MODELS[kind][0].uses_labels(MODELS[kind][1]())
    res = evaluate(str(run / "best.pt"), str(root), split="test", progress=False)
    # 4 balanced categories, 40 test segments: random MAP ~ 0.25
    assert res["hyperlinking"]["map"] > 0.8 and res["crossmodal"]["img2txt"] > 0.7 and res["crossmodal"]["txt2img"] > 0.7, res
    with pytest.raises(ValueError, match="at most 4096 features"):
        MODELS[kind][0](MODELS[kind][1](), DataSpec("pixels64", 3 * 64 * 64, "word2vec", 100, 4))
