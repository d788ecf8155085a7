"""GAN-CLS vs single modalities over seeds on flowers102_reed (README table; issue #3's central claim).

Evaluates each seed's ``best.pt`` (selected on val by the runner) on val and test, beside text only and
visual only (pixels), and a one-sided paired t-test over test anchors of GAN-CLS (seed 0) vs text only.
Prints a markdown table and writes bench/results/gan_cls_seeds.json.

    python bench/gan_cls_seeds.py runs/gan_cls-std-g1-s0 runs/gan_cls-std-g1-s1 runs/gan_cls-std-g1-s2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from explorer.data.collection import load_collection
from explorer.evaluate import embeddings, split_indices
from explorer.metrics import hyperlinking_eval, mean_std, paired_ttest_one_sided
from explorer.paths import REPO_ROOT


def per_split(model: str, coll, split: str, **kw) -> dict:
    emb = embeddings(model, coll, split, progress=False, **kw)["joint"]
    cats = [coll.segments[i].category for i in split_indices(coll, split)]
    return hyperlinking_eval(emb, cats, k=10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+")
    p.add_argument("--collection", default="flowers102_reed")
    p.add_argument("--out", default=str(REPO_ROOT / "bench" / "results" / "gan_cls_seeds.json"))
    args = p.parse_args()
    coll = load_collection(args.collection)
    rows, per_query = {}, {}
    for name, model, kw in [("text only", "text-only", {}), ("visual only (pixels)", "visual-only", {"visual": "pixels"})]:
        res = {s: per_split(model, coll, s, **kw) for s in ("val", "test")}
        rows[name] = {f"{s}_{m}": [float(res[s][m])] for s in res for m in ("p@10", "map")}
        per_query[name] = res["test"]["per_query"]["ap"]
    gan = {"val_p@10": [], "val_map": [], "test_p@10": [], "test_map": []}
    for i, run in enumerate(args.runs):
        ckpt = str(Path(run) / "best.pt")
        for s in ("val", "test"):
            r = per_split(ckpt, coll, s)
            gan[f"{s}_p@10"].append(float(r["p@10"]))
            gan[f"{s}_map"].append(float(r["map"]))
            if s == "test" and i == 0:
                per_query["gan_cls"] = r["per_query"]["ap"]
    rows[f"GAN-CLS ({len(args.runs)} seeds)"] = gan
    ttest = paired_ttest_one_sided(per_query["gan_cls"], per_query["text only"])
    print(f"| model | val P@10 | val MAP | test P@10 | test MAP |\n| --- | ---: | ---: | ---: | ---: |")
    for name, r in rows.items():
        cells = []
        for key in ("val_p@10", "val_map", "test_p@10", "test_map"):
            m, sd = mean_std(np.array(r[key]))
            cells.append(f"{m:.4f} ± {sd:.4f}" if len(r[key]) > 1 else f"{m:.4f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\nper-seed test P@10: {gan['test_p@10']}")
    print(f"one-sided paired t-test over test anchors' AP, H1: GAN-CLS (seed 0) > text only: t = {ttest['t']:.3f}, p = {ttest['p']:.3g}, n = {ttest['n']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"runs": args.runs, "rows": rows, "ttest_gan_vs_text_ap": ttest}, indent=2))


if __name__ == "__main__":
    main()
