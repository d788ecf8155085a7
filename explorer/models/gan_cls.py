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
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .base import DataSpec, MultimodalModel


@dataclass
class GanClsConfig:
    text_dim: int = 100
    text_hidden: int = 256  # text FC in both G and D
    noise_dim: int = 10
    g_channels: tuple[int, ...] = (256, 128, 64, 32)
    d_channels: tuple[int, ...] = (32, 64, 128, 256)
    embed_channels: int = 256  # maps out of D's 1x1 convolution: embedding = embed_channels * 4 * 4
    # BN on D's first convolution. Off, as in the GAN-CLS/DCGAN reference code the paper builds on:
    # with it, a batch of near-identical early fakes is divided by a near-zero batch std and D's
    # score explodes (we measured D(fake) = 0.99 from step 2 on and no learning).
    d_bn_first: bool = False
    leak: float = 0.2
    lr: float = 1e-4
    lr_d: float | None = None  # D's learning rate if different from lr (two time-scale update rule); None = lr
    beta1: float = 0.5
    batch_size: int = 64
    g_steps: int = 4  # G updates per D update (the paper: 4)
    loss: Literal["bce", "hinge"] = "bce"  # "bce" (the paper) | "hinge"
    spectral_norm: bool = False
    gan_int: float = 0.0  # weight of the GAN-INT interpolated-text G loss (0 = off, Reed et al. use 1)
    # "none" (the paper: raw averaged word2vec) | "standardize": z-score each text dimension with the
    # train split's mean/std. Averaged word2vec vectors share one dominant mean direction (per-dimension
    # std ~0.02 vs |mean| ~0.06 on flowers), so raw inputs barely differ between segments.
    text_norm: Literal["none", "standardize"] = "none"
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
        h = torch.cat([t, z], dim=1)  # (B, 266), the (B, 266, 1, 1) map
        # The first deconvolution (kernel 4, stride 1, no padding) of a 1x1 map is a matrix product,
        # (B, 266) @ (266, 256 * 4 * 4): as one GEMM it is ~20x faster on CPU than the transposed
        # convolution (bench/bench_gan_cls.py); same weights, same result.
        first = self.net[0]
        x = (h @ first.weight.reshape(first.in_channels, -1)).view(h.shape[0], first.out_channels, *first.kernel_size)
        for layer in list(self.net)[1:]:
            x = layer(x)
        return x


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

    # features = joint(image_net(image), text_features(text)); forward = head(features). The pieces
    # are separate so that GanCls.train_step can reuse the ones its passes share.
    def text_features(self, text: torch.Tensor) -> torch.Tensor:
        """Text branch: (B, 100) -> (B, 256)."""
        return F.leaky_relu(self.text_fc(text), self.cfg.leak)

    def joint(self, h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The 1x1 convolution on [image maps h (B, 256, 4, 4); t (B, 256) replicated spatially]."""
        t = t[:, :, None, None].expand(-1, -1, h.shape[2], h.shape[3])
        return self.joint_conv(torch.cat([h, t], dim=1))

    def head(self, e: torch.Tensor) -> torch.Tensor:
        """Embedding (B, 256, 4, 4) -> (B,) logits."""
        return self.score(F.leaky_relu(self.joint_bn(e), self.cfg.leak)).flatten()

    def features(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """The 1x1 convolution's output (B, embed_channels, 4, 4): the multimodal embedding."""
        return self.joint(self.image_net(image), self.text_features(text))

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image, text))  # (B,) logits


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


def _batchnorms(module: nn.Module) -> list:
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextmanager
def running_stats_counted_twice(module: nn.Module):
    """Inside, one training-mode pass updates BN running statistics as two identical passes would.

    Two updates with the same batch statistics s give r2 = (1 - m)^2 r0 + (1 - (1 - m)^2) s, i.e. one
    update with momentum 1 - (1 - m)^2; ``num_batches_tracked`` gets its second increment on exit.
    Needs float momenta (``momentum=None``, the cumulative average, is not handled).
    """
    bns = _batchnorms(module)
    saved = [m.momentum for m in bns]
    for m in bns:
        m.momentum = 1.0 - (1.0 - m.momentum) ** 2
    try:
        yield
        for m in bns:
            if m.num_batches_tracked is not None:
                m.num_batches_tracked.add_(1)
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom


