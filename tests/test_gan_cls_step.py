"""GanCls.train_step's shortcuts (bench/bench_gan_cls.py) compute the textbook GAN-CLS step exactly.

The reference below is the straightforward loop: three full D passes (real, wrong, fake), a G that
runs its nn.Sequential, per-tensor Adam. In float64 both must end in the same weights, BN running
statistics and counters, up to rounding.
"""

from __future__ import annotations


import pytest
import torch
import torch.nn.functional as F

from explorer.models import DataSpec
from explorer.models.gan_cls import GanCls, GanClsConfig, frozen_running_stats

SPEC = DataSpec("pixels64", 3 * 64 * 64, "word2vec", 100)


def reference_step(m: GanCls, batch, opts) -> dict:
    G, D, cfg = m.G, m.D, m.config

    def gen(z, t):
        return G.net(torch.cat([F.leaky_relu(G.text_fc(t), cfg.leak), z], 1)[:, :, None, None])

    image, text = batch["image"], m.norm_text(batch["text"])
    b = image.shape[0]
    shift = int(torch.randint(1, b, ()))
    fake = gen(m.sample_noise(b), text).detach()
    d_real, d_wrong = D(image, text), D(image.roll(shift, dims=0), text)
    with frozen_running_stats(D):
        d_fake = D(fake, text)
    d_loss = m._d_loss(d_real, d_wrong, d_fake)
    opts["D"].zero_grad()
    d_loss.backward()
    opts["D"].step()
    with frozen_running_stats(D):
        for _ in range(cfg.g_steps):
            g_loss = m._g_loss(D(gen(m.sample_noise(b), text), text))
            if cfg.gan_int > 0:
                mix = 0.5 * (text + text.roll(1, dims=0))
                g_loss = g_loss + cfg.gan_int * m._g_loss(D(gen(m.sample_noise(b), mix), mix))
            opts["G"].zero_grad()
            g_loss.backward()
            opts["G"].step()
    return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}


def _run(step, seed=0, **kw):
    torch.manual_seed(seed)
    m = GanCls(GanClsConfig(**kw), SPEC).double()
    if step == "reference":
        c = m.config
        opts = {k: torch.optim.Adam(getattr(m, k).parameters(), lr=c.lr, betas=(c.beta1, 0.999), foreach=False) for k in ("D", "G")}
    else:
        opts = m.configure_optimizers()
    g = torch.Generator().manual_seed(5)
    out = []
    for _ in range(2):
        batch = {"image": (torch.rand(6, 3, 64, 64, generator=g) * 2 - 1).double(), "text": torch.randn(6, 100, generator=g).double()}
        out.append(reference_step(m, batch, opts) if step == "reference" else m.train_step(batch, opts))
    return m, out


@pytest.mark.parametrize("kw", [{}, {"gan_int": 1.0, "g_steps": 2}, {"d_bn_first": True, "g_steps": 1}])
def test_train_step_equals_the_textbook_step(kw):
    ref, ref_out = _run("reference", **kw)
    ours, our_out = _run("ours", **kw)
    for a, b in zip(ref_out, our_out):
        assert a["d_loss"] == pytest.approx(b["d_loss"], rel=1e-9) and a["g_loss"] == pytest.approx(b["g_loss"], rel=1e-9)
    sa, sb = ref.state_dict(), ours.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:  # weights, BN running statistics (updated by real and wrong passes only), counters
        if sa[k].is_floating_point():
            torch.testing.assert_close(sb[k], sa[k], rtol=1e-8, atol=1e-10, msg=k)
        else:
            assert torch.equal(sa[k], sb[k]), k


def test_generator_first_layer_as_matrix_product():
    torch.manual_seed(0)
    m = GanCls(GanClsConfig(), SPEC).double()
    z, t = m.sample_noise(3).double(), torch.randn(3, 100, dtype=torch.float64)
    for mode in (m.train, m.eval):
        mode()
        h = torch.cat([F.leaky_relu(m.G.text_fc(t), 0.2), z], 1)[:, :, None, None]
        torch.testing.assert_close(m.G(z, t), m.G.net(h), rtol=1e-10, atol=1e-12)
