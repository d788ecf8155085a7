"""The video road beyond subtitles: given segment boundaries, the pause rule, speech recognition and
forced alignment, video ids of any name, and ingest workers that die with their parent."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("av")

from explorer.data.collection import load_collection  # noqa: E402
from explorer.paths import data_root  # noqa: E402
from explorer.video.ingest import IngestError, IngestParams, ingest, read_segments_file, video_id_for  # noqa: E402
from explorer.video.segmentation import SegmentationError, segment_cues, spans_from_boundaries  # noqa: E402
from explorer.video.subtitles import Cue  # noqa: E402
from explorer.video.synth import make_cues, make_video, write_subtitles  # noqa: E402

ROOT = data_root(required=False)
FLOWERS_TV = ROOT / "flowers_tv" if ROOT else None
AUTO_EDITOR = ROOT / "video_fixtures" / "auto_editor_example" / "example.mp4" if ROOT else None


# ------------------------------------------------------------------------------ pure functions


def test_video_ids_of_non_latin_names_are_distinct_and_stable():
    ids = [video_id_for(Path(n)) for n in ("Новости.mp4", "Погода.mp4", "天气.mp4", "新闻.mp4", "Café.mp4", "my clip.mp4")]
    assert len(set(ids)) == len(ids)
    assert all(set(i) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") for i in ids)
    assert ids[4] == "Cafe" and ids[5] == "my_clip"  # accents stripped, spaces replaced: no hash needed
    assert video_id_for(Path("Новости.mp4")) == ids[0]  # the same name always gives the same id


def test_gap_rule_ends_segments_at_long_pauses():
    # three "stories" of 4 cues, cues 0.3 s apart inside a story, 1.5 s pauses between stories
    cues, t = [], 0.0
    for story in range(3):
        for k in range(4):
            cues.append(Cue(round(t, 3), round(t + 2.7, 3), f"s{story} c{k}"))
            t += 3.0
        t += 1.2
    merged, _ = segment_cues(cues, t, target=30, min_len=10, max_len=120)
    by_story, _ = segment_cues(cues, t, target=30, min_len=10, max_len=120, gap=1.0)
    assert len(merged) < 3
    assert len(by_story) == 3
    assert [{c.text.split()[0] for c in s.cues} for s in by_story] == [{"s0"}, {"s1"}, {"s2"}]
    with pytest.raises(SegmentationError, match="gap"):
        segment_cues(cues, t, gap=-1)


def test_spans_from_boundaries_assigns_cues_by_midpoint():
    cues = [Cue(0.5, 2.0, "a"), Cue(9.0, 11.8, "b"), Cue(12.5, 14.0, "c"), Cue(30.0, 31.0, "late")]
    spans, messages = spans_from_boundaries(cues, [(10.0, 20.0), (0.0, 10.0), (18.0, 25.0), (40.0, 50.0), (21.0, 29.0)],
                                            duration=35.0)
    assert [(s.start, s.end) for s in spans] == [(0.0, 10.0), (10.0, 20.0)]
    assert [s.text for s in spans] == ["a", "b\nc"]  # b's midpoint (10.4) is in the second segment
    joined = " | ".join(messages)
    assert "overlaps the previous one" in joined and "outside the video" in joined and "1 cue(s) fall in no" in joined
    assert "1 given segment(s) hold no cue" in joined  # 21-29 s: silence, no transcript, dropped


def test_segments_file_errors_name_the_row(tmp_path):
    f = tmp_path / "s.tsv"
    f.write_text("video_id\tstart\tend\tcategory\nv\t0\t10\troses\nv\tten\t20\tx\n")
    with pytest.raises(IngestError, match=r"line 3: start and end must be seconds"):
        read_segments_file(f)
    f.write_text("video\tstart\tend\n")
    with pytest.raises(IngestError, match="missing column.*video_id"):
        read_segments_file(f)
    f.write_text("video_id\tstart\tend\tcategory\nv\t12\t10\troses\n")
    with pytest.raises(IngestError, match="line 2: need 0 <= start < end"):
        read_segments_file(f)


# ------------------------------------------------------------------------------ ingest


def test_ingest_along_given_segments_keeps_extra_columns(tmp_path):
    src = tmp_path / "videos"
    src.mkdir()
    make_video(src / "prog.mp4", 40)
    write_subtitles(src / "prog.vtt", make_cues(40, every=3.0, length=2.5, prefix="word"))
    make_video(src / "other.mp4", 12)  # not in the segments file
    write_subtitles(src / "other.vtt", make_cues(12))
    seg = tmp_path / "truth.tsv"
    with open(seg, "w", newline="") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(["video_id", "story", "start", "end", "category"])
        w.writerows([["prog", 0, 0.0, 11.0, "rose"], ["prog", 1, 12.2, 25.0, "tulip"], ["prog", 2, 26.0, 39.5, "rose"],
                     ["missing_video", 0, 0, 10, "x"]])
    out = tmp_path / "coll"
    report = ingest(src, out, IngestParams(sample_fps=1.0), progress=False, segments=seg)
    st = {v["video"]: v for v in report["videos"]}
    assert st["prog.mp4"]["status"] == "ok" and st["prog.mp4"]["segments"] == 3
    assert st["other.mp4"]["status"] == "no_segments" and "no row" in st["other.mp4"]["messages"][0]
    assert any("missing_video" in m for m in report["messages"])
    coll = load_collection(out)
    assert [(s.start, s.end) for s in coll.segments] == [(0.0, 11.0), (12.2, 25.0), (26.0, 39.5)]
    assert [s.category for s in coll.segments] == ["rose", "tulip", "rose"]
    header = (out / "segments.tsv").read_text().splitlines()[0].split("\t")
    assert header == ["id", "split", "video_id", "start", "end", "story", "category"]
    # every cue is in the segment holding its midpoint: cue k spans 0.5 + 3(k-1) .. +2.5, so cue 4
    # (9.5-12.0, midpoint 10.75) ends the first segment although it runs past its end (11.0)
    assert coll.segments[0].text.split("\n") == ["word 1", "word 2", "word 3", "word 4"]
    assert coll.segments[1].text.split("\n")[0] == "word 5"
    # changing the boundaries redoes the video; the same file skips it
    again = ingest(src, out, IngestParams(sample_fps=1.0), progress=False, segments=seg)
    assert {v["video"]: v["status"] for v in again["videos"]}["prog.mp4"] == "skipped"
    seg.write_text("video_id\tstart\tend\nprog\t0\t20\nprog\t20\t40\n")
    redo = ingest(src, out, IngestParams(sample_fps=1.0), progress=False, segments=seg)
    assert {v["video"]: v["status"] for v in redo["videos"]}["prog.mp4"] == "ok"
    assert [(s.start, s.end) for s in load_collection(out).segments] == [(0.0, 20.0), (20.0, 40.0)]


def test_subtitles_mode_never_runs_asr_and_asr_of_a_tone_finds_no_words(tmp_path):
    src = tmp_path / "videos"
    src.mkdir()
    make_video(src / "tone.mp4", 12, audio=True)
    r = ingest(src, tmp_path / "a", IngestParams(transcripts="subtitles"), progress=False)
    assert r["videos"][0]["status"] == "no_segments" and "no subtitles" in r["videos"][0]["messages"][0]
    pytest.importorskip("pocketsphinx")
    r = ingest(src, tmp_path / "b", IngestParams(transcripts="auto"), progress=False)
    v = r["videos"][0]
    assert v["status"] == "no_segments" and v.get("transcript") == "asr", v


def _worker_pids(parent: int) -> list[int]:
    import psutil

    try:
        kids = psutil.Process(parent).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [k.pid for k in kids if "spawn_main" in " ".join(k.cmdline())]


def test_kill_9_of_ingest_leaves_no_worker_behind(tmp_path):
    import psutil

    src = tmp_path / "videos"
    src.mkdir()
    for k in range(4):  # enough work (every frame sampled) that the workers are busy when the parent dies
        make_video(src / f"v{k}.mp4", 90, fps=25, width=320, height=240)
        write_subtitles(src / f"v{k}.srt", make_cues(90, every=3.0, length=2.5))
    cmd = [sys.executable, "-m", "explorer.cli", "ingest", str(src), "--out", str(tmp_path / "coll"),
           "--workers", "2", "--sample-fps", "0", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    deadline = time.time() + 60
    while time.time() < deadline and len(workers) < 2 and proc.poll() is None:
        time.sleep(0.2)
        workers = _worker_pids(proc.pid)
    assert len(workers) == 2, "the ingest finished or failed before both workers were seen"
    time.sleep(1.0)  # let them get into decoding
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    alive = workers
    while alive and time.time() < deadline:
        time.sleep(0.2)
        alive = [p for p in workers if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"worker(s) {alive} still running after kill -9 of the ingest"


# ------------------------------------------------------------------------------ real data


@pytest.mark.integration
@pytest.mark.skipif(AUTO_EDITOR is None or not AUTO_EDITOR.is_file(), reason="video_fixtures not present")
def test_auto_editor_clip_ingests_by_speech_recognition(tmp_path):
    pytest.importorskip("pocketsphinx")
    src = tmp_path / "videos"
    src.mkdir()
    os.symlink(AUTO_EDITOR, src / "example.mp4")
    out = tmp_path / "coll"
    report = ingest(src, out, IngestParams(segment_seconds=20, min_seconds=10, max_seconds=60), progress=False)
    v = report["videos"][0]
    assert v["status"] == "ok" and v["transcript"] == "asr"
    assert report["totals"]["asr_real_time_factor"] > 0
    text = " ".join(s.text for s in load_collection(out).segments)
    assert "example video" in text and "forty seconds" in text
    # forced alignment of a known transcript: the words are the given ones, the times the speech's
    (src / "example.txt").write_text("Hello. This is an example video. When the time reaches forty seconds, I will say banana.\n")
    out2 = tmp_path / "aligned"
    r2 = ingest(src, out2, IngestParams(segment_seconds=20, min_seconds=10, max_seconds=60), progress=False)
    assert r2["videos"][0]["transcript"] == "aligned"
    segs = load_collection(out2).segments
    words = " ".join(s.text for s in segs).split()
    assert words[:6] == ["hello", "this", "is", "an", "example", "video"]
    assert segs[0].start < 2.0  # "hello" is said in the first second


@pytest.mark.integration
@pytest.mark.skipif(FLOWERS_TV is None or not (FLOWERS_TV / "segments_truth.tsv").is_file(), reason="flowers_tv not present")
def test_flowers_tv_every_story_is_one_segment(tmp_path):
    truth: dict[str, list[tuple[float, float, str]]] = {}
    with open(FLOWERS_TV / "segments_truth.tsv") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            truth.setdefault(row["video_id"], []).append((float(row["start"]), float(row["end"]), row["category"]))
    src = tmp_path / "videos"
    src.mkdir()
    chosen = sorted(truth)[:6]  # six programmes (60 stories) keep the test under a minute
    for vid in chosen:
        for suffix in (".mp4", ".vtt"):
            os.symlink(FLOWERS_TV / "videos" / f"{vid}{suffix}", src / f"{vid}{suffix}")
    # the pause rule alone (no boundaries given) finds the stories from the subtitles
    out = tmp_path / "gap"
    ingest(src, out, IngestParams(segment_seconds=30, min_seconds=5, max_seconds=120, gap_seconds=1.0), progress=False)
    got = load_collection(out).segments
    stories = [(vid, s, e) for vid in chosen for s, e, _ in truth[vid]]
    assert len(got) == len(stories)
    for seg in got:  # each segment overlaps exactly one story, by more than 90 % of the story
        overlaps = [min(seg.end, e) - max(seg.start, s) for vid, s, e in stories if vid == seg.video_id]
        good = [o for o, (vid, s, e) in zip(overlaps, [x for x in stories if x[0] == seg.video_id]) if o > 0.9 * (e - s)]
        assert len([o for o in overlaps if o > 0.5]) == 1 and len(good) == 1
    # along the truth file: the categories come with the segments, keyframes from the story's own span
    out2 = tmp_path / "given"
    report = ingest(src, out2, IngestParams(), progress=False, segments=FLOWERS_TV / "segments_truth.tsv")
    coll = load_collection(out2)
    assert len(coll.segments) == 60
    assert [s.category for s in coll.segments] == [c for vid in chosen for _, _, c in truth[vid]]
    markers = {v["video_id"]: v for v in report["videos"]}
    assert set(markers) == set(chosen)
    import json

    for vid in chosen:
        m = json.loads((out2 / ".ingest" / f"{vid}.json").read_text())
        assert all(r["start"] <= r["keyframe_time"] < r["end"] for r in m["segments"])


def test_word_error_rate_counts_edits_per_reference_word():
    from explorer.video.asr import word_error_rate, words_to_cues, Word

    assert word_error_rate("the red rose", "the red rose") == 0.0
    assert word_error_rate("the red rose", "a red rose") == pytest.approx(1 / 3)  # one substitution
    assert word_error_rate("the red rose", "the red") == pytest.approx(1 / 3)  # one deletion
    assert word_error_rate("the red rose", "the big red rose") == pytest.approx(1 / 3)  # one insertion
    assert word_error_rate("The red, rose!", "") == 1.0  # nothing recognised: all deleted
    # a corpus: 1 error in 3 words + 0 in 2 words = 1/5
    assert word_error_rate(["the red rose", "a lily"], ["the rod rose", "a lily"]) == pytest.approx(1 / 5)
    with pytest.raises(ValueError):
        word_error_rate(["a"], ["a", "b"])
    # timed words -> cues: a pause of 0.5 s or more, or 8 s of speech, starts a new cue
    words = [Word("a", 0.0, 0.3), Word("b", 0.4, 0.7), Word("c", 1.3, 1.6)] + [Word(f"w{i}", 2.2 + i, 3.0 + i) for i in range(10)]
    cues = words_to_cues(words)
    assert [c.text for c in cues][:2] == ["a b", "c"]
    assert all(c.end - c.start <= 8.0 + 1.0 for c in cues) and len(cues) == 4


def test_a_killed_worker_does_not_fail_the_other_videos(tmp_path):
    """kill -9 of one worker breaks Python's process pool; the unfinished videos are redone."""
    import json
    import threading

    import psutil

    src = tmp_path / "videos"
    src.mkdir()
    for k in range(4):
        make_video(src / f"v{k}.mp4", 60, fps=25, width=320, height=240)
        write_subtitles(src / f"v{k}.srt", make_cues(60, every=3.0, length=2.5))
    killed: list[int] = []

    def kill_one_worker() -> None:
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            kids = _worker_pids(os.getpid())
            if kids:
                time.sleep(1.0)
                os.kill(kids[0], signal.SIGKILL)
                killed.append(kids[0])
            time.sleep(0.1)

    t = threading.Thread(target=kill_one_worker)
    t.start()
    report = ingest(src, tmp_path / "coll", IngestParams(sample_fps=0), workers=2, progress=False)
    t.join()
    assert killed, "no worker was seen"
    assert {v["status"] for v in report["videos"]} == {"ok"}, [(v["video"], v["status"], v["messages"]) for v in report["videos"]]
    assert any("were redone in new workers" in m for m in report["messages"])
    assert len(load_collection(tmp_path / "coll").segments) == report["totals"]["segments_in_collection"] > 0
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == psutil.STATUS_ZOMBIE
    json.dumps(report)


