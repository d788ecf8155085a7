"""Tests of explorer.metrics against slow, independent brute-force references.

The references below are plain Python loops: exact rational arithmetic (``fractions.Fraction``) for
cosine ordering and for AP, and a sort on ``(-cosine, gallery index)`` for the tie rule. Inputs are
small, seeded and deliberately nasty: integer-valued embeddings with duplicate rows, scaled copies and
zero rows (so cosine ties happen), categories with a single member (undefined queries), k larger
than the gallery.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from explorer import metrics as M

SEEDS = [0, 1, 2, 3, 4, 5, 6, 7]


# --------------------------------------------------------------------------------------------------
# brute-force references (independent of explorer.metrics)
# --------------------------------------------------------------------------------------------------


def bf_cos_key(q, g):
    """Exact key, monotone in cosine(q, g), for integer vectors: sign(dot) * dot^2 / (|q|^2 |g|^2)."""
    dot = sum(int(a) * int(b) for a, b in zip(q, g))
    nq = sum(int(a) * int(a) for a in q)
    ng = sum(int(b) * int(b) for b in g)
    if nq == 0 or ng == 0:
        return Fraction(0)
    return Fraction(dot * abs(dot), nq * ng)


def bf_cos_float(q, g):
    dot = sum(float(a) * float(b) for a, b in zip(q, g))
    nq = math.sqrt(sum(float(a) ** 2 for a in q))
    ng = math.sqrt(sum(float(b) ** 2 for b in g))
    if nq == 0 or ng == 0:
        return 0.0
    return dot / (nq * ng)


def bf_rank(q, gallery, excluded=(), exact=True):
    """Gallery indices best first: score descending, ties by index ascending, excluded removed."""
    key = bf_cos_key if exact else bf_cos_float
    items = [j for j in range(len(gallery)) if j not in set(excluded)]
    return sorted(items, key=lambda j: (-key(q, gallery[j]), j))


def bf_ap(rel, n_relevant=None):
    R = sum(1 for x in rel if x) if n_relevant is None else n_relevant
    if R == 0:
        return float("nan")
    hits, total = 0, Fraction(0)
    for r, x in enumerate(rel, start=1):
        if x:
            hits += 1
            total += Fraction(hits, r)
    return float(total / R)


def bf_pk(rel, k):
    return sum(1 for x in list(rel)[:k] if x) / k


def bf_ap11(rel, n_relevant=None):
    R = sum(1 for x in rel if x) if n_relevant is None else n_relevant
    if R == 0:
        return float("nan")
    total = Fraction(0)
    for t in range(11):
        best, hits = Fraction(0), 0
        for r, x in enumerate(rel, start=1):
            hits += 1 if x else 0
            if Fraction(hits, R) >= Fraction(t, 10):
                best = max(best, Fraction(hits, r))
        total += best
    return float(total / 11)


def bf_mean(values):
    vals = [v for v in values if not math.isnan(v)]
    return sum(vals) / len(vals) if vals else float("nan")


def bf_eval(queries, gallery, is_relevant, is_excluded, k, exact=True):
    """Per-query (ap list, p@k list, R list) by loops. is_relevant(i, j), is_excluded(i, j) -> bool."""
    aps, pks, rs = [], [], []
    for i, q in enumerate(queries):
        excl = [j for j in range(len(gallery)) if is_excluded(i, j)]
        ranking = bf_rank(q, gallery, excl, exact)
        rel = [bool(is_relevant(i, j)) for j in ranking]
        R = sum(rel)
        rs.append(R)
        aps.append(bf_ap(rel) if R else float("nan"))
        pks.append(bf_pk(rel, k) if R else float("nan"))
    return aps, pks, rs


def bf_eval_11pt(queries, gallery, is_relevant, is_excluded, exact=True):
    """Per-query 11-point interpolated AP by loops (NaN where no relevant item)."""
    out = []
    for i, q in enumerate(queries):
        excl = [j for j in range(len(gallery)) if is_excluded(i, j)]
        rel = [bool(is_relevant(i, j)) for j in bf_rank(q, gallery, excl, exact)]
        out.append(bf_ap11(rel))
    return out


def int_embeddings(rng, n, d=3, pool=5):
    """Integer rows from a small pool (duplicates), some scaled by 2 or 3, some zero: many cosine ties."""
    vecs = rng.integers(-1, 3, size=(pool, d))
    vecs[0] = 0
    rows = vecs[rng.integers(0, pool, size=n)] * rng.choice([1, 1, 2, 3], size=n)[:, None]
    rows[rng.random(n) < 0.1] = 0
    return rows.astype(np.float32)


def labels_with_singleton(rng, n, n_cats=3):
    """Random labels in c0..c{n_cats-1}, plus one segment of a category of its own ('solo')."""
    labs = [f"c{x}" for x in rng.integers(0, n_cats, size=n)]
    labs[int(rng.integers(0, n))] = "solo"
    return np.array(labs)


def assert_nan_equal(actual, expected, tol=1e-9):
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape
    assert np.array_equal(np.isnan(actual), np.isnan(expected)), (actual, expected)
    ok = ~np.isnan(expected)
    np.testing.assert_allclose(actual[ok], expected[ok], rtol=0, atol=tol)


# --------------------------------------------------------------------------------------------------
# l2_normalize
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_l2_normalize_matches_loops(seed):
    rng = np.random.default_rng(seed)
    x = int_embeddings(rng, 12, d=4)
    x[3] = 0
    out = M.l2_normalize(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    for i, row in enumerate(x):
        norm = math.sqrt(sum(float(v) ** 2 for v in row))
        for j, v in enumerate(row):
            expected = 0.0 if norm == 0 else float(v) / norm
            assert abs(float(out[i, j]) - expected) < 1e-6
    assert np.all(out[3] == 0) and not np.isnan(out).any()


def test_l2_normalize_rejects_bad_input():
    with pytest.raises(ValueError):
        M.l2_normalize(np.ones(3))
    with pytest.raises(ValueError):
        M.l2_normalize(np.array([[1.0, np.nan]]))


# --------------------------------------------------------------------------------------------------
# rank_gallery
# --------------------------------------------------------------------------------------------------


def test_rank_gallery_tie_rule_hand_case():
    q = np.array([[1.0, 0.0]])
    g = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 0.0], [-1.0, 0.0]])
    idx, sc = M.rank_gallery(q, g)
    # scores 1, 1, 0, 1, 0, -1 -> ties (0, 1, 3) and (2, 4) in index order
    assert idx.tolist() == [[0, 1, 3, 2, 4, 5]]
    np.testing.assert_allclose(sc[0], [1, 1, 1, 0, 0, -1], atol=1e-7)
    assert sc.dtype == np.float32 and idx.dtype == np.int64


def test_rank_gallery_float_noise_does_not_break_ties():
    # g0 (and g1 for query 0) are orthogonal to the queries, but float64 dot products come out as
    # ~+-1e-17: they must tie with the zero vector g2 at exactly +0.0. g3 = 5 * g4: must tie too.
    q = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 2.0]])
    g = np.array(
        [[-3, -3, 3], [-3, 3, -1], [0, 0, 0], [-15, -15, -10], [-3, -3, -2], [0, 1, 0]], dtype=float
    )
    idx, sc = M.rank_gallery(q, g)
    assert idx.tolist() == [[5, 0, 1, 2, 3, 4], [5, 0, 2, 1, 3, 4]]
    for i in range(2):
        assert idx[i].tolist() == bf_rank(q[i], g)
        zeros = sc[i, 1:4] if i == 0 else sc[i, 1:3]
        assert np.all(zeros == 0.0) and not np.signbit(zeros).any()
        assert sc[i, 4] == sc[i, 5]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("top", [None, 1, 5, 100])
def test_rank_gallery_matches_bruteforce(seed, top):
    rng = np.random.default_rng(seed)
    q = int_embeddings(rng, 9)
    g = np.concatenate([int_embeddings(rng, 14), q[:3]])  # gallery also holds copies of queries
    idx, sc = M.rank_gallery(q, g, top=top, chunk_size=4)
    length = len(g) if top is None else min(top, len(g))
    assert idx.shape == sc.shape == (len(q), length)
    for i in range(len(q)):
        expected = bf_rank(q[i], g)[:length]
        assert idx[i].tolist() == expected
        for pos, j in enumerate(expected):
            assert abs(float(sc[i, pos]) - bf_cos_float(q[i], g[j])) < 1e-6


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("top", [None, 3, 100])
def test_rank_gallery_exclusions_and_padding(seed, top):
    rng = np.random.default_rng(seed)
    q = int_embeddings(rng, 8)
    g = int_embeddings(rng, 11)
    exclude = rng.random((len(q), len(g))) < 0.3
    exclude[0, :] = False  # at least one row with nothing excluded ...
    exclude[1, :7] = True  # ... and one with many
    idx, sc = M.rank_gallery(q, g, exclude=exclude, top=top, chunk_size=3)
    min_excl = min(int(sum(row)) for row in exclude.tolist())
    length = len(g) - min_excl if top is None else min(top, len(g) - min_excl)
    assert idx.shape == (len(q), length)
    for i in range(len(q)):
        excl = [j for j in range(len(g)) if exclude[i, j]]
        expected = bf_rank(q[i], g, excl)[:length]
        expected = expected + [-1] * (length - len(expected))
        assert idx[i].tolist() == expected
        for pos, j in enumerate(expected):
            if j == -1:
                assert sc[i, pos] == -np.inf
            else:
                assert abs(float(sc[i, pos]) - bf_cos_float(q[i], g[j])) < 1e-6
    # the callable form gives the same result
    idx2, sc2 = M.rank_gallery(q, g, exclude=lambda s, e: exclude[s:e], top=top, chunk_size=5)
    assert np.array_equal(idx, idx2) and np.array_equal(sc, sc2)


def test_rank_gallery_float_embeddings_no_ties():
    rng = np.random.default_rng(11)
    q = rng.normal(size=(6, 5))
    g = rng.normal(size=(20, 5))
    idx, _ = M.rank_gallery(q, g, top=7)
    for i in range(len(q)):
        assert idx[i].tolist() == bf_rank(q[i], g, exact=False)[:7]


def test_rank_gallery_bad_input():
    with pytest.raises(ValueError):
        M.rank_gallery(np.ones((2, 3)), np.ones((4, 2)))
    with pytest.raises(ValueError):
        M.rank_gallery(np.ones((2, 3)), np.ones((4, 3)), top=0)
    with pytest.raises(ValueError):
        M.rank_gallery(np.ones((2, 3)), np.ones((4, 3)), exclude=np.zeros((2, 3), bool))


# --------------------------------------------------------------------------------------------------
# single-list metrics
# --------------------------------------------------------------------------------------------------


def test_single_list_hand_cases():
    assert M.average_precision([1, 0, 1]) == pytest.approx((1 + 2 / 3) / 2)
    assert M.average_precision([0, 1, 1, 0]) == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert M.average_precision([1, 0, 1], n_relevant=4) == pytest.approx((1 + 2 / 3) / 4)
    assert math.isnan(M.average_precision([0, 0, 0]))
    assert math.isnan(M.average_precision([]))
    assert M.precision_at_k([1, 0, 1], 2) == 0.5
    assert M.precision_at_k([1, 0, 1], 10) == pytest.approx(2 / 10)  # divides by k, not by 3
    # 11-point: recall 1/2 at rank 1 (precision 1), recall 1 at rank 3 (precision 2/3)
    assert M.interpolated_ap_11pt([1, 0, 1]) == pytest.approx((6 * 1 + 5 * 2 / 3) / 11)
    assert M.interpolated_ap_11pt([1, 1, 1]) == pytest.approx(1.0)
    # recall never reaches 0.5 with 1 of 4 relevant retrieved: only t = 0, 0.1, 0.2 count
    assert M.interpolated_ap_11pt([0, 1], n_relevant=4) == pytest.approx(3 * 0.5 / 11)
    assert math.isnan(M.interpolated_ap_11pt([0, 0]))
    with pytest.raises(ValueError):
        M.average_precision([1, 1, 0], n_relevant=1)
    with pytest.raises(ValueError):
        M.precision_at_k([1, 0], 0)


@pytest.mark.parametrize("seed", SEEDS)
def test_single_list_metrics_match_bruteforce(seed):
    rng = np.random.default_rng(seed)
    for _ in range(25):
        n = int(rng.integers(0, 15))
        rel = rng.random(n) < rng.random()
        hits = int(rel.sum())
        extra = int(rng.integers(0, 3))
        for k in (1, 3, 10, 20):
            assert M.precision_at_k(rel, k) == pytest.approx(bf_pk(rel.tolist(), k), abs=1e-12)
        for n_rel in (None, hits + extra):
            assert_nan_equal(M.average_precision(rel, n_rel), bf_ap(rel.tolist(), n_rel), 1e-12)
            assert_nan_equal(M.interpolated_ap_11pt(rel, n_rel), bf_ap11(rel.tolist(), n_rel), 1e-12)


# --------------------------------------------------------------------------------------------------
# retrieval_metrics and label_relevance
# --------------------------------------------------------------------------------------------------


def test_label_relevance_matches_loops():
    ql = ["a", "b", None, "a", 3]
    gl = ["b", "a", None, 3, "c", "a"]
    out = M.label_relevance(ql, gl)
    expected = [[a is not None and a == b for b in gl] for a in ql]
    assert out.dtype == bool and out.tolist() == expected


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [1, 4, 50])
def test_retrieval_metrics_matches_bruteforce(seed, k):
    rng = np.random.default_rng(seed)
    q = int_embeddings(rng, 10)
    g = int_embeddings(rng, 13)
    rel = rng.random((10, 13)) < 0.25
    rel[2] = False  # an undefined query
    exclude = rng.random((10, 13)) < 0.2
    exclude[5] = rel[5]  # every relevant item excluded: undefined after exclusion
    aps, pks, rs = bf_eval(q, g, lambda i, j: rel[i, j], lambda i, j: exclude[i, j], k)
    ap11 = bf_eval_11pt(q, g, lambda i, j: rel[i, j], lambda i, j: exclude[i, j])
    for relevance in (rel, lambda s, e: rel[s:e]):
        out = M.retrieval_metrics(q, g, relevance, exclude=exclude, k=k, ap_11pt=True, chunk_size=3, ties="index")
        assert_nan_equal(out["per_query"]["ap_11pt"], ap11)
        assert out["map_11pt"] == pytest.approx(bf_mean(ap11), abs=1e-12)
        assert_nan_equal(out["per_query"]["ap"], aps)
        assert_nan_equal(out["per_query"][f"p@{k}"], pks)
        assert out["per_query"]["n_relevant"].tolist() == rs
        assert out["map"] == pytest.approx(bf_mean(aps), abs=1e-12)
        assert out[f"p@{k}"] == pytest.approx(bf_mean(pks), abs=1e-12)
        assert out["n_undefined"] == sum(1 for r in rs if r == 0) >= 2
        assert out["n_queries"] == sum(1 for r in rs if r > 0)
        assert out["k"] == k


@pytest.mark.parametrize("seed", SEEDS)
def test_retrieval_metrics_label_pairs_and_chunking(seed):
    rng = np.random.default_rng(seed)
    q = int_embeddings(rng, 11)
    g = int_embeddings(rng, 9)
    ql = labels_with_singleton(rng, 11)
    gl = np.array([f"c{x}" for x in rng.integers(0, 3, size=9)])
    aps, pks, rs = bf_eval(q, g, lambda i, j: ql[i] == gl[j], lambda i, j: False, 5)
    for chunk in (None, 1, 4):
        out = M.retrieval_metrics(q, g, (ql, gl), k=5, chunk_size=chunk, ties="index")
        assert_nan_equal(out["per_query"]["ap"], aps)
        assert_nan_equal(out["per_query"]["p@5"], pks)
        assert out["n_undefined"] == sum(1 for r in rs if r == 0) >= 1  # 'solo' has no match
    dense = M.retrieval_metrics(q, g, M.label_relevance(ql, gl), k=5, ties="index")
    assert_nan_equal(dense["per_query"]["ap"], aps)


def test_retrieval_metrics_float_embeddings():
    rng = np.random.default_rng(5)
    q = rng.normal(size=(7, 4))
    g = rng.normal(size=(15, 4))
    rel = rng.random((7, 15)) < 0.3
    aps, pks, _ = bf_eval(q, g, lambda i, j: rel[i, j], lambda i, j: False, 3, exact=False)
    out = M.retrieval_metrics(q, g, rel, k=3, ties="index")
    assert "map_11pt" not in out
    assert_nan_equal(out["per_query"]["ap"], aps)
    assert_nan_equal(out["per_query"]["p@3"], pks)


def test_retrieval_metrics_zero_vectors_give_no_nan_scores():
    q = np.zeros((2, 3))
    g = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 0]])
    rel = np.array([[False, False, True], [True, True, False]])
    out = M.retrieval_metrics(q, g, rel, k=2, ties="index")
    # all scores 0 -> ranking is gallery order 0, 1, 2
    assert out["per_query"]["ap"].tolist() == pytest.approx([1 / 3, 1.0])
    assert out["per_query"]["p@2"].tolist() == pytest.approx([0.0, 1.0])


# --------------------------------------------------------------------------------------------------
# hyperlinking_eval
# --------------------------------------------------------------------------------------------------


def test_hyperlinking_hand_case():
    emb = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [1.0, 1.0]])
    cats = ["x", "y", "y", "x", "z"]
    out = M.hyperlinking_eval(emb, cats, k=2, ties="index")
    # anchor 0 ranks 1, 4, 3, 2 -> rel 0,0,1,0 -> AP 1/3, P@2 0
    # anchor 1 ranks 0, 4, 3, 2 -> rel 0,0,0,1 -> AP 1/4, P@2 0
    # anchor 2 ranks 3, 4, 1, 0 -> rel 0,0,1,0 -> AP 1/3
    # anchor 3 ranks 2, 4, 1, 0 -> rel 0,0,0,1 -> AP 1/4
    # anchor 4 ('z' alone) undefined
    ap = out["per_query"]["ap"]
    assert ap[:4].tolist() == pytest.approx([1 / 3, 1 / 4, 1 / 3, 1 / 4]) and math.isnan(ap[4])
    assert out["map"] == pytest.approx((1 / 3 + 1 / 4) / 2)
    assert out["p@2"] == 0.0
    assert out["n_queries"] == 4 and out["n_undefined"] == 1
    assert out["per_category"]["z"]["n"] == 0 and math.isnan(out["per_category"]["z"]["map"])
    assert out["per_category"]["x"]["map"] == pytest.approx((1 / 3 + 1 / 4) / 2)
    assert out["per_category"]["x"]["n"] == 2


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [3, 10, 40])
def test_hyperlinking_matches_bruteforce(seed, k):
    rng = np.random.default_rng(seed)
    n = 17
    emb = int_embeddings(rng, n)
    cats = labels_with_singleton(rng, n)
    aps, pks, rs = bf_eval(emb, emb, lambda i, j: cats[i] == cats[j], lambda i, j: i == j, k)
    out = M.hyperlinking_eval(emb, cats, k=k, chunk_size=5, ties="index")
    assert_nan_equal(out["per_query"]["ap"], aps)
    assert_nan_equal(out["per_query"][f"p@{k}"], pks)
    assert out["map"] == pytest.approx(bf_mean(aps), abs=1e-12)
    assert out[f"p@{k}"] == pytest.approx(bf_mean(pks), abs=1e-12)
    assert out["n_undefined"] == sum(1 for r in rs if r == 0) >= 1
    assert out["n_queries"] == n - out["n_undefined"]
    assert sorted(out["per_category"]) == sorted(set(cats.tolist()))
    for cat, row in out["per_category"].items():
        members = [i for i in range(n) if cats[i] == cat]
        assert_nan_equal(row["map"], bf_mean([aps[i] for i in members]))
        assert_nan_equal(row[f"p@{k}"], bf_mean([pks[i] for i in members]))
        assert row["n"] == sum(1 for i in members if rs[i] > 0)
        assert row["n"] + row["n_undefined"] == len(members)


@pytest.mark.parametrize("seed", SEEDS[:4])
def test_hyperlinking_with_judgments(seed):
    rng = np.random.default_rng(seed)
    n = 12
    emb = int_embeddings(rng, n)
    cats = labels_with_singleton(rng, n)
    judg = rng.random((n, n)) < 0.3
    aps, pks, _ = bf_eval(emb, emb, lambda i, j: judg[i, j], lambda i, j: i == j, 4)
    out = M.hyperlinking_eval(emb, cats, k=4, judgments=judg, ties="index")
    assert_nan_equal(out["per_query"]["ap"], aps)
    assert_nan_equal(out["per_query"]["p@4"], pks)
    # dict form, some anchors unjudged (undefined), self-links ignored
    judged = {a: {int(t) for t in np.flatnonzero(judg[a])} | {a} for a in range(0, n, 2)}
    aps_d, pks_d, rs_d = bf_eval(
        emb, emb, lambda i, j: i in judged and j in judged[i], lambda i, j: i == j, 4
    )
    out_d = M.hyperlinking_eval(emb, None, k=4, judgments=judged, chunk_size=5, ties="index")
    assert_nan_equal(out_d["per_query"]["ap"], aps_d)
    assert_nan_equal(out_d["per_query"]["p@4"], pks_d)
    assert out_d["n_undefined"] == sum(1 for r in rs_d if r == 0) >= n // 2
    assert out_d["per_category"] == {}


# --------------------------------------------------------------------------------------------------
# crossmodal_map
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_crossmodal_matches_bruteforce(seed):
    rng = np.random.default_rng(seed)
    n = 11
    img = int_embeddings(rng, n)
    txt = int_embeddings(rng, n)
    cats = labels_with_singleton(rng, n)
    both = np.concatenate([img, txt])
    cats2 = np.concatenate([cats, cats])
    never = lambda i, j: False  # noqa: E731
    expected = {
        "img2txt": bf_eval(img, txt, lambda i, j: cats[i] == cats[j], never, 1)[0],
        "txt2img": bf_eval(txt, img, lambda i, j: cats[i] == cats[j], never, 1)[0],
        "img2all": bf_eval(img, both, lambda i, j: cats[i] == cats2[j], lambda i, j: j == i, 1)[0],
        "txt2all": bf_eval(txt, both, lambda i, j: cats[i] == cats2[j], lambda i, j: j == n + i, 1)[0],
    }
    out = M.crossmodal_map(img, txt, cats, ap_11pt=True, chunk_size=4, ties="index")
    ap11 = bf_eval_11pt(img, both, lambda i, j: cats[i] == cats2[j], lambda i, j: j == i)
    assert out["map_11pt"]["img2all"] == pytest.approx(sum(ap11) / n, abs=1e-12)
    ap11 = bf_eval_11pt(txt, img, lambda i, j: cats[i] == cats[j], never)
    assert out["map_11pt"]["txt2img"] == pytest.approx(sum(ap11) / n, abs=1e-12)
    for task, aps in expected.items():
        assert not any(math.isnan(a) for a in aps)  # own pair is always relevant
        assert_nan_equal(out["per_query"][task], aps)
        assert out[task] == pytest.approx(sum(aps) / n, abs=1e-12)
        assert out["n_queries"][task] == n and out["n_undefined"][task] == 0
        for cat, row in out["per_category"].items():
            members = [aps[i] for i in range(n) if cats[i] == cat]
            assert row[task] == pytest.approx(sum(members) / len(members), abs=1e-12)
    assert out["average"] == pytest.approx((out["img2txt"] + out["txt2img"]) / 2)
    assert sorted(out["per_category"]) == sorted(set(cats.tolist()))


def test_crossmodal_perfect_embeddings():
    # one-hot by category, identical across modalities: every task has MAP 1
    cats = ["a", "b", "a", "c", "b"]
    onehot = np.array([[1.0 if c == k else 0.0 for k in "abc"] for c in cats])
    out = M.crossmodal_map(onehot, onehot, cats, ties="index")
    for task in ("img2txt", "txt2img", "img2all", "txt2all"):
        assert out[task] == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------------
# per_category, mean_std, paired t-test
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS[:4])
def test_per_category_matches_loops(seed):
    rng = np.random.default_rng(seed)
    vals = rng.random(20)
    vals[rng.random(20) < 0.3] = np.nan
    cats = [int(c) for c in rng.integers(0, 4, size=20)]
    cats[0] = None  # unlabelled: left out
    out = M.per_category(vals, cats)
    assert set(out) == {str(c) for c in cats if c is not None}
    for c in set(cats) - {None}:
        assert_nan_equal(out[str(c)], bf_mean([vals[i] for i in range(20) if cats[i] == c]), 1e-12)
    assert math.isnan(M.per_category([np.nan, 1.0], ["a", "b"])["a"])


def test_mean_std():
    vals = [0.2, 0.5, 0.3, 0.9]
    m = sum(vals) / 4
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / 3)
    assert M.mean_std(vals) == pytest.approx((m, sd))
    assert M.mean_std([0.7]) == (0.7, 0.0)
    with pytest.raises(ValueError):
        M.mean_std([])


@pytest.mark.parametrize("seed", SEEDS[:5])
def test_paired_ttest_matches_hand_computation_and_scipy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 12))
    a = rng.normal(0.5, 0.1, size=n)
    b = a - rng.normal(0.02, 0.05, size=n)
    out = M.paired_ttest_one_sided(a, b)
    d = [x - y for x, y in zip(a.tolist(), b.tolist())]
    mean = sum(d) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in d) / (n - 1))
    t = mean / (sd / math.sqrt(n))
    assert out["n"] == n
    assert out["mean_diff"] == pytest.approx(mean)
    assert out["t"] == pytest.approx(t, rel=1e-9)
    assert out["p"] == pytest.approx(stats.t.sf(t, n - 1), rel=1e-9)
    ref = stats.ttest_rel(a, b, alternative="greater")
    assert out["t"] == pytest.approx(ref.statistic) and out["p"] == pytest.approx(ref.pvalue)
    # swapping the arguments tests the other direction
    assert M.paired_ttest_one_sided(b, a)["p"] == pytest.approx(1 - out["p"])


def test_paired_ttest_edge_cases():
    out = M.paired_ttest_one_sided([0.3, 0.4, 0.5], [0.3, 0.4, 0.5])
    assert math.isnan(out["t"]) and math.isnan(out["p"]) and out["mean_diff"] == 0.0
    out = M.paired_ttest_one_sided([1.0, 2.0, 3.0], [0.5, 1.5, 2.5])
    assert out["t"] == math.inf and out["p"] == 0.0
    out = M.paired_ttest_one_sided([0.5, 1.5, 2.5], [1.0, 2.0, 3.0])
    assert out["t"] == -math.inf and out["p"] == 1.0
    # NaN pairs are dropped
    out = M.paired_ttest_one_sided([0.5, np.nan, 0.7, 0.9], [0.4, 0.1, 0.5, 0.95])
    assert out["n"] == 3
    ref = stats.ttest_rel([0.5, 0.7, 0.9], [0.4, 0.5, 0.95], alternative="greater")
    assert out["p"] == pytest.approx(ref.pvalue)
    with pytest.raises(ValueError):
        M.paired_ttest_one_sided([1.0], [0.5])
    with pytest.raises(ValueError):
        M.paired_ttest_one_sided([1.0, np.nan], [0.5, 0.2])
    with pytest.raises(ValueError):
        M.paired_ttest_one_sided([1.0, 2.0], [0.5, 0.2, 0.1])


def test_torch_tensors_accepted():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4)).astype(np.float32)
    cats = ["a", "b", "a", "b", "c", "a"]
    ref = M.hyperlinking_eval(x, cats, k=2, ties="index")
    out = M.hyperlinking_eval(torch.tensor(x, requires_grad=True), cats, k=2, ties="index")
    assert out["map"] == ref["map"]


# --------------------------------------------------------------------------------------------------
# tie-aware metrics (the default): expectations over all orderings of tied items
# --------------------------------------------------------------------------------------------------


def bf_expected_eval(queries, gallery, is_relevant, is_excluded, k):
    """Per-query (expected AP, expected P@k) by enumerating every ordering of every tie group (exact)."""
    import itertools

    aps, pks = [], []
    for i, q in enumerate(queries):
        items = [j for j in range(len(gallery)) if not is_excluded(i, j)]
        keys = {j: bf_cos_key(q, gallery[j]) for j in items}
        groups = [list(g) for _, g in itertools.groupby(sorted(items, key=lambda j: -keys[j]), key=lambda j: keys[j])]
        rel_all = [is_relevant(i, j) for j in items]
        if not any(rel_all):
            aps.append(float("nan"))
            pks.append(float("nan"))
            continue
        ap_sum, pk_sum, count = Fraction(0), Fraction(0), 0
        for perms in itertools.product(*(itertools.permutations(g) for g in groups)):
            ranking = [j for p in perms for j in p]
            rel = [bool(is_relevant(i, j)) for j in ranking]
            hits, total = 0, Fraction(0)
            for r, x in enumerate(rel, start=1):
                if x:
                    hits += 1
                    total += Fraction(hits, r)
            ap_sum += total / sum(rel)
            pk_sum += Fraction(sum(rel[:k]), k)
            count += 1
        aps.append(float(ap_sum / count))
        pks.append(float(pk_sum / count))
    return aps, pks


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [1, 3, 10])
def test_tie_aware_hyperlinking_matches_enumeration_of_tied_orderings(seed, k):
    rng = np.random.default_rng(seed)
    n = 8  # small: every ordering of every tie group is enumerated
    emb = int_embeddings(rng, n, pool=3)
    cats = labels_with_singleton(rng, n, n_cats=2)
    aps, pks = bf_expected_eval(emb, emb, lambda i, j: cats[i] == cats[j], lambda i, j: i == j, k)
    out = M.hyperlinking_eval(emb, cats, k=k, chunk_size=3)
    assert_nan_equal(out["per_query"]["ap"], aps)
    assert_nan_equal(out["per_query"][f"p@{k}"], pks)


def test_tie_aware_equals_index_rule_without_ties_and_constant_embedding_scores_random_level():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(60, 8))  # continuous: no ties
    cats = np.array([f"c{i % 4}" for i in range(60)])
    a, b = M.hyperlinking_eval(emb, cats), M.hyperlinking_eval(emb, cats, ties="index")
    np.testing.assert_allclose(a["per_query"]["ap"], b["per_query"]["ap"], atol=1e-12)
    assert a["p@10"] == pytest.approx(b["p@10"], abs=1e-12)
    # a constant embedding ties everything: P@k = R / (N - 1) for every anchor, whatever the order
    flat = np.ones((60, 8))
    sorted_cats = np.sort(cats)  # a gallery sorted by category favoured the index rule
    out = M.hyperlinking_eval(flat, sorted_cats, k=10)
    np.testing.assert_allclose(out["per_query"]["p@10"], 14 / 59, atol=1e-12)
    assert abs(M.hyperlinking_eval(flat, sorted_cats, k=10, ties="index")["p@10"] - 14 / 59) > 0.01  # gallery order leaks in
    # expected AP of a random ranking of R relevant among Mn items: sum over positions i of
    # P(relevant) * E[precision@i | relevant] / R, the relevant items before i being hypergeometric
    R, Mn = 14, 59
    expected_ap = sum((R / Mn) * (1 + (i - 1) * (R - 1) / (Mn - 1)) / i for i in range(1, Mn + 1)) / R
    assert out["map"] == pytest.approx(expected_ap, abs=1e-12)
    shuffled = rng.permutation(sorted_cats)
    assert M.hyperlinking_eval(flat, shuffled, k=10)["map"] == pytest.approx(expected_ap, abs=1e-12)
    with pytest.raises(ValueError, match="ties must be one of"):
        M.hyperlinking_eval(flat, cats, ties="random")


def test_truncated_list_metrics_against_brute_force():
    from explorer.metrics import truncated_list_metrics

    rng = np.random.default_rng(3)
    rel = rng.random((50, 20)) < 0.3
    extra = rng.integers(0, 40, 50)
    n_rel = rel.sum(axis=1) + extra
    n_rel[0], rel[0] = 0, False  # undefined query
    out = truncated_list_metrics(rel, n_rel, k=10)
    for q in range(50):
        if n_rel[q] == 0:
            assert np.isnan(out["p@10"][q]) and np.isnan(out["ap@T"][q])
            continue
        hits, total = 0, 0.0
        for r in range(20):
            if rel[q, r]:
                hits += 1
                total += hits / (r + 1)
        assert out["ap@T"][q] == pytest.approx(total / min(n_rel[q], 20))
        assert out["p@10"][q] == pytest.approx(rel[q, :10].sum() / 10)
    # every relevant item ranked first: 1.0, whether R is below or above T
    assert truncated_list_metrics(np.ones((1, 5), bool), [9], k=3)["ap@T"][0] == 1.0
    assert truncated_list_metrics(np.array([[True, True, False]]), [2], k=3)["ap@T"][0] == 1.0
    with pytest.raises(ValueError, match="smaller than the relevant items"):
        truncated_list_metrics(np.ones((1, 5), bool), [3])
