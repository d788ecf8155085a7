"""Benchmark the visual extractors: per-image time of MobileNet batched vs one by one, and of VGG-19.

    python bench/bench_visual.py                 # mobilenet, 128 random 224x224 images
    python bench/bench_visual.py --n 32 --vgg19  # also VGG-19 fc7 (needs local weights)
    python bench/bench_visual.py --collection flowers102_reed   # end to end, cached afterwards

Numbers depend on what else runs on the machine: on 2 idle CPU cores MobileNet took ~11.5 ms/image
for every batch size (1, 8, 16, 32; outputs bit-identical), i.e. batching only saves Python overhead.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _time(fn, repeat: int = 2) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=128, help="random images per measurement")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--vgg19", action="store_true", help="also time VGG-19 fc7 (needs local weights)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--collection", help="time extract_collection_features(..., 'mobilenet', refresh=True)")
    args = ap.parse_args()

    from explorer.features.visual import MobileNetExtractor, VGG19Extractor, VisualModelUnavailable

    x = np.random.default_rng(0).integers(0, 256, (args.n, 224, 224, 3), dtype=np.uint8)
    ref = None
    for b in (1, 8, 16, 32):
        ext = MobileNetExtractor(num_threads=args.threads, batch_size=b)
        try:
            ext.extract(x[:1])  # load + warm up
        except VisualModelUnavailable as e:
            print(f"mobilenet unavailable: {e}")
            break
        out = ext.extract(x)
        ref = out if ref is None else ref
        same = np.array_equal(out, ref)
        t = _time(lambda: ext.extract(x))
        print(f"mobilenet batch={b:2d} threads={args.threads}: {1e3 * t / args.n:6.2f} ms/img  (same as batch=1: {same})")

    if args.vgg19:
        ext = VGG19Extractor(device=args.device)
        try:
            ext.extract(x[:1])
            n = min(args.n, 16)
            t = _time(lambda: ext.extract(x[:n]), repeat=1)
            print(f"vgg19 fc7 on {args.device}: {1e3 * t / n:.1f} ms/img")
        except VisualModelUnavailable as e:
            print(f"vgg19 unavailable: {e}")

    if args.collection:
        from explorer.data.collection import load_collection
        from explorer.features.visual import extract_collection_features

        col = load_collection(args.collection)
        t0 = time.perf_counter()
        feats = extract_collection_features(col, "mobilenet", refresh=True)
        t = time.perf_counter() - t0
        print(f"{args.collection}: {feats.shape} in {t:.1f} s ({1e3 * t / len(col):.1f} ms/img)")
        t0 = time.perf_counter()
        extract_collection_features(col, "mobilenet")
        print(f"cache hit: {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
