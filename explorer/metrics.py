"""Pure retrieval metrics for video hyperlinking and crossmodal retrieval.

Everything here takes numpy arrays (torch tensors and lists are accepted and converted) and returns
numbers, numpy arrays or plain dicts: no I/O, no torch import, no global state.

Conventions shared by every function (``tests/test_metrics.py`` checks each against brute force):

* **Similarity** is cosine. Rows are L2-normalised in float64; a row whose norm is <= ``eps``
  (1e-12) becomes exactly zero, so a zero vector has similarity 0 with everything (never NaN).
  Scores are computed in float64, rounded to a grid of 2**-32 (~2.3e-10) and stored as float32,
  so mathematically tied cosines (duplicate rows, a row and a scaled copy of it, orthogonal rows
  whose float dot product is +-1e-17, ...) compare exactly equal; score differences below ~1e-9
  count as ties.
* **Ranking**: the gallery is sorted by score descending. Gallery items *excluded* for a query (e.g.
  the query itself in hyperlinking) are removed from that query's ranking altogether.
* **Ties** ("equal" meaning equal float32 scores as above). The metrics (``retrieval_metrics``,
  ``hyperlinking_eval``, ``crossmodal_map``) are **tie-aware** by default (``ties="expected"``): AP and
  P@k are their expectation over all orderings of tied items (McSherry & Najork, ECIR 2008), so a
  constant embedding scores exactly the random level, whatever the order of the gallery.
  ``ties="index"`` instead breaks ties by gallery index ascending, which is also the order
  ``rank_gallery`` returns (a displayed ranking needs one order) and the one the single-list
  functions and the 11-point AP see.
* **Average precision** (AP) is non-interpolated, over the full ranking:
  ``AP = (1/R) * sum over ranks r holding a relevant item of precision@r``, where ``R`` is the number
  of relevant gallery items for the query after exclusions. A query with ``R == 0`` is *undefined*:
  its AP and P@k are NaN, it is left out of every mean and counted in ``n_undefined``. ``"map"``
  always means the mean of this AP over the defined queries.
* **precision@k** = (#relevant in the top k) / k, always dividing by k, also when a ranking has
  fewer than k items (so a short gallery caps P@k below 1).
* **11-point interpolated AP** (``interpolated_ap_11pt``, the protocol of Rasiwasia et al. 2010 and
  Sharma et al. CVPR 2012) is a separate function, for comparison with published tables only.
* **Memory**: queries are processed in chunks so that one (chunk, G) similarity block holds about
  8M entries (1,024 rows for an 8,189-item gallery). Nothing of size (Q, G) is built unless the
  caller passes or asks for it (a dense relevance/exclusion matrix, the full ``rank_gallery`` output).

Relevance and exclusion "row sources" (arguments ``relevance`` / ``exclude``) may be given as a
(Q, G) bool array, or as a callable ``f(start, stop) -> (stop - start, G) bool`` returning the rows
for queries ``start:stop``; ``relevance`` may also be a pair ``(query_labels, gallery_labels)``
(same label = relevant), evaluated chunk by chunk. Labels that are ``None`` or NaN mean
"unlabelled": never relevant to anything, and left out of per-category tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "l2_normalize",
    "rank_gallery",
    "precision_at_k",
    "average_precision",
    "interpolated_ap_11pt",
    "truncated_list_metrics",
    "retrieval_metrics",
    "label_relevance",
    "hyperlinking_eval",
    "crossmodal_map",
    "per_category",
    "mean_std",
    "paired_ttest_one_sided",
]

#: target number of entries in one (chunk, G) score block
_BLOCK_ENTRIES = 1 << 23
_MAX_CHUNK_ROWS = 1024


# --------------------------------------------------------------------------------------------------
# input helpers
# --------------------------------------------------------------------------------------------------


def _to_numpy(x: Any) -> np.ndarray:
    """Array view of ``x``; torch tensors (also on GPU / with grad) are detached and copied to CPU."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _as_matrix(x: Any, name: str) -> np.ndarray:
    """(N, D) finite float64 matrix, or ValueError naming ``name``."""
    arr = _to_numpy(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, D) array, got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _as_relevance_vector(relevance_ranked: Any) -> np.ndarray:
    """1-D bool array (ranked order) or ValueError."""
    rel = _to_numpy(relevance_ranked)
    if rel.ndim != 1:
        raise ValueError(f"relevance_ranked must be 1-D, got shape {rel.shape}")
    return rel.astype(bool, copy=False)


def _is_missing_label(label: Any) -> bool:
    return label is None or (isinstance(label, (float, np.floating)) and math.isnan(label))


