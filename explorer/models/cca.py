"""Linear canonical correlation analysis (CCA): the "correlation matching" baseline of Rasiwasia et al.
(ACM MM 2010).

Given paired training features X (N, Di) (images) and Y (N, Dt) (texts), CCA finds projections
Wx (Di, k) and Wy (Dt, k) such that the columns of (X - mx) Wx and (Y - my) Wy are maximally
correlated pairwise and uncorrelated otherwise (unit variance on the training set). Retrieval in the
common space ranks by cosine similarity ("normalised correlation", Rasiwasia's best distance).

Solver (``cca_fit``, numpy/scipy, exact, no iterative optimisation):

1. centre both views on the training mean;
2. eigenbasis V of each centred view's covariance (``eigh`` of the (D, D) covariance, or of the
   (N, N) Gram matrix when D > N: the right singular vectors of ``Xc``), eigenvalues ``ev``; directions with ``ev <= 1e-10 * max(ev)`` (outside the data span, e.g. the
   all-ones direction of LDA topic proportions, or everything beyond rank N - 1 when D > N) are dropped;
3. ridge regularisation ``C + reg * mean(ev) * I`` (``reg`` is relative to the average variance, so it
   does not depend on the feature scale) and whitening ``V diag((ev + r)^-1/2)``;
4. SVD of the whitened cross-covariance ``T = Wx_w^T Cxy Wy_w = P R Q^T``: canonical correlations R,
   ``Wx = Wx_w P[:, :k]``, ``Wy = Wy_w Q[:, :k]`` (only the top k triplets are computed when k is
   small against T's size).

This is the generalized symmetric eigenproblem ``[[0, Cxy], [Cyx, 0]] w = rho [[Cxx, 0], [0, Cyy]] w``
solved through whitening; working in the eigenbasis makes it cost O(N D min(N, D)) and handles D > N
(e.g. 12,288-d pixels) without a D x D matrix.

Buffers are allocated from config/spec only (``k = n_components or min(Di, Dt)``), so ``__init__``
of a fresh model always matches a checkpoint's ``state_dict``. Components beyond the data's rank, or
with a training canonical correlation below ``min_corr``, are stored as zero columns: they add
nothing to any cosine, so the effective dimension adapts to the data (on Wikipedia the 10-d LDA
proportions sum to 1, so after centring only 9 components exist: exactly Rasiwasia's 9).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .base import DataSpec, MultimodalModel


@dataclass
class CcaConfig:
    #: common-space dimension; None = min(image_dim, text_dim) (Rasiwasia et al. use 9 on Wikipedia,
    #: which is what None gives there, see the module docstring)
    n_components: int | None = None
    #: ridge on each covariance, relative to its mean eigenvalue (C + reg * trace(C)/rank * I)
    reg: float = 1e-4
    #: subtract the training mean before projecting (standard CCA); False projects raw features
    center: bool = True
    #: scale component j of both projections by corr_j ** corr_power (0 = plain CCA, as in the paper;
    #: 1-4 = the weighting of Gong et al. IJCV 2014)
    corr_power: float = 0.0
    #: components whose training canonical correlation is <= min_corr are zeroed
    min_corr: float = 1e-6
    epochs: int = 1  # closed form: one "epoch" (the runner logs it as such)


@contextmanager
def single_thread_blas():
    """Run dense linear algebra on one BLAS/torch thread, restoring the settings afterwards.

    The fits are small (matrices of at most a few thousand rows), where one thread costs seconds. On a
    machine shared with other jobs, multi-threaded OpenBLAS/LAPACK eigensolvers can be 10-40x *slower*
    than one thread (measured: ``eigh`` of a 1024 x 1024 covariance 6 s on one thread, 250 s on two
    threads of two oversubscribed cores), so the fits never depend on the machine being idle.
    """
    n_torch = torch.get_num_threads()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn's dependency; without it only torch is limited
        threadpool_limits = None
    torch.set_num_threads(1)
    try:
        if threadpool_limits is None:
            yield
        else:
            with threadpool_limits(limits=1):
                yield
    finally:
        torch.set_num_threads(n_torch)


def _as64(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _whitener(xc: np.ndarray, reg: float, tol: float = 1e-10) -> np.ndarray:
    """(D, r) matrix W with W^T (Cxx + ridge I) W = I on the span of the centred data ``xc`` (N, D).

    The covariance eigenbasis comes from ``eigh`` of the smaller of the (D, D) covariance and the
    (N, N) Gram matrix (the same as a thin SVD of ``xc``, several times faster).
    """
    n, d = xc.shape
    eigh = np.linalg.eigh
    denom = max(n - 1, 1)
    if d <= n:
        ev, v = eigh(xc.T @ xc / denom)  # ascending; v (D, D)
    else:
        ev, u = eigh(xc @ xc.T / denom)  # (N,), (N, N): Gram eigenvectors
        v = None
    if ev.size == 0 or ev.max() <= 0:
        return np.zeros((d, 0))
    keep = ev > tol * ev.max()
    ev = ev[keep]
    if v is None:  # right singular vectors from the Gram eigenvectors: V = Xc^T U / s
        v = xc.T @ u[:, keep] / np.sqrt(ev * denom)[None, :]
    else:
        v = v[:, keep]
    ridge = reg * ev.mean()
    return v / np.sqrt(ev + ridge)[None, :]  # (D, r)


def _top_svd(t: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k singular triplets of ``t`` (a, b): (P (a, m), r (m,), Q (b, m)), m = min(k, a, b), r descending."""
    a, b = t.shape
    m = min(k, a, b)
    if m == 0:
        return np.zeros((a, 0)), np.zeros(0), np.zeros((b, 0))
    if min(a, b) <= 256 or m > min(a, b) // 4:
        p, r, qt = np.linalg.svd(t, full_matrices=False)
        return p[:, :m], r[:m], qt[:m].T
    from scipy.linalg import eigh

    # only a few of many components: eigenvectors of the smaller Gram matrix (much cheaper than a full SVD)
    if a <= b:
        lam, p = eigh(t @ t.T, subset_by_index=[a - m, a - 1])
        r = np.sqrt(np.maximum(lam[::-1], 0.0))
        p = p[:, ::-1]
        q = t.T @ p / np.where(r > 0, r, 1.0)[None, :]
    else:
        lam, q = eigh(t.T @ t, subset_by_index=[b - m, b - 1])
        r = np.sqrt(np.maximum(lam[::-1], 0.0))
        q = q[:, ::-1]
        p = t @ q / np.where(r > 0, r, 1.0)[None, :]
    return p, r, q


