"""Ranking a collection with a checkpoint: every segment's embeddings (computed once, kept in memory for the last
two pairs), the per-split hyperlink index (cached on disk), one anchor's ranked targets, and the joint-space
projection (cached on disk).

Splits of more than ``SCALE_ABOVE`` segments are ranked through an ``explorer.ann`` index (exact below 200,000
rows, FAISS IVF above; built once per embeddings file and split, cached on disk): an anchor's targets are its
top-T search results, its P@k and AP are those of that list (``metrics.truncated_list_metrics``: AP@T, T =
``HYPERLINK_TOP``), and the split's hyperlink index, which the per-category views read, covers a seeded sample
of ``SAMPLED_ANCHORS`` anchors instead of every one (evaluating all anchors of a million-segment split over the
full ranking is 10^12 cosines). The dicts returned say so under ``"scale"``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.collection import Collection
from ._memo import Memo
from .checkpoints import _ckpt_key, checkpoint_stamp, model
from .collections import _coll, _coll_name, _collection, collection_stamp, segment_index, segment_info
from .display import snippet, video_span

HYPERLINK_TOP = 50  # targets kept per anchor in the cached hyperlink index
HYPERLINK_VERSION = 1
SCALE_ABOVE = 50_000  # splits larger than this are ranked through an ANN index (module doc)
SAMPLED_ANCHORS = 2_000  # anchors of the hyperlink index of such a split (seeded sample)
ANN_VERSION = 1
_INDEXES = Memo(2)  # (embeddings store, split) -> explorer.ann.RankIndex
_SPLITS = Memo(4)  # (collection digest, split) -> (idx, category codes, members per code)
_POINTS = Memo(2)  # projection key digest -> joint_points arrays
_EMBEDDINGS = Memo(2)  # (checkpoint stamp, collection stamp) -> embeddings; 8,189 x 256 float32 is 8 MB a pair


def _emb_key(ref, collection) -> tuple:
    return (*checkpoint_stamp(ref), collection_stamp(collection if isinstance(collection, str) else str(collection.root)))


def embeddings_ready(ref, collection) -> bool:
    """Whether ``embeddings(ref, collection)`` is in memory or on disk already (else it computes, maybe for
    minutes)."""
    from .. import embedstore

    key = _emb_key(ref, collection)
    if key in _EMBEDDINGS:
        return True
    return embedstore.load(embedstore.store_key(key[:3], _collection(key[3]).digest)) is not None


def embeddings(ref, collection: str) -> dict[str, np.ndarray]:
    """{"joint": (N, D)} (+ "image"/"text") for every segment of the collection: read-only memory maps of
    ``explorer.embedstore`` files (computed once, in batches, then reused by every process; the last two
    pairs' maps memoised, and two sessions asking at once compute it once). Reports progress
    (``explorer.progress``) while it computes."""
    key = _emb_key(ref, collection)

    def on_disk() -> dict[str, np.ndarray]:
        from .. import embedstore

        coll = _collection(key[3])
        store = embedstore.store_key(key[:3], coll.digest)
        return embedstore.embeddings(store, lambda allocate: model(key[0]).embeddings(coll, allocate=allocate))

    return _EMBEDDINGS.get(key, on_disk)


def _hyperlink_key(ref, coll, split: str, k: int, top: int) -> dict:
    key = {"checkpoint": _ckpt_key(ref), "collection": coll.digest, "split": split, "k": k, "top": top,
           "version": HYPERLINK_VERSION}
    if len(_split_labels(coll, split)[0]) > SCALE_ABOVE:  # ranked at scale: a sample of anchors, an ANN index
        key.update(sampled_anchors=SAMPLED_ANCHORS, ann=ANN_VERSION)
    return key


def _split_labels(coll: Collection, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(idx (n,) collection indices of the split, codes (n,) int category code per row (-1: none),
    members (C,) rows per code), computed once per collection and split."""
    from ..evaluate import split_indices

    def compute():
        idx = split_indices(coll, split)
        cats = coll.column("category", idx)
        names = {c: j for j, c in enumerate(dict.fromkeys(c for c in cats if c is not None))}
        codes = np.fromiter((names.get(c, -1) if c is not None else -1 for c in cats), dtype=np.int64, count=len(idx))
        return idx, codes, np.bincount(codes[codes >= 0], minlength=len(names))

    return _SPLITS.get((coll.digest, split), compute)


def split_rank_index(ref, collection, split: str):
    """The ``explorer.ann.RankIndex`` over the joint embeddings of ``split`` (rows = positions in the split),
    built once per embeddings file and split and cached on disk (``CACHE/ann/``)."""
    from .. import ann, embedstore
    from ..cache import key_digest

    coll = _coll(collection)
    key = _emb_key(ref, _coll_name(collection))
    store = embedstore.store_key(key[:3], coll.digest)
    ann_key = {"embeddings": store, "split": split, "exact_below": ann.EXACT_BELOW, "version": ANN_VERSION}

    def build():
        idx, _, _ = _split_labels(coll, split)
        emb = embeddings(ref, _coll_name(collection))["joint"]
        rows = (lambda: emb) if len(idx) == len(emb) else (lambda: emb[idx])  # no copy for the whole collection
        return ann.cached_index(ann_key, rows, exact_below=ann.EXACT_BELOW)

    return _INDEXES.get(key_digest(ann_key), build)


def _search_anchors(ref, coll: Collection, split: str, positions: np.ndarray, k: int, top: int) -> dict[str, np.ndarray]:
    """Rank the split for the anchors at ``positions`` (into the split) through its ANN index: each anchor's top
    ``top`` targets (itself left out) and the metrics of that list (``metrics.truncated_list_metrics``)."""
    from ..metrics import truncated_list_metrics

    idx, codes, members = _split_labels(coll, split)
    index = split_rank_index(ref, coll, split)
    emb = embeddings(ref, _coll_name(coll))["joint"]
    found, scores = index.search(np.asarray(emb[idx[positions]], dtype=np.float32), top + 1)  # (A, top + 1)
    n_anchor = len(positions)
    top_pos = np.full((n_anchor, top), -1, dtype=np.int64)
    top_scores = np.zeros((n_anchor, top), dtype=np.float32)
    for r in range(n_anchor):  # drop the anchor itself (or the last result when the search missed it)
        keep = (found[r] != positions[r]) & (found[r] >= 0)
        row, val = found[r][keep][:top], scores[r][keep][:top]
        top_pos[r, :len(row)], top_scores[r, :len(row)] = row, val
    own = codes[positions]  # (A,)
    rel = (codes[np.maximum(top_pos, 0)] == own[:, None]) & (own[:, None] >= 0) & (top_pos >= 0)  # (A, top)
    n_relevant = np.where(own >= 0, members[np.maximum(own, 0)] - 1, 0)
    m = truncated_list_metrics(rel, n_relevant, k)
    return {"idx": idx[positions].astype(np.int64), "ap": m["ap@T"], "pk": m[f"p@{k}"], "n_relevant": n_relevant,
            "top": np.where(top_pos >= 0, idx[np.maximum(top_pos, 0)], -1).astype(np.int64), "scores": top_scores}


def _sampled_hyperlinks(ref, coll: Collection, split: str, k: int, top: int) -> dict[str, np.ndarray]:
    """``hyperlink_index``'s arrays for a split at scale: a seeded sample of anchors, each searched in the index."""
    from ..progress import report

    idx, _, _ = _split_labels(coll, split)
    rng = np.random.default_rng(0)
    positions = np.sort(rng.choice(len(idx), size=min(SAMPLED_ANCHORS, len(idx)), replace=False))
    out = {}
    for start in range(0, len(positions), 256):  # batches, with progress
        report(f"Ranking a sample of {len(positions):,} anchors", start, len(positions))
        part = _search_anchors(ref, coll, split, positions[start:start + 256], k, top)
        for name, arr in part.items():
            out.setdefault(name, []).append(arr)
    out = {name: np.concatenate(parts) for name, parts in out.items()}
    out["sampled_of"] = np.array([len(idx)], dtype=np.int64)
    return out


def scale_info(ref, collection, split: str) -> dict | None:
    """None for a split ranked exactly; else how the ANN index ranks it ({"n", "kind", "nprobe", "recall@10",
    "sampled_anchors", "top"})."""
    coll = _coll(collection)
    idx, _, _ = _split_labels(coll, split)
    if len(idx) <= SCALE_ABOVE:
        return None
    info = split_rank_index(ref, coll, split).info
    return {"n": int(len(idx)), "kind": "ivf" if "nprobe" in info else "exact", "nprobe": info.get("nprobe"),
            "recall@10": info.get("recall@10"), "sampled_anchors": min(SAMPLED_ANCHORS, len(idx)), "top": HYPERLINK_TOP}


def hyperlinks_ready(ref, collection, split: str, k: int = 10, top: int = HYPERLINK_TOP) -> bool:
    """Whether ``hyperlink_index`` is on disk already (then no embedding needs computing)."""
    from ..cache import load_arrays

    return load_arrays("hyperlinks", _hyperlink_key(ref, _coll(collection), split, k, top)) is not None


def hyperlink_index(ref, collection, split: str, k: int = 10, top: int = HYPERLINK_TOP) -> dict[str, np.ndarray]:
    """Hyperlinking of every anchor of ``split`` against the other segments of the split (joint
    embeddings, cosine, ``explorer.metrics``), cached on disk per (checkpoint, collection, split).

    Arrays: "idx" (n,) collection indices of the split; "ap", "pk" (n,) AP and P@k (NaN when the anchor
    has no relevant target); "n_relevant" (n,); "top" (n, T) collection indices of the best targets
    (-1 padding) and "scores" (n, T) their cosines.
    """
    from ..cache import cached_arrays
    from ..evaluate import split_indices
    from ..metrics import hyperlinking_eval, rank_gallery

    coll = _coll(collection)
    idx = split_indices(coll, split)  # CollectionError for an unknown / empty split
    key = _hyperlink_key(ref, coll, split, k, top)
    if "sampled_anchors" in key:
        return cached_arrays("hyperlinks", key, lambda: _sampled_hyperlinks(ref, coll, split, k, top))

    def compute() -> dict[str, np.ndarray]:
        emb = embeddings(ref, _coll_name(collection))["joint"][idx]
        cats = coll.column("category", idx)
        res = hyperlinking_eval(emb, cats, k=k)
        n = len(idx)

        def self_rows(start, stop):
            block = np.zeros((stop - start, n), dtype=bool)
            block[np.arange(stop - start), np.arange(start, stop)] = True
            return block

        if n > 1:
            order, scores = rank_gallery(emb, emb, exclude=self_rows, top=min(top, n - 1))
        else:
            order, scores = np.full((n, 0), -1, np.int64), np.zeros((n, 0), np.float32)
        top_global = np.where(order >= 0, idx[np.maximum(order, 0)], -1)
        pq = res["per_query"]
        return {"idx": idx.astype(np.int64), "ap": pq["ap"], "pk": pq[f"p@{k}"], "n_relevant": pq["n_relevant"],
                "top": top_global.astype(np.int64), "scores": scores.astype(np.float32)}

    return cached_arrays("hyperlinks", key, compute)


def _relevant(coll: Collection, a: int, t: int) -> bool:
    ca = coll.segments[a].category
    return ca is not None and coll.segments[t].category == ca


def anchor_hyperlinks(ref, collection, anchor, split: str, k: int = 10, n: int = 10) -> dict:
    """One anchor's ranked targets: {"anchor": segment_info, "ap", "pk", "n_relevant", "k", "split", "n_gallery",
    "ap_label" ("AP", or "AP@50" for a split ranked at scale), "scale" (None, or ``scale_info``),
    "targets": [{"rank", "index", "id", "category", "relevant", "score", "snippet", "video"}]}."""
    coll = _coll(collection)
    a = segment_index(coll, anchor)
    scale = scale_info(ref, coll, split)
    if scale is None:
        hl = hyperlink_index(ref, collection, split, k=k)
    else:  # one anchor searched on demand (milliseconds), not the sampled index
        idx, _, _ = _split_labels(coll, split)
        at = int(np.searchsorted(idx, a))
        in_split = at < len(idx) and idx[at] == a
        hl = (_search_anchors(ref, coll, split, np.array([at]), k, HYPERLINK_TOP) if in_split
              else {"idx": np.zeros(0, np.int64)})
    pos = np.flatnonzero(hl["idx"] == a)
    if not len(pos):
        raise KeyError(f"segment {coll.segments[a].id!r} is in the {coll.segments[a].split!r} split, "
                       f"not in {split!r}: choose its split (or 'all')")
    p = int(pos[0])
    targets = []
    for rank, (t, score) in enumerate(zip(hl["top"][p][:n], hl["scores"][p][:n]), 1):
        if t < 0:
            break
        s = coll.segments[int(t)]
        targets.append({"rank": rank, "index": int(t), "id": s.id, "category": s.category,
                        "relevant": _relevant(coll, a, int(t)), "score": float(score), "snippet": snippet(s.text),
                        "video": video_span(s)})
    nan = lambda v: None if np.isnan(v) else float(v)  # noqa: E731
    n_gallery = (scale["n"] if scale else len(hl["idx"])) - 1
    return {"anchor": segment_info(coll, a), "ap": nan(hl["ap"][p]), "pk": nan(hl["pk"][p]),
            "n_relevant": int(hl["n_relevant"][p]), "k": k, "split": split, "n_gallery": n_gallery,
            "ap_label": f"AP@{HYPERLINK_TOP}" if scale else "AP", "scale": scale, "targets": targets}


def projection_key(ref, collection, params: dict | None = None) -> dict:
    from ..projection import projection_key as key

    return key(_ckpt_key(ref), _coll(collection).digest, params)


def projection_ready(ref, collection, params: dict | None = None) -> bool:
    """Whether the joint-space projection is already cached on disk (else it takes a while)."""
    from ..projection import is_cached

    return is_cached(projection_key(ref, collection, params))


def joint_projection(ref, collection, params: dict | None = None) -> dict[str, list | np.ndarray]:
    """The 2-D projection of every segment's embedding(s), cached on disk (``explorer.projection``),
    as columns: x, y, index, id, modality, category, split, snippet (+ video, programme)."""
    from ..projection import cached_projection

    coll = _coll(collection)
    key = projection_key(ref, coll, params)
    proj = cached_projection(key, lambda: embeddings(ref, _coll_name(collection)))
    seg = proj["segment"].astype(np.int64)
    segs = coll.segments
    out = {"x": proj["x"], "y": proj["y"], "index": seg, "id": [segs[i].id for i in seg],
           "modality": [str(m) for m in proj["modality"]],
           "category": [segs[i].category or "(none)" for i in seg], "split": [segs[i].split for i in seg],
           "snippet": [snippet(segs[i].text, 100) for i in seg]}
    if coll.has_times:
        out["video"] = [video_span(segs[i]) or "" for i in seg]
        out["programme"] = [segs[i].video_id or "(none)" for i in seg]
    return out


def joint_points(ref, collection, params: dict | None = None) -> dict[str, np.ndarray]:
    """The cached projection as arrays only (no per-point strings, cheap at a million points):
    x, y (M,) float32, segment (M,) int, modality (M,) str; and "modalities", the names in order. Read from disk
    once per projection and kept in memory for the last two (a lasso over them must not re-read 100 MB)."""
    from ..cache import key_digest
    from ..projection import cached_projection

    coll = _coll(collection)
    key = projection_key(ref, coll, params)

    def load() -> dict:
        proj = cached_projection(key, lambda: embeddings(ref, _coll_name(collection)))
        _, names = pd.factorize(proj["modality"])  # in order of first appearance
        return {"x": proj["x"], "y": proj["y"], "segment": proj["segment"].astype(np.int64),
                "modality": proj["modality"], "modalities": [str(m) for m in names]}

    return _POINTS.get(key_digest(key), load)


def point_groups(collection, segment: np.ndarray, modality: np.ndarray, color: str) -> tuple[list[str], np.ndarray]:
    """Each point's group under ``color`` (category | split | programme | modality): (names in order of first
    appearance, codes (M,) int)."""
    coll = _coll(collection)
    if color == "modality":
        codes, names = pd.factorize(modality)
        return [str(n) for n in names], codes.astype(np.int64)
    attr = {"category": "category", "split": "split", "programme": "video_id"}.get(color)
    if attr is None:
        raise ValueError(f"unknown colouring {color!r} (category | split | programme | modality)")
    seg_codes, names = pd.factorize(np.array([v or "(none)" for v in coll.column(attr)], dtype=object))
    return [str(n) for n in names], seg_codes.astype(np.int64)[segment]


def joint_selection(ref, collection, modalities, boxes=(), lassos=()) -> list[int]:
    """Segments (collection indices, each once, in index order) with a point of one of ``modalities`` inside any
    of the ``boxes`` ({"x": [x0, x1], "y": [y0, y1]}) or ``lassos`` ({"x": [...], "y": [...]} polygon
    vertices) of the projection: a selection resolved on the server, over every point."""
    from ..projection import in_box, in_polygon

    pts = joint_points(ref, collection)
    x, y = pts["x"], pts["y"]
    hit = np.zeros(len(x), dtype=bool)
    for b in boxes:
        hit |= in_box(x, y, tuple(b["x"][:2]), tuple(b["y"][:2]))
    for poly in lassos:
        hit |= in_polygon(x, y, poly["x"], poly["y"])
    hit &= np.isin(pts["modality"], list(modalities))
    return np.unique(pts["segment"][hit]).tolist()


def joint_view(ref, collection, modalities, codes: np.ndarray, palette: list[str], view=None, *,
               max_points: int | None = None, hover_sample: int = 5_000, size: tuple[int, int] = (800, 640)) -> dict:
    """What the Joint space of a large projection draws for one view: the points of ``modalities`` inside it
    one by one once at most ``max_points`` (default ``projection.POINTS_IN_VIEW``) are, else a density image of
    the view with a seeded sample of ``hover_sample`` of its points to hover.

    ``codes``: (M,) each projected point's colour group (``point_groups``), drawn in ``palette[code % len]``
    ("#rrggbb"); ``view``: {"x": [x0, x1], "y": [y0, y1]} as the chart reports it, or None for every point.
    Returns {"extent": (x0, x1, y0, y1) drawn, "whole": the extent of every shown point, "n_shown",
    "n_in_view", "as_points": bool, "rows": (k,) increasing positions into ``joint_points``' arrays of the
    points to draw, "image": (H, W, 4) uint8 or None when ``as_points``}."""
    from .. import projection

    pts = joint_points(ref, collection)
    keep = np.flatnonzero(np.isin(pts["modality"], list(modalities)))
    x, y = pts["x"][keep], pts["y"][keep]
    whole = projection.padded_extent(x, y)
    extent = projection.checked_view(view) or whole
    limit = projection.POINTS_IN_VIEW if max_points is None else int(max_points)
    rows, n_in_view, as_points = projection.rows_in_view(x, y, extent, limit, hover_sample)
    image = None
    if not as_points:
        rgb = np.array([[int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)] for c in palette], dtype=np.float64)
        image = projection.density_rgba(x, y, rgb[np.asarray(codes)[keep] % len(palette)], extent, size=size)
    return {"extent": extent, "whole": whole, "n_shown": len(keep), "n_in_view": n_in_view, "as_points": as_points,
            "rows": keep[rows], "image": image}
