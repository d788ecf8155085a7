"""Visual extractors (pixels, mobilenet, vgg19) and the cached per-collection features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.cache import entry_path
from explorer.data.collection import Collection, Segment, load_folder
from explorer.data.images import ImageInputError, image_to_uint8, keyframes_uint8
from explorer.features import visual as V
from explorer.features.visual import (
    VISUAL_EXTRACTORS,
    VisualModelUnavailable,
    extract_collection_features,
    get_extractor,
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    V.clear_extractor_cache()
    yield
    V.clear_extractor_cache()


def _random_images(n: int, size: int = 64, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)]


def _make_folder_collection(root: Path, n: int = 5, size: int = 64) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(_random_images(n, size, seed=1)):
        img.save(root / f"seg{i:02d}.png")
        (root / f"seg{i:02d}.txt").write_text(f"a caption number {i}\n")
    return root


# --------------------------------------------------------------------------------------------- pixels


def test_pixels_exact_values_and_range():
    arr = (np.arange(64 * 64 * 3) % 256).astype(np.uint8).reshape(64, 64, 3)
    ext = VISUAL_EXTRACTORS["pixels"]()
    assert (ext.name, ext.dim) == ("pixels", 12288)
    feats = ext.extract([Image.fromarray(arr)])
    assert feats.shape == (1, 12288) and feats.dtype == np.float32
    expected = arr.reshape(-1).astype(np.float64) / 127.5 - 1.0  # (H, W, C) order
    np.testing.assert_allclose(feats[0], expected, rtol=0, atol=1e-6)
    assert feats[0, 0] == -1.0 and feats[0, 255] == 1.0  # 0 -> -1, 255 -> +1
    assert feats.min() >= -1.0 and feats.max() <= 1.0
    # an (N, H, W, 3) uint8 array gives the same as the PIL list
    np.testing.assert_array_equal(ext.extract(arr[None]), feats)


def test_pixels_resizes_other_sizes_and_rejects_bad_input():
    big = _random_images(1, size=96)[0].crop((0, 0, 96, 80))  # non-square: centre crop then resize
    ext = V.PixelExtractor()
    got = ext.extract([big])
    want = image_to_uint8(big, 64).reshape(-1).astype(np.float32) / np.float32(127.5) - 1
    np.testing.assert_allclose(got[0], want, atol=1e-6)
    assert ext.extract([]).shape == (0, 12288)
    with pytest.raises(ImageInputError, match="uint8"):
        ext.extract(np.zeros((1, 64, 64, 3), dtype=np.float32))
    with pytest.raises(ImageInputError, match="PIL image"):
        ext.extract(["not an image"])


def test_pixels_collection_matches_keyframes(tmp_path):
    col = load_folder(_make_folder_collection(tmp_path / "col"))
    feats = extract_collection_features(col, "pixels", progress=False)
    frames = keyframes_uint8(col)
    assert feats.shape == (len(col), 12288)
    np.testing.assert_allclose(feats, frames.reshape(len(col), -1) / 127.5 - 1, atol=1e-6)


def test_feature_only_collection_points_to_builtin_features(tmp_path):
    segs = [Segment(id=f"s{i}", text="t", image_path=None, split="train") for i in range(3)]
    col = Collection(name="wiki", root=tmp_path, layout="wikipedia", segments=segs,
                     features={"image": np.zeros((3, 128), np.float32), "text": np.zeros((3, 10), np.float32)})
    with pytest.raises(ImageInputError, match=r"features\['image'\]"):
        extract_collection_features(col, "mobilenet", progress=False)


def test_unknown_extractor_name():
    with pytest.raises(KeyError, match="pixels"):
        get_extractor("resnet")


# --------------------------------------------------------------------------------------------- vgg19

TORCHVISION_VGG19_KEYS = [
    f"features.{i}.{p}" for i in (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34) for p in ("weight", "bias")
] + [f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")]


@pytest.fixture(scope="module")
def vgg19_file(tmp_path_factory) -> Path:
    """A randomly initialised VGG-19 state dict in torchvision's key layout (548 MB, written once)."""
    import torch

    with torch.device("meta"):
        shapes = {k: v.shape for k, v in V.build_vgg19().state_dict().items()}
    g = torch.Generator().manual_seed(0)
    state = {}
    for k, shape in shapes.items():
        if k.endswith("weight"):  # He-scaled so activations neither vanish nor explode through 16 convs
            fan_in = int(np.prod(shape[1:]))
            state[k] = torch.randn(shape, generator=g) * (2.0 / fan_in) ** 0.5
        else:
            state[k] = torch.randn(shape, generator=g) * 0.01
    path = tmp_path_factory.mktemp("vgg") / V.VGG19_FILE
    torch.save(state, path)
    return path


