"""Benchmark GAN-CLS: training throughput (our step vs a plain textbook step) and inference latency.

    python bench/bench_gan_cls.py                # full run (a few minutes on 2 busy cores)
    python bench/bench_gan_cls.py --quick        # smoke run (batch 16, fewer repeats)
    python bench/bench_gan_cls.py --checkpoint checkpoints/gan_cls-flowers102_reed.pt

1. Training: segments/second through one D update and its ``g_steps`` = 4 G updates (batch 64, 64x64
   images, 100-d text, the paper's config) for
   - ours:  ``GanCls.train_step`` as shipped (see its docstring for what it saves), and
   - plain: the textbook PyTorch DCGAN/GAN-CLS loop, written out below: ``fake = G(z, t)`` with a
     graph, ``.detach()`` for D, three D passes, ``optD.step()``, then 4 x {``G(z, t)``, BCE of
     ``D(fake, t)`` against 1, backward through D (its weight gradients included) and G,
     ``optG.step()``}; the generator as a plain ``nn.Sequential``, NCHW weights, default Adam.
   Both start from the same weights and RNG state (their first steps' losses are compared, as a check
   that they compute the same thing) and are timed in the same process, interleaved (ABBA), after a
   warm-up; the speedup is the ratio of median step times. Utilisation = the FLOPs the step executes
   (convolutions and matrix products, counted by ``torch.utils.flop_counter``) per second, as a
   fraction of this machine's fp32 matmul peak (2048^3 ``torch.mm``) sampled through the same run,
   between the rounds. Process CPU time is recorded beside wall time: on a machine shared with
   other jobs it is the steadier measure (with 1 thread it excludes the time spent descheduled).
2. Latency: ``explorer.api.generate_images`` (8 images), ``explorer.api.top_words`` (both inversion
   methods) and ``model.embed`` on 1,000 segments (eval mode, batched), on ``--checkpoint`` or, if it
   is not given / does not exist, on a temporary checkpoint from a one-epoch run on a tiny synthetic
   collection (same architecture; only its vocabulary is small).

Writes ``bench/results/gan_cls_bench.json`` (``--out``), with the machine, thread count, torch version
and the load average at start and end: on a shared machine, compare only numbers taken together.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from explorer.models.base import DataSpec  # noqa: E402
from explorer.models.gan_cls import GanCls, GanClsConfig, frozen_running_stats  # noqa: E402

SPEC = DataSpec("pixels64", 3 * 64 * 64, "word2vec", 100)
TEXT_TINY = "bright yellow petals with a dark brown centre"
TEXT_FLOWERS = "this flower has bright yellow petals and a dark brown centre"


# ------------------------------------------------------------------------------------ machine info
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile") if f in have]
    except OSError:
        pass
    return []


def machine_info() -> dict:
    return {
        "cpu_model": cpu_model(), "cpu_flags": cpu_flags(), "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(), "torch_version": torch.__version__,
        "mkldnn": torch.backends.mkldnn.is_available(), "python": platform.python_version(),
        "platform": platform.platform(),
    }


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


# ------------------------------------------------------------------------------------------ timing
def median(xs) -> float:
    return float(statistics.median(xs))


def interleaved(fns: dict, rounds: int, inner: int = 1) -> dict[str, dict[str, list[float]]]:
    """{name: {"wall": [...], "cpu": [...]}}: seconds per call, one entry per round; rounds alternate
    the order (ABBA). "cpu" is this process's CPU time (all threads): unlike wall time it does not
    count the time the scheduler gives to other processes on a shared machine."""
    names = list(fns)
    out = {n: {"wall": [], "cpu": []} for n in names}
    for r in range(rounds):
        for n in (names if r % 2 == 0 else names[::-1]):
            c0, t0 = time.process_time(), time.perf_counter()
            for _ in range(inner):
                fns[n]()
            out[n]["wall"].append((time.perf_counter() - t0) / inner)
            out[n]["cpu"].append((time.process_time() - c0) / inner)
    return out


def timed(fn, repeat: int) -> list[float]:
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return ts


class MatmulPeak:
    """fp32 GFLOP/s of an n x n x n torch.mm: the most this machine does with these threads.

    Sampled at the start, between the training rounds and at the end, so that it sees the same
    competition for the CPU as the steps it is compared with."""

    def __init__(self, n: int):
        self.n, self.flops = n, 2.0 * n ** 3
        self.a, self.b, self.c = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
        torch.mm(self.a, self.b, out=self.c)  # warm-up
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def sample(self, repeat: int = 3) -> None:
        for _ in range(repeat):
            c0, t0 = time.process_time(), time.perf_counter()
            torch.mm(self.a, self.b, out=self.c)
            self.wall.append(time.perf_counter() - t0)
            self.cpu.append(time.process_time() - c0)

    def summary(self) -> dict:
        g = [self.flops / t / 1e9 for t in self.wall]
        return {"n": self.n, "samples": len(g), "median_gflops": median(g), "best_gflops": max(g),
                "median_gflops_per_cpu_s": median([self.flops / t / 1e9 for t in self.cpu if t > 0]),
                "gflops_samples": g}


# ------------------------------------------------------------------------------ the plain baseline
def plain_generator(G, z: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """The generator as the textbook writes it: text FC, concatenation, the nn.Sequential of deconvs."""
    t = F.leaky_relu(G.text_fc(text), G.cfg.leak)
    return G.net(torch.cat([t, z], dim=1)[:, :, None, None])


def plain_optimizers(model) -> dict:
    c = model.config
    return {"D": torch.optim.Adam(model.D.parameters(), lr=c.lr, betas=(c.beta1, 0.999)),
            "G": torch.optim.Adam(model.G.parameters(), lr=c.lr, betas=(c.beta1, 0.999))}


def plain_train_step(model, batch, optimizers) -> dict:
    """Textbook GAN-CLS step: the same losses, updates and BN behaviour as GanCls.train_step."""
    G, D, cfg = model.G, model.D, model.config
    image, text = batch["image"], model.norm_text(batch["text"])
    b = image.shape[0]
    shift = int(torch.randint(1, b, ())) if b > 1 else 0
    wrong = image.roll(shift, dims=0)
    ones, zeros = torch.ones(b), torch.zeros(b)

    fake = plain_generator(G, model.sample_noise(b), text)
    d_real = D(image, text)
    d_wrong = D(wrong, text)
    with frozen_running_stats(D):  # BN running statistics describe real keyframes only (as ours)
        d_fake = D(fake.detach(), text)
    d_loss = (F.binary_cross_entropy_with_logits(d_real, ones)
              + 0.5 * (F.binary_cross_entropy_with_logits(d_wrong, zeros) + F.binary_cross_entropy_with_logits(d_fake, zeros)))
    optimizers["D"].zero_grad()
    d_loss.backward()
    optimizers["D"].step()

    with frozen_running_stats(D):
        for _ in range(cfg.g_steps):
            fake = plain_generator(G, model.sample_noise(b), text)
            g_loss = F.binary_cross_entropy_with_logits(D(fake, text), ones)
            optimizers["G"].zero_grad()
            g_loss.backward()  # also computes D's weight gradients (cleared by the next optD.zero_grad)
            optimizers["G"].step()
    return {"d_loss": d_loss.item(), "g_loss": g_loss.item(),
            "d_real": torch.sigmoid(d_real.detach()).mean().item(), "d_wrong": torch.sigmoid(d_wrong.detach()).mean().item(),
            "d_fake": torch.sigmoid(d_fake.detach()).mean().item()}


def make_pair(batch_size: int, seed: int = 0):
    """(ours, plain): same weights; plain with the textbook NCHW weights and default Adam."""
    torch.manual_seed(seed)
    ours = GanCls(GanClsConfig(batch_size=batch_size), SPEC)
    plain = copy.deepcopy(ours).to(memory_format=torch.contiguous_format)
    return (ours, ours.configure_optimizers()), (plain, plain_optimizers(plain))


def make_batch(b: int, seed: int = 1) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"image": torch.rand(b, 3, 64, 64, generator=g) * 2 - 1, "text": torch.randn(b, 100, generator=g) * 0.05,
            "label": torch.zeros(b, dtype=torch.long)}


def step_flops(which: str, b: int) -> float:
    """FLOPs (convolutions + matrix products) one training step executes at batch b (counted at <= 8, scaled)."""
    from torch.utils.flop_counter import FlopCounterMode

    bc = min(b, 8)
    (ours, o_opt), (plain, p_opt) = make_pair(bc, seed=123)
    batch = make_batch(bc, seed=7)
    with FlopCounterMode(display=False) as fc:
        if which == "ours":
            ours.train_step(batch, o_opt)
        else:
            plain_train_step(plain, batch, p_opt)
    return fc.get_total_flops() * b / bc


def bench_training(args, peak: MatmulPeak) -> dict:
    b = args.batch
    (ours, o_opt), (plain, p_opt) = make_pair(b)
    batch = make_batch(b)
    # Warm-up, and the check that both compute the same step: same start, same RNG stream.
    state = torch.get_rng_state()
    m_ours = ours.train_step(batch, o_opt)
    torch.set_rng_state(state)
    m_plain = plain_train_step(plain, batch, p_opt)
    agree = {k: abs(m_ours[k] - m_plain[k]) for k in m_ours}
    for _ in range(args.warmup - 1):
        ours.train_step(batch, o_opt)
        plain_train_step(plain, batch, p_opt)

    la0 = loadavg()
    times = interleaved({"plain": lambda: plain_train_step(plain, batch, p_opt), "ours": lambda: ours.train_step(batch, o_opt),
                         "peak": lambda: peak.sample(2)}, rounds=args.rounds, inner=args.steps)
    la1 = loadavg()
    flops = {k: step_flops(k, b) for k in ("plain", "ours")}
    pk = peak.summary()
    res = {"batch": b, "g_steps": ours.config.g_steps, "rounds": args.rounds, "steps_per_round": args.steps,
           "warmup_steps": args.warmup, "loadavg_before": la0, "loadavg_after": la1,
           "first_step_metric_abs_diff": agree, "first_step_metrics": {"ours": m_ours, "plain": m_plain}, "variants": {}}
    for k in ("plain", "ours"):
        t, c = median(times[k]["wall"]), median(times[k]["cpu"])
        res["variants"][k] = {"seconds_per_step": times[k]["wall"], "cpu_seconds_per_step": times[k]["cpu"], "median_s": t,
                              "median_cpu_s": c, "segments_per_s": b / t, "gflop_per_step": flops[k] / 1e9,
                              "gflops": flops[k] / t / 1e9, "utilisation": flops[k] / t / 1e9 / pk["median_gflops"],
                              "gflops_per_cpu_s": flops[k] / c / 1e9,
                              "utilisation_cpu_time": flops[k] / c / 1e9 / pk["median_gflops_per_cpu_s"]}
    res["speedup"] = res["variants"]["plain"]["median_s"] / res["variants"]["ours"]["median_s"]
    res["speedup_per_round"] = [p / o for p, o in zip(times["plain"]["wall"], times["ours"]["wall"])]
    res["speedup_median_of_rounds"] = median(res["speedup_per_round"])
    res["speedup_cpu_time"] = res["variants"]["plain"]["median_cpu_s"] / res["variants"]["ours"]["median_cpu_s"]
    # ours at the plain step's FLOP count: the arithmetic the step stands for, per second
    res["ours_plain_equivalent_gflops"] = flops["plain"] / res["variants"]["ours"]["median_s"] / 1e9
    return res


# --------------------------------------------------------------------------------------- latency
@contextmanager
def _env(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def tiny_checkpoint(tmp: Path) -> Path:
    """A gan_cls checkpoint from one epoch on a tiny synthetic collection (the test suite's)."""
    from explorer.train import train
    from tests.conftest import make_folder_collection

    coll = make_folder_collection(tmp / "tiny")
    with _env(EXPLORER_CACHE=tmp / "cache", EXPLORER_RUNS=tmp / "runs"):
        run = train("gan_cls", str(coll), epochs=1, device="cpu", out=tmp / "run", overrides={"batch_size": 8}, progress_bar=False)
    return Path(run) / "latest.pt"


def bench_latency(args, ckpt: Path, text: str) -> dict:
    from explorer import api
    from explorer.inputs import embed_all

    q = args.quick
    res: dict = {"checkpoint": str(ckpt), "text": text}
    t0 = time.perf_counter()
    lm = api.load_model(ckpt)
    res["load_checkpoint_ms"] = 1e3 * (time.perf_counter() - t0)
    res["vocabulary_words"] = len(lm.word_vectors.vocab) if lm.word_vectors is not None else None
    t0 = time.perf_counter()
    api.generate_images(ckpt, text, n=8)
    res["generate_8_first_call_ms"] = 1e3 * (time.perf_counter() - t0)
    ts = timed(lambda: api.generate_images(ckpt, text, n=8, seed=1), 5 if q else 20)
    res["generate_8_ms"] = {"median": 1e3 * median(ts), "all": [1e3 * t for t in ts]}

    image = api.generate_images(ckpt, text, n=1, seed=3)[0]  # (64, 64, 3) uint8: a query image
    api.top_words(ckpt, image, method="transposed")
    ts = timed(lambda: api.top_words(ckpt, image, method="transposed"), 5 if q else 20)
    res["top_words_transposed_ms"] = {"median": 1e3 * median(ts), "all": [1e3 * t for t in ts]}
    ts = timed(lambda: api.top_words(ckpt, image, method="optimise"), 1 if q else 3)
    res["top_words_optimise_ms"] = {"median": 1e3 * median(ts), "all": [1e3 * t for t in ts], "steps": 200}
    res["top_words_example"] = [w for w, _ in api.top_words(ckpt, image, k=5, method="transposed")]

    # embed n segments: uint8 keyframes -> model range, batched as evaluation does (embed_all)
    from explorer.inputs import Inputs

    n = args.embed_n
    g = torch.Generator().manual_seed(0)
    inputs = Inputs(text=torch.randn(n, 100, generator=g) * 0.05, known=torch.ones(n, dtype=torch.bool),
                    image=torch.randint(0, 256, (n, 64, 64, 3), dtype=torch.uint8, generator=g),
                    label=torch.full((n,), -1), categories=[], pixels=True)
    model = lm.model
    embed_all(model, inputs, idx=torch.arange(min(n, 64)), batch_size=args.embed_batch)  # warm-up
    ts = timed(lambda: embed_all(model, inputs, batch_size=args.embed_batch), 1 if q else 3)
    out = embed_all(model, inputs, batch_size=args.embed_batch)
    res["embed"] = {"n": n, "batch_size": args.embed_batch, "dim": int(out["joint"].shape[1]), "median_ms": 1e3 * median(ts),
                    "all_ms": [1e3 * t for t in ts], "us_per_segment": 1e6 * median(ts) / n}
    return res


# ------------------------------------------------------------------------------------------ report
def report(r: dict) -> str:
    m, tr, lat, pk = r["machine"], r.get("training"), r.get("latency"), r["matmul_peak"]
    lines = [f"GAN-CLS benchmark - {m['cpu_model']} ({m['logical_cpus']} logical CPUs, {'/'.join(m['cpu_flags'])}), "
             f"{m['torch_threads']} torch thread(s), torch {m['torch_version']}",
             f"load average (1/5/15 min): start {r['loadavg_start']}, end {r['loadavg_end']}",
             f"fp32 matmul peak ({pk['n']}^3 torch.mm, {pk['samples']} samples through the run): median {pk['median_gflops']:.1f} GFLOP/s "
             f"(best {pk['best_gflops']:.1f}; per CPU-second {pk['median_gflops_per_cpu_s']:.1f})"]
    if tr:
        lines += ["", f"Training step: 1 D update + {tr['g_steps']} G updates, batch {tr['batch']}, 64x64 images, 100-d text "
                      f"({tr['rounds']} interleaved rounds x {tr['steps_per_round']} step(s), after {tr['warmup_steps']} warm-up)",
                  f"  {'variant':26s} {'ms/step':>8s} {'seg/s':>6s} {'GFLOP/step':>10s} {'GFLOP/s':>8s} {'of peak':>7s} "
                  f"{'CPU ms/step':>11s} {'of peak (CPU time)':>18s}"]
        for k, label in (("plain", "plain (textbook loop)"), ("ours", "ours (GanCls.train_step)")):
            v = tr["variants"][k]
            lines.append(f"  {label:26s} {1e3 * v['median_s']:8.0f} {v['segments_per_s']:6.2f} {v['gflop_per_step']:10.1f} "
                         f"{v['gflops']:8.1f} {v['utilisation']:7.1%} {1e3 * v['median_cpu_s']:11.0f} {v['utilisation_cpu_time']:18.1%}")
        ok = "PASS" if tr["speedup"] >= 1.2 else "FAIL"
        lines += [f"  speedup ours/plain: {tr['speedup']:.2f}x wall (median of per-round ratios {tr['speedup_median_of_rounds']:.2f}x; "
                  f"per round {', '.join(f'{x:.2f}' for x in tr['speedup_per_round'])}), {tr['speedup_cpu_time']:.2f}x CPU time"
                  f" - target >= 1.2x: {ok}",
                  f"  ours at the plain step's FLOP count: {tr['ours_plain_equivalent_gflops']:.1f} GFLOP/s "
                  f"({tr['ours_plain_equivalent_gflops'] / pk['median_gflops']:.1%} of peak)",
                  "  first step from the same start, |ours - plain|: "
                  + ", ".join(f"{k} {v:.1e}" for k, v in tr["first_step_metric_abs_diff"].items())]
    if lat:
        g8 = lat["generate_8_ms"]["median"]
        lines += ["", f"Latency on {lat['checkpoint']} ({lat['vocabulary_words']} vocabulary words)",
                  f"  {'operation':44s} {'median ms':>10s}",
                  f"  {'load checkpoint':44s} {lat['load_checkpoint_ms']:10.1f}",
                  f"  {'generate 8 images (first call)':44s} {lat['generate_8_first_call_ms']:10.1f}",
                  f"  {'generate 8 images':44s} {g8:10.1f}   target < 100 ms: {'PASS' if g8 < 100 else 'FAIL'}",
                  f"  {'top words, transposed inversion':44s} {lat['top_words_transposed_ms']['median']:10.1f}",
                  f"  {'top words, optimisation inversion (200 st.)':44s} {lat['top_words_optimise_ms']['median']:10.1f}",
                  f"  {'embed ' + format(lat['embed']['n'], ',') + ' segments (batch ' + str(lat['embed']['batch_size']) + ')':44s} "
                  f"{lat['embed']['median_ms']:10.1f}   ({lat['embed']['us_per_segment']:.0f} us/segment)"]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: batch 16, 2 rounds, fewer repeats, 200 segments")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    ap.add_argument("--batch", type=int, default=None, help="training batch (default 64, --quick 16)")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved timing rounds (default 5, --quick 2)")
    ap.add_argument("--steps", type=int, default=1, help="training steps per variant per round")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up steps per variant (the first is the equivalence check)")
    ap.add_argument("--peak-n", type=int, default=None, help="matmul size for the peak (default 2048, --quick 1024)")
    ap.add_argument("--embed-n", type=int, default=None, help="segments to embed (default 1000, --quick 200)")
    ap.add_argument("--embed-batch", type=int, default=512, help="embedding batch size (as explorer.inputs.embed_all)")
    ap.add_argument("--checkpoint", help="gan_cls checkpoint for the latency part (default: a temporary tiny one)")
    ap.add_argument("--text", help="transcript to generate from (default suits the checkpoint)")
    ap.add_argument("--skip-training", action="store_true")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "gan_cls_bench.json"))
    args = ap.parse_args()
    args.batch = args.batch or (16 if args.quick else 64)
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.peak_n = args.peak_n or (1024 if args.quick else 2048)
    args.embed_n = args.embed_n or (200 if args.quick else 1000)
    torch.set_num_threads(args.threads)

    r: dict = {"benchmark": "gan_cls", "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "quick": args.quick,
               "args": vars(args), "machine": machine_info(), "loadavg_start": loadavg()}
    peak = MatmulPeak(args.peak_n)
    peak.sample(3)
    if not args.skip_training:
        r["training"] = bench_training(args, peak)
    if not args.skip_latency:
        with tempfile.TemporaryDirectory(prefix="bench_gan_cls_") as tmp:
            if args.checkpoint and Path(args.checkpoint).is_file():
                ckpt, text = Path(args.checkpoint), args.text or TEXT_FLOWERS
            else:
                if args.checkpoint:
                    print(f"no checkpoint at {args.checkpoint}: using a temporary tiny one", file=sys.stderr)
                ckpt, text = tiny_checkpoint(Path(tmp)), args.text or TEXT_TINY
            r["latency"] = bench_latency(args, ckpt, text)
            r["latency"]["temporary_checkpoint"] = not (args.checkpoint and Path(args.checkpoint).is_file())
    peak.sample(3)
    r["matmul_peak"] = peak.summary()
    r["loadavg_end"] = loadavg()
    text = report(r)
    print(text)
    r["table"] = text
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(r, indent=2, default=float) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
