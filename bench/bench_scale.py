"""Hyperlinking and the joint space at a million segments (issue #14): ranking through the ANN index, the
projection fitted on a sample, and the app's Hyperlinks and Joint space pages on a 1,000,000-segment collection.

    python bench/bench_scale.py                  # n = 1,000,000 (about 15 min the first time on 2 cores)
    python bench/bench_scale.py --n 100000       # smaller, quicker
    python bench/bench_scale.py --reuse          # keep the collection, checkpoint and caches of an earlier run

The collection has real structure: every row is one of flowers102_reed's 8,189 segments (drawn at random,
keeping its category and split) with Gaussian noise added to its features: the keyframe's ImageNet MobileNet
features reduced to 128-d by PCA (fitted on train) and the transcript's averaged word2vec (100-d, the
collection's own vectors), noise 0.5 x each feature's standard deviation. It is written in the ``features``
layout (``segments.tsv`` + ``features.npz``, float16) to ``runs/collections/flowers1m`` (the app lists it), and a
model (``--kind``, default ``contrastive``: a 256-d joint space) is trained on a 50,000-row draw of the same
recipe (other seed) and applied to it.

Measured (``bench/results/scale.{md,json}``): collection load in a fresh process, embeddings of every segment,
the ANN index of the whole collection (build, nprobe, recall@10 against exact on held-out queries) and one
anchor's hyperlinks through the api (p50 / p95 over 50 anchors; split "all" = 1,000,000 targets through FAISS
IVF, split "test" = about 100,000 through exact search), the projection (UMAP on a 20,000 sample, transform
for the rest), a lasso selection resolved server side, and AppTest server-side render times of the
Hyperlinks page (a new anchor) and the Joint space page (first open after the projection is cached, a colour
change, a zoom to a view still drawn as a density image, a zoom to one drawn point by point, back to the whole,
then a rerun), with the process's peak memory (RSS). Headless Chromium times the same against a new ``streamlit
run`` process, dragging the zoom boxes with the mouse. The app is timed twice: in the bench's process, which
holds the collection already, and in a new process (``--app-only``), where opening the app loads it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
NOISE = 0.5
IMAGE_DIM = 128


def _rss_gb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**30


def _peak_gb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def source_features() -> tuple[object, np.ndarray, np.ndarray]:
    """flowers102_reed's per-segment features: (collection, image (8189, 128), text (8189, 100))."""
    from sklearn.decomposition import PCA

    from explorer.data.collection import load_collection
    from explorer.data.text import collection_word_vectors, text_features
    from explorer.features.visual import extract_collection_features

    coll = load_collection("flowers102_reed")
    image = np.asarray(extract_collection_features(coll, "mobilenet", progress=False), dtype=np.float32)
    train = np.array([s.split == "train" for s in coll.segments])
    image = PCA(n_components=IMAGE_DIM, random_state=0).fit(image[train]).transform(image).astype(np.float32)
    text, _ = text_features(coll, collection_word_vectors(coll))
    return coll, image, np.asarray(text, dtype=np.float32)


def write_collection(folder: Path, n: int, seed: int, coll, image: np.ndarray, text: np.ndarray) -> None:
    """``n`` noisy replicas of the source segments in the ``features`` layout."""
    rng = np.random.default_rng(seed)
    src = rng.integers(0, len(coll.segments), n)
    folder.mkdir(parents=True, exist_ok=True)
    img = image[src] + NOISE * image.std(axis=0) * rng.standard_normal((n, image.shape[1]), dtype=np.float32)
    txt = text[src] + NOISE * text.std(axis=0) * rng.standard_normal((n, text.shape[1]), dtype=np.float32)
    np.savez(folder / "features.npz", image=img.astype(np.float16), text=txt.astype(np.float16))
    first_line = [s.text.split("\n")[0].replace("\t", " ") for s in coll.segments]
    with open(folder / "segments.tsv", "w", encoding="utf-8") as f:
        f.write("id\tsplit\tcategory\ttext\n")
        for j, r in enumerate(src):
            s = coll.segments[r]
            f.write(f"{s.id}~{j}\t{s.split}\t{s.category}\t{first_line[r]}\n")


