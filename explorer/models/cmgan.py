"""CM-GANs: cross-modal generative adversarial networks for common representation learning
(Peng, Qi, Yuan, ACM TOMM 2019 / arXiv 1710.05106), on feature vectors.

**Supervised**: the semantic constraint trains a classifier over the training split's categories on
the common representation, so CM-GANs use labels that the unsupervised kinds (multimodal_ae, bidnn,
corrae, dcca, contrastive, gan_cls) never see. Comparisons must say so (``semantic=False``, the
``no_ws_no_sc`` / ``ws_only`` / ``inter_only`` / ``cae``-without-sc presets, is label-free).

Generative model (cross-modal autoencoders), per modality m in {image, text}::

    x_m -> FC 1024, BN, ReLU -> FC 1024, BN, ReLU = s_m (common representation)
    s_m -> FC 1024, BN, ReLU -> FC D_m (linear) = reconstruction of x_m

The **last encoder layer's weights are shared** by the two modalities (``weight_sharing``): one
``nn.Linear`` module (``self.shared_fc``) is used by both encoders; each modality keeps its own
BatchNorm after it (a shared BN would mix the two modalities' batch statistics in its running
estimates, which define the eval-mode embedding). With ``weight_sharing=False`` each encoder has
its own last layer. Semantic constraint (``semantic``): one softmax classifier (FC n_classes) on
s_image and s_text, cross-entropy with the category (segments without one are ignored).

Discriminative models (each FC 512, leaky-ReLU, FC 1 logit):

* intra-modality (``intra_disc``), one per modality: the original feature x_m (real) vs its
  reconstruction (fake);
* inter-modality (``inter_disc``), one per modality m: a common representation concatenated with
  the original feature x_m. Real: (s_m, x_m), the modality's own representation. Fake: (s_o, x_m),
  the *other* modality's representation of the same segment, and (s_m', x_m), the representation
  of a segment of another category (a "mismatched" pair; any other segment when labels are missing).

Training, per batch: one update of all discriminators (BCE), then ``g_steps`` updates of the
generative model (encoders, decoders, classifier) on reconstruction MSE (per modality) +
``semantic_weight`` x cross-entropy + ``adv_weight`` x adversarial terms (fool the intra
discriminators with the reconstructions, fool the inter discriminators with the other modality's
representation, i.e. make s_text indistinguishable from s_image given x_image and vice versa).
``adversarial=False`` skips the discriminators entirely: the "CAE" baseline. Adam, lr 2e-4, beta1 0.5.
Inputs are standardised per feature (``_mlp.Standardizer``). The paper's "convolutional"
autoencoders act on precomputed CNN features through FC layers, as here; its image CNN is not
fine-tuned end to end (we take fixed features), a deviation.

Ablations of the paper's baseline table: ``CMGAN_ABLATIONS[name]`` is a dict of the five flags,
applied with ``explorer train cmgan --set ablation=ws_only`` (the preset then sets all five flags,
overriding any given alongside it) or flag by flag (``--set weight_sharing=false --set semantic=false``).
``full`` = CM-GANs; ``no_ws_no_sc`` / ``ws_only`` / ``sc_only`` = without weight sharing and/or
semantic constraint; ``inter_only`` / ``intra_only`` = one kind of discriminator; ``cae`` = the
cross-modal autoencoders alone (weight sharing + semantic constraint, no adversarial training).

``embed``: ``image`` = s_image, ``text`` = s_text (each computed from its own modality alone),
``joint`` = (l2n(s_image) + l2n(s_text)) / 2. With ``retrieval_space="semantic"`` (an option of
ours, not the paper's; needs ``semantic``) the embeddings are instead the semantic-constraint
classifier's softmax posteriors of s_image / s_text: Rasiwasia et al.'s semantic space, computed by
the same trained weights, so a trained run can be evaluated either way without retraining.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ._mlp import FeatureModel, mean_of_normalised, mlp
from .base import DataSpec

#: The paper's ablation / baseline settings, as option overrides (``--set ablation=NAME``).
CMGAN_ABLATIONS: dict[str, dict] = {
    "full": {"weight_sharing": True, "semantic": True, "intra_disc": True, "inter_disc": True, "adversarial": True},
    "no_ws_no_sc": {"weight_sharing": False, "semantic": False, "intra_disc": True, "inter_disc": True, "adversarial": True},
    "ws_only": {"weight_sharing": True, "semantic": False, "intra_disc": True, "inter_disc": True, "adversarial": True},
    "sc_only": {"weight_sharing": False, "semantic": True, "intra_disc": True, "inter_disc": True, "adversarial": True},
    "inter_only": {"weight_sharing": True, "semantic": True, "intra_disc": False, "inter_disc": True, "adversarial": True},
    "intra_only": {"weight_sharing": True, "semantic": True, "intra_disc": True, "inter_disc": False, "adversarial": True},
    "cae": {"weight_sharing": True, "semantic": True, "intra_disc": False, "inter_disc": False, "adversarial": False},
}


@dataclass
class CMGANConfig:
    ablation: Literal["", "full", "no_ws_no_sc", "ws_only", "sc_only", "inter_only", "intra_only", "cae"] = ""  # "" = use the five flags below; else a CMGAN_ABLATIONS name that sets them
    weight_sharing: bool = True  # last encoder layer shared by both modalities
    semantic: bool = True  # softmax semantic constraint on the common representation (uses labels)
    intra_disc: bool = True  # intra-modality discriminators (original vs reconstructed feature)
    inter_disc: bool = True  # inter-modality discriminators (own vs other modality's representation)
    adversarial: bool = True  # False: no discriminators at all (the CAE baseline)
    hidden: int = 1024  # encoder layers and decoder hidden layer
    disc_hidden: int = 512
    rec_weight: float = 1.0
    semantic_weight: float = 1.0
    adv_weight: float = 0.1
    g_steps: int = 2  # generator (encoder/decoder) updates per discriminator update
    lr: float = 2e-4
    beta1: float = 0.5
    batch_size: int = 128
    epochs: int = 15
    standardize: bool = True
    # what embed() returns: "common" (the paper: s_image / s_text) | "semantic" (the classifier's softmax
    # posteriors over the categories, (N, n_classes); an evaluation-time choice, the weights are the same)
    retrieval_space: Literal["common", "semantic"] = "common"

    def __post_init__(self):
        if self.retrieval_space not in ("common", "semantic"):
            raise ValueError(f"cmgan retrieval_space must be 'common' or 'semantic', got {self.retrieval_space!r}")
        if self.ablation:
            if self.ablation not in CMGAN_ABLATIONS:
                raise ValueError(f"unknown cmgan ablation {self.ablation!r} (known: {', '.join(CMGAN_ABLATIONS)})")
            for k, v in CMGAN_ABLATIONS[self.ablation].items():
                setattr(self, k, v)


def _disc(in_dim: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))


def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, 1.0 if real else 0.0))


class CMGAN(FeatureModel):
    kind = "cmgan"

    @classmethod
    def uses_labels(cls, config) -> bool:
        return bool(config.semantic)
    training_only_modules = ("dec_image", "dec_text", "D_intra_image", "D_intra_text", "D_inter_image", "D_inter_text")

    def __init__(self, config: CMGANConfig, spec: DataSpec):
        super().__init__(config, spec)
        c = config
        h = c.hidden
        # encoders: first layer per modality; last layer's Linear shared (or not), BN per modality
        self.enc1_image = nn.Sequential(nn.Linear(spec.image_dim, h), nn.BatchNorm1d(h), nn.ReLU())
        self.enc1_text = nn.Sequential(nn.Linear(spec.text_dim, h), nn.BatchNorm1d(h), nn.ReLU())
        if c.weight_sharing:
            self.shared_fc = nn.Linear(h, h)
        else:
            self.fc2_image = nn.Linear(h, h)
            self.fc2_text = nn.Linear(h, h)
        self.bn2_image, self.bn2_text = nn.BatchNorm1d(h), nn.BatchNorm1d(h)
        self.dec_image = mlp([h, h, spec.image_dim], batchnorm=True)
        self.dec_text = mlp([h, h, spec.text_dim], batchnorm=True)
        self.use_semantic = bool(c.semantic and spec.n_classes > 0)
        if self.use_semantic:
            self.classifier = nn.Linear(h, spec.n_classes)
        self.use_intra = bool(c.adversarial and c.intra_disc)
        self.use_inter = bool(c.adversarial and c.inter_disc)
        if self.use_intra:
            self.D_intra_image = _disc(spec.image_dim, c.disc_hidden)
            self.D_intra_text = _disc(spec.text_dim, c.disc_hidden)
        if self.use_inter:
            self.D_inter_image = _disc(h + spec.image_dim, c.disc_hidden)
            self.D_inter_text = _disc(h + spec.text_dim, c.disc_hidden)

    # ------------------------------------------------------------------ parts
    def fc2(self, modality: str) -> nn.Linear:
        """The last encoder layer's Linear of a modality (the same module for both when shared)."""
        if self.config.weight_sharing:
            return self.shared_fc
        return self.fc2_image if modality == "image" else self.fc2_text

    def encode_image(self, xi: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn2_image(self.fc2("image")(self.enc1_image(xi))))

    def encode_text(self, xt: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn2_text(self.fc2("text")(self.enc1_text(xt))))

    def discriminators(self) -> list[nn.Module]:
        return [m for name in ("D_intra_image", "D_intra_text", "D_inter_image", "D_inter_text") if (m := getattr(self, name, None)) is not None]

    def generator_parameters(self) -> list[nn.Parameter]:
        d_ids = {id(p) for d in self.discriminators() for p in d.parameters()}
        return [p for p in self.parameters() if id(p) not in d_ids]

    def configure_optimizers(self):
        c = self.config
        opts = {"G": torch.optim.Adam(self.generator_parameters(), lr=c.lr, betas=(c.beta1, 0.999))}
        if self.discriminators():
            d_params = [p for d in self.discriminators() for p in d.parameters()]
            opts["D"] = torch.optim.Adam(d_params, lr=c.lr, betas=(c.beta1, 0.999))
        return opts

    @staticmethod
    def mismatched(label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(index of a partner per sample, mask of pairs that are really of different categories).

        Partners come from a random cyclic shift of the batch; with labels, pairs that happen to share a
        category are masked out of the "mismatched" term (unlabelled pairs count as mismatched).
        """
        b = label.shape[0]
        shift = int(torch.randint(1, b, ())) if b > 1 else 0
        idx = torch.arange(b, device=label.device).roll(shift)
        other = label[idx]
        ok = (label < 0) | (other < 0) | (label != other)
        return idx, ok

    # ------------------------------------------------------------------ training
    def _forward(self, xi, xt):
        si, st = self.encode_image(xi), self.encode_text(xt)
        return si, st, self.dec_image(si), self.dec_text(st)

    def train_step(self, batch, optimizers):
        c = self.config
        xi, xt = self.standardise(batch["image"], batch["text"])
        label = batch["label"]
        metrics: dict[str, float] = {}
        discs = self.discriminators()

        # ---- discriminator update (on detached generator outputs)
        if discs:
            with torch.no_grad():
                si, st, ri, rt = self._forward(xi, xt)
            idx, ok = self.mismatched(label)
            d_loss = xi.new_zeros(())
            if self.use_intra:
                d_loss = d_loss + _bce(self.D_intra_image(xi), True) + _bce(self.D_intra_image(ri), False)
                d_loss = d_loss + _bce(self.D_intra_text(xt), True) + _bce(self.D_intra_text(rt), False)
            if self.use_inter:
                for D, own, other, x in ((self.D_inter_image, si, st, xi), (self.D_inter_text, st, si, xt)):
                    d_loss = d_loss + _bce(D(torch.cat([own, x], 1)), True) + 0.5 * _bce(D(torch.cat([other, x], 1)), False)
                    if ok.any():
                        d_loss = d_loss + 0.5 * _bce(D(torch.cat([own[idx][ok], x[ok]], 1)), False)
            optimizers["D"].zero_grad(set_to_none=True)
            d_loss.backward()
            optimizers["D"].step()
            metrics["d_loss"] = d_loss.item()

        # ---- generator updates (discriminators frozen)
        for d in discs:
            d.requires_grad_(False)
        try:
            for _ in range(max(1, c.g_steps) if discs else 1):
                si, st, ri, rt = self._forward(xi, xt)
                rec_i, rec_t = F.mse_loss(ri, xi), F.mse_loss(rt, xt)
                g_loss = c.rec_weight * (rec_i + rec_t)
                if self.use_semantic:
                    has = label >= 0
                    if has.any():
                        sem = F.cross_entropy(self.classifier(si[has]), label[has]) + F.cross_entropy(self.classifier(st[has]), label[has])
                        g_loss = g_loss + c.semantic_weight * sem
                        metrics["semantic"] = sem.item()
                adv = xi.new_zeros(())
                if self.use_intra:
                    adv = adv + _bce(self.D_intra_image(ri), True) + _bce(self.D_intra_text(rt), True)
                if self.use_inter:  # the other modality's representation should pass as this one's
                    adv = adv + _bce(self.D_inter_image(torch.cat([st, xi], 1)), True) + _bce(self.D_inter_text(torch.cat([si, xt], 1)), True)
                g_loss = g_loss + c.adv_weight * adv
                optimizers["G"].zero_grad(set_to_none=True)
                g_loss.backward()
                optimizers["G"].step()
        finally:
            for d in discs:
                d.requires_grad_(True)
        metrics.update({"g_loss": g_loss.item(), "rec_image": rec_i.item(), "rec_text": rec_t.item()})
        if discs:
            metrics["g_adv"] = adv.item()
        return metrics

    # ------------------------------------------------------------------ inference
    def embed(self, image, text):
        """image: s_image, text: s_text (hidden-d common space); joint: mean of the L2-normalised two."""
        xi, xt = self.standardise(image, text)
        si, st = self.encode_image(xi), self.encode_text(xt)  # (B, hidden) each
        if self.config.retrieval_space == "semantic":
            if not self.use_semantic:
                raise ValueError("cmgan retrieval_space='semantic' needs the semantic constraint (semantic=true and "
                                 "categories in the training data): this model has no classifier")
            si, st = self.classifier(si).softmax(dim=1), self.classifier(st).softmax(dim=1)  # (B, n_classes)
        return {"joint": mean_of_normalised(si, st), "image": si, "text": st}
