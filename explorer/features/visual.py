"""Visual features of keyframes: a small registry of extractors and a cached per-collection entry point.

``VISUAL_EXTRACTORS`` maps a name to an extractor class; each instance has ``name``, ``version`` (bumped
whenever its output changes, which makes cached features stale), ``dim``, ``input_size`` and
``extract(images) -> (N, dim) float32``, where ``images`` is a list of PIL images / (H, W, 3) uint8
arrays or one (N, H, W, 3) uint8 array. Every image is centre-cropped to a square and resized (bicubic)
to the extractor's ``input_size`` first (:func:`explorer.data.images.square_resize`).

- ``pixels``    the *raw pixels* visual baseline: the 64x64 RGB keyframe flattened in (H, W, C) order
                (12,288-d), mapped from 0..255 to [-1, 1] (``u / 127.5 - 1``). No model needed.
- ``mobilenet`` ImageNet MobileNet v1 1.0/224, uint8-quantised TFLite *embedding extractor* (classifier
                removed; 1,024-d, non-negative: global-average-pooled post-ReLU6 activations),
                dequantised with the scale / zero point read from the model. File
                ``mobilenet_v1_1.0_224_quant_embedding_extractor.tflite`` from ``$EXPLORER_MOBILENET``
                (the file or its folder), else ``<models root>/coral_mobilenet/``. Runtime:
                ``pip install 'explorer[mobilenet]'`` (ai-edge-litert; ``tflite_runtime`` also works).
- ``vgg19``     VGG-19 fc7 (4,096-d, after the ReLU of the second fully connected layer: the feature
                used in the paper), written in plain torch (no torchvision) with torchvision's module
                layout, so torchvision's ImageNet checkpoint ``vgg19-dcbb9e9d.pth`` loads with
                ``strict=True``. Weights only from a local file: ``$EXPLORER_VGG19_WEIGHTS``, else
                ``<torch hub dir>/checkpoints/vgg19-*.pth`` (``$TORCH_HOME/hub``, default
                ``~/.cache/torch/hub``). Nothing is ever downloaded. ImageNet preprocessing: 224x224,
                mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).

An extractor whose model or runtime is missing raises :class:`VisualModelUnavailable` naming what is
missing and how to provide it (``check_available()``; ``available_extractors()`` lists them all without
loading anything).

:func:`extract_collection_features` returns a collection's features, cached on disk under
``<cache>/visual/<name>/`` keyed by the collection's name and fingerprint, the extractor's name and
version and the weights file's name and size. The ``pixels`` baseline is not cached separately: it is
derived on the fly (well under a second) from the cached 64x64 keyframes, a float32 copy would be
four times their size. Feature-only collections (e.g. ``wikipedia``) have no keyframes: callers use
``collection.features["image"]`` for them. With ``ray=True`` the chunks of keyframes are Ray tasks
(``explorer.scale_ray``) running the same per-chunk code, so the cached array is the same, byte for
byte; workers build the extractor by its registry name, with the driver's weights file.
"""

from __future__ import annotations

import json
import os
import threading
from contextlib import closing
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from .. import scale_ray
from ..cache import cached_arrays
from ..data.images import ImageInputError, image_to_uint8, keyframes_uint8, load_rgb, square_resize
from ..paths import models_root


class VisualModelUnavailable(RuntimeError):
    """A visual extractor cannot run here: its model file or runtime is missing (the message says how to fix it)."""


# --------------------------------------------------------------------------------------------- inputs


