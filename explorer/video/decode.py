"""Video decoding through PyAV: probing, and sampling the frames of a list of segments in one pass.

``probe_video`` opens a file and reports its duration, size and frame rate, raising ``VideoError``
with a clear message for anything unreadable (not a video, no video stream, corrupt header).

``sample_segments`` decodes the video stream once, front to back, and yields, per segment (in
order), the frames sampled inside it. Sampling rule at ``sample_fps`` (> 0): the sampling instants
of a segment ``[start, end)`` are ``start, start + 1/fps, start + 2/fps, ...``; a decoded frame is
taken when its timestamp is at or after the next pending instant, after which the next instant is the
first one strictly after that frame's timestamp. ``sample_fps=None`` (or 0) takes every frame.
Timestamps are relative to the video stream's start time, so they match subtitle times.

Sampled frames are converted to RGB and scaled so that their shorter side is at most
``max_side`` pixels (area interpolation; never upscaled; ``None`` keeps the original size).

A segment whose frames could not all be decoded (the stream ended or failed before the segment's
end: a truncated or corrupt file) is yielded with ``complete=False`` and a reason.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

VIDEO_SUFFIXES = (
    ".mp4", ".m4v", ".mkv", ".webm", ".mov", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
    ".flv", ".ogv", ".ogg", ".wmv", ".3gp",
)


class VideoError(RuntimeError):
    """A video cannot be opened or decoded; the message names the file and the problem."""


@dataclass
class VideoInfo:
    path: Path
    duration: float | None  # seconds, None when the container does not say
    width: int
    height: int
    fps: float | None
    frames: int | None
    codec: str


@dataclass
class SegmentFrames:
    index: int  # position in the list of segments passed in
    times: list[float] = field(default_factory=list)  # seconds, one per sampled frame
    frames: list[np.ndarray] = field(default_factory=list)  # (H, W, 3) uint8 each
    complete: bool = True
    reason: str = ""


def _open(path: Path):
    import av

    try:
        return av.open(str(path), mode="r")
    except Exception as e:  # av.error.* (InvalidDataError, ...), OSError
        raise VideoError(f"{path.name}: cannot open as a video ({_describe(e)})") from e


def _describe(e: BaseException) -> str:
    msg = str(e).strip() or type(e).__name__
    return f"{type(e).__name__}: {msg}" if type(e).__name__ not in msg else msg


def probe_video(path: str | Path) -> VideoInfo:
    path = Path(path)
    container = _open(path)
    try:
        if not container.streams.video:
            raise VideoError(f"{path.name}: no video stream (streams: {', '.join(s.type for s in container.streams) or 'none'})")
        s = container.streams.video[0]
        duration = None
        if s.duration is not None and s.time_base is not None:
            duration = float(s.duration * s.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        if duration is not None and duration <= 0:
            duration = None
        fps = float(s.average_rate) if s.average_rate else (float(s.guessed_rate) if s.guessed_rate else None)
        cc = s.codec_context
        if not cc.width or not cc.height:
            raise VideoError(f"{path.name}: video stream has no frame size (corrupt header?)")
        return VideoInfo(
            path=path, duration=duration, width=int(cc.width), height=int(cc.height), fps=fps,
            frames=int(s.frames) if s.frames else None, codec=cc.name,
        )
    finally:
        container.close()


def scaled_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(w, h) with the shorter side at most ``max_side`` (aspect kept, even numbers not required)."""
    short = min(width, height)
    if max_side is None or short <= max_side:
        return width, height
    f = max_side / short
    return max(1, round(width * f)), max(1, round(height * f))


def sample_segments(
    path: str | Path,
    spans: list[tuple[float, float]],
    sample_fps: float | None = 1.0,
    max_side: int | None = 256,
    threads: int = 0,
) -> Iterator[SegmentFrames]:
    """Yield one ``SegmentFrames`` per span, in order (see the module docstring)."""
    import av

    path = Path(path)
    n = len(spans)
    if n == 0:
        return
    for a, b in zip(spans, spans[1:]):
        if b[0] < a[1] - 1e-9:
            raise ValueError("spans must be sorted and non-overlapping")
    container = _open(path)
    try:
        if not container.streams.video:
            raise VideoError(f"{path.name}: no video stream")
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        stream.codec_context.thread_count = threads if threads > 0 else 0
        offset = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        rate = float(stream.average_rate) if stream.average_rate else 25.0
        step = 1.0 / sample_fps if sample_fps else 0.0
        idx = 0
        cur = SegmentFrames(0)
        next_sample = spans[0][0]
        last_t: float | None = None
        count = 0
        error: str | None = None
        size: tuple[int, int] | None = None
        try:
            for frame in container.decode(stream):
                t = (frame.time - offset) if frame.time is not None else count / rate
                count += 1
                last_t = t
                while idx < n and t >= spans[idx][1] - 1e-9:
                    if not cur.frames:
                        cur.complete, cur.reason = False, "no frame decoded inside the segment"
                    yield cur
                    idx += 1
                    if idx < n:
                        cur = SegmentFrames(idx)
                        next_sample = spans[idx][0]
                if idx >= n:
                    break
                if t < spans[idx][0] - 1e-9 or t < next_sample - 1e-9:
                    continue
                if size is None:
                    size = scaled_size(frame.width, frame.height, max_side)
                if size == (frame.width, frame.height):
                    arr = frame.to_ndarray(format="rgb24")
                else:
                    arr = frame.reformat(width=size[0], height=size[1], format="rgb24", interpolation="AREA").to_ndarray()
                cur.frames.append(arr)
                cur.times.append(t)
                if step:
                    s0 = spans[idx][0]
                    next_sample = s0 + (math.floor((t - s0) / step + 1e-9) + 1) * step
        except av.error.FFmpegError as e:
            error = f"decoding failed after {count} frame(s) (at {last_t or 0:.2f} s): {_describe(e)}"
        if idx >= n:
            return
        # The stream ended (or failed) before the end of the remaining segments.
        tol = max(1.0, 2.0 / rate, step)
        while idx < n:
            start, end = spans[idx]
            if error:
                cur.complete, cur.reason = False, error
            elif not cur.frames:
                cur.complete = False
                cur.reason = (
                    f"no frame decoded inside the segment (the video stream ends at {last_t:.2f} s: truncated?)"
                    if last_t is not None else "no frame could be decoded (empty or corrupt video stream)"
                )
            elif last_t is None or last_t < end - tol:
                cur.complete = False
                cur.reason = f"frames stop at {last_t:.2f} s, before the segment's end ({end:.2f} s): truncated video?"
            yield cur
            idx += 1
            cur = SegmentFrames(idx)
    finally:
        container.close()


def default_threads(workers: int) -> int:
    """Decoder threads per worker process so that workers x threads ~ CPU count."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))
