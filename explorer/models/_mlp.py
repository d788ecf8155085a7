"""Shared pieces of the feature-vector (MLP) kinds: input standardisation, MLP builder, small helpers.

``Standardizer``: per-feature z-scoring of an input modality, with its statistics kept in *buffers*
(so they travel in ``state_dict`` and checkpoints round-trip). The training runner has no separate
"fit on the training set" pass, so the statistics are accumulated from the training batches
themselves: each kind calls ``update(x)`` once per ``train_step`` (before its forward passes), which
merges the batch into exact running mean / variance (Chan et al.'s parallel update, float64) until
``max_samples`` samples have been seen, after which the statistics are frozen. With the default cap
(20,000) the statistics describe more than a full epoch of every collection we use, so they equal the
training-set statistics up to the few samples the runner's last partial batch drops. ``forward`` only
applies the current statistics (identity before the first update), so ``embed`` in eval mode is a
deterministic function of the input alone.
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
    """(x - mean) / std per feature, statistics accumulated from training batches (see module doc)."""

    def __init__(self, dim: int, max_samples: int = 20_000, min_std: float = 1e-3):
        super().__init__()
        self.max_samples = int(max_samples)
        self.min_std = float(min_std)
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("m2", torch.zeros(dim, dtype=torch.float64))  # sum of squared deviations

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Merge a batch (B, D) into the running statistics (no-op once ``max_samples`` are seen)."""
        if self.max_samples <= 0 or float(self.count) >= self.max_samples:
            return
        x = x.detach().to(torch.float64).flatten(1)
        n_b = x.shape[0]
        if n_b == 0:
            return
        mean_b = x.mean(0)
        m2_b = ((x - mean_b) ** 2).sum(0)
        n_a = self.count.clone()
        n = n_a + n_b
        delta = mean_b - self.mean
        self.mean += delta * (n_b / n)
        self.m2 += m2_b + delta ** 2 * (n_a * n_b / n)
        self.count.copy_(n)

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
    """Base of the feature-vector kinds: checks the inputs are feature vectors, owns the two Standardizers.

    Subclasses call ``self.standardise(image, text, update=True)`` once at the top of ``train_step``
    (it folds the batch into the statistics, then returns the standardised inputs) and
    ``update=False`` everywhere else.
    """

    wants_pixels = False

    def __init__(self, config, spec: DataSpec):
        super().__init__(config, spec)
        if spec.image_input == "pixels64":
            raise ValueError(f"{self.kind} takes image feature vectors (image_input 'features:<name>'), got 'pixels64'")
        samples = int(getattr(config, "norm_samples", 20_000))
        normalise = bool(getattr(config, "standardize", True))
        self.norm_image = Standardizer(spec.image_dim, samples if normalise else 0)
        self.norm_text = Standardizer(spec.text_dim, samples if normalise else 0)

    def standardise(self, image: torch.Tensor, text: torch.Tensor, update: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        image = image.float().flatten(1)
        text = text.float()
        if update:
            self.norm_image.update(image)
            self.norm_text.update(text)
        return self.norm_image(image), self.norm_text(text)
