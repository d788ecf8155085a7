"""BiDNN: bidirectional (symmetrical) deep neural networks (Vukotić, Raymond, Gravier, ICMR 2016,
"Bidirectional Joint Representation Learning with Symmetrical Deep Neural Networks for Multimodal and
Crossmodal Applications"; reference implementation: github.com/v-v/BiDNN, Theano/Lasagne).

Two crossmodal translation networks trained at the same time, image -> text and text -> image::

    image -> FC hidden -> FC rep/2 (r_image) -> FC hidden -> FC Dt   (predicts the text)
    text  -> FC hidden -> FC rep/2 (r_text)  -> FC hidden -> FC Di   (predicts the image)
                          \\___ W_center ___/     \\__ W_bridge __/
                                tied, transposed: see below

The two *central* weight matrices are tied (``tied=True``): the text->image direction's
hidden->representation layer uses ``W_bridge.T`` (the transpose of the image->text direction's
representation->hidden matrix) and its representation->hidden layer uses ``W_center.T``. Each tied
matrix is a single ``nn.Parameter`` used by both directions (``F.linear`` on it and on its
transpose), so every update moves both uses; biases stay per direction, as in the reference. The
middle of the network is thus symmetrical, and each direction is pushed to be the other's inverse.
Dropout (0.2) is applied to the representation layers during training.

Representation: ``joint`` = [r_image, r_text] (the two middle layers concatenated, ``rep`` wide).
The one-modality embeddings ``image`` / ``text`` (crossmodal retrieval, and hyperlinking of segments
with a missing modality) follow ``lone_modality``:

* ``"translate"`` (default): the missing modality is first predicted by the crossmodal network (the
  reference's ``--crossmodal`` expansion), then the completed pair is embedded:
  ``image`` = [r_image, r_text(translated text)], ``text`` = [r_image(translated image), r_text];
* ``"duplicate"``: the reference's embedding of a lone modality, its central layer duplicated:
  ``image`` = [r_image, r_image], ``text`` = [r_text, r_text].

Nothing but the tied symmetric middle pulls r_image and r_text together, and measured with the same
checkpoints the duplicated halves are far less comparable across modalities than translated ones:
img2txt / txt2img MAP on Wikipedia test 0.154 / 0.118 with ``duplicate`` vs 0.249 / 0.209 with
``translate``; on flowers102_reed val 0.024 / 0.024 (chance level) vs 0.501 / 0.492. Hence the default.

The reference code's quirks, each fixed by default and reproducible through an option:

* ``rep_norm``: the reference's ``-n`` flag "L2-normalises" each direction's representation matrix
  with BLAS ``nrm2`` of the *whole* (N, rep/2) matrix, i.e. divides all rows by one number, instead
  of normalising each row. Default ``"row"``: each half is L2-normalised per segment before
  concatenation (both modalities weigh the same in the joint vector). ``"matrix"`` reproduces the
  reference: each half is divided by its root mean squared row norm over training data (running
  estimate kept in buffers, so embedding stays a per-segment function; up to a global factor this is
  the reference's whole-matrix division). ``"none"``: raw concatenation.
* ``output_activation``: the reference applies tanh to the *output* layers too, so targets outside
  [-1, 1] (any standardised feature) can never be reached unless the data were rescaled first.
  Default ``"linear"`` outputs; ``"tanh"`` reproduces the reference's output layers, and since our
  standardised targets exceed [-1, 1] they are then divided by ``tanh_target_scale`` (0 = the max |x|
  of the first training batch, kept in a buffer) and clipped to [-1, 1], the rescaling the reference
  leaves to its user.
* ``loss``: the reference takes one MSE over the concatenated [text, image] output, so the larger
  modality (1,024-d image vs 100-d text) dominates ~10:1. Default ``"per_modality"``: the sum of each
  direction's own mean squared error; ``"concat"`` reproduces the reference.

Other reference defaults kept as options: ``activation = "tanh"``, ``dropout = 0.2``,
``optimizer = "nesterov"`` with ``lr = 0.1``, ``momentum = 0.9`` (our default is Adam, 1e-3, which
converges in the few epochs we can afford; the reference ran ~1000 epochs), batch 128, ``tied``
(``False`` = the reference's ``-u``). Inputs are standardised per feature (``_mlp.Standardizer``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ._mlp import FeatureModel, activation, l2n
from .base import Activation, DataSpec


@dataclass
class BiDNNConfig:
    hidden: int = 1024  # first / last hidden layer of each direction (reference example: 2048)
    rep: int = 1024  # joint representation size = 2 x the central layer (must be even)
    activation: Activation = "tanh"  # the reference's default
    dropout: float = 0.2  # on the representation layers (reference: 0.2)
    tied: bool = True  # tie the central matrices (False = the reference's --untied)
    rep_norm: Literal["row", "matrix", "none"] = "row"  # "row" (fixed) | "matrix" (reference quirk) | "none"
    output_activation: Literal["linear", "tanh"] = "linear"  # "linear" (fixed) | "tanh" (reference)
    tanh_target_scale: float = 0.0  # with tanh outputs: targets / scale; 0 = max |x| of the first batch
    loss: Literal["per_modality", "concat"] = "per_modality"  # "per_modality" (fixed) | "concat" (reference: one MSE over both)
    lone_modality: Literal["translate", "duplicate"] = "translate"  # embed of one modality: "translate" the other first | "duplicate" (reference)
    optimizer: Literal["adam", "nesterov"] = "adam"  # "adam" | "nesterov" (reference: SGD, Nesterov momentum)
    lr: float = 1e-3  # reference (nesterov): 0.1
    momentum: float = 0.9
    batch_size: int = 128
    epochs: int = 20
    standardize: bool = True


def _glorot(rows: int, cols: int) -> nn.Parameter:
    w = torch.empty(rows, cols)
    nn.init.xavier_uniform_(w)
    return nn.Parameter(w)


class BiDNN(FeatureModel):
    kind = "bidnn"

    def __init__(self, config: BiDNNConfig, spec: DataSpec):
        super().__init__(config, spec)
        c = config
        if c.rep % 2:
            raise ValueError(f"bidnn: rep must be even (two halves of rep/2), got {c.rep}")
        for name, value, allowed in (("rep_norm", c.rep_norm, ("row", "matrix", "none")),
                                     ("output_activation", c.output_activation, ("linear", "tanh")),
                                     ("loss", c.loss, ("per_modality", "concat")),
                                     ("lone_modality", c.lone_modality, ("translate", "duplicate")),
                                     ("optimizer", c.optimizer, ("adam", "nesterov"))):
            if value not in allowed:
                raise ValueError(f"bidnn: {name} must be one of {allowed}, got {value!r}")
        h, r = c.hidden, c.rep // 2
        self.act = activation(c.activation)
        # image -> text direction
        self.in_image = nn.Linear(spec.image_dim, h)
        self.W_center = _glorot(r, h)  # hidden -> rep (image->text); transposed: rep -> hidden (text->image)
        self.b_center_i2t = nn.Parameter(torch.zeros(r))
        self.W_bridge = _glorot(h, r)  # rep -> hidden (image->text); transposed: hidden -> rep (text->image)
        self.b_bridge_i2t = nn.Parameter(torch.zeros(h))
        self.out_text = nn.Linear(h, spec.text_dim)
        # text -> image direction
        self.in_text = nn.Linear(spec.text_dim, h)
        if not c.tied:
            self.W_center_t2i = _glorot(h, r)  # rep -> hidden
            self.W_bridge_t2i = _glorot(r, h)  # hidden -> rep
        self.b_bridge_t2i = nn.Parameter(torch.zeros(r))  # bias of text's hidden -> rep
        self.b_center_t2i = nn.Parameter(torch.zeros(h))  # bias of text's rep -> hidden
        self.out_image = nn.Linear(h, spec.image_dim)
        # running mean of squared row norms of each half ("matrix" rep_norm) and the tanh target scale
        self.register_buffer("rep_sq_image", torch.ones(()))
        self.register_buffer("rep_sq_text", torch.ones(()))
        self.register_buffer("target_scale", torch.full((), float(c.tanh_target_scale)))

    # ------------------------------------------------------------------ the two directions
    def _weights_t2i(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(hidden -> rep, rep -> hidden) matrices of the text->image direction (tied: transposes)."""
        if self.config.tied:
            return self.W_bridge.t(), self.W_center.t()
        return self.W_bridge_t2i, self.W_center_t2i

    def rep_image(self, xi: torch.Tensor) -> torch.Tensor:
        """Standardised image -> its central representation r_image (B, rep/2)."""
        return self.act(F.linear(self.act(self.in_image(xi)), self.W_center, self.b_center_i2t))

    def rep_text(self, xt: torch.Tensor) -> torch.Tensor:
        w_in, _ = self._weights_t2i()
        return self.act(F.linear(self.act(self.in_text(xt)), w_in, self.b_bridge_t2i))

    def _out(self, y: torch.Tensor) -> torch.Tensor:
        return torch.tanh(y) if self.config.output_activation == "tanh" else y

    def image_to_text(self, r_image: torch.Tensor) -> torch.Tensor:
        return self._out(self.out_text(self.act(F.linear(r_image, self.W_bridge, self.b_bridge_i2t))))

    def text_to_image(self, r_text: torch.Tensor) -> torch.Tensor:
        _, w_out = self._weights_t2i()
        return self._out(self.out_image(self.act(F.linear(r_text, w_out, self.b_center_t2i))))

    # ------------------------------------------------------------------ training
    def configure_optimizers(self):
        c = self.config
        if c.optimizer == "nesterov":
            opt = torch.optim.SGD(self.parameters(), lr=c.lr, momentum=c.momentum, nesterov=True)
        else:
            opt = torch.optim.Adam(self.parameters(), lr=c.lr)
        return {"bidnn": opt}

    def _targets(self, xi: torch.Tensor, xt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.config.output_activation != "tanh":
            return xi, xt
        if float(self.target_scale) <= 0:
            with torch.no_grad():
                self.target_scale.fill_(float(torch.cat([xi.abs().flatten(), xt.abs().flatten()]).max().clamp_min(1e-6)))
        s = self.target_scale
        return (xi / s).clamp(-1, 1), (xt / s).clamp(-1, 1)

    def losses(self, xi: torch.Tensor, xt: torch.Tensor) -> dict[str, torch.Tensor]:
        """Both directions on standardised inputs: {"loss", "i2t", "t2i"} (graph kept for backward)."""
        p = self.config.dropout if self.training else 0.0
        ri, rt = F.dropout(self.rep_image(xi), p, self.training), F.dropout(self.rep_text(xt), p, self.training)
        pred_t, pred_i = self.image_to_text(ri), self.text_to_image(rt)
        ti, tt = self._targets(xi, xt)
        i2t = F.mse_loss(pred_t, tt)
        t2i = F.mse_loss(pred_i, ti)
        if self.config.loss == "concat":  # the reference: one mean over all [text, image] output units
            di, dt = ti.shape[1], tt.shape[1]
            loss = (i2t * dt + t2i * di) / (di + dt)
        else:
            loss = i2t + t2i
        return {"loss": loss, "i2t": i2t, "t2i": t2i, "r_image": ri, "r_text": rt}

    def train_step(self, batch, optimizers):
        xi, xt = self.standardise(batch["image"], batch["text"])
        out = self.losses(xi, xt)
        opt = optimizers["bidnn"]
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        if self.config.rep_norm == "matrix":
            with torch.no_grad():  # running mean squared row norm of each half (for the reference's scaling)
                self.rep_sq_image.mul_(0.99).add_(0.01 * out["r_image"].pow(2).sum(1).mean())
                self.rep_sq_text.mul_(0.99).add_(0.01 * out["r_text"].pow(2).sum(1).mean())
        return {"loss": out["loss"].item(), "i2t": out["i2t"].item(), "t2i": out["t2i"].item()}

    # ------------------------------------------------------------------ inference
    def _norm_halves(self, ri: torch.Tensor, rt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mode = self.config.rep_norm
        if mode == "row":
            return l2n(ri), l2n(rt)
        if mode == "matrix":
            return ri / math.sqrt(max(float(self.rep_sq_image), 1e-12)), rt / math.sqrt(max(float(self.rep_sq_text), 1e-12))
        return ri, rt

    def embed(self, image, text):
        """joint [r_image, r_text]; image / text from one modality alone (see ``lone_modality``), rep-d each."""
        xi, xt = self.standardise(image, text)
        ri_raw, rt_raw = self.rep_image(xi), self.rep_text(xt)
        ri, rt = self._norm_halves(ri_raw, rt_raw)
        out = {"joint": torch.cat([ri, rt], 1)}
        if self.config.lone_modality == "duplicate":  # the reference's embedding of a lone modality
            out["image"], out["text"] = torch.cat([ri, ri], 1), torch.cat([rt, rt], 1)
        else:  # translate the missing modality, then embed the completed pair
            _, rt_from_i = self._norm_halves(ri_raw, self.rep_text(self.image_to_text(ri_raw)))
            ri_from_t, _ = self._norm_halves(self.rep_image(self.text_to_image(rt_raw)), rt_raw)
            out["image"], out["text"] = torch.cat([ri, rt_from_i], 1), torch.cat([ri_from_t, rt], 1)
        return out

    @torch.no_grad()
    def translate(self, image: torch.Tensor | None = None, text: torch.Tensor | None = None) -> torch.Tensor:
        """Crossmodal translation in standardised units: image -> predicted text, or text -> predicted image."""
        if (image is None) == (text is None):
            raise ValueError("translate takes exactly one of image / text")
        if image is not None:
            return self.image_to_text(self.rep_image(self.norm_image(image.float())))
        return self.text_to_image(self.rep_text(self.norm_text(text.float())))
