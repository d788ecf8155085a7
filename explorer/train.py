"""The training runner shared by every model kind: one linear loop, resumable by key.

``train(...)`` builds (or restores) a model of any registered kind, then, for each epoch: a fixed
per-epoch permutation of the train split (seeded by ``seed`` and the epoch, so it can be rebuilt on
resume), ``model.train_step`` per batch, a JSON line per step in ``log.jsonl``, and at the end of the
epoch the validation metrics (hyperlinking P@10 / MAP on the val split), an 8x8 sample grid for
generative kinds, and checkpoints. ``latest.pt`` is also written every ``checkpoint_every_s`` seconds
mid-epoch with the position inside the epoch and the RNG state, so ``--resume`` continues exactly where
it stopped (bit-identical on CPU). ``best.pt`` keeps the epoch with the best val P@10 (model selection
on val; test is only for reporting).

Under ``torchrun --nproc_per_node N`` (several GPUs, or gloo processes on a CPU) the N processes train
one run: each takes its slice of every global batch (``batch_size`` stays the global batch, so the
step count and the paper's hyperparameters keep their meaning), gradients are averaged over the
processes before each optimizer step, and rank 0 alone writes the run directory, validates and prints
(``explorer.distributed`` says what is synchronised and how).

Run directory::

    run.json                      arguments, config, data spec (written once)
    log.jsonl                     {"type": "step"|"epoch"|"status"|"plan", ...} one JSON object per line
    samples/epoch_NNN.png         generated 8x8 grid (rows: fixed val transcripts, columns: fixed noise)
    latest.pt / best.pt (+ .json) checkpoints (see explorer.checkpoint)
"""

from __future__ import annotations

import io
import json
import os
import platform
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

from . import checkpoint as ckpt_io
from . import distributed
from .data.collection import hash_split, load_collection
from .data.images import from_model_range, image_grid
from .data.text import WordVectors, collection_word_vectors
from .inputs import default_spec, embed_all, prepare_inputs
from .metrics import hyperlinking_eval
from .models import MODELS, DataSpec
from .models.base import config_from_dict
from .paths import runs_dir


class TrainingError(RuntimeError):
    pass


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; ``cuda`` without a GPU is a clear error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda was asked for but torch sees no CUDA GPU (use --device auto or cpu)")
    if device not in ("cpu", "cuda"):
        raise TrainingError(f"unknown device {device!r} (expected auto, cpu or cuda)")
    return device


def hardware_description(device: str, processes: int = 1) -> str:
    """What a run's numbers depend on besides its config and seed. On a CPU the kernels torch dispatches to
    (``torch.backends.cpu.get_cpu_capability()``: AVX512, AVX2, ...) and the thread count each change the
    trained weights in their last bits, and so the metrics: a run reproduces bit for bit only where both match."""
    if device == "cuda":
        one = f"CUDA {torch.cuda.get_device_name()}"  # the current device: this process's GPU
    else:
        one = (f"CPU {platform.processor() or platform.machine()} ({torch.backends.cpu.get_cpu_capability()} kernels), "
               f"{torch.get_num_threads()} threads")
    return one if processes == 1 else f"{processes} processes x {one}"


