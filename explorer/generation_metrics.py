"""Quality of generated images, measured in a frozen feature space: pure functions on feature arrays.

Every function takes plain (N, D) float arrays (e.g. MobileNet embeddings of generated and of real
images) and returns floats; nothing here knows about models or collections.

- ``frechet_distance(a, b)``: the Fréchet distance between Gaussians fitted to two feature sets
  (FID when the features are Inception's; here MobileNet's, so the numbers are not comparable to
  published FIDs). ``||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))``.
- ``nearest_centroid_accuracy``: share of items whose nearest class centroid (cosine, centroids of
  L2-normalised reference features) is their own class.
- ``mean_pairwise_cosine_distance(groups)``: mean over groups of the mean ``1 - cos`` over the
  unordered pairs inside a group (groups with fewer than two items are skipped): the diversity of
  noise draws of one transcript, or of real images of one class.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance of Gaussian fits to a (N, D) and b (M, D); N, M >= 2."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise ValueError(f"expected two (N, D) arrays with the same D and N >= 2, got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    covmean = linalg.sqrtm(cov_a @ cov_b)
    if np.iscomplexobj(covmean):  # numerical noise of a (near-)singular product
        covmean = covmean.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean))


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def nearest_centroid_accuracy(ref: np.ndarray, ref_labels, items: np.ndarray, item_labels) -> float:
    """Share of ``items`` (N, D) whose nearest centroid (cosine) of ``ref`` (M, D) is their own label."""
    ref_labels, item_labels = np.asarray(ref_labels), np.asarray(item_labels)
    classes = np.unique(ref_labels)
    unit = _unit(ref)
    centroids = _unit(np.stack([unit[ref_labels == c].mean(0) for c in classes]))  # (C, D)
    pred = classes[np.argmax(_unit(items) @ centroids.T, axis=1)]
    return float((pred == item_labels).mean())


def mean_pairwise_cosine_distance(groups: list[np.ndarray]) -> float:
    """Mean over groups (each (n_g, D), n_g >= 2) of the mean 1 - cosine over the group's pairs."""
    per_group = []
    for g in groups:
        if len(g) < 2:
            continue
        u = _unit(g)
        sims = u @ u.T
        n = len(u)
        off_diagonal = sims.sum() - np.trace(sims)  # sum of cos over ordered pairs i != j
        per_group.append(float(1.0 - off_diagonal / (n * (n - 1))))
    if not per_group:
        raise ValueError("no group has two or more items")
    return float(np.mean(per_group))
