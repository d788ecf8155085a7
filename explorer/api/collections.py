"""Collections as the app sees them: listing under the data root, loading once per on-disk stamp, summaries and
warnings, segments (lookup, search, tables, keyframes, thumbnails, playable video) and selection exports."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..data.collection import Collection, CollectionError, list_collection_names, load_collection, resolve_collection_path
from ..data.images import keyframes_uint8, load_rgb
from ..data.text import tokenize
from ..paths import DataRootError, data_root
from ._memo import Memo, memo
from .display import NO_KEYFRAME_URI, png_data_uri, snippet, video_span

DEFAULT_COLLECTION = "flowers102_reed"


def data_problem() -> str | None:
    """Why no collection can be listed (no data root, bad EXPLORER_DATA), or None."""
    try:
        root = data_root(required=True)
    except DataRootError as e:
        return str(e)
    if not list_collection_names():
        return f"the data root {root} holds no collection (folders with pairs.tsv or keyframes + transcripts)"
    return None


def list_collections() -> list[str]:
    """Names of the collections under the data root (empty when there is none; see ``data_problem``)."""
    try:
        return list_collection_names()
    except (DataRootError, OSError):
        return []


def default_collection(names: list[str] | None = None) -> str | None:
    names = list_collections() if names is None else names
    if DEFAULT_COLLECTION in names:
        return DEFAULT_COLLECTION
    return names[0] if names else None


def collection_stamp(name: str) -> tuple:
    """What identifies a collection's current state on disk (its folder and table files' mtimes)."""
    root = resolve_collection_path(name)
    parts = [str(root.resolve()), root.stat().st_mtime_ns]
    for table in ("pairs.tsv", "segments.tsv", "categories.tsv"):
        p = root / table
        parts.append(p.stat().st_mtime_ns if p.exists() else 0)
    return tuple(parts)


@memo(4)
def _collection(stamp: tuple) -> Collection:
    coll = load_collection(stamp[0])
    coll.digest  # computed once per load, here rather than in the first page that needs it
    return coll


def get_collection(name: str) -> Collection:
    """A collection by name or path, loaded once while its files are unchanged (``CollectionError``)."""
    try:
        return _collection(collection_stamp(name))
    except OSError as e:
        raise CollectionError(f"cannot read collection {name!r}: {e}") from e


def _coll(collection) -> Collection:
    return collection if isinstance(collection, Collection) else get_collection(collection)


def _coll_name(collection) -> str:
    return collection if isinstance(collection, str) else str(collection.root)


def collection_summary(collection) -> dict:
    """Counts and properties of a collection, for the Overview page."""
    coll = _coll(collection)
    counts = coll.counts()
    return {
        "name": coll.name, "root": str(coll.root), "layout": coll.layout, "n_segments": len(coll),
        "splits": counts["split"], "n_categories": len(counts["category"]), "categories": counts["category"],
        "has_images": coll.has_images, "has_times": coll.has_times, "features_only": bool(coll.features),
        "n_skipped": len(coll.skipped), "skipped_examples": coll.skipped[:5],
        "n_videos": len({v for v in set(coll.column("video_id")) if v}),
    }


def collection_warnings(collection, k: int = 10) -> list[str]:
    """What a user must know before reading any number of this collection (shown on every page):
    most rows skipped, a single category (every target relevant), splits too small for P@k."""
    coll = _coll(collection)
    out = []
    n, skipped = len(coll), len(coll.skipped)
    if skipped and skipped >= n:
        out.append(f"{skipped:,} of {n + skipped:,} rows of this collection were skipped (e.g. {coll.skipped[0]}); "
                   f"only {n:,} segment(s) are loaded."
                   + (" The Overview page has a text-only view of every text." if text_view_available(coll) else ""))
    cats = set(coll.column("category")) - {None}
    if len(cats) == 1:
        out.append(f"Every segment has the same category ({next(iter(cats))!r}): every target is relevant, so P@{k}, "
                   "AP and MAP are 1 whatever the model does.")
    elif not cats:
        out.append("No segment has a category: relevance, P@k and MAP are undefined (rankings are still shown).")
    small = {sp: c for sp, c in coll.counts()["split"].items() if c - 1 < k}
    if small:
        out.append("Split(s) with fewer than " + f"{k + 1} segments: " + ", ".join(f"{sp} ({c})" for sp, c in small.items())
                   + f": an anchor there has fewer than {k} targets, and P@{k} still divides by {k}.")
    return out


def split_choices(collection) -> list[str]:
    """The collection's splits (train / val / test present) plus ``all``."""
    return _coll(collection).split_names() + ["all"]


