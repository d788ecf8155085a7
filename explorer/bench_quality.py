"""The experiment tables: ``explorer bench quality --collection NAME --seeds 5 [--models ...]``.

For every requested model and seed this trains what is missing (or reuses / resumes the run directory
``runs/bench/<collection>/<kind>-s<seed>/``, via ``explorer.train.train``), takes the checkpoint the
runner selected on validation (``best.pt``: best val P@10; on Wikipedia, which has no val split, the
runner holds out a deterministic ~10 % of train), evaluates it on the TEST split and writes
``bench/results/quality-<collection>.md`` and ``.json``:

1. **Hyperlinking** (Vukotić et al. ICMR 2017, Table 2 style): P@10 and MAP, mean ± std over seeds,
   for text only, visual only, the multimodal kinds and any others asked for, with a one-sided paired
   t-test of the best (by mean P@10) against the runner-up on the metric ranked: test P@10 per
   anchor, each model's value averaged over its seeds (``significance``); the paired test over
   per-seed P@10 is added for reference when both models vary with the seed.
2. **Crossmodal retrieval** (CM-GANs style): MAP image->text, text->image, their average, image->all,
   text->all, their average, for every model whose ``embed`` returns ``image`` and ``text``; the CM-GAN
   ablation table (presets of ``explorer.models.cmgan.CMGAN_ABLATIONS``, when cmgan is requested and
   that dict exists); and MAP per category.
3. On ``wikipedia``: published numbers beside ours, with each protocol stated.

Protocols (``explorer.metrics``): relevance = same category; hyperlinking ranks all other test
segments by cosine of ``joint`` embeddings; crossmodal queries rank the other modality's test items
(or all items, itself excluded) by cosine, non-interpolated AP over the full ranking; 11-point
interpolated MAP is computed too, for tables that use it. Kinds not in ``MODELS`` are reported as
missing, kinds that cannot run on the collection (keyframe models on a feature-only collection) as
not applicable, and a failing run as failed with its error: none of these stops the others.

Everything is a library function (``run_quality``) returning the JSON dict; the CLI only parses
arguments. The per-query arrays behind the t-tests are stored in the JSON so the numbers can be
re-derived (``tests/test_bench_quality.py`` does).
"""

from __future__ import annotations

import json
import math
import re
import platform
import time
import traceback
import warnings
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np

from .metrics import crossmodal_map, hyperlinking_eval, mean_std, paired_ttest_one_sided, retrieval_metrics
from .paths import REPO_ROOT, runs_dir

#: Table 2 rows, in the paper's order (then anything else requested)
TABLE2_ORDER = ("text-only", "visual-only", "multimodal_ae", "bidnn", "gan_cls", "cmgan", "contrastive")
#: kinds not in Table 2 that the default run includes when registered
EXTRA_ORDER = ("cca", "kcca", "cfa", "corrae", "dcca", "jrl", "lgcfl", "cmdn", "deepsm", "ccl")
BASELINES = ("text-only", "visual-only")
K = 10
#: Configuration the bench uses unless ``overrides`` say otherwise. GAN-CLS runs the setting selected on
#: val in docs/gan_cls.md (the shipped checkpoint's): with the paper's own (raw averaged word2vec,
#: 4 G steps per D step) G wins from step 2 and val P@10 is 0.060, at ~4.6 min per epoch on 2 cores.
DEFAULT_OVERRIDES: dict[str, dict] = {"gan_cls": {"text_norm": "standardize", "g_steps": 1, "epochs": 25},
                                      "gan_proj": {"epochs": 7}}  # its recipe's budget (docs/gan_proj.md)
#: the row of cmgan's runs evaluated with ``retrieval_space="semantic"`` (softmax posteriors)
SEMANTIC_SPACE_ROW = "cmgan-semantic-space"
#: ``seeds_of`` key that caps the seeds of every CM-GAN ablation preset
ABLATIONS_KEY = "ablations"
CROSSMODAL_COLUMNS = (("img2txt", "image→text"), ("txt2img", "text→image"), ("average", "average"),
                      ("img2all", "image→all"), ("txt2all", "text→all"), ("average_all", "average"))

#: Published Wikipedia results (image query, text query), test split of Rasiwasia et al. (2,173 / 693).
PUBLISHED_WIKIPEDIA = [
    {"method": "random", "source": "Rasiwasia et al., ACM MM 2010, Table 4", "img2txt": 0.118, "txt2img": 0.118,
     "protocol": "non-interpolated MAP", "supervised": False},
    {"method": "correlation matching (CCA, 9 components)", "source": "Rasiwasia et al., ACM MM 2010, Table 4",
     "img2txt": 0.249, "txt2img": 0.196, "protocol": "non-interpolated MAP", "supervised": False},
    {"method": "semantic matching", "source": "Rasiwasia et al., ACM MM 2010, Table 4", "img2txt": 0.225,
     "txt2img": 0.223, "protocol": "non-interpolated MAP", "supervised": True},
    {"method": "semantic correlation matching", "source": "Rasiwasia et al., ACM MM 2010, Table 4", "img2txt": 0.277,
     "txt2img": 0.226, "protocol": "non-interpolated MAP", "supervised": True},
    {"method": "GMLDA", "source": "Sharma et al., CVPR 2012", "img2txt": 0.272, "txt2img": 0.232,
     "protocol": "11-point interpolated MAP", "supervised": True},
]


# --------------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------------