def timed(fn, *args, **kw) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0


def pct(values: list[float]) -> dict:
    v = sorted(values)
    return {"p50_ms": 1000 * statistics.median(v), "p95_ms": 1000 * v[min(len(v) - 1, int(round(0.95 * (len(v) - 1))))],
            "n": len(v)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--name", default="flowers1m")
    ap.add_argument("--kind", default="contrastive", help="model kind trained on the 50,000-row draw")
    ap.add_argument("--epochs", type=int, default=5, help="its epochs (the structure is easy: a few suffice)")
    ap.add_argument("--reuse", action="store_true", help="keep an earlier run's collection, checkpoint and caches")
    ap.add_argument("--out", default=str(REPO / "bench" / "results"))
    ap.add_argument("--app-only", action="store_true", help="print the app's times in this new process as JSON (a "
                    "run's caches must exist); the bench calls itself so")
    ap.add_argument("--browser-only", action="store_true", help="print the browser times alone as JSON (a run's "
                    "caches must exist)")
    args = ap.parse_args()

    runs = REPO / "runs"
    os.environ.setdefault("EXPLORER_COLLECTIONS", str(runs / "collections"))
    os.environ["EXPLORER_CHECKPOINTS"] = str(runs / "scale" / "checkpoints")
    folder = Path(os.environ["EXPLORER_COLLECTIONS"]) / args.name
    if args.app_only:
        print(json.dumps(app_times(folder.name, f"extra/{args.kind}-{args.name}.pt")))
        return
    if args.browser_only:
        print(json.dumps(browser_times(folder.name, f"extra/{args.kind}-{args.name}.pt")))
        return
    train_folder = runs / "scale" / f"{args.name}-train50k"
    ckpt_dir = Path(os.environ["EXPLORER_CHECKPOINTS"])
    result: dict = {"n": args.n, "kind": args.kind, "noise": NOISE, "image_dim": IMAGE_DIM, "steps": {}}
    steps = result["steps"]
    previous = None  # --reuse: an earlier result of the same size keeps the times of what it computed
    if args.reuse and (Path(args.out) / "scale.json").exists():
        previous = json.loads((Path(args.out) / "scale.json").read_text())
        previous = previous if previous.get("n") == args.n else None

    def cached(step: str) -> str:  # what --reuse reads from the caches is timed as such, beside the first time
        return f"{step}{', from the caches' if args.reuse else ''} (s)"

    if not args.reuse or not (folder / "features.npz").exists():
        print(f"writing {args.n:,} segments to {folder} ...")
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(train_folder, ignore_errors=True)
        (coll, image, text), t = timed(source_features)
        _, t2 = timed(write_collection, folder, args.n, 0, coll, image, text)
        write_collection(train_folder, 50_000, 1, coll, image, text)
        steps["write collection (s)"] = t + t2
    ckpt = ckpt_dir / f"{args.kind}-{args.name}.pt"
    if not args.reuse or not ckpt.exists():
        from explorer.train import train

        print(f"training {args.kind} on a 50,000-row draw ...")
        shutil.rmtree(runs / "scale" / f"{args.kind}-run", ignore_errors=True)
        run, t = timed(train, args.kind, str(train_folder), epochs=args.epochs, device="cpu",
                       out=runs / "scale" / f"{args.kind}-run", seed=0, progress_bar=False)
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(run) / "best.pt", ckpt)
        shutil.copy2(Path(run) / "best.json", ckpt.with_suffix(".json"))
        steps[f"train {args.kind} on 50,000 rows, {args.epochs} epochs (s)"] = t
    result["kind"] = args.kind

    from explorer import api

    ref = str(ckpt)
    coll, t = timed(api.get_collection, str(folder))
    steps["load the collection, fresh process (s)"] = t
    print(f"collection: {len(coll):,} segments, loaded in {t:.1f} s; RSS {_rss_gb():.2f} GB")
    _, t = timed(api.embeddings, ref, str(folder))
    steps[cached("embeddings of every segment")] = t
    print(f"embeddings: {t:.1f} s")
    index, t = timed(api.split_rank_index, ref, coll, "all")
    steps[cached("ANN index of all segments: build or load")] = t
    result["index"] = {k: v for k, v in index.info.items() if k != "key"}
    print(f"index: {result['index']}")

    rng = np.random.default_rng(7)
    result["hyperlinks"] = {}
    for split in ("all", "test"):
        pool = np.flatnonzero(np.array([s.split == split for s in coll.segments])) if split != "all" else np.arange(len(coll))
        api.anchor_hyperlinks(ref, coll, int(pool[0]), split)  # the split's index and labels, once
        times = []
        for a in rng.choice(pool, 50, replace=False):
            _, t = timed(api.anchor_hyperlinks, ref, coll, int(a), split, n=10)
            times.append(t)
        info = api.scale_info(ref, coll, split) or {}
        result["hyperlinks"][split] = {**pct(times), "targets": int(len(pool) - 1), "index": info.get("kind", "exact"),
                                       "nprobe": info.get("nprobe"), "recall@10": info.get("recall@10")}
        print(f"one anchor's hyperlinks, split {split!r}: {result['hyperlinks'][split]}")

    _, t = timed(api.joint_points, ref, coll)
    steps[cached("projection: UMAP on a 20,000 sample + transform of the rest")] = t
    print(f"projection: {t:.1f} s")
    pts = api.joint_points(ref, coll)
    x, y = pts["x"], pts["y"]
    cx, cy, r = float(np.median(x)), float(np.median(y)), 0.1 * float(np.ptp(x))
    angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    lasso = {"x": (cx + r * np.cos(angles)).tolist(), "y": (cy + r * np.sin(angles)).tolist()}
    picked, t = timed(api.joint_selection, ref, coll, ["joint"], lassos=[lasso])
    steps["lasso selection over every point, server side (s)"] = t
    result["lasso_selected"] = len(picked)

    if previous:
        for step, seconds in previous["steps"].items():
            if ", from the caches" not in step and step != "load the collection, fresh process (s)":
                steps.setdefault(step, seconds)
        result["computed_on"] = previous.get("computed_on", previous["created"])
    result["app"] = app_times(folder.name, f"extra/{ckpt.name}")
    print("the app in a new process ...")
    fresh = subprocess.run([sys.executable, __file__, "--app-only", "--n", str(args.n), "--name", args.name,
                            "--kind", args.kind], capture_output=True, text=True, check=True)
    result["app_new_process"] = json.loads(fresh.stdout.strip().splitlines()[-1])
    print("the app in headless Chromium, a new server process ...")
    result["browser"] = browser_times(folder.name, f"extra/{ckpt.name}")
    result["peak_rss_gb"] = _peak_gb()
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    result["created"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "scale.md").write_text(render(result))
    print(render(result))


