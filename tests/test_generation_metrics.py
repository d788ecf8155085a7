"""Generated-image metrics against brute force and known values."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from explorer.generation_metrics import frechet_distance, mean_pairwise_cosine_distance, nearest_centroid_accuracy


def test_frechet_distance_known_values():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # shift of the mean by (1, 2, 0): the distance is |shift|^2 = 5 (same covariance)
    assert frechet_distance(a, a + [1.0, 2.0, 0.0]) == pytest.approx(5.0, abs=1e-6)
    # 1-d Gaussians: (mu1 - mu2)^2 + (s1 - s2)^2
    x, y = rng.normal(0, 1, (20000, 1)), rng.normal(3, 2, (20000, 1))
    assert frechet_distance(x, y) == pytest.approx(9 + 1, rel=0.03)
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(a, a[:, :2])


def test_nearest_centroid_accuracy_brute_force():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 8)) * 3
    ref_labels = np.repeat([0, 1, 2], 20)
    ref = centres[ref_labels] + rng.normal(size=(60, 8))
    items, labels = centres[[0, 1, 2, 0]] + 0.1, np.array([0, 1, 2, 1])  # the last one is mislabelled
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
    cents = np.stack([unit(unit(ref[ref_labels == c]).mean(0)) for c in range(3)])
    brute = np.mean([int(np.argmax([unit(x) @ c for c in cents])) == y for x, y in zip(items, labels)])
    assert nearest_centroid_accuracy(ref, ref_labels, items, labels) == pytest.approx(brute) == 0.75


def test_mean_pairwise_cosine_distance_brute_force():
    rng = np.random.default_rng(2)
    groups = [rng.normal(size=(n, 5)) for n in (2, 3, 6)] + [rng.normal(size=(1, 5))]  # singleton skipped
    cos = lambda a, b: a @ b / np.linalg.norm(a) / np.linalg.norm(b)  # noqa: E731
    brute = np.mean([np.mean([1 - cos(a, b) for a, b in itertools.combinations(g, 2)]) for g in groups[:3]])
    assert mean_pairwise_cosine_distance(groups) == pytest.approx(brute)
    same = [np.ones((4, 5))]
    assert mean_pairwise_cosine_distance(same) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        mean_pairwise_cosine_distance([np.ones((1, 5))])


def test_colour_share_of_flat_colours():
    from explorer.analysis import colour_share

    def flat(rgb):
        return np.full((1, 4, 4, 3), rgb, dtype=np.uint8)

    assert colour_share(flat((230, 30, 30)), "red") == 1.0  # hue ~0: the wrapping range
    assert colour_share(flat((230, 200, 20)), "yellow") == 1.0 and colour_share(flat((230, 200, 20)), "red") == 0.0
    assert colour_share(flat((250, 250, 250)), "white") == 1.0 and colour_share(flat((120, 40, 170)), "purple") == 1.0
    with pytest.raises(ValueError, match="unknown colour"):
        colour_share(flat((0, 0, 0)), "teal")
