"""``explorer ingest``: a folder of videos with sidecar subtitles -> a collection in the folder layout.

For every video file in ``source`` (not recursive; suffixes in ``decode.VIDEO_SUFFIXES``) with a
subtitle file of the same stem (``<stem>.vtt`` or ``<stem>.srt``, else ``<stem>.<lang>.vtt|srt``):

1. the subtitles are read and cleaned (``subtitles.read_subtitles``: encodings, overlaps, order);
2. the video is cut into segments along cue boundaries (``segmentation.segment_cues``);
3. the video is decoded once; each segment's frames are sampled at ``sample_fps``
   (``decode.sample_segments``) and its keyframe is the sampled frame closest to the per-pixel
   median image (``keyframe.select_keyframe``), computed on the display-size frames;
4. per segment ``<id>.jpg`` (64x64, centre-crop + resize with ``data.images.square_resize``),
   ``display/<id>.jpg`` (shorter side ``display_size`` px, never upscaled) and ``<id>.txt`` (the
   segment's cues, one per line, UTF-8) are written; ``segments.tsv`` (``id split video_id start end``)
   is rewritten from all finished videos. Segment id: ``<video_id>_<start in ms, 8 digits>``; the
   split is ``hash_split(video_id)``, so all segments of a video share one split.

Nothing half-written: a video's files are written into a staging folder under ``.ingest/`` and
moved into place (``os.replace``) only when the whole video succeeded; then its done-marker
``.ingest/<video_id>.json`` is written (atomically) and ``segments.tsv`` rewritten (atomically). At
the start of every run, staging folders and segment files of videos without a valid marker are
removed and ``segments.tsv`` is rebuilt from the markers, so an interrupted run leaves a consistent
collection behind.

Resumable: a video whose marker records the same source file (size, mtime), subtitle file and
parameters is skipped; if any changed it is redone (``force=True`` redoes everything).

Problems never stop the run: each video gets a status in ``ingest_report.json`` -- ``ok``,
``partial`` (some segments dropped because frames could not be decoded: truncated file),
``skipped`` (done by an earlier run), ``no_segments`` (no subtitles, no usable cue, video shorter
than the minimum) or ``failed`` (corrupt / unreadable video) -- with messages naming the problem.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..cache import atomic_write_text
from ..data.collection import hash_split
from .decode import VIDEO_SUFFIXES, VideoError, default_threads, probe_video, sample_segments
from .segmentation import check_lengths, segment_cues
from .subtitles import SUBTITLE_SUFFIXES, SubtitleError, read_subtitles

STATE_DIR = ".ingest"
REPORT_NAME = "ingest_report.json"
DISPLAY_DIR = "display"
INGEST_VERSION = 1  # bump when the output of a video for given parameters changes
KEYFRAME_JPEG_QUALITY = 95
DISPLAY_JPEG_QUALITY = 90
_ID_RE = re.compile(r"[^A-Za-z0-9_.-]")


class IngestError(ValueError):
    """The ingest cannot run at all (bad folder, bad parameters); per-video problems go in the report."""


@dataclass(frozen=True)
class IngestParams:
    segment_seconds: float = 30.0
    min_seconds: float = 10.0
    max_seconds: float = 120.0
    sample_fps: float = 1.0  # 0 = every frame
    display_size: int = 256
    keyframe_size: int = 64

    def check(self) -> None:
        check_lengths(self.segment_seconds, self.min_seconds, self.max_seconds)
        if self.sample_fps < 0:
            raise IngestError(f"--sample-fps must be >= 0 (0 = every frame), got {self.sample_fps}")
        if self.display_size < self.keyframe_size:
            raise IngestError(f"--display-size must be at least {self.keyframe_size}, got {self.display_size}")

    def key(self) -> dict:
        return {**asdict(self), "version": INGEST_VERSION}


@dataclass
class VideoJob:
    video: Path
    subtitle: Path | None
    video_id: str
    out_dir: Path
    params: IngestParams
    source: dict
    threads: int = 1
    notes: list[str] = field(default_factory=list)


def video_id_for(path: Path) -> str:
    """The video id: the file stem with characters outside ``[A-Za-z0-9_.-]`` replaced by ``_``."""
    return _ID_RE.sub("_", path.stem)


def segment_id(video_id: str, start: float) -> str:
    return f"{video_id}_{int(round(start * 1000)):08d}"


def _segment_file_re(video_id: str) -> re.Pattern:
    return re.compile(rf"^{re.escape(video_id)}_\d{{8,}}\.(?:jpg|txt)$")


def _file_sig(p: Path | None) -> dict | None:
    if p is None:
        return None
    st = p.stat()
    return {"name": p.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def subtitle_candidates(video: Path, siblings: list[Path]) -> list[Path]:
    """Subtitle files that belong to ``video``, best first: exact stem (.vtt before .srt), then ``stem.<lang>.*``."""
    stem = video.stem
    exact = [p for p in siblings if p.suffix.lower() in SUBTITLE_SUFFIXES and p.stem == stem]
    tagged = [
        p for p in siblings
        if p.suffix.lower() in SUBTITLE_SUFFIXES and p.stem.startswith(stem + ".") and "." not in p.stem[len(stem) + 1 :]
    ]
    rank = {".vtt": 0, ".srt": 1}
    return sorted(exact, key=lambda p: rank[p.suffix.lower()]) + sorted(tagged, key=lambda p: (rank[p.suffix.lower()], p.name))


def find_subtitle(video: Path, siblings: list[Path]) -> tuple[Path | None, list[str]]:
    """The sidecar subtitle of ``video`` (see ``subtitle_candidates``) and a note if several were found."""
    cands = subtitle_candidates(video, siblings)
    if not cands:
        return None, []
    notes = [f"using subtitles {cands[0].name}; also found {', '.join(p.name for p in cands[1:])} (ignored)"] if len(cands) > 1 else []
    return cands[0], notes


# ------------------------------------------------------------------------------------- one video


def _result(job: VideoJob, status: str, messages: list[str], **extra) -> dict:
    return {
        "video": job.video.name,
        "video_id": job.video_id,
        "subtitle": job.subtitle.name if job.subtitle else None,
        "status": status,
        "messages": list(job.notes) + messages,
        "segments": [],
        "duration": None,
        **extra,
    }


def ingest_video(job: VideoJob) -> dict:
    """Process one video completely (runs in a worker process). Never raises for bad input."""
    try:
        return _ingest_video(job)
    except Exception as e:  # a bug or an unexpected library error: still reported, never fatal
        return _result(job, "failed", [f"unexpected error: {type(e).__name__}: {e}"])


def _ingest_video(job: VideoJob) -> dict:
    from PIL import Image

    from ..data.images import square_resize
    from .keyframe import select_keyframe

    p = job.params
    if job.subtitle is None:
        return _result(job, "no_segments", [f"no subtitles: expected {job.video.stem}.srt or {job.video.stem}.vtt beside the video"])
    try:
        cues, sub_warnings = read_subtitles(job.subtitle)
    except SubtitleError as e:
        return _result(job, "no_segments", [str(e)])
    try:
        info = probe_video(job.video)
    except VideoError as e:
        return _result(job, "failed", sub_warnings + [str(e)])
    spans, seg_messages = segment_cues(cues, info.duration, p.segment_seconds, p.min_seconds, p.max_seconds)
    messages = sub_warnings + seg_messages
    if not spans:
        return _result(job, "no_segments", messages, duration=info.duration)

    state = job.out_dir / STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"tmp-{job.video_id}-", dir=state))
    rows: list[dict] = []
    dropped: list[str] = []
    t0 = time.perf_counter()
    try:
        (staging / DISPLAY_DIR).mkdir()
        try:
            for sf in sample_segments(
                job.video, [(s.start, s.end) for s in spans], p.sample_fps or None, p.display_size, job.threads
            ):
                span = spans[sf.index]
                if not sf.complete:
                    dropped.append(f"segment {span.start:.2f}-{span.end:.2f} s dropped: {sf.reason}")
                    continue
                frames = np.stack(sf.frames)
                k = select_keyframe(frames)
                sid = segment_id(job.video_id, span.start)
                img = Image.fromarray(frames[k])
                img.save(staging / DISPLAY_DIR / f"{sid}.jpg", quality=DISPLAY_JPEG_QUALITY)
                square_resize(img, p.keyframe_size).save(staging / f"{sid}.jpg", quality=KEYFRAME_JPEG_QUALITY)
                (staging / f"{sid}.txt").write_text(span.text + "\n", encoding="utf-8")
                rows.append({
                    "id": sid, "start": round(span.start, 3), "end": round(span.end, 3),
                    "keyframe_time": round(sf.times[k], 4), "n_frames": len(sf.frames), "n_cues": len(span.cues),
                })
        except VideoError as e:
            return _result(job, "failed", messages + [str(e)], duration=info.duration)
        decode_seconds = time.perf_counter() - t0
        if not rows:
            return _result(job, "failed", messages + dropped + ["no segment could be decoded"], duration=info.duration)
        # commit: move files into place, then the marker
        status = "partial" if dropped else "ok"
        result = _result(
            job, status, messages + dropped, duration=info.duration, segments=rows,
            decode_seconds=round(decode_seconds, 3),
        )
        marker = {**result, "source": job.source, "params": p.key()}
        try:
            (job.out_dir / DISPLAY_DIR).mkdir(exist_ok=True)
            for r in rows:
                os.replace(staging / DISPLAY_DIR / f"{r['id']}.jpg", job.out_dir / DISPLAY_DIR / f"{r['id']}.jpg")
                os.replace(staging / f"{r['id']}.jpg", job.out_dir / f"{r['id']}.jpg")
                os.replace(staging / f"{r['id']}.txt", job.out_dir / f"{r['id']}.txt")
            atomic_write_text(state / f"{job.video_id}.json", json.dumps(marker, indent=1))
        except BaseException:
            _remove_video_files(job.out_dir, job.video_id)  # no half-committed video
            raise
        return result
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ------------------------------------------------------------------------------------- collection


def _read_marker(path: Path) -> dict | None:
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
        return m if isinstance(m, dict) and "segments" in m and "video_id" in m else None
    except (OSError, ValueError):
        return None


def write_segments_tsv(out_dir: Path, markers: dict[str, dict]) -> int:
    """Rewrite ``segments.tsv`` (atomically) from the done-markers; returns the number of rows."""
    lines = ["id\tsplit\tvideo_id\tstart\tend"]
    for vid in sorted(markers):
        split = hash_split(vid)
        for r in sorted(markers[vid]["segments"], key=lambda r: r["start"]):
            lines.append(f"{r['id']}\t{split}\t{vid}\t{r['start']:.3f}\t{r['end']:.3f}")
    atomic_write_text(out_dir / "segments.tsv", "\n".join(lines) + "\n")
    return len(lines) - 1


def _remove_video_files(out_dir: Path, video_id: str, keep: set[str] = frozenset()) -> int:
    pat = _segment_file_re(video_id)
    n = 0
    for folder in (out_dir, out_dir / DISPLAY_DIR):
        if not folder.is_dir():
            continue
        for f in folder.iterdir():
            if pat.match(f.name) and Path(f.name).stem not in keep:
                f.unlink(missing_ok=True)
                n += 1
    return n


def discover(source: Path) -> tuple[list[tuple[Path, Path | None, list[str]]], list[str]]:
    """(video, subtitle, notes) per video in ``source``, sorted; plus folder-level messages."""
    files = sorted(p for p in source.iterdir() if p.is_file() and not p.name.startswith("."))
    videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
    messages: list[str] = []
    out = []
    claimed: set[Path] = set()
    for v in videos:
        sub, notes = find_subtitle(v, files)
        claimed.update(subtitle_candidates(v, files))
        out.append((v, sub, notes))
    for p in files:
        if p.suffix.lower() in SUBTITLE_SUFFIXES and p not in claimed:
            messages.append(f"{p.name}: subtitle file without a video of the same name (ignored)")
    return out, messages


def ingest(
    source: str | Path,
    out_dir: str | Path,
    params: IngestParams | None = None,
    workers: int = 1,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Ingest every video of ``source`` into the collection folder ``out_dir``; returns the report."""
    params = params or IngestParams()
    params.check()
    source, out_dir = Path(source), Path(out_dir)
    if not source.is_dir():
        raise IngestError(f"source folder {source} does not exist or is not a folder")
    if out_dir.exists() and out_dir.resolve() == source.resolve():
        raise IngestError("--out must be a different folder from the videos' folder")
    if workers < 1:
        raise IngestError(f"--workers must be >= 1, got {workers}")
    state = out_dir / STATE_DIR
    if out_dir.exists() and any(out_dir.iterdir()) and not state.is_dir():
        raise IngestError(
            f"{out_dir} exists, is not empty and was not written by 'explorer ingest' (no {STATE_DIR}/ folder): "
            "choose a new or empty folder"
        )
    state.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    # 1. clean up after an interrupted run: staging folders, stale markers, orphan segment files
    for d in state.glob("tmp-*"):
        shutil.rmtree(d, ignore_errors=True)
    markers: dict[str, dict] = {}
    for mp in sorted(state.glob("*.json")):
        m = _read_marker(mp)
        if m is None:
            mp.unlink(missing_ok=True)
            continue
        markers[m["video_id"]] = m

    found, folder_messages = discover(source)
    jobs: list[VideoJob] = []
    report_videos: list[dict] = []
    seen_ids: dict[str, str] = {}
    threads = default_threads(workers)
    for video, sub, notes in found:
        vid = video_id_for(video)
        if vid in seen_ids:
            report_videos.append({
                "video": video.name, "video_id": vid, "subtitle": sub.name if sub else None, "status": "failed",
                "messages": [f"video id {vid!r} is also the id of {seen_ids[vid]}: rename one of them"], "segments": [],
                "duration": None,
            })
            continue
        seen_ids[vid] = video.name
        if vid != video.stem:
            notes = notes + [f"video id {vid!r} (characters outside A-Z a-z 0-9 _ . - replaced by _)"]
        source_sig = {"video": _file_sig(video), "subtitle": _file_sig(sub)}
        m = markers.get(vid)
        if m is not None and not force and m.get("source") == source_sig and m.get("params") == params.key():
            report_videos.append({**{k: m[k] for k in ("video", "video_id", "subtitle", "duration", "messages")},
                                  "status": "skipped", "previous_status": m.get("status"), "segments": m["segments"]})
            continue
        if m is not None:
            markers.pop(vid)
            (state / f"{vid}.json").unlink(missing_ok=True)
        jobs.append(VideoJob(video, sub, vid, out_dir, params, source_sig, threads, list(notes)))

    # Remove segment files that no marker accounts for (redone videos, interrupted commits).
    for vid in set(seen_ids) | set(markers):
        keep = {r["id"] for r in markers[vid]["segments"]} if vid in markers else set()
        _remove_video_files(out_dir, vid, keep)
    write_segments_tsv(out_dir, markers)

    # 2. process
    results: list[dict] = []
    video_seconds = 0.0

    def collect(res: dict) -> None:
        nonlocal video_seconds
        results.append(res)
        if res["status"] in ("ok", "partial"):
            video_seconds += res.get("duration") or 0.0
            m = _read_marker(state / f"{res['video_id']}.json")
            if m is not None:
                markers[res["video_id"]] = m
                write_segments_tsv(out_dir, markers)

    bar = None
    if progress and jobs:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc="ingest", unit="video")
    try:
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                if bar is not None:
                    bar.set_postfix_str(job.video.name[:40])
                collect(ingest_video(job))
                if bar is not None:
                    bar.update(1)
        else:
            import multiprocessing as mp

            with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=mp.get_context("spawn")) as pool:
                futures = {pool.submit(ingest_video, job): job for job in jobs}
                for fut in as_completed(futures):
                    job = futures[fut]
                    try:
                        res = fut.result()
                    except Exception as e:  # worker died (e.g. killed by the OOM killer)
                        res = _result(job, "failed", [f"worker process failed: {type(e).__name__}: {e}"])
                    collect(res)
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        wall = time.perf_counter() - t_start
        by_name = {r["video"]: r for r in results}
        videos = report_videos + [by_name[j.video.name] for j in jobs if j.video.name in by_name]
        videos.sort(key=lambda r: r["video"])
        n_segments = write_segments_tsv(out_dir, markers)
        counts: dict[str, int] = {}
        for r in videos:
            counts[r["status"]] = counts.get(r["status"], 0) + 1
        report = {
            "source": str(source),
            "out": str(out_dir),
            "params": params.key(),
            "workers": workers,
            "videos": [{**r, "segments": len(r.get("segments") or [])} for r in videos],
            "messages": folder_messages,
            "totals": {
                "videos": len(videos), "status": counts, "segments_in_collection": n_segments,
                "processed_video_seconds": round(video_seconds, 2), "wall_seconds": round(wall, 2),
                "video_seconds_per_second": round(video_seconds / wall, 2) if wall > 0 and video_seconds else None,
            },
        }
        atomic_write_text(out_dir / REPORT_NAME, json.dumps(report, indent=1))
    return report


def format_report(report: dict) -> str:
    """A short human-readable summary of an ingest report (what the CLI prints)."""
    t = report["totals"]
    lines = []
    for r in report["videos"]:
        head = f"{r['video']}: {r['status']}"
        if r["segments"]:
            head += f", {r['segments']} segment(s)"
        lines.append(head)
        for m in r["messages"]:
            lines.append(f"    - {m}")
    for m in report["messages"]:
        lines.append(f"note: {m}")
    status = ", ".join(f"{v} {k}" for k, v in sorted(t["status"].items()))
    speed = f"; {t['video_seconds_per_second']} video s per wall s" if t.get("video_seconds_per_second") else ""
    lines.append(
        f"{t['videos']} video(s): {status or 'none'}; collection {report['out']} has {t['segments_in_collection']} "
        f"segment(s); {t['processed_video_seconds']} s of video processed in {t['wall_seconds']} s{speed}"
    )
    lines.append(f"report: {Path(report['out']) / REPORT_NAME}")
    return "\n".join(lines)
