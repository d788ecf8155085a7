"""Ranking one anchor among a million segments (issue #14): explorer.ann's IVF index against exact search.

The collection has real structure: the shipped BiDNN's joint embeddings of flowers102_reed's 8,189 segments
(PCA to ``--dim``), each replicated with Gaussian noise (per dimension sigma = ``--noise`` x the median
nearest-neighbour distance / sqrt(dim)) up to ``--n`` rows. Queries are fresh noisy replicas, not in the
index. Reported: index build time (train, add), the nprobe chosen for recall@10 >= 0.95 on held-out rows,
recall@10 of the queries against exact search, single-query latency p50 / p95 (IVF and exact), memory.

    python bench/bench_ann.py                 # 1,000,000 x 256 -> bench/results/ann.{md,json}
    python bench/bench_ann.py --n 200000      # smaller

Timings depend on what else runs; the machine's load average is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def rss_gb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--noise", type=float, default=2.0)  # 0.5 keeps a replica nearer its source than any other segment: nprobe 1 sufficed
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--checkpoint", default="shipped/bidnn-flowers102_reed.pt")
    ap.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = ap.parse_args()

    from explorer import api
    from explorer.ann import build_index, exact_search, normalise, recall_at

    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    base = api.embeddings(args.checkpoint, "flowers102_reed")["joint"].astype(np.float64)
    base -= base.mean(0)
    _, _, vt = np.linalg.svd(base[np.random.default_rng(0).choice(len(base), 4000, replace=False)], full_matrices=False)
    base = (base @ vt[: args.dim].T).astype(np.float32)  # PCA to dim
    nb = normalise(base)
    sample = nb[:2000]
    nn = np.sort(2 - 2 * (sample @ nb.T), axis=1)[:, 1]  # squared distance to the nearest other segment
    sigma = args.noise * float(np.median(np.sqrt(np.maximum(nn, 0)))) / np.sqrt(args.dim)
    rng = np.random.default_rng(1)
    src = rng.integers(0, len(nb), args.n)
    x = nb[src] + rng.normal(0, sigma, (args.n, args.dim)).astype(np.float32)
    q_src = rng.integers(0, len(nb), args.queries)
    queries = nb[q_src] + rng.normal(0, sigma, (args.queries, args.dim)).astype(np.float32)
    make_s = time.perf_counter() - t0
    print(f"{args.n:,} x {args.dim} embeddings from {len(nb):,} real ones (sigma {sigma:.4f}) in {make_s:.1f} s; "
          f"RSS {rss_gb():.2f} GB", flush=True)

    rss0 = rss_gb()
    index = build_index(x, exact_below=0)
    rss1 = rss_gb()
    info = index.info
    print(f"IVF: nlist {info['nlist']}, train {info['train_s']:.1f} s, add {info['add_s']:.1f} s, nprobe {info['nprobe']} "
          f"(recall@10 {info['recall@10']:.3f} on {info['n_check']} held-out rows); index memory +{rss1 - rss0:.2f} GB", flush=True)

    xn = normalise(x)
    t = time.perf_counter()
    exact_ids, _ = exact_search(xn, normalise(queries), 10)
    exact_batch_s = time.perf_counter() - t
    ivf_ms, exact_ms = [], []
    ids_all = []
    for i in range(args.queries):
        t = time.perf_counter()
        ids, _ = index.search(queries[i:i + 1], 10)
        ivf_ms.append(1000 * (time.perf_counter() - t))
        ids_all.append(ids[0])
    for i in range(min(20, args.queries)):
        t = time.perf_counter()
        exact_search(xn, normalise(queries[i:i + 1]), 10)
        exact_ms.append(1000 * (time.perf_counter() - t))
    recall = recall_at(np.array(ids_all), exact_ids, 10)
    res = {
        "created": datetime.now().isoformat(timespec="seconds"), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_average": load, "n": args.n, "dim": args.dim, "noise": args.noise, "sigma": sigma, "source": args.checkpoint,
        "n_source": len(nb), "queries": args.queries, "index": info, "recall@10_queries": recall,
        "ivf_ms_p50": float(np.percentile(ivf_ms, 50)), "ivf_ms_p95": float(np.percentile(ivf_ms, 95)),
        "exact_ms_p50": float(np.percentile(exact_ms, 50)), "exact_ms_p95": float(np.percentile(exact_ms, 95)),
        "exact_batch_s": exact_batch_s, "embeddings_gb": x.nbytes / 1e9, "index_rss_gb": rss1 - rss0,
        "faiss_threads": __import__("faiss").omp_get_max_threads(),
    }
    print(f"queries: recall@10 {recall:.3f}; IVF p50 {res['ivf_ms_p50']:.2f} ms p95 {res['ivf_ms_p95']:.2f} ms; "
          f"exact p50 {res['exact_ms_p50']:.0f} ms", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ann.json").write_text(json.dumps(res, indent=1) + "\n")
    ok = recall >= 0.95 and res["ivf_ms_p95"] < 10
    md = [
        "# Ranking one anchor among many segments (explorer.ann)", "",
        f"`python bench/bench_ann.py --n {args.n} --noise {args.noise}` on {res['created']} ({res['machine']}, load average {load:.1f} at the "
        f"start, faiss threads {res['faiss_threads']}). Embeddings: the {len(nb):,} joint embeddings of `{args.checkpoint}` "
        f"on flowers102_reed, PCA to {args.dim}-d, replicated with Gaussian noise (sigma {sigma:.4f} per dimension = "
        f"{args.noise} x the median nearest-neighbour distance / sqrt(dim)) to {args.n:,} rows; {args.queries} queries "
        "are fresh noisy replicas (not in the index).", "",
        "| measure | value |", "| --- | ---: |",
        f"| rows x dim | {args.n:,} x {args.dim} ({res['embeddings_gb']:.2f} GB float32) |",
        f"| IVF lists (nlist = sqrt N) | {info['nlist']:,} |",
        f"| train / add | {info['train_s']:.1f} s / {info['add_s']:.1f} s |",
        f"| nprobe chosen (recall@10 >= 0.95 on {info['n_check']} held-out rows) | {info['nprobe']} (recall {info['recall@10']:.3f}) |",
        f"| recall@10 of the {args.queries} queries vs exact | {recall:.3f} |",
        f"| IVF query p50 / p95 | {res['ivf_ms_p50']:.2f} / {res['ivf_ms_p95']:.2f} ms |",
        f"| exact query p50 / p95 (numpy, one query) | {res['exact_ms_p50']:.0f} / {res['exact_ms_p95']:.0f} ms |",
        f"| index memory (RSS growth) | {res['index_rss_gb']:.2f} GB |", "",
        f"Target (issue #14): one anchor in < 10 ms with recall@10 >= 0.95: **{'met' if ok else 'not met'}**.", "",
    ]
    (out / "ann.md").write_text("\n".join(md))
    print(f"wrote {out / 'ann.md'}")


if __name__ == "__main__":
    main()
