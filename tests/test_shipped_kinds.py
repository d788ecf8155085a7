"""Every shipped ``checkpoints/KIND-COLLECTION.pt``: self-describing, small, releasable, and its stored
metrics are what evaluating it again gives (the model is rebuilt from the checkpoint alone)."""

from __future__ import annotations

import json

import pytest
import torch

from explorer.checkpoint import build_model
from explorer.evaluate import evaluate
from explorer.models import MODELS
from explorer.paths import checkpoints_dir

SHIPPED = sorted(checkpoints_dir().glob("*.pt"))
pytestmark = pytest.mark.skipif(not SHIPPED, reason="no checkpoints shipped")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_checkpoint_is_self_describing_small_and_named_by_kind(path):
    ckpt = torch.load(path, weights_only=True)
    assert path.stem == f"{ckpt['kind']}-{ckpt['collection']['name']}" and ckpt["kind"] in MODELS
    assert {"config", "data_spec", "versions", "metrics", "model_state", "train_seconds", "hardware"} <= set(ckpt)
    assert "optimizer_state" not in ckpt and "rng" not in (ckpt.get("progress") or {})
    assert path.stat().st_size < 25 * 1024 * 1024
    side = json.loads(path.with_suffix(".json").read_text())  # the listing sidecar matches the checkpoint
    assert side["kind"] == ckpt["kind"] and side["metrics"]["test_p@10"] == ckpt["metrics"]["test_p@10"]
    card = path.with_suffix(".md").read_text()
    assert path.name in card and f"{ckpt['metrics']['test_p@10']:.4f}" in card
    from explorer.features.visual import VisualModelUnavailable

    try:
        build_model(ckpt)  # strict load: the state matches the architecture the config describes
    except VisualModelUnavailable as e:  # gan_proj's frozen MobileNet is built from ../shared/models
        pytest.skip(f"the frozen feature network is not here: {e}")


@pytest.fixture(scope="module")
def flowers(shared_data):
    from explorer.data.collection import load_collection

    return load_collection("flowers102_reed")  # read once for every checkpoint


@pytest.mark.integration
@pytest.mark.parametrize("path", [p for p in SHIPPED if p.stem.endswith("-flowers102_reed")], ids=lambda p: p.stem)
def test_shipped_metrics_are_reproduced(path, flowers):
    metrics = torch.load(path, weights_only=True)["metrics"]
    res = evaluate(str(path), flowers, split="val", visual="mobilenet", progress=False)
    assert res["hyperlinking"]["p@10"] == pytest.approx(metrics["val_p@10"], abs=1e-6)
    assert res["hyperlinking"]["map"] == pytest.approx(metrics["val_map"], abs=1e-6)


@pytest.mark.integration
@pytest.mark.parametrize("path", [p for p in SHIPPED if p.stem.endswith("-wikipedia")], ids=lambda p: p.stem)
def test_shipped_wikipedia_metrics_are_reproduced(path, shared_data):
    from explorer.data.collection import load_collection

    metrics = torch.load(path, weights_only=True)["metrics"]
    res = evaluate(str(path), load_collection("wikipedia"), split="test", progress=False)
    assert res["hyperlinking"]["p@10"] == pytest.approx(metrics["test_p@10"], abs=1e-6)
    assert res["crossmodal"]["img2txt"] == pytest.approx(metrics["test_crossmodal"]["img2txt"], abs=1e-6)
