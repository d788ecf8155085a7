"""Benchmark the Streamlit app's interactions on a real checkpoint and collection (default: the shipped GAN-CLS
checkpoint on flowers102_reed, 8,189 segments).

    python bench/bench_app.py                                  # AppTest: server-side render time per interaction
    python bench/bench_app.py --browser                        # also: time in headless Chromium until drawn
    python bench/bench_app.py --checkpoint runs/X/best.pt      # another checkpoint (e.g. before one is shipped)
    python bench/bench_app.py --cold                           # the cold path: first visits with empty caches

Results go to ``bench/results/app.json`` and ``app.md`` (``--out DIR`` elsewhere): every interaction's
timings, the machine, its load average and the warm-up times.

Warm-up first visits every page once (it loads the model, computes the embeddings, the hyperlink index of the
default split and the joint-space projection of every segment, each cached afterwards: on disk for the
projection and hyperlink index). Then each interaction is repeated ``--repeat`` times with fresh inputs (a new
transcript, another segment, another anchor: no result cache hit) and its median / max time is printed
against the 1 s target. The joint-space figure is checked to hold every segment (no sampling).

``--cold`` times what a new user waits for: every page's first visit in a process whose cache folder
(``EXPLORER_CACHE``) starts empty (keyframes, visual features, embeddings, hyperlink index, projection, a second
model's embeddings, an "optimise" top-words inversion), which is also what ``explorer warm`` (the Overview's
"Warm" button) computes in the background. It adds its rows to ``app.json`` / ``app.md`` beside the warm ones.

Numbers depend on what else runs on the machine; run it on an otherwise idle one for reportable figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
#: what main() writes: interactions timed in AppTest (server side) and in the browser, and the warm-up
RESULTS: dict = {"apptest": [], "browser": [], "warmup": []}
COLD: list[dict] = []  # --cold: first visits with empty caches


def find_checkpoint(collection: str) -> Path | None:
    shipped = REPO / "checkpoints" / f"gan_cls-{collection}.pt"
    if shipped.is_file():
        return shipped
    best = []
    for side in (REPO / "runs").glob("*/best.json"):
        try:
            meta = json.loads(side.read_text())
        except (OSError, ValueError):
            continue
        if meta.get("kind") == "gan_cls" and (meta.get("collection") or {}).get("name") == collection:
            best.append(((meta.get("metrics") or {}).get("val_p@10", 0), side.with_suffix(".pt")))
    return max(best)[1] if best else None


def png_bytes(seed: int) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


class Bench:
    def __init__(self, at, repeat: int):
        self.at, self.repeat, self.rows = at, repeat, []

    def run(self, at=None):
        at = at or self.at
        at.run()
        if at.exception:
            raise RuntimeError(at.exception[0].value)
        return at

    def time(self, name: str, action, note: str = "") -> None:
        times = []
        for i in range(self.repeat):
            t0 = time.perf_counter()
            action(i)
            times.append(time.perf_counter() - t0)
            errs = [e.value for e in self.at.error]
            if errs:
                raise RuntimeError(f"{name}: {errs}")
        med, worst = statistics.median(times), max(times)
        self.rows.append((name, med, worst, note))
        RESULTS["apptest"].append({"interaction": name, "median_s": med, "max_s": worst, "times_s": times, "note": note})
        print(f"  {name:<44}{med:7.3f} s median {worst:7.3f} s max  {'OK' if worst < 1 else 'SLOW'}  {note}", flush=True)


def warm(name: str, seconds: float, cold: bool = False) -> None:
    (COLD if cold else RESULTS["warmup"]).append({"step": name, "seconds": seconds})
    print(f"  {name:<44}{seconds:7.1f} s", flush=True)


def write_results(out: Path, meta: dict, cold: bool = False) -> None:
    """bench/results/app.{json,md}: the timings with the machine and checkpoint they were taken on. A ``--cold``
    run replaces only the cold rows of an existing app.json (and a warm run keeps its cold rows)."""
    import platform

    out.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads((out / "app.json").read_text())
    except (OSError, ValueError):
        data = {}
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs"
    if cold:
        data["cold"] = {**meta, "machine": machine, "steps": COLD}
    else:
        data = {**meta, "machine": machine, "target_s": 1.0, **RESULTS, "cold": data.get("cold")}
    (out / "app.json").write_text(json.dumps(data, indent=1) + "\n")
    (out / "app.md").write_text(render(data))
    print(f"\nwrote {out / 'app.json'} and {out / 'app.md'}")


def render(data: dict) -> str:
    lines = ["# App interaction times", ""]
    if data.get("apptest") is not None:
        lines += [f"`python bench/bench_app.py{' --browser' if data['browser'] else ''}` on "
                  f"{data['created']} ({data['machine']}, load average {data['load_average']:.1f} at the start), checkpoint "
                  f"`{data['checkpoint']}`, collection `{data['collection']}` ({data['n_segments']:,} segments), "
                  f"{data['repeat']} repetitions per interaction after warm-up. Target: under 1 s.", ""]
        for key, title in (("apptest", "Server side (Streamlit AppTest: script run to rendered elements)"),
                           ("browser", "Headless Chromium (user action until the result is drawn and the app idle)")):
            if data[key]:
                lines += [f"## {title}", "", "| interaction | median s | max s | under 1 s |", "| --- | ---: | ---: | --- |"]
                lines += [f"| {r['interaction']} | {r['median_s']:.3f} | {r['max_s']:.3f} | {'yes' if r['max_s'] < 1 else '**no**'} |"
                          for r in data[key]]
                lines.append("")
        lines += ["## Warm-up (first visit in a new process, disk caches filled; cached afterwards)", "",
                  "| step | s |", "| --- | ---: |"]
        lines += [f"| {r['step']} | {r['seconds']:.1f} |" for r in data["warmup"]]
    cold = data.get("cold")
    if cold:
        lines += ["", "## Cold path (first visits with empty caches: what a new user waits for once)", "",
                  f"`python bench/bench_app.py --cold` on {cold['created']} ({cold['machine']}, load average "
                  f"{cold['load_average']:.1f} at the start, torch threads {cold['torch_threads']}), checkpoint "
                  f"`{cold['checkpoint']}`, collection `{cold['collection']}` ({cold['n_segments']:,} segments). Each of "
                  "these shows a progress bar with counts and time left; `explorer warm` (the Overview's Warm button) "
                  "computes the disk-cached ones in the background instead.", "", "| step | s | min |", "| --- | ---: | ---: |"]
        lines += [f"| {r['step']} | {r['seconds']:.1f} | {r['seconds'] / 60:.1f} |" for r in cold["steps"]]
        lines.append(f"| **total** | {sum(r['seconds'] for r in cold['steps']):.1f} | "
                     f"{sum(r['seconds'] for r in cold['steps']) / 60:.1f} |")
    return "\n".join(lines) + "\n"


def apptest_bench(args, model_id: str) -> None:
    from streamlit.testing.v1 import AppTest

    from explorer import api

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=3600)
    at.query_params.update({"collection": args.collection, "model": model_id})
    b = Bench(at, args.repeat)
    coll = api.get_collection(args.collection)
    test_ids = [coll.segments[i].id for i in api.search_segments(coll, "", split=api.default_split(coll), limit=10**6)]

    cold = args.cold
    print(f"{'cold path' if cold else 'warm-up'} (first visit of every page; cached afterwards) on {args.collection}, "
          f"{len(coll):,} segments:")
    pages = ["1_overview", "2_transcript_to_images", "3_image_to_words", "4_joint_space", "5_hyperlinks",
             "6_failure_cases", "7_training"]
    t0 = time.perf_counter()
    b.run()
    warm("app start + Overview", time.perf_counter() - t0, cold)
    t0 = time.perf_counter()
    api.search_segments(coll, "warm up the transcript word index")  # once per process, shared by all sessions
    warm("search index of the transcripts", time.perf_counter() - t0, cold)
    for p in pages[1:]:
        t0 = time.perf_counter()
        at.switch_page(f"pages/{p}.py")
        b.run()
        warm(p, time.perf_counter() - t0, cold)
    if cold:
        at.switch_page("pages/5_hyperlinks.py")
        b.run()
        model2 = [w for w in at.selectbox if w.key == "keep_hl_model2"]
        steady = [i for i, o in enumerate(model2[0].options) if i and "unfinished" not in o] if model2 else []
        if steady:
            t0 = time.perf_counter()
            at.selectbox(key="keep_hl_model2").select_index(steady[0])
            b.run()
            warm(f"Hyperlinks: a second model side by side ({model2[0].options[steady[0]]})", time.perf_counter() - t0, cold)
        at.switch_page("pages/3_topwords.py")
        b.run()
        methods = [w for w in at.radio if w.key == "keep_i2w_method"]
        if methods and "optimise" in methods[0].options:
            t0 = time.perf_counter()
            at.radio(key="keep_i2w_method").set_value("optimise")
            b.run()
            warm("Image -> top words: 'optimise' inversion of one segment", time.perf_counter() - t0, cold)
        return

    print(f"\ninteractions after warm-up ({args.repeat} repetitions each, fresh inputs):")

    def goto(page):
        at.switch_page(f"pages/{page}.py")
        b.run()

    b.time("open Overview", lambda i: goto("1_overview"))
    goto("2_transcript_to_images")
    words = ["yellow", "purple", "white", "red", "pink", "orange", "large", "small", "round", "pointed"]
    b.time("type a transcript (8 images)", lambda i: (
        at.text_area(key="keep_t2i_text").input(f"this flower has {words[i % 10]} petals and a {words[(i + 3) % 10]} "
                                                f"centre, round {i}"), b.run()))
    b.time("'More images' (another batch)", lambda i: (at.button[0].click(), b.run()))
    b.time("pick a segment (search + select)", lambda i: (
        at.text_input(key="keep_t2i_search").input(test_ids[10 + i]), b.run(),
        at.selectbox(key="keep_t2i_segment").select(test_ids[10 + i]), b.run()), "two reruns")

    goto("3_image_to_words")
    b.time("pick a segment (top 15 words)", lambda i: (
        at.text_input(key="keep_i2w_search").input(test_ids[20 + i]), b.run(),
        at.selectbox(key="keep_i2w_segment").select(test_ids[20 + i]), b.run()), "two reruns")
    at.radio(key="keep_i2w_source").set_value("Upload an image")
    b.run()
    b.time("upload a 640x480 PNG (top words)", lambda i: (
        at.file_uploader[0].set_value((f"photo{i}.png", png_bytes(i), "image/png")), b.run()))
    at.radio(key="keep_i2w_source").set_value("Collection segment")
    b.run()

    b.time("open Joint space", lambda i: goto("4_joint_space"))
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    n_points = sum(len(t["x"]) if isinstance(t["x"], list) else len(t["customdata"]) for t in spec["data"])
    kinds = {t["type"] for t in spec["data"]}
    print(f"    joint space: {n_points:,} points drawn ({', '.join(sorted(kinds))}) of {len(coll):,} segments "
          f"-> {'no sampling' if n_points >= len(coll) else 'SAMPLED?'}")
    colours = ["split", "category"]
    b.time("colour by split / category", lambda i: (at.radio(key="keep_js_color").set_value(colours[i % 2]), b.run()))

    goto("5_hyperlinks")
    b.time("pick an anchor (ranked targets, P@10, AP)", lambda i: (
        at.text_input(key="keep_hl_search").input(test_ids[30 + i]), b.run(),
        at.selectbox(key="keep_hl_segment").select(test_ids[30 + i]), b.run()), "two reruns")
    model2 = [w for w in at.selectbox if w.key == "keep_hl_model2"]
    # a second model whose file does not change while we measure (not a run still training)
    steady = [i for i, o in enumerate(model2[0].options) if i and "unfinished" not in o] if model2 else []
    if steady:
        second = steady[0]
        print(f"    second model: {model2[0].options[second]}")
        t0 = time.perf_counter()
        at.selectbox(key="keep_hl_model2").select_index(second)  # warm-up: its embeddings + hyperlink index
        b.run()
        print(f"    (warm-up of the second model: {time.perf_counter() - t0:.1f} s)")

        def compare(i):
            at.selectbox(key="keep_hl_model2").select_index(0)
            b.run()
            at.selectbox(key="keep_hl_model2").select_index(second)
            b.run()

        b.time("compare with a second model (off + on)", compare, "two reruns")
        b.time("pick an anchor, two models side by side", lambda i: (
            at.text_input(key="keep_hl_search").input(test_ids[40 + i]), b.run(),
            at.selectbox(key="keep_hl_segment").select(test_ids[40 + i]), b.run()), "two reruns")

    goto("6_failure_cases")
    b.time("inspect another category", lambda i: (at.selectbox(key="keep_fc_category").select_index(1 + i), b.run()))
    b.time("open Training", lambda i: goto("7_training"))

    slow = [r for r in b.rows if r[2] >= 1]
    print(f"\n{len(b.rows) - len(slow)} of {len(b.rows)} interactions under 1 s (max over repetitions)"
          + (f"; slow: {', '.join(r[0] for r in slow)}" if slow else ""))


def browser_bench(args, model_id: str) -> None:
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, settle, streamlit_server, until_idle

    q = f"?collection={args.collection}&model={model_id}"
    with streamlit_server(REPO / "test-artifacts" / "bench_app") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(3_600_000)
        for path in ("/", "/imagery", "/topwords", "/joint_space", "/hyperlinks", "/failures", "/training"):
            page.goto(url + path + q)
            settle(page, timeout=3600)  # warm-up: every page once

        def until(js_condition: str) -> None:
            until_idle(page, js_condition, timeout=600)

        def report(name, ts):
            RESULTS["browser"].append({"interaction": name, "median_s": statistics.median(ts), "max_s": max(ts), "times_s": ts})
            print(f"  {name:<44}{statistics.median(ts):7.3f} s median {max(ts):7.3f} s max  "
                  f"{'OK' if max(ts) < 1 else 'SLOW'}", flush=True)

        # The tab's first in-app visit to the joint space also loads and compiles Streamlit's Plotly
        # chunk (several MB of JavaScript): once per browser tab, so it is warm-up, timed apart.
        page.goto(url + "/hyperlinks" + q)
        settle(page)
        t0 = time.perf_counter()
        page.get_by_role("link", name="Joint space").click()
        until("!!document.querySelector('.js-plotly-plot .gl-container canvas')")
        warm("browser: first in-tab visit of Joint space", time.perf_counter() - t0)

        print("\nbrowser (headless Chromium; from the user's action until the result is drawn and the app idle):")
        page.get_by_role("link", name="Transcript → imagery").click()
        settle(page)
        box = page.get_by_role("textbox", name="Transcript")
        images_drawn = ("(() => { const imgs = [...document.querySelectorAll("
                        "'[data-testid=\"stMainBlockContainer\"] [data-testid=\"stImage\"] img')]; "
                        "return imgs.length >= 8 && imgs.every(i => i.complete && i.naturalWidth > 0); })()")
        ts = []
        for i in range(args.repeat):
            token = f"zq{i}x"
            box.fill(f"pink petals with a yellow centre {token}")
            t0 = time.perf_counter()
            box.press("Control+Enter")
            until(f"document.body.innerText.includes('{token}') && {images_drawn}")
            ts.append(time.perf_counter() - t0)
        report("type a transcript -> 8 images drawn", ts)

        def title_has(text: str) -> str:
            return (f"[...document.querySelectorAll('.js-plotly-plot .gtitle')]"
                    f".some(t => t.textContent.includes('{text}'))")

        ts = []
        for i in range(args.repeat):
            page.get_by_role("link", name="Hyperlinks").click()
            settle(page)
            t0 = time.perf_counter()
            page.get_by_role("link", name="Joint space").click()
            until(title_has("8,189 points") + " && !!document.querySelector('.js-plotly-plot .gl-container canvas')")
            ts.append(time.perf_counter() - t0)
        report("go to Joint space (8,189 points, WebGL)", ts)
        ts = []
        for i in range(args.repeat):
            colour = ["split", "category"][i % 2]
            t0 = time.perf_counter()
            page.get_by_text(colour, exact=True).first.click()
            until(title_has(f"colour: {colour}"))
            ts.append(time.perf_counter() - t0)
        report("joint space: colour by split / category", ts)

        page.get_by_role("link", name="Hyperlinks").click()
        settle(page)
        ts = []
        anchor_js = ("[...document.querySelectorAll('strong')].map(e => e.textContent)"
                     ".filter(t => t.startsWith('Anchor '))[0] || ''")
        for i in range(args.repeat):
            before = page.evaluate(f"() => {anchor_js}")
            t0 = time.perf_counter()
            page.get_by_role("button", name="Random anchor").click()
            until(f"({anchor_js}) !== '{before}' && !!document.querySelector('[data-testid=\"stDataFrame\"]')")
            ts.append(time.perf_counter() - t0)
        report("hyperlinks: another anchor (random)", ts)
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="checkpoint file (default: checkpoints/gan_cls-COLLECTION.pt, else the "
                                         "best GAN-CLS run on the collection)")
    ap.add_argument("--collection", default="flowers102_reed")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--browser", action="store_true", help="also time the pages in headless Chromium")
    ap.add_argument("--browser-only", action="store_true", help="only the Chromium timings (no AppTest rows)")
    ap.add_argument("--out", default=str(REPO / "bench" / "results"), help="results folder (app.json, app.md)")
    ap.add_argument("--cold", action="store_true", help="first visits with an empty cache folder (the cold path) only")
    args = ap.parse_args()
    if args.cold:
        import tempfile

        os.environ["EXPLORER_CACHE"] = tempfile.mkdtemp(prefix="bench-app-cold-")  # before explorer is imported

    ckpt = Path(args.checkpoint).resolve() if args.checkpoint else find_checkpoint(args.collection)
    if ckpt is None or not ckpt.is_file():
        sys.exit(f"no checkpoint for {args.collection}: give --checkpoint (train one with `explorer train gan_cls "
                 f"--collection {args.collection}`)")
    if ckpt.parent != REPO / "checkpoints" and ckpt.parent.parent != REPO / "runs":
        os.environ["EXPLORER_CHECKPOINTS"] = str(ckpt.parent)
    from explorer import api

    entry = next((e for e in api.list_checkpoints() if Path(e["path"]).resolve() == ckpt), None)
    if entry is None:
        sys.exit(f"{ckpt} is not offered by the app's model picker")
    print(f"checkpoint {entry['id']} ({entry['kind']}, trained on {entry['collection']}, "
          f"val P@10 {entry['metrics'].get('val_p@10', float('nan')):.3f}); torch threads: "
          f"{__import__('torch').get_num_threads()}; load average {os.getloadavg()[0]:.1f}\n")
    from datetime import datetime

    meta = {"created": datetime.now().isoformat(timespec="seconds"), "load_average": os.getloadavg()[0],
            "checkpoint": entry["id"], "collection": args.collection, "repeat": args.repeat,
            "n_segments": len(api.get_collection(args.collection)), "torch_threads": __import__("torch").get_num_threads()}
    if not args.browser_only:
        apptest_bench(args, entry["id"])
    if (args.browser or args.browser_only) and not args.cold:
        browser_bench(args, entry["id"])
    write_results(Path(args.out), meta, cold=args.cold)


if __name__ == "__main__":
    main()
