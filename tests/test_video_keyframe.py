"""The representative keyframe (per-pixel median, closest frame) against brute-force computations."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from explorer.data.images import square_resize
from explorer.paths import data_root
from explorer.video.keyframe import median_distances, per_pixel_median, select_keyframe


def histogram_median(frames: np.ndarray) -> np.ndarray:
    """Brute force: per pixel and channel, the smallest v whose cumulative histogram reaches ceil(F/2)."""
    f, h, w, c = frames.shape
    need = math.ceil(f / 2)
    out = np.zeros((h, w, c), dtype=np.uint8)
    for y in range(h):
        for x in range(w):
            for ch in range(c):
                cum = np.cumsum(np.bincount(frames[:, y, x, ch], minlength=256))
                out[y, x, ch] = int(np.argmax(cum >= need))
    return out


def brute_force_keyframe(frames: list[np.ndarray]) -> int:
    """Sort-based lower median and a plain loop over L1 distances; ties -> earliest."""
    arr = np.stack(frames).astype(np.int64)
    med = np.sort(arr, axis=0)[(len(frames) - 1) // 2]
    best, best_d = 0, None
    for i, fr in enumerate(arr):
        d = int(np.abs(fr - med).sum())
        if best_d is None or d < best_d:
            best, best_d = i, d
    return best


@pytest.mark.parametrize("n_frames", [1, 2, 3, 4, 7, 10])
def test_median_matches_histogram_definition(n_frames):
    rng = np.random.default_rng(n_frames)
    frames = rng.integers(0, 256, size=(n_frames, 5, 6, 3), dtype=np.uint8)
    frames[:, 0, 0, 0] = 7  # ties
    assert np.array_equal(per_pixel_median(frames), histogram_median(frames))


def test_selection_matches_brute_force_random():
    rng = np.random.default_rng(0)
    for trial in range(30):
        f = int(rng.integers(1, 12))
        base = rng.integers(0, 256, size=(1, 8, 9, 3))
        frames = np.clip(base + rng.integers(-40, 40, size=(f, 8, 9, 3)), 0, 255).astype(np.uint8)
        assert select_keyframe(frames) == brute_force_keyframe(list(frames))


def test_outlier_frames_are_not_chosen_and_ties_go_first():
    grey = np.full((4, 4, 4, 3), 100, dtype=np.uint8)
    grey[1] = 0  # an outlier (e.g. a black frame)
    grey[3] = 255
    assert select_keyframe(grey) == 0  # frames 0 and 2 are identical to the median: earliest wins
    assert list(median_distances(grey)) == [0, 100 * 48, 0, 155 * 48]


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        select_keyframe(np.zeros((0, 4, 4, 3), dtype=np.uint8))
    with pytest.raises(ValueError):
        select_keyframe(np.zeros((2, 4, 4, 3), dtype=np.float32))


def sampled_frames(path, start, end, fps):
    """Independent re-implementation of the documented sampling rule, full resolution."""
    import av

    out_t, out_f = [], []
    step = 1.0 / fps
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        offset = float(s.start_time * s.time_base) if s.start_time is not None else 0.0
        nxt = start
        for fr in c.decode(s):
            t = fr.time - offset
            if t >= end - 1e-9:
                break
            if t < start - 1e-9 or t < nxt - 1e-9:
                continue
            out_t.append(t)
            out_f.append(fr.to_ndarray(format="rgb24"))
            nxt = start + (math.floor((t - start) / step + 1e-9) + 1) * step
    return out_t, out_f


def _jpeg_roundtrip(img: Image.Image, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


@pytest.mark.integration
def test_friday_clip_keyframes_are_median_closest(tmp_path):
    """Done-criterion: ingest the real clip; each segment's keyframe is the brute-force median-closest frame."""
    pytest.importorskip("av")
    from explorer.data.collection import load_collection
    from explorer.video.ingest import IngestParams, ingest

    root = data_root(required=False)
    folder = root / "video_fixtures" / "his_girl_friday_clip" if root else None
    if folder is None or not folder.is_dir():
        pytest.skip("video_fixtures not available")
    fps = 5.0
    params = IngestParams(segment_seconds=2, min_seconds=1, max_seconds=4, sample_fps=fps, display_size=480)
    out = tmp_path / "friday"
    report = ingest(folder, out, params, progress=False)
    assert report["videos"][0]["status"] == "ok"
    marker = json.loads((out / ".ingest" / "friday.json").read_text())
    col = load_collection(out)
    assert len(col) == len(marker["segments"]) == 2
    for seg, row in zip(col.segments, marker["segments"]):
        times, frames = sampled_frames(folder / "friday.mp4", seg.start, seg.end, fps)
        assert row["n_frames"] == len(frames) >= 5
        k = brute_force_keyframe(frames)
        assert row["keyframe_time"] == pytest.approx(times[k], abs=1e-3)
        expected = square_resize(Image.fromarray(frames[k]), 64)
        got = np.asarray(Image.open(seg.image_path).convert("RGB"))
        assert got.shape == (64, 64, 3)
        assert np.array_equal(got, _jpeg_roundtrip(expected, 95))
        display = Image.open(out / "display" / f"{seg.id}.jpg")
        assert display.size == (640, 480)
