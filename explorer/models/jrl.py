"""JRL: joint representation learning with sparse and semi-supervised regularisation (Zhai, Peng, Xiao,
IEEE TCSVT 2014, "Learning Cross-Media Joint Representation With Sparse and Semisupervised Regularization").

**Supervised** (†): each modality m is projected by P_m (D_m, C) onto the category space of the training
split's C categories. The objective, over the standardised training features X_m (N, D_m) and the centred
one-hot labels Y (N, C) of the labelled rows::

    sum_m ||X_m P_m - Y||_F^2 + lambda_sparse * sum_m ||P_m||_{2,1}
        + lambda_graph * tr(P^T X^T L X P)

where ``||P||_{2,1}`` = sum of the L2 norms of P's rows (feature selection: whole input features are
switched off), X = diag(X_image, X_text) stacks both modalities' rows as 2N graph nodes, P = [P_image;
P_text], and L = D - W is the Laplacian of a joint graph over them (the semi-supervised regulariser:
representations of connected nodes are pulled together). The graph, as in the paper, joins
- the two modalities of one segment (the pairing);
- labelled rows of the same category, within and across modalities, restricted here to each node's
  ``knn`` nearest same-category neighbours by cosine (the paper's full same-label cliques are N^2
  edges: 43 M for flowers' 6,552 training pairs);
- unlabelled rows (label -1) to their ``knn`` nearest neighbours within their modality, weighted by
  a heat kernel on cosine distance (the paper's unlabelled part; our collections have labels on every
  training row, so it only acts where a label is missing).

Solved as in the paper by alternating closed-form updates with iteratively reweighted l2,1 (Nie et al.,
2010): with D_m = diag(1 / (2 ||p_m,i|| + eps)),
``P_m = (X_m^T X_m + lambda_sparse D_m + lambda_graph X_m^T L_mm X_m)^{-1} (X_m^T Y - lambda_graph X_m^T L_mo X_o P_o)``,
for ``iterations`` rounds. Deterministic (no seed).

Embeddings: ``image`` = X_image P_image, ``text`` = X_text P_text (C-d); ``joint`` = the mean of their
L2-normalised versions. Assumed where the paper is silent or does not fit our features: z-scored inputs,
centred one-hot targets, the k-NN restriction of the same-label graph, and the weights: chosen on
Wikipedia's validation split (docs/models.md: a grid of lambda_sparse 0.1-100 x lambda_graph 0-1; the best
with the graph term, val P@10 0.522, against 0.525 without it: with every training row labelled, the
semi-supervised graph adds little), used on flowers102_reed too. Zhai et al. tune them per dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from .base import DataSpec, MultimodalModel
from .cca import _as64, joint_of, single_thread_blas


@dataclass
class JrlConfig:
    lambda_sparse: float = 100.0  # weight of the l2,1 (row-sparsity) regulariser
    lambda_graph: float = 0.1  # weight of the joint-graph (semi-supervised) regulariser
    knn: int = 10  # graph neighbours per node
    heat: float = 1.0  # heat-kernel width (cosine distance) of unlabelled edges
    iterations: int = 10  # alternating / reweighting rounds
    ridge: float = 1e-3  # added to every system matrix's diagonal (numerical safety)
    epochs: int = 1


def standardise_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = x.mean(0), x.std(0)
    std[std <= 1e-12] = 1.0
    return mean, std


def centred_onehot(label: np.ndarray, n_classes: int) -> np.ndarray:
    """(N, C) one-hot rows of the labelled samples, centred over them; unlabelled rows (-1) are zero."""
    y = np.zeros((len(label), n_classes))
    ok = label >= 0
    y[np.flatnonzero(ok), label[ok]] = 1.0
    if ok.any():
        y[ok] -= y[ok].mean(0)
    return y


def _knn_edges(x: np.ndarray, k: int, allowed=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, cosine similarity) of each row's k most similar rows (not itself), optionally only
    among ``allowed(i) -> bool mask``; blockwise so memory stays (block, N)."""
    xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    n = len(x)
    k = min(k, n - 1)
    rows, cols, sims = [], [], []
    for start in range(0, n, 1024):
        s = xn[start:start + 1024] @ xn.T  # (b, N)
        s[np.arange(len(s)), np.arange(start, start + len(s))] = -np.inf
        if allowed is not None:
            s[~allowed(start, start + len(s))] = -np.inf
        idx = np.argpartition(-s, k - 1, axis=1)[:, :k] if k > 0 else np.zeros((len(s), 0), int)
        val = np.take_along_axis(s, idx, axis=1)
        keep = np.isfinite(val)
        rows.append(np.repeat(np.arange(start, start + len(s)), k)[keep.ravel()])
        cols.append(idx.ravel()[keep.ravel()])
        sims.append(val.ravel()[keep.ravel()])
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(sims)


