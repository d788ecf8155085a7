"""The library facade: everything the CLI's model commands and the Streamlit pages call.

Pages import only this module (and never Streamlit from ``explorer/``). Functions take checkpoint
paths and collection names, return numpy arrays / plain dicts, and raise ``ValueError`` subclasses
with a message fit to show a user. Loaded models are memoised per (path, mtime, device).
"""

from __future__ import annotations

import base64
import collections
import functools
import importlib
import io
import os
import re
import threading
from pathlib import Path

import numpy as np
import torch

from . import checkpoint as ckpt_io
from .checkpoint import CheckpointError
from .data.collection import Collection, CollectionError, list_collection_names, load_collection, resolve_collection_path
from .data.images import MAX_PIXELS, ImageInputError, decode_problem, image_to_uint8, keyframes_uint8, load_rgb, to_model_range
from .data.text import STOPWORDS, OutOfVocabularyError, tokenize
from .evaluate import LoadedModel
from .paths import DataRootError, checkpoints_dir, data_root, runs_dir


class NotGenerativeError(ValueError):
    """The checkpoint's model kind has no generator (only GAN-CLS checkpoints generate images)."""


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime: float, device: str) -> LoadedModel:
    return LoadedModel(path, device)


def load_model(path: str | Path, device: str = "cpu") -> LoadedModel:
    """A checkpoint rebuilt for inference (memoised while the file is unchanged)."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"no checkpoint at {p}")
    return _load(str(p.resolve()), p.stat().st_mtime, device)


def _generative(path) -> LoadedModel:
    lm = load_model(path)
    if not lm.model.generative:
        raise NotGenerativeError(f"{Path(path).name} is a {lm.kind!r} model, which has no generator")
    return lm


def transcript_vocabulary(path, text: str) -> dict:
    """Which words of ``text`` the checkpoint's word vectors know: {"known": [...], "unknown": [...]}."""
    lm = load_model(path)
    if lm.word_vectors is None:
        raise ValueError(f"{Path(path).name} has no word vectors (it was trained on built-in text features)")
    known, unknown = lm.word_vectors.split_known(text)
    return {"known": known, "unknown": unknown}


@torch.inference_mode()
def generate_images(path, text: str, n: int = 8, seed: int = 0) -> np.ndarray:
    """(n, 64, 64, 3) uint8 images the generator draws for ``text`` (noise seeded by ``seed``).

    Raises ``OutOfVocabularyError`` when no word of ``text`` is known, ``ValueError`` for n < 1.
    """
    if not 1 <= n <= 256:
        raise ValueError(f"n must be between 1 and 256, got {n}")
    lm = _generative(path)
    t = torch.from_numpy(lm.word_vectors.embed(text)).float()[None].repeat(n, 1)  # (n, 100)
    g = torch.Generator().manual_seed(seed)
    z = torch.rand(n, lm.model.config.noise_dim, generator=g) * 2 - 1
    from .data.images import from_model_range

    return from_model_range(lm.model.generate(t.to(lm.device), z.to(lm.device)))


def image_tensor(image) -> torch.Tensor:
    """A path, bytes, PIL image or (64, 64, 3) uint8 array -> (1, 3, 64, 64) tensor in [-1, 1] (validated)."""
    if isinstance(image, np.ndarray):
        arr = image_to_uint8(__import__("PIL.Image").Image.fromarray(image))
    elif isinstance(image, (str, Path, bytes)):
        arr = image_to_uint8(load_rgb(image))
    else:
        arr = image_to_uint8(image)
    return to_model_range(arr[None])


def invert_image(path, image, method: str = "transposed", steps: int = 200) -> np.ndarray:
    """The text-space vector (100,) the inverted generator gives for an image."""
    lm = _generative(path)
    x = image_tensor(image).to(lm.device)
    if method == "transposed":
        with torch.no_grad():
            vec = lm.model.invert_transposed(x)
    elif method == "optimise":
        vec = lm.model.invert_optimise(x, steps=steps)
    else:
        raise ValueError(f"unknown inversion method {method!r} (transposed | optimise)")
    return vec[0].cpu().numpy()


def topword_methods(path) -> tuple[str, ...]:
    """The top-words methods of a generative checkpoint's kind, best measured first (the default)."""
    return tuple(type(_generative(path).model).topword_methods)


# Crossmodal top words rank only the this-many most frequent training words (word2vec's vocabulary is
# sorted by frequency): rare words and typos ("puirple") have extreme single-word vectors. Chosen on
# val in bench/bench_gan_proj.py (bench/results/gan_proj.md).
CROSSMODAL_VOCAB = 1000