def _finite(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _jsonable(obj):
    """numpy -> lists/floats, NaN/inf -> None (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return _finite(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _fmt(mean: float | None, std: float | None = None, n: int = 1, digits: int = 4) -> str:
    if mean is None or (isinstance(mean, float) and not math.isfinite(mean)):
        return "–"
    if n > 1 and std is not None:
        return f"{mean:.{digits}f} ± {std:.{digits}f}"
    return f"{mean:.{digits}f}"


def _fmt_p(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def default_models() -> list[str]:
    """Table 2 rows, then the linear baselines, then any other registered kind."""
    from .models import MODELS

    names = list(TABLE2_ORDER) + [k for k in EXTRA_ORDER if k in MODELS]
    return names + [k for k in MODELS if k not in names]


def score(emb: dict[str, np.ndarray], categories: list, k: int = K) -> dict:
    """Test-split metrics of one embedding set (per-query arrays under ``"_per_query"``)."""
    hl = hyperlinking_eval(emb["joint"], categories, k=k)
    out = {
        f"p@{k}": float(hl[f"p@{k}"]), "map": float(hl["map"]), "n_queries": int(hl["n_queries"]),
        "per_category": {c: {f"p@{k}": v[f"p@{k}"], "map": v["map"]} for c, v in hl["per_category"].items()},
        "_per_query": {"ap": hl["per_query"]["ap"], f"p@{k}": hl["per_query"][f"p@{k}"]},
    }
    if "image" in emb and "text" in emb:
        cm = crossmodal_map(emb["image"], emb["text"], categories, ap_11pt=True)
        out["crossmodal"] = {
            "img2txt": cm["img2txt"], "txt2img": cm["txt2img"], "average": cm["average"],
            "img2all": cm["img2all"], "txt2all": cm["txt2all"], "average_all": (cm["img2all"] + cm["txt2all"]) / 2,
            "map_11pt": dict(cm["map_11pt"]),
            "per_category": cm["per_category"],
        }
    return out


def _summarise(per_seed: dict[int, dict]) -> dict:
    """{metric: {"mean", "std", "n"}} over seeds for the scalar metrics."""
    keys = [f"p@{K}", "map", "val_p@10", "train_seconds", "run_seconds"]
    cm_keys = [c for c, _ in CROSSMODAL_COLUMNS]
    out: dict = {}

    def add(name, values):
        vals = [v for v in values if v is not None and math.isfinite(v)]
        if vals:
            m, s = mean_std(vals)
            out[name] = {"mean": m, "std": s, "n": len(vals)}

    for key in keys:
        add(key, [r.get(key) for r in per_seed.values()])
    if all("crossmodal" in r for r in per_seed.values()) and per_seed:
        for key in cm_keys:
            add(f"crossmodal.{key}", [r["crossmodal"][key] for r in per_seed.values()])
        for key in ("img2txt", "txt2img"):
            add(f"crossmodal.map_11pt.{key}", [r["crossmodal"]["map_11pt"][key] for r in per_seed.values()])
        cats = sorted(next(iter(per_seed.values()))["crossmodal"]["per_category"])
        out["crossmodal.per_category"] = {
            c: {t: float(np.nanmean([r["crossmodal"]["per_category"][c][t] for r in per_seed.values()]))
                for t in ("img2txt", "txt2img")} for c in cats}
    return out


# --------------------------------------------------------------------------------------------------
# training / reuse and evaluation of one model
# --------------------------------------------------------------------------------------------------


def _run_finished(run_dir: Path) -> bool:
    from .train import read_log

    statuses = [r.get("status") for r in read_log(run_dir) if r.get("type") == "status"]
    return bool(statuses) and statuses[-1] == "finished"


def ensure_run(kind: str, collection: str, seed: int, run_dir: Path, *, overrides: dict | None, visual: str,
               device: str, epochs: int | None, progress_bar: bool, say: Callable[[str], None],
               label: str | None = None) -> tuple[Path, str]:
    """Train, resume or reuse the run in ``run_dir``; returns (checkpoint to evaluate, what was done)."""
    from .train import train

    label = label or kind
    best, latest = run_dir / "best.pt", run_dir / "latest.pt"
    if latest.exists():
        check_run_matches(run_dir, kind, seed, overrides, epochs)
    if latest.exists() and _run_finished(run_dir):
        action = "reused"
        say(f"  {label} seed {seed}: {action} {run_dir}")
    elif latest.exists():
        say(f"  {label} seed {seed}: resuming {run_dir}")
        train(None, None, resume=run_dir, device=device, epochs=epochs, progress_bar=progress_bar)
        action = "resumed"
    else:
        say(f"  {label} seed {seed}: training -> {run_dir}")
        train(kind, collection, epochs=epochs, device=device, seed=seed, out=run_dir, overrides=overrides,
              visual=visual, progress_bar=progress_bar)
        action = "trained"
    return (best if best.exists() else latest), action


class BenchRunMismatch(ValueError):
    """A run directory to reuse was trained with another kind, seed or configuration than asked."""


def check_run_matches(run_dir: Path, kind: str, seed: int, overrides: dict | None, epochs: int | None) -> None:
    """Refuse (``BenchRunMismatch``, naming the folder and each difference) to reuse or resume a run
    whose kind, seed or configuration differs from what is asked: the kind's defaults with
    ``overrides``; epochs are compared with what the run trained (or was asked to train)."""
    from . import checkpoint as ckpt_io
    from .models import MODELS
    from .models.base import config_from_dict

    meta = ckpt_io.read_summary(run_dir / "latest.pt")
    try:
        run_info = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        run_info = {}
    differ: dict = {}
    if meta.get("kind") not in (None, kind):
        differ["kind"] = (meta.get("kind"), kind)
    if run_info.get("seed") is not None and run_info["seed"] != seed:
        differ["seed"] = (run_info["seed"], seed)
    if kind in MODELS and not differ.get("kind"):
        cls = MODELS[kind][1]
        # through JSON, as the run recorded it (tuples become lists)
        asked = json.loads(json.dumps(asdict(config_from_dict(cls, {**asdict(cls()), **(overrides or {})}))))
        have = dict(meta.get("config") or {})
        want_epochs = epochs if epochs is not None else (overrides or {}).get("epochs", asked.get("epochs"))
        asked.pop("epochs", None)
        have.pop("epochs", None)
        trained_epochs = run_info.get("epochs")  # the run's target (kept up to date by resumes)
        differ.update({k: (have.get(k), v) for k, v in asked.items() if k in have and have[k] != v})
        if want_epochs is not None and trained_epochs is not None and trained_epochs != want_epochs:
            differ["epochs"] = (trained_epochs, want_epochs)
    if differ:
        parts = ", ".join(f"{k}: run has {a!r}, asked {b!r}" for k, (a, b) in differ.items())
        raise BenchRunMismatch(f"{run_dir} was trained differently from what is asked ({parts}): move it away, "
                               "or choose another --out")


def _checkpoint_info(path: Path) -> dict:
    """Val metrics and progress of the selected checkpoint; ``run_seconds``: training time of the whole run
    (``latest.pt`` beside it), what training it from scratch costs (``train_seconds`` stops at the best epoch)."""
    from . import checkpoint as ckpt_io

    meta = ckpt_io.read_summary(path)
    metrics = meta.get("metrics") or {}
    cfg = meta.get("config") or {}
    latest = Path(path).with_name("latest.pt")
    run_seconds = ckpt_io.read_summary(latest).get("train_seconds") if latest.exists() else meta.get("train_seconds")
    return {"val_p@10": metrics.get("val_p@10"), "val_map": metrics.get("val_map"),
            "train_seconds": meta.get("train_seconds"), "run_seconds": run_seconds,
            "epoch": (meta.get("progress") or {}).get("epoch"),
            "supervised": _uses_labels(meta.get("kind"), cfg), "config": cfg}


def _uses_labels(kind: str | None, cfg: dict) -> bool:
    """Whether a run's kind and config trained with the category labels (the † of the tables)."""
    from .models import MODELS
    from .models.base import config_from_dict

    if kind not in MODELS:
        return False
    model_cls, config_cls = MODELS[kind]
    try:
        config = config_from_dict(config_cls, cfg, from_checkpoint=True)
    except (TypeError, ValueError):
        return bool(cfg.get("semantic", False))
    return model_cls.uses_labels(config)


def evaluate_model(name: str, kind: str, coll, collection_arg: str, seeds: list[int], *, run_root: Path,
                   overrides: dict | None, visual: str, device: str, epochs: int | None, progress_bar: bool,
                   say: Callable[[str], None], eval_overrides: dict | None = None,
                   label: str | None = None) -> tuple[dict, dict]:
    """One table row: (JSON entry, {seed: per-query arrays}). ``name`` names the run directories;
    ``eval_overrides``: evaluation-time config options applied to the trained checkpoints (the
    same runs evaluated another way, e.g. cmgan's ``retrieval_space``); ``label``: the row in messages."""
    from .evaluate import embeddings, split_indices
    from .models import MODELS

    cats = coll.column("category", split_indices(coll, "test"))
    entry: dict = {"kind": kind, "status": "ok", "per_seed": {}, "run_dirs": {}, "actions": {}}
    if eval_overrides:
        entry["eval_overrides"] = dict(eval_overrides)
    per_query: dict = {}
    name_for_runs, name = name, label or name
    if kind in BASELINES:
        entry.update(deterministic=True, supervised=False, seeds=[seeds[0]])
        t0 = time.time()
        emb = embeddings(kind, coll, "test", visual=visual, device=device, progress=progress_bar)
        res = score(emb, cats)
        per_query[seeds[0]] = res.pop("_per_query")
        res["eval_seconds"] = time.time() - t0
        if kind == "visual-only":
            entry["visual"] = "builtin" if coll.features else visual
        entry["per_seed"][seeds[0]] = res
        say(f"  {kind}: test P@{K} {res[f'p@{K}']:.4f} MAP {res['map']:.4f}")
        entry["summary"] = _summarise(entry["per_seed"])
        return entry, per_query
    if kind not in MODELS:
        entry.update(status="missing", message=f"kind {kind!r} is not registered in explorer.models.MODELS")
        say(f"  {name}: missing (not in MODELS)")
        return entry, per_query
    model_cls = MODELS[kind][0]
    deterministic = model_cls.deterministic
    run_seeds = [seeds[0]] if deterministic else list(seeds)
    entry.update(deterministic=deterministic, seeds=run_seeds)
    if model_cls.wants_pixels and coll.features:
        entry.update(status="not applicable", message=f"{kind} needs keyframe images; {coll.name} has only precomputed features")
        say(f"  {name}: not applicable ({entry['message']})")
        return entry, per_query
    for seed in run_seeds:
        run_dir = run_root / f"{name_for_runs}-s{seed}"
        try:
            ckpt, action = ensure_run(kind, collection_arg, seed, run_dir, overrides=overrides, visual=visual,
                                      device=device, epochs=epochs, progress_bar=progress_bar, say=say, label=name)
            t0 = time.time()
            emb = embeddings(str(ckpt), coll, "test", device=device, progress=progress_bar, config_overrides=eval_overrides)
            res = score(emb, cats)
            res["eval_seconds"] = time.time() - t0
        except BenchRunMismatch:
            raise  # asked for a table of one thing, about to reuse another: stop the whole bench
        except Exception as e:  # one broken run must not stop the table
            entry.update(status="failed", message=f"seed {seed}: {type(e).__name__}: {e}",
                         traceback=traceback.format_exc(limit=6))
            say(f"  {name} seed {seed}: FAILED: {type(e).__name__}: {e}")
            break
        per_query[seed] = res.pop("_per_query")
        info = _checkpoint_info(ckpt)
        res.update({k: info[k] for k in ("val_p@10", "val_map", "train_seconds", "run_seconds", "epoch")})
        if eval_overrides:  # the checkpoint's val numbers and training time belong to the row it was trained for
            res.update({"val_p@10": None, "val_map": None, "train_seconds": None, "run_seconds": None})
        entry["supervised"] = info["supervised"]
        entry["per_seed"][seed] = res
        entry["run_dirs"][seed] = str(run_dir)
        entry["actions"][seed] = action
        cm = res.get("crossmodal")
        say(f"  {name} seed {seed}: val P@10 {info['val_p@10'] if info['val_p@10'] is not None else float('nan'):.4f}"
            f"  test P@{K} {res[f'p@{K}']:.4f} MAP {res['map']:.4f}"
            + (f"  img→txt {cm['img2txt']:.4f} txt→img {cm['txt2img']:.4f}" if cm else ""))
    if entry["status"] == "ok" and not entry["per_seed"]:
        entry.update(status="failed", message="no seed produced a result")
    scored = [(r["val_p@10"], s) for s, r in entry["per_seed"].items() if r.get("val_p@10") is not None]
    if scored:  # the run to ship: selected on val, never on test
        entry["best_val_seed"] = max(scored, key=lambda t: (t[0], -t[1]))[1]
        entry["best_val_run"] = entry["run_dirs"][entry["best_val_seed"]]
    entry["summary"] = _summarise(entry["per_seed"]) if entry["per_seed"] else {}
    return entry, per_query


# --------------------------------------------------------------------------------------------------
# significance
# --------------------------------------------------------------------------------------------------


def significance(best: str, runner: str, entries: dict, per_query: dict) -> dict:
    """One-sided paired t-test of the ranked metric, H1: ``best`` > ``runner`` on test P@10.

    Pairs are the test **anchors**; each model's value for an anchor is its P@10 averaged over all the
    model's seeds (a deterministic model has one), so the test pools the seeds and looks at what the
    table ranks. Anchors undefined for either model (no relevant target) are dropped. When both models
    vary with the seed and share at least 2 seeds, ``over_seeds`` adds the paired test of their
    per-seed test P@10 (n = seeds: low power, shown for reference)."""
    a_e, b_e = entries[best], entries[runner]
    metric = f"p@{K}"
    with warnings.catch_warnings():  # an anchor undefined on every seed stays NaN (dropped by the test)
        warnings.simplefilter("ignore", RuntimeWarning)
        pooled = {m: np.nanmean(np.stack([np.asarray(per_query[m][s][metric], dtype=np.float64) for s in per_query[m]]),
                                axis=0) if per_query.get(m) else None for m in (best, runner)}
    out: dict = {"best": best, "runner_up": runner, "mode": "per-anchor, seed-pooled", "metric": metric,
                 "seeds": {best: sorted(per_query.get(best, {})), runner: sorted(per_query.get(runner, {}))}}
    try:
        if pooled[best] is None or pooled[runner] is None:
            raise ValueError("no per-anchor values")
        res = paired_ttest_one_sided(pooled[best], pooled[runner])
    except ValueError as e:
        res = {"t": None, "p": None, "n": 0, "mean_diff": None, "error": str(e)}
    out.update(a=pooled[best], b=pooled[runner], **res)
    common = [s for s in a_e["per_seed"] if s in b_e["per_seed"]]
    if not a_e["deterministic"] and not b_e["deterministic"] and len(common) >= 2:
        a = [a_e["per_seed"][s][metric] for s in common]
        b = [b_e["per_seed"][s][metric] for s in common]
        out["over_seeds"] = {"seeds": common, "a": a, "b": b, **paired_ttest_one_sided(a, b)}
    return out


# --------------------------------------------------------------------------------------------------
# markdown
# --------------------------------------------------------------------------------------------------


def _label(name: str, entry: dict) -> str:
    lab = name
    if entry.get("kind") == "visual-only" and entry.get("visual"):
        lab = f"visual-only ({entry['visual']})"
    if entry.get("supervised"):
        lab += " †"
    if entry.get("deterministic") and entry.get("kind") not in BASELINES:
        lab += " ‡"
    return lab


def _stat(entry: dict, key: str) -> str:
    s = entry.get("summary", {}).get(key)
    return _fmt(s["mean"], s["std"], s["n"]) if s else "–"


def _short(path: str) -> str:
    """A run directory relative to the repository when it lies inside it."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return path


def _mean(entry: dict, key: str, digits: int = 4) -> str:
    s = entry.get("summary", {}).get(key)
    return f"{s['mean']:.{digits}f}" if s else "–"


def _md(rows: list[dict], text_columns: int = 1, left: tuple[str, ...] = ()) -> list[str]:
    """Rows (dicts with the same keys, in column order) as Markdown table lines, via pandas: the first
    ``text_columns`` columns and those named in ``left`` left-aligned, the numbers right-aligned. A key ending in ``#N`` is shown
    without it (two columns may then share a heading, e.g. the two "average" columns)."""
    import pandas as pd

    if not rows:
        return []
    header = [re.sub(r"#\d+$", "", k) for k in rows[0]]
    frame = pd.DataFrame([list(r.values()) for r in rows], columns=header)
    align = ["left" if i < text_columns or name in left else "right" for i, name in enumerate(header)]
    return frame.to_markdown(index=False, colalign=align, disable_numparse=True).splitlines()


def render_markdown(result: dict) -> str:
    entries, sig = result["models"], result.get("significance")
    ok = [m for m in result["order"] if entries[m]["status"] == "ok"]
    lines = [
        f"# Quality benchmark: {result['collection']}",
        "",
        f"Generated by `explorer bench quality` on {result['created']} ({result['hardware']}); total run time "
        f"{result['run_seconds']:.1f} s. Seeds: {', '.join(map(str, result['seeds']))}. Every number is on the "
        f"**test** split ({result['n_test']} segments); checkpoints were selected on {result['val_split']} by P@10 "
        "(the runner's `best.pt`). Mean ± sample std over seeds; deterministic kinds (‡, and the baselines) are fitted once.",
        *([f"Environment: " + ", ".join(f"{k} {v}" for k, v in result["environment"].items() if v) + "."]
          if result.get("environment") else []),
        "",
        "Protocol: relevance = same category. Hyperlinking: every test segment is an anchor ranking all other test "
        "segments by cosine of the joint embedding. Crossmodal: a query of one modality ranks the other modality's "
        "test items (→text / →image), or all items of both modalities except itself (→all), by cosine; "
        "non-interpolated AP over the full ranking.",
        "",
        f"Command: `{result['command']}`." if result.get("command") else "",
    ]
    comp = result.get("compute")
    if comp:
        lines += ["", f"Compute: this invocation took {result['run_seconds'] / 60:.1f} min (it reuses finished run directories). "
                  f"Training all {comp['n_runs']} runs from scratch took {comp['train_seconds_all_runs'] / 3600:.2f} h of "
                  f"recorded training time plus {comp['eval_seconds'] / 60:.1f} min of evaluation: about "
                  f"{comp['from_scratch_seconds'] / 3600:.1f} h for the whole command from scratch, one run after another "
                  "(training time as each run recorded it, on the hardware in its checkpoint; validation and "
                  "checkpoint writes not included)."]
    if result.get("overrides"):
        lines += ["", "Configuration changed from the kinds' defaults: " + "; ".join(
            f"{k}: " + ", ".join(f"{kk}={vv}" for kk, vv in v.items()) for k, v in result["overrides"].items())
            + (" (`DEFAULT_OVERRIDES`: GAN-CLS as selected on val in docs/gan_cls.md; with the paper's own setting it "
               "does not learn, val P@10 0.060)." if "gan_cls" in result["overrides"] else ".")]
    if result.get("seeds_of"):
        lines += ["", "Fewer seeds (too slow for all on 2 CPU cores): " + ", ".join(
            f"{k} {v}" for k, v in result["seeds_of"].items()) + "; the seeds column says how many each row has."]
    lines += ["", "## Hyperlinking (Table 2 style)", ""]
    lines += _md([{"model": _label(m, entries[m]), f"P@{K}": _stat(entries[m], f"p@{K}"), "MAP": _stat(entries[m], "map"),
                   "val P@10": _stat(entries[m], "val_p@10"), "seeds": str(len(entries[m]["per_seed"])),
                   "train s per run": _mean(entries[m], "run_seconds", 1)} for m in ok])
    if sig:
        lines += ["", _significance_line(sig)]
    if result.get("significance_unsupervised"):
        lines += ["", "Among the models that do not use labels: " + _significance_line(result["significance_unsupervised"])]
    notes = [f"- {m}: **{entries[m]['status']}**: {entries[m].get('message', '')}" for m in result["order"]
             if entries[m]["status"] != "ok"]
    if notes:
        lines += ["", "Not in the table:", *notes]
    lines += ["", "† uses category labels in training (CM-GANs' semantic constraint, JRL, LGCFL, DeepSM, CCL): not comparable as an "
              "unsupervised model. ‡ deterministic closed-form fit (seeds change nothing)."]
    if SEMANTIC_SPACE_ROW in ok:
        lines += ["", f"{SEMANTIC_SPACE_ROW}: the cmgan runs above, not retrained, with each modality embedded as the "
                  "semantic-constraint classifier's softmax posteriors over the categories instead of the common "
                  "representation (Rasiwasia et al.'s semantic space; our option `retrieval_space=semantic`, not the paper's)."]

    cross = [m for m in ok if "crossmodal.img2txt" in entries[m].get("summary", {})]
    if cross:
        lines += ["", "## Crossmodal retrieval MAP (CM-GANs style)", ""]
        lines += _md([{"model": _label(m, entries[m]), **{f"{lab}#{i}": _stat(entries[m], f"crossmodal.{c}") for i, (c, lab) in enumerate(CROSSMODAL_COLUMNS)}}
                      for m in cross])
    abl = result.get("ablations") or {}
    if abl.get("status") == "ok" and abl.get("presets"):
        rows = []
        for preset, e in abl["presets"].items():
            row = {"preset": preset + (" †" if e.get("supervised") else ""), "overrides": e.get("message", e["status"])}
            if e["status"] == "ok":
                row["overrides"] = ", ".join(f"{k}={v}" for k, v in (e.get("overrides") or {}).items())
            for i, (c, lab) in enumerate(CROSSMODAL_COLUMNS):
                row[f"{lab}#{i}"] = _stat(e, f"crossmodal.{c}") if e["status"] == "ok" else ""
            row[f"hyperlinking P@{K}"] = _stat(e, f"p@{K}") if e["status"] == "ok" else ""
            rows.append(row)
        lines += ["", "## CM-GAN ablations", "", *_md(rows, text_columns=2)]
    elif abl:
        lines += ["", f"CM-GAN ablations: {abl.get('status')}: {abl.get('message', '')}"]
    if cross:
        cats = sorted(entries[cross[0]]["summary"]["crossmodal.per_category"])

        def per_category(m: str, c: str) -> str:
            v = entries[m]["summary"]["crossmodal.per_category"].get(c)
            return f"{(v['img2txt'] + v['txt2img']) / 2:.4f}" if v else "–"

        lines += ["", "## Crossmodal MAP per category", "",
                  "Mean of image→text and text→image MAP per query category (mean over seeds).", ""]
        lines += _md([{"category": c, **{_label(m, entries[m]): per_category(m, c) for m in cross}} for c in cats])
    pub = result.get("published")
    if pub:
        lines += ["", "## Wikipedia: published results beside ours", "",
                  "Rasiwasia et al. (ACM MM 2010): image query → texts / text query → images of the 693 test pairs, "
                  "relevance = same category, non-interpolated MAP over the full ranking; correlation matching = CCA "
                  "(9 components) + normalised correlation (cosine). Sharma et al. (CVPR 2012) report 11-point "
                  "interpolated MAP, a different protocol: our rows are given both ways. Ours: mean over seeds; "
                  "models trained on ~90 % of the official train split (the rest is the validation hold-out).", ""]
        rows = []
        for r in pub["rows"]:
            avg = (r["img2txt"] + r["txt2img"]) / 2 if r["img2txt"] is not None and r["txt2img"] is not None else None
            rows.append({"method": r["method"], "source": r["source"], "supervised": "yes" if r.get("supervised") else "no",
                         "image query": _fmt(r["img2txt"], digits=3), "text query": _fmt(r["txt2img"], digits=3),
                         "average": _fmt(avg, digits=3), "protocol": r["protocol"]})
        lines += _md(rows, text_columns=3, left=("protocol",))
        if pub.get("cca_variants"):
            lines += ["", "### Correlation matching (CCA) under protocol variants", "",
                      "Fitted on the full official train split (2,173 pairs, as Rasiwasia et al.; the table above uses the "
                      "bench checkpoint, fitted on the ~90 % of it that is not the validation hold-out), test split, "
                      "one change at a time from the paper setting. Published: 0.249 / 0.196.", ""]
            lines += _md([{"variant": r["variant"], "image query": f"{r['img2txt']:.4f}", "text query": f"{r['txt2img']:.4f}",
                           "image query (11-pt)": f"{r['img2txt_11pt']:.4f}", "text query (11-pt)": f"{r['txt2img_11pt']:.4f}"}
                          for r in pub["cca_variants"]])
    lines += ["", "## Per-run details", "", "train s: the whole run; to best: until the epoch selected on val.", ""]
    detail = [(m, entries[m]) for m in ok if entries[m].get("derived_from") is None]
    detail += [(f"cmgan-{p}", e) for p, e in ((abl or {}).get("presets") or {}).items()
               if e.get("status") == "ok" and e.get("note") is None]
    rows = []
    for m, e in detail:
        for s, r in e["per_seed"].items():
            ts, rs, ep = r.get("train_seconds"), r.get("run_seconds"), r.get("epoch")
            rows.append({"model": m, "seed": str(s), "action": e.get("actions", {}).get(s, "computed"),
                         "run directory": _short(e.get("run_dirs", {}).get(s, "–")),
                         "epoch": str(ep) if ep is not None else "–", "val P@10": _fmt(r.get("val_p@10")),
                         "test P@10": f"{r[f'p@{K}']:.4f}", "train s": f"{rs:.1f}" if rs is not None else "–",
                         "to best s": f"{ts:.1f}" if ts is not None else "–", "eval s": f"{r['eval_seconds']:.1f}"})
    if rows:
        lines += _md(rows, left=("action", "run directory"))
    return "\n".join(lines) + "\n"


def _significance_line(sig: dict) -> str:
    head = (f"One-sided paired t-test, H1: **{sig['best']}** > **{sig['runner_up']}** (best vs runner-up by mean "
            f"P@{K}, then MAP), on test P@{K} per anchor averaged over each model's seeds "
            f"({len(sig['seeds'][sig['best']])} and {len(sig['seeds'][sig['runner_up']])} seed(s))")
    if sig.get("t") is None:
        text = f"{head}: {sig.get('error', 'n/a')}"
    elif not math.isfinite(sig["t"]) and sig["mean_diff"] == 0:
        text = f"{head}: identical on all {sig['n']} anchors, nothing to test"
    else:
        text = f"{head}: t = {sig['t']:.3f}, p = {_fmt_p(sig['p'])}, n = {sig['n']} anchors, mean difference {sig['mean_diff']:+.4f}"
    o = sig.get("over_seeds")
    if o:
        if not math.isfinite(o["t"]) and o["mean_diff"] == 0:
            text += f"; paired over seeds {o['seeds']}: identical on every seed"
        else:
            text += (f"; paired over seeds {o['seeds']} instead (n = {o['n']}): t = {o['t']:.3f}, p = {_fmt_p(o['p'])}")
    return text + "."


# --------------------------------------------------------------------------------------------------
# the runner
# --------------------------------------------------------------------------------------------------


def environment() -> dict:
    """What else the numbers depend on: Python and the versions of the libraries that compute them (each can
    change results in their last bits; ``scripts/constraints-py311.txt`` pins them for a fresh clone)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("torch", "numpy", "scipy", "scikit-learn", "gensim", "faiss-cpu", "ai-edge-litert"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


def _random_baseline(coll, dim: int = 10, seed: int = 0) -> dict:
    """Crossmodal MAP of random (Gaussian) embeddings: the chance level of the protocol."""
    from .evaluate import split_indices

    cats = coll.column("category", split_indices(coll, "test"))
    rng = np.random.default_rng(seed)
    n = len(cats)
    cm = crossmodal_map(rng.standard_normal((n, dim)), rng.standard_normal((n, dim)), cats, ap_11pt=True)
    return cm


def _l2_as_cosine(q: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lift queries (Q, D) and gallery (G, D) so that the **cosine** of the lifted vectors ranks each
    query's gallery exactly as the negative Euclidean distance does (so ``metrics`` can rank it):
    q' = [2q, -1, 0], g' = [g, |g|^2, s] with s = sqrt(M - |g|^2 - |g|^4) making |g'|^2 = M for all g.
    Then q'.g' = 2 q.g - |g|^2 = |q|^2 - |q - g|^2, and |q'| is fixed per query."""
    sq = (g**2).sum(1)  # (G,)
    m = float((sq + sq**2).max()) + 1.0
    q_l = np.concatenate([2 * q, -np.ones((len(q), 1)), np.zeros((len(q), 1))], axis=1)  # (Q, D + 2)
    g_l = np.concatenate([g, sq[:, None], np.sqrt(m - sq - sq**2)[:, None]], axis=1)  # (G, D + 2)
    return q_l, g_l


def wikipedia_cca_variants(coll) -> list[dict]:
    """Rasiwasia et al.'s correlation matching under variants of the protocol (a reproduction check).

    Fitted on the *full* official train split (2,173 pairs, as in the paper; the bench's checkpoints
    use ~90 % of it), evaluated on the 693 test pairs, image query -> texts and text query -> images.
    The rows vary one thing at a time from the paper setting (9 components, centred, cosine).
    """
    from .models.cca import cca_fit, single_thread_blas

    split = np.array(coll.column("split"))
    cats = np.array(coll.categories, dtype=object)
    tr, te = split == "train", split == "test"
    x, y = coll.features["image"].astype(np.float64), coll.features["text"].astype(np.float64)
    c = cats[te]

    def one_way(queries, gallery, sim):
        if sim == "pearson":  # correlation of the two k-vectors (each centred over its components)
            queries, gallery = queries - queries.mean(1, keepdims=True), gallery - gallery.mean(1, keepdims=True)
        elif sim == "l2":  # negative Euclidean distance, through an exact lifting to cosine
            queries, gallery = _l2_as_cosine(queries, gallery)
        res = retrieval_metrics(queries, gallery, (c, c), k=K, ap_11pt=True)
        return res["map"], res["map_11pt"]

    def row(name, fit, sim="cosine", center_proj=True):
        mx, my = (fit["mean_x"], fit["mean_y"]) if center_proj else (0.0, 0.0)
        px, py = (x[te] - mx) @ fit["w_x"], (y[te] - my) @ fit["w_y"]
        i2t, i2t11 = one_way(px, py, sim)
        t2i, t2i11 = one_way(py, px, sim)
        return {"variant": name, "img2txt": i2t, "txt2img": t2i, "img2txt_11pt": i2t11, "txt2img_11pt": t2i11}

    with single_thread_blas():
        paper = cca_fit(x[tr], y[tr], 9, reg=0.0)
        rows = [row("paper setting: 9 components, centred, cosine (normalised correlation), no ridge", paper)]
        rows.append(row("+ ridge reg = 1e-4 (the cca kind's default)", cca_fit(x[tr], y[tr], 9, reg=1e-4)))
        rows.append(row("Pearson correlation instead of cosine", paper, sim="pearson"))
        rows.append(row("negative L2 distance instead of cosine", paper, sim="l2"))
        rows.append(row("projections not centred (raw features x W)", paper, center_proj=False))
        rows.append(row("no centring at all (fit and projection)", cca_fit(x[tr], y[tr], 9, reg=0.0, center=False), center_proj=False))
        for k in (3, 5, 7):
            rows.append(row(f"{k} components", cca_fit(x[tr], y[tr], k, reg=0.0)))
        z = {"mean_x": paper["mean_x"], "mean_y": paper["mean_y"]}
        rows.append(row("components weighted by their canonical correlation", {**z, "w_x": paper["w_x"] * paper["corr"],
                                                                               "w_y": paper["w_y"] * paper["corr"]}))
    return rows


def _ablations(selected: list[str], entries: dict, coll, collection_arg, seeds, run_root, common: dict, say,
               base_overrides: dict | None = None) -> dict | None:
    from .models import MODELS

    if "cmgan" not in selected or "cmgan" not in MODELS:
        return None
    try:
        from .models.cmgan import CMGAN_ABLATIONS
    except (ImportError, AttributeError) as e:
        return {"status": "skipped", "message": f"explorer.models.cmgan.CMGAN_ABLATIONS unavailable ({e})"}
    if entries.get("cmgan", {}).get("status") != "ok":
        return {"status": "skipped", "message": f"cmgan itself is {entries.get('cmgan', {}).get('status')}"}
    base_overrides = base_overrides or {}
    defaults = {**asdict(MODELS["cmgan"][1]()), **base_overrides}
    presets = {}
    say("CM-GAN ablations:")
    for preset, overrides in CMGAN_ABLATIONS.items():
        overrides = dict(overrides)
        if all(defaults.get(k) == v for k, v in overrides.items()):
            e = dict(entries["cmgan"])  # the default configuration: the main cmgan runs
            e["note"] = "default cmgan configuration (same runs as the main table)"
        else:
            e, _ = evaluate_model(f"cmgan-{preset}", "cmgan", coll, collection_arg, seeds, run_root=run_root,
                                  overrides={**base_overrides, **overrides}, say=say, **common)
        e["overrides"] = overrides
        presets[preset] = e
    return {"status": "ok", "presets": presets}


def run_quality(collection: str, seeds: int | list[int] = 5, models: list[str] | None = None, out: str | Path | None = None,
                runs: str | Path | None = None, visual: str = "mobilenet", device: str = "cpu", epochs: int | None = None,
                overrides: dict[str, dict] | None = None, ablations: bool = True, progress_bar: bool = False,
                seeds_of: dict[str, int] | None = None, say: Callable[[str], None] = print) -> dict:
    """Train/reuse, evaluate on test and write ``quality-<collection>.{md,json}``; returns the JSON dict.

    ``seeds``: a count (seeds 0..n-1) or an explicit list. ``models``: kinds and/or ``text-only`` /
    ``visual-only`` (default: ``default_models()``). ``out``: results folder (default
    ``bench/results``). ``runs``: parent of the run directories (default ``runs/bench/<collection>``).
    ``overrides``: per-kind config overrides (``{"kcca": {"n_landmarks": 64}}``), merged over
    ``DEFAULT_OVERRIDES``. ``visual``: the visual features of feature-based kinds and of visual-only on
    keyframe collections. ``seeds_of``: run a model (or, under ``"ablations"``, every CM-GAN preset) on
    only the first N seeds, for kinds too slow for all of them; the tables show each row's seed count.
    """
    from .data.collection import load_collection
    from .evaluate import split_indices
    from .models import MODELS
    from .train import resolve_device

    t_start = time.time()
    coll = load_collection(collection)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        raise ValueError("seeds must be >= 1")
    selected = list(dict.fromkeys(models or default_models()))
    seeds_of = {str(k): int(v) for k, v in (seeds_of or {}).items()}
    bad = [f"{k}={v}" for k, v in seeds_of.items() if v < 1 or (k not in selected and k != ABLATIONS_KEY)]
    if bad:
        raise ValueError(f"seeds_of: each entry must name a requested model (or {ABLATIONS_KEY!r}) and be >= 1, got {', '.join(bad)}")
    unknown = [k for k in (overrides or {}) if k not in MODELS]
    if unknown:
        raise ValueError(f"overrides for unknown kind(s) {', '.join(map(repr, unknown))}; kinds: {', '.join(MODELS)}")
    merged = {k: dict(v) for k, v in DEFAULT_OVERRIDES.items()}
    for k, v in (overrides or {}).items():
        merged[k] = {**merged.get(k, {}), **v}
    overrides = {k: v for k, v in merged.items() if k in selected}

    def seeds_for(name: str) -> list[int]:
        return seed_list[:seeds_of[name]] if name in seeds_of else seed_list

    run_root = Path(runs) if runs else runs_dir() / "bench" / coll.name
    out_dir = Path(out) if out else REPO_ROOT / "bench" / "results"
    device = resolve_device(device)
    test_idx = split_indices(coll, "test")
    common = dict(visual=visual, device=device, epochs=epochs, progress_bar=progress_bar)
    say(f"bench quality: {coll.name} ({len(test_idx)} test segments), seeds {seed_list}, models {', '.join(selected)}")
    say(f"run directories under {run_root}")

    entries: dict = {}
    per_query: dict = {}
    order: list[str] = []  # table rows: the requested models, plus derived rows after their source
    for i, name in enumerate(selected, 1):
        order.append(name)
        say(f"[{i}/{len(selected)}] {name}")
        t0 = time.time()
        entry, pq = evaluate_model(name, name, coll, collection, seeds_for(name), run_root=run_root,
                                   overrides=overrides.get(name), say=say, **common)
        if overrides.get(name):
            entry["overrides"] = overrides[name]
        entry["seconds"] = time.time() - t0
        entries[name], per_query[name] = entry, pq
        if name == "cmgan" and entry["status"] == "ok" and entry.get("supervised"):
            # the same trained runs, retrieving in the classifier's softmax space (semantic matching)
            derived = SEMANTIC_SPACE_ROW
            say(f"    {derived}: the cmgan runs above, embedded as the classifier's softmax posteriors")
            entry, pq = evaluate_model("cmgan", "cmgan", coll, collection, seeds_for(name), run_root=run_root,
                                       overrides=overrides.get(name), say=say, label=derived,
                                       eval_overrides={"retrieval_space": "semantic"}, **common)
            entry["seconds"], entry["derived_from"] = 0.0, "cmgan"
            entries[derived], per_query[derived] = entry, pq
            order.append(derived)

    ok = [m for m in order if entries[m]["status"] == "ok"]
    # by mean P@10, ties broken by mean MAP (P@10 saturates when categories have < 10 test members)
    def mean_of(m, key):
        v = entries[m]["summary"].get(key)
        return v["mean"] if v else -math.inf

    ranked = sorted((m for m in ok if f"p@{K}" in entries[m]["summary"]), key=lambda m: (-mean_of(m, f"p@{K}"), -mean_of(m, "map")))
    # rows re-evaluating another row's runs are not competitors of their source: left out of the tests
    models_only = [m for m in ranked if entries[m].get("derived_from") is None]
    sig = significance(models_only[0], models_only[1], entries, per_query) if len(models_only) >= 2 else None
    # CM-GANs use labels: the same test among the models that learn from the pairs alone
    unsup = [m for m in models_only if not entries[m].get("supervised")]
    sig_unsup = (significance(unsup[0], unsup[1], entries, per_query)
                 if len(unsup) >= 2 and unsup[:2] != models_only[:2] else None)
    abl = _ablations(selected, entries, coll, collection, seeds_for(ABLATIONS_KEY), run_root, common, say,
                     base_overrides=overrides.get("cmgan")) if ablations else None

    published = None
    if coll.layout == "wikipedia" or coll.name == "wikipedia":
        rnd = _random_baseline(coll)
        rows = [dict(r) for r in PUBLISHED_WIKIPEDIA]
        rows.append({"method": "random Gaussian 10-d embeddings (ours, 1 draw)", "source": "this run",
                     "img2txt": rnd["img2txt"], "txt2img": rnd["txt2img"], "protocol": "non-interpolated MAP", "supervised": False})
        for m in ok:
            s = entries[m]["summary"]
            if "crossmodal.img2txt" not in s:
                continue
            sup = bool(entries[m].get("supervised"))
            rows.append({"method": f"{m} (ours)", "source": "this run", "img2txt": s["crossmodal.img2txt"]["mean"],
                         "txt2img": s["crossmodal.txt2img"]["mean"], "protocol": "non-interpolated MAP", "supervised": sup})
            rows.append({"method": f"{m} (ours)", "source": "this run", "img2txt": s["crossmodal.map_11pt.img2txt"]["mean"],
                         "txt2img": s["crossmodal.map_11pt.txt2img"]["mean"], "protocol": "11-point interpolated MAP", "supervised": sup})
        published = {"rows": rows, "random_map_11pt": rnd["map_11pt"]}
        if "cca" in selected:
            say("CCA variants (full official train split)")
            published["cca_variants"] = wikipedia_cca_variants(coll)

    run_seconds = time.time() - t_start
    import torch

    # What the tables cost from scratch: the whole training time of every run (reused ones included)
    # plus this invocation's evaluation time, summed over runs as if trained one after another.
    trained = list(entries.values()) + list(((abl or {}).get("presets") or {}).values())
    # the ablation preset that *is* cmgan, and rows re-evaluating other rows' runs, are counted once
    trained = [e for e in trained if e.get("note") is None and e.get("derived_from") is None]
    train_total = sum(r.get("run_seconds") or 0.0 for e in trained for r in e.get("per_seed", {}).values())
    eval_total = sum(r.get("eval_seconds") or 0.0 for e in trained for r in e.get("per_seed", {}).values())
    n_runs = sum(len(e.get("per_seed", {})) for e in trained if e.get("kind") not in BASELINES)
    compute = {"train_seconds_all_runs": train_total, "eval_seconds": eval_total, "n_runs": n_runs,
               "from_scratch_seconds": train_total + eval_total}
    cmd = [f"explorer bench quality --collection {collection} --seeds {len(seed_list)}"]
    if models:
        cmd.append("--models " + " ".join(selected))
    cmd += [f"--seeds-of {k}={v}" for k, v in seeds_of.items()]
    cmd += [f"--set {k}.{kk}={vv if isinstance(vv, str) else json.dumps(vv)}" for k, v in (overrides or {}).items() for kk, vv in v.items()
            if DEFAULT_OVERRIDES.get(k, {}).get(kk, object()) != vv]
    if not ablations:
        cmd.append("--no-ablations")
    if epochs is not None:
        cmd.append(f"--epochs {epochs}")
    if visual != "mobilenet":  # the table must say how to make it again
        cmd.append(f"--visual {visual}")

    result = {
        "collection": coll.name,
        "split": "test",
        "n_test": int(len(test_idx)),
        "val_split": "val" if "val" in coll.split_names() else "a deterministic ~10 % hold-out of train (by id hash)",
        "seeds": seed_list,
        "models_requested": selected,
        "order": order,
        "visual": visual,
        "models": entries,
        "ranking": ranked,
        "significance": sig,
        "significance_unsupervised": sig_unsup,
        "ablations": abl,
        "published": published,
        "run_seconds": run_seconds,
        "compute": compute,
        "command": " ".join(cmd),
        "seeds_of": seeds_of,
        "overrides": overrides,
        "created": datetime.now().isoformat(timespec="seconds"),
        # the kernels and threads change trained weights in their last bits: see train.hardware_description
        "hardware": (f"{platform.machine()} ({torch.backends.cpu.get_cpu_capability()} kernels), "
                     f"{torch.get_num_threads()} torch threads, device {device}"),
        "environment": environment(),
        "k": K,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path, json_path = out_dir / f"quality-{coll.name}.md", out_dir / f"quality-{coll.name}.json"
    md_path.write_text(render_markdown(result), encoding="utf-8")
    json_path.write_text(json.dumps(_jsonable(result), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    say(f"wrote {md_path} and {json_path}")
    say(f"run time {run_seconds:.1f} s")
    result["paths"] = {"markdown": str(md_path), "json": str(json_path)}
    return result