def joint_graph_laplacian(xi: np.ndarray, xt: np.ndarray, label: np.ndarray, knn: int, heat: float) -> sp.csr_matrix:
    """The (2N, 2N) Laplacian of JRL's joint graph (nodes 0..N-1 images, N..2N-1 texts; see the module doc)."""
    n = len(label)
    rows, cols, w = [np.arange(n)], [np.arange(n) + n], [np.ones(n)]  # the pairing
    same = lambda a, b: (label[a:b, None] == label[None, :]) & (label[a:b, None] >= 0)  # noqa: E731
    unl = lambda a, b: np.broadcast_to((label[a:b, None] < 0) & (label[None, :] < 0), (b - a, n))  # noqa: E731
    for off_a, xa in ((0, xi), (n, xt)):
        r, c, s = _knn_edges(xa, knn, same)  # same category, within the modality
        rows.append(r + off_a), cols.append(c + off_a), w.append(np.ones(len(r)))
        r, c, s = _knn_edges(xa, knn, unl)  # unlabelled rows: heat kernel within the modality
        rows.append(r + off_a), cols.append(c + off_a), w.append(np.exp(-(1 - s) / heat))
    # same category across modalities: each image to the texts of its nearest same-category images
    r, c, _ = _knn_edges(xi, knn, same)
    rows.append(r), cols.append(c + n), w.append(np.ones(len(r)))
    W = sp.coo_matrix((np.concatenate(w), (np.concatenate(rows), np.concatenate(cols))), shape=(2 * n, 2 * n)).tocsr()
    W = W.maximum(W.T)  # undirected
    return (sp.diags(np.asarray(W.sum(1)).ravel()) - W).tocsr()


def jrl_fit(xi, xt, label, n_classes: int, cfg: JrlConfig) -> dict:
    """JRL on paired training rows: {"mean_*", "scale_*", "p_image", "p_text", "objective"}."""
    xi, xt, label = _as64(xi), _as64(xt), np.asarray(label, dtype=np.int64)
    if (label >= 0).sum() < 2 or n_classes < 2:
        raise ValueError("jrl needs category labels on the training split (at least 2 categories)")
    mi, si = standardise_fit(xi)
    mt, st = standardise_fit(xt)
    X = {"image": (xi - mi) / si, "text": (xt - mt) / st}
    y = centred_onehot(label, n_classes)
    n = len(label)
    L = joint_graph_laplacian(X["image"], X["text"], label, cfg.knn, cfg.heat)
    blocks = {("image", "image"): L[:n, :n], ("text", "text"): L[n:, n:], ("image", "text"): L[:n, n:], ("text", "image"): L[n:, :n]}
    gram = {m: X[m].T @ X[m] for m in X}
    graph = {m: X[m].T @ (blocks[(m, m)] @ X[m]) for m in X}
    xty = {m: X[m].T @ y for m in X}
    P = {m: np.linalg.solve(gram[m] + cfg.ridge * np.eye(len(gram[m])), xty[m]) for m in X}  # ridge start
    objective = []
    for _ in range(cfg.iterations):
        for m, o in (("image", "text"), ("text", "image")):
            d = 1.0 / (2.0 * np.linalg.norm(P[m], axis=1) + 1e-8)
            a = gram[m] + cfg.lambda_sparse * np.diag(d) + cfg.lambda_graph * graph[m] + cfg.ridge * np.eye(len(d))
            b = xty[m] - cfg.lambda_graph * X[m].T @ (blocks[(m, o)] @ (X[o] @ P[o]))
            P[m] = np.linalg.solve(a, b)
        Z = np.vstack([X["image"] @ P["image"], X["text"] @ P["text"]])
        objective.append(float(sum(((X[m] @ P[m] - y) ** 2).sum() + cfg.lambda_sparse * np.linalg.norm(P[m], axis=1).sum()
                                   for m in X) + cfg.lambda_graph * np.trace(Z.T @ (L @ Z))))
    return {"mean_image": mi, "scale_image": si, "mean_text": mt, "scale_text": st,
            "p_image": P["image"], "p_text": P["text"], "objective": objective}


