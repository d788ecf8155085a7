"""Synthetic videos with subtitles, made on the fly with PyAV (for tests and the ingest benchmark).

``make_video(path, seconds, ...)`` encodes a small video whose colour changes every second (so
keyframes differ between segments) with a moving square (so frames differ within a segment).
``make_cues(seconds, ...)`` builds regular subtitle cues and ``write_subtitles`` writes them as
SRT or WebVTT.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .subtitles import Cue, to_srt, to_vtt


def colour_at(second: int) -> tuple[int, int, int]:
    """A distinct, deterministic background colour for each second."""
    rng = np.random.default_rng(second * 7919 + 17)
    return tuple(int(v) for v in rng.integers(30, 226, size=3))


def make_frame(t: float, width: int, height: int) -> np.ndarray:
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[:] = colour_at(int(t))
    side = max(4, min(width, height) // 4)
    x = int((t * 37) % max(1, width - side))
    y = int((t * 23) % max(1, height - side))
    img[y : y + side, x : x + side] = (255, 255, 255)
    return img


def make_video(
    path: str | Path,
    seconds: float,
    fps: int = 10,
    width: int = 160,
    height: int = 120,
    codec: str | None = None,
    audio: bool = False,
) -> Path:
    """Encode a synthetic video. Codec: libx264 for .mp4/.mkv when available, else mpeg4; vp8 for .webm."""
    import av

    path = Path(path)
    if codec is None:
        if path.suffix.lower() == ".webm":
            codec = "libvpx"
        else:
            codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    n = int(round(seconds * fps))
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        elif codec == "libvpx":
            stream.options = {"deadline": "realtime", "cpu-used": "16", "lag-in-frames": "0", "auto-alt-ref": "0"}
        astream = None
        if audio:
            astream = out.add_stream("aac", rate=16000)
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(make_frame(i / fps, width, height), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if astream is not None:
            samples = int(seconds * 16000)
            chunk = 1024
            for k in range(0, samples, chunk):
                m = min(chunk, samples - k)
                data = (0.1 * np.sin(np.arange(k, k + m) * 2 * np.pi * 440 / 16000)).astype(np.float32)[None, :]
                af = av.AudioFrame.from_ndarray(data, format="fltp", layout="mono")
                af.sample_rate = 16000
                af.pts = k
                for packet in astream.encode(af):
                    out.mux(packet)
            for packet in astream.encode():
                out.mux(packet)
    return path


def make_cues(seconds: float, every: float = 3.0, length: float = 2.5, start: float = 0.5, prefix: str = "line") -> list[Cue]:
    """Regular cues ``prefix k`` every ``every`` seconds, each ``length`` long, inside [0, seconds]."""
    cues, t, k = [], start, 1
    while t + length <= seconds:
        cues.append(Cue(round(t, 3), round(t + length, 3), f"{prefix} {k}"))
        t += every
        k += 1
    return cues


def write_subtitles(path: str | Path, cues: list[Cue], encoding: str = "utf-8", newline: str = "\n") -> Path:
    path = Path(path)
    text = to_vtt(cues) if path.suffix.lower() == ".vtt" else to_srt(cues)
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path
