"""GAN-CLS conditional GAN whose discriminator yields the multimodal embedding (Vukotić et al., ICMR 2017).

Generator G(z, t): t (B, 100) -> FC 256 + leaky-ReLU; concatenated with z (B, 10) ~ U(-1, 1) into a
(B, 266, 1, 1) map; 4 deconvolutions with 256, 128, 64, 32 maps (4x4 -> 8x8 -> 16x16 -> 32x32, BN +
ReLU), then an output deconvolution to (B, 3, 64, 64) with tanh.

Discriminator D(x, t): 4 stride-2 convolutions with 32, 64, 128, 256 maps, BN (not on the first, see
``d_bn_first``) + leaky-ReLU:
(B, 3, 64, 64) -> (B, 256, 4, 4); t -> FC 256 + leaky-ReLU, replicated to (B, 256, 4, 4);
concatenation (B, 512, 4, 4); a 1x1 convolution to (B, 256, 4, 4) — **its output, flattened to
(B, 4096), is the multimodal embedding** — then BN, leaky-ReLU and a 4x4 convolution to the score.

Embedding extraction (``embed``) runs D in eval mode: BatchNorm uses its running statistics, so a
segment's embedding does not depend on which other segments share its batch. The embedding is taken
*before* the BN that follows the 1x1 convolution, exactly as the paper specifies.

Training (GAN-CLS, Reed et al. 2016): D sees {real image, right text} as real, {wrong image, right
text} and {generated image, right text} as fake, wrong images drawn at random from other segments of
the batch; G is updated ``g_steps`` = 4 times per D update; Adam lr 1e-4, beta1 0.5, batch 64.
Options beyond the paper (off by default, each measured in ``bench/``): hinge loss, spectral norm,
GAN-INT text interpolation.

The inverted generator (``invert_transposed``, paper's Table 3) and an optimisation-based inversion
(``invert_optimise``) map an image back to the 100-d text-embedding space.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import DataSpec, MultimodalModel


@dataclass
class GanClsConfig:
    text_dim: int = 100
    text_hidden: int = 256  # text FC in both G and D
    noise_dim: int = 10
    g_channels: tuple = (256, 128, 64, 32)
    d_channels: tuple = (32, 64, 128, 256)
    embed_channels: int = 256  # maps out of D's 1x1 convolution: embedding = embed_channels * 4 * 4
    # BN on D's first convolution. Off, as in the GAN-CLS/DCGAN reference code the paper builds on:
    # with it, a batch of near-identical early fakes is divided by a near-zero batch std and D's
    # score explodes (we measured D(fake) = 0.99 from step 2 on and no learning).
    d_bn_first: bool = False
    leak: float = 0.2
    lr: float = 1e-4
    beta1: float = 0.5
    batch_size: int = 64
    g_steps: int = 4  # G updates per D update (the paper: 4)
    loss: str = "bce"  # "bce" (the paper) | "hinge"
    spectral_norm: bool = False
    gan_int: float = 0.0  # weight of the GAN-INT interpolated-text G loss (0 = off, Reed et al. use 1)
    epochs: int = 20


class Generator(nn.Module):
    def __init__(self, cfg: GanClsConfig):
        super().__init__()
        self.cfg = cfg
        self.text_fc = nn.Linear(cfg.text_dim, cfg.text_hidden)
        c = cfg.g_channels
        layers: list[nn.Module] = []
        in_ch = cfg.text_hidden + cfg.noise_dim
        for i, out_ch in enumerate(c):
            # first: 1x1 -> 4x4 (kernel 4, stride 1, no padding); then each doubles the side.
            conv = nn.ConvTranspose2d(in_ch, out_ch, 4, 1, 0, bias=False) if i == 0 else nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1, bias=False)
            layers += [conv, nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)]
            in_ch = out_ch
        layers += [nn.ConvTranspose2d(in_ch, 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        # z (B, 10), text (B, 100) -> (B, 3, 64, 64) in [-1, 1]
        t = F.leaky_relu(self.text_fc(text), self.cfg.leak)  # (B, 256)
        h = torch.cat([t, z], dim=1)[:, :, None, None]  # (B, 266, 1, 1)
        return self.net(h)


class Discriminator(nn.Module):
    def __init__(self, cfg: GanClsConfig):
        super().__init__()
        self.cfg = cfg
        sn = nn.utils.parametrizations.spectral_norm if cfg.spectral_norm else (lambda m: m)
        layers: list[nn.Module] = []
        in_ch = 3
        for i, out_ch in enumerate(cfg.d_channels):
            norm = nn.BatchNorm2d(out_ch) if (i > 0 or cfg.d_bn_first) else nn.Identity()
            layers += [sn(nn.Conv2d(in_ch, out_ch, 4, 2, 1, bias=False)), norm, nn.LeakyReLU(cfg.leak, inplace=True)]
            in_ch = out_ch
        self.image_net = nn.Sequential(*layers)  # (B, 3, 64, 64) -> (B, 256, 4, 4)
        self.text_fc = sn(nn.Linear(cfg.text_dim, cfg.text_hidden))
        self.joint_conv = sn(nn.Conv2d(in_ch + cfg.text_hidden, cfg.embed_channels, 1, bias=False))  # the 1x1 conv
        self.joint_bn = nn.BatchNorm2d(cfg.embed_channels)
        self.score = sn(nn.Conv2d(cfg.embed_channels, 1, 4, 1, 0, bias=False))  # (B, 256, 4, 4) -> (B, 1, 1, 1)

    def features(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """The 1x1 convolution's output (B, embed_channels, 4, 4): the multimodal embedding."""
        h = self.image_net(image)  # (B, 256, 4, 4)
        t = F.leaky_relu(self.text_fc(text), self.cfg.leak)  # (B, 256)
        t = t[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])  # replicated spatially
        return self.joint_conv(torch.cat([h, t], dim=1))

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        e = self.features(image, text)
        return self.score(F.leaky_relu(self.joint_bn(e), self.cfg.leak)).flatten()  # (B,) logits


