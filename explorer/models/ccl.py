"""CCL: cross-modal correlation learning with multi-grained fusion by hierarchical network (Peng, Qi, Huang,
Yuan, IEEE TMM 2018), coarse-grained path.

**Supervised** (†). CCL fuses a coarse-grained (whole image / whole text) and a fine-grained (image
patches / text fragments) path, each in two levels; our collections hold one feature vector per keyframe and
per transcript, with no patches or fragments, so only the **coarse-grained path** is built (a deviation: the
paper's fine-grained path and the fusion of the two are left out). On the standardised features:

**Level 1, separate representation with intra- and inter-modality correlation jointly**: per modality m,
x_m -> FC hidden -> FC ``code`` = r_m -> FC hidden -> x_m, trained on reconstruction (intra-modality) plus
``corr_weight`` x ||l2n(r_image) - l2n(r_text)||^2 (inter-modality correlation of a segment's two
modalities).

**Level 2, multi-task learning** on r_m: shared layers (the same weights for both modalities)
r_m -> FC hidden -> FC ``dim`` = z_m, with two tasks:
- *intra-modality semantic category constraint*: a softmax classifier on z_m, cross-entropy with the
  category (segments without one are ignored) — this is where labels are used;
- *inter-modality pairwise similarity constraint*: for each image, cos(z_image, z_text of the same
  segment) must exceed cos(z_image, z_text of a segment of another category) by ``margin``, and
  likewise from each text (a hinge; the negative of each row is the hardest other-category one in the
  batch).

Both levels train together from the start, with weights ``rec_weight``, ``semantic_weight``,
``pair_weight`` (the paper trains level by level; joint training of the stack is a deviation). Adam.

Embeddings: ``image`` = z_image, ``text`` = z_text (each from its own modality), ``joint`` = the mean of
their L2-normalised versions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._mlp import FeatureModel, l2n, mean_of_normalised, mlp
from .base import DataSpec


@dataclass
class CCLConfig:
    hidden: int = 1024
    code: int = 512  # level-1 representation r_m
    dim: int = 256  # level-2 common representation z_m
    corr_weight: float = 1.0
    rec_weight: float = 1.0
    semantic_weight: float = 1.0
    pair_weight: float = 1.0
    margin: float = 0.2
    dropout: float = 0.2
    lr: float = 1e-3
    batch_size: int = 128
    epochs: int = 20
    standardize: bool = True


class CCL(FeatureModel):
    kind = "ccl"
    training_only_modules = ("dec_image", "dec_text", "classifier")

    @classmethod
    def uses_labels(cls, config) -> bool:
        return True

    def __init__(self, config: CCLConfig, spec: DataSpec):
        super().__init__(config, spec)
        if spec.n_classes < 2:
            raise ValueError("ccl needs category labels on the training split (at least 2 categories)")
        c = config
        self.enc_image = mlp([spec.image_dim, c.hidden, c.code], batchnorm=True, dropout=c.dropout)
        self.enc_text = mlp([spec.text_dim, c.hidden, c.code], batchnorm=True, dropout=c.dropout)
        self.dec_image = mlp([c.code, c.hidden, spec.image_dim], batchnorm=True)
        self.dec_text = mlp([c.code, c.hidden, spec.text_dim], batchnorm=True)
        self.shared = mlp([c.code, c.hidden, c.dim], batchnorm=True, dropout=c.dropout)  # both modalities
        self.classifier = torch.nn.Linear(c.dim, spec.n_classes)

    def configure_optimizers(self):
        return {"all": torch.optim.Adam(self.parameters(), lr=self.config.lr)}

    def pair_loss(self, zi: torch.Tensor, zt: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """Hinge on cosine: the matched text beats the hardest other-category text by ``margin`` (both ways)."""
        sim = l2n(zi) @ l2n(zt).T  # (B, B)
        pos = sim.diag()
        other = (label[:, None] != label[None, :]) | (label[:, None] < 0)
        other.fill_diagonal_(False)
        if not other.any():
            return sim.new_zeros(())
        neg = sim.masked_fill(~other, -2.0)
        m = self.config.margin
        return 0.5 * (F.relu(m - pos + neg.max(1).values).mean() + F.relu(m - pos + neg.max(0).values).mean())

    def train_step(self, batch, optimizers):
        c = self.config
        xi, xt = self.standardise(batch["image"], batch["text"])
        label = batch["label"]
        ri, rt = self.enc_image(xi), self.enc_text(xt)
        rec = F.mse_loss(self.dec_image(ri), xi) + F.mse_loss(self.dec_text(rt), xt)
        corr = (l2n(ri) - l2n(rt)).pow(2).sum(1).mean()
        zi, zt = self.shared(ri), self.shared(rt)
        ok = label >= 0
        semantic = (F.cross_entropy(self.classifier(zi[ok]), label[ok]) + F.cross_entropy(self.classifier(zt[ok]), label[ok])
                    if ok.any() else zi.new_zeros(()))
        pair = self.pair_loss(zi, zt, label)
        loss = c.rec_weight * rec + c.corr_weight * corr + c.semantic_weight * semantic + c.pair_weight * pair
        opt = optimizers["all"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.item(), "rec": rec.item(), "corr": corr.item(), "semantic": semantic.item(), "pair": pair.item()}

    def embed(self, image, text):
        xi, xt = self.standardise(image, text)
        zi, zt = self.shared(self.enc_image(xi)), self.shared(self.enc_text(xt))
        return {"joint": mean_of_normalised(zi, zt), "image": zi, "text": zt}
