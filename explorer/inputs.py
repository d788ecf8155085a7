"""Model inputs for a collection: text vectors, images (keyframes or visual features) and labels.

Training and evaluation both call ``prepare_inputs`` so a checkpoint is always fed exactly the kind
of input it was trained on (its ``DataSpec``). Images of ``pixels64`` models are kept as compact
uint8 (N, 64, 64, 3) and converted to [-1, 1] floats one batch at a time (``image_batch``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .data.images import keyframes_uint8, to_model_range
from .data.text import WordVectors, collection_word_vectors, text_features
from .models.base import DataSpec


@dataclass
class Inputs:
    text: torch.Tensor  # (N, Dt) float32
    known: torch.Tensor  # (N,) bool: transcript has at least one in-vocabulary word
    image: torch.Tensor  # (N, 64, 64, 3) uint8 for pixels64, else (N, Di) float32
    label: torch.Tensor  # (N,) int64 category index, -1 when the segment has none
    categories: list[str]  # index -> category name
    pixels: bool

    def __len__(self) -> int:
        return int(self.text.shape[0])

    def image_batch(self, idx, device) -> torch.Tensor:
        x = self.image[idx]
        return to_model_range(x.numpy()).to(device) if self.pixels else x.to(device)

    def batch(self, idx, device) -> dict:
        return {"image": self.image_batch(idx, device), "text": self.text[idx].to(device), "label": self.label[idx].to(device)}


def category_index(collection) -> tuple[list[str], np.ndarray]:
    names = sorted({c for c in collection.categories if c is not None})
    lookup = {c: i for i, c in enumerate(names)}
    return names, np.array([lookup.get(c, -1) if c is not None else -1 for c in collection.categories], dtype=np.int64)


def default_spec(collection, wants_pixels: bool, visual: str = "mobilenet", word_vectors: WordVectors | None = None) -> DataSpec:
    """The DataSpec a new model of this kind gets on this collection."""
    n_classes = len(category_index(collection)[0])
    if collection.features:  # feature-only collection (Wikipedia): its own image and text features
        if wants_pixels:
            raise ValueError(f"this model needs keyframe images, but collection {collection.name!r} has only precomputed features")
        dims = collection.feature_dims()
        return DataSpec("features:builtin", dims["image"], "builtin", dims["text"], n_classes)
    text_dim = word_vectors.dim if word_vectors is not None else 100
    if wants_pixels:
        return DataSpec("pixels64", 3 * 64 * 64, "word2vec", text_dim, n_classes)
    from .features.visual import VISUAL_EXTRACTORS

    if visual not in VISUAL_EXTRACTORS:
        raise ValueError(f"unknown visual extractor {visual!r} (known: {', '.join(VISUAL_EXTRACTORS)})")
    return DataSpec(f"features:{visual}", int(VISUAL_EXTRACTORS[visual].dim), "word2vec", text_dim, n_classes)


def prepare_inputs(collection, spec: DataSpec, word_vectors: WordVectors | None, device: str = "cpu",
                   categories: list[str] | None = None, progress: bool = True) -> Inputs:
    """All segments of ``collection`` as model inputs matching ``spec``."""
    if spec.text_input == "builtin":
        if "text" not in collection.features:
            raise ValueError(f"model expects built-in text features but collection {collection.name!r} has raw transcripts")
        text, known = text_features(collection)
    else:
        if word_vectors is None:
            word_vectors = collection_word_vectors(collection)
        text, known = text_features(collection, word_vectors)
    if text.shape[1] != spec.text_dim:
        raise ValueError(f"text features of {collection.name!r} are {text.shape[1]}-d, the model expects {spec.text_dim}-d")

    kind, _, name = spec.image_input.partition(":")
    if spec.image_input == "pixels64":
        image = torch.from_numpy(keyframes_uint8(collection, progress=progress))
    elif kind == "features" and name == "builtin":
        if "image" not in collection.features:
            raise ValueError(f"model expects built-in image features but collection {collection.name!r} has keyframes")
        image = torch.from_numpy(collection.features["image"].astype(np.float32))
    elif kind == "features":
        from .features.visual import extract_collection_features

        image = torch.from_numpy(np.asarray(extract_collection_features(collection, name, device=device, progress=progress), dtype=np.float32))
    else:
        raise ValueError(f"unknown image input {spec.image_input!r}")
    if spec.image_input != "pixels64" and image.shape[1] != spec.image_dim:
        raise ValueError(f"image features of {collection.name!r} are {image.shape[1]}-d, the model expects {spec.image_dim}-d")

    names, labels = category_index(collection)
    if categories is not None:  # keep the training collection's category numbering
        lookup = {c: i for i, c in enumerate(categories)}
        labels = np.array([lookup.get(c, -1) if c is not None else -1 for c in collection.categories], dtype=np.int64)
        names = list(categories)
    return Inputs(text=torch.from_numpy(text), known=torch.from_numpy(known), image=image,
                  label=torch.from_numpy(labels), categories=names, pixels=spec.image_input == "pixels64")


@torch.inference_mode()
def embed_all(model, inputs: Inputs, idx=None, device: str = "cpu", batch_size: int = 512,
              allocate=None) -> dict[str, np.ndarray]:
    """Run ``model.embed`` (eval mode) over the segments ``idx`` (default all): {name: (n, E) float32}.

    Each batch is written into its rows of the output arrays, made on the first batch by
    ``allocate(name, n, dim)`` (default ``np.empty``; ``explorer.embedstore`` passes memory-mapped files, so a
    collection's embeddings are never held in memory, and never twice)."""
    was_training = model.training
    model.eval()
    idx = torch.arange(len(inputs)) if idx is None else torch.as_tensor(idx)
    allocate = allocate or (lambda name, n, dim: np.empty((n, dim), dtype=np.float32))
    out: dict[str, np.ndarray] = {}
    from .progress import report

    try:
        for start in range(0, len(idx), batch_size):
            b = idx[start : start + batch_size]
            emb = model.embed(inputs.image_batch(b, device), inputs.text[b].to(device))
            for k, v in emb.items():
                if k not in out:
                    out[k] = allocate(k, len(idx), v.shape[1])
                out[k][start : start + len(b)] = v.float().cpu().numpy()
            report("embedding the segments", min(start + batch_size, len(idx)), len(idx))
    finally:
        model.train(was_training)
    return out