def cca_fit(x, y, n_components: int, reg: float = 1e-4, center: bool = True) -> dict:
    """Regularised linear CCA of paired rows ``x`` (N, Dx), ``y`` (N, Dy).

    Returns {"mean_x" (Dx,), "mean_y" (Dy,), "w_x" (Dx, k), "w_y" (Dy, k), "corr" (k,)} as float64
    numpy arrays, k = ``n_components``; columns beyond the number of available components are zero
    (with corr 0). ``corr`` are the canonical correlations of the regularised problem on the
    training data (equal to the plain ones as reg -> 0), descending.
    """
    x, y = _as64(x), _as64(y)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise ValueError(f"cca_fit needs paired (N, D) matrices, got {x.shape} and {y.shape}")
    if len(x) < 2:
        raise ValueError("cca_fit needs at least 2 training pairs")
    mean_x = x.mean(0) if center else np.zeros(x.shape[1])
    mean_y = y.mean(0) if center else np.zeros(y.shape[1])
    xc, yc = x - mean_x, y - mean_y
    wx_w, wy_w = _whitener(xc, reg), _whitener(yc, reg)  # (Dx, rx), (Dy, ry)
    t = (xc @ wx_w).T @ (yc @ wy_w) / max(len(x) - 1, 1)  # (rx, ry) whitened cross-covariance
    k = int(n_components)
    p, r, q = _top_svd(t, k)  # r descending
    m = len(r)
    w_x = np.zeros((x.shape[1], k))
    w_y = np.zeros((y.shape[1], k))
    corr = np.zeros(k)
    w_x[:, :m] = wx_w @ p
    w_y[:, :m] = wy_w @ q
    corr[:m] = r
    # deterministic sign: the largest-magnitude image loading of each component is positive
    flip = np.sign(w_x[np.abs(w_x).argmax(0), np.arange(k)])
    flip[flip == 0] = 1.0
    return {"mean_x": mean_x, "mean_y": mean_y, "w_x": w_x * flip, "w_y": w_y * flip, "corr": corr}


def joint_of(parts: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean of the L2-normalised per-modality projections present in ``parts``."""
    normed = [F.normalize(v, dim=1) for v in parts.values()]
    return torch.stack(normed).mean(0)


class Cca(MultimodalModel):
    kind = "cca"
    closed_form = True
    deterministic = True  # the fit does not depend on the seed

    def __init__(self, config: CcaConfig, spec: DataSpec):
        super().__init__(config, spec)
        k = int(config.n_components or min(spec.image_dim, spec.text_dim))
        if k < 1:
            raise ValueError(f"n_components must be >= 1, got {config.n_components}")
        self.n_components = k
        self.register_buffer("mean_x", torch.zeros(spec.image_dim))
        self.register_buffer("mean_y", torch.zeros(spec.text_dim))
        self.register_buffer("w_x", torch.zeros(spec.image_dim, k))
        self.register_buffer("w_y", torch.zeros(spec.text_dim, k))
        self.register_buffer("corr", torch.zeros(k))

    def configure_optimizers(self) -> dict:
        return {}

    def train_step(self, batch, optimizers):
        raise NotImplementedError("cca is fitted in closed form (fit_closed_form)")

    def _store(self, fit: dict) -> None:
        cfg = self.config
        weight = np.where(fit["corr"] > cfg.min_corr, fit["corr"] ** cfg.corr_power if cfg.corr_power else 1.0, 0.0)
        for name, value in (("mean_x", fit["mean_x"]), ("mean_y", fit["mean_y"]), ("w_x", fit["w_x"] * weight),
                            ("w_y", fit["w_y"] * weight), ("corr", fit["corr"])):
            buf = getattr(self, name)
            buf.copy_(torch.as_tensor(value, dtype=buf.dtype))

    def fit_closed_form(self, data: dict) -> dict:
        with single_thread_blas():
            fit = cca_fit(data["image"].flatten(1), data["text"], self.n_components, self.config.reg, self.config.center)
        self._store(fit)
        used = int((fit["corr"] > self.config.min_corr).sum())
        return {"n_train": int(len(data["text"])), "n_components_used": used,
                "corr_1": float(fit["corr"][0]), "corr_mean": float(fit["corr"][:max(used, 1)].mean())}

    def project_image(self, image: torch.Tensor) -> torch.Tensor:
        return (image.flatten(1).to(self.w_x.dtype) - self.mean_x) @ self.w_x

    def project_text(self, text: torch.Tensor) -> torch.Tensor:
        return (text.to(self.w_y.dtype) - self.mean_y) @ self.w_y

    def embed(self, image, text) -> dict[str, torch.Tensor]:
        out = {}
        if image is not None:
            out["image"] = self.project_image(image)
        if text is not None:
            out["text"] = self.project_text(text)
        out["joint"] = joint_of({k: out[k] for k in ("image", "text") if k in out})
        return out