def zoom_views(name: str, ref: str, aspect: float = 920 / 600) -> tuple[dict, dict, int]:
    """(wide, close, number of joint points): two views a user zooms through on the Joint space at scale, both
    around the densest part of the joint projection (moved inside the whole view, where a drag can reach) and
    shaped as the plot (``aspect`` = its width / height in pixels, the axes share a scale): the close one holds
    at most 75% of ``POINTS_IN_VIEW`` points (drawn one by one), the wide one is three times its size (still a
    density image)."""
    from explorer import api
    from explorer.projection import POINTS_IN_VIEW, in_box, padded_extent

    checkpoint = str(Path(os.environ["EXPLORER_CHECKPOINTS"]) / ref.split("/", 1)[1])  # ref: the app's "extra/<file>"
    pts = api.joint_points(checkpoint, api.get_collection(str(Path(os.environ["EXPLORER_COLLECTIONS"]) / name)))
    joint = pts["modality"] == "joint"
    x, y = pts["x"][joint], pts["y"][joint]
    count, xe, ye = np.histogram2d(x, y, bins=100)
    i, j = np.unravel_index(np.argmax(count), count.shape)
    cx, cy = float(xe[i] + xe[i + 1]) / 2, float(ye[j] + ye[j + 1]) / 2
    x0, x1, y0, y1 = padded_extent(x, y)  # what the chart shows first: boxes are kept inside it, to be dragged

    def view(h: float) -> dict:  # a box of half-width h around the dense cell, moved inside the whole view
        h = min(h, (x1 - x0) / 2, (y1 - y0) * aspect / 2)
        vx, vy = min(max(cx, x0 + h), x1 - h), min(max(cy, y0 + h / aspect), y1 - h / aspect)
        return {"x": [vx - h, vx + h], "y": [vy - h / aspect, vy + h / aspect]}

    def inside(v: dict) -> int:
        return int(np.count_nonzero(in_box(x, y, tuple(v["x"]), tuple(v["y"]))))

    half = float(x1 - x0) / 2
    while inside(view(half)) > 0.75 * POINTS_IN_VIEW:
        half *= 0.9
    return view(3 * half), view(half), len(x)


