"""CMDN: cross-media multiple deep networks (Peng, Huang, Qi, IJCAI 2016, "Cross-Media Shared Representation
by Hierarchical Learning with Multiple Deep Networks").

Unsupervised (no labels). Two stages, as in the paper, on the standardised features x_image, x_text:

**Stage 1, separate representation** of each modality from two kinds of network:
- *intra-modality*: an autoencoder per modality, x_m -> FC hidden -> FC ``code`` = a_m -> FC hidden -> x_m
  (the paper's stacked autoencoder on one modality);
- *inter-modality*: one bimodal autoencoder over both modalities, [x_image; x_text] -> FC hidden ->
  FC ``code`` = b -> both modalities, trained with modality dropout (a third of each batch sees only the
  image, a third only the text: Ngiam et al.'s recipe, the paper's multimodal DBN role), so it can encode
  one modality alone: b_m = inter(x_m, other modality zeroed);
and the separate representation is s_m = [a_m; b_m] (2 x ``code``).

**Stage 2, shared representation**: a two-pathway stacked network over s_image and s_text, each
s_m -> FC hidden -> FC ``dim`` = z_m -> FC hidden -> s_m, trained on reconstructing s_m plus
``corr_weight`` x ||z_image - z_text||^2 (the paper's correlation constraint between the pathways'
top layers; it stacks a bimodal autoencoder, whose role this plays). Stage 1 is frozen meanwhile.

The stages run one after the other within one training run: the first ``stage1_epochs`` epochs train
stage 1 only, the rest stage 2 only (a step counter in the checkpoint, so resuming continues the right
stage); validation during stage 1 never selects the checkpoint (``selectable``). Deviations: ReLU + BatchNorm layers trained by Adam instead of RBM pre-training with contrastive
divergence, and one hidden layer per network.

Embeddings: ``image`` = z_image, ``text`` = z_text (computed from each modality alone), ``joint`` = the
mean of their L2-normalised versions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._mlp import FeatureModel, mean_of_normalised, mlp
from .base import DataSpec


@dataclass
class CMDNConfig:
    hidden: int = 512  # each network's hidden layer (1024 made the shipped flowers checkpoint 27 MB, over the 25 MB bound)
    code: int = 512  # each stage-1 code (intra a_m, inter b); s_m has twice this
    dim: int = 256  # shared representation z_m
    corr_weight: float = 1.0  # stage 2: weight of ||z_image - z_text||^2 against reconstruction
    stage1_epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 128
    epochs: int = 25  # stage1_epochs of stage 1, then stage 2
    standardize: bool = True

    def __post_init__(self):
        if not 0 < self.stage1_epochs < self.epochs:
            raise ValueError(f"cmdn stage1_epochs must be between 1 and epochs - 1 ({self.epochs - 1}); "
                             f"got {self.stage1_epochs}")


class CMDN(FeatureModel):
    kind = "cmdn"
    training_only_modules = ("dec_intra_image", "dec_intra_text", "dec_inter", "dec2_image", "dec2_text")

    def __init__(self, config: CMDNConfig, spec: DataSpec):
        super().__init__(config, spec)
        c, di, dt = config, spec.image_dim, spec.text_dim
        self.enc_intra_image = mlp([di, c.hidden, c.code], batchnorm=True)
        self.enc_intra_text = mlp([dt, c.hidden, c.code], batchnorm=True)
        self.dec_intra_image = mlp([c.code, c.hidden, di], batchnorm=True)
        self.dec_intra_text = mlp([c.code, c.hidden, dt], batchnorm=True)
        self.enc_inter = mlp([di + dt, c.hidden, c.code], batchnorm=True)
        self.dec_inter = mlp([c.code, c.hidden, di + dt], batchnorm=True)
        self.enc2_image = mlp([2 * c.code, c.hidden, c.dim], batchnorm=True)
        self.enc2_text = mlp([2 * c.code, c.hidden, c.dim], batchnorm=True)
        self.dec2_image = mlp([c.dim, c.hidden, 2 * c.code], batchnorm=True)
        self.dec2_text = mlp([c.dim, c.hidden, 2 * c.code], batchnorm=True)
        # where training stands (in the checkpoint: a resumed run continues the same stage)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.register_buffer("steps_per_epoch", torch.ones((), dtype=torch.long))

    def fit_input_stats(self, train: dict) -> None:
        super().fit_input_stats(train)
        # the runner's epoch: len(train) // batch_size steps (the last partial batch is dropped)
        self.steps_per_epoch.fill_(max(1, len(train["text"]) // self.config.batch_size))

    def stage(self) -> int:
        return 1 if int(self.step) < self.config.stage1_epochs * int(self.steps_per_epoch) else 2

    def selectable(self) -> bool:
        # only after stage-2 steps: until then the shared layers embed at random (never best.pt)
        return int(self.step) > self.config.stage1_epochs * int(self.steps_per_epoch)

    def _stage_params(self, stage: int) -> list:
        names = (("enc_intra_image", "enc_intra_text", "dec_intra_image", "dec_intra_text", "enc_inter", "dec_inter")
                 if stage == 1 else ("enc2_image", "enc2_text", "dec2_image", "dec2_text"))
        return [p for n in names for p in getattr(self, n).parameters()]

    def configure_optimizers(self):
        return {"stage1": torch.optim.Adam(self._stage_params(1), lr=self.config.lr),
                "stage2": torch.optim.Adam(self._stage_params(2), lr=self.config.lr)}

    def separate(self, xi: torch.Tensor | None, xt: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Stage 1: s_m = [intra a_m; inter b_m from x_m alone] (B, 2 code) of each modality given."""
        out = {}
        if xi is not None:
            out["image"] = torch.cat([self.enc_intra_image(xi), self.enc_inter(torch.cat([xi, torch.zeros(len(xi), self.spec.text_dim, device=xi.device)], 1))], 1)
        if xt is not None:
            out["text"] = torch.cat([self.enc_intra_text(xt), self.enc_inter(torch.cat([torch.zeros(len(xt), self.spec.image_dim, device=xt.device), xt], 1))], 1)
        return out

    def train_step(self, batch, optimizers):
        xi, xt = self.standardise(batch["image"], batch["text"])
        stage = self.stage()
        self.step += 1
        if stage == 1:
            rec_i = F.mse_loss(self.dec_intra_image(self.enc_intra_image(xi)), xi)
            rec_t = F.mse_loss(self.dec_intra_text(self.enc_intra_text(xt)), xt)
            # bimodal AE with modality dropout: rows 0::3 image only, 1::3 text only, 2::3 both
            b = len(xi)
            keep_i = torch.ones(b, 1, device=xi.device)
            keep_t = torch.ones(b, 1, device=xi.device)
            keep_t[0::3] = 0
            keep_i[1::3] = 0
            out = self.dec_inter(self.enc_inter(torch.cat([xi * keep_i, xt * keep_t], 1)))
            inter_i = F.mse_loss(out[:, :self.spec.image_dim], xi)
            inter_t = F.mse_loss(out[:, self.spec.image_dim:], xt)
            loss = rec_i + rec_t + inter_i + inter_t
            opt = optimizers["stage1"]
            metrics = {"stage": 1.0, "rec_intra": (rec_i + rec_t).item(), "rec_inter": (inter_i + inter_t).item()}
        else:
            with torch.no_grad():
                s = self.separate(xi, xt)
            zi, zt = self.enc2_image(s["image"]), self.enc2_text(s["text"])
            rec = F.mse_loss(self.dec2_image(zi), s["image"]) + F.mse_loss(self.dec2_text(zt), s["text"])
            corr = (zi - zt).pow(2).sum(1).mean()
            loss = rec + self.config.corr_weight * corr
            opt = optimizers["stage2"]
            metrics = {"stage": 2.0, "rec_shared": rec.item(), "corr_dist": corr.item()}
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.item(), **metrics}

    def embed(self, image, text):
        xi, xt = self.standardise(image, text)
        s = self.separate(xi, xt)
        zi, zt = self.enc2_image(s["image"]), self.enc2_text(s["text"])
        return {"joint": mean_of_normalised(zi, zt), "image": zi, "text": zt}
