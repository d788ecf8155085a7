"""The ``explorer`` command line: collections, eval, train, generate, topwords, release (+ video commands).

Every command prints a clear one-line error (exit 2) for bad input instead of a traceback; pass
``--debug`` (before the command) to see the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import __version__


def _default_checkpoint() -> str:
    from .paths import checkpoints_dir

    # The app's and CLI's default GAN: gan_proj when shipped, else the paper-faithful gan_cls.
    proj = checkpoints_dir() / "gan_proj-flowers102_reed.pt"
    return str(proj if proj.exists() else checkpoints_dir() / "gan_cls-flowers102_reed.pt")


def cmd_collections(args) -> int:
    from .data.collection import CollectionError, list_collection_names, load_collection
    from .paths import data_root

    names = args.names or list_collection_names()
    root = data_root(required=False)
    print(f"data root: {root if root else '(none: set EXPLORER_DATA)'}")
    out, failed = {}, []
    for name in names:
        try:
            coll = load_collection(name)
        except CollectionError as e:
            print(f"{name}: not loadable: {e}", file=sys.stderr)
            failed.append(name)
            continue
        counts = coll.counts()
        out[coll.name] = {"layout": coll.layout, "n_segments": len(coll), **counts, "skipped": len(coll.skipped)}
        splits = ", ".join(f"{k} {v}" for k, v in counts["split"].items())
        kind = "features only" if coll.features else "keyframes + transcripts"
        print(f"\n{coll.name}  [{coll.layout}, {kind}]  {len(coll)} segments ({splits}), {len(counts['category'])} categories")
        if coll.skipped:
            print(f"  skipped {len(coll.skipped)} rows, e.g. {coll.skipped[0]}")
        if args.categories:
            for cat, n in counts["category"].items():
                print(f"  {cat:<32}{n:>6}")
    if args.json:
        _write_json(out, args.json)
    # A collection that was asked for by name and cannot be loaded is an error (exit 2), not a listing.
    return 2 if failed and args.names else 0


def _write_json(obj: dict, target: str) -> None:
    text = json.dumps(obj, indent=2)
    if target == "-":
        print(text)
    else:
        Path(target).write_text(text + "\n")


def cmd_eval(args) -> int:
    from .evaluate import evaluate, format_table

    result = evaluate(args.model, args.collection, split=args.split, visual=args.visual, device=args.device, k=args.k)
    if args.json == "-":
        print(format_table(result, k=args.k), file=sys.stderr)
        _write_json(result, "-")
    else:
        print(format_table(result, k=args.k))
        if args.json:
            _write_json(result, args.json)
    return 0


def cmd_train(args) -> int:
    from .train import parse_overrides, train

    run_dir = train(args.kind, args.collection, epochs=args.epochs, device=args.device, seed=args.seed, out=args.out,
                    resume=args.resume, overrides=parse_overrides(args.set), visual=args.visual,
                    checkpoint_every_s=args.checkpoint_every, max_steps=args.max_steps)
    if os.environ.get("RANK", "0") == "0":  # under torchrun: said once, by rank 0
        print(f"run directory: {run_dir}")
    return 0


def cmd_generate(args) -> int:
    from .api import generate_images
    from .data.images import image_grid

    text = _transcript_arg(args.text)
    images = generate_images(args.checkpoint, text, n=args.n, seed=args.seed)
    image_grid(images, ncols=min(args.n, 8)).save(args.out)
    shown = text if len(text) <= 80 else text[:77] + "..."
    print(f"wrote {args.n} images for {shown!r} ({len(text):,} characters) to {args.out}")
    return 0


def _transcript_arg(value: str) -> str:
    """A transcript given on the command line: the text itself, ``-`` for standard input, or ``@PATH``
    for a UTF-8 file (for transcripts too long for a command line)."""
    if value == "-":
        return sys.stdin.read()
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"cannot read the transcript file {path}: {getattr(e, 'strerror', None) or e}") from e
    return value


def cmd_topwords(args) -> int:
    from .api import top_words, topword_methods

    method = args.method or topword_methods(args.checkpoint)[0]
    words = top_words(args.checkpoint, args.image, k=args.k, method=method)
    if args.json:
        _write_json({"image": args.image, "method": method, "words": [{"word": w, "cosine": s} for w, s in words]}, args.json)
    else:
        for rank, (w, s) in enumerate(words, 1):
            print(f"{rank:>3}  {w:<20}{s:+.3f}")
    return 0


def cmd_release(args) -> int:
    from . import checkpoint as ckpt_io
    from .evaluate import evaluate
    from .modelcard import model_card

    from .train import parse_overrides

    ckpt = ckpt_io.strip_for_release(ckpt_io.load(args.source), inference_only=not args.full)
    # Evaluation-time options chosen on val (e.g. gan_proj embed_pool): written into the released config.
    ckpt["config"] = {**ckpt["config"], **parse_overrides(args.set)}
    name = ckpt["collection"]["name"]
    from .data.collection import load_collection

    splits = load_collection(name).split_names()
    # Release-time metrics: val (what the run selected on) and test (reported, never selected on). A
    # collection without a val split (Wikipedia) keeps the val metrics the run measured on its train
    # hold-out. Evaluated from a temporary file: nothing is written at ``dest`` unless all of it works.
    import tempfile

    metrics = dict(ckpt.get("metrics") or {})
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / Path(args.dest).name
        ckpt_io.save(ckpt, probe)
        for split in [s for s in ("val", "test") if s in splits]:
            r = evaluate(str(probe), name, split=split, progress=False)
            metrics[f"{split}_p@10"], metrics[f"{split}_map"] = r["hyperlinking"]["p@10"], r["hyperlinking"]["map"]
            if "crossmodal" in r:
                metrics[f"{split}_crossmodal"] = r["crossmodal"]
    ckpt["metrics"] = metrics
    ckpt_io.save(ckpt, args.dest)
    card = Path(args.dest).with_suffix(".md")
    ckpt_io.atomic_write_text(card, model_card(ckpt, Path(args.dest), notes=args.notes))  # the app may be reading it
    print(f"wrote {args.dest} ({Path(args.dest).stat().st_size / 1e6:.1f} MB) and its model card {card}")
    return 0


def cmd_bench_quality(args) -> int:
    from .bench_quality import run_quality
    from .train import parse_overrides

    overrides: dict[str, dict] = {}
    for key, value in parse_overrides(args.set).items():
        name, dot, option = key.partition(".")
        if not dot or not name or not option:
            raise ValueError(f"--set expects KIND.KEY=VALUE (e.g. gan_cls.epochs=25), got {key!r}")
        overrides.setdefault(name, {})[option] = value
    seeds_of: dict[str, int] = {}
    for pair in args.seeds_of or []:
        name, eq, n = pair.partition("=")
        if not eq or not n.strip().isdigit():
            raise ValueError(f"--seeds-of expects NAME=N (e.g. gan_cls=3), got {pair!r}")
        seeds_of[name.strip()] = int(n)
    run_quality(args.collection, seeds=args.seeds, models=args.models, out=args.out, runs=args.runs, visual=args.visual,
                device=args.device, epochs=args.epochs, ablations=not args.no_ablations, overrides=overrides,
                seeds_of=seeds_of)
    return 0


def cmd_warm(args) -> int:
    from .warm import cold_pairs, default_pairs, warm

    if args.checkpoint:
        if not args.collection:
            raise ValueError("--checkpoint needs --collection (the collection to warm it on)")
        pairs = [(ref, args.collection) for ref in args.checkpoint]
    else:
        pairs = default_pairs(all_shipped=args.all_shipped, collections=[args.collection] if args.collection else None)
    if not pairs:
        raise ValueError("nothing to warm: no collection with a usable checkpoint")
    if args.list:
        cold = set(cold_pairs(pairs))
        for ref, name in pairs:
            print(f"{'cold' if (ref, name) in cold else 'warm'}\t{ref}\t{name}")
        return 0
    from .paths import cache_dir

    state_path = Path(args.state) if args.state else cache_dir() / "warm-state.json"
    state = warm(pairs, state_path)
    failed = [p for p in state["pairs"] if p["status"] == "failed"]
    return 1 if failed and len(failed) == len(pairs) else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="explorer", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"explorer {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("collections", help="list collections under the data root with counts per split and category")
    s.add_argument("names", nargs="*", help="names or paths (default: everything under the data root)")
    s.add_argument("--categories", action="store_true", help="also print counts per category")
    s.add_argument("--json", help="write counts as JSON to this file ('-' = stdout)")
    s.set_defaults(func=cmd_collections)

    s = sub.add_parser("eval", help="hyperlinking (and crossmodal) metrics of a model on a collection split")
    s.add_argument("model", help="text-only | visual-only | path to a checkpoint")
    s.add_argument("--collection", required=True)
    s.add_argument("--split", default="val", choices=["train", "val", "test", "all"])
    s.add_argument("--visual", default="pixels", help="visual-only extractor: pixels | mobilenet | vgg19")
    s.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    s.add_argument("--k", type=int, default=10)
    s.add_argument("--json", help="write the metrics JSON here ('-' = stdout, table to stderr)")
    s.set_defaults(func=cmd_eval)

    from .models import MODELS

    s = sub.add_parser("train", help="train a model kind on a collection (resumable)")
    s.add_argument("kind", nargs="?", choices=sorted(MODELS), help="model kind (omit with --resume)")
    s.add_argument("--collection", help="collection name or path")
    s.add_argument("--epochs", type=int)
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", help="run directory (default runs/KIND-COLLECTION-TIME)")
    s.add_argument("--resume", help="continue the run in this directory exactly where it stopped")
    s.add_argument("--visual", default="mobilenet", help="visual features for feature-based kinds")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config option (repeatable)")
    s.add_argument("--checkpoint-every", type=float, default=120.0, help="seconds between mid-epoch checkpoints")
    s.add_argument("--max-steps", type=int, help="stop (resumably) after this many steps in total")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("generate", help="images a GAN generates for a typed transcript (paper's Table 1)")
    s.add_argument("checkpoint", nargs="?", default=_default_checkpoint())
    s.add_argument("text", help="the transcript; '-' reads it from standard input, '@PATH' from a UTF-8 file")
    s.add_argument("--n", type=int, default=8)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default="grid.png")
    s.set_defaults(func=cmd_generate)

    s = sub.add_parser("topwords", help="nearest vocabulary words of an image via the inverted generator (Table 3)")
    s.add_argument("checkpoint", nargs="?", default=_default_checkpoint())
    s.add_argument("image")
    s.add_argument("--k", type=int, default=15)
    s.add_argument("--method", default=None, choices=["transposed", "optimise", "crossmodal"],
                   help="default: the checkpoint kind's best measured method (gan_cls: transposed, gan_proj: crossmodal)")
    s.add_argument("--json", help="write the words as JSON here ('-' = stdout)")
    s.set_defaults(func=cmd_topwords)

    s = sub.add_parser("release", help="ship a run checkpoint: strip optimizer/RNG, add val+test metrics, write a model card")
    s.add_argument("source")
    s.add_argument("dest", help="e.g. checkpoints/KIND-COLLECTION.pt; a model card KIND-COLLECTION.md is written beside it")
    s.add_argument("--notes", default="", help="free text for the model card (what was tried, caveats)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="evaluation-time config option for the released file (e.g. embed_pool=mean); repeatable")
    s.add_argument("--full", action="store_true",
                   help="keep the modules embedding never uses (discriminators, decoders); default: leave them out")
    s.set_defaults(func=cmd_release)

    s = sub.add_parser("warm", help="compute the app's one-off caches (hyperlink index, projection) ahead of a user")
    s.add_argument("--collection", help="only this collection (default: every collection under the data root)")
    s.add_argument("--checkpoint", action="append", help="this checkpoint (id or path; repeatable; needs --collection)")
    s.add_argument("--all-shipped", action="store_true",
                   help="also every shipped checkpoint on the collection it was trained on (default: each "
                        "collection's default model only)")
    s.add_argument("--list", action="store_true", help="only print which pairs are warm or cold")
    s.add_argument("--state", help="progress state JSON (default: CACHE/warm-state.json)")
    s.set_defaults(func=cmd_warm)

    s = sub.add_parser("bench", help="experiment tables (see explorer.bench_quality)")
    bench = s.add_subparsers(dest="bench_command", required=True)
    s = bench.add_parser("quality", help="train/reuse, select on val, evaluate on test: hyperlinking + crossmodal tables")
    s.add_argument("--collection", required=True)
    s.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (deterministic kinds are fitted once)")
    s.add_argument("--models", nargs="+", help="kinds and/or text-only, visual-only (default: all)")
    s.add_argument("--out", help="results folder (default bench/results)")
    s.add_argument("--runs", help="parent of the run directories (default runs/bench/COLLECTION)")
    s.add_argument("--visual", default="mobilenet", help="visual features for feature-based kinds and visual-only")
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.add_argument("--epochs", type=int, help="override every trained kind's epochs")
    s.add_argument("--no-ablations", action="store_true", help="skip the CM-GAN ablation presets")
    s.add_argument("--set", action="append", metavar="KIND.KEY=VALUE",
                   help="override a kind's config option (repeatable; over explorer.bench_quality.DEFAULT_OVERRIDES)")
    s.add_argument("--seeds-of", action="append", metavar="NAME=N",
                   help="run NAME (a model, or 'ablations' for the CM-GAN presets) on its first N seeds only (repeatable)")
    s.set_defaults(func=cmd_bench_quality)

    try:
        from .video.cli import register as register_video
    except ImportError:
        register_video = None
    if register_video is not None:
        register_video(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train" and not args.resume and (not args.kind or not args.collection):
        print("explorer train: give KIND and --collection, or --resume RUN_DIR", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, RuntimeError, KeyError, OSError) as e:
        if args.debug:
            raise
        print(f"explorer {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
