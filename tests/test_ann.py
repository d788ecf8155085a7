"""``explorer.ann``: exact top-k against brute force, and the IVF index reaching its recall target on
clustered embeddings (the nprobe it chose, re-measured), saved and loaded unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.ann import build_index, exact_search, normalise, recall_at, RankIndex


def clustered(n: int, d: int = 32, clusters: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d))
    return (centres[rng.integers(0, clusters, n)] + 0.35 * rng.normal(size=(n, d))).astype(np.float32)


def test_exact_search_is_brute_force_with_ties_by_row():
    rng = np.random.default_rng(0)
    g = normalise(rng.normal(size=(300, 8)))
    g[7] = g[3]  # a tie: the lower row comes first
    q = g[[3, 10, 200]]
    ids, scores = exact_search(g, q, k=5, block=2)
    for row, query in zip(range(3), q):
        s = g @ query
        want = sorted(range(300), key=lambda j: (-s[j], j))[:5]
        assert list(ids[row]) == want
        np.testing.assert_allclose(scores[row], s[want], rtol=1e-6)
    assert list(ids[0][:2]) == [3, 7]


def test_small_collections_are_ranked_exactly():
    x = clustered(2000)
    index = build_index(x)
    assert index.kind == "exact"
    ids, _ = index.search(x[:5], k=10)
    want, _ = exact_search(normalise(x), normalise(x[:5]), 10)
    assert (ids == want).all()


def test_ivf_reaches_its_recall_target_and_round_trips(tmp_path):
    pytest.importorskip("faiss")
    x = clustered(30_000)
    index = build_index(x, exact_below=10_000, target_recall=0.95)
    info = index.info
    assert index.kind == "ivf" and info["nlist"] == round(np.sqrt(30_000)) and info["recall@10"] >= 0.95
    assert info["nprobe"] < info["nlist"]  # an approximation that visits a fraction of the lists
    rng = np.random.default_rng(5)  # other queries than the ones nprobe was chosen on
    queries = x[rng.choice(len(x), 300, replace=False)]
    ids, scores = index.search(queries, k=10)
    exact, _ = exact_search(normalise(x), normalise(queries), 10)
    assert recall_at(ids, exact) >= 0.93
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
    index.save(tmp_path / "idx.faiss")
    again = RankIndex.load(tmp_path / "idx.faiss")
    assert again.info["nprobe"] == info["nprobe"]
    assert (again.search(queries, k=10)[0] == ids).all()


def test_cached_index_is_built_once_per_key(tmp_path, monkeypatch):
    from explorer.ann import cached_index

    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path))
    x = clustered(3_000)
    calls = []

    def rows():
        calls.append(1)
        return x

    first = cached_index({"what": "a"}, rows, exact_below=1_000)
    again = cached_index({"what": "a"}, rows, exact_below=1_000)
    assert len(calls) == 1 and again.kind == first.kind == "ivf" and again.info == first.info
    q = x[:5]
    assert np.array_equal(first.search(q, 10)[0], again.search(q, 10)[0])
    other = cached_index({"what": "b"}, rows, exact_below=1_000_000)
    assert len(calls) == 2 and other.kind == "exact"


def test_export_runs_use_an_index_only_for_large_collections(monkeypatch):
    from explorer import ann
    from explorer.evaluate import joint_rank_index

    x = clustered(3_000)
    assert joint_rank_index("text-only", None, x) is None  # below EXACT_BELOW: exact ranking
    monkeypatch.setattr(ann, "EXACT_BELOW", 1_000)
    index = joint_rank_index("text-only", None, x)
    assert index.kind == "ivf" and index.info["recall@10"] >= 0.95