class GanCls(MultimodalModel):
    kind = "gan_cls"
    wants_pixels = True
    generative = True
    topword_methods = ("transposed", "optimise")  # invert_transposed, invert_optimise

    def __init__(self, config: GanClsConfig, spec: DataSpec):
        super().__init__(config, spec)
        if spec.image_input != "pixels64":
            raise ValueError(f"gan_cls needs 64x64 keyframes (image_input 'pixels64'), got {spec.image_input!r}")
        if spec.text_dim != config.text_dim:
            config.text_dim = spec.text_dim
        if config.text_norm not in ("none", "standardize"):
            raise ValueError(f"text_norm must be 'none' or 'standardize', got {config.text_norm!r}")
        self.G = Generator(config)
        self.D = Discriminator(config)
        # Text normalisation statistics (identity unless text_norm == "standardize"); saved in checkpoints.
        self.register_buffer("text_mean", torch.zeros(config.text_dim))
        self.register_buffer("text_std", torch.ones(config.text_dim))
        for m in self.modules():  # DCGAN initialisation
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)
        # Channels-last (NHWC) convolution weights, and so activations: oneDNN's native layout on CPU,
        # which spares a reorder per convolution (bench/bench_gan_cls.py). Layout only: values, state
        # dict keys and checkpoints are unchanged (a loaded NCHW tensor is copied into NHWC storage).
        self.to(memory_format=torch.channels_last)

    # ------------------------------------------------------------------------------------ training
    def fit_input_stats(self, train: dict) -> None:
        if self.config.text_norm == "standardize":
            text = train["text"].float()  # (N, 100)
            self.text_mean.copy_(text.mean(0))
            self.text_std.copy_(text.std(0).clamp_min(1e-6))

    def norm_text(self, text: torch.Tensor) -> torch.Tensor:
        """Raw averaged word2vec (B, 100) -> what G and D consume."""
        return (text - self.text_mean) / self.text_std

    def configure_optimizers(self):
        c = self.config

        def adam(params, lr):
            return torch.optim.Adam(params, lr=lr, betas=(c.beta1, 0.999))

        lr_d = c.lr_d if c.lr_d is not None else c.lr
        return {"D": adam(self.D.parameters(), lr_d), "G": adam(self.G.parameters(), c.lr)}

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
        """One D update on {real,right}/{wrong,right}/{fake,right}, then ``g_steps`` G updates.

        Work is saved without changing what is computed (measured in ``bench/bench_gan_cls.py``):
        - the fakes of the D update are drawn under no_grad (no graph back into G), and D's weights
          are frozen during the G updates, so backward skips their gradients;
        - the wrong images are a cyclic shift of the real ones, and D's image branch commutes with a
          permutation of the batch (convolutions and leaky-ReLU act per segment; training-mode BN's
          batch statistics ignore the order), so the wrong pass's image maps are the real pass's,
          rolled: ``image_net`` runs forward and backward once for both, its BN running statistics
          updated as the two passes would (``running_stats_counted_twice``). The 1x1 joint conv, its
          BN and the score still see each pair type as a batch of its own;
        - D's text branch runs once for the D update and once for all G updates (D is fixed then).
        With spectral norm each D forward also takes a power-iteration step, so that option keeps
        one full D pass per pair type.
        """
        image, text = batch["image"], self.norm_text(batch["text"])  # (B, 3, 64, 64), (B, 100)
        image = image.contiguous(memory_format=torch.channels_last)  # like the weights (see __init__)
        b = image.shape[0]
        D, G = self.D, self.G
        # Wrong images: a random cyclic shift of the batch, so no segment is paired with its own image.
        shift = int(torch.randint(1, b, ())) if b > 1 else 0
        shared = not self.config.spectral_norm and all(isinstance(m.momentum, float) for m in _batchnorms(D.image_net))

        # ---- D update. The fakes need no graph back into G here.
        D.requires_grad_(True)
        with torch.no_grad():
            fake = G(self.sample_noise(b, image.device), text)
        if shared:
            t = D.text_features(text)
            with running_stats_counted_twice(D.image_net):
                h = D.image_net(image)  # (B, 256, 4, 4); the wrong images' maps are h.roll(shift)
            d_real, d_wrong = D.head(D.joint(h, t)), D.head(D.joint(h.roll(shift, dims=0), t))
            with frozen_running_stats(D):
                d_fake = D.head(D.joint(D.image_net(fake), t))
        else:
            d_real, d_wrong = D(image, text), D(image.roll(shift, dims=0), text)
            with frozen_running_stats(D):
                d_fake = D(fake, text)
        d_loss = self._d_loss(d_real, d_wrong, d_fake)
        optimizers["D"].zero_grad(set_to_none=True)
        d_loss.backward()
        optimizers["D"].step()

        # ---- G updates, D fixed: its weights frozen, its BN running statistics untouched.
        D.requires_grad_(False)
        gan_int = self.config.gan_int > 0 and b > 1
        mix = 0.5 * (text + text.roll(1, dims=0)) if gan_int else None  # GAN-INT: interpolated transcripts
        try:
            with frozen_running_stats(D):
                if shared:
                    with torch.no_grad():
                        t, t_mix = D.text_features(text), (D.text_features(mix) if gan_int else None)

                    def d_score(x, which):
                        return D.head(D.joint(D.image_net(x), t if which == "text" else t_mix))
                else:
                    def d_score(x, which):
                        return D(x, text if which == "text" else mix)
                for _ in range(self.config.g_steps):
                    fake = G(self.sample_noise(b, image.device), text)
                    g_loss = self._g_loss(d_score(fake, "text"))
                    if gan_int:
                        g_loss = g_loss + self.config.gan_int * self._g_loss(d_score(G(self.sample_noise(b, image.device), mix), "mix"))
                    optimizers["G"].zero_grad(set_to_none=True)
                    g_loss.backward()
                    optimizers["G"].step()
        finally:
            D.requires_grad_(True)

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
        return {"joint": self.D.features(image, self.norm_text(text)).flatten(1)}

    def generate(self, text: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 100) text embeddings -> (B, 3, 64, 64) images in [-1, 1]."""
        if z is None:
            z = self.sample_noise(text.shape[0], text.device)
        return self.G(z, self.norm_text(text))

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
        t_norm = torch.linalg.lstsq(fc.weight, (t_pre - fc.bias).T).solution.T
        return t_norm * self.text_std + self.text_mean  # back to raw word2vec space (nearest words)

    def invert_optimise(self, image: torch.Tensor, steps: int = 200, lr: float = 0.05, init: torch.Tensor | None = None,
                        n_noise: int = 4, seed: int = 0) -> torch.Tensor:
        """Gradient descent on the text embedding (and noise) so that G(z, t) reconstructs ``image``.

        image (B, 3, 64, 64) -> (B, 100). ``n_noise`` noise vectors per image are optimised jointly
        with one shared text vector; the loss is their mean squared error to the image.
        """
        b = image.shape[0]
        gen = torch.Generator(device="cpu").manual_seed(seed)
        # Optimised in G's input space (normalised text), returned in raw word2vec space.
        t = (self.norm_text(init) if init is not None else torch.zeros(b, self.config.text_dim)).to(image.device).requires_grad_(True)
        z = (torch.rand(b * n_noise, self.config.noise_dim, generator=gen) * 2 - 1).to(image.device).requires_grad_(True)
        opt = torch.optim.Adam([t, z], lr=lr)
        target = image.repeat_interleave(n_noise, dim=0)
        self.G.requires_grad_(False)
        from ..progress import report

        try:
            for step in range(steps):
                out = self.G(z.clamp(-1, 1), t.repeat_interleave(n_noise, dim=0))
                loss = F.mse_loss(out, target)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if step % 10 == 9:
                    report("inverting the generator", step + 1, steps)
        finally:
            self.G.requires_grad_(True)
        return t.detach() * self.text_std + self.text_mean
