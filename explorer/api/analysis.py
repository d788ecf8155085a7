"""Where a model fails, from the split's hyperlink index: per-category P@k and MAP, the worst anchors of a category,
which categories take a category's top places (confusion, "stealers"). The arithmetic is in
``explorer.evaluate`` (pure functions); this module feeds it the cached index."""

from __future__ import annotations

import numpy as np

from ..evaluate import category_confusion_counts, per_category_means
from .collections import _coll
from .retrieval import anchor_hyperlinks, hyperlink_index


def category_metrics(ref, collection, split: str, k: int = 10) -> list[dict]:
    """Per-category P@k and MAP over the split's anchors, worst P@k first:
    [{"category", "p@k", "map", "n", "n_undefined"}]; plus the overall means as category "(all)" last."""
    coll = _coll(collection)
    hl = hyperlink_index(ref, collection, split, k=k)
    cats = [coll.segments[i].category or "(none)" for i in hl["idx"]]
    return per_category_means(cats, hl["ap"], hl["pk"])


def worst_anchors(ref, collection, split: str, category: str, n: int = 5, k: int = 10) -> list[dict]:
    """The ``n`` anchors of ``category`` with the lowest AP, each as ``anchor_hyperlinks`` (top ``k``)."""
    coll = _coll(collection)
    hl = hyperlink_index(ref, collection, split, k=k)
    pos = [p for p, i in enumerate(hl["idx"]) if (coll.segments[i].category or "(none)") == category
           and not np.isnan(hl["ap"][p])]
    if not pos:
        raise KeyError(f"no anchor of category {category!r} with a relevant target in the {split!r} split")
    pos.sort(key=lambda p: (hl["ap"][p], hl["pk"][p]))
    return [anchor_hyperlinks(ref, collection, int(hl["idx"][p]), split, k=k, n=k) for p in pos[:n]]


def category_confusion(ref, collection, split: str, k: int = 10) -> dict:
    """Which categories hold the top-``k`` places of each category's anchors (``evaluate.category_confusion_counts``):
    {"categories": [C names], "counts": (C, C) int (row: anchor category, column: target category),
    "share": (C, C) row-normalised}."""
    coll = _coll(collection)
    hl = hyperlink_index(ref, collection, split, k=k)
    return category_confusion_counts([c or "(none)" for c in coll.column("category")], hl["idx"], hl["top"][:, :k])


def stealers(ref, collection, split: str, category: str, k: int = 10, n: int = 10) -> list[dict]:
    """The categories holding the most top-``k`` places of ``category``'s anchors:
    [{"category", "places", "share"}] (its own category included, marked by ``own``)."""
    conf = category_confusion(ref, collection, split, k=k)
    if category not in conf["categories"]:
        raise KeyError(f"no category {category!r}")
    r = conf["categories"].index(category)
    row = conf["counts"][r]
    order = np.argsort(-row, kind="stable")
    return [{"category": conf["categories"][c], "places": int(row[c]), "share": float(conf["share"][r, c]),
             "own": c == r} for c in order[:n] if row[c] > 0]
