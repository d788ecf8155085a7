"""``explorer bench quality`` on the tiny synthetic collection: files, table structure, t-tests, reuse."""

from __future__ import annotations

import json

import numpy as np
import pytest

from explorer.bench_quality import render_markdown, run_quality, significance
from explorer.cli import main
from explorer.metrics import mean_std, paired_ttest_one_sided
from tests.conftest import make_folder_collection

MODELS = ["text-only", "visual-only", "cca", "kcca", "no_such_kind"]
OVERRIDES = {"kcca": {"n_landmarks": 16}}  # 16 of 32 train rows: landmarks depend on the seed


def _arr(values):
    return np.array([np.nan if v is None else v for v in values], dtype=float)


@pytest.fixture
def harder_collection(tmp_path):
    """The conftest collection with 4 test segments per category, 5 of which get another category's
    transcript and 3 another category's keyframe: the models then rank differently (no ties at 1.0)."""
    root = make_folder_collection(tmp_path / "tiny", per_category=24)
    test_ids = [ln.split("\t")[0] for ln in (root / "segments.tsv").read_text().splitlines()[1:] if ln.split("\t")[1] == "test"]
    donor = {"sunflower": "violet", "violet": "rose", "rose": "lily", "lily": "sunflower"}
    for sid in test_ids[::3][:5]:
        cat = sid.rsplit("_", 1)[0]
        (root / f"{sid}.txt").write_text((root / f"{donor[cat]}_000.txt").read_text())
    for sid in test_ids[1::3][:3]:  # and 3 others show another category's keyframe
        cat = sid.rsplit("_", 1)[0]
        (root / f"{sid}.png").write_bytes((root / f"{donor[cat]}_001.png").read_bytes())
    return root


@pytest.fixture
def bench_run(harder_collection, tmp_path):
    tiny_collection = harder_collection
    lines: list[str] = []
    result = run_quality(str(tiny_collection), seeds=2, models=MODELS, out=tmp_path / "results", runs=tmp_path / "runs",
                         visual="pixels", device="cpu", overrides=OVERRIDES, say=lines.append)
    return result, tmp_path, lines


