"""Warming the app's caches before a user waits for them (``explorer warm``, or the Overview page's button,
which runs it as a background job).

A first visit of Joint space, Hyperlinks or Failure cases computes, once per (checkpoint, collection): the
collection's keyframes and visual features, the model's embeddings of every segment, the hyperlink index of
the default split and the 2-D projection. All but the embeddings are cached on disk (``explorer.cache``), so a
separate process can compute them and the app finds them ready. ``warm`` does that for a list of pairs,
writing its state to a JSON file after every step and, while a step runs, about once a second (the Overview
page draws a progress bar from it). A pair already warm is skipped; a failing pair is recorded with its
message and the next one goes on.

State file: {"pairs": [{"checkpoint", "collection", "status": pending|running|done|skipped|failed,
"message", "seconds"}], "current": {"pair", "stage", "done", "total"} | None, "started", "updated",
"complete": bool}.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

from . import api, progress

#: what a pair's warm-up computes, in order (each a disk cache the pages look for)
STAGES = ("hyperlink index", "projection")


def default_pairs(all_shipped: bool = False, collections: list[str] | None = None) -> list[tuple[str, str]]:
    """(checkpoint id, collection) pairs to warm: every collection's default model (what the sidebar opens),
    then, with ``all_shipped``, every other shipped checkpoint on the collection it was trained on."""
    entries = api.list_checkpoints()
    names = api.list_collections() if collections is None else collections
    pairs: list[tuple[str, str]] = []
    for name in names:
        ref = api.default_checkpoint(name, entries)
        if ref:
            pairs.append((ref, name))
    if all_shipped:
        for e in entries:
            if e["source"] == "shipped" and e["supported"] and e["collection"] in names:
                pair = (e["id"], e["collection"])
                if pair not in pairs:
                    pairs.append(pair)
    return pairs


def pair_ready(ref: str, collection: str) -> bool:
    """Whether the pages will find this pair's hyperlink index (default split) and projection on disk."""
    coll = api.get_collection(collection)
    return (api.hyperlinks_ready(ref, coll, api.default_split(coll)) and api.projection_ready(ref, coll))


def cold_pairs(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The pairs that are not warm yet (an unreadable one counts as warm: warming cannot help it)."""
    out = []
    for ref, name in pairs:
        try:
            if not pair_ready(ref, name):
                out.append((ref, name))
        except (ValueError, KeyError, OSError):
            continue
    return out


def _write(path: Path, state: dict) -> None:
    state["updated"] = time.time()
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
    os.replace(tmp, path)  # the page never reads a half-written file


def read_state(path: str | Path) -> dict | None:
    """The state a ``warm`` run wrote (None before it wrote one, or when unreadable)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def warm(pairs: list[tuple[str, str]], state_path: str | Path, say: Callable[[str], None] = print) -> dict:
    """Compute the disk caches of each pair (``STAGES``), recording progress in ``state_path``; returns the
    final state."""
    path = Path(state_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"pairs": [{"checkpoint": r, "collection": c, "status": "pending", "message": None, "seconds": None}
                       for r, c in pairs], "current": None, "started": time.time(), "complete": False}
    _write(path, state)
    last = [0.0]

    for i, row in enumerate(state["pairs"]):
        ref, name = row["checkpoint"], row["collection"]
        t0 = time.monotonic()
        try:
            if pair_ready(ref, name):
                row.update(status="skipped", message="already warm", seconds=0.0)
                say(f"[{i + 1}/{len(pairs)}] {ref} on {name}: already warm")
                _write(path, state)
                continue
            row["status"] = "running"
            coll = api.get_collection(name)
            for stage in STAGES:
                state["current"] = {"pair": i, "stage": stage, "done": 0, "total": None}
                _write(path, state)
                say(f"[{i + 1}/{len(pairs)}] {ref} on {name}: {stage}")

                def report(what: str, done: int, total: int | None, stage=stage) -> None:
                    state["current"] = {"pair": i, "stage": f"{stage}: {what}", "done": done, "total": total}
                    now = time.monotonic()
                    if now - last[0] >= 1.0 or (total and done >= total):
                        last[0] = now
                        _write(path, state)
                        say(f"  {what} {done}/{total if total else '?'}")

                with progress.reporting(report):
                    if stage == "hyperlink index":
                        api.hyperlink_index(ref, coll, api.default_split(coll))
                    else:
                        api.joint_projection(ref, coll)
            row.update(status="done", seconds=round(time.monotonic() - t0, 1))
            say(f"[{i + 1}/{len(pairs)}] {ref} on {name}: done in {row['seconds']:.0f} s")
        except (ValueError, KeyError, OSError, RuntimeError) as e:
            row.update(status="failed", message=str(e)[:300], seconds=round(time.monotonic() - t0, 1))
            say(f"[{i + 1}/{len(pairs)}] {ref} on {name}: failed: {e}")
        state["current"] = None
        _write(path, state)
    state["complete"] = True
    _write(path, state)
    return state