@contextmanager
def frozen_running_stats(module: nn.Module):
    """Inside, BatchNorm layers still normalise by batch statistics but do not update running ones.

    D's running statistics define the eval-mode embedding, so they must describe real keyframes,
    not the generated batches D also sees (4 of its 7 forward passes per step are on fakes).
    """
    bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch
    try:
        yield
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom


class GanCls(MultimodalModel):
    kind = "gan_cls"
    wants_pixels = True

    def __init__(self, config: GanClsConfig, spec: DataSpec):
        super().__init__(config, spec)
        if spec.image_input != "pixels64":
            raise ValueError(f"gan_cls needs 64x64 keyframes (image_input 'pixels64'), got {spec.image_input!r}")
        if spec.text_dim != config.text_dim:
            config.text_dim = spec.text_dim
        self.G = Generator(config)
        self.D = Discriminator(config)
        for m in self.modules():  # DCGAN initialisation
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    # ------------------------------------------------------------------------------------ training
    def configure_optimizers(self):
        c = self.config
        return {
            "D": torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=(c.beta1, 0.999)),
            "G": torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=(c.beta1, 0.999)),
        }

    def sample_noise(self, n: int, device=None) -> torch.Tensor:
        return torch.rand(n, self.config.noise_dim, device=device) * 2 - 1  # U(-1, 1)

    def _d_loss(self, real: torch.Tensor, wrong: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        if self.config.loss == "hinge":
            return F.relu(1 - real).mean() + 0.5 * (F.relu(1 + wrong).mean() + F.relu(1 + fake).mean())
        return (
            F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
            + 0.5 * (F.binary_cross_entropy_with_logits(wrong, torch.zeros_like(wrong))
                     + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
        )

    def _g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        if self.config.loss == "hinge":
            return -fake_logits.mean()
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))

    def train_step(self, batch, optimizers):
        """One D update on {real,right}/{wrong,right}/{fake,right}, then ``g_steps`` G updates."""
        image, text = batch["image"], batch["text"]  # (B, 3, 64, 64), (B, 100)
        b = image.shape[0]
        # Wrong images: a random cyclic shift of the batch, so no segment is paired with its own image.
        shift = int(torch.randint(1, b, ())) if b > 1 else 0
        wrong = image.roll(shift, dims=0)

        # ---- D update. The fakes need no graph back into G here.
        self.D.requires_grad_(True)
        with torch.no_grad():
            fake = self.G(self.sample_noise(b, image.device), text)
        d_real, d_wrong = self.D(image, text), self.D(wrong, text)
        with frozen_running_stats(self.D):
            d_fake = self.D(fake, text)
        d_loss = self._d_loss(d_real, d_wrong, d_fake)
        optimizers["D"].zero_grad(set_to_none=True)
        d_loss.backward()
        optimizers["D"].step()

        # ---- G updates. D's weights are frozen so backward skips their gradients (saves ~1/3 of D's backward).
        self.D.requires_grad_(False)
        try:
            with frozen_running_stats(self.D):
                for _ in range(self.config.g_steps):
                    fake = self.G(self.sample_noise(b, image.device), text)
                    g_loss = self._g_loss(self.D(fake, text))
                    if self.config.gan_int > 0 and b > 1:
                        mix = 0.5 * (text + text.roll(1, dims=0))  # GAN-INT: interpolated transcripts
                        g_loss = g_loss + self.config.gan_int * self._g_loss(self.D(self.G(self.sample_noise(b, image.device), mix), mix))
                    optimizers["G"].zero_grad(set_to_none=True)
                    g_loss.backward()
                    optimizers["G"].step()
        finally:
            self.D.requires_grad_(True)

        return {
            "d_loss": d_loss.item(), "g_loss": g_loss.item(),
            # mean D probability on each pair type: the paper's diagnostics of GAN-CLS training
            "d_real": torch.sigmoid(d_real.detach()).mean().item(),
            "d_wrong": torch.sigmoid(d_wrong.detach()).mean().item(),
            "d_fake": torch.sigmoid(d_fake.detach()).mean().item(),
        }

    # ----------------------------------------------------------------------------------- inference
    def embed(self, image, text):
        """{"joint": (B, 4096)} = D's 1x1-convolution output, flattened (call in eval mode)."""
        return {"joint": self.D.features(image, text).flatten(1)}

    def generate(self, text: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 100) text embeddings -> (B, 3, 64, 64) images in [-1, 1]."""
        if z is None:
            z = self.sample_noise(text.shape[0], text.device)
        return self.G(z, text)

    def invert_transposed(self, image: torch.Tensor) -> torch.Tensor:
        """The paper's inverted generator: image (B, 3, 64, 64) -> text embedding (B, 100).

        Each deconvolution is inverted by the convolution with the *same* learned kernel (its
        transpose), each BatchNorm by its inverse affine map (running statistics), tanh by atanh,
        ReLU by the identity; the 1x1 input vector's first 256 entries are the text part, whose
        leaky-ReLU is inverted and whose FC layer is undone by least squares (pseudo-inverse).
        """
        layers = list(self.G.net)
        h = torch.atanh(image.clamp(-0.999, 0.999))
        for layer in reversed(layers):
            if isinstance(layer, nn.ConvTranspose2d):
                h = F.conv2d(h, layer.weight, stride=layer.stride, padding=layer.padding)
            elif isinstance(layer, nn.BatchNorm2d):
                scale = layer.weight / torch.sqrt(layer.running_var + layer.eps)
                h = (h - layer.bias[None, :, None, None]) / scale[None, :, None, None] + layer.running_mean[None, :, None, None]
            # ReLU / Tanh(already undone): identity
        v = h.mean(dim=(2, 3))  # (B, 266) — the first deconv has 1x1 input; conv2d leaves 1x1
        t_hidden = v[:, : self.config.text_hidden]
        t_pre = torch.where(t_hidden >= 0, t_hidden, t_hidden / self.config.leak)  # inverse leaky-ReLU
        fc = self.G.text_fc
        # Solve fc.weight @ t = t_pre - bias in the least-squares sense: (B, 100)
        return torch.linalg.lstsq(fc.weight, (t_pre - fc.bias).T).solution.T

    def invert_optimise(self, image: torch.Tensor, steps: int = 200, lr: float = 0.05, init: torch.Tensor | None = None,
                        n_noise: int = 4, seed: int = 0) -> torch.Tensor:
        """Gradient descent on the text embedding (and noise) so that G(z, t) reconstructs ``image``.

        image (B, 3, 64, 64) -> (B, 100). ``n_noise`` noise vectors per image are optimised jointly
        with one shared text vector; the loss is their mean squared error to the image.
        """
        b = image.shape[0]
        gen = torch.Generator(device="cpu").manual_seed(seed)
        t = (init.clone() if init is not None else torch.zeros(b, self.config.text_dim)).to(image.device).requires_grad_(True)
        z = (torch.rand(b * n_noise, self.config.noise_dim, generator=gen) * 2 - 1).to(image.device).requires_grad_(True)
        opt = torch.optim.Adam([t, z], lr=lr)
        target = image.repeat_interleave(n_noise, dim=0)
        self.G.requires_grad_(False)
        try:
            for _ in range(steps):
                out = self.G(z.clamp(-1, 1), t.repeat_interleave(n_noise, dim=0))
                loss = F.mse_loss(out, target)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        finally:
            self.G.requires_grad_(True)
        return t.detach()
