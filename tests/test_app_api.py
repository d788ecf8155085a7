"""The facade behind the app (``explorer.api``): listings, search, retrieval views, projection cache, and
every bad input the app must answer with a clear message."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from PIL import Image

from explorer import api
from explorer.checkpoint import CheckpointError
from explorer.data.collection import CollectionError
from explorer.data.images import ImageInputError
from explorer.data.text import OutOfVocabularyError

from .app_fixtures import app_data, app_env  # noqa: F401  (fixtures)


def _png(size=(64, 64), color=(200, 30, 30), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color if mode == "RGB" else 0).save(buf, format="PNG")
    return buf.getvalue()


def test_explorer_package_never_imports_streamlit():
    import subprocess

    code = ("import sys, explorer.api, explorer.jobs, explorer.projection; "
            "sys.exit(1 if 'streamlit' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_checkpoint_refs_are_confined_to_the_listed_folders(app_env, tmp_path):
    import shutil

    outside = tmp_path / "elsewhere" / "gan_cls-tiny.pt"
    outside.parent.mkdir()
    shutil.copy2(app_env["ckpt"], outside)
    for ref in (str(outside), "extra/../elsewhere/gan_cls-tiny.pt", f"shipped/../../{outside.relative_to(outside.anchor)}"):
        with pytest.raises(CheckpointError, match="outside the checkpoint folders|no checkpoint"):
            api.resolve_checkpoint(ref)
    with pytest.raises(CheckpointError, match="outside the checkpoint folders"):
        api.resolve_checkpoint(str(outside))
    assert api.resolve_checkpoint(str(app_env["ckpt"])) == app_env["ckpt"]  # a listed file by its path is fine


def test_listings_and_defaults(app_env):
    assert api.list_collections() == ["clips", "tiny"]
    assert api.default_collection() in ("clips", "tiny")
    entries = {e["id"]: e for e in api.list_checkpoints()}
    assert entries["extra/gan_cls-tiny.pt"]["supported"] and entries["extra/gan_cls-tiny.pt"]["collection"] == "tiny"
    bogus = entries["extra/bogus-tiny.pt"]
    assert not bogus["supported"] and "unknown model kind 'bogus'" in bogus["problem"]
    assert api.default_checkpoint("tiny") == "extra/gan_cls-tiny.pt"  # never the unusable one
    assert api.resolve_checkpoint("extra/gan_cls-tiny.pt") == app_env["ckpt"]
    card = api.model_card("extra/gan_cls-tiny.pt")
    assert card["kind"] == "gan_cls" and card["generative"] and card["progress"]["epoch"] == 1
    assert api.embedding_dims("extra/gan_cls-tiny.pt") == {"joint": 4096}
    summary = api.collection_summary("clips")
    assert summary["has_times"] and summary["n_videos"] == 2 and summary["n_segments"] == 24


def test_finished_run_checkpoints_are_listed(app_env, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    (runs / "gan_cls-tiny-x").mkdir(parents=True)
    import shutil

    shutil.copy2(app_env["ckpt"], runs / "gan_cls-tiny-x" / "best.pt")
    (runs / "gan_cls-tiny-x" / "log.jsonl").write_text('{"type": "status", "status": "finished"}\n')
    monkeypatch.setenv("EXPLORER_RUNS", str(runs))
    ids = [e["id"] for e in api.list_checkpoints()]
    assert "runs/gan_cls-tiny-x/best.pt" in ids
    assert api.resolve_checkpoint("runs/gan_cls-tiny-x/best.pt") == runs / "gan_cls-tiny-x" / "best.pt"


def test_search_segments(app_env):
    coll = api.get_collection("tiny")
    assert api.search_segments(coll, "rose_003")[0] == api.segment_index(coll, "rose_003")
    purple = api.search_segments(coll, "deep purple")
    assert purple and all(coll.segments[i].category == "violet" for i in purple)
    assert all(coll.segments[i].split == "test" for i in api.search_segments(coll, "lily", split="test"))
    assert api.search_segments(coll, "no-such-thing-anywhere") == []


def test_transcript_checks_and_generation(app_env):
    ref = "extra/gan_cls-tiny.pt"
    vocab = api.check_transcript(ref, "Yellow petals and zzzq")
    assert vocab["known"] == ["yellow", "petals", "and"] and vocab["unknown"] == ["zzzq"]
    for empty in ("", "   ", "!!! ..."):
        with pytest.raises(api.EmptyTranscriptError, match="empty"):
            api.check_transcript(ref, empty)
    with pytest.raises(OutOfVocabularyError, match="zzzq, qqqz"):
        api.check_transcript(ref, "zzzq qqqz zzzq")
    a = api.generate(ref, "yellow petals", n=3, seed=5)
    b = api.generate(ref, "yellow petals", n=3, seed=5)
    assert a["images"].shape == (3, 64, 64, 3) and a["images"].dtype == np.uint8
    assert np.array_equal(a["images"], b["images"])  # seeded


def test_upload_validation(app_env):
    assert api.inspect_upload(_png(), "ok.png")["format"] == "PNG"
    with pytest.raises(ImageInputError, match="not an image") as info:
        api.inspect_upload(b"%PDF-1.4 definitely not an image", "notes.pdf")
    assert "Error" not in str(info.value) and "not in any image format" in str(info.value)  # no class names
    with pytest.raises(ImageInputError, match="empty"):
        api.inspect_upload(b"", "empty.png")
    big = _png(size=(10_000, 5_000), mode="L")  # 50 megapixels, a few kB of PNG
    with pytest.raises(ImageInputError, match="50 megapixels; the limit is 40 MP"):
        api.inspect_upload(big, "huge.png")
    with pytest.raises(ImageInputError, match="8x8"):
        api.inspect_upload(_png(size=(4, 4)), "tiny.png")
    # odd modes are converted, not rejected
    buf = io.BytesIO()
    Image.new("RGBA", (80, 60), (0, 0, 255, 128)).save(buf, format="PNG")
    assert api.inspect_upload(buf.getvalue(), "alpha.png")["mode"] == "RGBA"
    words = api.image_top_words("extra/gan_cls-tiny.pt", buf.getvalue(), k=5)
    assert [w["rank"] for w in words] == [1, 2, 3, 4, 5] and all(isinstance(w["word"], str) for w in words)


def test_missing_collection_and_bad_checkpoints(app_env, tmp_path):
    with pytest.raises(CollectionError, match="no collection 'nope'.*known: clips, tiny"):
        api.get_collection("nope")
    with pytest.raises(CheckpointError, match="unknown model kind 'bogus'"):
        api.model_card("extra/bogus-tiny.pt")
    with pytest.raises(CheckpointError, match="unknown model kind"):
        api.model("extra/bogus-tiny.pt")
    with pytest.raises(CheckpointError, match="no checkpoint 'extra/missing.pt'"):
        api.resolve_checkpoint("extra/missing.pt")
    with pytest.raises(CheckpointError, match="no checkpoint chosen"):
        api.resolve_checkpoint(None)
    from explorer.paths import runs_dir

    junk = runs_dir() / "junk.pt"  # inside a listed folder: opened, and refused for what it is
    junk.parent.mkdir(parents=True, exist_ok=True)
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a readable explorer checkpoint"):
        api.model(str(junk))


def test_data_problem_without_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("EXPLORER_DATA", str(tmp_path / "absent"))
    assert api.list_collections() == []
    assert "EXPLORER_DATA" in api.data_problem()
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("EXPLORER_DATA", str(empty))
    assert "holds no collection" in api.data_problem()


def test_hyperlinks_match_the_evaluation_protocol(app_env):
    from explorer.evaluate import evaluate

    ref = "extra/gan_cls-tiny.pt"
    coll = api.get_collection("tiny")
    rows = api.category_metrics(ref, coll, "all")
    overall = rows[-1]
    expected = evaluate(str(app_env["ckpt"]), coll, split="all", progress=False)["hyperlinking"]
    assert overall["category"] == "(all)"
    assert overall["p@k"] == pytest.approx(expected["p@10"]) and overall["map"] == pytest.approx(expected["map"])
    res = api.anchor_hyperlinks(ref, coll, "rose_003", "all", n=10)
    assert res["anchor"]["id"] == "rose_003" and len(res["targets"]) == 10
    assert [t["rank"] for t in res["targets"]] == list(range(1, 11))
    assert all(t["id"] != "rose_003" for t in res["targets"])  # the anchor is never its own target
    scores = [t["score"] for t in res["targets"]]
    assert scores == sorted(scores, reverse=True)
    assert all(t["relevant"] == (t["category"] == "rose") for t in res["targets"])
    assert res["pk"] == pytest.approx(sum(t["relevant"] for t in res["targets"]) / 10)
    with pytest.raises(KeyError, match="in the 'train' split, not in 'test'"):
        api.anchor_hyperlinks(ref, coll, "rose_000", "test")
    conf = api.category_confusion(ref, coll, "all")
    assert conf["counts"].sum() == 48 * 10 and np.allclose(conf["share"].sum(axis=1), 1)
    worst = api.worst_anchors(ref, coll, "all", "rose", n=2)
    assert len(worst) == 2 and worst[0]["ap"] <= worst[1]["ap"]
    steal = api.stealers(ref, coll, "all", "rose")
    assert sum(s["places"] for s in steal) == 12 * 10


def test_projection_is_cached_on_disk(app_env, monkeypatch):
    ref = "extra/gan_cls-tiny.pt"
    assert api.projection_ready(ref, "tiny")  # computed by the fixture
    import explorer.projection as projection

    def boom(*a, **k):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(projection, "project", boom)
    proj = api.joint_projection(ref, "tiny")
    assert len(proj["x"]) == 48 and set(proj["modality"]) == {"joint"}
    assert sorted(proj["id"]) == sorted(api.get_collection("tiny").ids)
    assert np.isfinite(proj["x"]).all() and np.isfinite(proj["y"]).all()


def test_projection_groups_modalities():
    from explorer.projection import project

    rng = np.random.default_rng(0)
    emb = {"joint": rng.normal(size=(10, 32)), "image": rng.normal(size=(10, 8)), "text": rng.normal(size=(10, 8))}
    out = project(emb, {"method": "pca"})
    assert len(out["x"]) == 30 and list(dict.fromkeys(out["modality"])) == ["joint", "image", "text"]
    assert set(out["group"][out["modality"] == "image"]) == set(out["group"][out["modality"] == "text"]) != {0}


def test_selection_csv(app_env):
    csv = api.selection_csv("clips", ["rose_001", "nope", "rose_001", "lily_002"])
    lines = csv.strip().splitlines()
    assert lines[0] == "id,category,split,transcript,video_id,start,end"
    assert len(lines) == 3 and lines[1].startswith("rose_001,rose,") and "video" in lines[1]


def test_a_checkpoint_whose_weights_do_not_fit_is_listed_unusable(app_env):
    from explorer import checkpoint as ckpt_io
    from explorer.paths import runs_dir

    ckpt = ckpt_io.load(app_env["ckpt"])
    ckpt["config"]["embed_channels"] = 128  # an older/other model layout than its weights
    run = runs_dir() / "gan_cls-tiny-mismatch"
    ckpt_io.save(ckpt, run / "best.pt")
    entry = {e["id"]: e for e in api.list_checkpoints()}["runs/gan_cls-tiny-mismatch/best.pt"]
    assert not entry["supported"] and "do not fit the model its config describes" in entry["problem"]
    assert "D.joint_conv.weight" in entry["problem"] and "\n" not in entry["problem"]
    assert {e["id"]: e for e in api.list_checkpoints()}["extra/gan_cls-tiny.pt"]["supported"]


def test_checkpoint_verdicts_are_cached_on_disk(app_env, monkeypatch):
    """A new process lists checkpoints without building every model again: the "fits" verdict is kept on disk
    per file (path, mtime, size) and model code, and recomputed when the file changes."""
    from explorer import checkpoint as ckpt_io
    from explorer.api import checkpoints
    from explorer.paths import runs_dir

    ckpt = ckpt_io.load(app_env["ckpt"])
    ckpt["config"]["embed_channels"] = 128
    path = runs_dir() / "gan_cls-tiny-verdict" / "best.pt"
    ckpt_io.save(ckpt, path)
    first = {e["id"]: e for e in api.list_checkpoints()}
    checkpoints._summary.memo.clear()  # as in a new process
    with monkeypatch.context() as m:
        m.setattr(ckpt_io, "check_fits", lambda p: pytest.fail(f"checked {p} again"))
        again = {e["id"]: e for e in api.list_checkpoints()}
    assert again["runs/gan_cls-tiny-verdict/best.pt"]["problem"] == first["runs/gan_cls-tiny-verdict/best.pt"]["problem"]
    assert again["extra/gan_cls-tiny.pt"]["supported"]
    ckpt_io.save(ckpt_io.load(app_env["ckpt"]), path)  # the file now fits: a new verdict
    checkpoints._summary.memo.clear()
    assert {e["id"]: e for e in api.list_checkpoints()}["runs/gan_cls-tiny-verdict/best.pt"]["supported"]


def test_collection_warnings_say_when_numbers_mean_nothing(tmp_path):
    from explorer import api
    from tests.conftest import make_folder_collection

    root = make_folder_collection(tmp_path / "ok")
    assert not any("same category" in w or "skipped" in w for w in api.collection_warnings(str(root)))
    # one category left, most rows skipped, tiny splits: as pascal_sentence without its images
    one = tmp_path / "one"
    one.mkdir()
    rows = ["id\tcategory\timage_path\ttext_path\tsplit"]
    from PIL import Image

    for i in range(30):
        (one / f"t{i}.txt").write_text(f"a plane number {i}\n")
        if i < 4:
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(one / f"i{i}.jpg")
        rows.append(f"s{i}\t{'plane' if i < 4 else 'boat'}\ti{i}.jpg\tt{i}.txt\t{'train' if i % 2 else 'test'}")
    (one / "pairs.tsv").write_text("\n".join(rows) + "\n")
    warnings = api.collection_warnings(str(one))
    text = " ".join(warnings)
    assert "26 of 30 rows" in text and "same category ('plane')" in text and "fewer than 11 segments" in text


def test_collections_without_keyframes_show_a_placeholder_not_none(tmp_path):
    from explorer import api
    from tests.test_models_neural import make_feature_collection

    root = make_feature_collection(tmp_path / "feat")
    coll = api.get_collection(str(root))
    uri = api.thumbnail_uri(coll, coll.segments[0].id)
    assert uri == api.NO_KEYFRAME_URI and uri.startswith("data:image/svg+xml") and "keyframe" in uri
    assert api.keyframe(coll, coll.segments[0].id) is None
    import pytest

    with pytest.raises(KeyError):
        api.thumbnail_uri(coll, "no_such_segment")


def test_shown_text_caps_what_a_page_sends():
    from explorer import api

    assert api.shown_text("short") == "short"
    long = "word " * 300_000  # 1.5 MB
    shown = api.shown_text(long)
    assert len(shown) < api.SHOWN_TEXT_CHARS + 60 and shown.endswith("more characters not shown)")
    assert f"{len(long) - api.SHOWN_TEXT_CHARS:,}" in shown


def test_hyperlinks_ready_says_when_no_embedding_is_needed(app_env):
    from explorer import api

    coll = api.get_collection("tiny")
    ref = app_env["ckpt_id"]
    split = api.default_split(coll)
    api.hyperlink_index(ref, coll, split)
    assert api.hyperlinks_ready(ref, coll, split)
    assert not api.hyperlinks_ready(ref, coll, split, k=7)  # another cut-off: not computed yet


def _mostly_imageless(root: Path, per_category: int = 12) -> Path:
    """A pairs.tsv collection shaped like Pascal Sentence here: every row has a text, only one category's rows
    have their image."""
    from .conftest import make_folder_collection

    src = make_folder_collection(root / "src", per_category=per_category)
    rows = ["id\tcategory\timage_path\ttext_path\tsplit"]
    for line in (src / "segments.tsv").read_text().splitlines()[1:]:
        sid, _split, cat = line.split("\t")
        rows.append(f"{sid}\t{cat}\t{'src/' + sid + '.png' if cat == 'sunflower' else ''}\tsrc/{sid}.txt\t")
    (root / "pairs.tsv").write_text("\n".join(rows) + "\n")
    return root


def test_text_view_ranks_every_text_of_a_mostly_imageless_collection(tmp_path):
    root = _mostly_imageless(tmp_path / "pascalish")
    coll = api.get_collection(str(root))
    n_all = len((root / "pairs.tsv").read_text().splitlines()) - 1
    assert api.text_view_available(coll) and len(coll) < n_all / 2
    assert any("text-only view" in w for w in api.collection_warnings(coll))
    view = api.text_view(coll)
    rows = view["per_category"]
    assert view["n_texts"] == n_all and view["n_categories"] == len(rows) - 1 == 4
    assert rows[-1]["category"] == "(all)" and rows[-1]["n"] == n_all
    assert rows[-1]["p@k"] > 0.5  # each category's texts share their words: far above random (0.25)
    from .conftest import make_folder_collection

    complete = api.get_collection(str(make_folder_collection(tmp_path / "complete", per_category=3)))
    assert not api.text_view_available(complete)  # nothing skipped: no view to offer


def test_a_split_above_the_scale_threshold_is_ranked_through_the_ann_index(app_env, monkeypatch):
    """Above ``SCALE_ABOVE`` an anchor's targets come from the split's ANN index (here forced to FAISS IVF on
    the tiny collection), the hyperlink index covers a seeded sample of anchors, and both agree with the exact
    ranking where the index finds the exact neighbours."""
    from explorer import ann
    from explorer.api import retrieval

    ref, coll = app_env["ckpt_id"], api.get_collection("tiny")
    exact = api.anchor_hyperlinks(ref, coll, "rose_003", "all", n=10)
    exact_index = api.hyperlink_index(ref, coll, "all")
    assert exact["scale"] is None and exact["ap_label"] == "AP"

    monkeypatch.setattr(retrieval, "SCALE_ABOVE", 10)  # 48 segments: "at scale"
    monkeypatch.setattr(retrieval, "SAMPLED_ANCHORS", 20)
    monkeypatch.setattr(ann, "EXACT_BELOW", 1_000_000)  # the index itself exact: results comparable row by row
    res = api.anchor_hyperlinks(ref, coll, "rose_003", "all", n=10)
    assert res["scale"]["n"] == 48 and res["scale"]["kind"] == "exact" and res["ap_label"] == "AP@50"
    assert [t["id"] for t in res["targets"]] == [t["id"] for t in exact["targets"]]
    np.testing.assert_allclose([t["score"] for t in res["targets"]], [t["score"] for t in exact["targets"]], atol=1e-5)
    assert res["pk"] == pytest.approx(exact["pk"]) and res["n_gallery"] == exact["n_gallery"] == 47
    assert res["ap"] == pytest.approx(exact["ap"], abs=1e-6)  # 47 targets < T = 50: AP@50 is the full AP

    sampled = api.hyperlink_index(ref, coll, "all")
    assert len(sampled["idx"]) == 20 and int(sampled["sampled_of"][0]) == 48
    assert len(set(sampled["idx"].tolist())) == 20 and np.all(np.diff(sampled["idx"]) > 0)
    rows = np.searchsorted(exact_index["idx"], sampled["idx"])
    np.testing.assert_allclose(sampled["pk"], exact_index["pk"][rows])
    np.testing.assert_allclose(sampled["ap"], exact_index["ap"][rows], atol=1e-6)
    # the same neighbours up to the order of (near-)tied cosines
    np.testing.assert_allclose(sampled["scores"][:, :10], exact_index["scores"][rows, :10], atol=1e-5)
    assert np.mean(sampled["top"][:, :10] == exact_index["top"][rows, :10]) > 0.9
    assert api.category_metrics(ref, coll, "all")[-1]["n"] == 20  # the per-category views read the sample

    monkeypatch.setattr(ann, "EXACT_BELOW", 20)  # now a FAISS IVF index, nprobe chosen for recall@10 >= 0.95
    res = api.anchor_hyperlinks(ref, coll, "lily_001", "all", n=10)
    assert res["scale"]["kind"] == "ivf" and res["scale"]["recall@10"] >= 0.95
    assert len(res["targets"]) == 10 and all(t["id"] != "lily_001" for t in res["targets"])
    assert sum(t["relevant"] for t in res["targets"]) / 10 == pytest.approx(res["pk"])


def test_joint_selection_resolves_boxes_and_lassos_over_every_point(app_env):
    from explorer.projection import in_polygon

    ref, coll = app_env["ckpt_id"], api.get_collection("tiny")
    pts = api.joint_points(ref, coll)
    x, y = pts["x"], pts["y"]
    everything = {"x": [float(x.min()) - 1, float(x.max()) + 1], "y": [float(y.min()) - 1, float(y.max()) + 1]}
    assert api.joint_selection(ref, coll, ["joint"], boxes=[everything]) == list(range(48))
    assert api.joint_selection(ref, coll, ["no such modality"], boxes=[everything]) == []
    mid_x, mid_y = float(np.median(x)), float(np.median(y))
    box = {"x": [mid_x, float(x.max())], "y": [mid_y, float(y.max())]}
    want = sorted(int(s) for s, a, b in zip(pts["segment"], x, y) if mid_x <= a <= x.max() and mid_y <= b <= y.max())
    assert api.joint_selection(ref, coll, ["joint"], boxes=[box]) == want and 0 < len(want) < 48
    tri = {"x": [float(x.min()), float(x.max()), mid_x], "y": [float(y.min()), float(y.min()), float(y.max())]}
    got = api.joint_selection(ref, coll, ["joint"], lassos=[tri])
    assert got == sorted(set(pts["segment"][in_polygon(x, y, tri["x"], tri["y"])].tolist()))
    assert set(got) | set(want) == set(api.joint_selection(ref, coll, ["joint"], boxes=[box], lassos=[tri]))
    names, codes = api.point_groups(coll, pts["segment"], pts["modality"], "category")
    assert sorted(names) == ["lily", "rose", "sunflower", "violet"]
    assert all(names[c] == coll.segments[s].category for c, s in zip(codes, pts["segment"]))


def test_plotly_text_makes_html_inert_and_reads_the_same():
    from explorer.api import plotly_text

    assert plotly_text('<a href="http://x">y</a> & <br>') == '&lt;a href="http://x"&gt;y&lt;/a&gt; &amp; &lt;br&gt;'
    assert plotly_text("&lt;") == "&amp;lt;"  # an entity in the text is shown as typed, not decoded
    assert plotly_text("daffodil 12") == "daffodil 12" and plotly_text(7) == "7"
