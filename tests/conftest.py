"""Shared fixtures: an isolated cache/runs folder per test, and small synthetic collections.

The synthetic image collection has 4 categories, each with its own dominant colour and its own
colour/shape words in the transcripts, so a model that learns anything beats random retrieval.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.paths import data_root

CATEGORIES = {
    "sunflower": ((230, 200, 20), "bright yellow petals with a dark brown centre"),
    "violet": ((120, 40, 170), "deep purple petals and a small white throat"),
    "rose": ((210, 30, 40), "red layered petals with green leaves around"),
    "lily": ((245, 245, 245), "large white petals and long orange stamens"),
}


def make_folder_collection(root: Path, per_category: int = 12, seed: int = 0, size: int = 64) -> Path:
    """Write a plain-folder collection: <id>.png + <id>.txt + segments.tsv (split, category)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = ["id\tsplit\tcategory"]
    fillers = ["this flower has", "the petals are", "a flower with", "we see", "look at the"]
    for ci, (cat, (rgb, words)) in enumerate(CATEGORIES.items()):
        for j in range(per_category):
            sid = f"{cat}_{j:03d}"
            img = np.clip(rng.normal(0, 25, (size, size, 3)) + np.array(rgb), 0, 255).astype(np.uint8)
            # a darker disc in the middle, so images are not flat colour
            yy, xx = np.mgrid[:size, :size]
            disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 6) ** 2
            img[disc] = (img[disc] * 0.4).astype(np.uint8)
            Image.fromarray(img).save(root / f"{sid}.png")
            lines = [f"{fillers[(j + k) % len(fillers)]} {words}" for k in range(3)]
            (root / f"{sid}.txt").write_text("\n".join(lines) + "\n")
            split = "train" if j < per_category * 2 // 3 else ("val" if j % 2 == 0 else "test")
            rows.append(f"{sid}\t{split}\t{cat}")
    (root / "segments.tsv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    # One cache for the whole session: entries are keyed by content fingerprints, so tests cannot
    # see each other's stale data, and the real collections' features are computed once per run.
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _isolated_dirs(session_cache, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE", str(session_cache))
    monkeypatch.setenv("EXPLORER_RUNS", str(tmp_path_factory.mktemp("runs")))


@pytest.fixture
def tiny_collection(tmp_path) -> Path:
    return make_folder_collection(tmp_path / "tiny")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = data_root(required=False)
    if root is None or not (root / "flowers102_reed").is_dir():
        pytest.skip("../shared/data is not available")
    return root
