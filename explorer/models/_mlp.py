"""Shared pieces of the feature-vector (MLP) kinds: input standardisation, MLP builder, small helpers.

``Standardizer``: per-feature z-scoring of an input modality, with its statistics kept in *buffers*
(so they travel in ``state_dict`` and checkpoints round-trip). They are the exact statistics of the
whole train split (float64), set once by ``FeatureModel.fit_input_stats``, which the runner calls
before the first step of a fresh run: the one input-statistics mechanism of every kind (``gan_cls``
and ``gan_proj`` use the same hook for their text statistics). ``forward`` only applies them
(identity until they are set), so ``embed`` in eval mode is a deterministic function of the input
alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import DataSpec, MultimodalModel

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "linear": nn.Identity,
}


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r} (known: {', '.join(ACTIVATIONS)})")
    return ACTIVATIONS[name]()


class Standardizer(nn.Module):
    """(x - mean) / std per feature, with the statistics of the train split (see the module doc)."""

    def __init__(self, dim: int, enabled: bool = True, min_std: float = 1e-3):
        super().__init__()
        self.enabled = bool(enabled)
        self.min_std = float(min_std)
        # buffer names kept from earlier versions, so their checkpoints load: count, mean, m2 (the sum
        # of squared deviations)
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("m2", torch.zeros(dim, dtype=torch.float64))

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        """Set the statistics from all training rows ``x`` (N, D); nothing when disabled."""
        if not self.enabled:
            return
        x = x.detach().to(torch.float64).flatten(1)
        self.count.fill_(x.shape[0])
        self.mean.copy_(x.mean(0) if x.shape[0] else torch.zeros_like(self.mean))
        self.m2.copy_(((x - self.mean) ** 2).sum(0))

    def std(self) -> torch.Tensor:
        if float(self.count) < 2:
            return torch.ones_like(self.mean)
        return torch.sqrt(self.m2 / (self.count - 1)).clamp_min(self.min_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if float(self.count) == 0:
            return x
        mean = self.mean.to(x.dtype)
        std = self.std().to(x.dtype)
        return (x.flatten(1) - mean) / std


def mlp(dims: list[int] | tuple[int, ...], act: str = "relu", batchnorm: bool = False, dropout: float = 0.0,
        last_act: str | None = None, last_batchnorm: bool = False) -> nn.Sequential:
    """Linear layers dims[0] -> dims[1] -> ... -> dims[-1].

    Hidden layers: Linear (+ BatchNorm1d) + ``act`` (+ Dropout). The last layer is plain Linear,
    followed by ``last_batchnorm`` / ``last_act`` when given.
    """
    layers: list[nn.Module] = []
    n = len(dims) - 1
    for i in range(n):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        last = i == n - 1
        if (batchnorm and not last) or (last and last_batchnorm):
            layers.append(nn.BatchNorm1d(dims[i + 1]))
        if not last:
            layers.append(activation(act))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        elif last_act is not None:
            layers.append(activation(last_act))
    return nn.Sequential(*layers)


def l2n(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=-1, eps=1e-8)


def mean_of_normalised(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The ``joint`` embedding of the crossmodal kinds: (l2n(a) + l2n(b)) / 2."""
    return 0.5 * (l2n(a) + l2n(b))


def per_modality_mse(pred_i: torch.Tensor, x_i: torch.Tensor, pred_t: torch.Tensor, x_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each modality's mean squared error (so a 1,024-d image does not outweigh a 100-d text 10:1)."""
    return F.mse_loss(pred_i, x_i), F.mse_loss(pred_t, x_t)


class FeatureModel(MultimodalModel):
    """Base of the feature-vector kinds: checks the inputs are feature vectors, owns the two Standardizers
    (fitted on the train split by ``fit_input_stats``); subclasses pass their inputs through
    ``self.standardise(image, text)`` in ``train_step`` and ``embed`` alike."""

    wants_pixels = False

    def __init__(self, config, spec: DataSpec):
        super().__init__(config, spec)
        if spec.image_input == "pixels64":
            raise ValueError(f"{self.kind} takes image feature vectors (image_input 'features:<name>'), got 'pixels64'")
        normalise = bool(getattr(config, "standardize", True))
        self.norm_image = Standardizer(spec.image_dim, normalise)
        self.norm_text = Standardizer(spec.text_dim, normalise)

    def fit_input_stats(self, train: dict) -> None:
        self.norm_image.fit(train["image"].float().flatten(1))
        self.norm_text.fit(train["text"].float())

    def standardise(self, image: torch.Tensor, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, Di), (B, Dt) -> the same, z-scored with the train split's statistics."""
        return self.norm_image(image.float().flatten(1)), self.norm_text(text.float())
