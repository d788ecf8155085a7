"""``explorer.projection`` at scale: server-side box and lasso selection against independent brute force, the
density image's arithmetic (against a per-pixel loop), what a zoomed view draws, and UMAP fitted on a sample
with the other points placed by ``transform``."""

from __future__ import annotations

import numpy as np
import pytest

from explorer import projection
from explorer.projection import checked_view, density_rgba, in_box, in_polygon, padded_extent, rows_in_view


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


def test_density_image_equals_a_per_pixel_loop_and_leaves_out_points_outside_the_extent():
    rng = np.random.default_rng(3)
    x, y = rng.normal(0, 1, 3_000), rng.normal(0, 1, 3_000)
    rgb = rng.integers(0, 256, (3_000, 3)).astype(float)
    extent, (w, h) = (-1.5, 2.0, -1.0, 1.0), (7, 5)
    img = density_rgba(x, y, rgb, extent, size=(w, h))
    count = np.zeros((h, w))
    total = np.zeros((h, w, 3))
    for xi, yi, c in zip(x, y, rgb):
        if not (extent[0] <= xi <= extent[1] and extent[2] <= yi <= extent[3]):
            continue
        col = min(int((xi - extent[0]) / (extent[1] - extent[0]) * w), w - 1)
        row = h - 1 - min(int((yi - extent[2]) / (extent[3] - extent[2]) * h), h - 1)  # row 0 at the top
        count[row, col] += 1
        total[row, col] += c
    assert count.sum() < 3_000 and count.min() > 0  # some points outside, every pixel hit
    assert np.array_equal(img[..., :3], (total / count[..., None]).astype(np.uint8))
    alpha = np.log1p(count)
    assert np.array_equal(img[..., 3], (60 + 195 * alpha / alpha.max()).astype(np.uint8))


def test_a_view_draws_its_points_once_few_enough_else_a_seeded_sample_of_them():
    rng = np.random.default_rng(4)
    x, y = rng.uniform(0, 10, 5_000), rng.uniform(0, 10, 5_000)
    view = (2.0, 3.0, 2.0, 3.0)
    inside = np.flatnonzero(in_box(x, y, view[:2], view[2:]))
    rows, n, as_points = rows_in_view(x, y, view, max_points=len(inside), sample=10)
    assert as_points and n == len(inside) and np.array_equal(rows, inside)
    rows, n, as_points = rows_in_view(x, y, view, max_points=len(inside) - 1, sample=10)
    assert not as_points and n == len(inside) and len(rows) == 10
    assert np.all(np.diff(rows) > 0) and np.isin(rows, inside).all()
    assert np.array_equal(rows, rows_in_view(x, y, view, len(inside) - 1, 10)[0])  # seeded: the same sample
    rows, n, as_points = rows_in_view(x, y, (20.0, 30.0, 0.0, 1.0), max_points=0, sample=10)
    assert as_points and n == 0 and len(rows) == 0  # an empty view draws nothing, as points
    x0, x1, y0, y1 = padded_extent(x, y)
    assert x0 < x.min() < x.max() < x1 and y0 < y.min() < y.max() < y1
    assert np.isclose(x.min() - x0, 0.02 * np.ptp(x))
    assert padded_extent(np.array([1.0]), np.array([2.0])) == (0.98, 1.02, 1.98, 2.02)


def test_a_view_from_the_browser_is_checked():
    assert checked_view(None) is None
    assert checked_view({"x": [3, 1], "y": ["0.5", 2]}) == (1.0, 3.0, 0.5, 2.0)
    for bad in ({"x": [1, 1], "y": [0, 1]}, {"x": [0, float("nan")], "y": [0, 1]}, {"x": [0, 1]},
                {"x": [0, 1, 2], "y": [0, 1]}, {"x": "ab", "y": [0, 1]}, [0, 1, 0, 1]):
        with pytest.raises(ValueError, match="view must"):
            checked_view(bad)


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