def test_vgg19_module_names_match_torchvision():
    import torch

    with torch.device("meta"):
        model = V.build_vgg19()
    assert list(model.state_dict()) == TORCHVISION_VGG19_KEYS
    assert model.state_dict()["classifier.0.weight"].shape == (4096, 25088)
    assert model.state_dict()["classifier.6.weight"].shape == (1000, 4096)


def test_vgg19_env_weights_load_strict_and_fc7(vgg19_file, monkeypatch):
    import torch

    monkeypatch.setenv("EXPLORER_VGG19_WEIGHTS", str(vgg19_file))
    ext = get_extractor("vgg19")
    assert ext.path == vgg19_file and ext.weights_identity() == {"file": V.VGG19_FILE, "bytes": vgg19_file.stat().st_size}
    imgs = _random_images(2, size=48, seed=3)
    feats = ext.extract(imgs)
    assert feats.shape == (2, 4096) and feats.dtype == np.float32
    assert np.isfinite(feats).all() and feats.min() >= 0.0 and (feats > 0).any()  # post-ReLU fc7
    np.testing.assert_array_equal(ext.extract(imgs), feats)  # deterministic
    np.testing.assert_allclose(ext.extract(imgs[:1]), feats[:1], rtol=1e-4, atol=1e-4)  # batch-independent
    state = torch.load(vgg19_file, map_location="cpu", weights_only=True)
    model = ext._load()
    assert torch.equal(model.features[34].weight, state["features.34.weight"])  # the file's weights, loaded
    assert get_extractor("vgg19") is ext  # reused, not reloaded


def test_vgg19_found_in_torch_hub_cache(vgg19_file, tmp_path, monkeypatch):
    monkeypatch.delenv("EXPLORER_VGG19_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    ckpt = tmp_path / "torch" / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    (ckpt / "vgg19-0123abcd.pth").symlink_to(vgg19_file)  # any vgg19-*.pth is accepted ...
    assert V.vgg19_weights_path() == ckpt / "vgg19-0123abcd.pth"
    (ckpt / V.VGG19_FILE).symlink_to(vgg19_file)  # ... but torchvision's own file name comes first
    assert V.vgg19_weights_path() == ckpt / V.VGG19_FILE
    V.VGG19Extractor().check_available()


def test_vgg19_missing_weights_message(tmp_path, monkeypatch):
    monkeypatch.delenv("EXPLORER_VGG19_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch"))
    with pytest.raises(VisualModelUnavailable) as e:
        V.VGG19Extractor().extract(_random_images(1))
    msg = str(e.value)
    assert V.VGG19_FILE in msg and "EXPLORER_VGG19_WEIGHTS" in msg and str(tmp_path / "empty_torch") in msg
    monkeypatch.setenv("EXPLORER_VGG19_WEIGHTS", str(tmp_path / "nope.pth"))
    with pytest.raises(VisualModelUnavailable, match="EXPLORER_VGG19_WEIGHTS.*nope.pth"):
        V.VGG19Extractor().check_available()
    assert "EXPLORER_VGG19_WEIGHTS" in V.available_extractors()["vgg19"]


def test_vgg19_wrong_state_dict(tmp_path, monkeypatch):
    import torch

    bad = tmp_path / V.VGG19_FILE
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, bad)
    monkeypatch.setenv("EXPLORER_VGG19_WEIGHTS", str(bad))
    with pytest.raises(VisualModelUnavailable, match="not a torchvision VGG-19 state dict"):
        V.VGG19Extractor()._load()