def as_uint8_batch(images: Any, size: int) -> np.ndarray:
    """PIL images / (H, W, 3) uint8 arrays / one (N, H, W, 3) uint8 array -> (N, size, size, 3) uint8.

    Images not already ``size`` x ``size`` are centre-cropped to a square and resized (bicubic).
    """
    if isinstance(images, np.ndarray):
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ImageInputError(f"expected an (N, H, W, 3) RGB array, got shape {images.shape}")
        if images.dtype != np.uint8:
            raise ImageInputError(f"expected uint8 pixels (0..255), got dtype {images.dtype}")
        if images.shape[1:3] == (size, size):
            return np.ascontiguousarray(images)
        items: Sequence[Any] = list(images)
    elif isinstance(images, Image.Image):
        items = [images]
    else:
        items = list(images)
    out = np.empty((len(items), size, size, 3), dtype=np.uint8)
    for i, item in enumerate(items):
        if isinstance(item, Image.Image):
            out[i] = image_to_uint8(item, size)
        elif isinstance(item, np.ndarray):
            if item.ndim != 3 or item.shape[-1] != 3 or item.dtype != np.uint8:
                raise ImageInputError(
                    f"image {i}: expected an (H, W, 3) uint8 RGB array, got shape {item.shape} dtype {item.dtype}"
                )
            out[i] = item if item.shape[:2] == (size, size) else np.asarray(square_resize(Image.fromarray(item), size))
        else:
            raise ImageInputError(f"image {i}: expected a PIL image or a uint8 array, got {type(item).__name__}")
    return out


def _file_identity(path: Path) -> dict:
    return {"file": path.name, "bytes": path.stat().st_size}


# --------------------------------------------------------------------------------------------- base


class VisualExtractor:
    """Base class: subclasses set ``name``, ``version``, ``dim``, ``input_size`` and implement ``_extract``."""

    name: str = ""
    version: int = 1
    dim: int = 0
    input_size: int = 224
    cacheable: bool = True  # extract_collection_features caches the output on disk

    def __init__(self, device: str = "cpu") -> None:
        self.device = device

    def check_available(self) -> None:
        """Raise :class:`VisualModelUnavailable` when the model file or runtime is missing."""

    def weights_identity(self) -> dict | None:
        """Name and size of the weights file (part of the cache key), or None for model-free extractors."""
        return None

    def extract(self, images: Any) -> np.ndarray:
        """``images`` (list of PIL / uint8 arrays, or (N, H, W, 3) uint8) -> (N, dim) float32."""
        x = as_uint8_batch(images, self.input_size)
        if len(x) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.asarray(self._extract(x), dtype=np.float32)
        assert out.shape == (len(x), self.dim), (out.shape, self.dim)
        return out

    def _extract(self, x: np.ndarray) -> np.ndarray:  # (N, S, S, 3) uint8 -> (N, dim)
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} version={self.version} dim={self.dim}>"


# --------------------------------------------------------------------------------------------- pixels


class PixelExtractor(VisualExtractor):
    """The raw-pixels visual baseline: 64x64x3 keyframe, flattened (H, W, C), in [-1, 1]."""

    name = "pixels"
    version = 1
    dim = 64 * 64 * 3
    input_size = 64
    cacheable = False  # derived from the cached uint8 keyframes in well under a second

    def _extract(self, x: np.ndarray) -> np.ndarray:
        flat = x.reshape(len(x), -1).astype(np.float32)
        flat /= np.float32(127.5)
        flat -= np.float32(1.0)
        return flat


# --------------------------------------------------------------------------------------------- mobilenet

MOBILENET_FILE = "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"
MOBILENET_DIR = "coral_mobilenet"


