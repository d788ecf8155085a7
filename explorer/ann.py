"""Ranking at scale: exact cosine top-k for small collections, a FAISS IVF index for large ones.

``build_index(emb)`` L2-normalises the (N, D) embeddings (cosine = inner product) and returns a
``RankIndex`` whose ``search(queries, k)`` gives each query's k best gallery rows and their cosines:

- below ``exact_below`` rows (default 200,000): exact, a blocked matrix product (numpy), no approximation;
- from there on: FAISS ``IndexIVFFlat`` (inner product) with ``nlist`` = sqrt(N) centroids (1,000 at a million
  rows) trained by k-means on a seeded sample of at most 64 x nlist rows (FAISS asks for 30-256 per centroid;
  4 sqrt(N) lists trained on 256 per list took minutes on 2 cores for no gain we could measure). ``nprobe`` (lists visited per query) is chosen, not guessed:
  starting at 1 and doubling, the first value whose recall@10 against exact search on ``n_check`` held-out
  gallery rows used as queries reaches ``target_recall`` (0.95). The chosen nprobe and the recall measured
  for it are kept in ``RankIndex.info`` (and in the sidecar when saved).

``save(path)`` / ``load(path)``: the FAISS index file (or the normalised embeddings for an exact index) and
a JSON sidecar with ``info``. ``cached_index(key, rows)`` keeps one index per key (e.g. an embeddings file x a
split) under ``CACHE/ann/``, built the first time and loaded afterwards. Recall is measured on real embeddings, never assumed: on random vectors IVF
recall is poor, on clustered (real) embeddings it is high (bench/bench_ann.py).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

EXACT_BELOW = 200_000
TARGET_RECALL = 0.95


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), float32, C-contiguous."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


def exact_search(gallery: np.ndarray, queries: np.ndarray, k: int, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top-k of normalised rows: (ids (Q, k) int64, scores (Q, k) float32), best first
    (equal scores: the lower row first)."""
    k = min(k, len(gallery))
    ids = np.empty((len(queries), k), dtype=np.int64)
    scores = np.empty((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), block):
        s = queries[start:start + block] @ gallery.T  # (b, N)
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        val = np.take_along_axis(s, part, axis=1)
        order = np.lexsort((part, -val), axis=1)  # score descending, then row ascending
        ids[start:start + block] = np.take_along_axis(part, order, axis=1)
        scores[start:start + block] = np.take_along_axis(val, order, axis=1)
    return ids, scores


def recall_at(approx_ids: np.ndarray, exact_ids: np.ndarray, k: int = 10) -> float:
    """Mean over queries of |approx top-k ∩ exact top-k| / k."""
    hits = [len(set(a[:k]) & set(e[:k])) for a, e in zip(approx_ids, exact_ids)]
    return float(np.mean(hits) / k) if hits else 1.0


@dataclass
class RankIndex:
    """Top-k cosine search over a fixed gallery (see the module doc); ``info`` says how it was built."""

    kind: str  # "exact" | "ivf"
    info: dict = field(default_factory=dict)
    gallery: np.ndarray | None = None  # exact: the normalised (N, D) rows
    faiss_index: object = None  # ivf: a faiss.IndexIVFFlat

    def search(self, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        q = normalise(np.atleast_2d(queries))
        if self.kind == "exact":
            return exact_search(self.gallery, q, k)
        scores, ids = self.faiss_index.search(q, k)
        return ids.astype(np.int64), scores.astype(np.float32)

    def save(self, path: str | Path) -> None:
        import faiss

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        if self.kind == "exact":
            with open(tmp, "wb") as f:
                np.save(f, self.gallery)
        else:
            faiss.write_index(self.faiss_index, str(tmp))
        # the sidecar first, the index last: a reader that finds the index finds its sidecar
        from .cache import atomic_write_text

        atomic_write_text(path.with_suffix(path.suffix + ".json"), json.dumps({"kind": self.kind, **self.info}, indent=1))
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> "RankIndex":
        import faiss

        path = Path(path)
        meta = json.loads(path.with_suffix(path.suffix + ".json").read_text())
        kind = meta.pop("kind")
        if kind == "exact":
            return cls("exact", meta, gallery=np.load(path))
        index = faiss.read_index(str(path))
        index.nprobe = int(meta["nprobe"])
        return cls("ivf", meta, faiss_index=index)


def build_index(emb: np.ndarray, exact_below: int = EXACT_BELOW, nlist: int | None = None,
                target_recall: float = TARGET_RECALL, n_check: int = 200, k_check: int = 10, seed: int = 0) -> RankIndex:
    """A ``RankIndex`` over the rows of ``emb`` (N, D): exact below ``exact_below`` rows, else IVF with
    nprobe chosen to reach ``target_recall`` recall@``k_check`` on ``n_check`` held-out query rows."""
    x = normalise(emb)
    n, d = x.shape
    t0 = time.perf_counter()
    if n < exact_below:
        return RankIndex("exact", {"n": n, "dim": d, "build_s": time.perf_counter() - t0}, gallery=x)
    import faiss

    nlist = int(nlist or max(16, round(math.sqrt(n))))
    rng = np.random.default_rng(seed)
    sample = x[rng.choice(n, size=min(n, 64 * nlist), replace=False)]
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    index.train(sample)
    t_train = time.perf_counter() - t0
    index.add(x)
    t_add = time.perf_counter() - t0 - t_train
    # nprobe: the smallest power of two reaching the target recall against exact search
    check = x[rng.choice(n, size=min(n_check, n), replace=False)]
    exact_ids, _ = exact_search(x, check, k_check)
    nprobe, recall = 1, 0.0
    while True:
        index.nprobe = nprobe
        _, ids = index.search(check, k_check)
        recall = recall_at(ids, exact_ids, k_check)
        if recall >= target_recall or nprobe >= nlist:
            break
        nprobe = min(nlist, nprobe * 2)
    info = {"n": n, "dim": d, "nlist": nlist, "nprobe": nprobe, f"recall@{k_check}": recall,
            "target_recall": target_recall, "n_check": len(check), "train_s": t_train, "add_s": t_add,
            "build_s": time.perf_counter() - t0, "seed": seed}
    return RankIndex("ivf", info, faiss_index=index)


def cached_index(key: dict, rows: Callable[[], np.ndarray], **build_kw) -> RankIndex:
    """The ``RankIndex`` stored under ``key`` (a JSON-able dict naming what the rows are: an embeddings file
    and a split) in ``CACHE/ann/``, or one built from ``rows()`` (N, D) with ``build_index(**build_kw)``
    and saved there. An entry whose stored key differs is rebuilt."""
    from .cache import key_digest
    from .paths import cache_dir

    path = cache_dir() / "ann" / f"{key_digest(key)}.index"
    stored_key = json.loads(json.dumps(key, default=str))
    try:
        index = RankIndex.load(path)
        if index.info.get("key") == stored_key:
            return index
    except (OSError, ValueError, KeyError, RuntimeError):
        pass  # absent, half-written or unreadable: build it
    index = build_index(rows(), **build_kw)
    index.info["key"] = stored_key
    index.save(path)
    return index
