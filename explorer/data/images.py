"""Keyframe images: validated decoding, and 64x64 RGB tensors in [-1, 1] for the GANs.

``load_rgb`` is the one place an image file (or uploaded bytes) is decoded: it rejects non-images,
images over ``MAX_PIXELS`` (decompression bombs, e.g. a 50-megapixel upload) and converts any mode
(L, P, RGBA, CMYK, I;16) to RGB. ``keyframes_uint8`` returns all of a collection's keyframes as a
cached (N, 64, 64, 3) uint8 array; ``to_model_range`` maps it to the (N, 3, 64, 64) float [-1, 1]
tensor the GANs consume.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..cache import cached_arrays

MAX_PIXELS = 40_000_000  # 40 MP: larger uploads are refused with a clear message, not decoded
KEYFRAME_SIZE = 64
KEYFRAME_VERSION = 1  # bump when the resize/crop below changes: cached arrays become stale


class ImageInputError(ValueError):
    """The input is not a usable image; the message says why."""


def decode_problem(e: BaseException) -> str:
    """What went wrong decoding an image, in words (no Python class names): for user-facing messages."""
    if isinstance(e, UnidentifiedImageError):
        return "its contents are not in any image format this tool reads"
    if isinstance(e, Image.DecompressionBombError):
        return "it declares far more pixels than any keyframe needs"
    detail = " ".join(str(e).split())[:200]
    return f"the file is damaged or truncated: {detail}" if detail else "the file is damaged or truncated"


def load_rgb(source: str | Path | bytes, what: str | None = None) -> Image.Image:
    """Decode an image file path or raw bytes into an RGB PIL image, validating it first."""
    label = what or (str(source) if not isinstance(source, bytes) else "uploaded image")
    try:
        fp = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
    except OSError as e:
        raise ImageInputError(f"cannot read {label}: {e.strerror or e}") from e
    with fp:
        try:
            img = Image.open(fp)
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageInputError(
                    f"{label} is {w}x{h} = {w * h / 1e6:.0f} megapixels; the limit is {MAX_PIXELS / 1e6:.0f} MP"
                )
            if w < 8 or h < 8:
                raise ImageInputError(f"{label} is only {w}x{h} pixels; keyframes need at least 8x8")
            img.load()
        except ImageInputError:
            raise
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise ImageInputError(f"{label} is not a readable image ({decode_problem(e)})") from e
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Composite transparent images on white rather than letting the alpha channel be dropped to black.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    if img.mode == "I;16" or img.mode == "I":
        arr = np.asarray(img, dtype=np.float64)
        arr = (255 * (arr - arr.min()) / max(arr.max() - arr.min(), 1)).astype(np.uint8)
        img = Image.fromarray(arr)
    return img.convert("RGB")


def square_resize(img: Image.Image, size: int = KEYFRAME_SIZE) -> Image.Image:
    """Centre-crop to a square, then resize to size x size (bicubic; Lanczos-like antialias)."""
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    if side != size:
        img = img.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
    return img


def image_to_uint8(source: str | Path | bytes | Image.Image, size: int = KEYFRAME_SIZE) -> np.ndarray:
    """One image as a (size, size, 3) uint8 array."""
    img = source if isinstance(source, Image.Image) else load_rgb(source)
    return np.asarray(square_resize(img.convert("RGB"), size), dtype=np.uint8)


def keyframes_uint8(collection, size: int = KEYFRAME_SIZE, progress: bool = False) -> np.ndarray:
    """All keyframes of an image collection as (N, size, size, 3) uint8, cached on disk."""
    if not collection.has_images:
        raise ImageInputError(
            f"collection {collection.name!r} has no keyframe images for every segment "
            f"(layout {collection.layout!r}); use its precomputed features instead"
        )

    def compute() -> dict[str, np.ndarray]:
        from tqdm.auto import tqdm

        out = np.empty((len(collection), size, size, 3), dtype=np.uint8)
        it = enumerate(collection.segments)
        if progress:
            it = tqdm(it, total=len(collection), desc=f"keyframes {collection.name}", unit="img")
        from .. import progress as prog

        for i, seg in it:
            out[i] = image_to_uint8(load_rgb(seg.image_path, what=f"keyframe of segment {seg.id!r} ({seg.image_path})"), size)
            if i % 64 == 63:
                prog.report("decoding keyframes", i + 1, len(collection))
        prog.report("decoding keyframes", len(collection), len(collection))
        return {"images": out}

    key = {"collection": collection.name, "fingerprint": collection.fingerprint(), "size": size, "version": KEYFRAME_VERSION}
    return cached_arrays("keyframes", key, compute)["images"]


def to_model_range(images_uint8: np.ndarray):
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 torch tensor in [-1, 1]."""
    import torch

    arr = np.ascontiguousarray(images_uint8)
    if not arr.flags.writeable:  # torch.from_numpy wants a writable array (read-only views come from caches)
        arr = arr.copy()
    x = torch.from_numpy(arr).permute(0, 3, 1, 2).float()
    return x.div_(127.5).sub_(1.0)


def from_model_range(x) -> np.ndarray:
    """(N, 3, H, W) tensor in [-1, 1] -> (N, H, W, 3) uint8 array."""
    arr = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1)
    return arr.cpu().numpy()


def image_grid(images_uint8: np.ndarray, ncols: int = 8, pad: int = 2) -> Image.Image:
    """Tile (N, H, W, 3) uint8 images into one PIL image, ``ncols`` per row, white padding."""
    n, h, w, _ = images_uint8.shape
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, 3), 255, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y : y + h, x : x + w] = images_uint8[i]
    return Image.fromarray(grid)