def _tflite_interpreter_class():
    """``Interpreter`` from ai-edge-litert, else from tflite_runtime; None when neither is installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter  # type: ignore[import-not-found]

        return Interpreter
    except ImportError:
        return None


def mobilenet_path() -> Path:
    """Where the MobileNet embedding extractor is looked for (whether or not it exists)."""
    env = os.environ.get("EXPLORER_MOBILENET")
    if env:
        p = Path(env).expanduser()
        return p / MOBILENET_FILE if p.is_dir() else p
    root = models_root()
    return (root if root is not None else Path("../shared/models")) / MOBILENET_DIR / MOBILENET_FILE


class MobileNetExtractor(VisualExtractor):
    """ImageNet MobileNet v1 (quantised TFLite) 1,024-d embedding, dequantised from the model's own scale.

    Full batches go through a second interpreter whose input is resized to ``batch_size``; the
    remainder (e.g. one query image) goes through a batch-1 interpreter, so nothing is zero-padded.
    Measured on 2 idle CPU cores: ~11.5 ms/image whether batched (8, 16, 32) or one by one, with
    bit-identical outputs; batching just saves Python overhead. If the runtime refuses to resize the
    input, every image goes through the batch-1 interpreter. ``device`` is accepted and ignored (TFLite
    runs on the CPU).
    """

    name = "mobilenet"
    version = 1
    dim = 1024
    input_size = 224

    def __init__(self, device: str = "cpu", num_threads: int = 2, batch_size: int = 16, path: str | Path | None = None):
        self.device = device  # TFLite runs on the CPU whatever is asked: the argument is accepted and ignored
        self.num_threads = num_threads
        self.batch_size = max(1, int(batch_size))
        self._path = Path(path) if path is not None else None
        self._interpreter = None
        self._batched = None
        self._lock = threading.Lock()  # a TFLite interpreter must not be invoked from two threads at once
        self.scale: float | None = None
        self.zero_point: int | None = None

    @property
    def path(self) -> Path:
        return self._path if self._path is not None else mobilenet_path()

    def check_available(self) -> None:
        if _tflite_interpreter_class() is None:
            raise VisualModelUnavailable(
                "the 'mobilenet' visual extractor needs a TFLite runtime: neither ai_edge_litert nor "
                "tflite_runtime is importable; install it with: pip install 'explorer[mobilenet]' "
                "(or: pip install ai-edge-litert)"
            )
        path = self.path
        if not path.is_file():
            where = (
                f"EXPLORER_MOBILENET={os.environ['EXPLORER_MOBILENET']!r}"
                if os.environ.get("EXPLORER_MOBILENET")
                else f"the models root ({models_root() or 'none found: set EXPLORER_MODELS'})"
            )
            raise VisualModelUnavailable(
                f"MobileNet model file not found: {path} (looked in {where}). Put {MOBILENET_FILE} "
                f"(google-coral/test_data) in <models root>/{MOBILENET_DIR}/, or set EXPLORER_MOBILENET "
                "to the file or its folder, or EXPLORER_MODELS to the models root."
            )

    def weights_identity(self) -> dict:
        self.check_available()
        return _file_identity(self.path)

    def _new_interpreter(self):
        Interpreter = _tflite_interpreter_class()
        try:
            return Interpreter(model_path=str(self.path), num_threads=self.num_threads)
        except (ValueError, RuntimeError) as e:
            raise VisualModelUnavailable(f"{self.path} is not a loadable TFLite model: {e}") from e

    def _load(self):
        """Load once: a batch-1 interpreter, plus a ``batch_size`` one when the input can be resized."""
        if self._interpreter is not None:
            return self._interpreter
        self.check_available()
        single = self._new_interpreter()
        inp, out = single.get_input_details()[0], single.get_output_details()[0]
        if tuple(inp["shape"][1:]) != (224, 224, 3) or inp["dtype"] != np.uint8:
            raise VisualModelUnavailable(
                f"{self.path}: expected a uint8 [1,224,224,3] input, got {inp['dtype'].__name__} {list(inp['shape'])}"
            )
        if int(np.prod(out["shape"][1:])) != self.dim:
            raise VisualModelUnavailable(
                f"{self.path}: expected a {self.dim}-d embedding output, got shape {list(out['shape'])} "
                f"(is this {MOBILENET_FILE}?)"
            )
        single.allocate_tensors()
        batched = None
        if self.batch_size > 1:
            try:
                batched = self._new_interpreter()
                batched.resize_tensor_input(inp["index"], [self.batch_size, 224, 224, 3])
                batched.allocate_tensors()
            except (ValueError, RuntimeError):
                batched = None  # this runtime/model cannot batch: run one image at a time
        scale, zero_point = out["quantization"]  # dequantisation parameters read from the model
        self.scale, self.zero_point = float(scale), int(zero_point)
        self._in_index, self._out_index, self._out_dtype = inp["index"], out["index"], out["dtype"]
        self._batched = batched
        self._interpreter = single
        return single

    def _run(self, it, chunk: np.ndarray) -> np.ndarray:
        it.set_tensor(self._in_index, np.ascontiguousarray(chunk))
        it.invoke()
        return it.get_tensor(self._out_index).reshape(len(chunk), -1)

    def _extract(self, x: np.ndarray) -> np.ndarray:
        with self._lock:
            single = self._load()
            raw = np.empty((len(x), self.dim), dtype=self._out_dtype)
            done = 0
            if self._batched is not None:  # full batches, then the remainder one by one (no padding)
                b = self.batch_size
                for done in range(0, len(x) - b + 1, b):
                    raw[done : done + b] = self._run(self._batched, x[done : done + b])
                done = (len(x) // b) * b
            for i in range(done, len(x)):
                raw[i] = self._run(single, x[i : i + 1])[0]
        if self.scale:  # quantised output: real = scale * (q - zero_point)
            return (raw.astype(np.float32) - np.float32(self.zero_point)) * np.float32(self.scale)
        return raw.astype(np.float32)


# --------------------------------------------------------------------------------------------- vgg19

VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's ImageNet VGG-19 (IMAGENET1K_V1)
VGG19_CFG: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                              512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]  # fmt: skip
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_vgg19():
    """VGG-19 in plain torch with torchvision's module names (``features.N``, ``avgpool``, ``classifier.N``).

    ``model.fc7(x)`` returns the 4,096-d output of ``classifier.4`` (the ReLU after the second linear
    layer). ``classifier.6`` (the 1,000-way ImageNet layer) is kept so that torchvision state dicts load
    with ``strict=True``; it is not used for features.
    """
    import torch
    from torch import nn

    class VGG19(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            c_in = 3
            for v in VGG19_CFG:
                if v == "M":
                    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                else:
                    layers += [nn.Conv2d(c_in, int(v), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                    c_in = int(v)
            self.features = nn.Sequential(*layers)
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(p=0.5),
                nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(p=0.5),
                nn.Linear(4096, 1000),
            )  # fmt: skip

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            x = torch.flatten(self.avgpool(self.features(x)), 1)
            return self.classifier(x)

        def fc7(self, x: "torch.Tensor") -> "torch.Tensor":
            x = torch.flatten(self.avgpool(self.features(x)), 1)
            return self.classifier[:5](x)  # Linear-ReLU-Dropout-Linear-ReLU (dropout inert in eval mode)

    return VGG19()


def vgg19_weights_candidates() -> list[Path]:
    """Where VGG-19 weights are looked for, in order (existing or not)."""
    env = os.environ.get("EXPLORER_VGG19_WEIGHTS")
    if env:
        return [Path(env).expanduser()]
    import torch.hub

    ckpt = Path(torch.hub.get_dir()) / "checkpoints"
    found = sorted(ckpt.glob("vgg19-*.pth")) if ckpt.is_dir() else []
    preferred = ckpt / VGG19_FILE
    return [preferred] + [p for p in found if p != preferred]


def vgg19_weights_path() -> Path:
    """The local VGG-19 weights file, or :class:`VisualModelUnavailable` naming where to put it."""
    candidates = vgg19_weights_candidates()
    for p in candidates:
        if p.is_file():
            return p
    env = os.environ.get("EXPLORER_VGG19_WEIGHTS")
    if env:
        raise VisualModelUnavailable(
            f"EXPLORER_VGG19_WEIGHTS={env!r} does not name a file; point it at torchvision's VGG-19 "
            f"ImageNet weights ({VGG19_FILE}), or unset it to use the torch hub cache"
        )
    raise VisualModelUnavailable(
        f"VGG-19 weights not found: no {VGG19_FILE} (or other vgg19-*.pth) in the torch hub cache "
        f"{candidates[0].parent} (torch.hub.get_dir()/checkpoints; set TORCH_HOME to move it), and "
        f"EXPLORER_VGG19_WEIGHTS is not set. Nothing is downloaded: copy torchvision's {VGG19_FILE} "
        "(https://download.pytorch.org/models/vgg19-dcbb9e9d.pth) into one of those places, or set "
        "EXPLORER_VGG19_WEIGHTS=/path/to/vgg19-dcbb9e9d.pth"
    )


def _resolve_device(device: Any):
    import torch

    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise VisualModelUnavailable(
            f"device {str(device)!r} requested but torch sees no CUDA GPU (torch.cuda.is_available() is False); "
            "use device='cpu'"
        )
    return dev


class VGG19Extractor(VisualExtractor):
    """VGG-19 fc7 (post-ReLU, 4,096-d) from torchvision's ImageNet weights, loaded from a local file."""

    name = "vgg19"
    version = 1
    dim = 4096
    input_size = 224

    def __init__(self, device: str = "cpu", batch_size: int = 32, path: str | Path | None = None):
        self.device = device
        self.batch_size = max(1, int(batch_size))
        self._path = Path(path) if path is not None else None
        self._model = None
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self._path if self._path is not None else vgg19_weights_path()

    def check_available(self) -> None:
        if self._path is not None and not self._path.is_file():
            raise VisualModelUnavailable(f"VGG-19 weights file not found: {self._path} (expected {VGG19_FILE})")
        _ = self.path  # raises with the places it looked
        _resolve_device(self.device)

    def weights_identity(self) -> dict:
        self.check_available()
        return _file_identity(self.path)

    def _load(self):
        if self._model is not None:
            return self._model
        import torch

        self.check_available()
        path, dev = self.path, _resolve_device(self.device)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file is reported the same way
            raise VisualModelUnavailable(f"cannot read VGG-19 weights {path}: {type(e).__name__}: {e}") from e
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        with torch.device("meta"):  # no 548 MB random initialisation: the loaded tensors are assigned
            model = build_vgg19()
        try:
            model.load_state_dict(state, strict=True, assign=True)
        except (RuntimeError, TypeError, AttributeError) as e:
            raise VisualModelUnavailable(
                f"{path} is not a torchvision VGG-19 state dict ({VGG19_FILE} layout): {str(e)[:500]}"
            ) from e
        self._model = model.to(dev).eval()
        self._dev = dev
        return self._model

    def _extract(self, x: np.ndarray) -> np.ndarray:
        import torch

        with self._lock:
            model = self._load()
            dev = self._dev
            mean = torch.tensor(IMAGENET_MEAN, device=dev).view(1, 3, 1, 1)
            std = torch.tensor(IMAGENET_STD, device=dev).view(1, 3, 1, 1)
            out = np.empty((len(x), self.dim), dtype=np.float32)
            with torch.inference_mode():
                for start in range(0, len(x), self.batch_size):
                    chunk = torch.from_numpy(x[start : start + self.batch_size]).to(dev)
                    t = chunk.permute(0, 3, 1, 2).float().div_(255.0).sub_(mean).div_(std)
                    out[start : start + len(chunk)] = model.fc7(t).float().cpu().numpy()
        return out


