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
- the ``features`` layout, for collections of any size (a million rows): ``segments.tsv`` + ``features.npz``.
  Its segments are kept as columns (``SegmentTable``), its features memory-mapped from the file, and its
  digest cached on disk by the two files' sizes and mtimes, so a new process opens a million rows in about
  a second.

``Collection.column(name)`` gives one field of every segment; code that reads a field of all segments uses it
rather than iterating ``segments`` (which builds a ``Segment`` per row for a ``SegmentTable``).

Collections are found by name under the data root or by path (``load_collection``).
"""

from __future__ import annotations

import csv
import hashlib
import re
import struct
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
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


SEGMENT_FIELDS = tuple(f.name for f in fields(Segment))


class SegmentTable(Sequence):
    """Segments kept as columns, one list per ``Segment`` field; a ``Segment`` is built when one is read.

    A large collection's loader returns one instead of a list: building a million frozen dataclasses took
    most of its load time, while the pages read a few segments and whole columns (``Collection.column``).
    Iterating builds every ``Segment`` again, so code that reads a field of all segments uses the columns.
    """

    def __init__(self, columns: dict[str, list]):
        missing = [f for f in SEGMENT_FIELDS if f not in columns]
        if missing or len({len(columns[f]) for f in SEGMENT_FIELDS}) != 1:
            raise ValueError(f"SegmentTable needs equal-length columns {', '.join(SEGMENT_FIELDS)} (missing: {missing})")
        self.columns = {f: columns[f] for f in SEGMENT_FIELDS}

    def __len__(self) -> int:
        return len(self.columns["id"])

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return Segment(*(self.columns[f][i] for f in SEGMENT_FIELDS))

    def __iter__(self):
        return (Segment(*row) for row in zip(*(self.columns[f] for f in SEGMENT_FIELDS)))

    def take(self, idx) -> "SegmentTable":
        """The rows at positions ``idx``, as a new table."""
        return SegmentTable({f: [col[i] for i in idx] for f, col in self.columns.items()})


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
    segments: Sequence[Segment]  # a list, or a SegmentTable (the features layout)
    features: Mapping[str, np.ndarray] = field(default_factory=dict)  # a LazyArrays for the features layout
    skipped: list[str] = field(default_factory=list)
    # files that alone determine the content (the features layout): ``digest`` is then cached on disk, keyed by
    # their paths, sizes and mtimes, instead of hashing ~1 GB of features in every new process
    source_files: tuple[Path, ...] = ()

    def __len__(self) -> int:
        return len(self.segments)

    @property
    def has_images(self) -> bool:
        return not self.features and all(p is not None for p in self.column("image_path"))

    def column(self, name: str, at=None) -> list:
        """One ``Segment`` field (``"id"``, ``"split"``, ``"category"``...) of every segment in order, or of the
        segments at positions ``at``: a new list."""
        if name not in SEGMENT_FIELDS:
            raise KeyError(f"no segment field {name!r} (fields: {', '.join(SEGMENT_FIELDS)})")
        if isinstance(self.segments, SegmentTable):
            values = self.segments.columns[name]
            return list(values) if at is None else [values[int(i)] for i in at]
        segments = self.segments if at is None else (self.segments[int(i)] for i in at)
        return [getattr(s, name) for s in segments]

    @property
    def ids(self) -> list[str]:
        return self.column("id")

    @property
    def texts(self) -> list[str]:
        return self.column("text")

    @property
    def categories(self) -> list[str | None]:
        return self.column("category")

    @property
    def has_times(self) -> bool:
        return any(v is not None and a is not None for v, a in zip(self.column("video_id"), self.column("start")))

    def feature_dims(self) -> dict[str, int]:
        """The width of each precomputed feature array (``{}`` for keyframe collections), read from the file
        headers for a features-layout collection, whose arrays are not loaded for this."""
        if isinstance(self.features, LazyArrays):
            return {k: int(shape[1]) for k, shape in self.features.shapes.items()}
        return {k: int(v.shape[1]) for k, v in self.features.items()}

    def split_names(self) -> list[str]:
        present = set(self.column("split"))
        return [s for s in SPLITS if s in present]

    def subset(self, split: str | None) -> "Collection":
        """The segments of one split (``None`` or ``"all"``: everything), features sliced alike."""
        if split in (None, "all"):
            return self
        idx = self.split_positions(split).tolist()
        segments = (self.segments.take(idx) if isinstance(self.segments, SegmentTable)
                    else [self.segments[i] for i in idx])
        return replace(self, segments=segments, features={k: v[idx] for k, v in self.features.items()},
                       source_files=())

    def split_positions(self, split: str | None) -> np.ndarray:
        """Positions (int64) of the segments of ``split`` (``None`` or ``"all"``: every one); an unknown split or
        one without segments is a ``CollectionError``."""
        if split in (None, "all"):
            return np.arange(len(self))
        if split not in SPLITS:
            raise CollectionError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)} or 'all'")
        idx = np.flatnonzero(np.array(self.column("split"), dtype=object) == split)
        if not len(idx):
            have = ", ".join(self.split_names()) or "none"
            raise CollectionError(f"collection {self.name!r} has no {split!r} segments (splits present: {have})")
        return idx

    def counts(self) -> dict[str, dict[str, int]]:
        """``{"split": {split: n}, "category": {category: n}}``."""
        by_split: dict[str, int] = {}
        by_cat: dict[str, int] = {}
        for split in self.column("split"):
            by_split[split] = by_split.get(split, 0) + 1
        for cat in self.column("category"):
            if cat is not None:
                by_cat[cat] = by_cat.get(cat, 0) + 1
        return {"split": by_split, "category": dict(sorted(by_cat.items()))}

    # Derived once per loaded collection (segments are not modified after loading; ``subset`` makes a new
    # object with its own): lookups the app repeats on every interaction.
    @cached_property
    def id_index(self) -> dict[str, int]:
        """Segment id -> position."""
        return {sid: i for i, sid in enumerate(self.column("id"))}

    @cached_property
    def token_sets(self) -> list[frozenset[str]]:
        """Per segment, the set of its transcript's tokens (text search)."""
        from .text import tokenize

        return [frozenset(tokenize(s.text)) for s in self.segments]

    @cached_property
    def digest(self) -> str:
        """``fingerprint()`` computed once (it stats every keyframe file); with ``source_files``, read from the
        digest cache while those files keep their sizes and mtimes."""
        if not self.source_files:
            return self.fingerprint()
        return _cached_digest(self)

    def fingerprint(self) -> str:
        """Digest of ids, splits, categories, texts and image file sizes/mtimes: cache keys use it."""
        h = hashlib.sha256(self.layout.encode())
        columns = (self.column(f) for f in ("id", "split", "category", "image_path", "text"))
        for sid, split, category, image_path, text in zip(*columns):
            stat = ""
            if image_path is not None:
                try:
                    st = image_path.stat()
                    stat = f"{st.st_size}:{int(st.st_mtime)}"
                except OSError:
                    stat = "missing"
            h.update(f"{sid}\t{split}\t{category}\t{stat}\t".encode())
            h.update(text.encode())
        for k in sorted(self.features):
            h.update(k.encode())
            h.update(memoryview(np.ascontiguousarray(self.features[k])).cast("B"))  # no bytes copy
        return h.hexdigest()[:16]

    def index_of(self, segment_id: str) -> int:
        try:
            return self.id_index[segment_id]
        except KeyError:
            raise KeyError(f"no segment {segment_id!r} in collection {self.name!r}") from None


