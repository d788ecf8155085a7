"""The library facade: everything the CLI's model commands and the Streamlit pages call.

Pages import only this module (and never Streamlit from ``explorer/``). Functions take checkpoint
paths and collection names, return numpy arrays / plain dicts, and raise ``ValueError`` subclasses
with a message fit to show a user. Loaded models are memoised per (path, mtime, device).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from .data.images import image_to_uint8, load_rgb, to_model_range
from .evaluate import LoadedModel


class NotGenerativeError(ValueError):
    """The checkpoint's model kind has no generator (only GAN-CLS checkpoints generate images)."""


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime: float, device: str) -> LoadedModel:
    return LoadedModel(path, device)


def load_model(path: str | Path, device: str = "cpu") -> LoadedModel:
    """A checkpoint rebuilt for inference (memoised while the file is unchanged)."""
    p = Path(path)
    if not p.is_file():
        from .checkpoint import CheckpointError

        raise CheckpointError(f"no checkpoint at {p}")
    return _load(str(p.resolve()), p.stat().st_mtime, device)


def _generative(path) -> LoadedModel:
    lm = load_model(path)
    if not hasattr(lm.model, "generate"):
        raise NotGenerativeError(f"{Path(path).name} is a {lm.kind!r} model, which has no generator")
    return lm


def transcript_vocabulary(path, text: str) -> dict:
    """Which words of ``text`` the checkpoint's word vectors know: {"known": [...], "unknown": [...]}."""
    lm = load_model(path)
    if lm.word_vectors is None:
        raise ValueError(f"{Path(path).name} has no word vectors (it was trained on built-in text features)")
    known, unknown = lm.word_vectors.split_known(text)
    return {"known": known, "unknown": unknown}


@torch.inference_mode()
def generate_images(path, text: str, n: int = 8, seed: int = 0) -> np.ndarray:
    """(n, 64, 64, 3) uint8 images the generator draws for ``text`` (noise seeded by ``seed``).

    Raises ``OutOfVocabularyError`` when no word of ``text`` is known, ``ValueError`` for n < 1.
    """
    if not 1 <= n <= 256:
        raise ValueError(f"n must be between 1 and 256, got {n}")
    lm = _generative(path)
    t = torch.from_numpy(lm.word_vectors.embed(text)).float()[None].repeat(n, 1)  # (n, 100)
    g = torch.Generator().manual_seed(seed)
    z = torch.rand(n, lm.model.config.noise_dim, generator=g) * 2 - 1
    from .data.images import from_model_range

    return from_model_range(lm.model.generate(t.to(lm.device), z.to(lm.device)))


def image_tensor(image) -> torch.Tensor:
    """A path, bytes, PIL image or (64, 64, 3) uint8 array -> (1, 3, 64, 64) tensor in [-1, 1] (validated)."""
    if isinstance(image, np.ndarray):
        arr = image_to_uint8(__import__("PIL.Image").Image.fromarray(image))
    elif isinstance(image, (str, Path, bytes)):
        arr = image_to_uint8(load_rgb(image))
    else:
        arr = image_to_uint8(image)
    return to_model_range(arr[None])


def invert_image(path, image, method: str = "transposed", steps: int = 200) -> np.ndarray:
    """The text-space vector (100,) the inverted generator gives for an image."""
    lm = _generative(path)
    x = image_tensor(image).to(lm.device)
    if method == "transposed":
        with torch.no_grad():
            vec = lm.model.invert_transposed(x)
    elif method == "optimise":
        vec = lm.model.invert_optimise(x, steps=steps)
    else:
        raise ValueError(f"unknown inversion method {method!r} (transposed | optimise)")
    return vec[0].cpu().numpy()


def top_words(path, image, k: int = 15, method: str = "transposed", skip_stopwords: bool = True) -> list[tuple[str, float]]:
    """The k vocabulary words nearest (cosine) to the image's inverted text vector (paper's Table 3)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    lm = _generative(path)
    return lm.word_vectors.nearest(invert_image(path, image, method), k=k, skip_stopwords=skip_stopwords)
