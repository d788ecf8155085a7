"""Evaluation: embeddings of a collection split for any model spec, and the metrics JSON.

A *model spec* is ``"text-only"`` (averaged word2vec trained on the collection's train transcripts;
for feature-only collections their built-in text features), ``"visual-only"`` (a visual extractor:
``pixels``, ``mobilenet`` or ``vgg19``; built-in image features for feature-only collections), or a
checkpoint path, from which the model is rebuilt alone (its config, inputs and word vectors are all
in the checkpoint).

Protocol (see ``explorer.metrics`` for the exact conventions): hyperlinking takes every segment of the
split as an anchor and ranks all *other* segments of the same split by cosine similarity of joint
embeddings; a target is relevant when it has the anchor's category. Models with per-modality
embeddings are also scored crossmodally on the same split (image->text, text->image, image->all,
text->all MAP).

Where a model fails, from per-anchor results (pure functions; the app's Failure cases page):
``per_category_means`` (per-category P@k and MAP) and ``category_confusion_counts`` (which categories take
each category's top places).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from . import checkpoint as ckpt_io
from .data.collection import Collection, load_collection
from .data.text import WordVectors, collection_word_vectors, text_features
from .metrics import crossmodal_map, hyperlinking_eval

BASELINES = ("text-only", "visual-only")


def is_checkpoint_spec(model: str) -> bool:
    return model not in BASELINES


def split_indices(collection: Collection, split: str | None) -> np.ndarray:
    return collection.split_positions(split)


class LoadedModel:
    """A checkpoint's model rebuilt for inference, with its word vectors and metadata."""

    def __init__(self, path: str | Path, device: str = "cpu", config_overrides: dict | None = None):
        """``config_overrides``: config options changed before the model is rebuilt, for evaluation-time
        options (e.g. cmgan ``retrieval_space``); one that changes the architecture fails to load."""
        self.path = Path(path)
        self.ckpt = ckpt_io.load(self.path)
        if config_overrides:
            self.ckpt["config"] = {**self.ckpt["config"], **config_overrides}
        self.kind = self.ckpt["kind"]
        self.device = device
        # Built outside inference mode even when a caller is inside it (e.g. a decorated facade
        # function loading lazily): parameters made there would be inference tensors, unusable later
        # by the optimisation-based inversion, which needs autograd.
        with torch.inference_mode(False):
            self.model = ckpt_io.build_model(self.ckpt, self.path).to(device)
        text = self.ckpt.get("text")
        self.word_vectors = WordVectors.from_state(text) if text else None
        self.categories = (self.ckpt.get("collection") or {}).get("categories")

    @property
    def spec(self):
        return self.model.spec

    def inputs(self, collection: Collection, progress: bool = False):
        from .inputs import prepare_inputs

        return prepare_inputs(collection, self.spec, self.word_vectors, device=self.device,
                              categories=self.categories, progress=progress)

    def embeddings(self, collection: Collection, idx=None, progress: bool = False, allocate=None) -> dict[str, np.ndarray]:
        """``inputs.embed_all`` of the collection's segments ``idx`` (``allocate``: where the rows go)."""
        from .inputs import embed_all

        return embed_all(self.model, self.inputs(collection, progress=progress), idx, self.device, allocate=allocate)


def embeddings(model: str, collection: Collection, split: str | None = None, visual: str = "pixels",
               device: str = "cpu", progress: bool = True, config_overrides: dict | None = None) -> dict[str, np.ndarray]:
    """{"joint": (n, D)} (+ "image"/"text" for crossmodal models) for the segments of ``split``."""
    idx = split_indices(collection, split)
    if model == "text-only":
        wv = None if collection.features else collection_word_vectors(collection)
        feats, _ = text_features(collection, wv)
        return {"joint": feats[idx]}
    if model == "visual-only":
        if collection.features:
            return {"joint": collection.features["image"][idx]}
        from .features.visual import extract_collection_features

        return {"joint": np.asarray(extract_collection_features(collection, visual, device=device, progress=progress))[idx]}
    return LoadedModel(model, device, config_overrides).embeddings(collection, idx, progress=progress)


def joint_embeddings(model: str, collection: Collection, visual: str = "pixels", device: str = "cpu") -> np.ndarray:
    """(N, D) joint embeddings of *all* segments of ``collection`` (used by run-file export). A checkpoint's
    come from ``explorer.embedstore`` (computed once, shared with the app; reused whichever device made them)."""
    if not is_checkpoint_spec(model):
        return embeddings(model, collection, None, visual=visual, device=device)["joint"]
    from . import embedstore

    p = Path(model).resolve()
    st = p.stat()
    key = embedstore.store_key((str(p), st.st_mtime, st.st_size), collection.digest)
    return embedstore.embeddings(key, lambda allocate: LoadedModel(model, device).embeddings(collection, allocate=allocate))["joint"]


def joint_rank_index(model: str, collection: Collection, joint: np.ndarray):
    """An ``explorer.ann`` index over ``joint`` (the collection's joint embeddings, row i = segment i) for a
    collection of at least ``ann.EXACT_BELOW`` segments, else None (exact ranking is fast enough). A
    checkpoint's index is cached on disk beside its embeddings (built once, shared with the app)."""
    from . import ann

    if len(joint) < ann.EXACT_BELOW:
        return None
    if not is_checkpoint_spec(model):
        return ann.build_index(joint, exact_below=ann.EXACT_BELOW)
    p = Path(model).resolve()
    st = p.stat()
    key = {"embeddings": {"checkpoint": str(p), "mtime": st.st_mtime, "size": st.st_size, "collection": collection.digest},
           "split": "all", "version": 1}
    return ann.cached_index(key, lambda: joint, exact_below=ann.EXACT_BELOW)


