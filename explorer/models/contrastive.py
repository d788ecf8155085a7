"""Contrastive dual encoder: a modern reference point (CLIP-style symmetric InfoNCE; Radford et al.,
ICML 2021, on precomputed features rather than end-to-end encoders).

Two MLPs map the (standardised) image and text features into one ``dim``-d space, L2-normalised::

    image -> FC hidden, BN, ReLU, dropout -> FC dim -> L2-normalise = u
    text  -> FC hidden, BN, ReLU, dropout -> FC dim -> L2-normalise = v

Loss, per batch of B paired segments: the mean of the image->text and text->image cross-entropies
over the B x B logits ``exp(t) * u @ v.T`` (the diagonal holds the positives), with a learnable
temperature (log-scale ``t`` initialised to log(1/0.07), clamped to at most log(100), as in CLIP).
Unsupervised: only the pairing is used, never the categories (other segments of the same category
in a batch are negatives, as in CLIP). AdamW.

``embed``: ``image`` = u, ``text`` = v, ``joint`` = l2n(u + v).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ._mlp import FeatureModel, l2n, mlp
from .base import DataSpec


@dataclass
class ContrastiveConfig:
    hidden: int = 1024
    dim: int = 256  # common space
    dropout: float = 0.1
    init_temperature: float = 0.07
    max_logit_scale: float = 100.0
    learn_temperature: bool = True
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    epochs: int = 20
    standardize: bool = True


class Contrastive(FeatureModel):
    kind = "contrastive"

    def __init__(self, config: ContrastiveConfig, spec: DataSpec):
        super().__init__(config, spec)
        c = config
        self.enc_image = mlp([spec.image_dim, c.hidden, c.dim], act="relu", batchnorm=True, dropout=c.dropout)
        self.enc_text = mlp([spec.text_dim, c.hidden, c.dim], act="relu", batchnorm=True, dropout=c.dropout)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / c.init_temperature)), requires_grad=c.learn_temperature)

    def configure_optimizers(self):
        c = self.config
        decay = [p for n, p in self.named_parameters() if p.ndim >= 2]
        no_decay = [p for n, p in self.named_parameters() if p.ndim < 2 and p.requires_grad]
        return {"clip": torch.optim.AdamW([{"params": decay, "weight_decay": c.weight_decay},
                                           {"params": no_decay, "weight_decay": 0.0}], lr=c.lr)}

    def encode(self, xi: torch.Tensor, xt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return l2n(self.enc_image(xi)), l2n(self.enc_text(xt))

    def train_step(self, batch, optimizers):
        xi, xt = self.standardise(batch["image"], batch["text"])
        u, v = self.encode(xi, xt)
        scale = self.logit_scale.clamp(max=math.log(self.config.max_logit_scale)).exp()
        logits = scale * u @ v.t()  # (B, B): row = image, column = text
        target = torch.arange(u.shape[0], device=u.device)
        loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))
        opt = optimizers["clip"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            acc = (logits.argmax(1) == target).float().mean()
        return {"loss": loss.item(), "temperature": float(1.0 / scale.item()), "batch_acc_i2t": acc.item()}

    def embed(self, image, text):
        xi, xt = self.standardise(image, text)
        u, v = self.encode(xi, xt)
        return {"joint": l2n(u + v), "image": u, "text": v}