def default_split(collection) -> str:
    names = _coll(collection).split_names()
    return "test" if "test" in names else ("val" if "val" in names else "all")


# browsers play these containers in a <video> element; others (mkv, avi, ...) are offered as a download
PLAYABLE_VIDEO = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/mp4", ".webm": "video/webm",
                  ".ogv": "video/ogg", ".ogg": "video/ogg"}


def segment_video(collection, segment) -> dict | None:
    """Where to play a segment: {"path", "format", "start", "end", "playable"} from the collection's own
    ``videos/<video_id>.*`` (written by ``explorer ingest``), or None when it has no such file. Only
    files inside the collection folder are used. ``start``/``end`` are whole seconds (what a browser
    player seeks to): the start rounded down, the end up."""
    import math

    from ..video.decode import VIDEO_SUFFIXES

    coll = _coll(collection)
    s = coll.segments[segment_index(coll, segment)]
    if s.video_id is None or s.start is None or coll.root is None:
        return None
    folder = (Path(coll.root) / "videos").resolve()
    if not folder.is_dir():
        return None
    for suffix in VIDEO_SUFFIXES:
        f = (folder / f"{s.video_id}{suffix}").resolve()
        if f.parent == folder and f.is_file():
            fmt = PLAYABLE_VIDEO.get(suffix)
            end = math.ceil(s.end) if s.end is not None else None
            return {"path": str(f), "format": fmt or "video/mp4", "playable": fmt is not None,
                    "start": int(math.floor(s.start)), "end": end, "video_id": s.video_id}
    return None


def segment_index(collection, segment) -> int:
    """Index of a segment given by id (or already an index); ``KeyError`` with a clear message."""
    coll = _coll(collection)
    if isinstance(segment, (int, np.integer)):
        if not 0 <= int(segment) < len(coll):
            raise KeyError(f"segment index {segment} is out of range (0..{len(coll) - 1})")
        return int(segment)
    lookup = coll.id_index
    if segment not in lookup:
        raise KeyError(f"no segment {segment!r} in collection {coll.name!r}")
    return lookup[segment]


def segment_info(collection, segment) -> dict:
    """One segment as a plain dict (id, index, text, snippet, category, split, video times, image path)."""
    coll = _coll(collection)
    i = segment_index(coll, segment)
    s = coll.segments[i]
    return {"index": i, "id": s.id, "text": s.text, "snippet": snippet(s.text), "category": s.category,
            "split": s.split, "video_id": s.video_id, "start": s.start, "end": s.end, "video": video_span(s),
            "image_path": str(s.image_path) if s.image_path else None}


def segments_table(collection, indices=None) -> dict[str, list]:
    """Column lists for every segment, or for those at ``indices`` (e.g. a sample of a million): index, id,
    category, split, snippet (+ video, when the collection has times)."""
    coll = _coll(collection)
    rows = range(len(coll)) if indices is None else [int(i) for i in indices]
    table = {"index": list(rows), "id": coll.column("id", indices),
             "category": [c or "(none)" for c in coll.column("category", indices)],
             "split": coll.column("split", indices), "snippet": [snippet(t) for t in coll.column("text", indices)]}
    if coll.has_times:
        table["video"] = [video_span(coll.segments[i]) or "" for i in rows]
    return table


def search_segments(collection, query: str, split: str | None = None, limit: int = 200) -> list[int]:
    """Indices of segments matching ``query``: an exact id first, then ids and categories containing it,
    then transcripts holding all its words. Empty query: the first ``limit`` segments."""
    coll = _coll(collection)
    allowed = None if split in (None, "all") else split
    q = (query or "").strip().lower()
    segs = coll.segments
    pool = [i for i, s in enumerate(coll.column("split")) if allowed is None or s == allowed]
    if not q:
        return pool[:limit]
    exact = [i for i in pool if segs[i].id.lower() == q]
    by_id = [i for i in pool if q in segs[i].id.lower() and i not in exact]
    by_cat = [i for i in pool if segs[i].category and q in segs[i].category.lower().replace("_", " ")
              or (segs[i].category and q in segs[i].category.lower())]
    words = set(tokenize(q))
    by_text = []
    if words:
        tokens = coll.token_sets
        by_text = [i for i in pool if words <= tokens[i]]
    out, seen = [], set()
    for i in exact + by_id + by_cat + by_text:
        if i not in seen:
            seen.add(i)
            out.append(i)
            if len(out) >= limit:
                break
    return out