def test_workers_never_run_the_parents_main_script(tmp_path, monkeypatch):
    """Streamlit (and AppTest) installs the app script as ``__main__``; spawned workers must not run it."""
    import types

    script = tmp_path / "app_like.py"
    script.write_text("raise SystemExit('the app script ran in a worker')\n")
    fake = types.ModuleType("__main__")
    fake.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", fake)
    src = tmp_path / "videos"
    src.mkdir()
    for k in range(2):
        make_video(src / f"v{k}.mp4", 12)
        write_subtitles(src / f"v{k}.srt", make_cues(12))
    report = ingest(src, tmp_path / "coll", IngestParams(min_seconds=5, segment_seconds=10), workers=2, progress=False)
    assert {v["status"] for v in report["videos"]} == {"ok"}, report["videos"]
    assert sys.modules["__main__"] is fake  # put back


def test_a_video_that_no_longer_ingests_leaves_no_playable_copy(tmp_path):
    src = tmp_path / "videos"
    src.mkdir()
    make_video(src / "prog.mp4", 25)
    write_subtitles(src / "prog.srt", make_cues(25))
    out = tmp_path / "coll"
    ingest(src, out, IngestParams(min_seconds=5, segment_seconds=10), progress=False)
    assert (out / "videos" / "prog.mp4").is_file()
    (src / "prog.srt").write_text("this is not a subtitle file\n")  # the video is redone, and now has no segment
    report = ingest(src, out, IngestParams(min_seconds=5, segment_seconds=10), progress=False)
    assert report["videos"][0]["status"] == "no_segments"
    assert not (out / "videos" / "prog.mp4").exists() and not list(out.glob("prog_*"))
