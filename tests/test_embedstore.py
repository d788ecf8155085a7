"""``explorer.embedstore``: embeddings written batch by batch into memory-mapped files, published atomically,
reused read-only by a later process, and what the app's ``api.embeddings`` now returns."""

from __future__ import annotations

import numpy as np
import pytest

from explorer import embedstore


def _fake_embed(n: int, dims: dict, fail_at: int | None = None):
    """An ``embed(allocate)`` writing rows i -> i + column index, in batches of 7 (raising at row ``fail_at``)."""
    def embed(allocate):
        out = {name: allocate(name, n, d) for name, d in dims.items()}
        for start in range(0, n, 7):
            if fail_at is not None and start >= fail_at:
                raise RuntimeError("killed")
            for name, d in dims.items():
                rows = np.arange(start, min(start + 7, n))[:, None] + np.arange(d)[None, :]
                out[name][start:start + len(rows)] = rows
        return out
    return embed


def test_store_writes_memory_maps_once_and_reuses_them(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path))
    key = embedstore.store_key(("/x/model.pt", 1.0, 10), "digest-1")
    assert embedstore.load(key) is None
    got = embedstore.embeddings(key, _fake_embed(50, {"joint": 4, "image": 3}))
    assert set(got) == {"joint", "image"} and isinstance(got["joint"], np.memmap) and not got["joint"].flags.writeable
    assert got["joint"].shape == (50, 4) and got["joint"][49, 3] == 52
    again = embedstore.embeddings(key, lambda allocate: pytest.fail("recomputed"))  # a later process: from disk
    assert np.array_equal(again["image"], got["image"])
    other = embedstore.store_key(("/x/model.pt", 2.0, 10), "digest-1")  # the checkpoint changed: a new entry
    assert embedstore.load(other) is None


def test_a_killed_computation_leaves_nothing_a_reader_would_take(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path))
    key = embedstore.store_key(("/x/m.pt", 1.0, 1), "d", dtype="float16")
    with pytest.raises(RuntimeError, match="killed"):
        embedstore.compute(key, _fake_embed(30, {"joint": 2}, fail_at=14))
    assert embedstore.load(key) is None and not list((tmp_path / "embeddings").iterdir())
    half = embedstore.embeddings(key, _fake_embed(30, {"joint": 2}))
    assert half["joint"].dtype == np.float16 and half["joint"][29, 1] == 30
    with pytest.raises(ValueError, match="float32, float16"):
        embedstore.compute(embedstore.store_key(("/x/m.pt", 1.0, 1), "d", dtype="int8"), _fake_embed(3, {"joint": 1}))


def test_api_embeddings_come_from_the_store(tmp_path, monkeypatch):
    """The facade's embeddings are memory maps; a new process (memo cleared) reads them without the model."""
    from explorer import api
    from explorer.api import retrieval
    from explorer.train import train

    from .conftest import make_folder_collection

    root = make_folder_collection(tmp_path / "coll", per_category=4)
    run = train("cca", str(root), device="cpu", out=tmp_path / "run", visual="pixels", progress_bar=False)
    monkeypatch.setenv("EXPLORER_CHECKPOINTS", str(run))
    ref = str(run / "best.pt")
    retrieval._EMBEDDINGS.clear()
    assert not api.embeddings_ready(ref, str(root))
    emb = api.embeddings(ref, str(root))
    assert isinstance(emb["joint"], np.memmap) and emb["joint"].shape[0] == 16
    retrieval._EMBEDDINGS.clear()
    assert api.embeddings_ready(ref, str(root))  # on disk
    monkeypatch.setattr(api.checkpoints, "load_model", lambda *a, **k: pytest.fail("the model was run again"))
    assert np.array_equal(api.embeddings(ref, str(root))["joint"], emb["joint"])


def test_export_runs_embeddings_are_the_apps(tmp_path, monkeypatch):
    """``evaluate.joint_embeddings`` (``explorer export-run``) reads and writes the same store as the app."""
    from explorer import api, evaluate
    from explorer.api import retrieval
    from explorer.data.collection import load_collection
    from explorer.train import train

    from .conftest import make_folder_collection

    root = make_folder_collection(tmp_path / "coll", per_category=4)
    run = train("cca", str(root), device="cpu", out=tmp_path / "run", visual="pixels", progress_bar=False)
    monkeypatch.setenv("EXPLORER_CHECKPOINTS", str(run))
    ref = str(run / "best.pt")
    cli = evaluate.joint_embeddings(ref, load_collection(str(root)))
    retrieval._EMBEDDINGS.clear()
    monkeypatch.setattr(evaluate, "LoadedModel", lambda *a, **k: pytest.fail("the model was run again"))
    monkeypatch.setattr(api.checkpoints, "load_model", lambda *a, **k: pytest.fail("the model was run again"))
    assert np.array_equal(api.embeddings(ref, str(root))["joint"], cli)
    assert np.array_equal(evaluate.joint_embeddings(ref, load_collection(str(root))), cli)
