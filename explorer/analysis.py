"""Analyses of a trained GAN-CLS: colour of generated images, and how well inverted images name their content.

- ``mean_hue`` / ``hue_share``: circular mean hue, and the share of coloured pixels in a hue range, of
  a batch of images; they check that the generator turns colour words into colour (paper's Table 1).
- ``colour_share``: the share of pixels showing a named colour (hue range, or white).
- ``topwords_quality``: for each image of a split, the inverted generator's top-k words (paper's Table 3)
  are compared with the words of the image's own transcript: *hit rate* (share of images whose top-k
  contains at least one of their transcript's content words) and *precision* (share of the top-k words
  that occur in the transcript), beside two baselines that see no image: k random vocabulary words,
  and the k most frequent training words.
"""

from __future__ import annotations

import numpy as np

from .data.text import STOPWORDS, tokenize


def mean_hue(images_uint8: np.ndarray) -> tuple[float, float]:
    """(hue in degrees [0, 360), mean saturation) of (N, H, W, 3) uint8 images, saturation-weighted."""
    from PIL import Image

    hues, sats = [], []
    for img in images_uint8:
        hsv = np.asarray(Image.fromarray(img).convert("HSV"), dtype=np.float64)  # PIL: H, S, V in 0..255
        hues.append(hsv[..., 0].ravel() * 2 * np.pi / 255.0)
        sats.append(hsv[..., 1].ravel() / 255.0 * (hsv[..., 2].ravel() / 255.0))  # weight: chroma-like
    h, w = np.concatenate(hues), np.concatenate(sats)
    angle = np.arctan2((w * np.sin(h)).sum(), (w * np.cos(h)).sum())
    return float(np.degrees(angle) % 360.0), float(w.mean())


def hue_share(images_uint8: np.ndarray, lo: float, hi: float, min_saturation: float = 0.25, min_value: float = 0.2) -> float:
    """Share of pixels of (N, H, W, 3) uint8 images whose hue lies in [lo, hi) degrees, among all pixels.

    Only coloured pixels count (saturation and value above the thresholds), so grey and dark
    background never counts as any hue. Unlike the mean hue, it is not dominated by green leaves.
    """
    from PIL import Image

    hsv = np.stack([np.asarray(Image.fromarray(img).convert("HSV"), dtype=np.float64) for img in images_uint8])
    hue, sat, val = hsv[..., 0] * 360.0 / 255.0, hsv[..., 1] / 255.0, hsv[..., 2] / 255.0
    coloured = (sat > min_saturation) & (val > min_value)
    return float(((hue >= lo) & (hue < hi) & coloured).mean())


# Hue ranges (degrees) of colour words, for checking that a generator respects them; "white" is
# low saturation and high value instead of a hue.
COLOUR_HUES = {"red": (345.0, 15.0), "orange": (15.0, 40.0), "yellow": (40.0, 70.0), "purple": (250.0, 300.0),
               "pink": (300.0, 345.0)}


def colour_share(images_uint8: np.ndarray, colour: str) -> float:
    """Share of pixels of (N, H, W, 3) uint8 images that show ``colour`` (a key of COLOUR_HUES, or "white")."""
    if colour == "white":
        from PIL import Image

        hsv = np.stack([np.asarray(Image.fromarray(img).convert("HSV"), dtype=np.float64) for img in images_uint8])
        return float(((hsv[..., 1] / 255.0 < 0.2) & (hsv[..., 2] / 255.0 > 0.75)).mean())
    if colour not in COLOUR_HUES:
        raise ValueError(f"unknown colour {colour!r} (known: white, {', '.join(COLOUR_HUES)})")
    lo, hi = COLOUR_HUES[colour]
    if lo > hi:  # the range wraps around 0 degrees
        return hue_share(images_uint8, lo, 360.0) + hue_share(images_uint8, 0.0, hi)
    return hue_share(images_uint8, lo, hi)


def hue_distance(a: float, b: float) -> float:
    """Circular distance between two hues in degrees (0..180)."""
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)


def content_words(text: str) -> set[str]:
    return {t for t in tokenize(text) if t not in STOPWORDS}


def frequent_words(texts: list[str], k: int) -> list[str]:
    """The k most frequent content words (stopwords left out) of ``texts``; ties by word."""
    counts: dict[str, int] = {}
    for text in texts:
        for w in tokenize(text):
            if w not in STOPWORDS:
                counts[w] = counts.get(w, 0) + 1
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def topwords_quality(word_lists: list[list[str]], transcripts: list[str], vocab: list[str], train_texts: list[str],
                     k: int = 15, seed: int = 0, random_draws: int = 20) -> dict:
    """Hit rate and precision of per-image top-k words against each image's own transcript.

    ``word_lists[i]`` are the top words predicted for image i (at most k are used). Returns
    {"method": {"hit_rate", "precision"}, "random": {...}, "frequent": {...}, "k", "n"}.
    """
    truth = [content_words(t) for t in transcripts]

    def score(lists: list[list[str]]) -> dict:
        hits = [bool(set(ws[:k]) & t) for ws, t in zip(lists, truth)]
        prec = [len([w for w in ws[:k] if w in t]) / k for ws, t in zip(lists, truth)]
        return {"hit_rate": float(np.mean(hits)), "precision": float(np.mean(prec))}

    content_vocab = [w for w in vocab if w not in STOPWORDS]
    rng = np.random.default_rng(seed)
    draws = [score([list(rng.choice(content_vocab, size=k, replace=False)) for _ in truth]) for _ in range(random_draws)]
    frequent = frequent_words(train_texts, k)
    return {
        "method": score(word_lists),
        "random": {key: float(np.mean([d[key] for d in draws])) for key in ("hit_rate", "precision")},
        "frequent": score([frequent] * len(truth)),
        "frequent_words": frequent,
        "k": k,
        "n": len(truth),
    }