#: the fits solve (D, D) systems per modality: beyond this many input features (raw 64x64 pixels are 12,288)
#: they would take hours and gigabytes, so such inputs are refused with a message
MAX_FEATURES = 4096


class LinearLabelProjection(MultimodalModel):
    """Base of the closed-form supervised kinds (JRL, LGCFL): standardised features times a (D_m, C)
    projection per modality, fitted by ``fit`` (a function of the training rows)."""

    closed_form = True
    deterministic = True

    @classmethod
    def uses_labels(cls, config) -> bool:
        return True

    def __init__(self, config, spec: DataSpec):
        super().__init__(config, spec)
        for m, dim in (("image", spec.image_dim), ("text", spec.text_dim)):
            if dim > MAX_FEATURES:
                raise ValueError(f"{self.kind} solves {dim} x {dim} systems for the {m} features ({spec.image_input if m == 'image' else spec.text_input}, "
                                 f"{dim}-d): at most {MAX_FEATURES} features; use --visual mobilenet")
        c = max(int(spec.n_classes), 1)
        for m, dim in (("image", spec.image_dim), ("text", spec.text_dim)):
            self.register_buffer(f"mean_{m}", torch.zeros(dim, dtype=torch.float64))
            self.register_buffer(f"scale_{m}", torch.ones(dim, dtype=torch.float64))
            self.register_buffer(f"p_{m}", torch.zeros(dim, c, dtype=torch.float64))

    def configure_optimizers(self) -> dict:
        return {}

    def train_step(self, batch, optimizers):
        raise NotImplementedError(f"{self.kind} is fitted in closed form (fit_closed_form)")

    def fit(self, xi, xt, label) -> dict:
        raise NotImplementedError

    def fit_closed_form(self, data: dict) -> dict:
        with single_thread_blas():
            fit = self.fit(data["image"].flatten(1), data["text"], data["label"].cpu().numpy())
        for name in ("mean_image", "scale_image", "mean_text", "scale_text", "p_image", "p_text"):
            getattr(self, name).copy_(torch.as_tensor(fit[name], dtype=torch.float64))
        out = {"n_train": int(len(data["text"]))}
        if fit.get("objective"):
            out.update(objective_first=fit["objective"][0], objective_last=fit["objective"][-1])
        for m in ("image", "text"):  # rows of P switched off by the sparsity prior
            out[f"features_used_{m}"] = int((np.linalg.norm(fit[f"p_{m}"], axis=1) > 1e-6 * np.abs(fit[f"p_{m}"]).max()).sum())
        return out

    def embed(self, image, text) -> dict[str, torch.Tensor]:
        out = {}
        if image is not None:
            out["image"] = (((image.flatten(1).double() - self.mean_image) / self.scale_image) @ self.p_image).float()
        if text is not None:
            out["text"] = (((text.double() - self.mean_text) / self.scale_text) @ self.p_text).float()
        out["joint"] = joint_of({k: out[k] for k in ("image", "text") if k in out})
        return out


class Jrl(LinearLabelProjection):
    kind = "jrl"

    def fit(self, xi, xt, label) -> dict:
        return jrl_fit(xi, xt, label, self.spec.n_classes, self.config)
