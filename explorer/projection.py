"""2-D projections of a model's embeddings (the app's joint-space view), computed once and cached on disk.

``project(embeddings)`` takes the ``{"joint": (N, D), "image": (N, E), "text": (N, E)}`` dict a model's
``embed`` gives for a collection and returns one 2-D point per (segment, modality): modalities whose
embeddings have the same width share one projection (so an image and its transcript can be compared),
the others get their own. Each group is reduced to ``pca_dim`` dimensions with PCA first (UMAP on
8,189 x 4,096 directly is slow and no better), then UMAP (cosine metric, seeded) maps it to 2-D. Tiny
groups (fewer than ``MIN_UMAP_POINTS`` points, e.g. test collections) fall back to PCA alone. Large groups
(more than ``UMAP_FIT_MAX`` points) are fitted on a seeded sample of that many (PCA and UMAP), and every
other point is placed by the fitted UMAP's ``transform``, in batches with progress: a million points never
go through UMAP's fit.

For views of many points (the app draws a density image above ``DENSITY_ABOVE`` points): ``density_rgba``
aggregates points into a coloured image (the mean colour of a pixel's points, opacity by log count, as
datashader's categorical shading); ``rows_in_view`` decides what a zoomed view draws point by point (every
point once at most ``POINTS_IN_VIEW`` are inside it, else a sample to hover over the view's image); and
``in_polygon`` / ``in_box`` select points server side from a lasso or box, so a selection never travels as
a list of a million points.

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
UMAP_FIT_MAX = 20_000  # UMAP (and PCA) fitted on at most this many points; the rest placed with transform
TRANSFORM_BATCH = 20_000
DENSITY_ABOVE = 50_000  # the app draws a density image (and a sample of points) above this many points
POINTS_IN_VIEW = 20_000  # ... until the user zooms to a view holding at most this many: those are drawn as points
DEFAULT_PARAMS = {"method": "umap", "n_neighbors": 15, "min_dist": 0.1, "pca_dim": 50, "seed": 0}


def _pca(x: np.ndarray, dim: int, seed: int) -> np.ndarray:
    """(n, D) -> (n, min(dim, n, D)) principal components (centred, float32)."""
    from sklearn.decomposition import PCA

    dim = int(min(dim, x.shape[0], x.shape[1]))
    if dim >= x.shape[1]:
        return (x - x.mean(axis=0)).astype(np.float32)
    solver = "randomized" if min(x.shape) > 4 * dim else "full"
    return PCA(n_components=dim, svd_solver=solver, random_state=seed).fit_transform(x).astype(np.float32)


def _sampled_umap(x: np.ndarray, params: dict) -> np.ndarray:
    """(n, D) -> (n, 2) for n > UMAP_FIT_MAX: PCA and UMAP fitted on a seeded sample, the rest transformed."""
    from sklearn.decomposition import PCA

    from .progress import report

    n = x.shape[0]
    rng = np.random.default_rng(params["seed"])
    fit_rows = np.sort(rng.choice(n, size=UMAP_FIT_MAX, replace=False))
    sample = np.nan_to_num(np.asarray(x[fit_rows], dtype=np.float32))
    pca = None
    if sample.shape[1] > params["pca_dim"]:
        pca = PCA(n_components=params["pca_dim"], svd_solver="randomized", random_state=params["seed"]).fit(sample)
        sample = pca.transform(sample).astype(np.float32)
    report(f"UMAP fitted on a sample of {UMAP_FIT_MAX:,} of {n:,} points (one step)", 0, None)
    import umap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reducer = umap.UMAP(n_neighbors=params["n_neighbors"], min_dist=params["min_dist"], metric="cosine",
                            random_state=params["seed"], init="spectral").fit(sample)
        out = np.empty((n, 2), dtype=np.float32)
        out[fit_rows] = reducer.embedding_
        rest = np.setdiff1d(np.arange(n), fit_rows)
        for start in range(0, len(rest), TRANSFORM_BATCH):
            report(f"Placing the other {len(rest):,} points (UMAP transform)", start, len(rest))
            rows = rest[start:start + TRANSFORM_BATCH]
            part = np.nan_to_num(np.asarray(x[rows], dtype=np.float32))
            out[rows] = reducer.transform(pca.transform(part).astype(np.float32) if pca is not None else part)
        report(f"Placing the other {len(rest):,} points (UMAP transform)", len(rest), len(rest))
    return out


def _to_2d(x: np.ndarray, params: dict) -> np.ndarray:
    """(n, D) -> (n, 2) float32."""
    n = x.shape[0]
    if params["method"] == "umap" and n > UMAP_FIT_MAX:
        return _sampled_umap(x, params)
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


def density_rgba(x: np.ndarray, y: np.ndarray, rgb: np.ndarray, extent: tuple[float, float, float, float],
                 size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """Points aggregated into an image: (H, W, 4) uint8, row 0 at the top (largest y).

    ``x``, ``y``: (n,) coordinates; ``rgb``: (n, 3) each point's colour in [0, 255]; ``extent``: (x0, x1, y0,
    y1) drawn, points outside it are left out; ``size``: (W, H) pixels, each covering an equal part of the
    extent (a point on the right or top border falls in the last pixel). A pixel's colour is the mean colour
    of its points, its opacity grows with log(1 + count) (0 where empty, 255 at the densest pixel)."""
    w, h = size
    x0, x1, y0, y1 = extent
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    inside = in_box(x, y, (x0, x1), (y0, y1))
    # one flat pixel index per point, row 0 at the top: np.bincount over it is ~5x faster than histogram2d
    col = np.minimum(((x[inside] - x0) * (w / (x1 - x0))).astype(np.int64), w - 1)
    row = np.minimum(((y[inside] - y0) * (h / (y1 - y0))).astype(np.int64), h - 1)
    pixel = (h - 1 - row) * w + col
    count = np.bincount(pixel, minlength=w * h).reshape(h, w)
    out = np.zeros((h, w, 4), dtype=np.uint8)
    colours = np.asarray(rgb, dtype=np.float64)[inside]
    with np.errstate(invalid="ignore", divide="ignore"):
        for c in range(3):
            total = np.bincount(pixel, weights=colours[:, c], minlength=w * h).reshape(h, w)
            out[..., c] = np.nan_to_num(total / count)
    alpha = np.log1p(count)
    out[..., 3] = np.where(count > 0, 60 + 195 * alpha / max(float(alpha.max()), 1e-9), 0)
    return out


def padded_extent(x: np.ndarray, y: np.ndarray, pad: float = 0.02) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1): the points' bounding box widened by ``pad`` of its size on each side (1 for a flat side)."""
    if len(x) == 0:
        return (-1.0, 1.0, -1.0, 1.0)
    px, py = pad * (float(np.ptp(x)) or 1.0), pad * (float(np.ptp(y)) or 1.0)
    return (float(np.min(x)) - px, float(np.max(x)) + px, float(np.min(y)) - py, float(np.max(y)) + py)


