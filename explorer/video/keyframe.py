"""The representative keyframe of a segment, chosen as in Vukotić et al. (ICMR 2017).

Over the frames sampled from a segment, a histogram of intensities is built for every pixel and
channel; its median gives a *median image*; the representative keyframe is the sampled frame closest
to that median image. Precisely:

- per-pixel median: for ``F`` frames, the **lower median** of each pixel/channel's ``F`` values, i.e.
  the smallest intensity whose cumulative histogram count reaches ``ceil(F / 2)`` (for odd ``F`` the
  ordinary median; for even ``F`` the smaller of the two middle values, so the median image holds
  intensities that really occur, and stays uint8);
- distance: **L1**, the sum over all pixels and the three channels of ``|frame - median|``;
- selection: the frame with the smallest distance; ties go to the earliest frame.

All functions are pure and work on an ``(F, H, W, 3)`` uint8 array (a brute-force re-computation
in the tests checks them).
"""

from __future__ import annotations

import numpy as np


def _check(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[0] == 0:
        raise ValueError(f"frames must be a non-empty (F, H, W, C) array, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    return frames


def per_pixel_median(frames: np.ndarray) -> np.ndarray:
    """The lower per-pixel median image, (H, W, C) uint8 (see module docstring)."""
    frames = _check(frames)
    k = (frames.shape[0] - 1) // 2
    if frames.shape[0] == 1:
        return frames[0].copy()
    return np.partition(frames, k, axis=0)[k]


def median_distances(frames: np.ndarray, median: np.ndarray | None = None) -> np.ndarray:
    """L1 distance of every frame to the per-pixel median image, (F,) int64."""
    frames = _check(frames)
    med = per_pixel_median(frames) if median is None else np.asarray(median, dtype=np.uint8)
    med16 = med.astype(np.int16)
    out = np.empty(frames.shape[0], dtype=np.int64)
    for i in range(frames.shape[0]):  # one frame at a time: no (F, H, W, C) int16 temporary
        out[i] = np.abs(frames[i].astype(np.int16) - med16).sum(dtype=np.int64)
    return out


def select_keyframe(frames: np.ndarray) -> int:
    """Index of the frame closest (L1) to the per-pixel median image; ties -> earliest."""
    return int(np.argmin(median_distances(frames)))
