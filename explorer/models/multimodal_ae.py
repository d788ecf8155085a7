"""Classical multimodal (bimodal) autoencoder: the baseline of Vukotić et al. (ICMR 2016 / ICMR 2017),
after Ngiam et al., "Multimodal Deep Learning", ICML 2011.

Architecture (feature vectors in, both standardised per feature, see ``_mlp.Standardizer``)::

    image (Di) -> FC 1000 -+                         +-> FC 1000 -> FC Di  (image reconstruction)
                           +-> concat -> FC 1000 ----+
    text  (Dt) -> FC 1000 -+     (shared layer)      +-> FC 1000 -> FC Dt  (text reconstruction)

Hidden layers use ``activation`` (tanh, as in Vukotić's models), the two output layers are linear
(the targets are standardised features, unbounded). **The joint representation is the shared
layer's output** (1000-d).

Training: both modalities are reconstructed from the input, with *modality dropout* (Ngiam et al.'s
"zero one modality" augmentation, used by Vukotić's baseline): each sample, with probability
``modality_dropout`` (0.5), has one of its two inputs (chosen with equal chance) set to zero — the
mean of the standardised feature, i.e. "no information" — while both reconstructions are still
required. Loss: the sum of the two modalities' mean squared errors (per-modality means, so the
1,024-d image does not outweigh the 100-d text); Adam.

``embed`` returns ``joint`` (shared layer from both inputs), ``image`` (shared layer from the image
with the text zeroed) and ``text`` (from the text with the image zeroed): the latter two live in the
same space, which gives crossmodal retrieval.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ._mlp import FeatureModel, activation, mlp
from .base import Activation, DataSpec


@dataclass
class MultimodalAEConfig:
    branch_units: int = 1000  # per-modality input and output branches (Vukotić et al.: 1000)
    shared_units: int = 1000  # the shared (joint representation) layer
    activation: Activation = "tanh"
    modality_dropout: float = 0.5  # chance per sample that one (random) input is zeroed
    input_dropout: float = 0.0  # optional denoising dropout on the (standardised) inputs
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    epochs: int = 20
    standardize: bool = True  # per-feature z-scoring of inputs (statistics from the training batches)


class MultimodalAE(FeatureModel):
    kind = "multimodal_ae"
    training_only_modules = ("dec_image", "dec_text")  # embed uses the encoders and the shared layer

    def __init__(self, config: MultimodalAEConfig, spec: DataSpec):
        super().__init__(config, spec)
        c = config
        h, s = c.branch_units, c.shared_units
        self.enc_image = nn.Sequential(nn.Linear(spec.image_dim, h), activation(c.activation))
        self.enc_text = nn.Sequential(nn.Linear(spec.text_dim, h), activation(c.activation))
        self.shared = nn.Sequential(nn.Linear(2 * h, s), activation(c.activation))
        self.dec_image = mlp([s, h, spec.image_dim], act=c.activation)
        self.dec_text = mlp([s, h, spec.text_dim], act=c.activation)

    def configure_optimizers(self):
        return {"ae": torch.optim.Adam(self.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)}

    def encode(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Standardised inputs (zeros for a missing modality) -> shared layer (B, shared_units)."""
        return self.shared(torch.cat([self.enc_image(image), self.enc_text(text)], dim=1))

    def train_step(self, batch, optimizers):
        xi, xt = self.standardise(batch["image"], batch["text"])
        b = xi.shape[0]
        # modality dropout: drop[k] = 0 keep both, 1 zero the image, 2 zero the text
        u = torch.rand(b, device=xi.device)
        drop = torch.where(u < self.config.modality_dropout, 1 + (torch.rand(b, device=xi.device) < 0.5).long(), torch.zeros_like(u, dtype=torch.long))
        in_i = xi * (drop != 1).unsqueeze(1).to(xi.dtype)
        in_t = xt * (drop != 2).unsqueeze(1).to(xt.dtype)
        if self.config.input_dropout > 0:
            in_i = F.dropout(in_i, self.config.input_dropout)
            in_t = F.dropout(in_t, self.config.input_dropout)
        z = self.encode(in_i, in_t)
        loss_i = F.mse_loss(self.dec_image(z), xi)
        loss_t = F.mse_loss(self.dec_text(z), xt)
        loss = loss_i + loss_t
        opt = optimizers["ae"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.item(), "rec_image": loss_i.item(), "rec_text": loss_t.item()}

    def embed(self, image, text):
        """joint: shared layer from both inputs; image / text: from one input, the other zeroed."""
        xi, xt = self.standardise(image, text)
        zi, zt = torch.zeros_like(xi), torch.zeros_like(xt)
        return {"joint": self.encode(xi, xt), "image": self.encode(xi, zt), "text": self.encode(zi, xt)}

    @torch.no_grad()
    def reconstruct(self, image: torch.Tensor | None, text: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Both modalities (in standardised units) from one or both inputs (None = missing)."""
        ref = image if image is not None else text
        b = ref.shape[0]
        xi = torch.zeros(b, self.spec.image_dim, device=ref.device) if image is None else self.norm_image(image.float())
        xt = torch.zeros(b, self.spec.text_dim, device=ref.device) if text is None else self.norm_text(text.float())
        z = self.encode(xi, xt)
        return self.dec_image(z), self.dec_text(z)
