"""The feature-vector neural kinds: multimodal_ae, bidnn, cmgan, corrae, dcca, contrastive, cmdn, deepsm, ccl.

Per kind: the embedding contract (shapes, eval determinism, batch independence), that a train step
moves the parameters, state_dict round trips (standardisation statistics included), weight tying /
sharing (BiDNN, CM-GANs), and an end-to-end run through ``explorer.train.train`` + ``evaluate`` on a
tiny *feature-only* collection (Wikipedia layout) whose categories are separable, which must beat
random retrieval clearly, hyperlinking and crossmodal.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer import checkpoint as ckpt_io
from explorer.data.collection import load_collection
from explorer.evaluate import evaluate
from explorer.models import MODELS, DataSpec
from explorer.models._mlp import Standardizer
from explorer.models.bidnn import BiDNN, BiDNNConfig
from explorer.models.cmgan import CMGAN, CMGAN_ABLATIONS, CMGANConfig
from explorer.models.dcca import linear_cca, total_correlation
from explorer.train import read_log, train

KINDS = ["multimodal_ae", "bidnn", "cmgan", "corrae", "dcca", "contrastive", "cmdn", "deepsm", "ccl"]
DI, DT, NC = 48, 12, 4
SPEC = DataSpec("features:builtin", DI, "builtin", DT, NC)

# Small networks so the whole file runs in seconds on a busy CPU.
SMALL = {
    "multimodal_ae": {"branch_units": 64, "shared_units": 32, "batch_size": 16},
    "bidnn": {"hidden": 64, "rep": 32, "batch_size": 16},
    "cmgan": {"hidden": 64, "disc_hidden": 32, "batch_size": 16},
    "corrae": {"hidden": [64], "code": 16, "batch_size": 16},
    "dcca": {"hidden": [64], "out_dim": 8, "batch_size": 48, "lr": 3e-3},
    "contrastive": {"hidden": 64, "dim": 16, "batch_size": 16},
    # stage 1 lasts one epoch (2 steps of the 64 fitted rows), so 3 steps reach stage 2
    "cmdn": {"hidden": 64, "code": 16, "dim": 16, "batch_size": 32, "stage1_epochs": 1, "epochs": 2},
    "deepsm": {"hidden": 64, "batch_size": 16, "dropout": 0.1},
    "ccl": {"hidden": 64, "code": 32, "dim": 16, "batch_size": 16},
}
# The end-to-end runs: ~100 train segments, so a higher learning rate and enough epochs to learn.
E2E = {"lr": 3e-3}
E2E_KIND = {"cmdn": {"stage1_epochs": 8, "epochs": 24}}  # a real first stage before the shared one
EPOCHS = {"multimodal_ae": 15, "bidnn": 15, "cmgan": 15, "corrae": 20, "dcca": 25, "contrastive": 15, "cmdn": 24,
          "deepsm": 15, "ccl": 15}
CROSSMODAL = set(KINDS)


def make(kind: str, seed: int = 0, **kw):
    torch.manual_seed(seed)
    model_cls, config_cls = MODELS[kind]
    return model_cls(config_cls(**{**SMALL[kind], **kw}), SPEC)


def fake_batch(n: int = 16, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    label = torch.arange(n) % NC
    centre_i = torch.randn(NC, DI, generator=g) * 3
    centre_t = torch.randn(NC, DT, generator=g) * 3
    return {"image": centre_i[label] + torch.randn(n, DI, generator=g) + 5.0,  # offset/scale: standardisation matters
            "text": 0.1 * (centre_t[label] + torch.randn(n, DT, generator=g)),
            "label": label}


def make_feature_collection(root: Path, train_per_cat: int = 30, test_per_cat: int = 10, seed: int = 0) -> Path:
    """A Wikipedia-layout collection: pairs.tsv + features/raw_features.npz, 4 separable categories.

    Image and text of a segment share a per-segment latent (so paired modalities correlate within a
    category too), plus a category centre in each modality.
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "features").mkdir(exist_ok=True)
    ci, ct = rng.normal(0, 2.5, (NC, DI)), rng.normal(0, 2.5, (NC, DT))
    li, lt = rng.normal(0, 1, (3, DI)), rng.normal(0, 1, (3, DT))
    rows = ["id\tcategory\timage_path\ttext_path\tsplit\timage_id\tfeature_row"]
    mats = {}
    for split, per in (("train", train_per_cat), ("test", test_per_cat)):
        imgs, txts = [], []
        for k in range(per * NC):
            c = k % NC
            z = rng.normal(0, 1, 3)
            imgs.append(np.abs(ci[c] + z @ li + rng.normal(0, 0.7, DI)))  # non-negative like SIFT-BoW
            txts.append(ct[c] + z @ lt + rng.normal(0, 0.7, DT))
            rows.append(f"{split}{k:04d}\tcat{c}\t\t\t{split}\t{split}{k:04d}\t{len(imgs) - 1}")
        mats[split] = (np.array(imgs, np.float32), np.array(txts, np.float32))
    np.savez(root / "features" / "raw_features.npz", I_tr=mats["train"][0], T_tr=mats["train"][1],
             I_te=mats["test"][0], T_te=mats["test"][1])
    (root / "pairs.tsv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def feature_collection(tmp_path_factory) -> Path:
    return make_feature_collection(tmp_path_factory.mktemp("feat") / "tinyfeat")


# ------------------------------------------------------------------------------------- shared pieces
def test_standardizer_is_fitted_on_the_whole_train_split_by_fit_input_stats(feature_collection):
    x = torch.randn(300, 5, dtype=torch.float64) * torch.tensor([1.0, 2.0, 3.0, 0.5, 10.0]) + 7
    s = Standardizer(5)
    assert torch.equal(s(x[:3].float()), x[:3].float())  # identity before any statistics
    s.fit(x)
    torch.testing.assert_close(s.mean, x.mean(0))
    torch.testing.assert_close(s.std(), x.std(0))
    z = s(x.float())
    torch.testing.assert_close(z.mean(0), torch.zeros(5), atol=1e-4, rtol=0)
    assert set(s.state_dict()) == {"count", "mean", "m2"}  # the names old checkpoints carry
    off = Standardizer(5, enabled=False)
    off.fit(x)
    assert torch.equal(off(x[:3].float()), x[:3].float())
    # through the runner: the statistics are exactly the train split's, and training steps never move them
    from explorer.train import train

    run = train("multimodal_ae", str(feature_collection), epochs=1, device="cpu", seed=0, progress_bar=False,
                out=feature_collection.parent / "mae-stats")
    model = ckpt_io.build_model(ckpt_io.load(run / "latest.pt"))
    coll = load_collection(feature_collection)
    from explorer.data.collection import hash_split

    # this collection has no val split: the runner holds out ~10 % of train (hash_split) for selection
    train_rows = [i for i, seg in enumerate(coll.segments) if seg.split == "train"
                  and hash_split(seg.id, val_fraction=0.1, test_fraction=0.0) != "val"]
    text = torch.as_tensor(np.asarray(coll.features["text"])[train_rows], dtype=torch.float64)
    assert float(model.norm_text.count) == len(train_rows)
    torch.testing.assert_close(model.norm_text.mean, text.mean(0))


def test_a_retired_option_loads_from_a_checkpoint_but_is_refused_when_asked():
    from explorer.models.base import ConfigError, config_from_dict

    _, cfg_cls = MODELS["bidnn"]
    values = {**asdict(cfg_cls()), "norm_samples": 20_000}
    assert config_from_dict(cfg_cls, values, from_checkpoint=True) == cfg_cls()
    with pytest.raises(ConfigError, match="norm_samples was removed: input statistics"):
        config_from_dict(cfg_cls, values)


def test_registry_has_every_kind_with_documented_defaults():
    for kind in KINDS:
        model_cls, config_cls = MODELS[kind]
        c = config_cls()
        assert model_cls.kind == kind and not model_cls.wants_pixels and not model_cls.closed_form
        assert c.batch_size > 0 and c.epochs > 0
        assert len(__import__(model_cls.__module__, fromlist=["_"]).__doc__) > 300  # the kind is documented
    with pytest.raises(ValueError, match="feature vectors"):
        MODELS["bidnn"][0](BiDNNConfig(), DataSpec("pixels64", 3 * 64 * 64, "word2vec", 100))


# ------------------------------------------------------------------------------------- the contract
@pytest.mark.parametrize("kind", KINDS)
def test_train_step_embed_and_state_dict_round_trip(kind):
    m = make(kind)
    fit_rows = fake_batch(64, seed=123)
    m.fit_input_stats({"image": fit_rows["image"], "text": fit_rows["text"], "label": fit_rows["label"]})
    opts = m.configure_optimizers()
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    m.train()
    out = {}
    for step in range(3):
        out = m.train_step(fake_batch(16, seed=step), opts)
    assert out and all(isinstance(v, float) and np.isfinite(v) for v in out.values())
    changed = [n for n, p in m.named_parameters() if p.requires_grad and not torch.equal(before[n], p.detach())]
    frozen = [n for n, p in m.named_parameters() if p.requires_grad and torch.equal(before[n], p.detach())]
    assert changed and not frozen, f"parameters that did not move: {frozen}"
    assert float(m.norm_image.count) == 64 and float(m.norm_text.count) == 64  # fitted once, steps never move them

    m.eval()
    b = fake_batch(10, seed=99)
    with torch.inference_mode():
        e1 = m.embed(b["image"], b["text"])
        e2 = m.embed(b["image"], b["text"])
        alone = m.embed(b["image"][3:4], b["text"][3:4])
    assert e1["joint"].shape[0] == 10 and e1["joint"].ndim == 2 and torch.isfinite(e1["joint"]).all()
    if kind in CROSSMODAL:
        assert e1["image"].shape == e1["text"].shape and e1["image"].shape[0] == 10
    for k in e1:
        assert torch.equal(e1[k], e2[k])  # deterministic in eval mode
        torch.testing.assert_close(alone[k][0], e1[k][3], rtol=1e-4, atol=1e-5)  # no batch effect

    # state_dict round trip into a fresh model (buffers: standardisation statistics, running stats)
    fresh = make(kind, seed=123)
    fresh.load_state_dict(m.state_dict())
    fresh.eval()
    with torch.inference_mode():
        e3 = fresh.embed(b["image"], b["text"])
    for k in e1:
        torch.testing.assert_close(e3[k], e1[k])


# ------------------------------------------------------------------------------------- BiDNN tying
def test_bidnn_central_matrices_are_one_parameter_used_by_both_directions():
    m = make("bidnn", dropout=0.0)
    names = [n for n, _ in m.named_parameters()]
    assert "W_center" in names and "W_bridge" in names
    assert not any(n.startswith(("W_center_t2i", "W_bridge_t2i")) for n in names)
    w_in, w_out = m._weights_t2i()
    # the text->image direction's matrices are views of the very same tensors
    assert w_in._base is m.W_bridge and w_out._base is m.W_center
    assert w_in.data_ptr() == m.W_bridge.data_ptr() and w_out.data_ptr() == m.W_center.data_ptr()

    b = fake_batch(16)
    m.fit_input_stats(b)
    xi, xt = m.standardise(b["image"], b["text"])
    # each direction alone puts gradient on both tied matrices
    for direction in ("i2t", "t2i"):
        m.zero_grad()
        m.losses(xi, xt)[direction].backward()
        assert m.W_center.grad.abs().sum() > 0 and m.W_bridge.grad.abs().sum() > 0, direction

    # one optimiser step changes both uses: image->text's W_center and text->image's W_center.T
    opts = m.configure_optimizers()
    c0, w0 = m.W_center.detach().clone(), m._weights_t2i()[1].detach().clone()
    m.train_step(b, opts)
    c1, w1 = m.W_center.detach(), m._weights_t2i()[1].detach()
    assert not torch.equal(c0, c1) and not torch.equal(w0, w1)
    torch.testing.assert_close(w1, c1.t())


def test_bidnn_untied_and_reference_quirk_options():
    m = make("bidnn", tied=False)
    w_in, w_out = m._weights_t2i()
    assert w_in is m.W_bridge_t2i and w_out is m.W_center_t2i
    n_untied = sum(p.numel() for p in m.parameters())
    assert n_untied > sum(p.numel() for p in make("bidnn").parameters())
    ref = make("bidnn", rep_norm="matrix", output_activation="tanh", loss="concat", optimizer="nesterov", lr=0.1)
    opts = ref.configure_optimizers()
    assert isinstance(opts["bidnn"], torch.optim.SGD) and opts["bidnn"].defaults["nesterov"]
    for s in range(3):
        out = ref.train_step(fake_batch(16, seed=s), opts)
    assert np.isfinite(out["loss"]) and float(ref.target_scale) > 0 and float(ref.rep_sq_image) != 1.0
    xi, xt = ref.standardise(fake_batch(16)["image"], fake_batch(16)["text"])
    parts = ref.losses(xi, xt)
    di, dt = DI, DT
    torch.testing.assert_close(parts["loss"], (parts["i2t"] * dt + parts["t2i"] * di) / (di + dt))  # one mean over all outputs
    ref.eval()
    with torch.inference_mode():
        e = ref.embed(fake_batch(4)["image"], fake_batch(4)["text"])
        assert ref.translate(image=fake_batch(4)["image"]).abs().max() <= 1  # tanh outputs
    assert e["joint"].shape == (4, 32)
    with pytest.raises(ValueError, match="rep_norm"):
        make("bidnn", rep_norm="columns")


def test_bidnn_lone_modality_embeddings():
    b = fake_batch(5)
    dup = make("bidnn", lone_modality="duplicate").eval()  # the reference: duplicate the central layer
    with torch.inference_mode():
        e = dup.embed(b["image"], b["text"])
    half = e["joint"].shape[1] // 2
    torch.testing.assert_close(e["image"][:, :half], e["image"][:, half:])
    torch.testing.assert_close(e["joint"][:, :half], e["image"][:, :half])
    torch.testing.assert_close(e["joint"][:, half:], e["text"][:, :half])

    tr = make("bidnn").eval()  # default: translate the missing modality, embed the completed pair
    with torch.inference_mode():
        e = tr.embed(b["image"], b["text"])
        xi, xt = tr.standardise(b["image"], b["text"])
        ri, rt = tr.rep_image(xi), tr.rep_text(xt)
        text_from_image = tr.rep_text(tr.image_to_text(ri))
    torch.testing.assert_close(e["image"][:, :half], e["joint"][:, :half])
    torch.testing.assert_close(e["image"][:, half:], torch.nn.functional.normalize(text_from_image, dim=1))
    torch.testing.assert_close(e["text"][:, half:], e["joint"][:, half:])


# ------------------------------------------------------------------------------------- CM-GANs
def test_cmgan_last_encoder_layer_is_shared_unless_disabled():
    m = make("cmgan")
    assert m.fc2("image") is m.fc2("text") is m.shared_fc
    # a text-only loss moves the shared layer, which the image encoder uses too
    b = fake_batch(16)
    m.fit_input_stats(b)
    xi, xt = m.standardise(b["image"], b["text"])
    m.zero_grad()
    m.encode_text(xt).sum().backward()
    assert m.shared_fc.weight.grad.abs().sum() > 0 and m.enc1_image[0].weight.grad is None
    img_before = m.eval().encode_image(xi).detach().clone()
    m.train()
    opt = torch.optim.SGD(m.shared_fc.parameters(), lr=0.1)
    opt.step()
    assert not torch.allclose(m.eval().encode_image(xi), img_before)

    u = make("cmgan", weight_sharing=False)
    assert u.fc2("image") is not u.fc2("text") and not hasattr(u, "shared_fc")


def test_cmgan_ablation_presets_and_flags():
    assert set(CMGAN_ABLATIONS) >= {"full", "no_ws_no_sc", "ws_only", "sc_only", "inter_only", "cae"}
    c = CMGANConfig(ablation="no_ws_no_sc")
    assert (c.weight_sharing, c.semantic) == (False, False)
    cae = make("cmgan", ablation="cae")
    assert set(cae.configure_optimizers()) == {"G"} and not cae.discriminators()
    out = cae.train_step(fake_batch(16), cae.configure_optimizers())
    assert "d_loss" not in out and "semantic" in out
    inter = make("cmgan", ablation="inter_only")
    assert [type(d) for d in inter.discriminators()] and not hasattr(inter, "D_intra_image") and hasattr(inter, "D_inter_text")
    no_sc = make("cmgan", semantic=False)
    assert not hasattr(no_sc, "classifier") and "semantic" not in no_sc.train_step(fake_batch(16), no_sc.configure_optimizers())
    full = make("cmgan")
    out = full.train_step(fake_batch(16), full.configure_optimizers())
    assert {"d_loss", "g_loss", "rec_image", "rec_text", "semantic", "g_adv"} <= set(out)
    # discriminators are not in the generator's optimiser and vice versa
    opts = full.configure_optimizers()
    g_ids = {id(p) for grp in opts["G"].param_groups for p in grp["params"]}
    d_ids = {id(p) for grp in opts["D"].param_groups for p in grp["params"]}
    assert not g_ids & d_ids and len(g_ids) + len(d_ids) == len(list(full.parameters()))
    with pytest.raises(ValueError, match="unknown cmgan ablation"):
        CMGANConfig(ablation="nope")
    # unlabelled batches: the semantic term is skipped, nothing breaks
    b = fake_batch(16)
    b["label"] = torch.full((16,), -1)
    m = make("cmgan")
    out = m.train_step(b, m.configure_optimizers())
    assert "semantic" not in out and np.isfinite(out["g_loss"])


# ------------------------------------------------------------------------------------- DCCA
def test_dcca_total_correlation_and_linear_cca():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(500, 3, generator=g, dtype=torch.float64)
    h1 = torch.cat([z, torch.randn(500, 2, generator=g, dtype=torch.float64)], 1)
    h2 = torch.cat([z @ torch.randn(3, 3, generator=g, dtype=torch.float64), torch.randn(500, 2, generator=g, dtype=torch.float64)], 1)
    corr = total_correlation(h1, h2, reg=1e-6)
    assert 2.9 < float(corr) < 3.4  # three perfectly correlated directions + two independent (small) ones
    h1c, h2c = (h1 - h1.mean(0)).numpy(), (h2 - h2.mean(0)).numpy()
    s11, s22, s12 = h1c.T @ h1c / 499 + 1e-6 * np.eye(5), h2c.T @ h2c / 499 + 1e-6 * np.eye(5), h1c.T @ h2c / 499
    a, b, cc = linear_cca(s11, s22, s12)
    assert np.allclose(cc[:3], 1, atol=1e-4) and cc[3] < 0.3
    p1, p2 = h1c @ a[:, :3], h2c @ b[:, :3]
    assert np.allclose(p1, p2, atol=1e-3)  # canonical variates of perfectly correlated directions coincide


def test_dcca_projection_cache_follows_the_statistics():
    m = make("dcca")
    opts = m.configure_optimizers()
    m.train_step(fake_batch(48), opts)
    a1, _, _ = m.projections()
    m.train_step(fake_batch(48, seed=1), opts)
    a2, _, corr = m.projections()
    assert not torch.equal(a1, a2) and corr.shape == (8,) and bool((corr[:-1] >= corr[1:]).all())
    fresh = make("dcca", seed=5)
    fresh.projections()
    fresh.load_state_dict(m.state_dict())  # same stat_steps count must not reuse a stale solve
    torch.testing.assert_close(fresh.projections()[0], a2)


# ------------------------------------------------------------------------------------- end to end
@pytest.mark.parametrize("kind", KINDS)
def test_train_checkpoint_round_trip_and_beats_random(kind, feature_collection, tmp_path):
    run = train(kind, str(feature_collection), epochs=EPOCHS[kind], device="cpu", out=tmp_path / "run",
                overrides={**SMALL[kind], **E2E, **E2E_KIND.get(kind, {})}, progress_bar=False)
    log = read_log(run)
    assert [r for r in log if r["type"] == "epoch"][-1]["epoch"] == EPOCHS[kind]
    assert (run / "best.pt").exists() and (run / "latest.pt").exists()
    ckpt = ckpt_io.load(run / "latest.pt")
    model = ckpt_io.build_model(ckpt)  # strict load: every buffer and parameter is in the checkpoint
    assert float(model.norm_image.count) > 0
    for k, v in model.state_dict().items():
        assert torch.equal(v, ckpt["model_state"][k])

    if kind == "cmdn":  # a checkpoint of stage 1 (shared layers untrained) is never selected as best
        assert ckpt_io.load(run / "best.pt")["progress"]["epoch"] > E2E_KIND["cmdn"]["stage1_epochs"]
    res = evaluate(str(run / "best.pt"), str(feature_collection), split="test", progress=False)
    again = evaluate(str(run / "best.pt"), load_collection(str(feature_collection)), split="test", progress=False)
    assert res["hyperlinking"] == again["hyperlinking"]  # deterministic embedding from the checkpoint
    # 4 balanced categories, 40 test segments: random MAP ~ 0.25, random P@10 ~ 0.23
    assert res["hyperlinking"]["map"] > 0.6, res["hyperlinking"]
    assert res["hyperlinking"]["p@10"] > 0.6
    if kind in CROSSMODAL:
        cm = res["crossmodal"]
        assert cm["img2txt"] > 0.45 and cm["txt2img"] > 0.45, cm  # random ~ 0.27


def test_cmgan_semantic_retrieval_space_from_the_same_weights(feature_collection, tmp_path):
    """``retrieval_space="semantic"`` embeds with the classifier's softmax posteriors of the common
    representation, chosen at evaluation time on a trained checkpoint; the bench adds it as a row
    that reuses the cmgan runs (no retraining) and scores exactly those embeddings."""
    from explorer.bench_quality import SEMANTIC_SPACE_ROW, run_quality
    from explorer.evaluate import LoadedModel, split_indices
    from explorer.metrics import crossmodal_map

    cfg = {**SMALL["cmgan"], **E2E}
    res = run_quality(str(feature_collection), seeds=1, models=["text-only", "cmgan"], out=tmp_path / "res", runs=tmp_path / "runs",
                      device="cpu", epochs=6, overrides={"cmgan": cfg}, ablations=False, say=lambda _: None)
    row = res["models"][SEMANTIC_SPACE_ROW]
    assert res["order"] == ["text-only", "cmgan", SEMANTIC_SPACE_ROW] and row["derived_from"] == "cmgan"
    # the derived row never competes with its own source in the significance test
    assert {res["significance"]["best"], res["significance"]["runner_up"]} == {"text-only", "cmgan"}
    assert res["significance_unsupervised"] is None  # one label-free row only
    assert row["actions"][0] == "reused" and row["run_dirs"] == res["models"]["cmgan"]["run_dirs"]
    assert row["supervised"] and res["compute"]["n_runs"] == 1  # the derived row trains nothing

    best = tmp_path / "runs" / "cmgan-s0" / "best.pt"
    coll = load_collection(str(feature_collection))
    idx = split_indices(coll, "test")
    common = LoadedModel(best).embeddings(coll, idx)
    sem = LoadedModel(best, config_overrides={"retrieval_space": "semantic"})
    emb = sem.embeddings(coll, idx)
    assert emb["image"].shape == (len(idx), NC) and np.allclose(emb["text"].sum(1), 1, atol=1e-5)
    with torch.no_grad():  # the posteriors of the common representation, by hand
        expect = sem.model.classifier(torch.as_tensor(common["image"])).softmax(1).numpy()
    assert np.allclose(emb["image"], expect, atol=1e-5)
    cats = [coll.segments[i].category for i in idx]
    assert row["per_seed"][0]["crossmodal"]["img2txt"] == pytest.approx(crossmodal_map(emb["image"], emb["text"], cats)["img2txt"])
    assert SEMANTIC_SPACE_ROW in (tmp_path / "res" / "quality-tinyfeat.md").read_text()

    with pytest.raises(ValueError, match="retrieval_space"):
        CMGANConfig(retrieval_space="posterior")
    no_sc = make("cmgan", semantic=False, retrieval_space="semantic")
    with pytest.raises(ValueError, match="semantic constraint"):
        no_sc.eval().embed(fake_batch(4)["image"], fake_batch(4)["text"])


@pytest.mark.parametrize("kind", ["cmgan", "multimodal_ae"])
def test_inference_only_release_leaves_out_training_modules(kind, tmp_path):
    """``explorer release`` leaves out what embed() never uses; the rebuilt model embeds exactly as the
    full one, and a left-out module says what happened when called."""
    model = make(kind).eval()
    model.train_step(fake_batch(16), model.configure_optimizers())  # fills the standardiser statistics
    model.eval()
    ckpt = {"kind": kind, "config": {**SMALL[kind]}, "data_spec": SPEC.to_dict(),
            "model_state": model.state_dict(), "progress": {"rng": {}, "epoch": 1}, "optimizer_state": {}}
    rel = ckpt_io.strip_for_release(ckpt, inference_only=True)
    left_out = type(model).training_only_modules
    assert sorted(rel["inference_only"]) == sorted(m for m in left_out if hasattr(model, m))
    assert not any(k.split(".")[0] in left_out for k in rel["model_state"]) and "optimizer_state" not in rel
    assert len(rel["model_state"]) < len(ckpt["model_state"])
    ckpt_io.save(rel, tmp_path / "rel.pt")
    rebuilt = ckpt_io.build_model(ckpt_io.load(tmp_path / "rel.pt"))
    b = fake_batch(8, seed=3)
    with torch.no_grad():
        full, lean = model.embed(b["image"], b["text"]), rebuilt.embed(b["image"], b["text"])
    for key in full:
        assert torch.equal(full[key], lean[key]), key
    with pytest.raises(RuntimeError, match="left out of this inference-only release"):
        rebuilt.dec_image(torch.zeros(1, 4))
    # anything else missing is still an error
    broken = dict(rel, model_state={k: v for k, v in rel["model_state"].items() if not k.startswith("enc")})
    with pytest.raises(ValueError, match="do not fit the model its config describes: .*missing keys"):
        ckpt_io.build_model(broken)
    assert ckpt_io.strip_for_release(ckpt)["model_state"].keys() == ckpt["model_state"].keys()  # default: all kept
