"""Background jobs as the Training page sees them: the job store, a run's curves and progress, an ingest job's
progress and report, log tails, sample grids, and the config overrides a user types."""

from __future__ import annotations

import re
from pathlib import Path

def jobs_db_path() -> Path:
    """The training jobs database: ``$EXPLORER_JOBS_DB``, else ``runs/jobs.sqlite``."""
    from ..jobs import default_db_path

    return default_db_path()


def job_store():
    """The training jobs store (``explorer.jobs.JobStore`` on ``jobs_db_path()``)."""
    from ..jobs import JobStore

    return JobStore(jobs_db_path())


def run_curves(run_dir) -> dict[str, list[dict]]:
    """A run's log as curves: {"steps": [step records], "epochs": [epoch records]}."""
    from ..train import read_log

    recs = read_log(run_dir)
    return {"steps": [r for r in recs if r.get("type") == "step"], "epochs": [r for r in recs if r.get("type") == "epoch"]}


def run_progress(run_dir) -> dict:
    """Where a run stands, from its log: {"step", "total_steps", "epoch", "epochs", "steps_per_s",
    "eta_s", "best_val": {"val_p@10", "val_map", "epoch"} | None}. Speed is measured over the last
    50 logged steps of the current attempt (None until two steps carry times); ``eta_s`` is None
    when the speed or the plan is unknown."""
    from ..train import read_log

    recs = read_log(run_dir)
    plans = [r for r in recs if r.get("type") == "plan"]
    steps = [r for r in recs if r.get("type") == "step"]
    epochs = [r for r in recs if r.get("type") == "epoch"]
    plan = plans[-1] if plans else {}
    total = plan["steps_per_epoch"] * plan["epochs"] if plan else None
    step = steps[-1]["step"] if steps else 0
    timed = [r for r in steps[-50:] if "time" in r and r["time"] >= plan.get("time", 0)]
    speed = None
    if len(timed) >= 2 and timed[-1]["time"] > timed[0]["time"]:
        speed = (timed[-1]["step"] - timed[0]["step"]) / (timed[-1]["time"] - timed[0]["time"])
    best = max(epochs, key=lambda r: r.get("val_p@10", float("-inf")), default=None)
    return {"step": step, "total_steps": total, "epoch": epochs[-1]["epoch"] if epochs else 0,
            "epochs": plan.get("epochs"), "steps_per_s": speed,
            "eta_s": (total - step) / speed if speed and total else None,
            "best_val": {k: best.get(k) for k in ("val_p@10", "val_map", "epoch")} if best else None}


def ingest_progress(job) -> dict:
    """Where an ingest job stands: {"done": videos with a done-marker (all of them once the report is
    complete), "total": videos in its source folder, "report": the collection's ingest_report.json
    (None until the run ends), "problems":
    [{"video", "status", "message"}] of the report's failed / partial / no-segment videos}."""
    from ..jobs import INGEST_PROBLEMS, ingest_report
    from ..video.decode import VIDEO_SUFFIXES

    out = Path(job.collection)
    source = Path(job.config_overrides.get("source", ""))
    try:
        total = sum(1 for p in source.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    except OSError:
        total = 0
    state = out / ".ingest"
    done = sum(1 for p in state.glob("*.json")) if state.is_dir() else 0
    report = ingest_report(job)  # None until this attempt wrote one
    problems = [{"video": v["video"], "status": v["status"], "message": " · ".join(v["messages"])[:300]}
                for v in (report or {}).get("videos", []) if v["status"] in INGEST_PROBLEMS]
    if report is not None and report.get("complete"):
        done = total = len(report["videos"])  # every video was looked at, problems included
    return {"done": min(done, total) if total else done, "total": total, "report": report, "problems": problems}


def transcript_sources() -> tuple[str, ...]:
    """What ``explorer ingest --transcripts`` accepts (the Ingest form's choices)."""
    from ..video.ingest import TRANSCRIPT_SOURCES

    return TRANSCRIPT_SOURCES


def job_log_tail(log_path, lines: int = 40) -> str:
    """The last lines of a job's log (progress-bar redraws collapsed)."""
    from ..jobs import read_log_tail

    return read_log_tail(log_path, lines=lines)


def latest_sample_grid(run_dir) -> Path | None:
    """The newest ``samples/epoch_NNN.png`` of a run (None before the first epoch ends)."""
    files = sorted(Path(run_dir).glob("samples/epoch_*.png"))
    return files[-1] if files else None


def parse_overrides(text: str) -> dict:
    """Config overrides typed one ``KEY=VALUE`` per line (or separated by commas/spaces): values parsed as
    JSON when possible (``batch_size=8``, ``loss=hinge``); ``ValueError`` for a malformed entry."""
    from ..train import parse_overrides as parse

    pairs = [p for p in re.split(r"[\s,]+", text or "") if p.strip()]
    return parse(pairs)


def warm_pairs(collection: str | None = None, all_shipped: bool = True) -> list[tuple[str, str]]:
    """(checkpoint id, collection) pairs ``explorer warm`` computes: each collection's default model, and with
    ``all_shipped`` every shipped checkpoint on its own collection (``collection``: only those of it)."""
    from ..warm import default_pairs

    return default_pairs(all_shipped=all_shipped, collections=[collection] if collection else None)


def cold_pairs(collection: str | None = None, all_shipped: bool = True) -> list[tuple[str, str]]:
    """The ``warm_pairs`` whose hyperlink index (default split) or projection is not on disk yet: their first
    visit of Hyperlinks / Joint space computes for minutes."""
    from ..warm import cold_pairs as cold

    return cold(warm_pairs(collection, all_shipped))


def cache_folder() -> str:
    """Where the disk caches are (``$EXPLORER_CACHE``, else ``.cache``): what "warm" refers to."""
    from ..paths import cache_dir

    return str(cache_dir())


def warm_job(store=None):
    """The warm job to show: a queued or running one, else the most recent (None when there was none)."""
    from ..jobs import WARM_KIND

    jobs = [j for j in (store or job_store()).list() if j.kind == WARM_KIND]
    active = [j for j in jobs if j.active]
    return (active or sorted(jobs, key=lambda j: j.created, reverse=True) or [None])[0]


def warm_progress(job) -> dict:
    """Where a warm job stands: {"done": pairs finished (done, skipped or failed), "total", "current": the pair
    and stage being computed with its done / total (None between pairs), "eta_s": seconds left estimated
    from the pairs computed so far (None before one is), "pairs": the state's rows}."""
    from ..jobs import warm_state

    state = warm_state(job) or {"pairs": [], "current": None}
    rows = state["pairs"]
    finished = [p for p in rows if p["status"] in ("done", "skipped", "failed")]
    computed = [p["seconds"] for p in rows if p["status"] == "done" and p["seconds"]]
    left = sum(1 for p in rows if p["status"] in ("pending", "running"))
    cur = state.get("current")
    current = None
    if cur is not None and cur.get("pair") is not None and cur["pair"] < len(rows):
        row = rows[cur["pair"]]
        current = {"checkpoint": row["checkpoint"], "collection": row["collection"], "stage": cur["stage"],
                   "done": cur["done"], "total": cur["total"]}
    return {"done": len(finished), "total": len(rows), "current": current, "pairs": rows,
            "eta_s": (sum(computed) / len(computed)) * left if computed and left else None}
