"""The contract every model kind follows, and the batch/data types the training runner hands it.

A model kind is one file in ``explorer/models/`` defining a config dataclass (defaults = the paper's
setting) and an ``nn.Module`` subclass of ``MultimodalModel``. The runner (``explorer.train``) only
ever calls the methods below, so every kind trains, checkpoints, resumes and evaluates the same way:

- ``__init__(config, spec)``: build layers from the config and the ``DataSpec`` (input sizes);
- ``fit_input_stats(train)``: optional, once before training (input normalisation statistics);
- ``configure_optimizers() -> dict[name, Optimizer]``;
- ``train_step(batch, optimizers) -> dict[str, float]``: one update (for a GAN: one D update and its
  G updates), returning scalar metrics for the log;
- ``embed(image, text) -> dict[str, Tensor]``: ``"joint"`` (B, E), the representation hyperlinking
  ranks by cosine similarity; crossmodal models also return ``"image"`` and ``"text"`` (B, E') in a
  common space, computable from one modality alone. ``embed`` is called in eval mode (BN running
  statistics, no dropout) under ``torch.inference_mode``.
- ``fit_closed_form(data) -> dict`` (optional, ``closed_form = True``): models solved in one shot
  (CCA and friends) do it here instead of epochs of ``train_step``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import ClassVar

import torch
from torch import nn


@dataclass
class DataSpec:
    """What a model consumes; stored in the checkpoint so evaluation can rebuild the inputs.

    image_input: ``"pixels64"`` (B, 3, 64, 64) floats in [-1, 1], or ``"features:<name>"`` where name is
                 a visual extractor (``mobilenet``, ``vgg19``, ``pixels``) or ``builtin`` (the
                 collection's own precomputed image features, e.g. Wikipedia SIFT-BoW).
    text_input:  ``"word2vec"`` (averaged skip-gram vectors, stored in the checkpoint) or ``"builtin"``.
    """

    image_input: str
    image_dim: int
    text_input: str
    text_dim: int
    n_classes: int = 0  # categories in the training split (supervised kinds use them)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DataSpec":
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


Batch = dict  # {"image": Tensor (B, ...), "text": Tensor (B, Dt), "label": LongTensor (B,) (-1 = none)}


class MultimodalModel(nn.Module):
    kind: ClassVar[str] = "base"
    closed_form: ClassVar[bool] = False
    #: "pixels64" models need keyframe tensors; others take a feature vector per image.
    wants_pixels: ClassVar[bool] = False
    #: submodules ``embed`` never uses (discriminators, decoders): ``explorer release`` leaves them out
    training_only_modules: ClassVar[tuple[str, ...]] = ()
    #: generative kinds (with ``generate(text, z)``): how they name an image's top words, best first
    #: (``explorer.api.top_words``); empty for kinds without a generator
    topword_methods: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config, spec: DataSpec):
        super().__init__()
        self.config = config
        self.spec = spec

    def fit_input_stats(self, train: dict) -> None:
        """Called once by the runner, before the first step of a fresh run, with the whole train split
        ({"image", "text", "label"} tensors; "image" omitted for pixel models). Kinds that normalise
        their inputs store the statistics here as buffers (so checkpoints carry them). Default: no-op."""

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def train_step(self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        raise NotImplementedError

    def embed(self, image: torch.Tensor | None, text: torch.Tensor | None) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def fit_closed_form(self, data: dict) -> dict:
        raise NotImplementedError(f"{self.kind} is trained by train_step, not in closed form")


def config_from_dict(config_cls, values: dict):
    """Rebuild a config dataclass, refusing unknown keys with a clear message."""
    names = {f.name for f in fields(config_cls)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown {config_cls.__name__} option(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(names))}")
    return config_cls(**values)