def app_times(name: str, ref: str) -> dict:
    """AppTest server-side times of the two pages that must stay interactive at scale (``ref``: the checkpoint's
    id in the app's picker). In a new process the first step loads the collection."""
    from streamlit.testing.v1 import AppTest

    from explorer import api

    out = {}
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=3600)
    at.query_params.update({"collection": name, "model": ref})

    def clock(label: str, action) -> None:  # one rerun of the app, timed; never an exception on the page
        t0 = time.perf_counter()
        action().run()
        out[label] = time.perf_counter() - t0
        assert not at.exception, at.exception

    clock("app start + Overview (loads the collection in a new process) (s)", lambda: at)
    clock("Joint space: first open, projection cached on disk (s)", lambda: at.switch_page("pages/4_joint_space.py"))
    clock("Joint space: colour by split (s)", lambda: at.radio(key="keep_js_color_dense").set_value("split"))
    (chart,) = at.get("component_instance")  # the zoomable chart (pages/_zoom_plot): its report, as a browser sends it
    wide, close, _ = zoom_views(name, ref)

    def zoom(view: dict):
        at.session_state[chart.key] = {"view": view, "selection": None, "clicked": None, "seq": 1}
        return at

    clock("Joint space: zoom in, the view's density image (s)", lambda: zoom(wide))
    clock("Joint space: zoom in further, the view's points one by one (s)", lambda: zoom(close))
    assert "each drawn" in json.loads(json.loads(at.get("component_instance")[0].proto.json_args)["figure"])["layout"]["title"]["text"]
    clock("Joint space: back to the whole projection (s)", lambda: zoom(None))
    clock("Joint space: open again (s)", lambda: at.switch_page("pages/4_joint_space.py"))
    clock("Hyperlinks: first open (s)", lambda: at.switch_page("pages/5_hyperlinks.py"))
    times = []
    at.selectbox(key="keep_hl_split").set_value("all").run()
    coll = api.get_collection(str(Path(os.environ["EXPLORER_COLLECTIONS"]) / name))  # the app's, loaded by now
    for sid in [coll.segments[i].id for i in (11, 222_222 % len(coll), 555_555 % len(coll), 777_777 % len(coll))]:
        at.text_input(key="keep_hl_search").input(sid).run()  # the search box narrows the picker to this id
        t0 = time.perf_counter()
        at.selectbox(key="keep_hl_segment").select(sid).run()
        times.append(time.perf_counter() - t0)
        assert not at.exception, at.exception
        assert any(m.label.startswith("P@10") for m in at.metric)
    out["Hyperlinks: another anchor, split all (median s)"] = statistics.median(times)
    return out


