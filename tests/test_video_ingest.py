"""``explorer ingest`` end to end on videos generated with PyAV, bad inputs included."""

from __future__ import annotations

import json
import math
import os
import shutil

import numpy as np
import pytest

pytest.importorskip("av")

from explorer.data.collection import hash_split, load_collection  # noqa: E402
from explorer.paths import data_root  # noqa: E402
from explorer.video.ingest import IngestError, IngestParams, format_report, ingest  # noqa: E402
from explorer.video.segmentation import segment_cues  # noqa: E402
from explorer.video.subtitles import Cue, read_subtitles, to_srt  # noqa: E402
from explorer.video.synth import make_cues, make_video, write_subtitles  # noqa: E402

PARAMS = IngestParams(segment_seconds=20, min_seconds=10, max_seconds=60, sample_fps=2.0)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """A folder with good and bad videos; built once per module (about 2 s)."""
    d = tmp_path_factory.mktemp("videos")
    # good: 70 s mp4 with regular SRT cues
    make_video(d / "long.mp4", 70)
    write_subtitles(d / "long.srt", make_cues(70, every=3.0, length=2.5, prefix="long"))
    # good: mkv with a WebVTT file that has a BOM, CRLF line endings, tags and cue settings
    make_video(d / "second.mkv", 35)
    vtt = "\ufeffWEBVTT\r\n\r\n" + "".join(
        f"00:00:{2 * k:02d}.000 --> 00:00:{2 * k + 1:02d}.500 line:80%\r\n<i>second {k}</i>\r\n\r\n" for k in range(17)
    )
    (d / "second.vtt").write_bytes(vtt.encode("utf-8"))
    # webm, subtitles in Windows-1252 with out-of-order and overlapping cues
    make_video(d / "messy.webm", 24)
    cues = [Cue(12, 15, "d\u00e9j\u00e0 vu"), Cue(0.5, 4, "caf\u00e9 one"), Cue(3, 6, "two"), Cue(6.5, 9, "three"), Cue(16, 22, "four")]
    (d / "messy.srt").write_bytes(to_srt(cues).encode("cp1252"))
    # a video without subtitles
    make_video(d / "nosubs.mp4", 12)
    # a video shorter than the minimum segment
    make_video(d / "tiny.mp4", 5)
    write_subtitles(d / "tiny.srt", [Cue(0.5, 4.5, "too short")])
    # a corrupt video (garbage bytes)
    (d / "corrupt.mp4").write_bytes(os.urandom(20_000))
    write_subtitles(d / "corrupt.srt", make_cues(30))
    # a truncated video: the second half of an mkv cut off
    make_video(d / "full.mkv", 60)
    data = (d / "full.mkv").read_bytes()
    (d / "full.mkv").unlink()
    (d / "truncated.mkv").write_bytes(data[: len(data) // 2])
    write_subtitles(d / "truncated.srt", make_cues(60, prefix="trunc"))
    # subtitles that are not subtitles
    make_video(d / "badsubs.mp4", 15)
    (d / "badsubs.srt").write_text("this is not a subtitle file\n")
    # a subtitle without any video
    write_subtitles(d / "orphan.srt", make_cues(20))
    return d


@pytest.fixture(scope="module")
def ingested(videos, tmp_path_factory):
    out = tmp_path_factory.mktemp("coll") / "c"
    report = ingest(videos, out, PARAMS, workers=2, progress=False)
    return out, report


def _status(report):
    return {v["video"]: v for v in report["videos"]}


def test_statuses_and_messages(ingested):
    out, report = ingested
    st = _status(report)
    assert {k: v["status"] for k, v in st.items()} == {
        "long.mp4": "ok", "second.mkv": "ok", "messy.webm": "ok", "nosubs.mp4": "no_segments", "tiny.mp4": "no_segments",
        "corrupt.mp4": "failed", "truncated.mkv": "partial", "badsubs.mp4": "no_segments",
    }
    msgs = {k: " | ".join(v["messages"]) for k, v in st.items()}
    assert "no subtitles" in msgs["nosubs.mp4"] and "nosubs.srt" in msgs["nosubs.mp4"]
    assert "shorter than the minimum" in msgs["tiny.mp4"] and "5.00 s" in msgs["tiny.mp4"]
    assert "cannot open as a video" in msgs["corrupt.mp4"]
    assert "truncated" in msgs["truncated.mkv"] and "dropped" in msgs["truncated.mkv"]
    assert "no usable cues" in msgs["badsubs.mp4"]
    assert "Windows-1252" in msgs["messy.webm"] and "out of order" in msgs["messy.webm"] and "overlapping" in msgs["messy.webm"]
    assert any("orphan.srt" in m for m in report["messages"])
    on_disk = json.loads((out / "ingest_report.json").read_text())
    assert on_disk["totals"]["status"] == {"ok": 3, "no_segments": 3, "failed": 1, "partial": 1}
    assert on_disk["totals"]["video_seconds_per_second"] > 0
    text = format_report(report)
    assert "corrupt.mp4: failed" in text and "ingest_report.json" in text


def test_collection_loads_with_times_splits_and_transcripts(ingested, videos):
    out, report = ingested
    col = load_collection(out)
    assert col.layout == "folder" and col.has_times and col.skipped == []
    by_video: dict[str, list] = {}
    for s in col.segments:
        by_video.setdefault(s.video_id, []).append(s)
        assert s.split == hash_split(s.video_id)
        assert PARAMS.min_seconds - 1e-6 <= s.end - s.start <= PARAMS.max_seconds + 1e-6
        assert s.id == f"{s.video_id}_{int(round(s.start * 1000)):08d}"
    assert set(by_video) == {"long", "second", "messy", "truncated"}
    # the collection's segments are exactly the pure segmentation of the cues
    for vid, ext, duration in (("long", "srt", 70.0), ("second", "vtt", 35.0)):
        cues, _ = read_subtitles(videos / f"{vid}.{ext}")
        spans, _ = segment_cues(cues, duration, PARAMS.segment_seconds, PARAMS.min_seconds, PARAMS.max_seconds)
        segs = sorted(by_video[vid], key=lambda s: s.start)
        assert [(s.start, s.end, s.text) for s in segs] == [(round(p.start, 3), round(p.end, 3), p.text) for p in spans]
    assert by_video["second"][0].text.split("\n")[:2] == ["second 0", "second 1"]
    messy = " ".join(s.text for s in by_video["messy"])
    assert "café one" in messy and "déjà vu" in messy
    # truncated: only segments whose frames all decoded, all early in the video
    assert max(s.end for s in by_video["truncated"]) < 45
    # keyframes 64x64 + display copies
    from PIL import Image

    for s in col.segments:
        assert Image.open(s.image_path).size == (64, 64)
        assert min(Image.open(out / "display" / f"{s.id}.jpg").size) == 120  # 160x120 source: never upscaled


def test_nothing_half_written(ingested):
    out, _ = ingested
    names = {p.name for p in out.iterdir()}
    assert not any(n.startswith(("corrupt", "tiny", "nosubs", "badsubs")) for n in names)
    assert not list((out / ".ingest").glob("tmp-*"))
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    markers = sorted(p.stem for p in (out / ".ingest").glob("*.json"))
    assert markers == ["long", "messy", "second", "truncated"]


def test_keyframe_is_median_closest_on_synthetic_video(ingested, videos):
    """Brute force on a generated video: re-sample frames independently, check the chosen time."""
    import av

    out, _ = ingested
    marker = json.loads((out / ".ingest" / "long.json").read_text())
    frames_by_t = {}
    with av.open(str(videos / "long.mp4")) as c:
        for fr in c.decode(video=0):
            frames_by_t[round(fr.time, 4)] = fr.to_ndarray(format="rgb24")
    times = sorted(frames_by_t)
    for row in marker["segments"]:
        start, end, step = row["start"], row["end"], 1.0 / PARAMS.sample_fps
        picked, nxt = [], start
        for t in times:
            if start - 1e-9 <= t < end - 1e-9 and t >= nxt - 1e-9:
                picked.append(t)
                nxt = start + (math.floor((t - start) / step + 1e-9) + 1) * step
        arr = np.stack([frames_by_t[t] for t in picked]).astype(np.int64)
        med = np.sort(arr, axis=0)[(len(picked) - 1) // 2]
        d = [int(np.abs(a - med).sum()) for a in arr]
        assert row["n_frames"] == len(picked)
        assert row["keyframe_time"] == pytest.approx(picked[int(np.argmin(d))], abs=1e-3)


def test_rerun_skips_done_videos_and_redoes_changed_ones(videos, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("long.mp4", "long.srt", "second.mkv", "second.vtt"):
        shutil.copy2(videos / name, src / name)
    out = tmp_path / "out"
    first = ingest(src, out, PARAMS, progress=False)
    assert [v["status"] for v in first["videos"]] == ["ok", "ok"]
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.jpg")}
    again = ingest(src, out, PARAMS, progress=False)
    assert [v["status"] for v in again["videos"]] == ["skipped", "skipped"]
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.jpg")} == before
    assert again["totals"]["segments_in_collection"] == first["totals"]["segments_in_collection"]
    # change one subtitle file: only that video is redone, its old segments are replaced
    write_subtitles(src / "long.srt", [Cue(1, 12, "only cue")])
    third = ingest(src, out, PARAMS, progress=False)
    assert [v["status"] for v in third["videos"]] == ["ok", "skipped"]
    col = load_collection(out)
    assert [s.text for s in col.segments if s.video_id == "long"] == ["only cue"]
    # new parameters: everything redone
    fourth = ingest(src, out, IngestParams(segment_seconds=10, min_seconds=5, max_seconds=30, sample_fps=1), progress=False)
    assert [v["status"] for v in fourth["videos"]] == ["ok", "ok"]
    assert len(load_collection(out)) == fourth["totals"]["segments_in_collection"]


def test_interrupted_run_is_cleaned_up(videos, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy2(videos / "second.mkv", src)
    shutil.copy2(videos / "second.vtt", src)
    out = tmp_path / "out"
    ingest(src, out, PARAMS, progress=False)
    n = len(load_collection(out))
    # simulate a crash: a staging folder, a segment committed without marker, a lost marker
    (out / ".ingest" / "tmp-second-xyz").mkdir()
    (out / ".ingest" / "tmp-second-xyz" / "junk.jpg").write_bytes(b"x")
    shutil.copy2(next(out.glob("second_*.jpg")), out / "second_99999999.jpg")
    (out / "second_99999999.txt").write_text("orphan")
    (out / ".ingest" / "second.json").unlink()
    report = ingest(src, out, PARAMS, progress=False)
    assert report["videos"][0]["status"] == "ok"
    assert not (out / "second_99999999.jpg").exists() and not (out / "second_99999999.txt").exists()
    assert not list((out / ".ingest").glob("tmp-*"))
    assert len(load_collection(out)) == n


def test_failure_while_committing_leaves_no_files(videos, tmp_path, monkeypatch):
    import explorer.video.ingest as ingest_mod

    src = tmp_path / "src"
    src.mkdir()
    for name in ("long.mp4", "long.srt", "second.mkv", "second.vtt"):
        shutil.copy2(videos / name, src / name)
    real_replace = os.replace
    calls = {"n": 0}

    def flaky_replace(a, b):
        if str(b).endswith(".txt") and "long_" in str(b):
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError(28, "No space left on device")
        return real_replace(a, b)

    monkeypatch.setattr(ingest_mod.os, "replace", flaky_replace)
    out = tmp_path / "out"
    report = ingest(src, out, PARAMS, progress=False)
    st = _status(report)
    assert st["long.mp4"]["status"] == "failed" and "No space left" in " ".join(st["long.mp4"]["messages"])
    assert st["second.mkv"]["status"] == "ok"
    assert not [p for p in out.rglob("long_*")]
    assert {s.video_id for s in load_collection(out).segments} == {"second"}
    monkeypatch.setattr(ingest_mod.os, "replace", real_replace)
    again = ingest(src, out, PARAMS, progress=False)
    assert [v["status"] for v in again["videos"]] == ["ok", "skipped"]


def test_refuses_foreign_output_folder_and_bad_arguments(videos, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "something.txt").write_text("hello")
    with pytest.raises(IngestError, match="not written by 'explorer ingest'"):
        ingest(videos, foreign, PARAMS, progress=False)
    with pytest.raises(IngestError, match="does not exist"):
        ingest(tmp_path / "nope", tmp_path / "o", PARAMS, progress=False)
    with pytest.raises(ValueError, match="min <= target <= max"):
        ingest(videos, tmp_path / "o", IngestParams(segment_seconds=5, min_seconds=10), progress=False)
    with pytest.raises(IngestError, match="workers"):
        ingest(videos, tmp_path / "o", PARAMS, workers=0, progress=False)


def test_odd_names_and_language_tagged_subtitles(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    make_video(src / "my clip (1).mp4", 12)
    write_subtitles(src / "my clip (1).en.vtt", [Cue(0.5, 11, "hello there")])
    out = tmp_path / "out"
    report = ingest(src, out, IngestParams(segment_seconds=10, min_seconds=5, max_seconds=30), progress=False)
    v = report["videos"][0]
    assert v["status"] == "ok" and v["video_id"] == "my_clip__1_" and v["subtitle"] == "my clip (1).en.vtt"
    assert load_collection(out).segments[0].text == "hello there"


@pytest.mark.integration
def test_friday_clip_transcripts_match_cues(tmp_path):
    root = data_root(required=False)
    folder = root / "video_fixtures" / "his_girl_friday_clip" if root else None
    if folder is None or not folder.is_dir():
        pytest.skip("video_fixtures not available")
    cues, _ = read_subtitles(folder / "friday.vtt")
    # defaults: the 6.17 s clip is shorter than the 10 s minimum -> reported, no segment
    report = ingest(folder, tmp_path / "default", progress=False)
    assert report["videos"][0]["status"] == "no_segments"
    assert "shorter than the minimum" in " ".join(report["videos"][0]["messages"])
    # short segments: every segment's transcript is exactly its cues, every cue in one segment
    out = tmp_path / "short"
    ingest(folder, out, IngestParams(segment_seconds=2, min_seconds=1, max_seconds=4), progress=False)
    col = load_collection(out)
    assert [(s.start, s.end) for s in col.segments] == [(0.0, 2.999), (3.0, 6.0)]
    for s in col.segments:
        inside = [c.text for c in cues if s.start <= c.start and c.end <= s.end]
        assert s.text.split("\n") == inside
    assert [t for s in col.segments for t in s.text.split("\n")] == [c.text for c in cues]
    # one segment covering the whole clip
    out = tmp_path / "one"
    ingest(folder, out, IngestParams(segment_seconds=6, min_seconds=5, max_seconds=10), progress=False)
    col = load_collection(out)
    assert len(col) == 1 and col.segments[0].text.split("\n") == [c.text for c in cues]
