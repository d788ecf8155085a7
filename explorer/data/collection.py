"""Collections of video segments: the ``Segment`` / ``Collection`` types and their loaders.

A segment is one unit of hyperlinking: an id, its transcript text, one representative keyframe image,
an optional category, a split (``train`` / ``val`` / ``test``) and optional video id / start / end
(seconds). Three on-disk layouts are read (see ``docs/collections.md`` for the exact formats):

- ``pairs.tsv`` layout (``../shared/data/flowers102_reed``, ``pascal_sentence``): a TSV with at least
  ``id, category, image_path, text_path, split``; paths relative to the TSV's folder. Rows whose image
  file is missing are *reported* in ``Collection.skipped`` and left out, never silently.
- the Wikipedia benchmark (``../shared/data/wikipedia``): a *feature-only* collection: 128-d SIFT-BoW
  image vectors and 10-d LDA text vectors in ``features/raw_features.npz``, the official 2,173/693
  train/test split, 10 categories. ``Collection.features`` holds the two matrices (rows = segments).
- the plain folder layout: ``<id>.jpg|.png|...`` + ``<id>.txt`` per segment, optional
  ``categories.tsv`` (id, category) and ``segments.tsv`` (id + any of split, category, video_id,
  start, end). Written by ``explorer ingest`` and easy to make by hand.

Collections are found by name under the data root or by path (``load_collection``).
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path, PurePath, PureWindowsPath

import numpy as np

from ..paths import collections_dir, data_root

SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


class CollectionError(ValueError):
    """A collection cannot be found or is malformed; the message names the problem and the file."""


@dataclass(frozen=True)
class Segment:
    id: str
    text: str
    image_path: Path | None
    split: str
    category: str | None = None
    video_id: str | None = None
    start: float | None = None  # seconds
    end: float | None = None  # seconds


@dataclass
class Collection:
    """An ordered list of segments plus, for feature-only collections, their precomputed features.

    ``features`` maps ``"image"`` / ``"text"`` to float32 arrays of shape (n_segments, dim) aligned
    with ``segments``; it is empty for image collections. ``skipped`` lists human-readable reasons
    for rows left out while loading.
    """

    name: str
    root: Path
    layout: str  # "pairs_tsv" | "wikipedia" | "folder" | "features"
    segments: list[Segment]
    features: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.segments)

    @property
    def has_images(self) -> bool:
        return not self.features and all(s.image_path is not None for s in self.segments)

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.segments]

    @property
    def texts(self) -> list[str]:
        return [s.text for s in self.segments]

    @property
    def categories(self) -> list[str | None]:
        return [s.category for s in self.segments]

    @property
    def has_times(self) -> bool:
        return any(s.video_id is not None and s.start is not None for s in self.segments)

    def split_names(self) -> list[str]:
        present = {s.split for s in self.segments}
        return [s for s in SPLITS if s in present]

    def subset(self, split: str | None) -> "Collection":
        """The segments of one split (``None`` or ``"all"``: everything), features sliced alike."""
        if split in (None, "all"):
            return self
        if split not in SPLITS:
            raise CollectionError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)} or 'all'")
        idx = [i for i, s in enumerate(self.segments) if s.split == split]
        if not idx:
            have = ", ".join(self.split_names()) or "none"
            raise CollectionError(f"collection {self.name!r} has no {split!r} segments (splits present: {have})")
        return replace(
            self,
            segments=[self.segments[i] for i in idx],
            features={k: v[idx] for k, v in self.features.items()},
        )

    def counts(self) -> dict[str, dict[str, int]]:
        """``{"split": {split: n}, "category": {category: n}}``."""
        by_split: dict[str, int] = {}
        by_cat: dict[str, int] = {}
        for s in self.segments:
            by_split[s.split] = by_split.get(s.split, 0) + 1
            if s.category is not None:
                by_cat[s.category] = by_cat.get(s.category, 0) + 1
        return {"split": by_split, "category": dict(sorted(by_cat.items()))}

    # Derived once per loaded collection (segments are not modified after loading; ``subset`` makes a new
    # object with its own): lookups the app repeats on every interaction.
    @cached_property
    def id_index(self) -> dict[str, int]:
        """Segment id -> position."""
        return {s.id: i for i, s in enumerate(self.segments)}

    @cached_property
    def token_sets(self) -> list[frozenset[str]]:
        """Per segment, the set of its transcript's tokens (text search)."""
        from .text import tokenize

        return [frozenset(tokenize(s.text)) for s in self.segments]

    @cached_property
    def digest(self) -> str:
        """``fingerprint()`` computed once (it stats every keyframe file)."""
        return self.fingerprint()

    def fingerprint(self) -> str:
        """Digest of ids, splits, categories, texts and image file sizes/mtimes: cache keys use it."""
        h = hashlib.sha256(self.layout.encode())
        for s in self.segments:
            stat = ""
            if s.image_path is not None:
                try:
                    st = s.image_path.stat()
                    stat = f"{st.st_size}:{int(st.st_mtime)}"
                except OSError:
                    stat = "missing"
            h.update(f"{s.id}\t{s.split}\t{s.category}\t{stat}\t".encode())
            h.update(s.text.encode())
        for k in sorted(self.features):
            h.update(k.encode())
            h.update(memoryview(np.ascontiguousarray(self.features[k])).cast("B"))  # no bytes copy
        return h.hexdigest()[:16]

    def index_of(self, segment_id: str) -> int:
        for i, s in enumerate(self.segments):
            if s.id == segment_id:
                return i
        raise KeyError(f"no segment {segment_id!r} in collection {self.name!r}")