def checked_view(view) -> tuple[float, float, float, float] | None:
    """A view the browser reported, ``{"x": [x0, x1], "y": [y0, y1]}`` (either order), as (x0, x1, y0, y1)
    with x0 < x1 and y0 < y1; None for None (the whole projection). Anything else: ValueError naming it."""
    if view is None:
        return None
    try:
        xs, ys = [float(v) for v in view["x"]], [float(v) for v in view["y"]]
    except (TypeError, KeyError, ValueError) as e:
        raise ValueError(f"view must be {{'x': [x0, x1], 'y': [y0, y1]}}, got {str(view)[:80]!r}") from e
    if len(xs) != 2 or len(ys) != 2 or not np.all(np.isfinite(xs + ys)) or xs[0] == xs[1] or ys[0] == ys[1]:
        raise ValueError(f"view must span two distinct finite values on each axis, got {str(view)[:80]!r}")
    return (min(xs), max(xs), min(ys), max(ys))


def rows_in_view(x: np.ndarray, y: np.ndarray, extent: tuple[float, float, float, float], max_points: int,
                 sample: int, seed: int = 0) -> tuple[np.ndarray, int, bool]:
    """What a view of the points draws one by one: ``(rows, n_in_view, as_points)``.

    ``rows``: positions (into x, y, increasing) of the points inside ``extent`` when there are at most
    ``max_points`` of them (``as_points``: the view draws every point); otherwise a seeded sample of
    ``sample`` of them, to hover over a density image of the view."""
    inside = np.flatnonzero(in_box(x, y, extent[:2], extent[2:]))
    if len(inside) <= max_points:
        return inside, len(inside), True
    pick = np.random.default_rng(seed).choice(len(inside), size=min(sample, len(inside)), replace=False)
    return inside[np.sort(pick)], len(inside), False


def in_box(x: np.ndarray, y: np.ndarray, xs: tuple[float, float], ys: tuple[float, float]) -> np.ndarray:
    """(n,) bool: points inside the axis-aligned box spanned by ``xs`` and ``ys`` (either order), borders included."""
    return (x >= min(xs)) & (x <= max(xs)) & (y >= min(ys)) & (y <= max(ys))


def in_polygon(x: np.ndarray, y: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """(n,) bool: points inside the closed polygon with vertices (px, py) (even-odd rule, ray casting); only
    points in its bounding box are tested."""
    px, py = np.asarray(px, dtype=np.float64), np.asarray(py, dtype=np.float64)
    inside = np.zeros(len(x), dtype=bool)
    if len(px) < 3:
        return inside
    cand = np.flatnonzero(in_box(x, y, (px.min(), px.max()), (py.min(), py.max())))
    cx, cy = np.asarray(x[cand], dtype=np.float64), np.asarray(y[cand], dtype=np.float64)
    hit = np.zeros(len(cand), dtype=bool)
    for (ax, ay), (bx, by) in zip(zip(px, py), zip(np.roll(px, -1), np.roll(py, -1))):
        crosses = (ay > cy) != (by > cy)  # the edge spans the point's height
        with np.errstate(divide="ignore", invalid="ignore"):
            at = ax + (cy - ay) * (bx - ax) / (by - ay)  # the edge's x at that height
        hit ^= crosses & (cx < at)
    inside[cand] = hit
    return inside
