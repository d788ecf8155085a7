"""2-D projections of a model's embeddings (the app's joint-space view), computed once and cached on disk.

``project(embeddings)`` takes the ``{"joint": (N, D), "image": (N, E), "text": (N, E)}`` dict a model's
``embed`` gives for a collection and returns one 2-D point per (segment, modality): modalities whose
embeddings have the same width share one projection (so an image and its transcript can be compared),
the others get their own. Each group is reduced to ``pca_dim`` dimensions with PCA first (UMAP on
8,189 x 4,096 directly is slow and no better), then UMAP (cosine metric, seeded) maps it to 2-D. Tiny
groups (fewer than ``MIN_UMAP_POINTS`` points, e.g. test collections) fall back to PCA alone.

``cached_projection(key, compute_embeddings)`` stores the result with ``explorer.cache.cached_arrays``
under a key naming the checkpoint (path, mtime, size), the collection fingerprint and the parameters,
so a projection is computed once per (model, collection) and never on a page rerun.
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from .cache import cached_arrays, load_arrays

PROJECTION_VERSION = 1
MIN_UMAP_POINTS = 16
DEFAULT_PARAMS = {"method": "umap", "n_neighbors": 15, "min_dist": 0.1, "pca_dim": 50, "seed": 0}


def _pca(x: np.ndarray, dim: int, seed: int) -> np.ndarray:
    """(n, D) -> (n, min(dim, n, D)) principal components (centred, float32)."""
    from sklearn.decomposition import PCA

    dim = int(min(dim, x.shape[0], x.shape[1]))
    if dim >= x.shape[1]:
        return (x - x.mean(axis=0)).astype(np.float32)
    solver = "randomized" if min(x.shape) > 4 * dim else "full"
    return PCA(n_components=dim, svd_solver=solver, random_state=seed).fit_transform(x).astype(np.float32)


def _to_2d(x: np.ndarray, params: dict) -> np.ndarray:
    """(n, D) -> (n, 2) float32."""
    n = x.shape[0]
    x = np.nan_to_num(np.asarray(x, dtype=np.float32))
    if n == 0:
        return np.zeros((0, 2), np.float32)
    if n < 3:
        return np.pad(_pca(x, 2, params["seed"]), ((0, 0), (0, 2)))[:, :2].astype(np.float32)
    from .progress import report

    report(f"PCA of {n:,} points", 0, 1)
    reduced = _pca(x, params["pca_dim"], params["seed"]) if x.shape[1] > params["pca_dim"] else x
    report(f"PCA of {n:,} points", 1, 1)
    if params["method"] == "pca" or n < MIN_UMAP_POINTS:
        out = _pca(reduced, 2, params["seed"])
        return np.pad(out, ((0, 0), (0, 2 - out.shape[1]))).astype(np.float32)
    report(f"UMAP of {n:,} points (one step: no finer progress)", 0, None)
    import umap  # imported lazily: numba compiles on first use (~10 s once per process)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by random_state", numba/TBB notices
        reducer = umap.UMAP(n_neighbors=min(params["n_neighbors"], n - 1), min_dist=params["min_dist"],
                            metric="cosine", random_state=params["seed"], init="spectral" if n > 64 else "random")
        return reducer.fit_transform(reduced).astype(np.float32)


def modality_groups(embeddings: dict[str, np.ndarray]) -> list[list[str]]:
    """Modalities that share a projection: equal embedding widths, in the order joint, image, text."""
    order = [m for m in ("joint", "image", "text") if m in embeddings] + sorted(
        m for m in embeddings if m not in ("joint", "image", "text"))
    groups: dict[int, list[str]] = {}
    for m in order:
        groups.setdefault(int(embeddings[m].shape[1]), []).append(m)
    return list(groups.values())


def project(embeddings: dict[str, np.ndarray], params: dict | None = None) -> dict[str, np.ndarray]:
    """2-D points for every (segment, modality).

    Returns ``{"x": (M,), "y": (M,) float32, "segment": (M,) int32 index into the collection,
    "modality": (M,) str, "group": (M,) int32 projection group}`` with M = N x number of modalities.
    """
    params = {**DEFAULT_PARAMS, **(params or {})}
    if params["method"] not in ("umap", "pca"):
        raise ValueError(f"unknown projection method {params['method']!r} (umap | pca)")
    xs, ys, segs, mods, grps = [], [], [], [], []
    for g, mods_in_group in enumerate(modality_groups(embeddings)):
        stacked = np.concatenate([np.asarray(embeddings[m], dtype=np.float32) for m in mods_in_group])
        xy = _to_2d(stacked, params)
        n = len(embeddings[mods_in_group[0]])
        for j, m in enumerate(mods_in_group):
            part = xy[j * n:(j + 1) * n]
            xs.append(part[:, 0])
            ys.append(part[:, 1])
            segs.append(np.arange(n, dtype=np.int32))
            mods.append(np.full(n, m))
            grps.append(np.full(n, g, dtype=np.int32))
    return {"x": np.concatenate(xs), "y": np.concatenate(ys), "segment": np.concatenate(segs),
            "modality": np.concatenate(mods).astype(str), "group": np.concatenate(grps)}


def projection_key(checkpoint: dict, collection_fingerprint: str, params: dict | None = None) -> dict:
    """Cache key: ``checkpoint`` = {"path", "mtime", "size"} of the checkpoint file."""
    return {"checkpoint": checkpoint, "collection": collection_fingerprint,
            "params": {**DEFAULT_PARAMS, **(params or {})}, "version": PROJECTION_VERSION}


def cached_projection(key: dict, compute_embeddings: Callable[[], dict[str, np.ndarray]],
                      refresh: bool = False) -> dict[str, np.ndarray]:
    """The projection stored under ``key`` (see ``projection_key``), computing it when missing."""
    return cached_arrays("projection", key, lambda: project(compute_embeddings(), key["params"]), refresh=refresh)


def is_cached(key: dict) -> bool:
    return load_arrays("projection", key) is not None