def _as_label_list(labels: Any, name: str) -> list:
    arr = _to_numpy(labels) if not isinstance(labels, (list, tuple)) else np.asarray(labels, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr.tolist()  # python scalars, so 1 == np.int64(1) and "a" == np.str_("a") hash alike


def _encode_labels(*label_arrays: Any) -> tuple[list[np.ndarray], list]:
    """Shared integer codes for several label arrays: ([codes (N_i,) int64, ...], names).

    ``names[c]`` is the label of code ``c`` (first-appearance order); missing labels get code -1.
    """
    table: dict = {}
    codes = []
    for i, labels in enumerate(label_arrays):
        values = _as_label_list(labels, f"labels[{i}]")
        c = np.empty(len(values), dtype=np.int64)
        for j, lab in enumerate(values):
            c[j] = -1 if _is_missing_label(lab) else table.setdefault(lab, len(table))
        codes.append(c)
    return codes, list(table)


def _chunk_rows(n_gallery: int, chunk_size: int | None) -> int:
    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        return int(chunk_size)
    return max(1, min(_MAX_CHUNK_ROWS, _BLOCK_ENTRIES // max(n_gallery, 1)))


class _Rows:
    """Uniform access to a row source: None, a (Q, G) bool array, or a callable(start, stop)."""

    def __init__(self, source: Any, n_rows: int, n_cols: int, name: str):
        self.name, self.shape = name, (n_rows, n_cols)
        self.array: np.ndarray | None = None
        self.func: Callable[[int, int], np.ndarray] | None = None
        if source is None:
            return
        if callable(source):
            self.func = source
            return
        arr = _to_numpy(source)
        if arr.shape != self.shape:
            raise ValueError(f"{name} must have shape {self.shape}, got {arr.shape}")
        self.array = arr.astype(bool, copy=False)

    @property
    def is_none(self) -> bool:
        return self.array is None and self.func is None

    def rows(self, start: int, stop: int) -> np.ndarray | None:
        """(stop - start, G) bool block, or None for an empty source."""
        if self.array is not None:
            return self.array[start:stop]
        if self.func is not None:
            block = np.asarray(self.func(start, stop)).astype(bool, copy=False)
            if block.shape != (stop - start, self.shape[1]):
                raise ValueError(
                    f"{self.name}({start}, {stop}) returned shape {block.shape}, "
                    f"expected {(stop - start, self.shape[1])}"
                )
            return block
        return None


def _label_rows(query_codes: np.ndarray, gallery_codes: np.ndarray) -> Callable[[int, int], np.ndarray]:
    """Row source: same (non-missing) label code."""

    def rows(start: int, stop: int) -> np.ndarray:
        q = query_codes[start:stop, None]  # (c, 1)
        return (q == gallery_codes[None, :]) & (q >= 0)  # (c, G)

    return rows


def _shifted_diagonal_rows(n_cols: int, offset: int) -> Callable[[int, int], np.ndarray]:
    """Row source excluding gallery item ``offset + i`` for query ``i`` (``offset=0``: self)."""

    def rows(start: int, stop: int) -> np.ndarray:
        block = np.zeros((stop - start, n_cols), dtype=bool)  # (c, G)
        r = np.arange(stop - start)
        block[r, offset + start + r] = True
        return block

    return rows


def _resolve_relevance(relevance: Any, n_q: int, n_g: int) -> _Rows:
    if isinstance(relevance, tuple) and len(relevance) == 2:
        (qc, gc), _ = _encode_labels(relevance[0], relevance[1])
        if len(qc) != n_q or len(gc) != n_g:
            raise ValueError(
                f"label relevance needs {n_q} query and {n_g} gallery labels, got {len(qc)} and {len(gc)}"
            )
        return _Rows(_label_rows(qc, gc), n_q, n_g, "relevance")
    if relevance is None:
        raise ValueError("relevance is required")
    return _Rows(relevance, n_q, n_g, "relevance")


# --------------------------------------------------------------------------------------------------
# similarity and ranking
# --------------------------------------------------------------------------------------------------


def _normalize64(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """(N, D) float64 rows scaled to unit L2 norm; rows with norm <= eps become zero."""
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))  # (N,)
    small = norms <= eps
    out = x / np.where(small, 1.0, norms)[:, None]  # (N, D)
    out[small] = 0.0
    return out


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm.

    (N, D) -> (N, D) float32. Normalisation is done in float64; rows whose norm is <= ``eps``
    (zero rows in particular) become exactly zero instead of NaN. Raises ValueError on a
    non-2-D input or on NaN / infinite values.
    """
    return _normalize64(_as_matrix(x, "x"), eps).astype(np.float32)


#: cosine scores are rounded to multiples of this (about 2.3e-10) before ranking
_SCORE_GRID = 2.0**-32


def _snap(scores64: np.ndarray) -> np.ndarray:
    """float64 scores -> float32 on an absolute grid of 2**-32 (overwrites ``scores64``).

    Float64 rounding noise (~1e-16, e.g. -2e-17 for a mathematically zero dot product, or 1 ulp
    between a row and 3x that row) is far below the grid step, so mathematically tied cosines land
    on the same grid point and hence the same float32 value; ties are then broken by index.
    Differences below ~1e-9 (or below float32 resolution) are treated as ties. Clipped to [-1, 1].
    """
    s = np.clip(scores64, -1.0, 1.0, out=scores64)  # in place: (c, G) float64
    np.multiply(s, 1.0 / _SCORE_GRID, out=s)  # exact (power of two)
    np.rint(s, out=s)  # integers
    np.multiply(s, _SCORE_GRID, out=s)
    out = s.astype(np.float32)  # (c, G)
    out += np.float32(0.0)  # turns -0.0 into 0.0
    return out


def _ranked_blocks(
    query_emb: Any, gallery_emb: Any, exclude: Any, chunk_size: int | None, top: int | None = None
):
    """Yield (start, stop, scores, order, excluded) per chunk of queries.

    scores:   (c, G) float32 cosine (gallery order), excluded entries set to -inf
    order:    (c, W) int64 gallery indices, best first, ties by index ascending, excluded last;
              W = G, or min(top, G) when ``top`` is given (then only the best W are sorted)
    excluded: (c, G) bool, or None when nothing is excluded

    Ranking sorts one int64 key per item, ``(-score_as_integer << shift) | index``: scores on the
    2**-32 grid are exact integers (float32 values of the grid are still multiples of 2**-32), so
    the key orders by score descending then index ascending, keys are unique, and a plain
    (fast, unstable) sort gives exactly the documented ranking.
    """
    q = _normalize64(_as_matrix(query_emb, "query_emb"))  # (Q, D)
    g = _normalize64(_as_matrix(gallery_emb, "gallery_emb"))  # (G, D)
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"query and gallery dimensions differ: {q.shape[1]} != {g.shape[1]}")
    n_q, n_g = len(q), len(g)
    if n_g == 0:
        raise ValueError("the gallery is empty")
    shift = max(1, (n_g - 1).bit_length())
    if shift > 28:
        raise ValueError(f"gallery too large for int64 rank keys: {n_g} items")
    index = np.arange(n_g, dtype=np.int64)  # (G,)
    excluded_level = np.int64(1) << 34  # after negation, below every score (|score| <= 2**32)
    ex_src = exclude if isinstance(exclude, _Rows) else _Rows(exclude, n_q, n_g, "exclude")
    step = _chunk_rows(n_g, chunk_size)
    g_t = np.ascontiguousarray(g.T)  # (D, G)
    width = n_g if top is None else min(top, n_g)
    for start in range(0, n_q, step):
        stop = min(n_q, start + step)
        scores = _snap(q[start:stop] @ g_t)  # (c, G) float32
        # float32 grid values times 2**32 are exact integers: (c, G) int64, negated so that a
        # descending score is an ascending key
        keys = (scores.astype(np.float64) * (-1.0 / _SCORE_GRID)).astype(np.int64)
        excluded = ex_src.rows(start, stop)  # (c, G) bool or None
        if excluded is not None:
            scores[excluded] = -np.inf
            keys[excluded] = excluded_level
        np.left_shift(keys, shift, out=keys)
        np.bitwise_or(keys, index, out=keys)  # (c, G) unique keys
        if width < n_g:
            keys = np.partition(keys, width - 1, axis=1)[:, :width]  # (c, W) the best W, unordered
        keys.sort(axis=1)
        order = np.bitwise_and(keys, (np.int64(1) << shift) - 1, out=keys)  # (c, W) gallery indices
        yield start, stop, scores, order, excluded


def rank_gallery(
    query_emb: np.ndarray,
    gallery_emb: np.ndarray,
    exclude: np.ndarray | Callable[[int, int], np.ndarray] | None = None,
    top: int | None = None,
    *,
    chunk_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Rank the gallery for every query by cosine similarity.

    Args:
        query_emb: (Q, D); gallery_emb: (G, D). Any float dtype; torch tensors accepted.
        exclude: gallery items removed from a query's ranking: a (Q, G) bool array (True = removed)
            or a callable ``f(start, stop) -> (stop - start, G) bool``; None removes nothing.
        top: keep at most this many items per row (>= 1); None keeps all.
        chunk_size: queries per block (default: about 8M scores per block, at most 1,024 rows).

    Returns:
        ``(indices, scores)``, both (Q, L): ``indices`` int64 gallery indices best first, ``scores``
        their float32 cosine similarities. Ties are broken by gallery index ascending. Excluded items
        never appear. ``L = min(top, G - m)`` where ``m`` is the *smallest* number of items excluded
        for any query (``L = G`` or ``top`` without exclusions), so every row's full ranking fits;
        a row that has fewer than ``L`` non-excluded items is padded at its end with index -1 and
        score -inf.
    """
    if top is not None and top < 1:
        raise ValueError(f"top must be >= 1 or None, got {top}")
    idx_parts, score_parts = [], []
    n_avail_max = 0  # most non-excluded items of any row = G - (fewest exclusions)
    blocks = _ranked_blocks(query_emb, gallery_emb, exclude, chunk_size, top)
    for _, _, scores, order, excluded in blocks:
        idx = order  # (c, width)
        width = idx.shape[1]
        sc = np.take_along_axis(scores, idx, axis=1)  # (c, width)
        if excluded is not None:
            n_avail = excluded.shape[1] - excluded.sum(axis=1)  # (c,)
            pad = np.arange(width)[None, :] >= n_avail[:, None]  # (c, width)
            idx = np.where(pad, -1, idx)
            sc = np.where(pad, np.float32(-np.inf), sc)
            n_avail_max = max(n_avail_max, int(n_avail.max()))
        else:
            n_avail_max = order.shape[1]
        idx_parts.append(idx.astype(np.int64, copy=False))
        score_parts.append(sc.astype(np.float32, copy=False))
    if not idx_parts:  # no queries
        g = _to_numpy(gallery_emb)
        width = len(g) if top is None else min(top, len(g))
        return np.empty((0, width), np.int64), np.empty((0, width), np.float32)
    length = n_avail_max if top is None else min(top, n_avail_max)
    # rows with more than the fewest exclusions already carry their -1 / -inf padding
    return (
        np.concatenate([p[:, :length] for p in idx_parts]),
        np.concatenate([p[:, :length] for p in score_parts]),
    )


# --------------------------------------------------------------------------------------------------
# metrics of one ranked relevance list
# --------------------------------------------------------------------------------------------------


def precision_at_k(relevance_ranked: np.ndarray, k: int) -> float:
    """Fraction of the top ``k`` ranked items that are relevant.

    ``relevance_ranked``: 1-D, truthy = relevant, in ranked order (best first). Always divides by
    ``k``, also when fewer than ``k`` items are given (missing items count as non-relevant).
    ``k`` must be >= 1.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    rel = _as_relevance_vector(relevance_ranked)
    return float(np.count_nonzero(rel[:k]) / k)


def _ap_rows(rel_ranked: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """Vectorised AP: rel_ranked (c, L) bool, n_relevant (c,) int -> (c,) float64, NaN where R == 0."""
    n_rows = rel_ranked.shape[0]
    rows, cols = np.nonzero(rel_ranked)  # (H,) each: relevant positions, by row then by rank
    per_row = np.bincount(rows, minlength=n_rows)  # (c,) hits per row
    first = np.cumsum(per_row) - per_row  # (c,) position in `rows` of each row's first hit
    hit_no = np.arange(len(rows)) - first[rows] + 1  # (H,) 1, 2, ... within each row
    prec_sum = np.bincount(rows, weights=hit_no / (cols + 1.0), minlength=n_rows)  # (c,)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_relevant > 0, prec_sum / np.maximum(n_relevant, 1), np.nan)


def _ap11_rows(rel_ranked: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """Vectorised 11-point interpolated AP (see ``interpolated_ap_11pt``): (c, L) bool, (c,) -> (c,)."""
    n_rows = rel_ranked.shape[0]
    rows, cols = np.nonzero(rel_ranked)  # (H,) relevant positions, by row then by rank
    per_row = np.bincount(rows, minlength=n_rows)  # (c,)
    first = np.cumsum(per_row) - per_row  # (c,)
    hit_no = np.arange(len(rows)) - first[rows] + 1  # (H,)
    prec = hit_no / (cols + 1.0)  # (H,) precision at each hit, in [0, 1]
    # max precision at this hit or any later hit of the same row: a reversed cumulative max that
    # restarts per row, by lifting each row above the rows that come before it in reversed order
    lift = 2.0 * (n_rows - 1 - rows)  # (H,)
    envelope = np.maximum.accumulate((prec + lift)[::-1])[::-1] - lift  # (H,)
    # hit number at which recall first reaches t/10: ceil(t * R / 10), at least 1
    need = np.maximum(1, -((-np.arange(11)[None, :] * n_relevant[:, None]) // 10))  # (c, 11)
    reached = need <= per_row[:, None]  # (c, 11)
    pos = np.where(reached, first[:, None] + need - 1, 0)  # (c, 11) index into the hits
    vals = np.where(reached, envelope[pos] if len(envelope) else 0.0, 0.0)  # (c, 11)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_relevant > 0, vals.sum(axis=1) / 11, np.nan)


def _check_n_relevant(rel: np.ndarray, n_relevant: int | None) -> int:
    hits = int(np.count_nonzero(rel))
    if n_relevant is None:
        return hits
    if n_relevant < hits:
        raise ValueError(f"n_relevant={n_relevant} is smaller than the {hits} relevant items ranked")
    return int(n_relevant)


def average_precision(relevance_ranked: np.ndarray, n_relevant: int | None = None) -> float:
    """Non-interpolated average precision of one ranked list.

    ``AP = (1/R) * sum_{r: item r relevant} precision@r`` (ranks r from 1), with
    ``R = n_relevant`` (default: the number of relevant items in ``relevance_ranked``). Pass a larger
    ``n_relevant`` for a truncated ranking: relevant items never retrieved contribute 0.
    Returns NaN when ``R == 0`` (undefined query); ValueError if ``n_relevant`` is smaller than
    the number of relevant items in the list.
    """
    rel = _as_relevance_vector(relevance_ranked)
    r = _check_n_relevant(rel, n_relevant)
    return float(_ap_rows(rel[None, :], np.array([r]))[0])


def truncated_list_metrics(relevance_ranked: np.ndarray, n_relevant: np.ndarray, k: int = 10) -> dict[str, np.ndarray]:
    """P@k and AP@T of ranked lists cut at T items (what an approximate top-T search returns at scale,
    where the full ranking is never computed).

    ``relevance_ranked``: (Q, T) bool, each query's top T in ranked order; ``n_relevant``: (Q,) the
    number of relevant gallery items of each query in the *whole* gallery (>= the hits in its row).
    Returns ``{"p@k": (Q,), "ap@T": (Q,)}`` float64 where ``AP@T = (1/min(R, T)) * sum over ranks
    r <= T holding a relevant item of precision@r`` (1.0 when the top T are all relevant or hold all
    R relevant items first; the full-ranking AP when R <= T and every relevant item is in the top T).
    Queries with R == 0 are NaN in both. Ties are broken by the given order (the search's).
    """
    rel = np.atleast_2d(np.asarray(relevance_ranked, dtype=bool))
    r = np.asarray(n_relevant, dtype=np.int64).reshape(-1)
    if len(r) != rel.shape[0]:
        raise ValueError(f"n_relevant has {len(r)} entries for {rel.shape[0]} ranked lists")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    hits = rel.sum(axis=1)
    if np.any(hits > r):
        raise ValueError("n_relevant is smaller than the relevant items ranked in some list")
    ap = _ap_rows(rel, np.minimum(r, rel.shape[1]))
    with np.errstate(invalid="ignore"):
        pk = np.where(r > 0, rel[:, :k].sum(axis=1) / k, np.nan)
    return {f"p@{k}": pk, "ap@T": ap}


def interpolated_ap_11pt(relevance_ranked: np.ndarray, n_relevant: int | None = None) -> float:
    """11-point interpolated average precision (Rasiwasia et al. 2010 / Sharma et al. CVPR 2012).

    ``AP11 = (1/11) * sum_{t in 0, 0.1, ..., 1} max{precision@r : recall@r >= t}`` where
    ``recall@r = hits@r / R`` and the max of an empty set is 0 (recall level never reached, e.g. a
    truncated ranking with ``n_relevant`` larger than the relevant items listed). Recall levels
    are compared exactly (``10 * hits >= t * R`` for t = 0..10, in integers). ``R`` defaults to the number of
    relevant items; NaN when ``R == 0``. For comparison with published tables only: "map"
    everywhere else in this module is the non-interpolated AP.
    """
    rel = _as_relevance_vector(relevance_ranked)
    r = _check_n_relevant(rel, n_relevant)
    if r == 0:
        return float("nan")
    if len(rel) == 0:
        return 0.0
    hits = np.cumsum(rel, dtype=np.int64)  # (L,)
    prec = hits / np.arange(1, len(rel) + 1)  # (L,)
    envelope = np.maximum.accumulate(prec[::-1])[::-1]  # (L,) max precision at this rank or deeper
    # first rank whose recall reaches t/10, for t = 0..10 (hits is non-decreasing)
    first = np.searchsorted(10 * hits, np.arange(11) * r, side="left")  # (11,)
    reached = first < len(rel)
    return float(np.where(reached, envelope[np.minimum(first, len(rel) - 1)], 0.0).sum() / 11)


# --------------------------------------------------------------------------------------------------
# whole-gallery evaluation
# --------------------------------------------------------------------------------------------------


TIES = ("expected", "index")


def _tie_aware_rows(rel_ranked: np.ndarray, scores_ranked: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Expected AP and P@k over all orderings of tied items (McSherry & Najork 2008), vectorised.

    rel_ranked (c, L) bool and scores_ranked (c, L) float32, both in ranked order (ties adjacent)
    -> (ap (c,), pk (c,)), NaN where a row has no relevant item. For the item at 0-based position p
    of a tie group starting at a with n items of which r are relevant, b relevant ranked before it:
    P(relevant) = r / n and E[precision@(p+1) | relevant] = (b + 1 + (p - a)(r - 1)/(n - 1)) / (p + 1)
    (the relevant items among the group's positions before p are hypergeometric); AP is the sum of
    their products over R, P@k the sum of P(relevant) over the top k positions, over k.
    """
    c, n_items = rel_ranked.shape
    pos = np.arange(n_items)  # (L,)
    new = np.ones((c, n_items), dtype=bool)
    new[:, 1:] = scores_ranked[:, 1:] != scores_ranked[:, :-1]  # (c, L) first item of a tie group
    start = np.maximum.accumulate(np.where(new, pos, 0), axis=1)  # (c, L) group's first position
    last = np.ones((c, n_items), dtype=bool)
    last[:, :-1] = new[:, 1:]
    end = np.minimum.accumulate(np.where(last, pos, n_items)[:, ::-1], axis=1)[:, ::-1]  # (c, L) inclusive
    cum = np.zeros((c, n_items + 1))
    np.cumsum(rel_ranked, axis=1, out=cum[:, 1:])  # (c, L + 1) relevant items before each position
    before = np.take_along_axis(cum, start, axis=1)  # (c, L) relevant ranked before the group
    r_group = np.take_along_axis(cum, end + 1, axis=1) - before  # (c, L)
    n_group = end - start + 1  # (c, L)
    p_rel = r_group / n_group  # (c, L)
    others = (pos - start) * (r_group - 1) / np.maximum(n_group - 1, 1)  # 0 when n_group == 1
    total = cum[:, -1]  # (c,) R
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = np.where(total > 0, (p_rel * (before + 1 + others) / (pos + 1)).sum(axis=1) / np.maximum(total, 1), np.nan)
        pk = np.where(total > 0, p_rel[:, :k].sum(axis=1) / k, np.nan)
    return ap, pk


def _evaluate(
    query_emb: Any,
    gallery_emb: Any,
    relevance: _Rows,
    exclude: Any,
    k: int,
    chunk_size: int | None,
    ap_11pt: bool = False,
    ties: str = "expected",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Per-query (ap, p@k, n_relevant int64, ap11 or None), each (Q,); NaN metrics where R == 0."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if ties not in TIES:
        raise ValueError(f"ties must be one of {', '.join(TIES)}, got {ties!r}")
    n_q = len(_to_numpy(query_emb))
    ap = np.full(n_q, np.nan)
    pk = np.full(n_q, np.nan)
    n_rel = np.zeros(n_q, dtype=np.int64)
    ap11 = np.full(n_q, np.nan) if ap_11pt else None
    for start, stop, scores, order, excluded in _ranked_blocks(query_emb, gallery_emb, exclude, chunk_size):
        rel = relevance.rows(start, stop)  # (c, G) bool
        if excluded is not None:
            rel = rel & ~excluded  # excluded items are never relevant (they sit at the end of `order`)
        rel_ranked = np.take_along_axis(rel, order, axis=1)  # (c, G)
        r = np.count_nonzero(rel_ranked, axis=1)  # (c,)
        n_rel[start:stop] = r
        if ties == "expected":
            ap[start:stop], pk[start:stop] = _tie_aware_rows(rel_ranked, np.take_along_axis(scores, order, axis=1), k)
        else:
            hits_k = np.count_nonzero(rel_ranked[:, :k], axis=1)  # (c,)
            ap[start:stop] = _ap_rows(rel_ranked, r)
            pk[start:stop] = np.where(r > 0, hits_k / k, np.nan)
        if ap11 is not None:
            ap11[start:stop] = _ap11_rows(rel_ranked, r)
    return ap, pk, n_rel, ap11


def _nanmean(values: np.ndarray) -> float:
    """Mean of the non-NaN entries; NaN (and no warning) when there are none."""
    values = np.asarray(values, dtype=np.float64)
    ok = ~np.isnan(values)
    return float(values[ok].mean()) if ok.any() else float("nan")


def retrieval_metrics(
    query_emb: np.ndarray,
    gallery_emb: np.ndarray,
    relevance: np.ndarray | Callable[[int, int], np.ndarray] | tuple,
    exclude: np.ndarray | Callable[[int, int], np.ndarray] | None = None,
    k: int = 10,
    *,
    ap_11pt: bool = False,
    chunk_size: int | None = None,
    ties: str = "expected",
) -> dict:
    """AP and P@k of every query against a gallery, ranked by cosine similarity (tie-aware: see ``ties``).

    Args:
        query_emb: (Q, D); gallery_emb: (G, D).
        relevance: which gallery items are relevant to which query: a (Q, G) bool array; a pair
            ``(query_labels, gallery_labels)`` (same label = relevant, built chunk by chunk, never as
            a dense (Q, G) matrix); or a callable ``f(start, stop) -> (stop - start, G) bool``.
        exclude: gallery items removed from a query's ranking (and from its relevant set), in the
            same (Q, G) array / callable form; None removes nothing.
        k: cut-off of precision@k (>= 1; divides by k even if fewer items remain).
        ap_11pt: also compute the 11-point interpolated AP (``interpolated_ap_11pt``) per query.
        chunk_size: queries per block (default: about 8M scores per block, at most 1,024 rows).
        ties: ``"expected"`` (default): AP and P@k are expectations over the orderings of tied items;
            ``"index"``: ties broken by gallery index (the 11-point AP always uses this order).

    Returns a dict:
        ``"map"``: mean AP over defined queries (NaN if none), ``f"p@{k}"``: mean P@k over the same
        queries, ``"n_queries"``: number of defined queries (R > 0), ``"n_undefined"``: number of
        queries with no relevant item (excluded from the means), ``"k"``: k, and ``"per_query"``:
        ``{"ap": (Q,) float64, f"p@{k}": (Q,) float64, "n_relevant": (Q,) int64}`` with NaN AP and
        P@k for undefined queries. With ``ap_11pt=True`` also ``"map_11pt"`` (mean over the same
        queries) and ``per_query["ap_11pt"]``.
    """
    q = _to_numpy(query_emb)
    g = _to_numpy(gallery_emb)
    rel = _resolve_relevance(relevance, len(q), len(g))
    return _summary(*_evaluate(q, g, rel, exclude, k, chunk_size, ap_11pt, ties), k)


def _summary(
    ap: np.ndarray, pk: np.ndarray, n_rel: np.ndarray, ap11: np.ndarray | None, k: int
) -> dict:
    defined = n_rel > 0
    out = {
        "map": _nanmean(ap),
        f"p@{k}": _nanmean(pk),
        "n_queries": int(defined.sum()),
        "n_undefined": int((~defined).sum()),
        "k": k,
        "per_query": {"ap": ap, f"p@{k}": pk, "n_relevant": n_rel},
    }
    if ap11 is not None:
        out["map_11pt"] = _nanmean(ap11)
        out["per_query"]["ap_11pt"] = ap11
    return out


def label_relevance(query_labels: Any, gallery_labels: Any) -> np.ndarray:
    """(Q, G) bool: ``out[i, j]`` is True iff query i and gallery item j have the same label.

    Missing labels (None / NaN) are never relevant, not even to each other. Builds the dense matrix;
    ``retrieval_metrics(..., relevance=(query_labels, gallery_labels))`` avoids that for big inputs.
    """
    (qc, gc), _ = _encode_labels(query_labels, gallery_labels)
    return _label_rows(qc, gc)(0, len(qc))


def _category_groups(categories: Any) -> list[tuple[str, np.ndarray]]:
    """[(str(category), (N,) bool mask), ...] sorted by key; missing labels are left out."""
    (codes,), names = _encode_labels(categories)
    groups = [(str(name), codes == c) for c, name in enumerate(names)]
    return sorted(groups, key=lambda kv: kv[0])


def per_category(values: np.ndarray, categories: Any) -> dict[str, float]:
    """NaN-aware mean of ``values`` per category.

    ``values``: (N,); ``categories``: (N,) labels. Returns ``{str(category): mean}`` sorted by key,
    the mean ignoring NaN entries (NaN when a category has only NaN). Missing labels (None / NaN)
    are left out.
    """
    vals = _to_numpy(values).astype(np.float64)
    if vals.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {vals.shape}")
    groups = _category_groups(categories)
    if groups and len(groups[0][1]) != len(vals):
        raise ValueError(f"{len(vals)} values but {len(groups[0][1])} categories")
    return {key: _nanmean(vals[mask]) for key, mask in groups}


def _judgment_rows(judgments: Mapping, n: int) -> Callable[[int, int], np.ndarray]:
    """Row source from ``{anchor index: iterable of relevant target indices}``."""
    entries = []
    for anchor, targets in judgments.items():
        a = int(anchor)
        t = np.asarray(list(targets), dtype=np.int64)
        if not 0 <= a < n or (t.size and (t.min() < 0 or t.max() >= n)):
            raise ValueError(f"judgments refer to indices outside 0..{n - 1} (anchor {anchor})")
        entries.append((a, t))

    def rows(start: int, stop: int) -> np.ndarray:
        block = np.zeros((stop - start, n), dtype=bool)  # (c, N)
        for a, t in entries:
            if start <= a < stop:
                block[a - start, t] = True
        return block

    return rows


def hyperlinking_eval(
    embeddings: np.ndarray,
    categories: Any,
    k: int = 10,
    judgments: np.ndarray | Mapping[int, Iterable[int]] | None = None,
    *,
    chunk_size: int | None = None,
    ties: str = "expected",
) -> dict:
    """Video-hyperlinking evaluation: every segment is an anchor querying all the others (tie-aware
    metrics by default; ``ties`` as in ``retrieval_metrics``).

    Args:
        embeddings: (N, D) segment embeddings; anchor i ranks the N - 1 other segments (itself
            excluded) by cosine similarity.
        categories: (N,) labels. Without ``judgments``, a target is relevant iff it has the anchor's
            category; also used to group ``per_category``. May be None when ``judgments`` is given.
        k: precision cut-off.
        judgments: explicit relevance instead of categories: an (N, N) bool matrix (row = anchor,
            diagonal ignored) or a dict ``{anchor index: iterable of relevant target indices}``
            (anchors missing from the dict have no relevant target, hence are undefined).

    Returns a dict: ``f"p@{k}"`` and ``"map"`` (means over defined anchors), ``"n_queries"`` (defined
    anchors), ``"n_undefined"`` (anchors without any relevant target, e.g. the only member of its
    category: excluded from all means), ``"k"``, ``"per_query"``: ``{f"p@{k}": (N,), "ap": (N,),
    "n_relevant": (N,)}`` (NaN where undefined), and ``"per_category"``: ``{str(category):
    {f"p@{k}": float, "map": float, "n": defined anchors, "n_undefined": int}}`` (empty when
    ``categories`` is None; a category with no defined anchor has NaN means and ``n == 0``).
    """
    emb = _to_numpy(embeddings)
    n = len(emb)
    if judgments is None:
        if categories is None:
            raise ValueError("hyperlinking_eval needs categories or judgments")
        rel = _resolve_relevance((categories, categories), n, n)
    elif isinstance(judgments, Mapping):
        rel = _Rows(_judgment_rows(judgments, n), n, n, "judgments")
    else:
        rel = _Rows(judgments, n, n, "judgments")
    ap, pk, n_rel, _ = _evaluate(emb, emb, rel, _shifted_diagonal_rows(n, 0), k, chunk_size, ties=ties)
    out = _summary(ap, pk, n_rel, None, k)
    out["per_category"] = {}
    if categories is not None:
        groups = _category_groups(categories)
        if groups and len(groups[0][1]) != n:
            raise ValueError(f"{n} embeddings but {len(groups[0][1])} categories")
        for key, mask in groups:
            defined = int((mask & (n_rel > 0)).sum())
            out["per_category"][key] = {
                f"p@{k}": _nanmean(pk[mask]),
                "map": _nanmean(ap[mask]),
                "n": defined,
                "n_undefined": int(mask.sum()) - defined,
            }
    return out


CROSSMODAL_TASKS = ("img2txt", "txt2img", "img2all", "txt2all")


def crossmodal_map(
    image_emb: np.ndarray,
    text_emb: np.ndarray,
    categories: Any,
    *,
    ap_11pt: bool = False,
    chunk_size: int | None = None,
    ties: str = "expected",
) -> dict:
    """Crossmodal retrieval MAP (Rasiwasia et al. 2010 / CMGANs protocol), relevance = same category
    (tie-aware AP by default; ``ties`` as in ``retrieval_metrics``).

    ``image_emb`` and ``text_emb`` are (N, D) in a common space; row i of both is segment i.
    * ``img2txt``: each image queries all N texts (its own paired text included, and relevant);
    * ``txt2img``: each text queries all N images;
    * ``img2all``: each image queries the other N - 1 images and all N texts (2N - 1 items, itself
      excluded); ``txt2all`` likewise with the texts.
    AP is the non-interpolated AP of this module; queries without a label are undefined.

    Returns ``{"img2txt": map, "txt2img": map, "img2all": map, "txt2all": map,
    "average": (img2txt + txt2img) / 2, "n_queries": {task: int}, "n_undefined": {task: int},
    "per_query": {task: (N,) AP}, "per_category": {str(category): {task: map, ...}}}``.
    With ``ap_11pt=True`` also ``"map_11pt": {task: mean 11-point interpolated AP}``, for comparison
    with published tables that use it.
    """
    img = _as_matrix(image_emb, "image_emb")
    txt = _as_matrix(text_emb, "text_emb")
    if img.shape != txt.shape:
        raise ValueError(f"image_emb {img.shape} and text_emb {txt.shape} must have the same shape")
    n = len(img)
    (codes,), _ = _encode_labels(categories)
    if len(codes) != n:
        raise ValueError(f"{n} segments but {len(codes)} categories")
    both = np.concatenate([img, txt])  # (2N, D): images then texts
    both_codes = np.concatenate([codes, codes])  # (2N,)
    runs = {
        "img2txt": (img, txt, codes, None),
        "txt2img": (txt, img, codes, None),
        "img2all": (img, both, both_codes, _shifted_diagonal_rows(2 * n, 0)),
        "txt2all": (txt, both, both_codes, _shifted_diagonal_rows(2 * n, n)),
    }
    out: dict = {"n_queries": {}, "n_undefined": {}, "per_query": {}, "per_category": {}}
    groups = _category_groups(categories)
    for task, (query, gallery, gallery_codes, exclude) in runs.items():
        rel = _Rows(_label_rows(codes, gallery_codes), n, len(gallery), "relevance")
        ap, _, n_rel, ap11 = _evaluate(query, gallery, rel, exclude, 1, chunk_size, ap_11pt, ties)
        out[task] = _nanmean(ap)
        if ap11 is not None:
            out.setdefault("map_11pt", {})[task] = _nanmean(ap11)
        out["n_queries"][task] = int((n_rel > 0).sum())
        out["n_undefined"][task] = int((n_rel == 0).sum())
        out["per_query"][task] = ap
        for key, mask in groups:
            out["per_category"].setdefault(key, {})[task] = _nanmean(ap[mask])
    out["average"] = (out["img2txt"] + out["txt2img"]) / 2
    return out


# --------------------------------------------------------------------------------------------------
# statistics over runs
# --------------------------------------------------------------------------------------------------


def mean_std(values: Any) -> tuple[float, float]:
    """(mean, sample standard deviation with ddof=1) of ``values`` (flattened).

    The std of a single value is 0.0. NaN values propagate (filter them first if needed).
    ValueError on an empty input.
    """
    vals = _to_numpy(values).astype(np.float64).ravel()
    if vals.size == 0:
        raise ValueError("mean_std of an empty sequence")
    if vals.size == 1:
        return float(vals[0]), 0.0
    return float(vals.mean()), float(vals.std(ddof=1))


def paired_ttest_one_sided(a: Any, b: Any) -> dict:
    """One-sided paired t-test, H1: mean(a - b) > 0 (``scipy.stats.ttest_rel(a, b, alternative="greater")``).

    ``a`` and ``b``: 1-D, same length, paired entry by entry (per seed, per query, ...). Pairs where
    either value is NaN are dropped (e.g. undefined queries); ValueError if fewer than 2 pairs remain
    or the shapes differ. With d = a - b: ``t = mean(d) / (std(d, ddof=1) / sqrt(n))``,
    ``p = P(T_{n-1} >= t)``. Degenerate case (all differences exactly equal, std 0): identical inputs
    (d == 0) give ``t = p = NaN`` (nothing to test); a constant positive difference gives
    ``t = inf, p = 0.0``, a constant negative one ``t = -inf, p = 1.0``.

    Returns ``{"t": float, "p": float, "n": pairs used, "mean_diff": mean(a - b)}``.
    """
    from scipy import stats

    x = _to_numpy(a).astype(np.float64)
    y = _to_numpy(b).astype(np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"a and b must be 1-D with the same length, got {x.shape} and {y.shape}")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    n = len(x)
    if n < 2:
        raise ValueError(f"a paired t-test needs at least 2 pairs without NaN, got {n}")
    d = x - y  # (n,)
    mean_diff = float(d.mean())
    if np.all(d == d[0]):
        if d[0] == 0:
            t, p = float("nan"), float("nan")
        else:
            t, p = (math.inf, 0.0) if d[0] > 0 else (-math.inf, 1.0)
        return {"t": t, "p": p, "n": n, "mean_diff": float(d[0])}
    res = stats.ttest_rel(x, y, alternative="greater")
    return {"t": float(res.statistic), "p": float(res.pvalue), "n": n, "mean_diff": mean_diff}