def parse_overrides(pairs: list[str] | None) -> dict:
    """``["loss=hinge", "g_steps=2"]`` -> {"loss": "hinge", "g_steps": 2} (values parsed as JSON when possible)."""
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise TrainingError(f"--set expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


class RunLog:
    """Append-only JSON-lines log; each line is flushed so a crash loses at most the line being written.
    ``path`` None: a log that writes nothing (the processes of a distributed run other than rank 0)."""

    def __init__(self, path: Path | None):
        self.path = path
        self.f = open(path, "a", encoding="utf-8") if path is not None else None

    def write(self, record: dict) -> None:
        if self.f is not None:
            self.f.write(json.dumps(record, default=float) + "\n")
            self.f.flush()

    def close(self) -> None:
        if self.f is not None:
            self.f.close()


def read_log(run_dir: str | Path) -> list[dict]:
    """The complete records of a run's log, each step and epoch once (a torn last line is ignored).

    A run killed and resumed replays the steps after its last checkpoint, and logs them again: when a
    ``step`` (or ``epoch``) record goes back to a step (epoch) already logged, the earlier records from
    there on are dropped, so the log reads as the resumed run computed it and curves do not zigzag.
    """
    path = Path(run_dir) / "log.jsonl"
    if not path.exists():
        return []
    records: list[dict] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        kind, key = rec.get("type"), {"step": "step", "epoch": "epoch"}.get(rec.get("type"))
        if key is not None and isinstance(rec.get(key), (int, float)):
            records = [r for r in records if not (r.get("type") == kind and r.get(key, -1) >= rec[key])]
        records.append(rec)
    return records


def clean_stale_temporaries(run_dir: Path) -> list[Path]:
    """Remove the temporary files a kill during an atomic write left in a run directory (one trainer
    owns a run directory, so any ``.*.tmp`` there when it starts is stale). Returns what was removed."""
    removed = []
    for folder in (run_dir, run_dir / "samples"):
        for tmp in folder.glob(".*.tmp") if folder.is_dir() else []:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def sample_grid(model, inputs, val_idx, device, seed: int = 1234) -> np.ndarray | None:
    """8 fixed val transcripts x 8 fixed noise vectors -> (64, 64, 64, 3) uint8, or None if not generative."""
    if not model.generative:
        return None
    rows = val_idx[:8]
    g = torch.Generator().manual_seed(seed)
    z = (torch.rand(8, model.config.noise_dim, generator=g) * 2 - 1).to(device)  # one noise per column
    was = model.training
    model.eval()
    with torch.inference_mode():
        text = inputs.text[rows].to(device).repeat_interleave(8, dim=0)  # (64, Dt): row-major grid
        images = model.generate(text, z.repeat(len(rows), 1))
    model.train(was)
    return from_model_range(images)


def validate(model, inputs, val_idx, device) -> dict:
    """Hyperlinking P@10 / MAP on the val split (relevance = same category)."""
    emb = embed_all(model, inputs, val_idx, device)["joint"]
    cats = [inputs.categories[i] if i >= 0 else None for i in inputs.label[val_idx].tolist()]
    res = hyperlinking_eval(emb, cats, k=10)
    return {"val_p@10": float(res["p@10"]), "val_map": float(res["map"])}


def make_checkpoint(kind, model, optimizers, spec, collection, wv, progress, metrics, seconds, device, processes=1) -> dict:
    return {
        "kind": kind,
        "config": asdict(model.config),
        "data_spec": spec.to_dict(),
        "collection": {"name": collection.name, "fingerprint": collection.fingerprint(), "split": "train",
                       "n_segments": len(collection.subset("train")) if "train" in collection.split_names() else len(collection),
                       "categories": progress.get("categories", [])},
        "text": wv.to_state() if wv is not None else None,
        "model_state": model.state_dict(),
        "optimizer_state": {name: opt.state_dict() for name, opt in optimizers.items()},
        "progress": {k: v for k, v in progress.items() if k != "categories"},
        "metrics": metrics,
        "train_seconds": seconds,
        "hardware": hardware_description(device, processes),
    }


def restore_rng(saved: dict, device: str, ddp: distributed.Ranks, seed: int) -> None:
    """Continue each process's random stream from a checkpoint's ``progress["rng"]``.

    A run of N processes saved each rank's state under ``"ranks"`` (and rank 0's at the top, which a
    single process reads): with as many processes again every rank continues its own stream, so the
    resumed run draws what the uninterrupted one would have. With another process count rank 0 takes
    the top-level state and the others start fresh streams (seed + rank): noise still differs per rank.
    """
    ranks = saved.get("ranks", [])
    if ddp.world_size > 1 and len(ranks) == ddp.world_size:
        saved = ranks[ddp.rank]
    elif not ddp.is_main:
        torch.manual_seed(seed + ddp.rank)
        return
    torch.set_rng_state(saved["torch"])
    if device == "cuda" and "cuda" in saved:
        torch.cuda.set_rng_state(saved["cuda"])


def train(kind: str, collection: str, epochs: int | None = None, device: str = "auto", seed: int = 0,
          out: str | Path | None = None, resume: str | Path | None = None, overrides: dict | None = None,
          visual: str = "mobilenet", checkpoint_every_s: float = 120.0, progress_bar: bool = True,
          max_steps: int | None = None) -> Path:
    """Train (or resume) a model; returns the run directory. See the module docstring.

    Started by ``torchrun`` (or inside a process group the caller started), every process calls this
    and they train one run together; each returns the run directory rank 0 wrote."""
    device = resolve_device(device)
    state = ckpt_io.load(Path(resume) / "latest.pt") if resume is not None else None  # the same on every rank
    kind = state["kind"] if state else kind
    if kind not in MODELS:
        raise TrainingError(f"unknown model kind {kind!r} (known: {', '.join(MODELS)})")
    if MODELS[kind][0].closed_form and distributed.world_size() > 1:
        # refused by every rank alike before any joins the process group: no rank waits on one that left
        raise TrainingError(f"{kind} is fitted in closed form, in one process: run it without torchrun "
                            f"(WORLD_SIZE={distributed.world_size()})")
    ddp = distributed.setup(device)
    try:
        run_dir = _train(kind, collection, epochs, device, seed, out, resume, state, overrides, visual,
                         checkpoint_every_s, progress_bar and ddp.is_main, max_steps, ddp)
        ddp.barrier()  # each rank returns once rank 0 has written the run directory (a resume may follow)
        return run_dir
    finally:
        distributed.cleanup(ddp)


def _train(kind, collection, epochs, device, seed, out, resume, state, overrides, visual, checkpoint_every_s,
           progress_bar, max_steps, ddp: distributed.Ranks) -> Path:
    from tqdm.auto import tqdm

    main = ddp.is_main  # rank 0 (or the only process): writes the run directory, validates, shows progress
    if state:
        run_dir = Path(resume)
        run_info = json.loads((run_dir / "run.json").read_text())
        collection, seed = run_info["collection"], run_info["seed"]
        epochs = epochs if epochs is not None else run_info["epochs"]
    model_cls, config_cls = MODELS[kind]
    # Each rank its own random stream (noise, dropout, wrong-image shifts differ across ranks; the
    # batches do not: epoch_permutation has its own generator). The initial weights are rank 0's,
    # broadcast below, so they are those a single process would draw with ``seed``.
    torch.manual_seed(seed + ddp.rank)
    np.random.seed(seed + ddp.rank)

    with ddp.main_first():  # rank 0 fills the disk caches (keyframes, word vectors, features) first
        coll = load_collection(collection)
        if "train" not in coll.split_names():
            raise TrainingError(f"collection {coll.name!r} has no train split")
        wv = None
        if not coll.features:
            wv = WordVectors.from_state(state["text"]) if state else collection_word_vectors(coll)

        if state:
            config = config_from_dict(config_cls, state["config"], from_checkpoint=True)
            spec = DataSpec.from_dict(state["data_spec"])
            categories = state["collection"].get("categories")
        else:
            base = asdict(config_cls())
            config = config_from_dict(config_cls, {**base, **(overrides or {})})
            spec = default_spec(coll, model_cls.wants_pixels, visual=visual, word_vectors=wv)
            categories = None
        if epochs is not None:
            config.epochs = int(epochs)

        inputs = prepare_inputs(coll, spec, wv, device=device, categories=categories, progress=progress_bar)
    categories = inputs.categories
    split_of = np.array(coll.column("split"))
    if "val" in coll.split_names():
        val_name = "val"
        train_idx = torch.from_numpy(np.flatnonzero(split_of == "train"))
        val_idx = torch.from_numpy(np.flatnonzero(split_of == "val"))
    else:
        # No val split (Wikipedia: official train/test only). Hold out a deterministic ~10% of train
        # for model selection, so the test split is never used to choose a checkpoint.
        val_name = "train-holdout"
        held = np.array([hash_split(sid, val_fraction=0.1, test_fraction=0.0) == "val" for sid in coll.ids])
        train_idx = torch.from_numpy(np.flatnonzero((split_of == "train") & ~held))
        val_idx = torch.from_numpy(np.flatnonzero((split_of == "train") & held))
    # Segments without any known word have a zero text vector: keep them out of training batches.
    train_idx = train_idx[inputs.known[train_idx]]

    model = model_cls(config, spec).to(device)
    if not state:
        train_data = {"text": inputs.text[train_idx].to(device), "label": inputs.label[train_idx].to(device)}
        if not inputs.pixels:
            train_data["image"] = inputs.image[train_idx].to(device)
        model.fit_input_stats(train_data)
    optimizers = model.configure_optimizers()
    progress = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "epochs": config.epochs, "categories": categories}
    best_p10, seconds = -1.0, 0.0
    if state:
        model.load_state_dict(state["model_state"])
        for name, opt in optimizers.items():
            opt.load_state_dict(state["optimizer_state"][name])
        progress.update({k: state["progress"][k] for k in ("epoch", "step_in_epoch", "global_step")})
        progress["epochs"] = config.epochs
        restore_rng(state["progress"]["rng"], device, ddp, seed)
        best_p10 = float(state["progress"].get("best_val_p@10", -1.0))
        seconds = float(state.get("train_seconds") or 0.0)
    else:
        run_dir = None
        if main:
            run_dir = Path(out) if out else runs_dir() / f"{kind}-{coll.name}-{datetime.now():%Y%m%d-%H%M%S}"
            if (run_dir / "latest.pt").exists():
                raise TrainingError(f"{run_dir} already holds a run; use --resume {run_dir} to continue it")
            run_dir.mkdir(parents=True, exist_ok=True)
            ckpt_io.atomic_write_text(run_dir / "run.json", json.dumps({
                "kind": kind, "collection": collection, "seed": seed, "epochs": config.epochs, "device": device,
                **({"processes": ddp.world_size} if ddp.world_size > 1 else {}),
                "config": asdict(config), "data_spec": spec.to_dict(), "val_split": val_name,
                "started": datetime.now().isoformat(timespec="seconds"),
            }, indent=2, default=list))
        run_dir = ddp.share(run_dir)  # rank 0's: its name holds the time rank 0 started
    for opt in optimizers.values():
        ddp.average_gradients(opt)
    # Every rank starts from rank 0's weights and buffers (a fresh init, or the restored checkpoint).
    ddp.broadcast([*model.parameters(), *model.buffers()])
    if main:
        (run_dir / "samples").mkdir(exist_ok=True)
        clean_stale_temporaries(run_dir)
    log = RunLog(run_dir / "log.jsonl" if main else None)
    log.write({"type": "status", "status": "resumed" if state else "started", "global_step": progress["global_step"],
               "device": device, "time": time.time()})

    def checkpoint(p: dict, metrics: dict) -> dict:
        return make_checkpoint(kind, model, optimizers, spec, coll, wv, p, metrics, seconds, device, ddp.world_size)

    def save_latest(metrics: dict) -> None:
        """Every rank calls this (it exchanges RNG states and buffers); rank 0 writes latest.pt."""
        rng = {"torch": torch.get_rng_state()}
        if device == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state()
        every_rank = ddp.gather(rng)
        # BatchNorm running statistics are rank-local (each rank normalises its own slice, as DDP does;
        # SyncBatchNorm would change what a kind computes and has no CPU implementation): they never
        # enter a gradient, and only rank 0's are validated and saved. Broadcasting them here keeps every
        # rank's model equal to the checkpoint, so an uninterrupted run and a resumed one agree.
        ddp.broadcast(model.buffers())
        if not main:
            return
        if ddp.world_size > 1:
            rng["ranks"] = every_rank
        p = {**progress, "rng": rng, "best_val_p@10": best_p10}
        ckpt_io.save(checkpoint(p, metrics), run_dir / "latest.pt")

    if model_cls.closed_form:
        t0 = time.time()
        tr = {"image": inputs.image_batch(train_idx, device), "text": inputs.text[train_idx].to(device),
              "label": inputs.label[train_idx].to(device)}
        fit_metrics = model.fit_closed_form(tr)
        seconds += time.time() - t0
        progress.update({"epoch": config.epochs, "step_in_epoch": 0, "global_step": 1})
        metrics = {**fit_metrics, **validate(model, inputs, val_idx, device)}
        best_p10 = metrics["val_p@10"]
        log.write({"type": "epoch", "epoch": 1, **metrics, "seconds": seconds})
        p = {**progress, "best_val_p@10": best_p10}
        ckpt_io.save(ckpt_io.strip_for_release(checkpoint(p, metrics)), run_dir / "best.pt")
        save_latest(metrics)
        log.write({"type": "status", "status": "finished", "time": time.time()})
        log.close()
        return run_dir

    batch_size = getattr(config, "batch_size", 64)  # the global batch: each rank trains on its slice
    if batch_size % ddp.world_size:
        raise TrainingError(f"batch_size {batch_size} does not split evenly over {ddp.world_size} processes")
    steps_per_epoch = max(1, len(train_idx) // batch_size)  # drop the last partial batch (BN needs >1)
    # what the progress display needs before the first epoch ends (explorer.api.run_progress)
    log.write({"type": "plan", "steps_per_epoch": steps_per_epoch, "epochs": config.epochs, "time": time.time()})
    last_save = time.time()
    metrics: dict = {}
    model.train()
    while progress["epoch"] < config.epochs:
        epoch = progress["epoch"]
        perm = train_idx[epoch_permutation(len(train_idx), seed, epoch)]
        bar = tqdm(range(progress["step_in_epoch"], steps_per_epoch), desc=f"{kind} epoch {epoch + 1}/{config.epochs}",
                   unit="step", disable=not progress_bar, initial=progress["step_in_epoch"], total=steps_per_epoch)
        for step in bar:
            t0 = time.time()
            idx = ddp.shard(perm[step * batch_size : (step + 1) * batch_size])
            step_metrics = ddp.mean(model.train_step(inputs.batch(idx, device), optimizers))
            seconds += time.time() - t0
            progress["step_in_epoch"] = step + 1
            progress["global_step"] += 1
            log.write({"type": "step", "epoch": epoch + 1, "step": progress["global_step"], "time": time.time(), **step_metrics})
            bar.set_postfix({k: f"{v:.3f}" for k, v in list(step_metrics.items())[:3]})
            if max_steps is not None and progress["global_step"] >= max_steps:
                save_latest(metrics)
                log.write({"type": "status", "status": "stopped", "reason": "max_steps", "time": time.time()})
                log.close()
                return run_dir
            if ddp.rank0_decides(time.time() - last_save > checkpoint_every_s):
                save_latest(metrics)
                last_save = time.time()
        bar.close()

        progress.update({"epoch": epoch + 1, "step_in_epoch": 0})
        if main:
            metrics = validate(model, inputs, val_idx, device)
            grid = sample_grid(model, inputs, val_idx, device)
            if grid is not None:
                png = io.BytesIO()  # written atomically: the Training page polls this folder
                image_grid(grid, ncols=8).save(png, format="PNG")
                ckpt_io.atomic_write_bytes(run_dir / "samples" / f"epoch_{epoch + 1:03d}.png", png.getvalue())
            log.write({"type": "epoch", "epoch": epoch + 1, "step": progress["global_step"], **metrics, "seconds": seconds})
            # a kind trained in stages (cmdn) is not a finished model before its last stage: never selected then
            improved = model.selectable() and metrics["val_p@10"] > best_p10
            if improved:
                best_p10 = metrics["val_p@10"]
            if improved:
                # best.pt first: latest.pt records best_p10, so a kill between the two writes must not
                # leave a latest.pt that claims a best checkpoint which was never written.
                p = {**progress, "best_val_p@10": best_p10}
                ckpt_io.save(ckpt_io.strip_for_release(checkpoint(p, metrics)), run_dir / "best.pt")
        save_latest(metrics)
        last_save = time.time()
    log.write({"type": "status", "status": "finished", "time": time.time()})
    log.close()
    return run_dir
