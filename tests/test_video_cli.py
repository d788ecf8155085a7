"""The subcommands added by explorer.video.cli.register (ingest, export-run, eval-run, check-run)."""

from __future__ import annotations

import argparse
import sys
import types

import numpy as np
import pytest

from explorer.video.cli import register


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="explorer")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def run(*argv) -> int:
    args = _parser().parse_args([str(a) for a in argv])
    return args.func(args)


def test_all_subcommands_registered():
    p = _parser()
    examples = {
        "ingest": ["DIR", "--out", "C"],
        "export-run": ["CKPT", "--collection", "C", "--anchors", "A", "--out", "R"],
        "eval-run": ["RUN", "--qrels", "Q"],
        "check-run": ["RUN", "--anchors", "A"],
    }
    for cmd, rest in examples.items():
        assert callable(p.parse_args([cmd, *rest]).func)


def test_ingest_then_export_eval_and_check(tmp_path, monkeypatch, capsys):
    pytest.importorskip("av")
    from explorer.video.synth import make_cues, make_video, write_subtitles

    src = tmp_path / "videos"
    src.mkdir()
    for name, seconds in (("vidA", 60), ("vidB", 45)):
        make_video(src / f"{name}.mp4", seconds)
        write_subtitles(src / f"{name}.srt", make_cues(seconds, prefix=name))
    out = tmp_path / "coll"
    assert run("ingest", src, "--out", out, "--segment-seconds", "15", "--workers", "2", "--no-progress") == 0
    text = capsys.readouterr().out
    assert "vidA.mp4: ok" in text and "vidB.mp4: ok" in text

    # bad arguments: a clear error, exit status 2
    assert run("ingest", src, "--out", tmp_path / "x", "--min-seconds", "50") == 2
    assert "min <= target <= max" in capsys.readouterr().err

    anchors = tmp_path / "anchors.xml"
    anchors.write_text(
        "<anchors>"
        "<anchor><anchorId>anchor_1</anchorId><startTime>0.00</startTime><endTime>0.15</endTime><fileName>vidA</fileName></anchor>"
        "<anchor><anchorId>anchor_2</anchorId><startTime>0.30</startTime><endTime>0.45</endTime><fileName>vidB</fileName></anchor>"
        "<anchor><anchorId>anchor_3</anchorId><startTime>0.30</startTime><endTime>0.45</endTime><fileName>other</fileName></anchor>"
        "</anchors>"
    )
    calls = []

    def joint_embeddings(model, collection, visual="pixels", device="cpu"):
        calls.append((model, visual, device))
        rng = np.random.default_rng(0)
        return rng.normal(size=(len(collection), 8)).astype(np.float32)

    def joint_rank_index(model, collection, joint):  # as for a collection above ann.EXACT_BELOW segments
        from explorer.ann import build_index

        calls.append(("index", len(joint)))
        return build_index(joint, exact_below=10**6)

    monkeypatch.setitem(sys.modules, "explorer.evaluate", types.SimpleNamespace(joint_embeddings=joint_embeddings,
                                                                                 joint_rank_index=joint_rank_index))
    run_file = tmp_path / "me14sh_TEST_L_1_Sp_M_V_gan.txt"
    assert run("export-run", "text-only", "--collection", out, "--anchors", anchors, "--out", run_file, "--top-k", "3") == 0
    text = capsys.readouterr().out
    assert calls[0] == ("text-only", "pixels", "cpu") and calls[1][0] == "index"
    assert "through an ANN index (exact)" in text
    assert "anchor_3" in text and "not in the collection" in text
    lines = run_file.read_text().splitlines()
    assert len(lines) == 6 and {l.split()[0] for l in lines} == {"anchor_1", "anchor_2"}
    assert all(l.split()[7] == "me14sh_TEST_L_1_Sp_M_V_gan" for l in lines)

    assert run("check-run", run_file, "--anchors", anchors, "--check-name") == 0
    assert "OK" in capsys.readouterr().out

    qrels = tmp_path / "q.qrel"
    first = lines[0].split()
    qrels.write_text(f"anchor_1 Q0 {first[2]} {first[3]} {first[4]} 1\nanchor_2 Q0 vidA 0.00 0.20 1\n")
    assert run("eval-run", run_file, "--qrels", qrels, "--anchors", anchors, "--per-anchor") == 0
    text = capsys.readouterr().out
    assert "anchor_1" in text and "P@10 0.1000" in text  # anchor_1: its rank-1 result is relevant

    broken = tmp_path / "broken.txt"
    broken.write_text(lines[1] + "\n")
    assert run("check-run", broken, "--anchors", anchors) == 1
    assert "non-consecutive rank" in capsys.readouterr().out
    assert run("eval-run", broken, "--qrels", tmp_path / "missing.qrel") == 2
    assert "cannot read" in capsys.readouterr().err


def test_ingest_with_nothing_usable_exits_1(tmp_path, capsys):
    src = tmp_path / "v"
    src.mkdir()
    (src / "broken.mp4").write_bytes(b"not a video at all" * 100)
    (src / "broken.srt").write_text("1\n00:00:00,000 --> 00:00:20,000\nhello\n")
    assert run("ingest", src, "--out", tmp_path / "o", "--no-progress") == 1
    assert "broken.mp4: failed" in capsys.readouterr().out
