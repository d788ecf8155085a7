"""Collection loaders: the four layouts, and clear errors for every malformed input."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.data.collection import CollectionError, Segment, SegmentTable, hash_split, load_collection
from explorer.data.images import ImageInputError, keyframes_uint8

from .conftest import CATEGORIES, make_folder_collection


def test_folder_layout_reads_segments_metadata(tiny_collection):
    coll = load_collection(tiny_collection)
    assert coll.layout == "folder" and len(coll) == 4 * 12
    assert set(coll.split_names()) == {"train", "val", "test"}
    assert coll.counts()["category"] == {c: 12 for c in sorted(CATEGORIES)}
    seg = coll.segments[coll.index_of("rose_000")]
    assert seg.category == "rose" and seg.split == "train" and "red layered petals" in seg.text
    assert len(coll.subset("train")) == 4 * 8


def test_folder_layout_without_metadata_uses_stable_hash_split(tmp_path):
    root = make_folder_collection(tmp_path / "c")
    (root / "segments.tsv").unlink()
    coll = load_collection(root)
    assert all(s.category is None for s in coll.segments)
    assert [s.split for s in coll.segments] == [hash_split(s.id) for s in coll.segments]


def test_folder_layout_video_times(tmp_path):
    root = make_folder_collection(tmp_path / "c", per_category=2)
    (root / "segments.tsv").write_text("id\tsplit\tvideo_id\tstart\tend\nrose_000\ttrain\tv1\t10.5\t40\n")
    seg = load_collection(root).segments[load_collection(root).index_of("rose_000")]
    assert (seg.video_id, seg.start, seg.end) == ("v1", 10.5, 40.0)


def test_missing_keyframe_is_reported_not_silent(tmp_path):
    root = make_folder_collection(tmp_path / "c", per_category=2)
    (root / "rose_001.png").unlink()
    coll = load_collection(root)
    assert "rose_001" not in coll.ids
    assert any("rose_001" in s and "without keyframe" in s for s in coll.skipped)


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda r: (r / "rose_000.txt").write_text("   \n\n"), "empty"),
        (lambda r: (r / "segments.tsv").write_text("id\tsplit\nrose_000\tholdout\n"), "unknown split 'holdout'"),
        (lambda r: (r / "rose_000.txt").write_bytes(b"caf\xe9 \xff\xfe"), "not UTF-8"),
        (lambda r: (r / "segments.tsv").write_text("id\tsplit\nghost\ttrain\n"), "'ghost'"),
        (lambda r: (r / "rose_000.jpg").write_bytes(b"x"), "two keyframes"),
    ],
)
def test_malformed_folder_collections_fail_clearly(tmp_path, breakage, message):
    root = make_folder_collection(tmp_path / "c", per_category=2)
    breakage(root)
    with pytest.raises(CollectionError, match=message):
        load_collection(root)


def test_unreadable_keyframe_fails_naming_the_file(tmp_path):
    root = make_folder_collection(tmp_path / "c", per_category=2)
    (root / "rose_001.png").write_bytes(b"this is not a png at all")
    coll = load_collection(root)
    with pytest.raises(ImageInputError, match="rose_001"):
        keyframes_uint8(coll)


def test_pairs_tsv_duplicate_ids_and_missing_images(tmp_path):
    root = make_folder_collection(tmp_path / "c", per_category=2)
    rows = ["id\tcategory\timage_path\ttext_path\tsplit", "a\trose\trose_000.png\trose_000.txt\ttrain",
            "b\trose\tmissing.png\trose_001.txt\ttrain", "c\trose\t\trose_001.txt\ttrain"]
    (root / "pairs.tsv").write_text("\n".join(rows) + "\n")
    coll = load_collection(root)
    assert coll.layout == "pairs_tsv" and coll.ids == ["a"]
    assert len(coll.skipped) == 2 and "image file missing" in coll.skipped[0]
    (root / "pairs.tsv").write_text("\n".join(rows[:2] + [rows[1]]) + "\n")
    with pytest.raises(CollectionError, match="duplicate segment id 'a'"):
        load_collection(root)


@pytest.mark.parametrize("column, value", [("text_path", "/etc/passwd"), ("text_path", "../outside.txt"),
                                           ("image_path", "sub/../../outside.png"), ("image_path", "C:\\x.png")])
def test_pairs_tsv_paths_outside_the_collection_are_refused_naming_the_row(tmp_path, column, value):
    root = make_folder_collection(tmp_path / "c", per_category=2)
    (tmp_path / "outside.txt").write_text("a secret\n")
    (tmp_path / "outside.png").write_bytes((root / "rose_000.png").read_bytes())
    row = {"id": "a", "category": "rose", "image_path": "rose_000.png", "text_path": "rose_000.txt", "split": "train"}
    row[column] = value
    (root / "pairs.tsv").write_text("id\tcategory\timage_path\ttext_path\tsplit\n" + "\t".join(row.values()) + "\n")
    with pytest.raises(CollectionError, match=rf"line 2 \(segment 'a', {column}\): path .* is outside the collection folder"):
        load_collection(root)


def test_unknown_collection_name_lists_known(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_DATA", str(tmp_path))
    make_folder_collection(tmp_path / "mine", per_category=1)
    with pytest.raises(CollectionError, match="no collection 'nope'.*mine"):
        load_collection("nope")
    assert load_collection("mine").name == "mine"


def test_keyframes_are_64x64_uint8_and_cached(tiny_collection):
    coll = load_collection(tiny_collection)
    a = keyframes_uint8(coll)
    assert a.shape == (len(coll), 64, 64, 3) and a.dtype == np.uint8
    b = keyframes_uint8(coll)
    np.testing.assert_array_equal(a, b)


@pytest.mark.integration
def test_real_collections_load(shared_data):
    flowers = load_collection("flowers102_reed")
    assert len(flowers) == 8189 and flowers.counts()["split"] == {"train": 6552, "val": 818, "test": 819}
    assert len(flowers.counts()["category"]) == 102 and not flowers.skipped
    wiki = load_collection("wikipedia")
    assert wiki.features["image"].shape == (2866, 128) and wiki.features["text"].shape == (2866, 10)
    assert wiki.counts()["split"] == {"train": 2173, "test": 693}
    np.testing.assert_allclose(wiki.features["image"].sum(1), 1.0, atol=1e-4)  # BoW histograms
    pascal = load_collection("pascal_sentence")
    assert len(pascal) == 47 and len(pascal.skipped) == 953  # reported, not silent


def _features_collection(root, n=40, header="id\tsplit\tcategory\ttext", rows=None, image=None, text=None):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = rows if rows is not None else [f"s{i}\t{['train', 'val', 'test', 'Valid'][i % 4]}\t{'ab'[i % 2]}\tword {i}"
                                          for i in range(n)]
    (root / "segments.tsv").write_text("\n".join([header, *rows]) + "\n")
    np.savez(root / "features.npz", image=image if image is not None else rng.normal(size=(n, 6)).astype(np.float16),
             text=text if text is not None else rng.normal(size=(n, 4)).astype(np.float32))
    return root


def test_features_layout_reads_table_and_arrays(tmp_path):
    root = _features_collection(tmp_path / "f")
    coll = load_collection(root)
    assert coll.layout == "features" and len(coll) == 40 and not coll.has_images
    assert coll.features["image"].dtype == np.float32 and coll.features["image"].shape == (40, 6)
    z = np.load(root / "features.npz")
    np.testing.assert_array_equal(coll.features["image"], z["image"].astype(np.float32))
    assert [s.split for s in coll.segments[:4]] == ["train", "val", "test", "val"]  # "Valid" read as val
    assert coll.segments[3].category == "b" and coll.segments[3].text == "word 3" and coll.segments[3].start is None
    # no split column: the stable hash split; times when given
    rows = [f"s{i}\tv{i % 2}\t{i * 10}\t{i * 10 + 8.5}" for i in range(40)]
    coll = load_collection(_features_collection(tmp_path / "g", header="id\tvideo_id\tstart\tend", rows=rows))
    assert [s.split for s in coll.segments] == [hash_split(s.id) for s in coll.segments]
    assert coll.has_times and coll.segments[2].end == 28.5 and coll.segments[2].video_id == "v0"


def test_features_layout_opens_without_reading_features(tmp_path):
    """A million-row collection must open in about a second: segments as columns, float32 features memory-mapped
    on first use (float16 ones read and converted then), widths from the file headers."""
    rng = np.random.default_rng(1)
    image32, text16 = rng.normal(size=(40, 6)).astype(np.float32), rng.normal(size=(40, 4)).astype(np.float16)
    coll = load_collection(_features_collection(tmp_path / "f", image=image32, text=text16))
    assert isinstance(coll.segments, SegmentTable) and coll.features.loaded == ()
    assert coll.feature_dims() == {"image": 6, "text": 4} and coll.features.loaded == ()  # from the headers
    assert not coll.has_images and coll.split_names() == ["train", "val", "test"]
    assert coll.features.loaded == ()
    image = coll.features["image"]
    assert isinstance(image, np.memmap) and not image.flags.writeable  # mapped, read-only
    np.testing.assert_array_equal(image, image32)
    assert coll.features.loaded == ("image",)
    text = coll.features["text"]
    assert text.dtype == np.float32 and not isinstance(text, np.memmap)
    np.testing.assert_array_equal(text, text16.astype(np.float32))


def test_segment_table_behaves_like_the_list_of_segments(tmp_path):
    coll = load_collection(_features_collection(tmp_path / "f"))
    table = coll.segments
    built = [Segment(*(table.columns[f][i] for f in table.columns)) for i in range(len(table))]
    assert list(table) == built and table[-1] == built[-1] and table[3:7] == built[3:7]
    assert coll.ids == [s.id for s in built] and coll.column("split") == [s.split for s in built]
    assert coll.column("category", [7, 2]) == [built[7].category, built[2].category]
    assert coll.index_of("s12") == 12 and coll.id_index["s39"] == 39
    val = coll.subset("val")
    assert isinstance(val.segments, SegmentTable) and list(val.segments) == [s for s in built if s.split == "val"]
    np.testing.assert_array_equal(val.features["image"], coll.features["image"][coll.split_positions("val")])
    assert coll.counts() == {"split": {"train": 10, "val": 20, "test": 10}, "category": {"a": 20, "b": 20}}
    with pytest.raises(KeyError, match="no segment field 'colour'"):
        coll.column("colour")


def test_features_digest_is_cached_by_file_state(tmp_path, monkeypatch):
    """The digest of a features collection equals its fingerprint, is kept on disk for the next process, and
    changes when a file changes (the cache is keyed by path, size and mtime)."""
    from explorer.data.collection import Collection

    root = _features_collection(tmp_path / "f")
    first = load_collection(root)
    assert first.digest == first.fingerprint()
    with monkeypatch.context() as m:  # a later load reads the digest, hashing nothing
        m.setattr(Collection, "fingerprint", lambda self: pytest.fail("hashed again"))
        assert load_collection(root).digest == first.digest
    rows = (root / "segments.tsv").read_text().replace("word 5\n", "word five\n")
    (root / "segments.tsv").write_text(rows)
    changed = load_collection(root)
    assert changed.digest != first.digest and changed.digest == changed.fingerprint()
    assert first.subset("val").digest == first.subset("val").fingerprint() != first.digest


@pytest.mark.parametrize("change, message", [
    (dict(header="name\tsplit"), "no 'id' column"),
    (dict(image=np.zeros((39, 6), np.float32)), r"'image' is \(39, 6\), expected \(40, dim\)"),
    (dict(rows=[f"s{min(i, 38)}\ttrain\ta\tw" for i in range(40)]), "duplicate segment id 's38' \\(row 41\\)"),
    (dict(rows=[f"s{i}\t{'dev' if i == 7 else 'train'}\ta\tw" for i in range(40)]), "unknown split 'dev'"),
    (dict(rows=[f"s{i}\ttrain" + ("" if i == 9 else "\ta\tw") for i in range(40)]),
     r"segments.tsv: cannot read the table \(.*Expected 4 columns, got 2: s9\ttrain"),
])
def test_features_layout_errors_name_the_problem(tmp_path, change, message):
    root = _features_collection(tmp_path / "bad", **change)
    with pytest.raises(CollectionError, match=message):
        load_collection(root)
