"""What a generative checkpoint does with one input: transcript -> images (the generator, paper's Table 1), image ->
top words (inverted generator or crossmodal scores, Table 3), and the checks of a typed transcript or an uploaded
image that come before."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import torch

from ..data.images import MAX_PIXELS, ImageInputError, decode_problem, image_to_uint8, load_rgb, to_model_range
from ..data.text import STOPWORDS, OutOfVocabularyError, tokenize
from ..evaluate import LoadedModel
from ._memo import Memo
from .checkpoints import load_model, model_path
from .collections import _coll, segment_index, thumbnails

class NotGenerativeError(ValueError):
    """The checkpoint's model kind has no generator (only GAN-CLS checkpoints generate images)."""


def _generative(path) -> LoadedModel:
    lm = load_model(path)
    if not lm.model.generative:
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
    from ..data.images import from_model_range

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


# "optimise" inversions take minutes on a CPU: kept for the images last asked about (the app shows a
# progress bar the first time, then re-ranks for another k or page visit at once).
_INVERSIONS = Memo(32)


def _inversion_key(path, x: torch.Tensor, steps: int) -> tuple:
    p = Path(path).resolve()
    st = p.stat()
    return str(p), st.st_mtime, st.st_size, hashlib.sha1(x.numpy().tobytes()).hexdigest(), steps


OPTIMISE_STEPS = 200  # gradient steps of an "optimise" inversion (what top_words runs, and what is memoised)


def invert_image(path, image, method: str = "transposed", steps: int = OPTIMISE_STEPS) -> np.ndarray:
    """The text-space vector (100,) the inverted generator gives for an image ("optimise": memoised per
    checkpoint file, image and steps; it reports progress while it runs)."""
    lm = _generative(path)
    x = image_tensor(image)
    if method == "transposed":
        with torch.no_grad():
            return lm.model.invert_transposed(x.to(lm.device))[0].cpu().numpy()
    if method == "optimise":
        return _INVERSIONS.get(_inversion_key(path, x, steps),
                               lambda: lm.model.invert_optimise(x.to(lm.device), steps=steps)[0].cpu().numpy())
    raise ValueError(f"unknown inversion method {method!r} (transposed | optimise)")


def top_words_ready(ref, image, method: str | None = None) -> bool:
    """Whether ``image_top_words(ref, image, method=...)`` is instant: False only for an "optimise" inversion
    not computed yet (which takes minutes: the app shows a progress bar for it). ``image`` as for
    ``image_top_words``."""
    path = model_path(ref)
    method = method or topword_methods(path)[0]
    return method != "optimise" or _inversion_key(path, image_tensor(image), OPTIMISE_STEPS) in _INVERSIONS


def topword_methods(path) -> tuple[str, ...]:
    """The top-words methods of a generative checkpoint's kind, best measured first (the default)."""
    return tuple(type(_generative(path).model).topword_methods)


# Crossmodal top words rank only the this-many most frequent training words (word2vec's vocabulary is
# sorted by frequency): rare words and typos ("puirple") have extreme single-word vectors. Chosen on
# val in bench/bench_gan_proj.py (bench/results/gan_proj.md).
CROSSMODAL_VOCAB = 1000


def crossmodal_top_words(lm: LoadedModel, images: torch.Tensor, k: int = 15, skip_stopwords: bool = True,
                         vocab_limit: int | None = CROSSMODAL_VOCAB) -> list[list[tuple[str, float]]]:
    """Per image (B, 3, 64, 64): the k vocabulary words whose text part of D's 1x1 conv is closest
    (cosine) to the image's image part (kinds with ``word_scores``, e.g. gan_proj), among the
    ``vocab_limit`` most frequent words (None: all)."""
    wv = lm.word_vectors
    keep = np.array([not (skip_stopwords and w in STOPWORDS) for w in wv.vocab])
    if vocab_limit is not None:
        keep[vocab_limit:] = False
    with torch.inference_mode():
        scores = lm.model.word_scores(images.to(lm.device), torch.from_numpy(wv.vectors).float().to(lm.device)).cpu().numpy()
    scores[:, ~keep] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [[(wv.vocab[j], float(row[j])) for j in idx] for row, idx in zip(scores, order)]


