"""The projected, contrastive GAN recipe (``gan_proj``) against the paper's GAN-CLS and the baselines.

On flowers102_reed (select on val, report test), from finished ``gan_proj`` run directories (one per
seed) and the shipped checkpoints:

1. hyperlinking test P@10 / MAP of the D embedding, mean ± std over the runs, beside text only,
   MobileNet only, the paper-faithful GAN-CLS and the shipped multimodal AE, BiDNN, DCCA and
   contrastive checkpoints (their 5-seed means from ``bench/results/quality-flowers102_reed.json``
   beside them); one-sided paired tests on the ranked metric (P@10 per test anchor, averaged over
   the GAN's seeds) of the GAN against BiDNN and against MobileNet only;
2. generation, for the first run's best checkpoint (or ``--generator``) and the shipped GAN-CLS:
   Fréchet distance of MobileNet features (one image per val transcript vs the real val images),
   nearest-centroid class accuracy of generated images (centroids: real train images) beside chance
   and real val images' own accuracy, diversity (mean pairwise cosine distance of 8 noise draws of one
   transcript, vs real val images within one class), and colour words on typed transcripts;
3. top words, scored on words *distinctive* of the image's category (which the frequent-words list
   cannot win) and on the image's own transcript, vs the frequent-words and random baselines;
4. wall-clock training time to the first checkpoint that beats text only and MobileNet only on val;
5. with ``--ablations``: equal-budget runs that each change one ingredient, on val.

Writes bench/results/gan_proj.{json,md}.

    python bench/bench_gan_proj.py --runs runs/gan_proj/s0 runs/gan_proj/s1 ... [--generator CKPT]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from explorer.analysis import colour_share, content_words, frequent_words
from explorer.data.collection import load_collection
from explorer.data.images import from_model_range, keyframes_uint8, to_model_range
from explorer.data.text import STOPWORDS
from explorer.evaluate import LoadedModel, embeddings
from explorer.features.visual import MobileNetExtractor, extract_collection_features
from explorer.generation_metrics import frechet_distance, mean_pairwise_cosine_distance, nearest_centroid_accuracy
from explorer.metrics import hyperlinking_eval
from explorer.models.gan_proj import GanProjConfig
from explorer.paths import REPO_ROOT, checkpoints_dir
from explorer.train import read_log

BASELINE_KINDS = ("multimodal_ae", "bidnn", "dcca", "contrastive")
GAN_PROJ_DEFAULTS = asdict(GanProjConfig())
COLOUR_PROMPTS = {  # typed transcripts, not taken from the collection
    "yellow": "this flower has bright yellow petals",
    "red": "a flower with red petals",
    "purple": "this flower has purple petals",
    "white": "the petals of this flower are white",
    "orange": "an orange flower with many petals",
    "pink": "a pink flower with soft petals",
}


def per_anchor(emb: np.ndarray, cats: list) -> dict:
    r = hyperlinking_eval(emb, cats, k=10)
    return {"p@10": float(r["p@10"]), "map": float(r["map"]), "per_query_p10": r["per_query"]["p@10"],
            "per_query_ap": r["per_query"]["ap"]}


def paired_greater(a: np.ndarray, b: np.ndarray) -> dict:
    """One-sided paired tests that a > b, over anchors where both are defined."""
    ok = ~(np.isnan(a) | np.isnan(b))
    t = stats.ttest_rel(a[ok], b[ok], alternative="greater")
    w = stats.wilcoxon(a[ok], b[ok], alternative="greater", zero_method="zsplit")
    return {"n": int(ok.sum()), "mean_diff": float((a[ok] - b[ok]).mean()), "t": float(t.statistic),
            "p_ttest": float(t.pvalue), "p_wilcoxon": float(w.pvalue)}


def hyperlinking(coll, runs: list[Path], pools: tuple[str, ...]) -> dict:
    splits = {s: [i for i, seg in enumerate(coll.segments) if seg.split == s] for s in ("val", "test")}
    cats = {s: [coll.segments[i].category for i in idx] for s, idx in splits.items()}
    out: dict = {"gan_proj": {}, "baselines": {}}
    for pool in pools:
        rows = []
        for run in runs:
            lm = LoadedModel(run / "best.pt", config_overrides={"embed_pool": pool})
            row = {"run": str(run), "epoch": lm.ckpt["progress"].get("epoch")}
            for s, idx in splits.items():
                row[s] = per_anchor(lm.embeddings(coll, np.array(idx))["joint"], cats[s])
            rows.append(row)
        out["gan_proj"][pool] = rows
    # the pool chosen on val (mean over seeds)
    chosen = max(pools, key=lambda p: np.mean([r["val"]["p@10"] for r in out["gan_proj"][p]]))
    out["chosen_pool"] = chosen
    for name in ("text-only", "visual-only"):
        out["baselines"][name] = {s: per_anchor(embeddings(name, coll, s, visual="mobilenet", progress=False)["joint"], cats[s])
                                  for s in splits}
    for kind in ("gan_cls",) + BASELINE_KINDS:
        path = checkpoints_dir() / f"{kind}-flowers102_reed.pt"
        if path.is_file():
            lm = LoadedModel(path)
            out["baselines"][kind] = {s: per_anchor(lm.embeddings(coll, np.array(idx))["joint"], cats[s]) for s, idx in splits.items()}
    gan_test = np.nanmean(np.stack([r["test"]["per_query_p10"] for r in out["gan_proj"][chosen]]), axis=0)
    out["tests"] = {f"gan_proj > {b}": paired_greater(gan_test, out["baselines"][b]["test"]["per_query_p10"])
                    for b in ("bidnn", "visual-only") if b in out["baselines"]}
    return out


def generated_features(lm: LoadedModel, texts: torch.Tensor, n_noise: int, seed: int, ext) -> tuple[np.ndarray, np.ndarray]:
    """MobileNet features (len(texts) * n_noise, 1024) and the uint8 images, noise seeded."""
    g = torch.Generator().manual_seed(seed)
    imgs = []
    with torch.inference_mode():
        for s in range(0, len(texts), 64):
            t = texts[s : s + 64].repeat_interleave(n_noise, dim=0)
            z = torch.rand(len(t), lm.model.config.noise_dim, generator=g) * 2 - 1
            imgs.append(from_model_range(lm.model.generate(t, z)))
    imgs = np.concatenate(imgs)
    return ext.extract(imgs), imgs


def generation(coll, checkpoints: dict[str, Path]) -> dict:
    ext = MobileNetExtractor()
    feats = np.asarray(extract_collection_features(coll, "mobilenet", progress=False))
    split = np.array([s.split for s in coll.segments])
    labels = np.array([s.category for s in coll.segments])
    train, val = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    real_val = feats[val]
    classes = sorted(set(labels[val]))
    one_per_class = [int(val[np.flatnonzero(labels[val] == c)[0]]) for c in classes]
    out = {"real": {
        "class_accuracy": nearest_centroid_accuracy(feats[train], labels[train], real_val, labels[val]),
        "diversity_within_class": mean_pairwise_cosine_distance([real_val[labels[val] == c] for c in classes]),
        "chance": 1.0 / len(set(labels[train])),
    }}
    for name, path in checkpoints.items():
        lm = LoadedModel(path)
        inp = lm.inputs(coll)
        t0 = time.perf_counter()
        gen_val, _ = generated_features(lm, inp.text[val], 1, 0, ext)
        gen_div, _ = generated_features(lm, inp.text[one_per_class], 8, 1, ext)
        colours = {}
        for colour, prompt in COLOUR_PROMPTS.items():
            t = torch.from_numpy(lm.word_vectors.embed(prompt)).float()[None].repeat(16, 1)
            g = torch.Generator().manual_seed(2)
            with torch.inference_mode():
                imgs = from_model_range(lm.model.generate(t, torch.rand(16, lm.model.config.noise_dim, generator=g) * 2 - 1))
            colours[colour] = {c: colour_share(imgs, c) for c in COLOUR_PROMPTS}
        respected = [c for c in COLOUR_PROMPTS if colours[c][c] == max(colours[p][c] for p in COLOUR_PROMPTS)]
        out[name] = {
            "checkpoint": str(path),
            "frechet_mobilenet": frechet_distance(gen_val, real_val),
            "class_accuracy": nearest_centroid_accuracy(feats[train], labels[train], gen_val, labels[val]),
            "diversity_noise": mean_pairwise_cosine_distance([gen_div[i * 8 : (i + 1) * 8] for i in range(len(one_per_class))]),
            "colour_fractions": colours,
            "colour_words_respected": respected,
            "seconds": time.perf_counter() - t0,
        }
    return out


def distinctive_words(coll, split: str = "train", lift: float = 2.0, min_count: int = 5) -> dict[str, set[str]]:
    """Per category: content words whose document frequency in the category's train transcripts is at
    least ``lift`` times their frequency over all train transcripts (and that occur ``min_count`` times)."""
    docs = [(s.category, content_words(s.text)) for s in coll.segments if s.split == split]
    n_all: dict[str, int] = {}
    per_cat: dict[str, dict[str, int]] = {}
    size: dict[str, int] = {}
    for cat, words in docs:
        size[cat] = size.get(cat, 0) + 1
        for w in words:
            n_all[w] = n_all.get(w, 0) + 1
            per_cat.setdefault(cat, {})[w] = per_cat.setdefault(cat, {}).get(w, 0) + 1
    total = len(docs)
    return {cat: {w for w, n in counts.items() if n >= min_count and (n / size[cat]) >= lift * (n_all[w] / total)}
            for cat, counts in per_cat.items()}


def top_words_bench(coll, path: Path, paper: Path, k: int = 15, limit: int = 256,
                    vocab_limits: tuple = (None, 2000, 1000, 500, 250)) -> dict:
    """Top words of ``limit`` val images (to choose the vocabulary limit) and ``limit`` test images
    (reported), by gan_proj's crossmodal method, the paper's transposed inversion and two baselines."""
    from explorer.api import crossmodal_top_words

    lm, paper_lm = LoadedModel(path), LoadedModel(paper)
    distinct = distinctive_words(coll)
    frequent = frequent_words([s.text for s in coll.segments if s.split == "train"], k)
    vocab = [w for w in lm.word_vectors.vocab if w not in STOPWORDS]
    out = {"checkpoint": str(path), "n": limit, "k": k, "frequent_words": frequent}
    for split in ("val", "test"):
        idx = [i for i, s in enumerate(coll.segments) if s.split == split][:limit]
        images = to_model_range(keyframes_uint8(coll)[idx])
        truth_cat = [distinct.get(coll.segments[i].category, set()) for i in idx]
        truth_own = [content_words(coll.segments[i].text) for i in idx]

        def score(word_lists):
            return {"distinctive_precision": float(np.mean([len(set(ws[:k]) & t) / k for ws, t in zip(word_lists, truth_cat)])),
                    "own_transcript_precision": float(np.mean([len(set(ws[:k]) & t) / k for ws, t in zip(word_lists, truth_own)]))}

        res: dict = {"crossmodal": {}}
        for vl in vocab_limits:
            t0 = time.perf_counter()
            lists = [[w for w, _ in ws] for s in range(0, len(idx), 64)
                     for ws in crossmodal_top_words(lm, images[s : s + 64], k=k, vocab_limit=vl)]
            res["crossmodal"][str(vl or "all")] = {**score(lists), "seconds_per_image": (time.perf_counter() - t0) / len(idx),
                                                   "examples": [{"id": coll.segments[i].id, "words": ws} for i, ws in zip(idx[:3], lists[:3])]}
        with torch.no_grad():
            vecs = torch.cat([paper_lm.model.invert_transposed(images[s : s + 64]) for s in range(0, len(idx), 64)]).numpy()
        res["paper_transposed"] = score([[w for w, _ in paper_lm.word_vectors.nearest(v, k=k)] for v in vecs])
        res["frequent"] = score([frequent] * len(idx))
        rng = np.random.default_rng(0)
        randoms = [score([list(rng.choice(vocab, k, replace=False)) for _ in idx]) for _ in range(10)]
        res["random"] = {key: float(np.mean([r[key] for r in randoms])) for key in randoms[0]}
        out[split] = res
    out["chosen_vocab_limit"] = max(out["val"]["crossmodal"], key=lambda v: out["val"]["crossmodal"][v]["distinctive_precision"])
    return out


def time_to_beat(run: Path, text_val: float, visual_val: float) -> dict:
    epochs = [r for r in read_log(run) if r.get("type") == "epoch"]
    beat = next((r for r in epochs if r["val_p@10"] > max(text_val, visual_val)), None)
    return {"run": str(run), "epochs": len(epochs), "train_seconds": epochs[-1]["seconds"] if epochs else None,
            "seconds_to_beat_both": beat["seconds"] if beat else None, "epoch_to_beat_both": beat["epoch"] if beat else None,
            "best_val_p@10": max((r["val_p@10"] for r in epochs), default=None),
            "val_curve": [r["val_p@10"] for r in epochs]}


def ablations(coll, runs: list[Path]) -> list[dict]:
    """Equal-budget runs (same epochs, seed 0), each leaving one ingredient out: val P@10 of the D
    embedding (both pools) and the generation measures of the last checkpoint, all on val."""
    val = np.array([i for i, s in enumerate(coll.segments) if s.split == "val"])
    cats = [coll.segments[i].category for i in val]
    rows = []
    for run in runs:
        cfg = json.loads((run / "run.json").read_text())["config"]
        changed = {k: v for k, v in cfg.items() if k in GAN_PROJ_DEFAULTS and GAN_PROJ_DEFAULTS[k] != v and k != "epochs"}
        row = {"run": str(run), "changed": changed, "epochs": len([r for r in read_log(run) if r.get("type") == "epoch"])}
        for pool in ("flatten", "mean"):
            lm = LoadedModel(run / "latest.pt", config_overrides={"embed_pool": pool})
            row[f"val_p@10_{pool}"] = per_anchor(lm.embeddings(coll, val)["joint"], cats)["p@10"]
        gen = generation(coll, {"g": run / "latest.pt"})
        row.update({k: gen["g"][k] for k in ("frechet_mobilenet", "class_accuracy", "diversity_noise", "colour_words_respected")})
        rows.append(row)
    return rows


def mean_std(values) -> str:
    v = np.asarray(values, float)
    return f"{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0:.3f}"


def markdown(res: dict) -> str:
    hl, pool = res["hyperlinking"], res["hyperlinking"]["chosen_pool"]
    runs = hl["gan_proj"][pool]
    q = json.loads((REPO_ROOT / "bench/results/quality-flowers102_reed.json").read_text())["models"]
    lines = [f"# gan_proj (projected, contrastive GAN-CLS) on flowers102_reed", "",
             f"Command: `{res['command']}`; {len(runs)} seeds; embedding pool chosen on val: `{pool}`.", "",
             "## Hyperlinking (test, 819 anchors)", "",
             "| model | val P@10 | test P@10 | test MAP | 5-seed test P@10 (quality bench) |", "| --- | ---: | ---: | ---: | ---: |"]
    lines.append(f"| **gan_proj D embedding ({len(runs)} seeds)** | {mean_std([r['val']['p@10'] for r in runs])} | "
                 f"{mean_std([r['test']['p@10'] for r in runs])} | {mean_std([r['test']['map'] for r in runs])} | |")
    for other in hl["gan_proj"]:
        if other != pool:
            rr = hl["gan_proj"][other]
            lines.append(f"| gan_proj, embed_pool={other} | {mean_std([r['val']['p@10'] for r in rr])} | "
                         f"{mean_std([r['test']['p@10'] for r in rr])} | {mean_std([r['test']['map'] for r in rr])} | |")
    names = {"text-only": "text only", "visual-only": "MobileNet only", "gan_cls": "GAN-CLS, paper-faithful (shipped)"}
    for b, v in hl["baselines"].items():
        qq = q.get(b, {}).get("summary", {}).get("p@10")
        five = f"{qq['mean']:.3f} ± {qq['std']:.3f}" if qq and qq.get("n", 1) > 1 else ""
        lines.append(f"| {names.get(b, b + ' (shipped, best-val seed)')} | {v['val']['p@10']:.3f} | {v['test']['p@10']:.3f} | "
                     f"{v['test']['map']:.3f} | {five} |")
    lines += ["", "One-sided paired tests on test P@10 per anchor (the GAN's per-anchor P@10 averaged over its seeds):", "",
              "| hypothesis | anchors | mean difference | t | p (t-test) | p (Wilcoxon) |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, t in hl["tests"].items():
        lines.append(f"| {name} | {t['n']} | {t['mean_diff']:+.3f} | {t['t']:.2f} | {t['p_ttest']:.2g} | {t['p_wilcoxon']:.2g} |")
    g = res["generation"]
    lines += ["", "## Generation (val transcripts; MobileNet features)", "",
              "| generator | Fréchet distance | class accuracy | diversity across noise | colour words respected |",
              "| --- | ---: | ---: | ---: | --- |"]
    for name, v in g.items():
        if name == "real":
            continue
        lines.append(f"| {name} | {v['frechet_mobilenet']:.1f} | {v['class_accuracy']:.3f} | {v['diversity_noise']:.3f} | "
                     f"{len(v['colour_words_respected'])}/{len(COLOUR_PROMPTS)}: {', '.join(v['colour_words_respected'])} |")
    r = g["real"]
    lines += [f"| real val images | 0 | {r['class_accuracy']:.3f} | {r['diversity_within_class']:.3f} (within one class) | |",
              "", f"Chance class accuracy: {r['chance']:.3f}. Class accuracy: nearest class centroid (cosine) of real train "
              "images' MobileNet features. Diversity: mean 1 - cosine between 8 noise draws of one transcript (one per "
              "class), vs between real val images of one class. A colour word is respected when the images drawn for its "
              "typed transcript (16 draws) show more of that colour than those of every other colour's transcript."]
    tw = res.get("topwords")
    if tw:
        ch = tw["chosen_vocab_limit"]
        lines += ["", f"## Top words ({tw['n']} val images to choose, {tw['n']} test images reported; top {tw['k']})", "",
                  "Precision = share of the top words that are *distinctive* of the image's category (document frequency "
                  "in the category's train transcripts >= 2x the overall one, >= 5 occurrences), or that occur in the "
                  "image's own transcript.", "",
                  "| method | val distinctive | test distinctive | test own transcript |", "| --- | ---: | ---: | ---: |"]
        for vl in tw["val"]["crossmodal"]:
            v, t = tw["val"]["crossmodal"][vl], tw["test"]["crossmodal"][vl]
            mark = " (chosen on val)" if vl == ch else ""
            lines.append(f"| gan_proj crossmodal, {vl} most frequent words{mark} | {v['distinctive_precision']:.3f} | "
                         f"{t['distinctive_precision']:.3f} | {t['own_transcript_precision']:.3f} |")
        for name, key in (("gan_cls inverted generator, transposed kernels (the paper's)", "paper_transposed"),
                          (f"{tw['k']} most frequent training words", "frequent"), (f"{tw['k']} random vocabulary words", "random")):
            v, t = tw["val"][key], tw["test"][key]
            lines.append(f"| {name} | {v['distinctive_precision']:.3f} | {t['distinctive_precision']:.3f} | {t['own_transcript_precision']:.3f} |")
    if res.get("ablations"):
        lines += ["", "## Ablations (equal budget: seed 0, the same number of epochs; val split)", "",
                  "| run | left out / changed | epochs | val P@10 (flatten) | val P@10 (mean) | Fréchet | class acc. | diversity | colour words |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in res["ablations"]:
            changed = ", ".join(f"{k}={v}" for k, v in r["changed"].items()) or "— (the recipe)"
            lines.append(f"| {Path(r['run']).name} | {changed} | {r['epochs']} | {r['val_p@10_flatten']:.3f} | {r['val_p@10_mean']:.3f} | "
                         f"{r['frechet_mobilenet']:.1f} | {r['class_accuracy']:.3f} | {r['diversity_noise']:.3f} | {len(r['colour_words_respected'])}/6 |")
    lines += ["", "## Training time to beat text only and MobileNet only on val", "",
              "| run | epochs | training seconds | seconds to beat both | best val P@10 |", "| --- | ---: | ---: | ---: | ---: |"]
    for t in res["time_to_beat"]:
        beat = f"{t['seconds_to_beat_both']:.0f} (epoch {t['epoch_to_beat_both']})" if t["seconds_to_beat_both"] else "never"
        lines.append(f"| {Path(t['run']).name} | {t['epochs']} | {t['train_seconds']:.0f} | {beat} | {t['best_val_p@10']:.3f} |")
    curves = [t["val_curve"] for t in res["time_to_beat"] if t.get("val_curve")]
    if curves and len({len(c) for c in curves}) == 1:
        lines += ["", "Val P@10 (flattened embedding, as training selects) after each epoch, mean over the runs: "
                  + ", ".join(f"{v:.3f}" for v in np.mean(curves, axis=0)) + "."]
    lines += ["", f"Hardware: {res['hardware']}. Created {res['created']}; the whole bench took {res['bench_seconds'] / 60:.1f} min."]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="+", required=True, help="gan_proj run directories, one per seed")
    p.add_argument("--generator", default=None, help="gan_proj checkpoint for generation/top words (default: first run's best.pt)")
    p.add_argument("--pools", nargs="+", default=["flatten", "mean"])
    p.add_argument("--ablations", nargs="*", default=[], help="equal-budget run directories, one ingredient changed each")
    p.add_argument("--render", action="store_true", help="only rewrite the .md from the committed .json (no computation)")
    p.add_argument("--out", default=str(REPO_ROOT / "bench" / "results" / "gan_proj"))
    args = p.parse_args()
    if args.render:
        out = Path(args.out)
        out.with_suffix(".md").write_text(markdown(json.loads(out.with_suffix(".json").read_text())))
        print(f"wrote {out}.md from {out}.json")
        return
    torch.manual_seed(0)
    t_start = time.perf_counter()
    coll = load_collection("flowers102_reed")
    runs = [Path(r) for r in args.runs]
    gen = Path(args.generator) if args.generator else runs[0] / "best.pt"
    command = "python bench/bench_gan_proj.py --runs " + " ".join(args.runs)
    if args.generator:
        command += f" --generator {args.generator}"
    if args.ablations:
        command += " --ablations " + " ".join(args.ablations)
    res = {"command": command,
           "created": time.strftime("%Y-%m-%d %H:%M"), "hardware": f"{torch.get_num_threads()} CPU threads"}
    res["hyperlinking"] = hyperlinking(coll, runs, tuple(args.pools))
    tv, vv = (res["hyperlinking"]["baselines"][b]["val"]["p@10"] for b in ("text-only", "visual-only"))
    res["time_to_beat"] = [time_to_beat(r, tv, vv) for r in runs]
    res["generation"] = generation(coll, {"gan_proj": gen, "gan_cls (paper-faithful)": checkpoints_dir() / "gan_cls-flowers102_reed.pt"})
    res["topwords"] = top_words_bench(coll, gen, checkpoints_dir() / "gan_cls-flowers102_reed.pt")
    res["ablations"] = ablations(coll, [Path(a) for a in args.ablations])
    res["bench_seconds"] = time.perf_counter() - t_start
    md = markdown(res)
    print(md)

    def plain(o):
        if isinstance(o, dict):
            return {k: plain(v) for k, v in o.items() if not k.startswith("per_query")}
        if isinstance(o, list):
            return [plain(v) for v in o]
        return o

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(plain(res), indent=2))
    out.with_suffix(".md").write_text(md)
    print(f"wrote {out}.json / .md")


if __name__ == "__main__":
    main()