# --------------------------------------------------------------------------------------------- registry

VISUAL_EXTRACTORS: dict[str, type[VisualExtractor]] = {
    "pixels": PixelExtractor,
    "mobilenet": MobileNetExtractor,
    "vgg19": VGG19Extractor,
}

_INSTANCES: dict[tuple, VisualExtractor] = {}
_INSTANCES_LOCK = threading.Lock()


def get_extractor(name: str, device: str = "cpu", **kwargs: Any) -> VisualExtractor:
    """An extractor instance (models load lazily on first ``extract``), reused across calls.

    Instances are reused per (name, device, kwargs, weights file), so a query-time ``extract`` on one
    uploaded image does not reload the model; a different weights file gives a fresh instance.
    """
    if name not in VISUAL_EXTRACTORS:
        raise KeyError(f"unknown visual extractor {name!r}: choose one of {', '.join(VISUAL_EXTRACTORS)}")
    cls = VISUAL_EXTRACTORS[name]
    probe = cls(device=device, **kwargs)
    try:
        ident = probe.weights_identity()
        where = str(getattr(probe, "path", ""))
    except VisualModelUnavailable:
        return probe  # raises its clear error on use
    if ident is None:
        return probe  # model-free: nothing worth reusing
    key = (name, cls, str(device), tuple(sorted(kwargs.items())), where, json.dumps(ident, sort_keys=True))
    with _INSTANCES_LOCK:
        if key not in _INSTANCES:
            _INSTANCES[key] = cls(device=device, **kwargs)
        return _INSTANCES[key]