def top_words(path, image, k: int = 15, method: str | None = None, skip_stopwords: bool = True) -> list[tuple[str, float]]:
    """The k top words of an image (paper's Table 3) by ``method`` (default: the kind's best measured one).

    ``transposed`` / ``optimise`` (gan_cls): vocabulary words nearest to the inverted generator's text
    vector; ``crossmodal`` (gan_proj): words ranked by D's aligned image and text parts.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    methods = topword_methods(path)
    method = method or methods[0]
    if method not in methods:
        raise ValueError(f"{Path(path).name} has no top-words method {method!r} (its methods: {', '.join(methods)})")
    lm = _generative(path)
    if method == "crossmodal":
        return crossmodal_top_words(lm, image_tensor(image), k=k, skip_stopwords=skip_stopwords)[0]
    return lm.word_vectors.nearest(invert_image(path, image, method), k=k, skip_stopwords=skip_stopwords)


class EmptyTranscriptError(ValueError):
    """The transcript is empty (or has no word at all)."""


def check_transcript(ref, text: str) -> dict:
    """{"known": [...], "unknown": [...]} words of a transcript; ``EmptyTranscriptError`` when it has no
    word, ``OutOfVocabularyError`` (listing them) when none is in the model's vocabulary."""
    if not text or not tokenize(text):
        raise EmptyTranscriptError("the transcript is empty: type a few words (e.g. 'a yellow flower with "
                                   "many thin petals'), or pick a segment to use its transcript")
    vocab = transcript_vocabulary(model_path(ref), text)
    if not vocab["known"]:
        shown = ", ".join(dict.fromkeys(vocab["unknown"]).keys())
        raise OutOfVocabularyError(f"none of the words of this transcript is in the model's vocabulary: {shown}")
    return vocab


def generate(ref, text: str, n: int = 8, seed: int = 0) -> dict:
    """``check_transcript`` + ``generate_images``: {"images": (n, 64, 64, 3) uint8, "known", "unknown"}."""
    vocab = check_transcript(ref, text)
    return {"images": generate_images(model_path(ref), text, n=n, seed=seed), **vocab}


MAX_UPLOAD_BYTES = 50_000_000


UPLOAD_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")


def inspect_upload(data: bytes, name: str = "uploaded file") -> dict:
    """Validate an uploaded image (type, size, pixel count, mode): {"format", "mode", "width", "height",
    "bytes"}; ``ImageInputError`` with a clear message otherwise."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ImageInputError(f"{name} is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageInputError(f"{name} is {len(data) / 1e6:.0f} MB; the limit is {MAX_UPLOAD_BYTES / 1e6:.0f} MB")
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt, mode, (w, h) = img.format, img.mode, img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageInputError(f"{name} is not an image (expected {', '.join(UPLOAD_FORMATS)}): "
                              f"{decode_problem(e)}") from e
    if fmt not in UPLOAD_FORMATS:
        raise ImageInputError(f"{name} is a {fmt} image; accepted formats: {', '.join(UPLOAD_FORMATS)}")
    if w * h > MAX_PIXELS:
        raise ImageInputError(f"{name} is {w}x{h} = {w * h / 1e6:.0f} megapixels; the limit is {MAX_PIXELS / 1e6:.0f} MP")
    load_rgb(data, what=name)  # decodes fully: truncated files, tiny images, odd modes
    return {"format": fmt, "mode": mode, "width": w, "height": h, "bytes": len(data)}


def image_preview(data: bytes, max_side: int = 256) -> np.ndarray:
    """A validated image (bytes) shrunk to at most ``max_side`` pixels, as uint8 H x W x 3."""
    img = load_rgb(data, what="uploaded image")
    img.thumbnail((max_side, max_side))
    return np.asarray(img, dtype=np.uint8)


def image_top_words(ref, image, k: int = 15, method: str | None = None) -> list[dict]:
    """``top_words`` as rows: [{"rank", "word", "cosine"}]; ``image``: segment keyframe path, bytes or array."""
    words = top_words(model_path(ref), image, k=k, method=method)
    return [{"rank": r, "word": w, "cosine": float(s)} for r, (w, s) in enumerate(words, 1)]


def segment_image(collection, segment) -> np.ndarray:
    """A segment's 64x64 keyframe (uint8), what the model sees; ``ImageInputError`` when it has none."""
    coll = _coll(collection)
    s = coll.segments[segment_index(coll, segment)]
    if s.image_path is None:
        raise ImageInputError(f"segment {s.id!r} has no keyframe image in collection {coll.name!r}")
    return thumbnails(coll)[segment_index(coll, segment)]


def segment_top_words(ref, collection, segment, k: int = 15, method: str | None = None) -> list[dict]:
    return image_top_words(ref, segment_image(collection, segment), k=k, method=method)