_THUMBNAILS = Memo(4)  # (root, digest) -> (N, 64, 64, 3) uint8; 8,189 flowers are 100 MB


def thumbnails(collection) -> np.ndarray:
    """(N, 64, 64, 3) uint8 keyframes of every segment (cached on disk)."""
    coll = _coll(collection)
    return _THUMBNAILS.get((str(coll.root), coll.digest), lambda: keyframes_uint8(coll))


def thumbnail_uri(collection, segment) -> str:
    """A segment's 64x64 keyframe as a PNG data URI (``NO_KEYFRAME_URI`` for collections without keyframes)."""
    coll = _coll(collection)
    if not coll.has_images:
        segment_index(coll, segment)  # an unknown id still fails
        return NO_KEYFRAME_URI
    return png_data_uri(thumbnails(coll)[segment_index(coll, segment)])


def keyframe(collection, segment, max_side: int = 256) -> np.ndarray | None:
    """A segment's keyframe at up to ``max_side`` pixels (uint8 H x W x 3), None when it has none."""
    coll = _coll(collection)
    s = coll.segments[segment_index(coll, segment)]
    if s.image_path is None:
        return None
    img = load_rgb(s.image_path, what=f"keyframe of {s.id}")
    img.thumbnail((max_side, max_side))
    return np.asarray(img, dtype=np.uint8)


def selection_rows(collection, segments) -> list[dict]:
    """Rows (id, category, split, transcript, video times) for selected segment ids or indices, in order,
    each once; unknown ids are skipped."""
    coll = _coll(collection)
    rows, seen = [], set()
    for s in segments:
        try:
            i = segment_index(coll, s)
        except KeyError:
            continue
        if i in seen:
            continue
        seen.add(i)
        seg = coll.segments[i]
        row = {"id": seg.id, "category": seg.category, "split": seg.split, "transcript": seg.text.replace("\n", " / ")}
        if coll.has_times:
            row.update({"video_id": seg.video_id, "start": seg.start, "end": seg.end})
        rows.append(row)
    return rows


def selection_csv(collection, segments) -> str:
    """CSV (header + one row per selected segment) of ``selection_rows``."""
    import csv

    rows = selection_rows(collection, segments)
    buf = io.StringIO()
    cols = ["id", "category", "split", "transcript"] + (["video_id", "start", "end"] if rows and "video_id" in rows[0] else [])
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def text_view_available(collection) -> bool:
    """Whether a text-only view adds something: a pairs.tsv collection that skipped at least as many rows for
    a missing image as it loaded (Pascal Sentence here: 953 of 1,000)."""
    coll = _coll(collection)
    no_image = sum(1 for r in coll.skipped if r.endswith("no image listed") or ": image file missing (" in r)
    return coll.layout == "pairs_tsv" and no_image > 0 and no_image >= len(coll)


@memo(4)
def _text_view(stamp: tuple, k: int) -> dict:
    from ..data.collection import load_text_view
    from ..evaluate import per_category_means
    from ..metrics import hyperlinking_eval
    from .. import progress
    from ..data.text import collection_word_vectors, text_features

    progress.report("text-only view: loading every text", 0, 3)
    view = load_text_view(stamp[0])
    progress.report("text-only view: word2vec of the texts", 1, 3)
    feats, _ = text_features(view, collection_word_vectors(view))  # skip-gram on the view's train texts
    progress.report("text-only view: ranking", 2, 3)
    cats = view.categories
    res = hyperlinking_eval(feats, cats, k=k)
    pq = res["per_query"]
    counts = view.counts()
    progress.report("text-only view: ranking", 3, 3)
    return {"n_texts": len(view), "n_categories": len(counts["category"]), "k": k,
            "min_targets": int(min(counts["category"].values())) - 1 if counts["category"] else 0,
            "per_category": per_category_means([c or "(none)" for c in cats], pq["ap"], pq[f"p@{k}"])}


def text_view(collection, k: int = 10) -> dict:
    """Text-only hyperlinking over every text of the collection (``load_text_view``): each text ranks all the
    others by cosine of averaged skip-gram word2vec trained on the view's train split (the text-only
    baseline); relevance = same category. {"n_texts", "n_categories", "k", "min_targets" (fewest relevant
    targets of any anchor), "per_category": ``evaluate.per_category_means`` rows, "(all)" last}. Reports
    progress; memoised per collection stamp."""
    coll = _coll(collection)
    return _text_view(collection_stamp(str(coll.root)), k)
