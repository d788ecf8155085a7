"""The ``explorer`` command: collections, eval JSON schema, and one-line errors for bad input."""

from __future__ import annotations

import json

import pytest

from explorer.cli import main


def test_collections_lists_counts(tiny_collection, capsys):
    assert main(["collections", str(tiny_collection), "--categories"]) == 0
    out = capsys.readouterr().out
    assert "48 segments (train 32, val 8, test 8), 4 categories" in out and "sunflower" in out


def test_collections_naming_an_unloadable_one_fails(tiny_collection, tmp_path, capsys):
    assert main(["collections", str(tmp_path / "BAD")]) == 2
    assert "BAD: not loadable" in capsys.readouterr().err
    assert main(["collections", str(tiny_collection), str(tmp_path / "BAD")]) == 2  # one bad name is enough


def test_eval_text_only_json_schema(tiny_collection, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["eval", "text-only", "--collection", str(tiny_collection), "--split", "val", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert set(r) >= {"model", "collection", "split", "n_queries", "hyperlinking"}
    assert r["model"] == "text-only" and r["split"] == "val" and r["n_queries"] == 8
    assert set(r["hyperlinking"]) == {"p@10", "map", "per_category"}
    assert set(r["hyperlinking"]["per_category"]) == {"lily", "rose", "sunflower", "violet"}
    # each category's transcripts share distinctive words: text-only retrieval is perfect here
    assert r["hyperlinking"]["map"] == pytest.approx(1.0)
    assert "P@10" in capsys.readouterr().out


def test_eval_json_to_stdout_is_pure_json(tiny_collection, capsys):
    assert main(["eval", "visual-only", "--visual", "pixels", "--collection", str(tiny_collection), "--json", "-"]) == 0
    captured = capsys.readouterr()
    r = json.loads(captured.out)
    assert r["model"] == "visual-only (pixels)" and 0 <= r["hyperlinking"]["p@10"] <= 1
    assert "P@10" in captured.err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["eval", "text-only", "--collection", "no_such_collection"], "no collection 'no_such_collection'"),
        (["eval", "missing.pt", "--collection", "TINY"], "no checkpoint at missing.pt"),
        (["eval", "text-only", "--collection", "TINY", "--split", "all", "--k", "0"], "k"),
    ],
)
def test_errors_are_one_clear_line(tiny_collection, capsys, argv, message):
    argv = [str(tiny_collection) if a == "TINY" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("explorer eval: error:") and message in err and "Traceback" not in err


@pytest.mark.integration
def test_real_baselines_beat_random(shared_data, capsys):
    results = {}
    for argv in (["text-only"], ["visual-only", "--visual", "pixels"]):
        assert main(["eval", *argv, "--collection", "flowers102_reed", "--split", "val", "--json", "-"]) == 0
        r = json.loads(capsys.readouterr().out)
        results[r["model"]] = r["hyperlinking"]
        assert r["n_queries"] == 814
    assert results["text-only"]["p@10"] > 0.15 and results["visual-only (pixels)"]["p@10"] > 0.04  # random ~0.01


def test_generate_takes_a_long_transcript_from_a_file_or_stdin(tiny_collection, tmp_path, capsys, monkeypatch):
    import io

    from explorer.train import train

    run = train("gan_cls", str(tiny_collection), epochs=1, device="cpu", out=tmp_path / "r",
                overrides={"batch_size": 8}, progress_bar=False, max_steps=1)
    long_text = "bright yellow petals with a dark brown centre " * 25_000  # ~1.2 MB: too long for argv
    (tmp_path / "t.txt").write_text(long_text)
    assert main(["generate", str(run / "latest.pt"), f"@{tmp_path / 't.txt'}", "--n", "2", "--out", str(tmp_path / "a.png")]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "a.png").is_file() and f"{len(long_text):,} characters" in out and len(out) < 300
    monkeypatch.setattr("sys.stdin", io.StringIO("deep purple petals"))
    assert main(["generate", str(run / "latest.pt"), "-", "--n", "2", "--out", str(tmp_path / "b.png")]) == 0
    assert "'deep purple petals'" in capsys.readouterr().out
    assert main(["generate", str(run / "latest.pt"), f"@{tmp_path / 'missing.txt'}"]) == 2
    assert "cannot read the transcript file" in capsys.readouterr().err
