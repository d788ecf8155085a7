"""Subcommands ``ingest``, ``export-run``, ``eval-run`` and ``check-run`` for the ``explorer`` command.

``register(subparsers)`` adds them to an ``argparse`` subparsers object; each sets
``func=<callable(args) -> int exit status>`` as its default, so the main CLI can dispatch with
``return args.func(args)``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ingest",
        help="cut videos into a segment collection (keyframes + transcripts from subtitles or speech recognition)",
        description=(
            "Read every video (mp4, mkv, webm, ... through PyAV) in DIR. Its transcript comes from a subtitle file "
            "of the same stem (.srt or .vtt); without one, from a plain transcript STEM.txt aligned to the audio, "
            "else from offline speech recognition (pocketsphinx, US English). Cut it into segments along cue "
            "boundaries (or along --segments), pick each segment's keyframe (the sampled frame closest to the "
            "per-pixel median) and write a collection folder. Resumable: videos already ingested with the same "
            "parameters are skipped. Problems are listed in COLLECTION/ingest_report.json."
        ),
    )
    p.add_argument("dir", type=Path, metavar="DIR", help="folder holding the videos and their subtitles")
    p.add_argument("--out", required=True, type=Path, metavar="COLLECTION", help="collection folder to write")
    p.add_argument("--segment-seconds", type=float, default=30.0, help="target segment length (default 30)")
    p.add_argument("--min-seconds", type=float, default=10.0, help="minimum segment length (default 10)")
    p.add_argument("--max-seconds", type=float, default=120.0, help="maximum segment length (default 120)")
    p.add_argument("--sample-fps", type=float, default=1.0, help="frames sampled per second for the keyframe (0 = all; default 1)")
    p.add_argument("--display-size", type=int, default=256, help="shorter side of the display copy in px (default 256)")
    p.add_argument("--transcripts", default="auto", choices=["auto", "subtitles", "asr"],
                   help="auto: subtitles, else STEM.txt aligned, else speech recognition; subtitles: only "
                        "subtitle files; asr: always speech recognition (default auto)")
    p.add_argument("--segments", type=Path, default=None, metavar="FILE.tsv",
                   help="cut along these segments instead of cues: TSV with header video_id, start, end (seconds); "
                        "extra columns such as category are kept in segments.tsv")
    p.add_argument("--gap-seconds", type=float, default=0.0,
                   help="a pause between cues at least this long always ends a segment (0 = off; default 0)")
    p.add_argument("--workers", type=int, default=1,
                   help="videos processed in parallel (processes, or the CPUs of a local Ray with --ray; default 1)")
    p.add_argument("--ray", action="store_true",
                   help="process videos as Ray tasks (pip install 'explorer[scale]'): on a local Ray of --workers "
                        "CPUs, started for this run, unless --ray-address (or Ray's RAY_ADDRESS variable) is given; "
                        "same files as without")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="run the Ray tasks on the existing Ray cluster at ADDR (host:port, or 'auto'); implies --ray. "
                        "DIR and --out must be on a file system every node shares, at the same path")
    p.add_argument("--force", action="store_true", help="redo videos that were already ingested")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_ingest)

    p = subparsers.add_parser(
        "export-run",
        help="write a MediaEval/TRECVID linking run file for anchors from a model's joint embeddings",
        description=(
            "Rank the collection's segments for every anchor by cosine similarity of joint embeddings and write "
            "'anchorId Q0 videoId start end rank score runName' lines (times minutes.seconds), one block per anchor. "
            "An anchor's embedding is its own segment's, or the mean of the segments of its video overlapping it."
        ),
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint path, or 'text-only' / 'visual-only'")
    p.add_argument("--collection", required=True, help="collection name or folder (with video ids and times)")
    p.add_argument("--anchors", required=True, type=Path, help="anchors XML (MediaEval 2014 / TRECVID format)")
    p.add_argument("--out", required=True, type=Path, metavar="RUN", help="run file to write")
    p.add_argument("--run-name", default=None, help="last column of every line (default: from the run file name)")
    p.add_argument("--top-k", type=int, default=100, help="results per anchor (default 100)")
    p.add_argument("--visual", default="pixels", help="visual-only extractor: pixels | mobilenet | vgg19")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    p.set_defaults(func=cmd_export_run)

    p = subparsers.add_parser(
        "eval-run",
        help="P@5/10/20 and MAP of a linking run against judgments (overlap-based, as sh_eval)",
    )
    p.add_argument("run", type=Path, metavar="RUN", help="run file (.gz accepted)")
    p.add_argument("--qrels", required=True, type=Path, help="judgments 'anchor Q0 video start end relevance'")
    p.add_argument("--anchors", type=Path, default=None, help="anchors XML: results overlapping the anchor are excluded")
    p.add_argument("--missing-as-zero", action="store_true", help="judged anchors missing from the run count as 0")
    p.add_argument("--per-anchor", action="store_true", help="print every anchor's measures too")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_eval_run)

    p = subparsers.add_parser("check-run", help="check a linking run file as the official checker (sh_check) does")
    p.add_argument("run", type=Path, metavar="RUN")
    p.add_argument("--anchors", required=True, type=Path, help="anchors XML")
    p.add_argument("--durations", type=Path, default=None, help="collection video list with durations (cAXES.txt)")
    p.add_argument("--check-name", action="store_true", help="also check the file name convention")
    p.set_defaults(func=cmd_check_run)


def _err(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


def cmd_ingest(args: argparse.Namespace) -> int:
    from .ingest import IngestError, IngestParams, format_report, ingest
    from .segmentation import SegmentationError

    params = IngestParams(
        segment_seconds=args.segment_seconds, min_seconds=args.min_seconds, max_seconds=args.max_seconds,
        sample_fps=args.sample_fps, display_size=args.display_size, transcripts=args.transcripts,
        gap_seconds=args.gap_seconds,
    )
    try:
        report = ingest(args.dir, args.out, params, workers=args.workers, force=args.force, progress=not args.no_progress,
                        segments=args.segments, ray=args.ray, ray_address=args.ray_address)
    except (IngestError, SegmentationError) as e:
        return _err(str(e))
    print(format_report(report))
    return 0 if report["totals"]["segments_in_collection"] > 0 else 1


def cmd_export_run(args: argparse.Namespace) -> int:
    from ..data.collection import CollectionError, load_collection
    from .mediaeval import MediaEvalFormatError, build_run, check_run, check_run_name, format_run_line, read_anchors, write_run

    try:
        anchors = read_anchors(args.anchors)
        collection = load_collection(args.collection)
    except (MediaEvalFormatError, CollectionError) as e:
        return _err(str(e))
    if not collection.has_times:
        return _err(f"collection {collection.name!r} has no video ids / start / end times (segments.tsv): cannot link")
    run_name = args.run_name or args.out.name.split(".")[0]
    from ..evaluate import joint_embeddings, joint_rank_index  # imported lazily

    embeddings = joint_embeddings(args.checkpoint, collection, visual=args.visual, device=args.device)
    index = joint_rank_index(args.checkpoint, collection, embeddings)  # None below ann.EXACT_BELOW segments
    if index is not None:
        print(f"note: ranking {len(embeddings):,} segments through an ANN index ({index.kind}"
              + (f", nprobe {index.info['nprobe']}, recall@10 {index.info['recall@10']:.3f}" if index.kind == "ivf" else "")
              + ")")
    try:
        built = build_run(collection.segments, embeddings, anchors, run_name=run_name, top_k=args.top_k, index=index)
    except ValueError as e:
        return _err(str(e))
    for m in built.messages:
        print(f"note: {m}")
    errors = check_run([format_run_line(e) for e in built.entries], anchors)
    if errors:  # a bug in build_run: never write an invalid run
        return _err("the run would not pass the checker:\n  " + "\n  ".join(errors[:10]))
    if not built.entries:
        return _err(f"no result for any of the {len(anchors)} anchor(s): {args.out} not written")
    write_run(built.entries, args.out)
    n_anchors = len({e.topic for e in built.entries})
    print(f"wrote {len(built.entries)} result(s) for {n_anchors}/{len(anchors)} anchor(s) to {args.out}")
    for m in check_run_name(args.out.name):
        print(f"note: {m} (only needed for an official submission)")
    return 0


def cmd_eval_run(args: argparse.Namespace) -> int:
    import json

    from .mediaeval import MediaEvalFormatError, evaluate_run, read_anchors, read_qrels, read_run

    try:
        run = read_run(args.run)
        qrels = read_qrels(args.qrels)
        anchors = read_anchors(args.anchors) if args.anchors else None
    except MediaEvalFormatError as e:
        return _err(str(e))
    res = evaluate_run(run, qrels, anchors, missing_as_zero=args.missing_as_zero)
    if args.json:
        print(json.dumps({"mean": res.mean, "per_anchor": res.per_anchor if args.per_anchor else None,
                          "judged_not_in_run": res.judged_not_in_run, "run_not_judged": res.run_not_judged}, indent=1))
    else:
        print(res.format(per_anchor=args.per_anchor))
    return 0


def cmd_check_run(args: argparse.Namespace) -> int:
    from .mediaeval import MediaEvalFormatError, _open_text, check_run, check_run_name, read_anchors, read_durations

    try:
        anchors = read_anchors(args.anchors)
        durations = read_durations(args.durations) if args.durations else None
        with _open_text(args.run) as f:
            lines = f.read().splitlines()
    except (MediaEvalFormatError, OSError, UnicodeDecodeError) as e:
        return _err(str(e))
    errors = check_run(lines, anchors, durations)
    if args.check_name:
        errors = check_run_name(args.run.name) + errors
    if errors:
        for e in errors[:50]:
            print(e)
        if len(errors) > 50:
            print(f"... {len(errors) - 50} more")
        return 1
    print(f"{args.run}: OK ({sum(1 for l in lines if l.strip())} lines)")
    return 0