def test_vgg19_cuda_unavailable_is_clear(vgg19_file, monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    monkeypatch.setenv("EXPLORER_VGG19_WEIGHTS", str(vgg19_file))
    with pytest.raises(VisualModelUnavailable, match="cuda"):
        V.VGG19Extractor(device="cuda").check_available()


# --------------------------------------------------------------------------------------------- mobilenet


def test_mobilenet_missing_runtime_and_file(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_MOBILENET", str(tmp_path / "nowhere.tflite"))
    with pytest.raises(VisualModelUnavailable, match="nowhere.tflite"):
        V.MobileNetExtractor().check_available()
    monkeypatch.setattr(V, "_tflite_interpreter_class", lambda: None)
    with pytest.raises(VisualModelUnavailable, match=r"pip install 'explorer\[mobilenet\]'"):
        V.MobileNetExtractor().extract(_random_images(1))


class _FakeInterpreter:
    """Stands in for the TFLite interpreter: a [B,1,1,1024] uint8 output with scale 0.5, zero point 3."""

    instances: list = []

    def __init__(self, model_path: str, num_threads: int = 1):
        self.batch, self.num_threads = 1, num_threads
        type(self).instances.append(self)

    def get_input_details(self):
        return [{"index": 0, "shape": np.array([self.batch, 224, 224, 3]), "dtype": np.uint8}]

    def get_output_details(self):
        return [{"index": 9, "shape": np.array([self.batch, 1, 1, 1024]), "dtype": np.uint8, "quantization": (0.5, 3)}]

    def resize_tensor_input(self, index, shape):
        self.batch = shape[0]

    def allocate_tensors(self):
        pass

    def set_tensor(self, index, value):
        assert value.shape == (self.batch, 224, 224, 3) and value.dtype == np.uint8
        self.x = value

    def invoke(self):
        pass

    def get_tensor(self, index):  # q = mean pixel value of each image, in every dimension
        q = self.x.reshape(self.batch, -1).mean(axis=1).round().astype(np.uint8)
        return np.repeat(q[:, None], 1024, axis=1).reshape(self.batch, 1, 1, 1024)


def test_mobilenet_dequantises_with_the_models_scale(tmp_path, monkeypatch):
    model = tmp_path / "model.tflite"
    model.write_bytes(b"fake")
    monkeypatch.setenv("EXPLORER_MOBILENET", str(model))
    monkeypatch.setattr(V, "_tflite_interpreter_class", lambda: _FakeInterpreter)
    monkeypatch.setattr(_FakeInterpreter, "instances", [])
    x = np.stack([np.full((224, 224, 3), v, np.uint8) for v in (3, 10, 50, 200, 255)])
    feats = V.MobileNetExtractor(batch_size=2).extract(x)
    assert feats.shape == (5, 1024)
    np.testing.assert_allclose(feats[:, 0], (np.array([3, 10, 50, 200, 255]) - 3) * 0.5)
    assert [i.batch for i in _FakeInterpreter.instances] == [1, 2]  # batch-1 for the remainder, batch-2
    assert all(i.num_threads == 2 for i in _FakeInterpreter.instances)


def _real_mobilenet() -> Path:
    from explorer.paths import models_root

    root = models_root()
    path = root / V.MOBILENET_DIR / V.MOBILENET_FILE if root is not None else None
    if path is None or not path.is_file():
        pytest.skip(f"real MobileNet model not present (looked for <models root>/{V.MOBILENET_DIR}/{V.MOBILENET_FILE})")
    if V._tflite_interpreter_class() is None:
        pytest.skip("no TFLite runtime (pip install 'explorer[mobilenet]')")
    return path


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.integration
def test_mobilenet_real_model(monkeypatch):
    path = _real_mobilenet()
    monkeypatch.delenv("EXPLORER_MOBILENET", raising=False)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:224, 0:224]
    # smooth colour blobs (an 8x8 random image upsampled) vs a blue/yellow checkerboard
    smooth = np.asarray(Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize((224, 224), Image.BICUBIC))
    stripes = np.where(((xx // 7 + yy // 7) % 2)[..., None] == 0, [20, 60, 230], [240, 240, 40]).astype(np.uint8)
    noisy = np.clip(smooth + rng.normal(0, 4, smooth.shape), 0, 255).astype(np.uint8)
    ext = get_extractor("mobilenet", batch_size=2)
    assert ext.path == path
    feats = ext.extract([Image.fromarray(smooth), Image.fromarray(stripes), noisy])  # a batch of 2 + 1 single
    assert feats.shape == (3, 1024) and feats.dtype == np.float32 and feats.min() >= 0.0
    assert _cos(feats[0], feats[1]) < _cos(feats[0], feats[2])
    assert _cos(feats[0], feats[2]) > 0.6  # measured 0.80 (vs 0.34 for the checkerboard)

    # Dequantisation uses the model's own output scale / zero point: compare with a raw interpreter run.
    Interpreter = V._tflite_interpreter_class()
    it = Interpreter(model_path=str(path), num_threads=1)
    it.allocate_tensors()
    out = it.get_output_details()[0]
    it.set_tensor(it.get_input_details()[0]["index"], smooth[None])
    it.invoke()
    q = it.get_tensor(out["index"]).reshape(-1)
    scale, zero_point = out["quantization"]
    assert (ext.scale, ext.zero_point) == (pytest.approx(scale), zero_point)
    np.testing.assert_allclose(feats[0], (q.astype(np.float64) - zero_point) * scale, rtol=1e-6, atol=1e-6)
    # batched and one-by-one runs agree exactly
    np.testing.assert_array_equal(V.MobileNetExtractor(batch_size=1).extract([stripes]), feats[1:2])


# --------------------------------------------------------------------------------------------- cache


class CountingExtractor(V.VisualExtractor):
    name = "counting"
    version = 1
    dim = 4
    input_size = 16
    calls = 0

    def _extract(self, x):
        type(self).calls += 1
        return x.reshape(len(x), -1, 3).mean(axis=1)[:, [0, 1, 2, 0]].astype(np.float32)


def test_collection_features_cached_and_invalidated(tmp_path, monkeypatch):
    monkeypatch.setitem(VISUAL_EXTRACTORS, "counting", CountingExtractor)
    monkeypatch.setattr(CountingExtractor, "calls", 0)
    root = _make_folder_collection(tmp_path / "col", n=5)
    col = load_folder(root)

    first = extract_collection_features(col, "counting", progress=False, chunk=2)
    assert first.shape == (5, 4) and CountingExtractor.calls == 3  # 3 chunks of <= 2 images
    again = extract_collection_features(col, "counting", progress=False)
    np.testing.assert_array_equal(again, first)
    assert CountingExtractor.calls == 3  # cache hit

    extract_collection_features(col, "counting", progress=False, refresh=True)
    assert CountingExtractor.calls == 4

    monkeypatch.setattr(CountingExtractor, "version", 2)  # output changed: stale entry
    extract_collection_features(col, "counting", progress=False)
    assert CountingExtractor.calls == 5

    (root / "seg00.txt").write_text("a different transcript\n")  # fingerprint changes
    col2 = load_folder(root)
    assert col2.fingerprint() != col.fingerprint()
    extract_collection_features(col2, "counting", progress=False)
    assert CountingExtractor.calls == 6

    entry = entry_path("visual/counting", V.feature_cache_key(col2, CountingExtractor()))
    assert entry.is_file()
    entry.write_bytes(b"this is not an npz file")  # corrupt entry: recomputed, not an error
    again = extract_collection_features(col2, "counting", progress=False)
    assert CountingExtractor.calls == 7 and again.shape == (5, 4)
    extract_collection_features(col2, "counting", progress=False)
    assert CountingExtractor.calls == 7  # and rewritten


def test_cache_key_includes_weights_identity(vgg19_file, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_VGG19_WEIGHTS", str(vgg19_file))
    col = load_folder(_make_folder_collection(tmp_path / "col", n=2))
    key = V.feature_cache_key(col, get_extractor("vgg19"))
    assert key["weights"] == {"file": V.VGG19_FILE, "bytes": vgg19_file.stat().st_size}
    assert key["extractor"] == "vgg19" and key["fingerprint"] == col.fingerprint() and key["collection"] == "col"
