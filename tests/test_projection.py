"""``explorer.projection`` at scale: server-side box and lasso selection against independent brute force, the
density image's arithmetic, and UMAP fitted on a sample with the other points placed by ``transform``."""

from __future__ import annotations

import numpy as np
import pytest

from explorer import projection
from explorer.projection import density_rgba, in_box, in_polygon


def _in_triangle(x, y, a, b, c) -> np.ndarray:
    """Barycentric sign test (independent of ray casting)."""
    def side(p, q):
        return (x - q[0]) * (p[1] - q[1]) - (p[0] - q[0]) * (y - q[1])
    d1, d2, d3 = side(a, b), side(b, c), side(c, a)
    neg = (d1 < 0) | (d2 < 0) | (d3 < 0)
    pos = (d1 > 0) | (d2 > 0) | (d3 > 0)
    return ~(neg & pos)


def test_lasso_and_box_select_exactly_the_points_inside():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-1, 2, 20_000), rng.uniform(-1, 2, 20_000)
    tri = [(0.0, 0.0), (1.5, 0.2), (0.4, 1.3)]
    got = in_polygon(x, y, [p[0] for p in tri], [p[1] for p in tri])
    assert got.sum() > 1000 and np.array_equal(got, _in_triangle(x, y, *tri))
    # a concave "L": the union of two boxes, as the union of their box selections
    lx, ly = [0, 1, 1, 0.5, 0.5, 0], [0, 0, 0.5, 0.5, 1, 1]
    want = in_box(x, y, (0, 1), (0, 0.5)) | in_box(x, y, (0, 0.5), (0.5, 1))
    assert np.array_equal(in_polygon(x, y, lx, ly) & ~np.isclose(x, 0.5) & ~np.isclose(y, 0.5),
                          want & ~np.isclose(x, 0.5) & ~np.isclose(y, 0.5))
    assert np.array_equal(in_box(x, y, (1, 0), (0.5, -0.5)), (x >= 0) & (x <= 1) & (y >= -0.5) & (y <= 0.5))
    assert not in_polygon(x, y, [0, 1], [0, 1]).any()  # two vertices enclose nothing


def test_density_image_is_the_mean_colour_of_each_pixels_points():
    x = np.array([0.1, 0.1, 0.9, 0.9, 0.9])
    y = np.array([0.1, 0.1, 0.9, 0.9, 0.2])
    rgb = np.array([[255, 0, 0], [0, 0, 255], [0, 255, 0], [0, 255, 0], [10, 20, 30]], dtype=float)
    img = density_rgba(x, y, rgb, (0, 1, 0, 1), size=(2, 2))
    assert img.shape == (2, 2, 4)
    # row 0 is the top (large y): (x 0.9, y 0.9) -> top right; (0.1, 0.1) -> bottom left
    assert list(img[1, 0, :3]) == [127, 0, 127] and list(img[0, 1, :3]) == [0, 255, 0]
    assert list(img[1, 1, :3]) == [10, 20, 30] and img[0, 0, 3] == 0  # an empty pixel is transparent
    assert img[1, 0, 3] == img[0, 1, 3] == 255 and 60 < img[1, 1, 3] < 255  # opacity by log count


def test_umap_is_fitted_on_a_sample_and_places_the_rest_by_transform(monkeypatch):
    monkeypatch.setattr(projection, "UMAP_FIT_MAX", 300)
    monkeypatch.setattr(projection, "TRANSFORM_BATCH", 250)
    rng = np.random.default_rng(1)
    centres = rng.normal(0, 6, (4, 20))
    labels = rng.integers(0, 4, 900)
    x = (centres[labels] + rng.normal(0, 1, (900, 20))).astype(np.float32)
    calls = []
    import umap

    real_fit = umap.UMAP.fit
    monkeypatch.setattr(umap.UMAP, "fit", lambda self, data, *a, **k: calls.append(len(data)) or real_fit(self, data, *a, **k))
    out = projection.project({"joint": x}, {"pca_dim": 10})
    assert calls == [300]  # UMAP never fitted on all 900 points
    xy = np.stack([out["x"], out["y"]], axis=1)
    assert np.isfinite(xy).all() and xy.shape == (900, 2)
    # the clusters survive for transformed points too: nearest fitted neighbour has the same label
    fit_rows = np.sort(np.random.default_rng(0).choice(900, size=300, replace=False))
    rest = np.setdiff1d(np.arange(900), fit_rows)
    d = ((xy[rest, None, :] - xy[None, fit_rows, :]) ** 2).sum(-1)
    agree = np.mean(labels[fit_rows][d.argmin(axis=1)] == labels[rest])
    assert agree > 0.95
    again = projection.project({"joint": x}, {"pca_dim": 10})
    assert np.array_equal(again["x"], out["x"])  # seeded: the same picture twice
