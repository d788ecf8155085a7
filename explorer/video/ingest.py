"""``explorer ingest``: a folder of videos (with subtitles, a plain transcript, or neither) -> a collection.

For every video file in ``source`` (not recursive; suffixes in ``decode.VIDEO_SUFFIXES``):

1. its timed transcript (cues) comes from, by ``IngestParams.transcripts``: ``subtitles`` -- a
   subtitle file of the same stem (``<stem>.vtt`` or ``<stem>.srt``, else ``<stem>.<lang>.vtt|srt``),
   read and cleaned by ``subtitles.read_subtitles``; ``asr`` -- speech recognition of the audio
   (``asr.transcribe``, cached in ``.ingest/asr/``); ``auto`` (default) -- subtitles when there is a
   subtitle file, else forced alignment (``asr.align``) of a plain transcript ``<stem>.txt``, else ASR;
2. the video is cut into segments along cue boundaries (``segmentation.segment_cues``, optionally
   ending a segment at every pause of ``gap_seconds``), or along given boundaries (``segments``: a
   TSV with ``video_id, start, end`` and any extra columns, which are kept in ``segments.tsv``);
3. the video is decoded once; each segment's frames are sampled at ``sample_fps``
   (``decode.sample_segments``) and its keyframe is the sampled frame closest to the per-pixel
   median image (``keyframe.select_keyframe``), computed on the display-size frames;
4. per segment ``<id>.jpg`` (64x64, centre-crop + resize with ``data.images.square_resize``),
   ``display/<id>.jpg`` (shorter side ``display_size`` px, never upscaled) and ``<id>.txt`` (the
   segment's cues, one per line, UTF-8) are written; ``segments.tsv`` (``id split video_id start end``)
   is rewritten from all finished videos. Segment id: ``<video_id>_<start in ms, 8 digits>``; the
   split is ``hash_split(video_id)``, so all segments of a video share one split. The video itself
   is kept as ``videos/<video_id><suffix>`` (a hard link when possible, else a copy; ``copy_video``)
   so that the app plays segments from inside the collection folder.

Nothing half-written: a video's files are written into a staging folder under ``.ingest/`` and
moved into place (``os.replace``) only when the whole video succeeded; then its done-marker
``.ingest/<video_id>.json`` is written (atomically) and ``segments.tsv`` rewritten (atomically). At
the start of every run, staging folders and segment files of videos without a valid marker are
removed and ``segments.tsv`` is rebuilt from the markers, so an interrupted run leaves a consistent
collection behind.

Resumable: a video whose marker records the same source file (size, mtime), subtitle file and
parameters is skipped; if any changed it is redone (``force=True`` redoes everything).

Workers (``workers > 1``) die with the ingest: each asks Linux for SIGKILL when its parent dies
(``PR_SET_PDEATHSIG``) and also watches its parent pid, so a ``kill -9`` of the main process leaves
no worker writing behind it. A worker that dies (killed, out of memory) breaks the pool: its
unfinished videos are redone once in a fresh pool, and fail if that breaks too.

Ray (``ray=True``, ``explorer ingest --ray``; ``explorer.scale_ray``): every video is a Ray task of
one CPU, on a local Ray of ``workers`` CPUs started for the run, or on the cluster at
``ray_address`` (the videos and the collection folder must then be on a file system all nodes share,
at the same path). Tasks run the same ``ingest_video`` and their results go through the same
collection step, so the files written are the same as with processes; a task whose worker dies is
redone once, as above. Ray's processes are started by the local Ray and end with it; on a cluster,
a driver that dies takes its job's tasks with it.

Problems never stop the run: each video gets a status in ``ingest_report.json`` -- ``ok``,
``partial`` (some segments dropped because frames could not be decoded: truncated file),
``skipped`` (done by an earlier run), ``no_segments`` (no subtitles, no usable cue, video shorter
than the minimum) or ``failed`` (corrupt / unreadable video) -- with messages naming the problem.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import types
import unicodedata
from contextlib import ExitStack, closing, contextmanager
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import scale_ray
from ..cache import atomic_write_text
from ..data.collection import hash_split
from .decode import VIDEO_SUFFIXES, VideoError, default_threads, probe_video, sample_segments
from .segmentation import check_lengths, segment_cues, spans_from_boundaries
from .subtitles import SUBTITLE_SUFFIXES, Cue, SubtitleError, read_subtitles

STATE_DIR = ".ingest"
REPORT_NAME = "ingest_report.json"
DISPLAY_DIR = "display"
VIDEO_DIR = "videos"  # videos/<video_id><suffix>: the collection's own copy, for playback in the app
ASR_DIR = "asr"  # .ingest/asr/<video_id>.json: cached speech recognition of a video
TRANSCRIPT_SOURCES = ("auto", "subtitles", "asr")
INGEST_VERSION = 2  # bump when the output of a video for given parameters changes
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
    transcripts: str = "auto"  # one of TRANSCRIPT_SOURCES
    gap_seconds: float = 0.0  # a pause this long between cues ends a segment (0 = off)
    copy_video: bool = True  # keep a copy (a hard link when possible) in videos/ so the app can play segments

    def check(self) -> None:
        check_lengths(self.segment_seconds, self.min_seconds, self.max_seconds)
        if self.transcripts not in TRANSCRIPT_SOURCES:
            raise IngestError(f"--transcripts must be one of {', '.join(TRANSCRIPT_SOURCES)}, got {self.transcripts!r}")
        if self.gap_seconds < 0:
            raise IngestError(f"--gap-seconds must be >= 0 (0 = off), got {self.gap_seconds}")
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
    text_file: Path | None = None  # plain transcript to align (``<stem>.txt``), used by ``auto``
    given: list[dict] | None = None  # given segments (rows of the segments file), None = cut along cues


def video_id_for(path: Path) -> str:
    """The video id: the file stem, accents stripped (NFKD), characters outside ``[A-Za-z0-9_.-]``
    replaced by ``_``; a stem with characters that have no ASCII form (Cyrillic, CJK, ...) also gets
    ``-`` and 8 hex digits of its SHA-1 (runs of ``_`` collapsed, ``video`` when nothing Latin is
    left), so different non-Latin names never share an id."""
    stem = path.stem
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    vid = _ID_RE.sub("_", ascii_stem)
    lossy = any(ord(ch) > 127 and not unicodedata.normalize("NFKD", ch).encode("ascii", "ignore") for ch in stem)
    if lossy or not vid.strip("_"):
        base = re.sub(r"_+", "_", vid).strip("_.-") or "video"
        vid = f"{base}-{hashlib.sha1(stem.encode('utf-8')).hexdigest()[:8]}"
    return vid


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
    if job.given is not None and not job.given:
        return _result(job, "no_segments", ["the segments file has no row for this video"])
    try:
        info = probe_video(job.video)
    except VideoError as e:
        return _result(job, "failed", [str(e)])
    got = _transcript(job)
    if isinstance(got, dict):
        return {**got, "duration": info.duration}
    cues, source, sub_warnings, asr_stats = got
    if job.given is not None:
        spans, seg_messages = spans_from_boundaries(cues, [(r["start"], r["end"]) for r in job.given], info.duration)
        extra_by_start = {round(float(r["start"]), 3): r.get("extra", {}) for r in job.given}
    else:
        spans, seg_messages = segment_cues(cues, info.duration, p.segment_seconds, p.min_seconds, p.max_seconds,
                                           p.gap_seconds)
        extra_by_start = {}
    messages = sub_warnings + seg_messages
    if not spans:
        return _result(job, "no_segments", messages, duration=info.duration, transcript=source)

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
                row = {
                    "id": sid, "start": round(span.start, 3), "end": round(span.end, 3),
                    "keyframe_time": round(sf.times[k], 4), "n_frames": len(sf.frames), "n_cues": len(span.cues),
                }
                extra = extra_by_start.get(round(span.start, 3))
                if extra:
                    row["extra"] = extra
                rows.append(row)
        except VideoError as e:
            return _result(job, "failed", messages + [str(e)], duration=info.duration)
        decode_seconds = time.perf_counter() - t0
        if not rows:
            return _result(job, "failed", messages + dropped + ["no segment could be decoded"], duration=info.duration)
        # commit: move files into place, then the marker
        status = "partial" if dropped else "ok"
        result = _result(
            job, status, messages + dropped, duration=info.duration, segments=rows,
            decode_seconds=round(decode_seconds, 3), transcript=source, asr=asr_stats,
        )
        video_copy = None
        if p.copy_video:
            video_copy = f"{VIDEO_DIR}/{job.video_id}{job.video.suffix.lower()}"
            _link_or_copy(job.video, staging / "video")
            result["video_file"] = video_copy
        marker = {**result, "source": job.source, "params": p.key()}
        try:
            (job.out_dir / DISPLAY_DIR).mkdir(exist_ok=True)
            if video_copy:
                (job.out_dir / VIDEO_DIR).mkdir(exist_ok=True)
                os.replace(staging / "video", job.out_dir / video_copy)
            for r in rows:
                os.replace(staging / DISPLAY_DIR / f"{r['id']}.jpg", job.out_dir / DISPLAY_DIR / f"{r['id']}.jpg")
                os.replace(staging / f"{r['id']}.jpg", job.out_dir / f"{r['id']}.jpg")
                os.replace(staging / f"{r['id']}.txt", job.out_dir / f"{r['id']}.txt")
            atomic_write_text(state / f"{job.video_id}.json", json.dumps(marker, indent=1))
        except BaseException:
            _remove_video_files(job.out_dir, job.video_id)  # no half-committed video (its copy included)
            raise
        return result
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _link_or_copy(src: Path, dst: Path) -> None:
    """A hard link (no extra space) when ``src`` and ``dst`` share a file system, else a copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _transcript(job: VideoJob) -> tuple[list[Cue], str, list[str], dict | None] | dict:
    """(cues, source, messages, ASR stats) of a video, or a ``no_segments`` result saying why there are none.

    ``source`` is ``subtitles``, ``aligned`` (a plain ``<stem>.txt`` aligned to the audio) or ``asr``."""
    from .asr import AsrError

    mode = job.params.transcripts
    if mode == "subtitles" or (mode == "auto" and job.subtitle is not None):
        if job.subtitle is None:
            return _result(job, "no_segments", [f"no subtitles: expected {job.video.stem}.srt or {job.video.stem}.vtt beside the video"])
        try:
            cues, warnings = read_subtitles(job.subtitle)
        except SubtitleError as e:
            return _result(job, "no_segments", [str(e)])
        return cues, "subtitles", warnings, None
    try:
        if mode == "auto" and job.text_file is not None:
            cues, warnings = _aligned_cues(job)
            if not cues:
                return _result(job, "no_segments", warnings, transcript="aligned")
            return cues, "aligned", warnings, None
        cues, stats = _asr_cues(job)
    except AsrError as e:
        if mode == "auto":
            return _result(job, "no_segments", [f"no subtitles (expected {job.video.stem}.srt or {job.video.stem}.vtt "
                                                f"beside the video), and no speech recognition: {e}"])
        return _result(job, "no_segments", [str(e)])
    if not cues:
        return _result(job, "no_segments", ["speech recognition found no words in the audio"], transcript="asr", asr=stats)
    how = "" if mode == "asr" else "no subtitle file: "
    note = (f"{how}transcribed by speech recognition (pocketsphinx en-us): {stats['words']} words in "
            f"{stats['audio_seconds']:.0f} s of audio, real-time factor {stats['real_time_factor']}")
    return cues, "asr", [note], stats