def crossmodal_top_words(lm: LoadedModel, images: torch.Tensor, k: int = 15, skip_stopwords: bool = True,
                         vocab_limit: int | None = CROSSMODAL_VOCAB) -> list[list[tuple[str, float]]]:
    """Per image (B, 3, 64, 64): the k vocabulary words whose text part of D's 1x1 conv is closest
    (cosine) to the image's image part (kinds with ``word_scores``, e.g. gan_proj), among the
    ``vocab_limit`` most frequent words (None: all)."""
    wv = lm.word_vectors
    keep = np.array([not (skip_stopwords and w in STOPWORDS) for w in wv.vocab])
    if vocab_limit is not None:
        keep[vocab_limit:] = False
    with torch.inference_mode():
        scores = lm.model.word_scores(images.to(lm.device), torch.from_numpy(wv.vectors).float().to(lm.device)).cpu().numpy()
    scores[:, ~keep] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [[(wv.vocab[j], float(row[j])) for j in idx] for row, idx in zip(scores, order)]


def top_words(path, image, k: int = 15, method: str | None = None, skip_stopwords: bool = True) -> list[tuple[str, float]]:
    """The k top words of an image (paper's Table 3) by ``method`` (default: the kind's best measured one).

    ``transposed`` / ``optimise`` (gan_cls): vocabulary words nearest to the inverted generator's text
    vector; ``crossmodal`` (gan_proj): words ranked by D's aligned image and text parts.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    methods = topword_methods(path)
    method = method or methods[0]
    if method not in methods:
        raise ValueError(f"{Path(path).name} has no top-words method {method!r} (its methods: {', '.join(methods)})")
    lm = _generative(path)
    if method == "crossmodal":
        return crossmodal_top_words(lm, image_tensor(image), k=k, skip_stopwords=skip_stopwords)[0]
    return lm.word_vectors.nearest(invert_image(path, image, method), k=k, skip_stopwords=skip_stopwords)


# =====================================================================================================
# Everything below serves the Streamlit app (and its benchmark); it is plain Python, usable anywhere.
# =====================================================================================================

DEFAULT_COLLECTION = "flowers102_reed"
DEFAULT_KIND = "gan_proj"  # the GAN recipe that learns on a CPU (docs/gan_proj.md); gan_cls is the paper-faithful one
HYPERLINK_TOP = 50  # targets kept per anchor in the cached hyperlink index
HYPERLINK_VERSION = 1
MAX_UPLOAD_BYTES = 50_000_000
UPLOAD_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")

class EmptyTranscriptError(ValueError):
    """The transcript is empty (or has no word at all)."""


# ------------------------------------------------------------------------------------------- places


def extra_checkpoint_dirs() -> list[Path]:
    """Folders of extra checkpoints: ``$EXPLORER_CHECKPOINTS`` (``os.pathsep``-separated)."""
    env = os.environ.get("EXPLORER_CHECKPOINTS", "")
    return [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]


def checkpoint_folders() -> list[str]:
    """The folders ``list_checkpoints`` looks in (shipped, extra, runs)."""
    return [str(checkpoints_dir()), *map(str, extra_checkpoint_dirs()), str(runs_dir())]


def jobs_db_path() -> Path:
    """The training jobs database: ``$EXPLORER_JOBS_DB``, else ``runs/jobs.sqlite``."""
    from .jobs import default_db_path

    return default_db_path()


# -------------------------------------------------------------------------------------- collections


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


@functools.lru_cache(maxsize=4)
def _collection(stamp: tuple) -> Collection:
    coll = load_collection(stamp[0])
    coll._fingerprint = coll.fingerprint()  # computed once per load (stats every keyframe file)
    return coll


def get_collection(name: str) -> Collection:
    """A collection by name or path, loaded once while its files are unchanged (``CollectionError``)."""
    try:
        return _collection(collection_stamp(name))
    except OSError as e:
        raise CollectionError(f"cannot read collection {name!r}: {e}") from e


def _fp(coll: Collection) -> str:
    fp = getattr(coll, "_fingerprint", None)
    if fp is None:
        fp = coll._fingerprint = coll.fingerprint()
    return fp


def _coll(collection) -> Collection:
    return collection if isinstance(collection, Collection) else get_collection(collection)


def collection_summary(collection) -> dict:
    """Counts and properties of a collection, for the Overview page."""
    coll = _coll(collection)
    counts = coll.counts()
    return {
        "name": coll.name, "root": str(coll.root), "layout": coll.layout, "n_segments": len(coll),
        "splits": counts["split"], "n_categories": len(counts["category"]), "categories": counts["category"],
        "has_images": coll.has_images, "has_times": coll.has_times, "features_only": bool(coll.features),
        "n_skipped": len(coll.skipped), "skipped_examples": coll.skipped[:5],
        "n_videos": len({s.video_id for s in coll.segments if s.video_id}),
    }


def collection_warnings(collection, k: int = 10) -> list[str]:
    """What a user must know before reading any number of this collection (shown on every page):
    most rows skipped, a single category (every target relevant), splits too small for P@k."""
    coll = _coll(collection)
    out = []
    n, skipped = len(coll), len(coll.skipped)
    if skipped and skipped >= n:
        out.append(f"{skipped:,} of {n + skipped:,} rows of this collection were skipped (e.g. {coll.skipped[0]}); "
                   f"only {n:,} segment(s) are loaded.")
    cats = {s.category for s in coll.segments if s.category is not None}
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


SHOWN_TEXT_CHARS = 4000  # a page shows at most this much of one transcript (a collection may hold megabytes)


def shown_text(text: str, limit: int = SHOWN_TEXT_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out, for display."""
    if len(text) <= limit:
        return text
    return text[:limit].rstrip() + f" … ({len(text) - limit:,} more characters not shown)"


