"""Ingest throughput: video seconds processed per wall-clock second, with 1 and 2 workers.

Usage::

    python bench/bench_ingest.py [--videos 4] [--seconds 60] [--size 640x480] [--fps 25]
                                 [--sample-fps 1] [--workers 1 2] [--real 8] [--json out.json]

Two inputs are timed:

- *synthetic*: ``--videos`` H.264 videos (``explorer.video.synth.make_video``: a colour changing every
  second plus a moving square) of ``--seconds`` each at ``--size`` / ``--fps``, with a cue every 3 s;
  generated once into ``--cache`` (default: a temp folder) and reused;
- *real*: ``--real`` copies of the His Girl Friday clip from ``video_fixtures`` (6.17 s, H.264
  640x480, 30 fps, real film footage), segmented with 2 s target / 1 s minimum so each copy yields
  segments. Skipped when the fixture is absent or ``--real 0``.

Every configuration ingests into a fresh output folder (no resume), without a progress bar. The
time includes process start-up for 2 workers. Prints one line per configuration and, with
``--json``, writes all numbers to a file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from explorer.paths import data_root  # noqa: E402
from explorer.video.ingest import IngestParams, ingest  # noqa: E402
from explorer.video.synth import make_cues, make_video, write_subtitles  # noqa: E402


def synthetic_folder(cache: Path, videos: int, seconds: float, size: tuple[int, int], fps: int) -> Path:
    folder = cache / f"synth_{videos}x{seconds:g}s_{size[0]}x{size[1]}_{fps}fps"
    done = folder / ".complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    for i in range(videos):
        make_video(folder / f"synth{i:02d}.mp4", seconds, fps=fps, width=size[0], height=size[1])
        write_subtitles(folder / f"synth{i:02d}.srt", make_cues(seconds, every=3.0, length=2.5, prefix=f"video {i} line"))
    done.write_text("ok")
    print(f"generated {videos} synthetic videos in {time.perf_counter() - t:.1f} s -> {folder}", file=sys.stderr)
    return folder


def real_folder(cache: Path, copies: int) -> Path | None:
    root = data_root(required=False)
    src = root / "video_fixtures" / "his_girl_friday_clip" if root else None
    if copies <= 0 or src is None or not (src / "friday.mp4").exists():
        return None
    folder = cache / f"friday_x{copies}"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(copies):
        for ext in (".mp4", ".vtt"):
            dst = folder / f"friday{i:02d}{ext}"
            if not dst.exists():
                shutil.copy2(src / f"friday{ext}", dst)
    return folder


def time_ingest(src: Path, params: IngestParams, workers: int, scratch: Path) -> dict:
    out = scratch / f"out_{src.name}_{workers}w"
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    report = ingest(src, out, params, workers=workers, progress=False)
    wall = time.perf_counter() - t
    totals = report["totals"]
    bad = [v["video"] for v in report["videos"] if v["status"] not in ("ok", "partial")]
    if bad:
        raise SystemExit(f"benchmark videos failed to ingest: {bad}")
    return {
        "input": src.name, "workers": workers, "videos": totals["videos"],
        "video_seconds": totals["processed_video_seconds"], "segments": totals["segments_in_collection"],
        "wall_seconds": round(wall, 3), "video_seconds_per_second": round(totals["processed_video_seconds"] / wall, 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--sample-fps", type=float, default=1.0)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--real", type=int, default=8, help="copies of the real fixture clip (0: skip)")
    ap.add_argument("--cache", type=Path, default=None, help="where generated inputs are kept (default: temp)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    w, h = (int(x) for x in args.size.lower().split("x"))
    tmp = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    cache = args.cache or tmp
    results = []
    try:
        inputs = [(synthetic_folder(cache, args.videos, args.seconds, (w, h), args.fps),
                   IngestParams(sample_fps=args.sample_fps))]
        real = real_folder(cache, args.real)
        if real is not None:
            inputs.append((real, IngestParams(segment_seconds=2, min_seconds=1, max_seconds=4, sample_fps=args.sample_fps)))
        for src, params in inputs:
            for workers in args.workers:
                r = time_ingest(src, params, workers, tmp)
                results.append(r)
                print(
                    f"{r['input']:<32} workers={r['workers']}  {r['videos']} videos, {r['video_seconds']:.1f} s of video, "
                    f"{r['segments']} segments in {r['wall_seconds']:.2f} s  ->  {r['video_seconds_per_second']:.1f} video s / s"
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps({
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "params": {"sample_fps": args.sample_fps, "size": args.size, "fps": args.fps},
            "results": results,
        }, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
