"""Ranking a collection with a checkpoint: every segment's embeddings (computed once, kept in memory for the last
two pairs), the per-split hyperlink index (cached on disk), one anchor's ranked targets, and the joint-space
projection (cached on disk)."""

from __future__ import annotations

import numpy as np

from ..data.collection import Collection
from ._memo import Memo
from .checkpoints import _ckpt_key, checkpoint_stamp, model
from .collections import _coll, _coll_name, _collection, collection_stamp, segment_index, segment_info
from .display import snippet, video_span

HYPERLINK_TOP = 50  # targets kept per anchor in the cached hyperlink index
HYPERLINK_VERSION = 1
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
    return {"checkpoint": _ckpt_key(ref), "collection": coll.digest, "split": split, "k": k, "top": top,
            "version": HYPERLINK_VERSION}


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

    def compute() -> dict[str, np.ndarray]:
        emb = embeddings(ref, _coll_name(collection))["joint"][idx]
        cats = [coll.segments[i].category for i in idx]
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
    """One anchor's ranked targets: {"anchor": segment_info, "ap", "pk", "n_relevant", "k",
    "targets": [{"rank", "index", "id", "category", "relevant", "score", "snippet", "video"}]}."""
    coll = _coll(collection)
    a = segment_index(coll, anchor)
    hl = hyperlink_index(ref, collection, split, k=k)
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
    return {"anchor": segment_info(coll, a), "ap": nan(hl["ap"][p]), "pk": nan(hl["pk"][p]),
            "n_relevant": int(hl["n_relevant"][p]), "k": k, "split": split, "n_gallery": len(hl["idx"]) - 1,
            "targets": targets}


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
