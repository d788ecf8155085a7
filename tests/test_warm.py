"""``explorer warm``: the app's one-off disk caches computed ahead of a user, with a state file for progress."""

from __future__ import annotations

import json

from explorer import api
from explorer.cli import main
from explorer.warm import cold_pairs, read_state, warm

from .app_fixtures import app_data, app_env  # noqa: F401  (fixtures)


def test_warm_computes_each_pair_once_and_records_failures(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    good = ("extra/gan_cls-tiny.pt", "tiny")
    pairs = [good, ("extra/bogus-tiny.pt", "tiny"), good]
    assert cold_pairs([good]) == [good]
    said: list[str] = []
    state = warm(pairs, tmp_path / "state.json", say=said.append)
    assert [p["status"] for p in state["pairs"]] == ["done", "failed", "skipped"]  # the repeat finds it warm
    assert state["complete"] and read_state(tmp_path / "state.json") == state
    assert "bogus-tiny.pt" in state["pairs"][1]["message"]
    coll = api.get_collection("tiny")
    assert api.hyperlinks_ready(good[0], coll, api.default_split(coll)) and api.projection_ready(good[0], coll)
    assert cold_pairs([good]) == [] and any("done in" in line for line in said)


def test_warm_cli_lists_and_warms(app_env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cache"))
    assert main(["warm", "--collection", "tiny", "--list"]) == 0
    assert "cold\textra/gan_cls-tiny.pt\ttiny" in capsys.readouterr().out
    assert main(["warm", "--collection", "tiny", "--state", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["complete"]
    assert main(["warm", "--collection", "tiny", "--list"]) == 0
    assert "warm\textra/gan_cls-tiny.pt\ttiny" in capsys.readouterr().out
    assert main(["warm", "--checkpoint", "extra/gan_cls-tiny.pt"]) != 0
    assert "--checkpoint needs --collection" in capsys.readouterr().err
