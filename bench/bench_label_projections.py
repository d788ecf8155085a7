"""The validation grid that chose JRL's and LGCFL's default weights (docs/models.md), on Wikipedia.

Each setting trains the closed-form kind on the bench's train part and reports val P@10 / MAP (the runner's
validation hold-out); nothing here reads the test split.

    python bench/bench_label_projections.py    # -> bench/results/label_projections.{md,json}
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

GRID = {
    "jrl": [{"lambda_sparse": a, "lambda_graph": b} for a, b in itertools.product([0.1, 1.0, 10.0, 100.0], [0.0, 0.1, 1.0])],
    "lgcfl": [{"lambda_image": a, "lambda_text": a, "groups_image": g} for a, g in itertools.product([0.1, 1.0, 10.0, 100.0], [1, 4, 16])],
}


def main() -> None:
    from explorer.train import train

    rows = []
    for kind, settings in GRID.items():
        for ov in settings:
            t0 = time.time()
            run = train(kind, "wikipedia", device="cpu", out=Path(tempfile.mkdtemp()) / "r", overrides=ov, progress_bar=False)
            m = json.loads((run / "best.json").read_text())["metrics"]
            rows.append({"kind": kind, "overrides": ov, "val_p@10": m["val_p@10"], "val_map": m["val_map"], "seconds": time.time() - t0})
            print(kind, ov, f"val P@10 {m['val_p@10']:.4f} MAP {m['val_map']:.4f}", flush=True)
    out = REPO / "bench" / "results"
    (out / "label_projections.json").write_text(json.dumps(rows, indent=1) + "\n")
    md = ["# JRL / LGCFL weights on Wikipedia validation", "", "`python bench/bench_label_projections.py`; val split = the "
          "runner's hold-out of train. Bold: the default chosen (for JRL, the best with the graph term on).", "",
          "| kind | setting | val P@10 | val MAP |", "| --- | --- | ---: | ---: |"]
    from explorer.models.jrl import JrlConfig
    from explorer.models.lgcfl import LgcflConfig

    defaults = {"jrl": JrlConfig(), "lgcfl": LgcflConfig()}
    for r in rows:
        is_default = all(getattr(defaults[r["kind"]], k) == v for k, v in r["overrides"].items())
        setting = ", ".join(f"{k}={v}" for k, v in r["overrides"].items())
        cell = f"**{setting}**" if is_default else setting
        md.append(f"| {r['kind']} | {cell} | {r['val_p@10']:.4f} | {r['val_map']:.4f} |")
    (out / "label_projections.md").write_text("\n".join(md) + "\n")
    print(f"wrote {out / 'label_projections.md'}")


if __name__ == "__main__":
    main()