def evaluate(model: str, collection: str | Collection, split: str = "val", visual: str = "pixels",
             device: str = "cpu", k: int = 10, progress: bool = True) -> dict:
    """The metrics JSON: model, collection, split, n_queries, hyperlinking{...}, crossmodal{...}."""
    coll = collection if isinstance(collection, Collection) else load_collection(collection)
    emb = embeddings(model, coll, split, visual=visual, device=device, progress=progress)
    cats = coll.column("category", split_indices(coll, split))
    hl = hyperlinking_eval(emb["joint"], cats, k=k)
    name = model if is_checkpoint_spec(model) else (f"visual-only ({visual if not coll.features else 'builtin'})" if model == "visual-only" else model)
    result = {
        "model": name,
        "collection": coll.name,
        "split": split,
        "n_queries": int(hl["n_queries"]),
        "n_undefined": int(hl["n_undefined"]),
        "hyperlinking": {
            f"p@{k}": float(hl[f"p@{k}"]),
            "map": float(hl["map"]),
            "per_category": {c: {f"p@{k}": float(v[f"p@{k}"]), "map": float(v["map"])} for c, v in hl["per_category"].items()},
        },
    }
    if "image" in emb and "text" in emb:
        cm = crossmodal_map(emb["image"], emb["text"], cats)
        result["crossmodal"] = {key: float(cm[key]) for key in ("img2txt", "txt2img", "img2all", "txt2all")}
    return result


def format_table(result: dict, k: int = 10, worst: int = 5) -> str:
    """A readable summary of an ``evaluate`` result (overall, crossmodal, hardest categories)."""
    hl = result["hyperlinking"]
    lines = [
        f"model       {result['model']}",
        f"collection  {result['collection']} ({result['split']}, {result['n_queries']} anchors"
        + (f", {result['n_undefined']} without relevant targets skipped" if result.get("n_undefined") else "") + ")",
        "",
        f"{'hyperlinking':<14}{'P@' + str(k):>8}{'MAP':>8}",
        f"{'all':<14}{hl[f'p@{k}']:>8.4f}{hl['map']:>8.4f}",
    ]
    if "crossmodal" in result:
        cm = result["crossmodal"]
        lines += ["", f"{'crossmodal MAP':<14}" + "".join(f"{key:>9}" for key in cm),
                  f"{'':<14}" + "".join(f"{v:>9.4f}" for v in cm.values())]
    per = sorted(hl["per_category"].items(), key=lambda kv: kv[1][f"p@{k}"])
    if per:
        lines += ["", f"hardest categories (P@{k}):"] + [f"  {c:<28}{v[f'p@{k}']:>8.4f}{v['map']:>8.4f}" for c, v in per[:worst]]
    return "\n".join(lines)


# ------------------------------------------------------------------ where a model fails (per-anchor results)


def per_category_means(categories: list[str], ap: np.ndarray, pk: np.ndarray) -> list[dict]:
    """Per category, the mean AP and P@k of its anchors (``categories[i]`` is anchor i's; ``ap``/``pk`` (n,),
    NaN for an anchor without a relevant target, which is counted in ``n_undefined`` and left out of the means).

    Rows [{"category", "p@k", "map", "n", "n_undefined"}] worst P@k first (then MAP, then name; categories
    without a defined anchor last), plus the overall means as category "(all)" at the end."""
    cats = np.asarray(categories, dtype=object)
    ap, pk = np.asarray(ap, dtype=np.float64), np.asarray(pk, dtype=np.float64)
    defined_all = ~np.isnan(ap)

    def row(name: str, mask: np.ndarray) -> dict:
        ok = mask & defined_all
        return {"category": name, "p@k": float(pk[ok].mean()) if ok.any() else float("nan"),
                "map": float(ap[ok].mean()) if ok.any() else float("nan"), "n": int(ok.sum()),
                "n_undefined": int(mask.sum() - ok.sum())}

    rows = [row(c, cats == c) for c in sorted(set(categories))]
    rows.sort(key=lambda r: (np.nan_to_num(r["p@k"], nan=2.0), np.nan_to_num(r["map"], nan=2.0), r["category"]))
    return rows + [row("(all)", np.ones(len(cats), dtype=bool))]


def category_confusion_counts(categories: list[str], anchors: np.ndarray, top: np.ndarray) -> dict:
    """How often each category holds the top places of each category's anchors.

    ``categories``: one per collection segment; ``anchors`` (n,) collection indices of the anchors; ``top``
    (n, K) collection indices of each anchor's best targets, -1 for padding (ignored). Returns
    {"categories": sorted names (C), "counts": (C, C) int64 (row: anchor's category, column: target's),
    "share": (C, C) rows normalised to 1 (0 for a row without targets)}."""
    names = sorted(set(categories))
    code = {c: i for i, c in enumerate(names)}
    seg_code = np.array([code[c] for c in categories], dtype=np.int64)
    top = np.asarray(top, dtype=np.int64).reshape(len(anchors), -1)
    counts = np.zeros((len(names), len(names)), dtype=np.int64)
    rows = np.repeat(seg_code[np.asarray(anchors, dtype=np.int64)], top.shape[1])
    flat = top.reshape(-1)
    valid = flat >= 0
    np.add.at(counts, (rows[valid], seg_code[np.maximum(flat, 0)][valid]), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.nan_to_num(counts / counts.sum(axis=1, keepdims=True))
    return {"categories": names, "counts": counts, "share": share}
