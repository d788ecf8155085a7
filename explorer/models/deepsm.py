"""DeepSM: deep semantic matching (Wei, Zhao, Lu, Wei, Liu, Wang, Yan, IEEE TCYB 2017, "Cross-Modal Retrieval
With CNN Visual Features: A New Baseline").

**Supervised** (†): each modality is mapped to the *semantic space* of the training split's C categories
by its own network trained with the labels, and retrieval compares the category posteriors. Per modality
m, on the standardised feature x_m::

    x_m -> FC hidden, BN, ReLU, Dropout -> FC hidden, BN, ReLU, Dropout -> FC C -> softmax = p_m (C-d)

trained with cross-entropy (segments without a category are ignored); the two networks never see each
other, as in the paper (the modalities meet only in the semantic space). Adam.

What follows the paper: two label-trained deep networks, one per modality, ending in a C-way softmax
whose probabilities are the common representation. What cannot: DeepSM fine-tunes an ImageNet CNN
end to end on the images (and its text network on raw word vectors); offline, on our fixed features
(MobileNet pooled features of the keyframes, averaged word2vec; Wikipedia's SIFT / LDA), only the
layers after the features are trained, so this is DeepSM on fixed CNN features.

Embeddings: ``image`` = p_image, ``text`` = p_text (posteriors, C-d); ``joint`` = the mean of their
L2-normalised versions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._mlp import FeatureModel, mean_of_normalised, mlp
from .base import DataSpec


@dataclass
class DeepSMConfig:
    hidden: int = 1024
    dropout: float = 0.5
    lr: float = 1e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    batch_size: int = 128
    epochs: int = 20
    standardize: bool = True


class DeepSM(FeatureModel):
    kind = "deepsm"

    @classmethod
    def uses_labels(cls, config) -> bool:
        return True

    def __init__(self, config: DeepSMConfig, spec: DataSpec):
        super().__init__(config, spec)
        if spec.n_classes < 2:
            raise ValueError("deepsm needs category labels on the training split (at least 2 categories)")
        c = config
        self.net_image = mlp([spec.image_dim, c.hidden, c.hidden, spec.n_classes], batchnorm=True, dropout=c.dropout)
        self.net_text = mlp([spec.text_dim, c.hidden, c.hidden, spec.n_classes], batchnorm=True, dropout=c.dropout)

    def configure_optimizers(self):
        return {"nets": torch.optim.Adam(self.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)}

    def train_step(self, batch, optimizers):
        xi, xt = self.standardise(batch["image"], batch["text"])
        label = batch["label"]
        ok = label >= 0
        if not ok.any():
            return {"loss": 0.0}
        li, lt = self.net_image(xi[ok]), self.net_text(xt[ok])
        loss_i = F.cross_entropy(li, label[ok], label_smoothing=self.config.label_smoothing)
        loss_t = F.cross_entropy(lt, label[ok], label_smoothing=self.config.label_smoothing)
        loss = loss_i + loss_t
        opt = optimizers["nets"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            acc_i = (li.argmax(1) == label[ok]).float().mean()
            acc_t = (lt.argmax(1) == label[ok]).float().mean()
        return {"loss": loss.item(), "ce_image": loss_i.item(), "ce_text": loss_t.item(),
                "acc_image": acc_i.item(), "acc_text": acc_t.item()}

    def embed(self, image, text):
        xi, xt = self.standardise(image, text)
        pi, pt = F.softmax(self.net_image(xi), dim=1), F.softmax(self.net_text(xt), dim=1)
        return {"joint": mean_of_normalised(pi, pt), "image": pi, "text": pt}