def _asr_cache_path(job: VideoJob) -> Path:
    return job.out_dir / STATE_DIR / ASR_DIR / f"{job.video_id}.json"


def _asr_cues(job: VideoJob) -> tuple[list[Cue], dict]:
    """Speech recognition of the video's audio, reused from ``.ingest/asr/`` when the video and the
    recogniser are unchanged (segmentation parameters do not matter to it)."""
    from .asr import ASR_VERSION, read_audio, transcribe

    key = {"video": job.source["video"], "asr_version": ASR_VERSION}
    cache = _asr_cache_path(job)
    try:
        cached = json.loads(cache.read_text(encoding="utf-8"))
        if cached.get("key") == key:
            return [Cue(*c) for c in cached["cues"]], {**cached["stats"], "cached": True}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    cues, stats = transcribe(read_audio(job.video))
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cache, json.dumps({"key": key, "stats": stats,
                                         "cues": [[round(c.start, 3), round(c.end, 3), c.text] for c in cues]}))
    return cues, stats


def _aligned_cues(job: VideoJob) -> tuple[list[Cue], list[str]]:
    from .asr import align, read_audio

    from .subtitles import decode_subtitle_bytes

    text, warnings = decode_subtitle_bytes(job.text_file.read_bytes(), what=job.text_file.name)
    cues, messages = align(read_audio(job.video), text)
    return cues, warnings + messages + [f"transcript {job.text_file.name} aligned to the audio: {len(cues)} cue(s)"]


