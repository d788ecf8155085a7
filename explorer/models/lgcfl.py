"""LGCFL: local group based consistent feature learning (Kang, Xiang, Liao, Pan, Zhang, IEEE TMM 2015,
"Learning Consistent Feature Representation for Cross-Modal Multimedia Retrieval").

**Supervised** (†): the category labels are the consistent representation both modalities are mapped
to. Basis matrices U (D_image, C) and V (D_text, C) are learned jointly over the standardised training
features X, T and centred one-hot labels Y::

    min_{U,V} ||X U - Y||_F^2 + ||T V - Y||_F^2 + lambda_image ||U||_G + lambda_text ||V||_G

with the *local group prior* ``||U||_G = sum_g ||U_g||_F``: the input features are split into groups
(local feature blocks: for the paper, the regions / descriptor types an image feature is built from) and
each group's block of rows is kept or shrunk as a whole (group lasso), so the mapping uses few groups
of locally coherent features. Solved by iteratively reweighted least squares (as the paper): with
G = block-diagonal 1 / (2 ||U_g||_F + eps) on group g's rows, ``U = (X^T X + lambda G)^{-1} X^T Y``,
for ``iterations`` rounds (likewise V). The two problems share only Y, so they are solved one after the
other. Deterministic (no seed).

Our features have no natural groups (MobileNet's 1,024 pooled channels, averaged word2vec, Wikipedia's
SIFT bag of words and LDA topics), so the groups are ``groups_image`` / ``groups_text`` contiguous,
equal blocks of the feature vector (an assumption: the paper's groups come from the feature extractors,
which we do not have). Embeddings: ``image`` = X U, ``text`` = T V (C-d); ``joint`` = the mean of their
L2-normalised versions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cca import _as64
from .jrl import LinearLabelProjection, centred_onehot, standardise_fit


@dataclass
class LgcflConfig:
    # chosen on Wikipedia's validation split (a grid of lambda 0.1-100 x groups_image 1, 4, 16; docs/models.md)
    lambda_image: float = 100.0  # weight of the group prior on U
    lambda_text: float = 100.0  # weight of the group prior on V
    groups_image: int = 4  # contiguous feature blocks of the image features (1 = one group: a ridge-like prior)
    groups_text: int = 4
    iterations: int = 15
    ridge: float = 1e-3
    epochs: int = 1


def feature_groups(dim: int, n_groups: int) -> list[np.ndarray]:
    """Indices of ``n_groups`` contiguous, (nearly) equal blocks of ``dim`` features."""
    return [g for g in np.array_split(np.arange(dim), max(1, min(n_groups, dim))) if len(g)]


def group_lasso_regression(x: np.ndarray, y: np.ndarray, groups: list[np.ndarray], lam: float, iterations: int,
                           ridge: float = 1e-3) -> tuple[np.ndarray, list[float]]:
    """argmin_W ||x W - y||^2 + lam * sum_g ||W_g||_F by reweighted least squares: (W (D, C), objectives)."""
    gram, xty = x.T @ x, x.T @ y
    eye = np.eye(len(gram))
    w = np.linalg.solve(gram + ridge * eye, xty)
    objective = []
    for _ in range(iterations):
        d = np.empty(len(gram))
        for g in groups:
            d[g] = 1.0 / (2.0 * np.linalg.norm(w[g]) + 1e-8)
        w = np.linalg.solve(gram + lam * np.diag(d) + ridge * eye, xty)
        objective.append(float(((x @ w - y) ** 2).sum() + lam * sum(np.linalg.norm(w[g]) for g in groups)))
    return w, objective


def lgcfl_fit(xi, xt, label, n_classes: int, cfg: LgcflConfig) -> dict:
    xi, xt, label = _as64(xi), _as64(xt), np.asarray(label, dtype=np.int64)
    if (label >= 0).sum() < 2 or n_classes < 2:
        raise ValueError("lgcfl needs category labels on the training split (at least 2 categories)")
    ok = label >= 0  # only labelled rows have a target
    mi, si = standardise_fit(xi)
    mt, st = standardise_fit(xt)
    y = centred_onehot(label, n_classes)[ok]
    u, obj_u = group_lasso_regression(((xi - mi) / si)[ok], y, feature_groups(xi.shape[1], cfg.groups_image),
                                      cfg.lambda_image, cfg.iterations, cfg.ridge)
    v, obj_v = group_lasso_regression(((xt - mt) / st)[ok], y, feature_groups(xt.shape[1], cfg.groups_text),
                                      cfg.lambda_text, cfg.iterations, cfg.ridge)
    return {"mean_image": mi, "scale_image": si, "mean_text": mt, "scale_text": st, "p_image": u, "p_text": v,
            "objective": [a + b for a, b in zip(obj_u, obj_v)]}


class Lgcfl(LinearLabelProjection):
    kind = "lgcfl"

    def fit(self, xi, xt, label) -> dict:
        return lgcfl_fit(xi, xt, label, self.spec.n_classes, self.config)
