"""Kernel CCA with a Gaussian (RBF) kernel, approximated by Nyström features + regularised linear CCA.

Exact KCCA solves an (2N x 2N) generalized eigenproblem on the two Gram matrices: O(N^3) time and
O(N^2) memory, ~1.3 GB of float64 for the 6,552 training pairs of flowers102_reed, too much for two
shared CPU cores. Instead each view is mapped to ``n_landmarks``-d Nyström features (Williams & Seeger
2001; ``sklearn.kernel_approximation.Nystroem``): with m landmarks L drawn at random from the
training rows, ``phi(x) = k(x, L) K_LL^{-1/2}``, whose inner products approximate the RBF kernel
(exactly on the landmarks). The map is the one ``sklearn.kernel_approximation.Nystroem`` builds,
computed here with ``numpy.linalg.eigh`` as a pseudo-inverse square root (see ``_nystroem``). Linear CCA on ``phi(X), phi(Y)`` with a ridge (``reg``, relative to the
mean feature variance, as in ``explorer.models.cca``) is then regularised KCCA restricted to the span
of the landmarks' kernel functions (Bach & Jordan 2002 regularise the same way). Cost: O(N m D) for
the kernels and O(N m^2) for the SVDs: seconds for N = 6,552, m = 1,024.

Kernel width by the median heuristic: ``gamma = 1 / (2 * median ||xi - xj||^2)`` over pairs of (at
most 2,000) training rows, per view, times ``gamma_scale``.

Buffers (allocated from config/spec, so a fresh model matches any checkpoint): landmarks
(m, Di) / (m, Dt), Nyström maps (m, m), gammas, and the linear CCA of the features. When the training
set has fewer than m rows, every row is a landmark and the unused slots are zero (with zero Nyström
map rows, so they contribute nothing). The landmark buffers hold m input rows, so a checkpoint holds
m x (Di + Dt) floats: 8 MB for 1,024 landmarks of MobileNet (1,024-d) features, but 50 MB for 12,288-d
raw pixels (use fewer landmarks there). Landmarks are drawn with the runner's seeded torch RNG, so
the fit depends on ``--seed`` unless all rows are landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .base import DataSpec, MultimodalModel
from .cca import _as64, cca_fit, joint_of, single_thread_blas


@dataclass
class KccaConfig:
    # defaults chosen on the Wikipedia train hold-out (val), never on test: reg 0.01 / 0.1 / 0.3 / 1 / 3
    # gave val P@10 0.35 / 0.44 / 0.46 / 0.50 / 0.50; at reg 1, 9 / 10 / 20 components 0.497 / 0.500 /
    # 0.499 (val crossmodal MAP best at 9-10); 512 landmarks 0.50 but lower val crossmodal MAP
    # (docs/models_linear.md has the table)
    n_components: int = 10  # common-space dimension
    n_landmarks: int = 1024  # Nyström landmarks per view
    reg: float = 1.0  # ridge on the Nyström-feature covariances, relative to their mean eigenvalue
    gamma_scale: float = 1.0  # multiplies the median-heuristic gamma of both views
    center: bool = True
    min_corr: float = 1e-6
    epochs: int = 1


def median_gamma(x: np.ndarray, max_rows: int = 2000, seed: int = 0) -> float:
    """RBF gamma = 1 / (2 * median squared distance) between distinct rows of ``x`` (N, D)."""
    x = _as64(x)
    if len(x) > max_rows:
        x = x[np.random.default_rng(seed).choice(len(x), max_rows, replace=False)]
    sq = (x * x).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)  # (n, n)
    iu = np.triu_indices(len(x), 1)
    med = float(np.median(d2[iu])) if len(iu[0]) else 0.0
    return 1.0 / (2.0 * med) if med > 0 else 1.0


def rbf(x: torch.Tensor, landmarks: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """exp(-gamma ||x - l||^2): (B, D), (m, D) -> (B, m), in float64."""
    x, landmarks = x.double(), landmarks.double()
    d2 = (x * x).sum(1, keepdim=True) + (landmarks * landmarks).sum(1)[None, :] - 2 * x @ landmarks.T
    return torch.exp(-gamma * d2.clamp_min(0))


class Kcca(MultimodalModel):
    kind = "kcca"
    closed_form = True
    deterministic = False  # landmarks are sampled (seeded) unless the train set has <= n_landmarks rows

    def __init__(self, config: KccaConfig, spec: DataSpec):
        super().__init__(config, spec)
        m, k = int(config.n_landmarks), int(config.n_components)
        if m < 1 or k < 1:
            raise ValueError("n_landmarks and n_components must be >= 1")
        # float64: the Nyström map K_LL^{-1/2} amplifies rounding of nearly dependent landmarks
        f64 = dict(dtype=torch.float64)
        # landmarks are input rows (float32 inputs): stored as float32, used in float64
        self.register_buffer("landmarks_x", torch.zeros(m, spec.image_dim))
        self.register_buffer("landmarks_y", torch.zeros(m, spec.text_dim))
        self.register_buffer("map_x", torch.zeros(m, m, **f64))
        self.register_buffer("map_y", torch.zeros(m, m, **f64))
        self.register_buffer("gamma_x", torch.zeros((), **f64))
        self.register_buffer("gamma_y", torch.zeros((), **f64))
        self.register_buffer("mean_x", torch.zeros(m, **f64))
        self.register_buffer("mean_y", torch.zeros(m, **f64))
        self.register_buffer("w_x", torch.zeros(m, k, **f64))
        self.register_buffer("w_y", torch.zeros(m, k, **f64))
        self.register_buffer("corr", torch.zeros(k, **f64))

    def configure_optimizers(self) -> dict:
        return {}

    def train_step(self, batch, optimizers):
        raise NotImplementedError("kcca is fitted in closed form (fit_closed_form)")

    @staticmethod
    def _nystroem(x: np.ndarray, gamma: float, idx: np.ndarray, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
        """Nyström map of the landmark rows ``x[idx]``: (landmarks (m', D), K_LL^{-1/2} (m', m')).

        The same map as ``sklearn.kernel_approximation.Nystroem`` (``normalization_.T``), computed with
        ``eigh`` of the symmetric Gram matrix (several times faster than its SVD) and with eigenvalues
        below ``tol * max`` dropped (a pseudo-inverse) instead of clipped at 1e-12, so near-duplicate
        landmarks do not blow up the features.
        """
        lm = x[idx].astype(np.float32).astype(np.float64)  # as stored in the float32 buffer
        k_ll = rbf(torch.from_numpy(lm), torch.from_numpy(lm), torch.tensor(gamma, dtype=torch.float64)).numpy()
        lam, u = np.linalg.eigh((k_ll + k_ll.T) / 2)
        keep = lam > tol * lam.max()
        u = u[:, keep]
        return lm, (u / np.sqrt(lam[keep])[None, :]) @ u.T

    def fit_closed_form(self, data: dict) -> dict:
        with single_thread_blas():
            return self._fit(data)

    def _fit(self, data: dict) -> dict:
        cfg = self.config
        x = _as64(data["image"].flatten(1))
        y = _as64(data["text"])
        n, m = len(x), int(cfg.n_landmarks)
        seed = int(torch.randint(0, 2**31 - 1, (1,)).item())  # the runner seeds torch with --seed
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(n, m, replace=False)) if n > m else np.arange(n)
        gx = median_gamma(x, seed=seed) * cfg.gamma_scale
        gy = median_gamma(y, seed=seed) * cfg.gamma_scale
        feats = []
        for name, v, g in (("x", x, gx), ("y", y, gy)):
            lm, mp = self._nystroem(v, g, idx)
            lm_buf, map_buf = getattr(self, f"landmarks_{name}"), getattr(self, f"map_{name}")
            lm_buf.zero_()
            map_buf.zero_()
            lm_buf[: len(lm)] = torch.from_numpy(lm).to(lm_buf.dtype)
            map_buf[: mp.shape[0], : mp.shape[1]] = torch.from_numpy(mp)
            getattr(self, f"gamma_{name}").fill_(g)
            feats.append(self._features(torch.from_numpy(v), name).numpy())
        fit = cca_fit(feats[0], feats[1], cfg.n_components, cfg.reg, cfg.center)
        keep = fit["corr"] > cfg.min_corr
        for name in ("mean_x", "mean_y", "corr"):
            getattr(self, name).copy_(torch.from_numpy(fit[name]))
        self.w_x.copy_(torch.from_numpy(fit["w_x"] * keep))
        self.w_y.copy_(torch.from_numpy(fit["w_y"] * keep))
        return {"n_train": n, "n_landmarks_used": int(len(idx)), "gamma_x": gx, "gamma_y": gy,
                "n_components_used": int(keep.sum()), "corr_1": float(fit["corr"][0])}

    def _features(self, v: torch.Tensor, name: str) -> torch.Tensor:
        lm = getattr(self, f"landmarks_{name}")
        return rbf(v, lm, getattr(self, f"gamma_{name}")) @ getattr(self, f"map_{name}")  # (B, m)

    def embed(self, image, text) -> dict[str, torch.Tensor]:
        out = {}
        if image is not None:
            out["image"] = ((self._features(image.flatten(1), "x") - self.mean_x) @ self.w_x).float()
        if text is not None:
            out["text"] = ((self._features(text, "y") - self.mean_y) @ self.w_y).float()
        out["joint"] = joint_of({k: out[k] for k in ("image", "text") if k in out})
        return out
