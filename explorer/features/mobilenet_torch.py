"""A differentiable float torch MobileNet v1, built at load time from the shipped quantised TFLite file.

Why: GAN discriminators that look through a frozen pretrained network (projected GANs, GALIP) need
gradients with respect to the input image, which the TFLite runtime cannot give. No weights are
committed: :func:`load_mobilenet_torch` reads them from the same ``.tflite`` file as the
``mobilenet`` extractor (``explorer.features.visual.mobilenet_path``), through the TFLite
interpreter (``get_tensor`` for weights, ``_get_ops_details`` for the op graph; the XNNPACK
``DELEGATE`` nodes duplicate the builtin ops and are skipped).

Conversion (each point measured against the TFLite runtime in ``tests/test_mobilenet_torch.py``):

- weights ``w = scale * (q - zero_point)`` (per tensor or per output channel), biases
  ``int32 * bias_scale`` (= input scale x weight scale);
- layouts: CONV_2D ``[O, kh, kw, I]`` -> ``[O, I, kh, kw]``; DEPTHWISE_CONV_2D ``[1, kh, kw, C]``
  -> ``[C, 1, kh, kw]`` with ``groups = C``;
- TF "SAME" padding: stride 1 pads 1 on each side; stride 2 on an even input pads **0 before and 1
  after** (symmetric padding shifts every map by half a pixel: cosine to the runtime falls to 0.87);
- input ``(u - 128) / 128`` for RGB ``u`` in 0..255, every activation fused ReLU6, the head a global
  average pool (the 1,024-d embedding; any input side works, 224 reproduces the runtime).

:class:`MobileNetV1` returns the pooled embedding, or the maps of chosen blocks (a feature pyramid).
Inputs are ``(B, 3, H, W)`` in the model range ``[-1, 1]`` (``u / 127.5 - 1``, as keyframes and
generator outputs are); :meth:`MobileNetV1.from_model_range` maps them to the network's input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# Block index -> (stride of the depthwise conv). Block 0 is the stem (a full 3x3 conv, stride 2);
# blocks 1..13 are depthwise 3x3 + pointwise 1x1 pairs, as in Howard et al. (2017), Table 1.
BLOCK_STRIDES = (2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)
BLOCK_CHANNELS = (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)


def _same_pad(x: torch.Tensor, stride: int, kernel: int = 3) -> torch.Tensor:
    """TF "SAME" padding for a square kernel: total max((ceil(n/s)-1)*s + k - n, 0), extra pixel after."""
    h, w = x.shape[-2:]

    def split(n: int) -> tuple[int, int]:
        out = -(-n // stride)
        total = max((out - 1) * stride + kernel - n, 0)
        return total // 2, total - total // 2

    (top, bottom), (left, right) = split(h), split(w)
    return F.pad(x, (left, right, top, bottom))


class MobileNetV1(nn.Module):
    """Float MobileNet v1 1.0 (ImageNet). ``forward(x)`` (B, 3, H, W) in [-1, 1] -> (B, 1024) pooled.

    ``features(x, blocks)`` returns ``{block: (B, C, H', W')}`` for the requested block indices
    (0..13; block 13's map is what the pooled embedding averages). The module is meant to be frozen:
    :func:`load_mobilenet_torch` returns it in eval mode with ``requires_grad`` off.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, 2, 0)
        dws, pws = [], []
        for i in range(1, 14):
            c_in, c_out = BLOCK_CHANNELS[i - 1], BLOCK_CHANNELS[i]
            dws.append(nn.Conv2d(c_in, c_in, 3, BLOCK_STRIDES[i], 0, groups=c_in))
            pws.append(nn.Conv2d(c_in, c_out, 1))
        self.depthwise = nn.ModuleList(dws)
        self.pointwise = nn.ModuleList(pws)

    @staticmethod
    def from_model_range(x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] (u / 127.5 - 1) -> the network's (u - 128) / 128."""
        return ((x + 1.0) * 127.5 - 128.0) / 128.0

    def features(self, x: torch.Tensor, blocks: tuple[int, ...] = (13,)) -> dict[int, torch.Tensor]:
        wanted, out = set(blocks), {}
        h = F.relu6(self.stem(_same_pad(self.from_model_range(x), 2)))
        if 0 in wanted:
            out[0] = h
        last = max(wanted)
        for i in range(1, last + 1):
            h = F.relu6(self.depthwise[i - 1](_same_pad(h, BLOCK_STRIDES[i])))
            h = F.relu6(self.pointwise[i - 1](h))
            if i in wanted:
                out[i] = h
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x, (13,))[13].mean(dim=(2, 3))


def _dequantize(interpreter, detail: dict) -> np.ndarray:
    q = interpreter.get_tensor(detail["index"])
    params = detail["quantization_parameters"]
    scales, zeros = np.asarray(params["scales"], np.float64), np.asarray(params["zero_points"], np.float64)
    if scales.size == 0:  # float tensor
        return q.astype(np.float32)
    if scales.size > 1:  # per-channel along quantized_dimension
        shape = [1] * q.ndim
        shape[params["quantized_dimension"]] = -1
        scales, zeros = scales.reshape(shape), zeros.reshape(shape)
    return ((q.astype(np.float64) - zeros) * scales).astype(np.float32)


def load_mobilenet_torch(path: str | Path | None = None) -> MobileNetV1:
    """Build :class:`MobileNetV1` from the TFLite embedding extractor (frozen, eval mode).

    ``path`` defaults to where the ``mobilenet`` extractor looks (``$EXPLORER_MOBILENET`` or the models
    root). Raises :class:`~explorer.features.visual.VisualModelUnavailable` when the file or the TFLite
    runtime is missing, and ``ValueError`` when the file is not a MobileNet v1 of the expected shape.
    """
    from .visual import MobileNetExtractor, _tflite_interpreter_class

    extractor = MobileNetExtractor(path=path)
    extractor.check_available()
    Interpreter = _tflite_interpreter_class()
    it = Interpreter(model_path=str(extractor.path))
    it.allocate_tensors()
    details = {d["index"]: d for d in it.get_tensor_details()}
    convs = [op for op in it._get_ops_details() if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    model = MobileNetV1()
    targets = [(model.stem, "CONV_2D")]
    for dw, pw in zip(model.depthwise, model.pointwise):
        targets += [(dw, "DEPTHWISE_CONV_2D"), (pw, "CONV_2D")]
    if len(convs) != len(targets):
        raise ValueError(f"{extractor.path}: expected {len(targets)} convolutions of MobileNet v1, found {len(convs)}")
    with torch.no_grad():
        for (layer, want), op in zip(targets, convs):
            if op["op_name"] != want:
                raise ValueError(f"{extractor.path}: op {op['index']} is {op['op_name']}, expected {want} (not MobileNet v1?)")
            w = _dequantize(it, details[op["inputs"][1]])
            b = _dequantize(it, details[op["inputs"][2]])
            # TFLite [O, kh, kw, I] -> torch [O, I, kh, kw]; depthwise [1, kh, kw, C] -> [C, 1, kh, kw]
            w = w.transpose(3, 0, 1, 2) if want == "DEPTHWISE_CONV_2D" else w.transpose(0, 3, 1, 2)
            if tuple(w.shape) != tuple(layer.weight.shape):
                raise ValueError(f"{extractor.path}: op {op['index']} weight {w.shape}, expected {tuple(layer.weight.shape)}")
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
            layer.bias.copy_(torch.from_numpy(b))
    model.eval().requires_grad_(False)
    return model.to(memory_format=torch.channels_last)