def clear_extractor_cache() -> None:
    """Forget the reused extractor instances (frees loaded models, e.g. VGG-19's 548 MB)."""
    with _INSTANCES_LOCK:
        _INSTANCES.clear()


def available_extractors(device: str = "cpu") -> dict[str, str | None]:
    """``{name: None}`` when usable here, else ``{name: reason}``; loads no model."""
    out: dict[str, str | None] = {}
    for name, cls in VISUAL_EXTRACTORS.items():
        try:
            cls(device=device).check_available()
            out[name] = None
        except VisualModelUnavailable as e:
            out[name] = str(e)
    return out


# --------------------------------------------------------------------------------------------- collections


def feature_cache_key(collection, extractor: VisualExtractor) -> dict:
    """The cache key of a collection's features (weights file name + size for model-based extractors)."""
    key = {
        "collection": collection.name,
        "fingerprint": collection.fingerprint(),
        "extractor": extractor.name,
        "version": extractor.version,
    }
    ident = extractor.weights_identity()
    if ident is not None:
        key["weights"] = ident
    return key


def _require_keyframes(collection, name: str) -> None:
    if collection.features:
        have = ", ".join(f"{k} ({v.shape[1]}-d)" for k, v in collection.features.items())
        raise ImageInputError(
            f"collection {collection.name!r} is feature-only (layout {collection.layout!r}; precomputed: {have}): "
            f"it has no keyframes to run the {name!r} extractor on; use collection.features['image'] instead"
        )
    if not collection.has_images:
        missing = [s.id for s in collection.segments if s.image_path is None]
        raise ImageInputError(
            f"collection {collection.name!r}: {len(missing)} segment(s) have no keyframe image "
            f"(e.g. {missing[:3]}); visual features need one per segment"
        )