def browser_times(name: str, ref: str, repeat: int = 3) -> dict:
    """Headless Chromium against a new ``streamlit run`` process (the caches on disk, nothing in memory): seconds
    from the user's action until the result is drawn and the app idle."""

    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, settle, streamlit_server, until_idle

    q = f"?collection={name}&model={ref}"
    out: dict = {}
    wide, close, n_points = zoom_views(name, ref)  # the views to zoom through; every joint point
    with streamlit_server(REPO / "test-artifacts" / "bench_scale") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1300})  # the whole chart in view, to zoom
        page.set_default_timeout(120_000)
        page.on("console", lambda m: print("  console:", m.text[:200], file=sys.stderr, flush=True)
                if m.type == "error" else None)

        def until(js_condition: str) -> None:
            try:
                until_idle(page, js_condition, timeout=300)
            except Exception:  # what the page showed, for whoever reads the error
                page.screenshot(path=str(REPO / "test-artifacts" / "bench_scale_timeout.png"))
                raise

        chart_js = "document.querySelector('iframe[title*=\"zoom_plot\"]')?.contentDocument"  # the chart's iframe

        def drawn(title: str, image: bool, whole: bool | None = None) -> str:
            """The chart's title holds ``title``, the density image is there or not (``image``) and, unless
            ``whole`` is None, the view is (or is not) the whole projection: its title starts with every point."""
            everything = f"t.textContent.startsWith('{n_points:,} points in view')"
            return (f"(() => {{ const d = {chart_js}; const t = d?.querySelector('.gtitle'); return !!t && "
                    f"t.textContent.includes('{title}') && {'!!' if image else '!'}d.querySelector('svg image')"
                    + ("" if whole is None else f" && {'' if whole else '!'}{everything}") + "; })()")

        def density_drawn(colour: str = "") -> str:
            return drawn(f"colour: {colour}" if colour else "as a density image", image=True)

        def plot_box() -> dict:  # the chart's plot area, in page pixels
            return page.frame_locator('iframe[title*="zoom_plot"]').locator(".nsewdrag").first.bounding_box()

        def zoom_to(view: dict) -> None:  # drag the zoom box (the chart's default drag mode) over ``view``
            frame = next(f for f in page.frames if "zoom_plot" in f.url)
            # the ranges drawn: the axes share a scale, so Plotly widens one of the figure's ranges
            xr, yr = frame.evaluate("() => { const l = document.getElementById('chart')._fullLayout; "
                                    "return [l.xaxis.range, l.yaxis.range]; }")
            box = plot_box()

            def px(x: float, y: float) -> tuple[float, float]:
                return (box["x"] + (x - xr[0]) / (xr[1] - xr[0]) * box["width"],
                        box["y"] + (yr[1] - y) / (yr[1] - yr[0]) * box["height"])

            page.mouse.move(*px(view["x"][0], view["y"][1]))
            page.mouse.down()
            page.mouse.move(*px(view["x"][1], view["y"][0]), steps=8)
            page.mouse.up()

        print("  browser: Joint space, a new tab", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        page.goto(url + "/joint_space" + q)
        until(density_drawn())
        out["Joint space: a new tab of a new server process (loads the collection and Plotly's JavaScript) (s)"] = \
            time.perf_counter() - t0
        print("  browser: go to Joint space", file=sys.stderr, flush=True)
        ts = []
        for _ in range(repeat):
            page.get_by_role("link", name="Hyperlinks").click()
            settle(page)
            t0 = time.perf_counter()
            page.get_by_role("link", name="Joint space").click()
            until(density_drawn())
            ts.append(time.perf_counter() - t0)
        out["Joint space: go to the page (median s)"] = statistics.median(ts)
        print("  browser: colour", file=sys.stderr, flush=True)
        ts = []
        for i in range(repeat):
            colour = ["split", "category"][i % 2]
            t0 = time.perf_counter()
            page.get_by_text(colour, exact=True).first.click()
            until(density_drawn(colour))
            ts.append(time.perf_counter() - t0)
        out["Joint space: colour by split / category (median s)"] = statistics.median(ts)
        print("  browser: zoom", file=sys.stderr, flush=True)
        ts_wide, ts_close, ts_back = [], [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            zoom_to(wide)
            until(drawn("points in view as a density image", image=True, whole=False))
            ts_wide.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            zoom_to(close)
            until(drawn("points in view, each drawn", image=False))
            ts_close.append(time.perf_counter() - t0)
            box = plot_box()
            t0 = time.perf_counter()
            page.mouse.dblclick(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            until(drawn("points in view as a density image", image=True, whole=True))
            ts_back.append(time.perf_counter() - t0)
        out["Joint space: zoom in, the view's density image (median s)"] = statistics.median(ts_wide)
        out["Joint space: zoom in further, the view's points one by one (median s)"] = statistics.median(ts_close)
        out["Joint space: double-click, the whole projection again (median s)"] = statistics.median(ts_back)
        page.get_by_role("link", name="Hyperlinks").click()
        settle(page)
        print("  browser: Hyperlinks, random anchor", file=sys.stderr, flush=True)
        anchor_js = ("[...document.querySelectorAll('strong')].map(e => e.textContent)"
                     ".filter(t => t.startsWith('Anchor '))[0] || ''")
        ts = []
        for _ in range(repeat):
            before = page.evaluate(f"() => {anchor_js}")
            t0 = time.perf_counter()
            page.get_by_role("button", name="Random anchor").click()
            until(f"({anchor_js}) !== '{before}' && !!document.querySelector('[data-testid=\"stDataFrame\"]')")
            ts.append(time.perf_counter() - t0)
        out["Hyperlinks: random anchor (median s)"] = statistics.median(ts)
        browser.close()
    return out


def render(r: dict) -> str:
    lines = [f"# Hyperlinking and the joint space at {r['n']:,} segments", "",
             f"Generated by `python bench/bench_scale.py` on {r['created']} ({r['machine']}). Collection: flowers102_reed "
             f"segments replicated with noise ({r['noise']} x feature std; MobileNet PCA-{r['image_dim']} + word2vec 100-d), "
             f"a {r['kind']} model trained on a 50,000-row draw of the same recipe. Peak RSS of the process: "
             f"{r['peak_rss_gb']:.2f} GB."
             + (f" Reusing the collection, checkpoint and caches of the run of {r['computed_on']}, whose computing times "
                "are kept in the table." if r.get("computed_on") else ""), "", "| step | seconds |", "| --- | ---: |"]
    lines += [f"| {k.replace(' (s)', '')} | {v:.2f} |" for k, v in r["steps"].items()]
    ix = r["index"]
    lines += ["", f"Index of all {ix['n']:,} rows: {'FAISS IVF, nlist ' + str(ix.get('nlist')) + ', nprobe ' + str(ix.get('nprobe')) if 'nprobe' in ix else 'exact'}"
              + (f", recall@10 {ix['recall@10']:.3f} against exact on {ix['n_check']} held-out rows" if 'recall@10' in ix else "") + ".", "",
              "| one anchor's hyperlinks (api) | targets | search | p50 ms | p95 ms |", "| --- | ---: | --- | ---: | ---: |"]
    for split, h in r["hyperlinks"].items():
        lines.append(f"| split {split} | {h['targets']:,} | {h['index']}{' (nprobe ' + str(h['nprobe']) + ')' if h['nprobe'] else ''} "
                     f"| {h['p50_ms']:.1f} | {h['p95_ms']:.1f} |")
    lines += ["", f"Lasso selection (a circle of radius 0.1 x the x range at the median): {r['lasso_selected']:,} segments.", "",
              "| app (AppTest, server side) | this process | a new process |", "| --- | ---: | ---: |"]
    fresh = r.get("app_new_process", {})
    lines += [f"| {k.replace(' (s)', '')} | {v:.2f} | {fresh[k]:.2f} |" if k in fresh else f"| {k.replace(' (s)', '')} | {v:.2f} | |"
              for k, v in r["app"].items()]
    if r.get("browser"):
        lines += ["", "| app in headless Chromium, a new `streamlit run` process | seconds |", "| --- | ---: |"]
        lines += [f"| {k.replace(' (s)', '')} | {v:.2f} |" for k, v in r["browser"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