def _cached_digest(coll: Collection) -> str:
    """``coll.fingerprint()``, kept in the cache folder under a key of its source files' paths, sizes and
    mtimes (nanoseconds): a file rewritten in place gets a new key."""
    from ..cache import cached_json

    stats = [(p, p.stat()) for p in coll.source_files]
    key = {"layout": coll.layout, "files": [[str(p.resolve()), st.st_size, st.st_mtime_ns] for p, st in stats]}
    return cached_json("digests", key, coll.fingerprint)


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


def _read_table(table: Path, required: tuple[str, ...] = ()):
    """A TSV with a header row holding the ``required`` columns, as a ``pyarrow.Table`` of strings (empty cells "";
    quotes are literal): pyarrow's multi-threaded reader takes about half a second for a million rows."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    try:
        with open(table, encoding="utf-8") as f:
            header = f.readline().rstrip("\r\n").split("\t")
    except (OSError, UnicodeDecodeError) as e:
        raise CollectionError(f"{table}: cannot read the table ({e})") from e
    missing = [c for c in required if c not in header]
    if missing:
        raise CollectionError(f"{table}: no {', '.join(map(repr, missing))} column (columns: {', '.join(header)})")
    try:
        return pa_csv.read_csv(
            table, parse_options=pa_csv.ParseOptions(delimiter="\t", quote_char=False),
            convert_options=pa_csv.ConvertOptions(column_types={c: pa.string() for c in header}, null_values=[],
                                                  strings_can_be_null=False))
    except (OSError, UnicodeDecodeError, pa.ArrowException) as e:
        raise CollectionError(f"{table}: cannot read the table ({e})") from e


def _coded_column(column, convert: Callable[[str], object]) -> list:
    """A column with few distinct values (split, category, video) as a list, ``convert`` applied once per
    distinct value: dictionary-encoded, so a million rows cost one array lookup, and equal values share one string."""
    encoded = column.combine_chunks().dictionary_encode()
    values = np.array([None] + [convert(v) for v in encoded.dictionary.to_pylist()], dtype=object)
    return values[encoded.indices.to_numpy(zero_copy_only=False) + 1].tolist()


class LazyArrays(Mapping):
    """Named arrays whose shapes are known and whose data is read on first access, then kept: a large
    collection's features, which a page reading cached embeddings never needs."""

    def __init__(self, shapes: dict[str, tuple[int, ...]], read: Callable[[str], np.ndarray]):
        self.shapes = dict(shapes)
        self._read = read
        self._arrays: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.shapes:
            raise KeyError(name)
        if name not in self._arrays:  # two threads may both read it once: same result, no harm
            self._arrays[name] = self._read(name)
        return self._arrays[name]

    def __iter__(self):
        return iter(self.shapes)

    def __len__(self) -> int:
        return len(self.shapes)

    @property
    def loaded(self) -> tuple[str, ...]:
        """The names read (or mapped) so far."""
        return tuple(self._arrays)