# ------------------------------------------------------------------------------------- collection


def read_segments_file(path: str | Path) -> dict[str, list[dict]]:
    """A segments TSV (header row; columns ``video_id``, ``start``, ``end`` in seconds, any others
    kept as extra columns) -> ``{video_id: [{"start", "end", "extra": {...}}, ...]}``.
    Raises ``IngestError`` naming the file and the row for anything malformed."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise IngestError(f"--segments {path}: cannot read: {e}") from e
    reader = csv.DictReader(text.splitlines(), delimiter="\t")
    need = ("video_id", "start", "end")
    missing = [c for c in need if c not in (reader.fieldnames or [])]
    if missing:
        raise IngestError(f"--segments {path}: missing column(s) {', '.join(missing)} "
                          f"(a tab-separated file with a header: video_id, start, end, ...)")
    out: dict[str, list[dict]] = {}
    reserved = {"id", "split", "video_id", "start", "end"}
    for n, row in enumerate(reader, start=2):
        try:
            start, end = float(row["start"]), float(row["end"])
        except (TypeError, ValueError):
            raise IngestError(f"--segments {path} line {n}: start and end must be seconds, got "
                              f"{row.get('start')!r}, {row.get('end')!r}") from None
        if not (0 <= start < end):
            raise IngestError(f"--segments {path} line {n}: need 0 <= start < end, got {start}, {end}")
        vid = (row["video_id"] or "").strip()
        if not vid:
            raise IngestError(f"--segments {path} line {n}: empty video_id")
        extra = {k: (v or "").strip() for k, v in row.items() if k and k not in reserved}
        out.setdefault(vid, []).append({"start": start, "end": end, "extra": extra})
    if not out:
        raise IngestError(f"--segments {path}: no segment rows")
    return out


def _read_marker(path: Path) -> dict | None:
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
        return m if isinstance(m, dict) and "segments" in m and "video_id" in m else None
    except (OSError, ValueError):
        return None


def write_segments_tsv(out_dir: Path, markers: dict[str, dict]) -> int:
    """Rewrite ``segments.tsv`` (atomically) from the done-markers; returns the number of rows."""
    extra_cols: list[str] = []
    for vid in sorted(markers):
        for r in markers[vid]["segments"]:
            extra_cols += [k for k in r.get("extra", {}) if k not in extra_cols]
    lines = ["\t".join(["id", "split", "video_id", "start", "end", *extra_cols])]
    for vid in sorted(markers):
        split = hash_split(vid)
        for r in sorted(markers[vid]["segments"], key=lambda r: r["start"]):
            extra = r.get("extra", {})
            cells = [str(extra.get(k, "")).replace("\t", " ").replace("\n", " ") for k in extra_cols]
            lines.append("\t".join([r["id"], split, vid, f"{r['start']:.3f}", f"{r['end']:.3f}", *cells]))
    atomic_write_text(out_dir / "segments.tsv", "\n".join(lines) + "\n")
    return len(lines) - 1


def _remove_video_files(out_dir: Path, video_id: str, keep: set[str] = frozenset()) -> int:
    """Remove a video's segment files (keyframes, display copies, transcripts) except the ids in
    ``keep``; with nothing kept, its playable copy in ``videos/`` too. Returns the files removed."""
    pat = _segment_file_re(video_id)
    n = 0
    for folder in (out_dir, out_dir / DISPLAY_DIR):
        if not folder.is_dir():
            continue
        for f in folder.iterdir():
            if pat.match(f.name) and Path(f.name).stem not in keep:
                f.unlink(missing_ok=True)
                n += 1
    if not keep:
        for suffix in VIDEO_SUFFIXES:
            copy = out_dir / VIDEO_DIR / f"{video_id}{suffix}"
            if copy.is_file():
                copy.unlink()
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
    segments: str | Path | None = None,
    ray: bool = False,
    ray_address: str | None = None,
) -> dict:
    """Ingest every video of ``source`` into the collection folder ``out_dir``; returns the report.

    ``segments``: a TSV of given segment boundaries (``read_segments_file``); each video is then cut
    exactly there instead of along its cues. ``ray``: videos run as Ray tasks, on a local Ray of
    ``workers`` CPUs, or on the cluster at ``ray_address`` (which implies ``ray``)."""
    params = params or IngestParams()
    params.check()
    ray = ray or bool(ray_address)
    if ray:
        try:
            scale_ray.import_ray()
        except scale_ray.RayUnavailable as e:
            raise IngestError(str(e)) from None
    given_all = read_segments_file(segments) if segments is not None else None
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
            notes = notes + [f"video id {vid!r} (accents stripped, characters outside A-Z a-z 0-9 _ . - replaced by _"
                             f"{', a hash of the name added' if '-' in vid and '-' not in video.stem else ''})"]
        text_file = video.with_suffix(".txt") if video.with_suffix(".txt").is_file() else None
        given = None
        if given_all is not None:
            given = given_all.get(vid, given_all.get(video.stem, []))
        source_sig = {"video": _file_sig(video), "subtitle": _file_sig(sub), "text": _file_sig(text_file),
                      "segments": hashlib.sha1(json.dumps(given).encode()).hexdigest() if given is not None else None}
        m = markers.get(vid)
        if m is not None and not force and m.get("source") == source_sig and m.get("params") == params.key():
            report_videos.append({**{k: m[k] for k in ("video", "video_id", "subtitle", "duration", "messages")},
                                  "status": "skipped", "previous_status": m.get("status"), "segments": m["segments"]})
            continue
        if m is not None:
            markers.pop(vid)
            (state / f"{vid}.json").unlink(missing_ok=True)
        jobs.append(VideoJob(video, sub, vid, out_dir, params, source_sig, threads, list(notes), text_file, given))
    if given_all is not None:
        unknown = sorted(set(given_all) - set(seen_ids) - {v.stem for v, _, _ in found})
        if unknown:
            folder_messages.append(f"{len(unknown)} video id(s) of the segments file have no video here: "
                                   f"{', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}")
    # Remove segment files that no marker accounts for (redone videos, interrupted commits).
    for vid in set(seen_ids) | set(markers):
        keep = {r["id"] for r in markers[vid]["segments"]} if vid in markers else set()
        _remove_video_files(out_dir, vid, keep)
    write_segments_tsv(out_dir, markers)

    # 2. process
    results: list[dict] = []
    video_seconds = 0.0

    asr_audio = asr_time = 0.0

    def collect(res: dict) -> None:
        nonlocal video_seconds, asr_audio, asr_time
        results.append(res)
        stats = res.get("asr") or {}
        if stats and not stats.get("cached"):
            asr_audio += stats.get("audio_seconds") or 0.0
            asr_time += stats.get("asr_seconds") or 0.0
            if bar is not None and asr_audio > 0:
                bar.set_postfix_str(f"ASR {asr_time / asr_audio:.3f}x real time")
        if res["status"] in ("ok", "partial"):
            video_seconds += res.get("duration") or 0.0
            m = _read_marker(state / f"{res['video_id']}.json")
            if m is not None:
                markers[res["video_id"]] = m
                write_segments_tsv(out_dir, markers)

    ray_session = ExitStack()  # Ray for this run's tasks; shut down in the end only if started here
    if ray and jobs:
        try:
            ray_session.enter_context(scale_ray.session(workers, ray_address))
        except scale_ray.RayUnavailable as e:
            raise IngestError(str(e)) from None
    bar = None
    if progress and jobs:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc="ingest", unit="video")
    try:
        if not ray and (workers == 1 or len(jobs) <= 1):
            for job in jobs:
                if bar is not None and not asr_audio:
                    bar.set_postfix_str(job.video.name[:40])
                collect(ingest_video(job))
                if bar is not None:
                    bar.update(1)
        else:
            # A video whose worker dies (OOM killer, kill -9) gets one more round in fresh workers;
            # what dies twice fails. (A dead worker breaks a whole process pool, so there every
            # unfinished video of the round is redone; with Ray only that video's task.)
            pending, rounds = list(jobs), 0
            while pending:
                rounds += 1
                retry: list[VideoJob] = []
                tasks = scale_ray.run_tasks(ingest_video, pending) if ray else _pool_tasks(pending, workers)
                with closing(tasks):
                    for i, res, err in tasks:
                        job = pending[i]
                        if isinstance(err, (BrokenProcessPool, scale_ray.WorkerDied)):
                            if rounds == 1:
                                retry.append(job)
                                continue
                            res = _result(job, "failed", [f"worker process died twice (killed, or out of memory): {err}"])
                        elif err is not None:
                            res = _result(job, "failed", [f"worker process failed: {type(err).__name__}: {err}"])
                        collect(res)
                        if bar is not None:
                            bar.update(1)
                if retry:
                    folder_messages.append(f"a worker process died (killed, or out of memory): {len(retry)} unfinished "
                                           "video(s) were redone in new workers")
                pending = retry
    finally:
        ray_session.close()
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
            "backend": "ray" if ray else "processes",
            "videos": [{**r, "segments": len(r.get("segments") or [])} for r in videos],
            "messages": folder_messages,
            "totals": {
                "videos": len(videos), "status": counts, "segments_in_collection": n_segments,
                "processed_video_seconds": round(video_seconds, 2), "wall_seconds": round(wall, 2),
                "video_seconds_per_second": round(video_seconds / wall, 2) if wall > 0 and video_seconds else None,
                "asr_audio_seconds": round(asr_audio, 2),
                "asr_real_time_factor": round(asr_time / asr_audio, 4) if asr_audio else None,
            },
            "complete": len(results) == len(jobs),
        }
        atomic_write_text(out_dir / REPORT_NAME, json.dumps(report, indent=1))
    return report


def _pool_tasks(jobs: list[VideoJob], workers: int):
    """``ingest_video`` of every job in a fresh process pool: ``(index, result, error)`` as each
    finishes (the contract of ``scale_ray.run_tasks``; a dead worker gives ``BrokenProcessPool``)."""
    import multiprocessing as mp

    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=mp.get_context("spawn"),
                             initializer=_die_with_parent, initargs=(os.getpid(),)) as pool:
        with _workers_skip_main_script():  # processes start inside submit()
            futures = {pool.submit(ingest_video, job): i for i, job in enumerate(jobs)}
        for fut in as_completed(futures):
            try:
                res, err = fut.result(), None
            except Exception as e:  # noqa: BLE001 - reported by the caller, never fatal
                res, err = None, e
            yield futures[fut], res, err


@contextmanager
def _workers_skip_main_script():
    """Spawned workers re-run the parent's ``__main__`` script as ``__mp_main__``. Inside Streamlit (a
    page, or AppTest) that is the *app script*, which must not run in a worker; so while workers start,
    ``__main__`` is a blank module and they import only what ``ingest_video`` needs."""
    main = sys.modules.get("__main__")
    if main is None or not getattr(main, "__file__", None):
        yield
        return
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _die_with_parent(parent_pid: int) -> None:
    """Worker initializer: end this worker when the ingest process that started it is gone.

    Linux: the kernel sends SIGKILL when the parent dies (``PR_SET_PDEATHSIG``). Everywhere: a daemon
    thread polls the parent pid once a second (the parent may die before prctl, or not be Linux)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="ingest-parent-watch", daemon=True).start()


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
    if t.get("asr_real_time_factor"):
        speed += f"; speech recognition at {t['asr_real_time_factor']}x real time"
    lines.append(
        f"{t['videos']} video(s): {status or 'none'}; collection {report['out']} has {t['segments_in_collection']} "
        f"segment(s); {t['processed_video_seconds']} s of video processed in {t['wall_seconds']} s{speed}"
    )
    lines.append(f"report: {Path(report['out']) / REPORT_NAME}")
    return "\n".join(lines)