def _chunk_features(extractor: VisualExtractor, keyframes: list[tuple[str, Path]]) -> np.ndarray:
    """Features of one chunk of keyframes, ``(segment id, image path)`` pairs: each decoded, centre-cropped
    and resized (bicubic) straight to the extractor's input size."""
    size = extractor.input_size
    batch = np.empty((len(keyframes), size, size, 3), dtype=np.uint8)
    for j, (sid, path) in enumerate(keyframes):
        batch[j] = image_to_uint8(load_rgb(path, what=f"keyframe of segment {sid!r} ({path})"), size)
    return extractor.extract(batch)


def _chunk_features_task(args: tuple) -> np.ndarray:
    """``_chunk_features`` in a Ray worker: ``(extractor name, device, weights path or None, keyframes)``."""
    name, device, path, keyframes = args
    return _chunk_features(get_extractor(name, device=device, **({"path": path} if path else {})), keyframes)


def extract_collection_features(
    collection,
    extractor_name: str,
    device: str = "cpu",
    progress: bool = True,
    refresh: bool = False,
    chunk: int = 64,
    ray: bool = False,
    ray_address: str | None = None,
) -> np.ndarray:
    """(N, dim) float32 visual features of every segment's keyframe, cached on disk.

    Keyframes are decoded from the original files (``load_rgb``), centre-cropped and resized (bicubic)
    straight to the extractor's input size, ``chunk`` at a time so memory stays small. A tqdm bar
    appears when extraction takes more than ~3 s (``progress=False`` hides it); ``refresh=True``
    recomputes even when cached. Raises :class:`VisualModelUnavailable` when the model is missing and
    :class:`~explorer.data.images.ImageInputError` for feature-only collections (use
    ``collection.features["image"]`` for those).

    ``ray``: when features must be computed, the chunks run as Ray tasks of one CPU (a task whose
    worker dies is rerun once) on a local Ray of all CPUs, the Ray already initialised, or the
    cluster at ``ray_address`` (implies ``ray``; keyframes and weights must be at the same paths on
    every node). The extractor must be one of ``VISUAL_EXTRACTORS``. The ``pixels`` baseline is never
    cached and needs no Ray: the argument is ignored for it.
    """
    _require_keyframes(collection, extractor_name)
    extractor = get_extractor(extractor_name, device=device)
    extractor.check_available()

    if not extractor.cacheable:  # pixels: a cheap transform of the cached uint8 keyframes
        frames = keyframes_uint8(collection, size=extractor.input_size, progress=progress)
        return extractor.extract(frames)
    ray = ray or bool(ray_address)
    if ray:
        scale_ray.import_ray("ray=True")

    def compute() -> dict[str, np.ndarray]:
        from tqdm.auto import tqdm

        from ..progress import report as progress_report

        n = len(collection)
        out = np.empty((n, extractor.dim), dtype=np.float32)
        starts = range(0, n, chunk)
        chunks = [[(s.id, s.image_path) for s in collection.segments[start : start + chunk]] for start in starts]
        with tqdm(total=n, desc=f"{extractor.name} features ({collection.name})", unit="img",
                  disable=not progress, delay=3.0) as bar:  # fmt: skip
            if ray:
                path = getattr(extractor, "path", None)  # workers load the driver's weights file
                task_args = [(extractor.name, device, str(path) if path else None, c) for c in chunks]
                with scale_ray.session(os.cpu_count() or 1, ray_address, what="ray=True"), \
                        closing(scale_ray.run_tasks(_chunk_features_task, task_args, retries=1)) as tasks:
                    done = 0
                    for i, feats, err in tasks:
                        if isinstance(err, scale_ray.WorkerDied):
                            raise RuntimeError(f"{extractor.name} features of collection {collection.name!r}: a Ray "
                                               f"worker died twice on keyframes {starts[i]}..: {err}") from err
                        if err is not None:
                            raise err  # what the task raised, as without Ray (e.g. an unreadable keyframe)
                        out[starts[i] : starts[i] + len(feats)] = feats
                        done += len(feats)
                        bar.update(len(feats))
                        progress_report(f"{extractor.name} features of the keyframes", done, n)
            else:
                for start, keyframes in zip(starts, chunks):
                    out[start : start + len(keyframes)] = _chunk_features(extractor, keyframes)
                    bar.update(len(keyframes))
                    progress_report(f"{extractor.name} features of the keyframes", start + len(keyframes), n)
        if not np.isfinite(out).all():
            raise RuntimeError(f"{extractor.name} produced non-finite features for collection {collection.name!r}")
        return {"features": out}

    arrays = cached_arrays(f"visual/{extractor.name}", feature_cache_key(collection, extractor), compute, refresh=refresh)
    feats = arrays.get("features")
    if feats is None or feats.shape != (len(collection), extractor.dim):  # malformed entry: recompute
        arrays = cached_arrays(f"visual/{extractor.name}", feature_cache_key(collection, extractor), compute, refresh=True)
        feats = arrays["features"]
    return np.asarray(feats, dtype=np.float32)