def test_bench_quality_files_tables_and_ttest(bench_run):
    result, tmp, lines = bench_run
    md = (tmp / "results" / "quality-tiny.md").read_text()
    data = json.loads((tmp / "results" / "quality-tiny.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    models = data["models"]
    assert [m for m in MODELS if models[m]["status"] == "ok"] == ["text-only", "visual-only", "cca", "kcca"]
    assert models["no_such_kind"]["status"] == "missing" and "no_such_kind" in md
    import torch  # what the numbers depend on besides config and seed: kernels, threads, library versions

    assert f"({torch.backends.cpu.get_cpu_capability()} kernels)" in data["hardware"]
    assert data["environment"]["torch"] == torch.__version__ and data["environment"]["numpy"] == np.__version__
    assert f"torch {torch.__version__}" in md
    assert models["cca"]["deterministic"] and list(models["cca"]["per_seed"]) == ["0"]  # fitted once
    assert list(models["kcca"]["per_seed"]) == ["0", "1"] and not models["kcca"]["deterministic"]
    val = {s: r["val_p@10"] for s, r in models["kcca"]["per_seed"].items()}  # the run to ship: best on val
    assert val[str(models["kcca"]["best_val_seed"])] == max(val.values())
    assert models["kcca"]["best_val_run"].endswith(f"kcca-s{models['kcca']['best_val_seed']}")
    for name in ("cca", "kcca"):  # crossmodal kinds: the CMGANs-style columns
        cm = models[name]["per_seed"]["0"]["crossmodal"]
        assert {"img2txt", "txt2img", "average", "img2all", "txt2all", "average_all", "map_11pt"} <= set(cm)
    assert "crossmodal" not in models["text-only"]["per_seed"]["0"]

    # summary = mean_std over the stored per-seed values
    vals = [r["p@10"] for r in models["kcca"]["per_seed"].values()]
    m, s = mean_std(vals)
    assert models["kcca"]["summary"]["p@10"]["mean"] == pytest.approx(m) and models["kcca"]["summary"]["p@10"]["std"] == pytest.approx(s)

    # t-test: best vs runner-up by mean P@10, re-derived from the stored values
    ranked = sorted((m for m in MODELS if models[m]["status"] == "ok"),
                    key=lambda m: (-models[m]["summary"]["p@10"]["mean"], -models[m]["summary"]["map"]["mean"]))
    sig = data["significance"]
    assert (sig["best"], sig["runner_up"]) == tuple(ranked[:2]) == tuple(data["ranking"][:2])
    # the ranked metric (P@10) per anchor, each model's seeds averaged: the mean of the pooled values
    # is the table's mean P@10 (every anchor is defined in this collection)
    assert sig["mode"] == "per-anchor, seed-pooled" and sig["metric"] == "p@10"
    for who, arr in ((sig["best"], sig["a"]), (sig["runner_up"], sig["b"])):
        assert [str(x) for x in sig["seeds"][who]] == list(models[who]["per_seed"])
        assert np.nanmean(_arr(arr)) == pytest.approx(models[who]["summary"]["p@10"]["mean"])
    ref = paired_ttest_one_sided(_arr(sig["a"]), _arr(sig["b"]))
    assert sig["n"] == ref["n"] and _same(sig["t"], ref["t"]) and _same(sig["p"], ref["p"])

    # markdown structure
    for head in ("## Hyperlinking (Table 2 style)", "## Crossmodal retrieval MAP (CM-GANs style)",
                 "## Crossmodal MAP per category", "One-sided paired t-test", "## Per-run details"):
        assert head in md
    table2 = [[c.strip() for c in ln.strip("|").split("|")] for ln in md.split("## Hyperlinking")[1].split("\n\n")[1].splitlines()
              if ln.startswith("|")]
    assert table2[0][:3] == ["model", "P@10", "MAP"] and len(table2) == 2 + 4  # header, rule, 4 models
    assert table2[1][0].startswith(":-") and table2[1][1].endswith("-:")  # names left, numbers right
    kcca = next(row for row in table2 if row[0] == "kcca")
    assert kcca[1] == f"{models['kcca']['summary']['p@10']['mean']:.4f} ± {models['kcca']['summary']['p@10']['std']:.4f}"
    assert "± " in kcca[1]  # kcca has 2 seeds: mean ± std
    assert any(row[0] == "cca ‡" for row in table2)  # deterministic marker
    assert "sunflower" in md.split("## Crossmodal MAP per category")[1]
    assert "Wikipedia" not in md  # published rows only on wikipedia
    assert data["run_seconds"] > 0 and f"{data['run_seconds']:.1f} s" in md
    assert any("kcca seed 1" in ln for ln in lines) and any("run time" in ln for ln in lines)


def _same(x, y) -> bool:
    if x is None or y is None:
        return x is None and (y is None or not np.isfinite(y))
    return x == pytest.approx(y, rel=1e-12, abs=1e-12)


def test_bench_quality_reuses_runs_and_cli(bench_run, harder_collection, capsys):
    result, tmp, _ = bench_run
    first = json.loads((tmp / "results" / "quality-tiny.json").read_text())
    rc = main(["bench", "quality", "--collection", str(harder_collection), "--seeds", "2", "--models", "cca", "text-only", "gan_x",
               "--visual", "pixels", "--device", "cpu", "--out", str(tmp / "again"), "--runs", str(tmp / "runs")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "reused" in out and "run time" in out and "gan_x: missing" in out
    again = json.loads((tmp / "again" / "quality-tiny.json").read_text())
    assert again["models"]["cca"]["actions"]["0"] == "reused"
    assert again["models"]["cca"]["per_seed"]["0"]["p@10"] == first["models"]["cca"]["per_seed"]["0"]["p@10"]
    assert again["significance"]["best"] in ("cca", "text-only")


def test_significance_tests_seed_pooled_per_anchor_p_at_10():
    entries = {
        "a": {"deterministic": False, "per_seed": {0: {"p@10": 0.50}, 1: {"p@10": 0.55}, 2: {"p@10": 0.53}}},
        "b": {"deterministic": False, "per_seed": {0: {"p@10": 0.48}, 1: {"p@10": 0.50}, 2: {"p@10": 0.52}}},
        "c": {"deterministic": True, "per_seed": {0: {"p@10": 0.40}}},
    }
    pq = {"a": {0: {"ap": np.array([0.9, 0.1, 0.5, np.nan]), "p@10": np.array([0.5, 0.6, 0.2, np.nan])},
                1: {"ap": np.array([0.9, 0.1, 0.5, np.nan]), "p@10": np.array([0.7, 0.6, 0.4, np.nan])}},
          "b": {0: {"ap": np.zeros(4), "p@10": np.array([0.5, 0.4, 0.3, 0.1])},
                1: {"ap": np.zeros(4), "p@10": np.array([0.3, 0.4, 0.1, 0.1])}},
          "c": {0: {"ap": np.ones(4), "p@10": np.array([0.4, 0.4, 0.3, 0.2])}}}
    sig = significance("a", "b", entries, pq)
    # per anchor: a = (0.6, 0.6, 0.3, nan), b = (0.4, 0.4, 0.2, 0.1); the undefined anchor is dropped
    assert sig["mode"] == "per-anchor, seed-pooled" and sig["metric"] == "p@10" and sig["n"] == 3
    np.testing.assert_allclose(sig["a"][:3], [0.6, 0.6, 0.3])
    ref = paired_ttest_one_sided([0.6, 0.6, 0.3], [0.4, 0.4, 0.2])
    assert sig["t"] == pytest.approx(ref["t"]) and sig["p"] == pytest.approx(ref["p"])
    assert sig["over_seeds"]["seeds"] == [0, 1, 2]  # the per-seed test, for reference
    assert sig["over_seeds"]["t"] == pytest.approx(paired_ttest_one_sided([0.50, 0.55, 0.53], [0.48, 0.50, 0.52])["t"])
    sig = significance("a", "c", entries, pq)  # c is deterministic: one seed, still P@10, never AP
    assert "over_seeds" not in sig and sig["seeds"] == {"a": [0, 1], "c": [0]}
    assert sig["t"] == pytest.approx(paired_ttest_one_sided([0.6, 0.6, 0.3], [0.4, 0.4, 0.3])["t"])


def test_a_run_trained_differently_is_refused_not_reused(harder_collection, tmp_path):
    from explorer.bench_quality import BenchRunMismatch, ensure_run

    common = dict(visual="pixels", device="cpu", epochs=None, progress_bar=False, say=lambda m: None)
    run = tmp_path / "kcca-s0"
    ensure_run("kcca", str(harder_collection), 0, run, overrides={"n_landmarks": 16}, **common)
    ckpt, action = ensure_run("kcca", str(harder_collection), 0, run, overrides={"n_landmarks": 16}, **common)
    assert action == "reused"
    with pytest.raises(BenchRunMismatch, match=r"n_landmarks: run has 16, asked 32"):
        ensure_run("kcca", str(harder_collection), 0, run, overrides={"n_landmarks": 32}, **common)
    with pytest.raises(BenchRunMismatch, match=r"seed: run has 0, asked 1"):
        ensure_run("kcca", str(harder_collection), 1, run, overrides={"n_landmarks": 16}, **common)
    with pytest.raises(BenchRunMismatch, match=r"n_landmarks: run has 16, asked"):  # the default is not 16
        ensure_run("kcca", str(harder_collection), 0, run, overrides=None, **common)


def test_render_markdown_handles_failed_and_skipped_entries():
    result = {
        "collection": "x", "created": "now", "hardware": "cpu", "run_seconds": 1.0, "seeds": [0], "n_test": 3,
        "val_split": "val", "order": ["a", "b"], "significance": None, "published": None,
        "ablations": {"status": "skipped", "message": "no presets"},
        "models": {"a": {"status": "failed", "message": "boom"}, "b": {"status": "not applicable", "message": "needs keyframes"}},
    }
    md = render_markdown(result)
    assert "**failed**: boom" in md and "**not applicable**: needs keyframes" in md and "skipped: no presets" in md


def test_seeds_of_overrides_command_and_compute(harder_collection, tmp_path, capsys):
    """``--seeds-of`` caps one row's seeds, ``--set KIND.KEY=VALUE`` reaches the run's config, the JSON
    records the equivalent command, and the from-scratch compute is the sum of the runs' own times."""
    rc = main(["bench", "quality", "--collection", str(harder_collection), "--seeds", "2", "--models", "text-only", "kcca", "cca",
               "--seeds-of", "kcca=1", "--set", "kcca.n_landmarks=16", "--visual", "pixels", "--device", "cpu",
               "--out", str(tmp_path / "res"), "--runs", str(tmp_path / "runs")])
    assert rc == 0
    data = json.loads((tmp_path / "res" / "quality-tiny.json").read_text())
    kcca = data["models"]["kcca"]
    assert list(kcca["per_seed"]) == ["0"] and kcca["overrides"] == {"n_landmarks": 16}
    assert json.loads((tmp_path / "runs" / "kcca-s0" / "run.json").read_text())["config"]["n_landmarks"] == 16
    assert not (tmp_path / "runs" / "kcca-s1").exists()
    assert "--seeds-of kcca=1" in data["command"] and "--set kcca.n_landmarks=16" in data["command"]
    assert data["command"].endswith("--visual pixels")  # what the table was made with, to make it again
    runs = [r for m in ("kcca", "cca") for r in data["models"][m]["per_seed"].values()]
    assert all(r["run_seconds"] >= r["train_seconds"] > 0 for r in runs)
    assert data["compute"]["n_runs"] == 2
    assert data["compute"]["train_seconds_all_runs"] == pytest.approx(sum(r["run_seconds"] for r in runs))
    md = (tmp_path / "res" / "quality-tiny.md").read_text()
    assert data["command"] in md and "Fewer seeds" in md and "kcca 1" in md

    # bad values name the problem and write nothing
    for bad in (["--seeds-of", "kcca=zero"], ["--seeds-of", "nothere=1"], ["--set", "n_landmarks=16"],
                ["--set", "kcaa.n_landmarks=16"]):
        rc = main(["bench", "quality", "--collection", str(harder_collection), "--models", "kcca", "--out", str(tmp_path / "bad"),
                   "--runs", str(tmp_path / "runs"), *bad])
        err = capsys.readouterr().err
        assert rc == 2 and bad[1].split("=")[0].split(".")[0] in err and not (tmp_path / "bad").exists()


def test_l2_lifting_ranks_like_negative_euclidean_distance():
    from explorer.bench_quality import _l2_as_cosine

    rng = np.random.default_rng(0)
    q, g = rng.normal(size=(20, 4)) * 3, rng.normal(size=(50, 4)) * [1, 2, 3, 4]
    ql, gl = _l2_as_cosine(q, g)
    cos = (ql / np.linalg.norm(ql, axis=1, keepdims=True)) @ (gl / np.linalg.norm(gl, axis=1, keepdims=True)).T
    dist = np.linalg.norm(q[:, None, :] - g[None, :, :], axis=2)
    assert (np.argsort(-cos, axis=1) == np.argsort(dist, axis=1)).all()
