"""The api package's one in-memory cache (``Memo``) and the pure failure analytics in ``explorer.evaluate``,
each against a brute-force reading of its contract."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from explorer.api._memo import Memo, memo
from explorer.evaluate import category_confusion_counts, per_category_means


def test_memo_computes_a_key_once_even_when_asked_concurrently():
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return object()

    store, results = Memo(4), []
    threads = [threading.Thread(target=lambda: results.append(store.get("k", slow))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(r) for r in results}) == 1 and "k" in store


def test_memo_evicts_the_least_recently_used_and_does_not_cache_failures():
    store = Memo(2)
    store.get("a", lambda: 1)
    store.get("b", lambda: 2)
    store.get("a", lambda: 99)  # a is now the most recent
    store.get("c", lambda: 3)
    assert "a" in store and "c" in store and "b" not in store and len(store) == 2

    def boom():
        raise ValueError("no")

    with pytest.raises(ValueError):
        store.get("d", boom)
    assert "d" not in store and store.get("d", lambda: 4) == 4


def test_memo_decorator_keys_by_arguments():
    seen = []

    @memo(8)
    def square(x):
        seen.append(x)
        return x * x

    assert [square(3), square(3), square(4)] == [9, 9, 16] and seen == [3, 4]


def test_per_category_means_matches_brute_force():
    rng = np.random.default_rng(0)
    cats = list(rng.choice(["a", "b", "c"], 40))
    ap, pk = rng.random(40), rng.random(40)
    ap[[1, 5]] = pk[[1, 5]] = np.nan  # anchors without a relevant target
    rows = per_category_means(cats, ap, pk)
    assert rows[-1]["category"] == "(all)" and rows[-1]["n"] == 38 and rows[-1]["n_undefined"] == 2
    assert rows[-1]["map"] == pytest.approx(np.nanmean(ap))
    for r in rows[:-1]:
        mine = [i for i, c in enumerate(cats) if c == r["category"] and not np.isnan(ap[i])]
        assert r["map"] == pytest.approx(np.mean(ap[mine])) and r["p@k"] == pytest.approx(np.mean(pk[mine]))
        assert r["n"] == len(mine)
    assert [r["p@k"] for r in rows[:-1]] == sorted(r["p@k"] for r in rows[:-1])  # worst first


def test_category_confusion_counts_matches_brute_force():
    rng = np.random.default_rng(1)
    cats = list(rng.choice(["x", "y", "z"], 30))
    anchors = np.arange(0, 30, 2)
    top = rng.integers(-1, 30, (len(anchors), 5))  # -1: padding
    out = category_confusion_counts(cats, anchors, top)
    names = out["categories"]
    brute = np.zeros((3, 3), int)
    for a, row in zip(anchors, top):
        for t in row:
            if t >= 0:
                brute[names.index(cats[a]), names.index(cats[t])] += 1
    assert (out["counts"] == brute).all()
    assert np.allclose(out["share"].sum(axis=1)[brute.sum(axis=1) > 0], 1.0)
