"""How well does the inverted generator name an image's content? (paper's Table 3, measured)

For every image of a split (default: flowers102_reed val), the top-k words of both inversions
(``transposed``: the paper's inverted generator; ``optimise``: gradient descent on the text vector)
are compared with the words of the image's own transcript, beside a random-words baseline and the
k most frequent training words. Prints a table and writes JSON (default bench/results/topwords.json).

    python bench/bench_topwords.py [--checkpoint checkpoints/gan_cls-flowers102_reed.pt] [--limit 200]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from explorer.analysis import topwords_quality
from explorer.api import load_model
from explorer.data.collection import load_collection
from explorer.data.images import keyframes_uint8, to_model_range
from explorer.paths import REPO_ROOT, checkpoints_dir


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=str(checkpoints_dir() / "gan_cls-flowers102_reed.pt"))
    p.add_argument("--collection", default="flowers102_reed")
    p.add_argument("--split", default="val")
    p.add_argument("--k", type=int, default=15)
    p.add_argument("--limit", type=int, default=None, help="only the first N images (the optimise method is slow)")
    p.add_argument("--optimise-steps", type=int, default=100)
    p.add_argument("--out", default=str(REPO_ROOT / "bench" / "results" / "topwords.json"))
    args = p.parse_args()

    lm = load_model(args.checkpoint)
    coll = load_collection(args.collection)
    idx = [i for i, s in enumerate(coll.segments) if s.split == args.split][: args.limit]
    images = to_model_range(keyframes_uint8(coll)[idx])  # (n, 3, 64, 64)
    transcripts = [coll.segments[i].text for i in idx]
    train_texts = [s.text for s in coll.segments if s.split == "train"]
    wv = lm.word_vectors

    results, timings = {}, {}
    for method in ("transposed", "optimise"):
        t0 = time.perf_counter()
        vecs = []
        for start in range(0, len(idx), 64):
            batch = images[start : start + 64]
            if method == "transposed":
                with torch.no_grad():
                    vecs.append(lm.model.invert_transposed(batch))
            else:
                vecs.append(lm.model.invert_optimise(batch, steps=args.optimise_steps))
        vecs = torch.cat(vecs).numpy()
        timings[method] = (time.perf_counter() - t0) / len(idx)
        lists = [[w for w, _ in wv.nearest(v, k=args.k)] for v in vecs]
        results[method] = topwords_quality(lists, transcripts, wv.vocab, train_texts, k=args.k)
        results[method]["examples"] = [{"id": coll.segments[i].id, "words": ws} for i, ws in zip(idx[:5], lists[:5])]

    base = results["transposed"]
    rows = [("inverted generator (transposed kernels)", results["transposed"]["method"]),
            ("optimisation-based inversion", results["optimise"]["method"]),
            (f"random {args.k} vocabulary words", base["random"]),
            (f"{args.k} most frequent training words", base["frequent"])]
    print(f"top-{args.k} words vs the image's own transcript, {args.collection} {args.split}, {len(idx)} images\n")
    print(f"{'method':<44}{'hit rate':>10}{'precision':>11}")
    for name, r in rows:
        print(f"{name:<44}{r['hit_rate']:>10.3f}{r['precision']:>11.3f}")
    print(f"\nseconds per image: transposed {timings['transposed'] * 1e3:.1f} ms, optimise {timings['optimise'] * 1e3:.0f} ms")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"checkpoint": args.checkpoint, "collection": args.collection, "split": args.split,
                               "n": len(idx), "k": args.k, "results": results, "seconds_per_image": timings}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
