"""Cross-modal Factor Analysis (CFA; Li, Dimitrova, Li & Sethi, ACM Multimedia 2003).

CFA looks for orthogonal transforms Wx, Wy (Wx^T Wx = Wy^T Wy = I) minimising
``||X Wx - Y Wy||_F^2`` over the paired (normalised) training rows. Orthogonal transforms keep
``||X Wx||_F = ||X||_F`` and ``||Y Wy||_F = ||Y||_F``, so expanding the norm leaves
``-2 tr(Wx^T X^T Y Wy)`` as the only varying term; it is maximised by the SVD ``X^T Y = U S V^T``:
``Wx = U``, ``Wy = V``. The k-dimensional common space keeps the first k factor pairs,
``Wx = U[:, :k]``, ``Wy = V[:, :k]`` (the singular values S measure the covariance each pair explains;
the pair maximises ``tr(Wx^T X^T Y Wy)`` among orthonormal (D, k) matrices). Unlike CCA, CFA does not whiten: it favours directions of high
covariance rather than high correlation, which makes it robust when a view has many noisy, nearly
collinear dimensions.

Both views are first normalised (``normalize``):
- ``"zscore"`` (default): each feature centred and divided by its training standard deviation, so
  the two views' scales do not matter;
- ``"center"``: centred only;
- ``"frobenius"``: centred, then each view divided by its training-set Frobenius norm / sqrt(N).

Embeddings: ``"image"`` = normalised x @ Wx, ``"text"`` = normalised y @ Wy (B, k); ``"joint"`` =
the mean of their L2-normalised versions. k = ``n_components`` or min(Di, Dt); factors beyond the
rank of X^T Y are zero columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from .base import DataSpec, MultimodalModel
from .cca import _as64, joint_of, single_thread_blas

NORMALIZATIONS = ("zscore", "center", "frobenius")


@dataclass
class CfaConfig:
    n_components: int | None = None  # None = min(image_dim, text_dim)
    normalize: Literal["zscore", "center", "frobenius"] = "zscore"  # zscore | center | frobenius
    min_singular: float = 1e-10  # factors with singular value <= this * the largest are zeroed
    epochs: int = 1


def cfa_fit(x, y, n_components: int, normalize: str = "zscore", min_singular: float = 1e-10) -> dict:
    """CFA of paired rows x (N, Dx), y (N, Dy): {"mean_x", "scale_x", "mean_y", "scale_y", "w_x", "w_y", "s"}.

    The normalised input is ``(x - mean_x) / scale_x`` (per feature for zscore, a scalar otherwise).
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"unknown CFA normalize {normalize!r} (known: {', '.join(NORMALIZATIONS)})")
    x, y = _as64(x), _as64(y)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or len(x) < 2:
        raise ValueError(f"cfa_fit needs paired (N, D) matrices with N >= 2, got {x.shape} and {y.shape}")

    def norm(v):
        mean = v.mean(0)
        c = v - mean
        if normalize == "zscore":
            scale = c.std(0)
            scale[scale <= 1e-12] = 1.0  # constant features stay zero
        elif normalize == "frobenius":
            f = np.sqrt((c * c).sum() / len(c))
            scale = np.full(v.shape[1], f if f > 1e-12 else 1.0)
        else:
            scale = np.ones(v.shape[1])
        return mean, scale, c / scale

    mx, sx, xn = norm(x)
    my, sy, yn = norm(y)
    u, s, vt = np.linalg.svd(xn.T @ yn, full_matrices=False)  # (Dx, r), (r,), (r, Dy)
    k = int(n_components)
    m = min(k, len(s))
    if m and s[0] > 0:
        m = min(m, int((s > min_singular * s[0]).sum()))
    w_x, w_y, sv = np.zeros((x.shape[1], k)), np.zeros((y.shape[1], k)), np.zeros(k)
    w_x[:, :m], w_y[:, :m], sv[:m] = u[:, :m], vt.T[:, :m], s[:m]
    flip = np.sign(w_x[np.abs(w_x).argmax(0), np.arange(k)])
    flip[flip == 0] = 1.0
    return {"mean_x": mx, "scale_x": sx, "mean_y": my, "scale_y": sy, "w_x": w_x * flip, "w_y": w_y * flip, "s": sv}


class Cfa(MultimodalModel):
    kind = "cfa"
    closed_form = True
    deterministic = True

    def __init__(self, config: CfaConfig, spec: DataSpec):
        super().__init__(config, spec)
        if config.normalize not in NORMALIZATIONS:
            raise ValueError(f"unknown CFA normalize {config.normalize!r} (known: {', '.join(NORMALIZATIONS)})")
        k = int(config.n_components or min(spec.image_dim, spec.text_dim))
        if k < 1:
            raise ValueError(f"n_components must be >= 1, got {config.n_components}")
        self.n_components = k
        self.register_buffer("mean_x", torch.zeros(spec.image_dim))
        self.register_buffer("scale_x", torch.ones(spec.image_dim))
        self.register_buffer("mean_y", torch.zeros(spec.text_dim))
        self.register_buffer("scale_y", torch.ones(spec.text_dim))
        self.register_buffer("w_x", torch.zeros(spec.image_dim, k))
        self.register_buffer("w_y", torch.zeros(spec.text_dim, k))
        self.register_buffer("singular_values", torch.zeros(k))

    def configure_optimizers(self) -> dict:
        return {}

    def train_step(self, batch, optimizers):
        raise NotImplementedError("cfa is fitted in closed form (fit_closed_form)")

    def fit_closed_form(self, data: dict) -> dict:
        with single_thread_blas():
            fit = cfa_fit(data["image"].flatten(1), data["text"], self.n_components, self.config.normalize, self.config.min_singular)
        fit["singular_values"] = fit.pop("s")
        for name, value in fit.items():
            buf = getattr(self, name)
            buf.copy_(torch.as_tensor(value, dtype=buf.dtype))
        used = int((fit["singular_values"] > 0).sum())
        return {"n_train": int(len(data["text"])), "n_components_used": used}

    def embed(self, image, text) -> dict[str, torch.Tensor]:
        out = {}
        if image is not None:
            out["image"] = ((image.flatten(1).to(self.w_x.dtype) - self.mean_x) / self.scale_x) @ self.w_x
        if text is not None:
            out["text"] = ((text.to(self.w_y.dtype) - self.mean_y) / self.scale_y) @ self.w_y
        out["joint"] = joint_of({k: out[k] for k in ("image", "text") if k in out})
        return out