# --------------------------------------------------------------------------------------------- helpers


def _read_text(path: Path, what: str) -> str:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CollectionError(f"cannot read {what} {path}: {e.strerror or e}") from e
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CollectionError(f"{what} {path} is not UTF-8 text ({e.reason} at byte {e.start})") from e
    return text


def _normalise_transcript(text: str) -> str:
    # Captions are stored one per line; a segment's transcript is all of them, joined by newlines.
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def _check_split(value: str, where: str) -> str:
    value = value.strip().lower()
    if value == "valid" or value == "validation":
        value = "val"
    if value not in SPLITS:
        raise CollectionError(f"{where}: unknown split {value!r} (expected one of {', '.join(SPLITS)})")
    return value


def hash_split(segment_id: str, val_fraction: float = 0.1, test_fraction: float = 0.1) -> str:
    """Deterministic split from the id alone (used when a collection names none): stable across runs."""
    u = int(hashlib.sha1(segment_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def _check_unique(segments: list[Segment], where: Path) -> None:
    seen: dict[str, int] = {}
    for i, s in enumerate(segments):
        if s.id in seen:
            raise CollectionError(f"{where}: duplicate segment id {s.id!r} (rows {seen[s.id] + 1} and {i + 1})")
        seen[s.id] = i


def _read_tsv(path: Path) -> list[dict[str, str]]:
    text = _read_text(path, "table")
    rows = list(csv.DictReader(text.splitlines(), delimiter="\t"))
    if rows and None in rows[0]:
        raise CollectionError(f"{path}: row 2 has more columns than the header")
    return rows


def _inside(root: Path, rel: str, where: str) -> Path:
    """``root / rel`` for a path listed in a collection file, refusing anything that leaves ``root``.

    Checked lexically (no symlink resolution): an absolute path, a drive, or a ``..`` component is
    refused, so a collection's table can never make the tool read (and show) a file outside it.
    """
    pure = PurePath(rel.replace("\\", "/"))
    if pure.is_absolute() or pure.drive or PureWindowsPath(rel).drive or ".." in pure.parts:
        raise CollectionError(f"{where}: path {rel!r} is outside the collection folder (only paths inside it are read)")
    return root / pure


# --------------------------------------------------------------------------------------------- loaders


def load_pairs_tsv(root: Path, name: str | None = None, texts_only: bool = False) -> Collection:
    """Load the ``pairs.tsv`` layout. Rows without an image file are skipped *and reported*; with
    ``texts_only`` they are kept without a keyframe (``image_path`` None: a text-only view, e.g. Pascal
    Sentence's 1,000 texts of which 47 have their image)."""
    root = Path(root)
    tsv = root / "pairs.tsv"
    rows = _read_tsv(tsv)
    required = {"id", "image_path", "text_path"}
    if not rows:
        raise CollectionError(f"{tsv}: no rows")
    missing_cols = required - set(rows[0])
    if missing_cols:
        raise CollectionError(f"{tsv}: missing column(s) {', '.join(sorted(missing_cols))}")
    segments, skipped = [], []
    for n, row in enumerate(rows, start=2):
        sid = (row.get("id") or "").strip()
        if not sid:
            raise CollectionError(f"{tsv} line {n}: empty id")
        img_rel = (row.get("image_path") or "").strip()
        img = _inside(root, img_rel, f"{tsv} line {n} (segment {sid!r}, image_path)") if img_rel else None
        if img is None or not img.is_file():
            if not texts_only:
                skipped.append(f"{sid}: no image listed" if img is None else f"{sid}: image file missing ({img_rel})")
                continue
            img = None
        txt_rel = (row.get("text_path") or "").strip()
        if not txt_rel:
            raise CollectionError(f"{tsv} line {n}: segment {sid!r} has no text_path")
        txt = _inside(root, txt_rel, f"{tsv} line {n} (segment {sid!r}, text_path)")
        text = _normalise_transcript(_read_text(txt, f"transcript of {sid!r}"))
        if not text:
            raise CollectionError(f"{tsv} line {n}: transcript of {sid!r} ({txt_rel}) is empty")
        split_raw = (row.get("split") or "").strip()
        split = _check_split(split_raw, f"{tsv} line {n}") if split_raw else hash_split(sid)
        segments.append(
            Segment(id=sid, text=text, image_path=img, split=split, category=(row.get("category") or None))
        )
    _check_unique(segments, tsv)
    if not segments:
        raise CollectionError(f"{tsv}: no usable segments ({len(skipped)} skipped, e.g. {skipped[:3]})")
    return Collection(name=name or root.name, root=root, layout="pairs_tsv", segments=segments, skipped=skipped)


def load_wikipedia(root: Path, name: str | None = None) -> Collection:
    """The Rasiwasia et al. benchmark as features: SIFT-BoW 128-d images, LDA 10-d texts."""
    root = Path(root)
    rows = _read_tsv(root / "pairs.tsv")
    npz = root / "features" / "raw_features.npz"
    try:
        z = np.load(npz)
    except (OSError, ValueError) as e:
        raise CollectionError(f"cannot read Wikipedia features {npz}: {e}") from e
    mats = {
        ("train", "image"): z["I_tr"], ("test", "image"): z["I_te"],
        ("train", "text"): z["T_tr"], ("test", "text"): z["T_te"],
    }
    segments, img_rows, txt_rows = [], [], []
    for n, row in enumerate(rows, start=2):
        split = _check_split(row["split"], f"{root / 'pairs.tsv'} line {n}")
        r = int(row["feature_row"])
        text_path = (row.get("text_path") or "").strip()
        where = f"{root / 'pairs.tsv'} line {n} (segment {row['id']!r}"
        text = _normalise_transcript(_read_text(_inside(root, text_path, where + ", text_path)"), "text")) if text_path else ""
        image_path = (row.get("image_path") or "").strip()
        segments.append(
            Segment(
                id=row["id"], text=text, split=split, category=row["category"],
                image_path=_inside(root, image_path, where + ", image_path)") if image_path else None,
            )
        )
        img_rows.append(mats[(split, "image")][r])
        txt_rows.append(mats[(split, "text")][r])
    _check_unique(segments, root / "pairs.tsv")
    features = {
        "image": np.asarray(img_rows, dtype=np.float32),
        "text": np.asarray(txt_rows, dtype=np.float32),
    }
    return Collection(name=name or root.name, root=root, layout="wikipedia", segments=segments, features=features)


def _parse_seconds(value: str, where: str) -> float | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError as e:
        raise CollectionError(f"{where}: {value!r} is not a time in seconds") from e


def load_folder(root: Path, name: str | None = None) -> Collection:
    """The plain folder layout (see module docstring and docs/collections.md)."""
    root = Path(root)
    images: dict[str, Path] = {}
    for p in sorted(root.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES:
            if p.stem in images:
                raise CollectionError(f"{root}: two keyframes for segment {p.stem!r} ({images[p.stem].name}, {p.name})")
            images[p.stem] = p
    texts = {p.stem: p for p in sorted(root.glob("*.txt"))}
    if not images and not texts:
        raise CollectionError(f"{root}: no segments (expected <id>.jpg|.png + <id>.txt pairs)")
    meta: dict[str, dict[str, str]] = {}
    for table in ("segments.tsv", "categories.tsv"):
        path = root / table
        if path.exists():
            rows = _read_tsv(path)
            if rows and "id" not in rows[0]:
                raise CollectionError(f"{path}: needs an 'id' column (header row), got {list(rows[0])}")
            for row in rows:
                meta.setdefault(row["id"].strip(), {}).update({k: (v or "") for k, v in row.items() if k})
    for sid in meta:
        if sid not in texts and sid not in images:
            raise CollectionError(f"{root}: metadata names segment {sid!r} but it has no image or .txt file")
    segments, skipped = [], []
    for sid in sorted(set(images) | set(texts)):
        if sid not in texts:
            skipped.append(f"{sid}: keyframe without transcript ({images[sid].name})")
            continue
        if sid not in images:
            skipped.append(f"{sid}: transcript without keyframe ({texts[sid].name})")
            continue
        text = _normalise_transcript(_read_text(texts[sid], f"transcript of {sid!r}"))
        if not text:
            raise CollectionError(f"{texts[sid]}: transcript of segment {sid!r} is empty")
        m = meta.get(sid, {})
        where = f"{root}: segment {sid!r}"
        split = _check_split(m["split"], where) if m.get("split", "").strip() else hash_split(sid)
        segments.append(
            Segment(
                id=sid, text=text, image_path=images[sid], split=split,
                category=(m.get("category") or "").strip() or None,
                video_id=(m.get("video_id") or "").strip() or None,
                start=_parse_seconds(m.get("start", ""), where),
                end=_parse_seconds(m.get("end", ""), where),
            )
        )
    if not segments:
        raise CollectionError(f"{root}: no segment has both a keyframe and a transcript ({skipped[:3]})")
    return Collection(name=name or root.name, root=root, layout="folder", segments=segments, skipped=skipped)


def detect_layout(root: Path) -> str | None:
    """The layout of a collection folder (a key of ``LOADERS``), or None when nothing in it makes a
    collection: the one place that decides, for loading and for listing."""
    root = Path(root)
    if (root / "pairs.tsv").exists():
        return "wikipedia" if (root / "features" / "raw_features.npz").exists() else "pairs_tsv"
    if (root / "features.npz").exists() and (root / "segments.tsv").exists():
        return "features"
    if (root / "segments.tsv").exists() or any(p.suffix.lower() in IMAGE_SUFFIXES for p in root.iterdir() if p.is_file()):
        return "folder"
    return None


def load_features(root: Path, name: str | None = None) -> Collection:
    """A collection of precomputed features, of any size (a million rows loads in seconds):
    ``segments.tsv`` (header; ``id`` required, optional ``split``, ``category``, ``text``, ``video_id``, ``start``,
    ``end``) and ``features.npz`` holding ``image`` and ``text`` arrays (n_rows, dim), row i for table row i."""
    import pandas as pd

    root = Path(root)
    table, npz = root / "segments.tsv", root / "features.npz"
    try:
        df = pd.read_csv(table, sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE, engine="c")
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise CollectionError(f"{table}: cannot read the table ({e})") from e
    if "id" not in df.columns:
        raise CollectionError(f"{table}: no 'id' column (columns: {', '.join(df.columns)})")
    try:
        with np.load(npz, allow_pickle=False) as z:
            features = {k: np.asarray(z[k], dtype=np.float32) for k in ("image", "text")}
    except (OSError, ValueError, KeyError) as e:
        raise CollectionError(f"{npz}: needs float arrays 'image' and 'text' ({e})") from e
    for k, arr in features.items():
        if arr.ndim != 2 or len(arr) != len(df):
            raise CollectionError(f"{npz}: {k!r} is {arr.shape}, expected ({len(df)}, dim): one row per row of {table.name}")
    n = len(df)
    ids = df["id"].tolist()
    dup = df["id"].duplicated()
    if dup.any():
        first = int(np.flatnonzero(dup.to_numpy())[0])
        raise CollectionError(f"{table}: duplicate segment id {ids[first]!r} (row {first + 2})")
    raw_splits = df["split"].str.strip().str.lower() if "split" in df else pd.Series([""] * n)
    known = {v: _check_split(v, f"{table}") for v in raw_splits.unique() if v}  # each distinct value checked once
    splits = [known[v] if v else hash_split(i) for v, i in zip(raw_splits.tolist(), ids)]
    cats = df["category"].tolist() if "category" in df else [""] * n
    texts = df["text"].tolist() if "text" in df else [""] * n
    def seconds(column: str) -> list:  # floats, None where absent or not a number
        if column not in df:
            return [None] * n
        values = pd.to_numeric(df[column], errors="coerce")
        return values.astype(object).where(values.notna(), None).tolist()

    videos = [v or None for v in df["video_id"].tolist()] if "video_id" in df else [None] * n
    cats = [c or None for c in cats]
    # positional arguments: a million frozen dataclasses are the bulk of the load time
    segments = [Segment(i, t, None, sp, c, v, a, b)
                for i, t, sp, c, v, a, b in zip(ids, texts, splits, cats, videos, seconds("start"), seconds("end"))]
    return Collection(name=name or root.name, root=root, layout="features", segments=segments, features=features)


LOADERS = {"pairs_tsv": load_pairs_tsv, "wikipedia": load_wikipedia, "folder": load_folder, "features": load_features}

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def resolve_collection_path(name_or_path: str | Path) -> Path:
    """A collection folder from a name under the data root, or from a path."""
    s = str(name_or_path)
    p = Path(s).expanduser()
    if p.is_dir() and (("/" in s) or s.startswith(".") or not _NAME_RE.match(s)):
        return p
    root = data_root(required=False)
    if _NAME_RE.match(s) and root is not None and (root / s).is_dir():
        return root / s
    if _NAME_RE.match(s) and (collections_dir() / s).is_dir():
        return collections_dir() / s
    if p.is_dir():
        return p
    known = ", ".join(list_collection_names()) or "none found"
    raise CollectionError(f"no collection {s!r}: not a folder, and not a name under the data root (known: {known})")


def load_collection(name_or_path: str | Path) -> Collection:
    """Load a collection by name (under the data root) or by path, detecting its layout."""
    root = resolve_collection_path(name_or_path)
    layout = detect_layout(root)
    if layout is None:
        raise CollectionError(f"{root}: no segments (expected <id>.jpg|.png + <id>.txt pairs, a pairs.tsv, or a "
                              "segments.tsv; see docs/collections.md)")
    return LOADERS[layout](root, name=root.name)


def load_text_view(name_or_path: str | Path) -> Collection:
    """Every row of a ``pairs.tsv`` collection with its transcript, keyframe or not (``load_pairs_tsv``'s
    ``texts_only``): for collections whose images are mostly missing."""
    root = resolve_collection_path(name_or_path)
    if detect_layout(root) != "pairs_tsv":
        raise CollectionError(f"{root.name}: a text-only view needs the pairs.tsv layout")
    return load_pairs_tsv(root, name=f"{root.name} (texts only)", texts_only=True)


def list_collection_names() -> list[str]:
    """Names of folders that look like collections: under the data root, then under
    ``paths.collections_dir()`` (ingested ones; a name the data root has is not repeated)."""
    names: list[str] = []
    for root in (data_root(required=False), collections_dir()):
        if root is None or not root.is_dir():
            continue
        for d in sorted(root.iterdir()):
            if d.is_dir() and d.name not in names and _NAME_RE.match(d.name) and detect_layout(d) is not None:
                names.append(d.name)
    return names