def _npy_header(f) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran order, dtype) from the header of a ``.npy`` stream, leaving ``f`` at its data."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    return np.lib.format.read_array_header_2_0(f)


def _npz_float32(npz: Path, names: tuple[str, ...]) -> LazyArrays:
    """The arrays ``names`` of a ``.npz`` as float32, reading only the headers now. A member stored uncompressed as
    float32 (what ``np.savez`` writes) is memory-mapped: nothing is read or copied. Others (float16, compressed)
    are read and converted on first access."""
    shapes: dict[str, tuple[int, ...]] = {}
    mapped: dict[str, tuple[int, np.dtype, bool]] = {}  # name -> (data offset, dtype, fortran order)
    with zipfile.ZipFile(npz) as archive, open(npz, "rb") as f:
        for name in names:
            info = archive.getinfo(f"{name}.npy")  # KeyError: no such array
            if info.compress_type == zipfile.ZIP_STORED:
                f.seek(info.header_offset)
                local = f.read(30)  # the member's local header: 30 bytes, then its name and extra field
                name_len, extra_len = struct.unpack("<HH", local[26:30])
                f.seek(info.header_offset + 30 + name_len + extra_len)
                shape, fortran, dtype = _npy_header(f)
                if dtype == np.float32:
                    mapped[name] = (f.tell(), dtype, fortran)  # f now points at the first byte of data
            else:
                with archive.open(info) as member:
                    shape, fortran, dtype = _npy_header(member)
            if dtype.kind != "f":
                raise ValueError(f"{name!r} holds {dtype}, not floats")
            shapes[name] = shape

    def read(name: str) -> np.ndarray:
        if name in mapped:
            offset, dtype, fortran = mapped[name]
            return np.memmap(npz, dtype=dtype, mode="r", offset=offset, shape=shapes[name], order="F" if fortran else "C")
        with np.load(npz, allow_pickle=False) as z:
            return np.asarray(z[name], dtype=np.float32)

    return LazyArrays(shapes, read)


def load_features(root: Path, name: str | None = None) -> Collection:
    """A collection of precomputed features, of any size (a million rows opens in about a second):
    ``segments.tsv`` (header; ``id`` required, optional ``split``, ``category``, ``text``, ``video_id``, ``start``,
    ``end``) and ``features.npz`` holding ``image`` and ``text`` arrays (n_rows, dim), row i for table row i.
    Segments come as a ``SegmentTable``, features memory-mapped (read-only) when stored as float32."""
    import pandas as pd

    root = Path(root)
    table, npz = root / "segments.tsv", root / "features.npz"
    read = _read_table(table, required=("id",))
    try:
        features = _npz_float32(npz, ("image", "text"))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise CollectionError(f"{npz}: needs float arrays 'image' and 'text' ({e})") from e
    n = read.num_rows
    for k, shape in features.shapes.items():
        if len(shape) != 2 or shape[0] != n:
            raise CollectionError(f"{npz}: {k!r} is {shape}, expected ({n}, dim): one row per row of {table.name}")
    ids = read.column("id").to_pylist()
    if len(set(ids)) != n:
        first = int(np.flatnonzero(pd.Series(ids).duplicated().to_numpy())[0])
        raise CollectionError(f"{table}: duplicate segment id {ids[first]!r} (row {first + 2})")
    has = set(read.column_names)

    def optional(column: str) -> list:  # None where absent or empty
        return _coded_column(read.column(column), lambda v: v or None) if column in has else [None] * n

    def seconds(column: str) -> list:  # floats, None where absent or not a number
        if column not in has:
            return [None] * n
        values = pd.to_numeric(pd.Series(read.column(column).to_pylist(), dtype=object), errors="coerce")
        return values.astype(object).where(values.notna(), None).tolist()

    # a split cell names a split (checked once per distinct value) or is empty: then it is drawn from the id
    splits = (_coded_column(read.column("split"), lambda v: _check_split(v, str(table)) if v.strip() else None)
              if "split" in has else [None] * n)
    splits = [s or hash_split(i) for s, i in zip(splits, ids)]
    segments = SegmentTable({"id": ids, "text": read.column("text").to_pylist() if "text" in has else [""] * n,
                             "image_path": [None] * n, "split": splits, "category": optional("category"),
                             "video_id": optional("video_id"), "start": seconds("start"), "end": seconds("end")})
    return Collection(name=name or root.name, root=root, layout="features", segments=segments, features=features,
                      source_files=(table, npz))


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
