"""GAN-CLS: the paper's architecture, the embedding contract, training updates and the inversions."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from explorer.models import MODELS, DataSpec
from explorer.models.gan_cls import GanCls, GanClsConfig

SPEC = DataSpec("pixels64", 3 * 64 * 64, "word2vec", 100)


def make(seed=0, **kw) -> GanCls:
    torch.manual_seed(seed)
    return GanCls(GanClsConfig(**kw), SPEC)


def test_registry_and_paper_defaults():
    model_cls, config_cls = MODELS["gan_cls"]
    c = config_cls()
    assert model_cls is GanCls
    assert (c.text_hidden, c.noise_dim, tuple(c.g_channels), tuple(c.d_channels)) == (256, 10, (256, 128, 64, 32), (32, 64, 128, 256))
    assert (c.lr, c.beta1, c.batch_size, c.g_steps, c.loss) == (1e-4, 0.5, 64, 4, "bce")


def test_generator_and_discriminator_shapes():
    m = make()
    z, t = m.sample_noise(5), torch.randn(5, 100)
    assert z.min() >= -1 and z.max() <= 1
    img = m.G(z, t)
    assert img.shape == (5, 3, 64, 64) and img.abs().max() <= 1
    convs = [l for l in m.D.image_net if isinstance(l, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 256] and all(c.stride == (2, 2) for c in convs)
    assert m.D.joint_conv.kernel_size == (1, 1) and m.D(img, t).shape == (5,)


def test_embedding_is_the_1x1_conv_output_and_batch_independent_in_eval():
    m = make().eval()
    x, t = torch.rand(6, 3, 64, 64) * 2 - 1, torch.randn(6, 100)
    with torch.no_grad():
        e = m.embed(x, t)["joint"]
        h = m.D.image_net(x)
        tt = F.leaky_relu(m.D.text_fc(t), 0.2)[:, :, None, None].expand(-1, -1, 4, 4)
        expected = m.D.joint_conv(torch.cat([h, tt], 1)).flatten(1)
        alone = m.embed(x[:1], t[:1])["joint"]
    assert e.shape == (6, 256 * 4 * 4)
    torch.testing.assert_close(e, expected)
    torch.testing.assert_close(alone[0], e[0], rtol=1e-4, atol=1e-5)  # BN running stats: no batch effect


def test_train_step_updates_both_networks_and_restores_d_grad():
    m = make()
    opt = m.configure_optimizers()
    g0 = [p.clone() for p in m.G.parameters()]
    d0 = [p.clone() for p in m.D.parameters()]
    batch = {"image": torch.rand(8, 3, 64, 64) * 2 - 1, "text": torch.randn(8, 100), "label": torch.zeros(8, dtype=torch.long)}
    out = m.train_step(batch, opt)
    assert set(out) == {"d_loss", "g_loss", "d_real", "d_wrong", "d_fake"}
    assert all(0 <= out[k] <= 1 for k in ("d_real", "d_wrong", "d_fake"))
    assert any(not torch.equal(a, b) for a, b in zip(g0, m.G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, m.D.parameters()))
    assert all(p.requires_grad for p in m.D.parameters())
    # Adam takes one G step per G update: g_steps = 4 updates per D update.
    assert opt["G"].state[next(iter(m.G.parameters()))]["step"] == 4
    assert opt["D"].state[next(iter(m.D.parameters()))]["step"] == 1


def test_options_hinge_spectral_norm_gan_int_train():
    m = make(loss="hinge", spectral_norm=True, gan_int=1.0, g_steps=2)
    out = m.train_step({"image": torch.rand(4, 3, 64, 64) * 2 - 1, "text": torch.randn(4, 100)}, m.configure_optimizers())
    assert all(torch.isfinite(torch.tensor(v)) for v in out.values())


def test_inverted_generator_uses_transposed_kernels():
    # Each deconvolution's inverse is the convolution with the same kernel: its adjoint, <Ax, y> = <x, A^T y>.
    m = make()
    for layer in [l for l in m.G.net if isinstance(l, torch.nn.ConvTranspose2d)]:
        side = 1 if layer.stride == (1, 1) else 4
        x = torch.randn(2, layer.in_channels, side, side)
        ax = layer(x)
        y = torch.randn_like(ax)
        aty = F.conv2d(y, layer.weight, stride=layer.stride, padding=layer.padding)
        torch.testing.assert_close((ax * y).sum(), (x * aty).sum(), rtol=1e-4, atol=1e-3)
    out = m.eval().invert_transposed(torch.rand(3, 3, 64, 64) * 2 - 1)
    assert out.shape == (3, 100) and torch.isfinite(out).all()


def test_invert_text_fc_recovers_text_when_image_path_is_exact():
    # With the deconv stack bypassed, the text part of the vector inverts exactly: lrelu^-1 then lstsq.
    m = make().eval()
    t = torch.randn(4, 100)
    hidden = F.leaky_relu(m.G.text_fc(t), 0.2)
    pre = torch.where(hidden >= 0, hidden, hidden / 0.2)
    back = torch.linalg.lstsq(m.G.text_fc.weight, (pre - m.G.text_fc.bias).T).solution.T
    torch.testing.assert_close(back, t, rtol=1e-3, atol=1e-3)


def test_optimisation_inversion_reduces_reconstruction_error():
    m = make()
    with torch.no_grad():  # a freshly initialised G barely depends on t: make the text path matter
        m.G.text_fc.weight.mul_(20)
        for _ in range(5):  # settle BN running statistics on realistic activations
            m.G(m.sample_noise(64), torch.randn(64, 100))
    m.eval()
    target_t = torch.randn(2, 100)
    with torch.no_grad():
        image = m.G(m.sample_noise(2), target_t)

    def err(tt):
        with torch.no_grad():
            return sum(F.mse_loss(m.G(m.sample_noise(2), tt), image).item() for _ in range(8)) / 8

    t = m.invert_optimise(image, steps=80, lr=0.05, n_noise=2)
    assert err(t) < 0.5 * err(torch.zeros(2, 100))


def test_text_standardisation_is_fitted_on_train_and_saved():
    m = make(text_norm="standardize")
    text = torch.randn(50, 100) * 0.02 + 0.06  # like averaged word2vec: small spread around a common mean
    m.fit_input_stats({"text": text, "label": torch.zeros(50, dtype=torch.long)})
    z = m.norm_text(text)
    torch.testing.assert_close(z.mean(0), torch.zeros(100), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std(0), torch.ones(100), atol=1e-4, rtol=0)
    state = m.state_dict()
    assert "text_mean" in state and "text_std" in state
    fresh = make(seed=1, text_norm="standardize")
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.norm_text(text), z)
    assert torch.equal(make().norm_text(text), text)  # the paper's default: raw vectors