def snippet(text: str, n: int = 140) -> str:
    """The first line of a transcript, cut to ``n`` characters."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= n else first[: n - 1].rstrip() + "…"


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    m, s = divmod(float(seconds), 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m}:{s:04.1f}"


def video_span(seg) -> str | None:
    """``video_id start-end`` of a segment with video times, else None."""
    if seg.video_id is None or seg.start is None:
        return None
    return f"{seg.video_id} {format_seconds(seg.start)}–{format_seconds(seg.end)}" if seg.end is not None \
        else f"{seg.video_id} {format_seconds(seg.start)}"


# browsers play these containers in a <video> element; others (mkv, avi, ...) are offered as a download
PLAYABLE_VIDEO = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/mp4", ".webm": "video/webm",
                  ".ogv": "video/ogg", ".ogg": "video/ogg"}


def segment_video(collection, segment) -> dict | None:
    """Where to play a segment: {"path", "format", "start", "end", "playable"} from the collection's own
    ``videos/<video_id>.*`` (written by ``explorer ingest``), or None when it has no such file. Only
    files inside the collection folder are used. ``start``/``end`` are whole seconds (what a browser
    player seeks to): the start rounded down, the end up."""
    import math

    from .video.decode import VIDEO_SUFFIXES

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
    lookup = getattr(coll, "_id_index", None)
    if lookup is None:
        lookup = coll._id_index = {s.id: i for i, s in enumerate(coll.segments)}
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


def segments_table(collection) -> dict[str, list]:
    """Column lists for every segment: index, id, category, split, snippet (+ video, when it has times)."""
    coll = _coll(collection)
    table = {"index": list(range(len(coll))), "id": coll.ids,
             "category": [s.category or "(none)" for s in coll.segments],
             "split": [s.split for s in coll.segments], "snippet": [snippet(s.text) for s in coll.segments]}
    if coll.has_times:
        table["video"] = [video_span(s) or "" for s in coll.segments]
    return table


def search_segments(collection, query: str, split: str | None = None, limit: int = 200) -> list[int]:
    """Indices of segments matching ``query``: an exact id first, then ids and categories containing it,
    then transcripts holding all its words. Empty query: the first ``limit`` segments."""
    coll = _coll(collection)
    allowed = None if split in (None, "all") else split
    q = (query or "").strip().lower()
    segs = coll.segments
    pool = [i for i, s in enumerate(segs) if allowed is None or s.split == allowed]
    if not q:
        return pool[:limit]
    exact = [i for i in pool if segs[i].id.lower() == q]
    by_id = [i for i in pool if q in segs[i].id.lower() and i not in exact]
    by_cat = [i for i in pool if segs[i].category and q in segs[i].category.lower().replace("_", " ")
              or (segs[i].category and q in segs[i].category.lower())]
    words = set(tokenize(q))
    by_text = []
    if words:
        tok_cache = getattr(coll, "_token_sets", None)
        if tok_cache is None:
            tok_cache = coll._token_sets = [set(tokenize(s.text)) for s in segs]
        by_text = [i for i in pool if words <= tok_cache[i]]
    out, seen = [], set()
    for i in exact + by_id + by_cat + by_text:
        if i not in seen:
            seen.add(i)
            out.append(i)
            if len(out) >= limit:
                break
    return out


def thumbnails(collection) -> np.ndarray:
    """(N, 64, 64, 3) uint8 keyframes of every segment (cached on disk)."""
    coll = _coll(collection)
    thumbs = getattr(coll, "_thumbs", None)
    if thumbs is None:
        thumbs = coll._thumbs = keyframes_uint8(coll)
    return thumbs


def png_data_uri(image: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# What a thumbnail column shows for collections without keyframes (Wikipedia's precomputed SIFT
# features): an inline SVG, so nothing is fetched and the column never reads "None".
NO_KEYFRAME_URI = ("data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' width='64' height='64'>"
                   "<rect width='64' height='64' fill='%23eeeeee'/><text x='32' y='29' font-size='10' "
                   "text-anchor='middle' fill='%23777777' font-family='sans-serif'>no</text><text x='32' y='42' "
                   "font-size='10' text-anchor='middle' fill='%23777777' font-family='sans-serif'>keyframe</text></svg>")


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


# -------------------------------------------------------------------------------------- checkpoints


def _file_stamp(p: Path) -> tuple[str, float, int]:
    st = p.stat()
    return str(p.resolve()), st.st_mtime, st.st_size


@functools.lru_cache(maxsize=256)
def _summary(path: str, mtime: float, size: int) -> dict:
    from .models import MODELS

    try:
        meta = ckpt_io.read_summary(path)
    except CheckpointError as e:
        return {"problem": str(e)}
    except Exception as e:  # noqa: BLE001 - any unreadable file is listed with its problem
        return {"problem": f"{Path(path).name} is not a readable checkpoint ({type(e).__name__}: {e})"}
    if meta.get("kind") not in MODELS:
        meta["problem"] = f"unknown model kind {meta.get('kind')!r} (this explorer knows: {', '.join(MODELS)})"
    else:
        fits = ckpt_io.check_fits(path)  # e.g. a checkpoint of an older model layout: listed, marked unusable
        if fits:
            meta["problem"] = fits
    return meta


@functools.lru_cache(maxsize=256)
def _run_state(log: str, mtime: float, size: int) -> str | None:
    from .jobs import _run_outcome

    return _run_outcome(str(Path(log).parent))


def _entry(path: Path, source: str, ckpt_id: str, label: str) -> dict:
    meta = _summary(*_file_stamp(path))
    coll = (meta.get("collection") or {}).get("name")
    progress = meta.get("progress") or {}
    return {
        "id": ckpt_id, "path": str(path), "source": source, "label": label, "kind": meta.get("kind"),
        "collection": coll, "metrics": meta.get("metrics") or {}, "epoch": progress.get("epoch"),
        "epochs": progress.get("epochs"), "created": meta.get("created"), "size": path.stat().st_size,
        "supported": "problem" not in meta, "problem": meta.get("problem"), "mtime": path.stat().st_mtime,
        "data_spec": meta.get("data_spec") or {},
    }


def list_checkpoints() -> list[dict]:
    """Every checkpoint the app can offer: shipped (``checkpoints/``), extra folders
    (``$EXPLORER_CHECKPOINTS``) and training runs (``runs/*/best.pt``, else ``latest.pt``).

    Each entry: id (stable, e.g. ``shipped/gan_cls-flowers102_reed.pt``, ``runs/RUN/best.pt``), path,
    source, label, kind, collection, metrics, epoch, supported, problem (why it cannot be used).
    """
    out: list[dict] = []
    seen: set[str] = set()

    def add(path: Path, source: str, ckpt_id: str, label: str) -> None:
        key = str(path.resolve())
        if key in seen or not path.is_file():
            return
        seen.add(key)
        try:
            out.append(_entry(path, source, ckpt_id, label))
        except OSError:
            pass  # vanished between listing and reading

    ship = checkpoints_dir()
    if ship.is_dir():
        for p in sorted(ship.glob("*.pt")):
            add(p, "shipped", f"shipped/{p.name}", f"{p.stem} (shipped)")
    for d in extra_checkpoint_dirs():
        if d.is_dir():
            for p in sorted(d.glob("*.pt")):
                add(p, "extra", f"extra/{p.name}", f"{p.stem} ({d.name})")
    runs = runs_dir()
    if runs.is_dir():
        run_dirs = sorted((d for d in runs.iterdir() if d.is_dir()), key=lambda d: d.stat().st_mtime, reverse=True)
        for d in run_dirs:
            p = d / "best.pt" if (d / "best.pt").is_file() else d / "latest.pt"
            if not p.is_file():
                continue
            log = d / "log.jsonl"
            state = _run_state(*_file_stamp(log)) if log.is_file() else None
            suffix = "" if state == "finished" else " — unfinished"
            add(p, "run", f"runs/{d.name}/{p.name}", f"run {d.name} · {p.stem}{suffix}")
    return out


def _within(path: Path, base: Path) -> bool:
    try:
        return path.resolve().is_relative_to(base.resolve())
    except OSError:
        return False


def resolve_checkpoint(ref) -> Path:
    """A checkpoint path from an id of ``list_checkpoints`` or a path (``CheckpointError`` if neither).

    Only files inside the listed checkpoint folders (shipped, runs, extra) are accepted, whatever the
    ref says (``shipped/../../x`` or an absolute path elsewhere is refused): the app never loads a
    file the pickers would not list.
    """
    if ref is None or str(ref).strip() == "":
        raise CheckpointError("no checkpoint chosen: pick one in the sidebar, or train one on the Training page")
    if isinstance(ref, dict):
        ref = ref["path"]
    s = str(ref)
    folders = [checkpoints_dir(), runs_dir(), *extra_checkpoint_dirs()]
    candidates = []
    for prefix, bases in (("shipped/", [checkpoints_dir()]), ("runs/", [runs_dir()]), ("extra/", extra_checkpoint_dirs())):
        if s.startswith(prefix):
            candidates += [(b / s[len(prefix):], b) for b in bases]
    candidates += [(Path(s).expanduser(), None)]
    for p, base in candidates:
        if not p.is_file():
            continue
        if not any(_within(p, b) for b in ([base] if base is not None else folders)):
            raise CheckpointError(f"checkpoint {s!r} is outside the checkpoint folders (shipped, runs, extra); "
                                  "only listed checkpoints can be opened")
        return p
    raise CheckpointError(f"no checkpoint {s!r} (it may have been deleted; pick another one in the sidebar)")


def checkpoint_stamp(ref) -> tuple[str, float, int]:
    """(resolved path, mtime, size) of a checkpoint: cache keys use it."""
    return _file_stamp(resolve_checkpoint(ref))


def fits_collection(entry: dict, collection) -> bool:
    """Whether a listed checkpoint can read ``collection``'s inputs: keyframes/transcripts for a model
    trained on raw transcripts, the same built-in feature sizes for a feature-only collection
    (e.g. Wikipedia's 128-d SIFT and 10-d LDA). Unknown specs (old sidecars) count as fitting."""
    spec = entry.get("data_spec") or {}
    if not spec:
        return True
    coll = _coll(collection)
    if coll.features:
        return (spec.get("image_input") == "features:builtin" and spec.get("text_input") == "builtin"
                and spec.get("image_dim") == coll.features["image"].shape[1]
                and spec.get("text_dim") == coll.features["text"].shape[1])
    return spec.get("text_input") == "word2vec" and (spec.get("image_input") != "features:builtin") and coll.has_images


def default_checkpoint(collection: str | None, entries: list[dict] | None = None) -> str | None:
    """The checkpoint to show first: the shipped default GAN of the collection, else any usable one
    trained on it (shipped first, then the newest run), else a usable one trained elsewhere that can
    read the collection's inputs; None when there is none (the pages then say so)."""
    entries = list_checkpoints() if entries is None else entries
    usable = [e for e in entries if e["supported"]]
    name = Path(collection).name if collection else None
    for e in usable:
        if e["source"] == "shipped" and e["kind"] == DEFAULT_KIND and e["collection"] == name:
            return e["id"]
    for e in usable:
        if e["collection"] == name:
            return e["id"]
    if collection:
        try:
            usable = [e for e in usable if fits_collection(e, collection)]
        except (CollectionError, DataRootError, OSError):
            pass
    return usable[0]["id"] if usable else None


def kind_description(kind: str) -> str:
    from .models import MODELS

    if kind not in MODELS:
        return f"unknown kind {kind!r}"
    doc = importlib.import_module(MODELS[kind][0].__module__).__doc__ or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def model_card(ref) -> dict:
    """What a checkpoint is: kind, description, training collection, progress, metrics, config, versions."""
    path = resolve_checkpoint(ref)
    meta = dict(_summary(*_file_stamp(path)))
    if "problem" in meta:
        raise CheckpointError(meta["problem"])
    from .models import MODELS

    cls = MODELS[meta["kind"]][0]
    return {
        "path": str(path), "kind": meta["kind"], "description": kind_description(meta["kind"]),
        "generative": cls.generative, "collection": meta.get("collection") or {},
        "progress": meta.get("progress") or {}, "metrics": meta.get("metrics") or {},
        "config": meta.get("config") or {}, "data_spec": meta.get("data_spec") or {},
        "train_seconds": meta.get("train_seconds"), "hardware": meta.get("hardware"), "created": meta.get("created"),
        "versions": meta.get("versions") or {}, "bytes": path.stat().st_size, "resumable": meta.get("resumable"),
    }


def model_card_text(ref) -> str | None:
    """The Markdown model card shipped beside a checkpoint (``NAME.md`` next to ``NAME.pt``), if any."""
    p = resolve_checkpoint(ref).with_suffix(".md")
    try:
        return p.read_text(encoding="utf-8") if p.is_file() else None
    except OSError:
        return None


def model(ref, device: str = "cpu") -> LoadedModel:
    """The checkpoint's model for inference; every way it can fail is a ``CheckpointError``."""
    path = resolve_checkpoint(ref)
    try:
        return load_model(path, device)
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 - e.g. a state dict that no longer matches the model code
        raise CheckpointError(f"{path.name} cannot be rebuilt by this version of explorer "
                              f"({type(e).__name__}: {' '.join(str(e).split())[:300]})") from e


def is_generative(ref) -> bool:
    return model(ref).model.generative


@functools.lru_cache(maxsize=32)
def _embedding_dims(path: str, mtime: float, size: int) -> dict[str, int]:
    lm = model(path)
    spec = lm.spec
    image = torch.zeros(2, 3, 64, 64) if spec.image_input == "pixels64" else torch.zeros(2, spec.image_dim)
    was = lm.model.training
    lm.model.eval()
    try:
        with torch.inference_mode():
            out = lm.model.embed(image.to(lm.device), torch.zeros(2, spec.text_dim, device=lm.device))
    finally:
        lm.model.train(was)
    return {k: int(v.shape[1]) for k, v in out.items()}


def embedding_dims(ref) -> dict[str, int]:
    """{"joint": D} (+ "image"/"text": E for models with per-modality embeddings), from a dummy batch."""
    return _embedding_dims(*checkpoint_stamp(ref))


# ---------------------------------------------------------------------------- transcripts and images


def check_transcript(ref, text: str) -> dict:
    """{"known": [...], "unknown": [...]} words of a transcript; ``EmptyTranscriptError`` when it has no
    word, ``OutOfVocabularyError`` (listing them) when none is in the model's vocabulary."""
    if not text or not tokenize(text):
        raise EmptyTranscriptError("the transcript is empty: type a few words (e.g. 'a yellow flower with "
                                   "many thin petals'), or pick a segment to use its transcript")
    vocab = transcript_vocabulary(model_path(ref), text)
    if not vocab["known"]:
        shown = ", ".join(dict.fromkeys(vocab["unknown"]).keys())
        raise OutOfVocabularyError(f"none of the words of this transcript is in the model's vocabulary: {shown}")
    return vocab


def model_path(ref) -> Path:
    path = resolve_checkpoint(ref)
    model(path)  # clear CheckpointError before anything else
    return path


def generate(ref, text: str, n: int = 8, seed: int = 0) -> dict:
    """``check_transcript`` + ``generate_images``: {"images": (n, 64, 64, 3) uint8, "known", "unknown"}."""
    vocab = check_transcript(ref, text)
    return {"images": generate_images(model_path(ref), text, n=n, seed=seed), **vocab}


def inspect_upload(data: bytes, name: str = "uploaded file") -> dict:
    """Validate an uploaded image (type, size, pixel count, mode): {"format", "mode", "width", "height",
    "bytes"}; ``ImageInputError`` with a clear message otherwise."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ImageInputError(f"{name} is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageInputError(f"{name} is {len(data) / 1e6:.0f} MB; the limit is {MAX_UPLOAD_BYTES / 1e6:.0f} MB")
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt, mode, (w, h) = img.format, img.mode, img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageInputError(f"{name} is not an image (expected {', '.join(UPLOAD_FORMATS)}): "
                              f"{decode_problem(e)}") from e
    if fmt not in UPLOAD_FORMATS:
        raise ImageInputError(f"{name} is a {fmt} image; accepted formats: {', '.join(UPLOAD_FORMATS)}")
    if w * h > MAX_PIXELS:
        raise ImageInputError(f"{name} is {w}x{h} = {w * h / 1e6:.0f} megapixels; the limit is {MAX_PIXELS / 1e6:.0f} MP")
    load_rgb(data, what=name)  # decodes fully: truncated files, tiny images, odd modes
    return {"format": fmt, "mode": mode, "width": w, "height": h, "bytes": len(data)}


def image_preview(data: bytes, max_side: int = 256) -> np.ndarray:
    """A validated image (bytes) shrunk to at most ``max_side`` pixels, as uint8 H x W x 3."""
    img = load_rgb(data, what="uploaded image")
    img.thumbnail((max_side, max_side))
    return np.asarray(img, dtype=np.uint8)


def image_top_words(ref, image, k: int = 15, method: str | None = None) -> list[dict]:
    """``top_words`` as rows: [{"rank", "word", "cosine"}]; ``image``: segment keyframe path, bytes or array."""
    words = top_words(model_path(ref), image, k=k, method=method)
    return [{"rank": r, "word": w, "cosine": float(s)} for r, (w, s) in enumerate(words, 1)]


def segment_top_words(ref, collection, segment, k: int = 15, method: str | None = None) -> list[dict]:
    coll = _coll(collection)
    s = coll.segments[segment_index(coll, segment)]
    if s.image_path is None:
        raise ImageInputError(f"segment {s.id!r} has no keyframe image in collection {coll.name!r}")
    return image_top_words(ref, thumbnails(coll)[segment_index(coll, segment)], k=k, method=method)


# ------------------------------------------------------------------------------- embeddings, retrieval

_EMB_LOCK = threading.Lock()


_EMB_MEMO: "collections.OrderedDict[tuple, dict[str, np.ndarray]]" = collections.OrderedDict()
_EMB_KEEP = 2  # (checkpoint, collection) pairs kept in memory


def _emb_key(ref, collection) -> tuple:
    return (*checkpoint_stamp(ref), collection_stamp(collection if isinstance(collection, str) else str(collection.root)))


def embeddings_ready(ref, collection) -> bool:
    """Whether ``embeddings(ref, collection)`` is already in memory (else it computes, maybe for minutes)."""
    return _emb_key(ref, collection) in _EMB_MEMO


def embeddings(ref, collection: str) -> dict[str, np.ndarray]:
    """{"joint": (N, D)} (+ "image"/"text") for every segment of the collection (memoised: the last
    ``_EMB_KEEP`` pairs). Reports progress (``explorer.progress``) while it computes."""
    key = _emb_key(ref, collection)
    with _EMB_LOCK:  # two sessions asking at once compute it once
        if key in _EMB_MEMO:
            _EMB_MEMO.move_to_end(key)
            return _EMB_MEMO[key]
        out = model(key[0]).embeddings(_collection(key[3]))
        _EMB_MEMO[key] = out
        while len(_EMB_MEMO) > _EMB_KEEP:
            _EMB_MEMO.popitem(last=False)
        return out


def _ckpt_key(ref) -> dict:
    path, mtime, size = checkpoint_stamp(ref)
    return {"path": path, "mtime": mtime, "size": size}


def _coll_name(collection) -> str:
    return collection if isinstance(collection, str) else str(collection.root)


def _hyperlink_key(ref, coll, split: str, k: int, top: int) -> dict:
    return {"checkpoint": _ckpt_key(ref), "collection": _fp(coll), "split": split, "k": k, "top": top,
            "version": HYPERLINK_VERSION}


def hyperlinks_ready(ref, collection, split: str, k: int = 10, top: int = HYPERLINK_TOP) -> bool:
    """Whether ``hyperlink_index`` is on disk already (then no embedding needs computing)."""
    from .cache import load_arrays

    return load_arrays("hyperlinks", _hyperlink_key(ref, _coll(collection), split, k, top)) is not None


def hyperlink_index(ref, collection, split: str, k: int = 10, top: int = HYPERLINK_TOP) -> dict[str, np.ndarray]:
    """Hyperlinking of every anchor of ``split`` against the other segments of the split (joint
    embeddings, cosine, ``explorer.metrics``), cached on disk per (checkpoint, collection, split).

    Arrays: "idx" (n,) collection indices of the split; "ap", "pk" (n,) AP and P@k (NaN when the anchor
    has no relevant target); "n_relevant" (n,); "top" (n, T) collection indices of the best targets
    (-1 padding) and "scores" (n, T) their cosines.
    """
    from .cache import cached_arrays
    from .evaluate import split_indices
    from .metrics import hyperlinking_eval, rank_gallery

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


def category_metrics(ref, collection, split: str, k: int = 10) -> list[dict]:
    """Per-category P@k and MAP over the split's anchors, worst P@k first:
    [{"category", "p@k", "map", "n", "n_undefined"}]; plus the overall means as category "(all)" last."""
    coll = _coll(collection)
    hl = hyperlink_index(ref, collection, split, k=k)
    cats = np.array([coll.segments[i].category or "(none)" for i in hl["idx"]], dtype=object)
    rows = []
    for c in sorted(set(cats)):
        m = cats == c
        defined = m & ~np.isnan(hl["ap"])
        rows.append({"category": c, "p@k": float(np.nanmean(hl["pk"][m])) if defined.any() else float("nan"),
                     "map": float(np.nanmean(hl["ap"][m])) if defined.any() else float("nan"),
                     "n": int(defined.sum()), "n_undefined": int(m.sum() - defined.sum())})
    rows.sort(key=lambda r: (np.nan_to_num(r["p@k"], nan=2.0), r["map"], r["category"]))
    ok = ~np.isnan(hl["ap"])
    rows.append({"category": "(all)", "p@k": float(hl["pk"][ok].mean()) if ok.any() else float("nan"),
                 "map": float(hl["ap"][ok].mean()) if ok.any() else float("nan"), "n": int(ok.sum()),
                 "n_undefined": int((~ok).sum())})
    return rows


def worst_anchors(ref, collection, split: str, category: str, n: int = 5, k: int = 10) -> list[dict]:
    """The ``n`` anchors of ``category`` with the lowest AP, each as ``anchor_hyperlinks`` (top ``k``)."""
    coll = _coll(collection)
    hl = hyperlink_index(ref, collection, split, k=k)
    pos = [p for p, i in enumerate(hl["idx"]) if (coll.segments[i].category or "(none)") == category
           and not np.isnan(hl["ap"][p])]
    if not pos:
        raise KeyError(f"no anchor of category {category!r} with a relevant target in the {split!r} split")
    pos.sort(key=lambda p: (hl["ap"][p], hl["pk"][p]))
    return [anchor_hyperlinks(ref, collection, int(hl["idx"][p]), split, k=k, n=k) for p in pos[:n]]


def category_confusion(ref, collection, split: str, k: int = 10) -> dict:
    """Which categories hold the top-``k`` places of each category's anchors.

    {"categories": [C names], "counts": (C, C) int (row: anchor category, column: target category),
    "share": (C, C) row-normalised}."""
    coll = _coll(collection)
    hl = hyperlink_index(ref, collection, split, k=k)
    names = sorted({s.category or "(none)" for s in coll.segments})
    code = {c: i for i, c in enumerate(names)}
    seg_code = np.array([code[s.category or "(none)"] for s in coll.segments])
    counts = np.zeros((len(names), len(names)), dtype=np.int64)
    top = hl["top"][:, :k]
    rows = np.repeat(seg_code[hl["idx"]], top.shape[1])
    valid = top.reshape(-1) >= 0
    cols = seg_code[np.maximum(top.reshape(-1), 0)]
    np.add.at(counts, (rows[valid], cols[valid]), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.nan_to_num(counts / counts.sum(axis=1, keepdims=True))
    return {"categories": names, "counts": counts, "share": share}


def stealers(ref, collection, split: str, category: str, k: int = 10, n: int = 10) -> list[dict]:
    """The categories holding the most top-``k`` places of ``category``'s anchors:
    [{"category", "places", "share"}] (its own category included, marked by ``own``)."""
    conf = category_confusion(ref, collection, split, k=k)
    if category not in conf["categories"]:
        raise KeyError(f"no category {category!r}")
    r = conf["categories"].index(category)
    row = conf["counts"][r]
    order = np.argsort(-row, kind="stable")
    return [{"category": conf["categories"][c], "places": int(row[c]), "share": float(conf["share"][r, c]),
             "own": c == r} for c in order[:n] if row[c] > 0]


# ------------------------------------------------------------------------------------------ projection


def projection_key(ref, collection, params: dict | None = None) -> dict:
    from .projection import projection_key as key

    return key(_ckpt_key(ref), _fp(_coll(collection)), params)


def projection_ready(ref, collection, params: dict | None = None) -> bool:
    """Whether the joint-space projection is already cached on disk (else it takes a while)."""
    from .projection import is_cached

    return is_cached(projection_key(ref, collection, params))


def joint_projection(ref, collection, params: dict | None = None) -> dict[str, list | np.ndarray]:
    """The 2-D projection of every segment's embedding(s), cached on disk (``explorer.projection``),
    as columns: x, y, index, id, modality, category, split, snippet (+ video, programme)."""
    from .projection import cached_projection

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


# ----------------------------------------------------------------------------------------------- jobs


def job_store():
    """The training jobs store (``explorer.jobs.JobStore`` on ``jobs_db_path()``)."""
    from .jobs import JobStore

    return JobStore(jobs_db_path())


def run_curves(run_dir) -> dict[str, list[dict]]:
    """A run's log as curves: {"steps": [step records], "epochs": [epoch records]}."""
    from .train import read_log

    recs = read_log(run_dir)
    return {"steps": [r for r in recs if r.get("type") == "step"], "epochs": [r for r in recs if r.get("type") == "epoch"]}


def run_progress(run_dir) -> dict:
    """Where a run stands, from its log: {"step", "total_steps", "epoch", "epochs", "steps_per_s",
    "eta_s", "best_val": {"val_p@10", "val_map", "epoch"} | None}. Speed is measured over the last
    50 logged steps of the current attempt (None until two steps carry times); ``eta_s`` is None
    when the speed or the plan is unknown."""
    from .train import read_log

    recs = read_log(run_dir)
    plans = [r for r in recs if r.get("type") == "plan"]
    steps = [r for r in recs if r.get("type") == "step"]
    epochs = [r for r in recs if r.get("type") == "epoch"]
    plan = plans[-1] if plans else {}
    total = plan["steps_per_epoch"] * plan["epochs"] if plan else None
    step = steps[-1]["step"] if steps else 0
    timed = [r for r in steps[-50:] if "time" in r and r["time"] >= plan.get("time", 0)]
    speed = None
    if len(timed) >= 2 and timed[-1]["time"] > timed[0]["time"]:
        speed = (timed[-1]["step"] - timed[0]["step"]) / (timed[-1]["time"] - timed[0]["time"])
    best = max(epochs, key=lambda r: r.get("val_p@10", float("-inf")), default=None)
    return {"step": step, "total_steps": total, "epoch": epochs[-1]["epoch"] if epochs else 0,
            "epochs": plan.get("epochs"), "steps_per_s": speed,
            "eta_s": (total - step) / speed if speed and total else None,
            "best_val": {k: best.get(k) for k in ("val_p@10", "val_map", "epoch")} if best else None}


def ingest_progress(job) -> dict:
    """Where an ingest job stands: {"done": videos with a done-marker (all of them once the report is
    complete), "total": videos in its source folder, "report": the collection's ingest_report.json
    (None until the run ends), "problems":
    [{"video", "status", "message"}] of the report's failed / partial / no-segment videos}."""
    from .jobs import INGEST_PROBLEMS, ingest_report
    from .video.decode import VIDEO_SUFFIXES

    out = Path(job.collection)
    source = Path(job.config_overrides.get("source", ""))
    try:
        total = sum(1 for p in source.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    except OSError:
        total = 0
    state = out / ".ingest"
    done = sum(1 for p in state.glob("*.json")) if state.is_dir() else 0
    report = ingest_report(job)  # None until this attempt wrote one
    problems = [{"video": v["video"], "status": v["status"], "message": " · ".join(v["messages"])[:300]}
                for v in (report or {}).get("videos", []) if v["status"] in INGEST_PROBLEMS]
    if report is not None and report.get("complete"):
        done = total = len(report["videos"])  # every video was looked at, problems included
    return {"done": min(done, total) if total else done, "total": total, "report": report, "problems": problems}


def transcript_sources() -> tuple[str, ...]:
    """What ``explorer ingest --transcripts`` accepts (the Ingest form's choices)."""
    from .video.ingest import TRANSCRIPT_SOURCES

    return TRANSCRIPT_SOURCES


def job_log_tail(log_path, lines: int = 40) -> str:
    """The last lines of a job's log (progress-bar redraws collapsed)."""
    from .jobs import read_log_tail

    return read_log_tail(log_path, lines=lines)


def latest_sample_grid(run_dir) -> Path | None:
    """The newest ``samples/epoch_NNN.png`` of a run (None before the first epoch ends)."""
    files = sorted(Path(run_dir).glob("samples/epoch_*.png"))
    return files[-1] if files else None


def parse_overrides(text: str) -> dict:
    """Config overrides typed one ``KEY=VALUE`` per line (or separated by commas/spaces): values parsed as
    JSON when possible (``batch_size=8``, ``loss=hinge``); ``ValueError`` for a malformed entry."""
    from .train import parse_overrides as parse

    pairs = [p for p in re.split(r"[\s,]+", text or "") if p.strip()]
    return parse(pairs)


def model_kinds() -> list[str]:
    from .models import MODELS

    return list(MODELS)
