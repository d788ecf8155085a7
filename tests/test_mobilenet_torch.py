"""The differentiable torch MobileNet built from the shipped TFLite file, against the TFLite runtime."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.features import visual as V
from explorer.features.mobilenet_torch import MobileNetV1, _same_pad, load_mobilenet_torch


def test_same_padding_is_tf_style_extra_pixel_after():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    # stride 2 on an even side: total 1, all of it after (bottom / right)
    p = _same_pad(x, 2)
    assert p.shape[-2:] == (5, 5)
    assert torch.equal(p[0, 0, :4, :4], x[0, 0]) and p[0, 0, 4].abs().sum() == 0 and p[0, 0, :, 4].abs().sum() == 0
    # stride 1: one on each side
    q = _same_pad(x, 1)
    assert q.shape[-2:] == (6, 6) and torch.equal(q[0, 0, 1:5, 1:5], x[0, 0])


def test_shapes_of_the_pyramid_and_input_range():
    m = MobileNetV1().eval()
    x = torch.zeros(2, 3, 128, 128)
    f = m.features(x, (11, 13))
    assert f[11].shape == (2, 512, 8, 8) and f[13].shape == (2, 1024, 4, 4)
    assert m(x).shape == (2, 1024)
    # u / 127.5 - 1 (model range) -> (u - 128) / 128 (the network's input)
    u = torch.tensor([0.0, 128.0, 255.0])
    assert torch.allclose(MobileNetV1.from_model_range(u / 127.5 - 1), (u - 128) / 128, atol=1e-6)


def _real_mobilenet_or_skip():
    from explorer.paths import models_root

    root = models_root()
    path = root / V.MOBILENET_DIR / V.MOBILENET_FILE if root is not None else None
    if path is None or not path.is_file():
        pytest.skip("real MobileNet model not present")
    if V._tflite_interpreter_class() is None:
        pytest.skip("no TFLite runtime (pip install 'explorer[mobilenet]')")
    return path


@pytest.mark.integration
def test_torch_mobilenet_matches_the_tflite_runtime_on_flowers(shared_data):
    """Cosine to the runtime's (quantised) embedding on real val keyframes, and their retrieval P@10.

    Measured: cosine 0.998 mean / 0.994 min on 200 val images; P@10 over the 818 val images 0.3088
    (torch, 64 px bicubic-resized in torch) vs 0.3101 (runtime); here 160 images to keep it short.
    """
    _real_mobilenet_or_skip()
    from explorer.data.collection import load_collection
    from explorer.data.images import keyframes_uint8, to_model_range
    from explorer.metrics import hyperlinking_eval

    col = load_collection(shared_data / "flowers102_reed")
    val = [i for i, s in enumerate(col.segments) if s.split == "val"][:160]
    kf = V.as_uint8_batch(keyframes_uint8(col)[val], 224)  # the runtime's own resize (PIL bicubic)
    ref = V.MobileNetExtractor().extract(kf)
    model = load_mobilenet_torch()
    assert not any(p.requires_grad for p in model.parameters())
    with torch.no_grad():
        ours = torch.cat([model(to_model_range(kf[s : s + 40])) for s in range(0, len(kf), 40)]).numpy()
    cos = (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    assert cos.mean() > 0.995 and cos.min() > 0.98, (cos.mean(), cos.min())
    cats = [col.segments[i].category for i in val]
    p_ref, p_ours = hyperlinking_eval(ref, cats)["p@10"], hyperlinking_eval(ours, cats)["p@10"]
    assert abs(p_ours - p_ref) < 0.02, (p_ours, p_ref)
    # differentiable: a gradient reaches the input
    x = to_model_range(kf[:2]).requires_grad_(True)
    model(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_missing_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_MOBILENET", str(tmp_path / "nope.tflite"))
    with pytest.raises(V.VisualModelUnavailable, match="not found|runtime"):
        load_mobilenet_torch()
