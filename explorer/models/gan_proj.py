"""GAN-CLS with a projected, contrastive discriminator: a recipe that learns on 2 CPU cores.

The paper's GAN-CLS (``gan_cls.py``) learns its discriminator from 64x64 pixels and needs ~1,000
GPU epochs; on this hardware its embedding stays at text-only level. This kind keeps the paper's
*embedding* (the output of D's 1x1 convolution over [image maps; text maps]) and GAN-CLS's
matching-aware game, and changes how D sees images and what it is trained for, after:

- Projected GANs (Sauer et al. 2021): D looks through a **frozen pretrained network** (ImageNet
  MobileNet v1, ``explorer.features.mobilenet_torch``; keyframes bilinearly upsampled to
  ``feature_size``), at two scales: block 13 (B, 1024, 4, 4) for the conditional head that carries
  the embedding, block 11 (B, 512, 8, 8) for an unconditional realism head; translation + flip
  augmentation of real and fake alike (DiffAugment, Zhao et al. 2020);
- XMC-GAN (Zhang et al. 2021): **contrastive losses** with all in-batch negatives. The 1x1
  convolution ``W = [W_img | W_txt]`` splits into an image part ``W_img h`` and a text part ``W_txt t``
  (the joint embedding is their sum at each position); D learns to align the two for real pairs
  (InfoNCE, temperature ``tau``), G learns to draw images whose image part matches their text's, and
  whose pooled frozen features match their own segment's real image (image-image term);
- DF-GAN / BigGAN: hinge loss; G upsamples (nearest) + 3x3 convolutions (no checkerboard of
  transposed kernels), text and noise enter every block through conditional BatchNorm;
- Mode seeking (Mao et al. 2019): half the fakes of a batch repeat the first half's transcripts with
  other noise, and G is penalised when two noise draws give close images; an EMA copy of G
  (``G_ema``) draws the samples.

Shapes (defaults): text t (B, 100) standardised; z (B, 100) ~ U(-1, 1).
G: c = [lrelu(FC t -> 256); z] (B, 356) -> FC -> (B, 256, 4, 4) -> 4 x [up2, conv3x3, CBN(c), ReLU]
with 256, 128, 64, 32 maps -> conv3x3 -> tanh (B, 3, 64, 64).
D: h = lrelu(conv1x1(F13)) (B, 256, 4, 4); t = lrelu(FC text) (B, 256) replicated; **e = conv1x1([h; t])
(B, 256, 4, 4) is the multimodal embedding** (flattened, 4,096-d, as the paper; ``embed_pool="mean"``
averages the positions instead, 256-d, an evaluation-time option); score = conv4x4(lrelu(e)).
Unconditional head: F11 (B, 512, 8, 8) -> conv4x4 s2 (128) -> lrelu -> conv4x4 -> (B,).

The frozen network is not a submodule: its weights are rebuilt from the shipped TFLite file when the
model is built (``feature_net``), so checkpoints hold only what was trained.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .base import DataSpec, MultimodalModel


@dataclass
class GanProjConfig:
    text_dim: int = 100
    text_hidden: int = 256
    noise_dim: int = 100
    g_base: int = 256  # maps at 4x4; halved at each of the 4 upsamplings (256, 128, 64, 32)
    d_hidden: int = 256  # D's image maps and embedding channels (embedding = d_hidden * 4 * 4)
    feature_net: Literal["mobilenet", "tiny_random"] = "mobilenet"  # frozen image network seen by D: "mobilenet" | "tiny_random" (tests only)
    feature_size: int = 128  # keyframes are upsampled to this side before the frozen network
    leak: float = 0.2
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    batch_size: int = 64
    tau: float = 0.1  # InfoNCE temperature
    w_contrast_d: float = 1.0  # D: image part vs text part of the 1x1 conv, real pairs
    w_contrast_g: float = 1.0  # G: fake image part vs its text part
    w_image_image: float = 1.0  # G: pooled frozen features of a fake vs its segment's real image
    w_uncond: float = 1.0  # weight of the unconditional (block 11) realism head, in D and G
    w_mode_seeking: float = 1.0  # 0 = off
    augment: bool = True  # translation (1/16 of the side) + horizontal flip, real and fake
    ema_decay: float = 0.995
    text_norm: Literal["none", "standardize"] = "standardize"  # "none" | "standardize" (z-score with train statistics)
    embed_pool: Literal["flatten", "mean"] = "flatten"  # "flatten" (the paper: 4x4 positions, 4096-d) | "mean" (256-d)
    epochs: int = 10


# ----------------------------------------------------------------------------------- frozen network


class TinyRandomFeatures(nn.Module):
    """Stand-in frozen network for unit tests (seeded random convolutions, no file needed).

    Same interface and map shapes as MobileNet v1 blocks 11 and 13: ``features(x, (11, 13))`` ->
    {11: (B, 512, S/16, S/16), 13: (B, 1024, S/32, S/32)}. Carries no ImageNet knowledge.
    """

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.a = nn.Conv2d(3, 512, 16, 16)
        self.b = nn.Conv2d(512, 1024, 2, 2)
        with torch.no_grad():
            for conv in (self.a, self.b):
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) / conv.weight[0].numel() ** 0.5)
                conv.bias.zero_()
        self.eval().requires_grad_(False)

    def features(self, x: torch.Tensor, blocks=(11, 13)) -> dict[int, torch.Tensor]:
        h11 = F.relu(self.a(x))
        return {11: h11, 13: F.relu(self.b(h11))}


def _mobilenet():
    from ..features.mobilenet_torch import load_mobilenet_torch

    return load_mobilenet_torch()


FEATURE_NETS = {"mobilenet": _mobilenet, "tiny_random": TinyRandomFeatures}
_FEATURE_NET_CACHE: dict[str, nn.Module] = {}  # one frozen copy per process, shared by every model


def frozen_feature_net(name: str) -> nn.Module:
    if name not in FEATURE_NETS:
        raise ValueError(f"feature_net must be one of {', '.join(FEATURE_NETS)}, got {name!r}")
    if name not in _FEATURE_NET_CACHE:
        _FEATURE_NET_CACHE[name] = FEATURE_NETS[name]()
    return _FEATURE_NET_CACHE[name]


# ----------------------------------------------------------------------------------------- networks


class ConditionalBN(nn.Module):
    """BatchNorm without its own affine map; scale and shift come from the condition c (B, C_c)."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Linear(cond_dim, channels)
        self.beta = nn.Linear(cond_dim, channels)
        nn.init.zeros_(self.gamma.weight), nn.init.ones_(self.gamma.bias)
        nn.init.zeros_(self.beta.weight), nn.init.zeros_(self.beta.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.bn(x) * self.gamma(c)[:, :, None, None] + self.beta(c)[:, :, None, None]


class Generator(nn.Module):
    def __init__(self, cfg: GanProjConfig):
        super().__init__()
        self.cfg = cfg
        self.text_fc = nn.Linear(cfg.text_dim, cfg.text_hidden)
        cond = cfg.text_hidden + cfg.noise_dim
        self.fc = nn.Linear(cond, cfg.g_base * 16)
        self.bn0 = ConditionalBN(cfg.g_base, cond)
        chans = [cfg.g_base // 2**i for i in range(5)]  # 256, 128, 64, 32, 16 with g_base 256
        self.convs = nn.ModuleList(nn.Conv2d(chans[i], chans[i + 1], 3, 1, 1) for i in range(4))
        self.bns = nn.ModuleList(ConditionalBN(chans[i + 1], cond) for i in range(4))
        self.out = nn.Conv2d(chans[4], 3, 3, 1, 1)

    def forward(self, z: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        # z (B, Dz), text (B, Dt) -> (B, 3, 64, 64) in [-1, 1]
        c = torch.cat([F.leaky_relu(self.text_fc(text), self.cfg.leak), z], dim=1)  # (B, 356)
        x = F.relu(self.bn0(self.fc(c).view(len(c), self.cfg.g_base, 4, 4), c))  # (B, 256, 4, 4)
        for conv, bn in zip(self.convs, self.bns):  # 4 -> 8 -> 16 -> 32 -> 64
            x = F.relu(bn(conv(F.interpolate(x, scale_factor=2, mode="nearest")), c))
        return torch.tanh(self.out(x))


class Discriminator(nn.Module):
    """The trained part of D; the frozen network's maps come in from outside (``GanProj.frozen_maps``)."""

    def __init__(self, cfg: GanProjConfig):
        super().__init__()
        self.cfg = cfg
        k = cfg.d_hidden
        self.image_conv = nn.Conv2d(1024, k, 1)  # block 13 maps -> D's image maps
        self.text_fc = nn.Linear(cfg.text_dim, cfg.text_hidden)
        self.joint_conv = nn.Conv2d(k + cfg.text_hidden, k, 1, bias=False)  # the paper's 1x1 conv
        side = cfg.feature_size // 32  # block 13's map side (4 at 128 px)
        self.score = nn.Conv2d(k, 1, side, 1, 0)  # (B, k, 4, 4) -> (B, 1, 1, 1)
        # block 11 (B, 512, 2 side, 2 side) -> (B, 128, side, side) -> (B, 1, 1, 1)
        self.uncond = nn.Sequential(nn.Conv2d(512, 128, 4, 2, 1), nn.LeakyReLU(cfg.leak), nn.Conv2d(128, 1, side, 1, 0))

    def image_maps(self, f13: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.image_conv(f13), self.cfg.leak)  # (B, k, 4, 4)

    def text_features(self, text: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.text_fc(text), self.cfg.leak)  # (B, 256)

    def image_half(self, h: torch.Tensor) -> torch.Tensor:
        """The 1x1 conv's image half: W_img h, (B, k, 4, 4)."""
        return F.conv2d(h, self.joint_conv.weight[:, : self.cfg.d_hidden])

    def text_half(self, t: torch.Tensor) -> torch.Tensor:
        """The 1x1 conv's text half: W_txt t, (B, k) (the same at every position)."""
        return t @ self.joint_conv.weight[:, self.cfg.d_hidden :, 0, 0].T

    def parts(self, h: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The 1x1 conv as its two halves: image part (B, k, 4, 4) and text part (B, k)."""
        return self.image_half(h), self.text_half(t)

    def joint(self, h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """e = conv1x1([h; t replicated]) (B, k, 4, 4): the multimodal embedding."""
        img, txt = self.parts(h, t)
        return img + txt[:, :, None, None]

    def head(self, e: torch.Tensor) -> torch.Tensor:
        return self.score(F.leaky_relu(e, self.cfg.leak)).flatten()  # (B,)


def info_nce(a: torch.Tensor, b: torch.Tensor, tau: float, targets: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE of rows of a (N, E) against rows of b (M, E); a[i]'s positive is b[targets[i]]."""
    logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / tau  # (N, M)
    if targets is None:
        targets = torch.arange(len(a), device=a.device)
        return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))
    return F.cross_entropy(logits, targets)


def augment(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """Per-sample horizontal flip and a translation of up to 1/16 of the side (zero fill): (B, 3, S, S)."""
    b, _, s, _ = x.shape
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip.to(x.device)[:, None, None, None], x.flip(3), x)
    m = max(1, s // 16)
    shift = torch.randint(-m, m + 1, (2,), generator=gen).tolist()  # one shift for the batch: cheap
    x = F.pad(x, (m, m, m, m), value=-1.0)
    return x[:, :, m + shift[0] : m + shift[0] + s, m + shift[1] : m + shift[1] + s]


class GanProj(MultimodalModel):
    kind = "gan_proj"
    wants_pixels = True
    training_only_modules = ("G",)  # sampling uses G_ema; D stays (it gives the embedding)
    generative = True
    topword_methods = ("crossmodal",)  # see word_scores

    def __init__(self, config: GanProjConfig, spec: DataSpec):
        super().__init__(config, spec)
        if spec.image_input != "pixels64":
            raise ValueError(f"gan_proj needs 64x64 keyframes (image_input 'pixels64'), got {spec.image_input!r}")
        config.text_dim = spec.text_dim
        for key, allowed in (("text_norm", ("none", "standardize")), ("embed_pool", ("flatten", "mean"))):
            if getattr(config, key) not in allowed:
                raise ValueError(f"gan_proj {key} must be one of {', '.join(allowed)}, got {getattr(config, key)!r}")
        if config.feature_size % 32:
            raise ValueError(f"gan_proj feature_size must be a multiple of 32, got {config.feature_size}")
        self.G = Generator(config)
        self.D = Discriminator(config)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False)
        self.register_buffer("text_mean", torch.zeros(config.text_dim))
        self.register_buffer("text_std", torch.ones(config.text_dim))
        self.register_buffer("ema_steps", torch.zeros((), dtype=torch.long))
        self._fnet = [frozen_feature_net(config.feature_net)]  # a list: not a submodule, not in state_dict

    # ------------------------------------------------------------------------------------ helpers
    def fit_input_stats(self, train: dict) -> None:
        if self.config.text_norm == "standardize":
            text = train["text"].float()
            self.text_mean.copy_(text.mean(0))
            self.text_std.copy_(text.std(0).clamp_min(1e-6))

    def norm_text(self, text: torch.Tensor) -> torch.Tensor:
        return (text - self.text_mean) / self.text_std

    def frozen_maps(self, image: torch.Tensor) -> dict[int, torch.Tensor]:
        """(B, 3, 64, 64) in [-1, 1] -> {11: (B, 512, s/16, s/16), 13: (B, 1024, s/32, s/32)}, s = feature_size."""
        net = self._fnet[0]
        if next(net.parameters()).device != image.device:
            self._fnet[0] = net = net.to(image.device)
        s = self.config.feature_size
        x = F.interpolate(image, size=(s, s), mode="bilinear", align_corners=False) if image.shape[-1] != s else image
        return net.features(x.contiguous(memory_format=torch.channels_last), (11, 13))

    def configure_optimizers(self):
        c = self.config
        return {"D": torch.optim.Adam(self.D.parameters(), lr=c.lr_d, betas=(c.beta1, 0.999)),
                "G": torch.optim.Adam(self.G.parameters(), lr=c.lr_g, betas=(c.beta1, 0.999))}

    def sample_noise(self, n: int, device=None) -> torch.Tensor:
        return torch.rand(n, self.config.noise_dim, device=device) * 2 - 1  # U(-1, 1), as gan_cls

    @torch.no_grad()
    def _update_ema(self) -> None:
        self.ema_steps += 1
        n = int(self.ema_steps)
        decay = min(self.config.ema_decay, (1 + n) / (10 + n))  # short warm-up: early G moves fast
        for pe, p in zip(self.G_ema.parameters(), self.G.parameters()):
            pe.lerp_(p, 1 - decay)
        for be, b in zip(self.G_ema.buffers(), self.G.buffers()):
            be.copy_(b)

    # ------------------------------------------------------------------------------------ training
    def train_step(self, batch, optimizers):
        """One D update (hinge + real-pair InfoNCE), then one G update on the same fakes' frozen maps."""
        c, D, G = self.config, self.D, self.G
        image, text = batch["image"], self.norm_text(batch["text"])  # (B, 3, 64, 64), (B, Dt)
        b = image.shape[0]
        half = b // 2
        # Fakes: the first half's transcripts twice, with independent noise (pairs for mode seeking).
        text_fake = torch.cat([text[:half], text[:half]]) if c.w_mode_seeking > 0 and half > 0 else text
        src = torch.arange(len(text_fake), device=image.device) % (half if text_fake is not text else b)
        z = self.sample_noise(len(text_fake), image.device)
        fake = G(z, text_fake)  # (B', 3, 64, 64), graph kept for the G update
        aug = augment if c.augment else (lambda x: x)
        with torch.no_grad():
            fr = self.frozen_maps(aug(image))
        ff = self.frozen_maps(aug(fake))  # with graph: G's gradient goes back through the frozen net

        # ---- D update
        D.requires_grad_(True)
        t = D.text_features(text)
        h_real = D.image_maps(fr[13])
        img_part, txt_part = D.parts(h_real, t)
        e_real = img_part + txt_part[:, :, None, None]
        shift = int(torch.randint(1, b, ())) if b > 1 else 0  # wrong images: a cyclic shift of the batch
        e_wrong = img_part.roll(shift, dims=0) + txt_part[:, :, None, None]
        e_fake = D.joint(D.image_maps(ff[13].detach()), D.text_features(text_fake))
        d_real, d_wrong, d_fake = D.head(e_real), D.head(e_wrong), D.head(e_fake)
        u_real, u_fake = D.uncond(fr[11]).flatten(), D.uncond(ff[11].detach()).flatten()
        d_adv = F.relu(1 - d_real).mean() + 0.5 * (F.relu(1 + d_wrong).mean() + F.relu(1 + d_fake).mean())
        d_unc = F.relu(1 - u_real).mean() + F.relu(1 + u_fake).mean()
        d_con = info_nce(img_part.mean((2, 3)), txt_part, c.tau)
        d_loss = d_adv + c.w_uncond * d_unc + c.w_contrast_d * d_con
        optimizers["D"].zero_grad(set_to_none=True)
        d_loss.backward()
        optimizers["D"].step()

        # ---- G update: D fixed, same fakes (their frozen maps are reused; only D changed)
        D.requires_grad_(False)
        try:
            t_fake = D.text_features(text_fake)
            img_f, txt_f = D.parts(D.image_maps(ff[13]), t_fake)
            g_adv = -D.head(img_f + txt_f[:, :, None, None]).mean()
            g_unc = -D.uncond(ff[11]).flatten().mean()
            g_con = info_nce(img_f.mean((2, 3)), txt_f, c.tau, targets=None if text_fake is text else src)
            # image-image: a fake's pooled frozen features should pick out its own segment's real image
            g_ii = info_nce(ff[13].mean((2, 3)), fr[13].mean((2, 3)), c.tau, targets=src)
            g_loss = g_adv + c.w_uncond * g_unc + c.w_contrast_g * g_con + c.w_image_image * g_ii
            ms = torch.zeros(())
            if text_fake is not text:
                # mode seeking: 1 / (mean |x1 - x2| / mean |z1 - z2|), pairs = same transcript
                ratio = (fake[:half] - fake[half:]).abs().mean((1, 2, 3)) / (z[:half] - z[half:]).abs().mean(1)
                ms = 1.0 / (ratio.mean() + 1e-5)
                g_loss = g_loss + c.w_mode_seeking * ms
            optimizers["G"].zero_grad(set_to_none=True)
            g_loss.backward()
            optimizers["G"].step()
        finally:
            D.requires_grad_(True)
        self._update_ema()
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "d_contrast": d_con.item(),
                "g_contrast": g_con.item(), "g_image_image": g_ii.item(), "mode_seeking": float(ms.detach()),
                "d_real": torch.sigmoid(d_real.detach()).mean().item(), "d_wrong": torch.sigmoid(d_wrong.detach()).mean().item(),
                "d_fake": torch.sigmoid(d_fake.detach()).mean().item()}

    # ----------------------------------------------------------------------------------- inference
    def embed(self, image, text):
        """{"joint": D's 1x1-conv output} (B, 4096) flattened, or (B, 256) with embed_pool="mean"."""
        e = self.D.joint(self.D.image_maps(self.frozen_maps(image)[13]), self.D.text_features(self.norm_text(text)))
        return {"joint": e.flatten(1) if self.config.embed_pool == "flatten" else e.mean((2, 3))}

    def generate(self, text: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """(B, Dt) raw text vectors -> (B, 3, 64, 64) in [-1, 1], drawn by the EMA generator."""
        if z is None:
            z = self.sample_noise(text.shape[0], text.device)
        return self.G_ema(z, self.norm_text(text))

    def image_part(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, 64, 64) -> (B, k): the image half of the 1x1 conv, averaged over positions."""
        return self.D.image_half(self.D.image_maps(self.frozen_maps(image)[13])).mean((2, 3))

    def text_part(self, text: torch.Tensor) -> torch.Tensor:
        """(B, Dt) raw text vectors -> (B, k): the text half of the 1x1 conv."""
        return self.D.text_half(self.D.text_features(self.norm_text(text)))

    def word_scores(self, image: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        """Cosine (B, V) between images' image parts and single words' text parts: the aligned halves
        of D's 1x1 conv (trained by the InfoNCE term) rank the vocabulary for an image (top words)."""
        return F.normalize(self.image_part(image), dim=1) @ F.normalize(self.text_part(vectors), dim=1).T
