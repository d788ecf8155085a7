"""Background jobs: separate ``explorer train`` (or ``explorer ingest``) processes, recorded in an embedded SQLite database.

A training job is one run directory trained by one or more processes (the first attempt, then
resumes). An **ingest job** (kind ``INGEST_KIND``, made by ``submit_ingest``) runs ``explorer ingest``
from a folder of videos into a collection folder under ``paths.collections_dir()``; its options
are kept in ``overrides``, its log in its own run directory, and it has ended well when the
collection's ``ingest_report.json`` says ``complete`` (ingest is resumable, so "resume" simply runs
it again and finished videos are skipped). A **warm job** (``WARM_KIND``, ``submit_warm``) runs
``explorer warm``: the app's one-off caches of the shipped models, ahead of a user (``explorer.warm``); its
outcome is its state file ``warm.json`` in the run directory. The
``jobs`` table (SQLite in WAL mode, so the app's sessions and other processes read while one writes)
records what was asked (kind, collection, epochs, device, seed, config overrides), where it runs
(run directory, log file) and what happened (status, pid, times, return code, a message).

Statuses: ``queued`` -> ``running`` -> ``finished`` | ``failed`` | ``cancelled``. Nothing here runs
in the background: ``reconcile()`` (the app calls it on every page render; any process may) brings
the table up to date:

* a ``running`` job whose process is gone becomes ``finished`` when the run's ``log.jsonl`` ends with
  a ``finished`` (or ``stopped``) status record, ``cancelled`` when a cancel was asked for, and
  ``failed`` otherwise (crashed, or killed from outside), with its last good checkpoint named;
* queued jobs are started, oldest first: a job that uses the GPU (``cuda``, or ``auto`` on a machine
  with a GPU) waits while another GPU job runs, CPU jobs wait while ``max_cpu_jobs`` CPU jobs run.

Processes are started with ``start_new_session=True`` (own process group: a browser refresh, an app
restart or a Ctrl-C in the app's terminal leaves them running), stdout and stderr appended to
``train.log`` in the run directory, and always *outside* a database transaction: ``reconcile`` claims
the jobs to start (``running``, no pid yet) in one short transaction, starts them, then records their
pids in another. ``cancel`` sends SIGTERM to the process group and returns at once (``wait`` seconds
at most); ``reconcile`` sends SIGKILL when the process outlives ``cancel_grace`` seconds. Checkpoints
are written atomically, so the run's ``latest.pt`` stays loadable and ``resume`` starts a new process
with ``explorer train --resume RUN_DIR``. A pid is only trusted with its process creation time
(psutil), so a recycled pid is never mistaken for the job.

The database carries a schema version (``PRAGMA user_version``); ``MIGRATIONS`` brings an older file
up to date when a store opens it, and a file written by a newer explorer is refused.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path

import psutil

from .paths import REPO_ROOT, runs_dir

STATUSES = ("queued", "running", "finished", "failed", "cancelled")
ACTIVE = ("queued", "running")
DEVICES = ("auto", "cpu", "cuda")
LOG_NAME = "train.log"

# Schema migrations: MIGRATIONS[i] takes a database from version i to i + 1 (PRAGMA user_version).
# Version 1 is the first schema; a file made before versioning (user_version 0 with a jobs table)
# already has it, so its migration is idempotent. Append new steps; never edit old ones.
_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    collection TEXT NOT NULL,
    epochs INTEGER,
    device TEXT NOT NULL,
    seed INTEGER NOT NULL,
    overrides TEXT NOT NULL DEFAULT '{}',
    run_dir TEXT NOT NULL DEFAULT '',
    log_path TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    uses_gpu INTEGER NOT NULL DEFAULT 0,
    resume INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,
    pid_start TEXT,
    created REAL NOT NULL,
    started REAL,
    ended REAL,
    returncode INTEGER,
    cancel_requested REAL,
    message TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
"""
MIGRATIONS = [_SCHEMA_V1]
SCHEMA_VERSION = len(MIGRATIONS)
INGEST_KIND = "ingest"
WARM_KIND = "warm"
WARM_STATE = "warm.json"  # a warm job's state file, in its run directory
# ``explorer ingest`` options an ingest job may set (name -> type); anything else is refused
INGEST_OPTIONS = {"transcripts": str, "segments": str, "gap_seconds": float, "segment_seconds": float,
                  "min_seconds": float, "max_seconds": float, "sample_fps": float, "workers": int, "force": bool}
STARTING_GRACE_S = 60.0  # a claimed job (running, no pid yet) is "starting" for this long

# Popen objects of processes this process started (to read their return codes and reap them).
_CHILDREN: dict[int, subprocess.Popen] = {}


class JobError(ValueError):
    """A job request or action is invalid (unknown kind, no GPU, not running, ...)."""


@dataclass
class Job:
    id: int
    kind: str
    collection: str
    epochs: int | None
    device: str
    seed: int
    overrides: str
    run_dir: str
    log_path: str
    status: str
    uses_gpu: int
    resume: int
    attempts: int
    pid: int | None
    pid_start: str | None
    created: float
    started: float | None
    ended: float | None
    returncode: int | None
    cancel_requested: float | None
    message: str | None

    @property
    def config_overrides(self) -> dict:
        return json.loads(self.overrides or "{}")

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def checkpoint(self) -> Path | None:
        """The run's best checkpoint, else its latest one, else None."""
        for name in ("best.pt", "latest.pt"):
            p = Path(self.run_dir) / name
            if p.is_file():
                return p
        return None

    def last_good(self) -> dict | None:
        """Where the run's ``latest.pt`` stands: {"path", "epoch", "global_step"} (None without one)."""
        p = Path(self.run_dir) / "latest.pt"
        if not p.is_file():
            return None
        info = {"path": str(p), "epoch": None, "global_step": None}
        try:
            meta = json.loads(p.with_suffix(".json").read_text())
            info.update({k: (meta.get("progress") or {}).get(k) for k in ("epoch", "global_step")})
        except (OSError, ValueError):
            pass
        return info

    def as_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["overrides"] = self.config_overrides
        ckpt = self.checkpoint
        d["checkpoint"] = str(ckpt) if ckpt else None
        return d


def default_db_path() -> Path:
    """``$EXPLORER_JOBS_DB``, else ``jobs.sqlite`` in the runs folder."""
    env = os.environ.get("EXPLORER_JOBS_DB")
    return Path(env).expanduser() if env else runs_dir() / "jobs.sqlite"


def gpu_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001 - no torch / broken CUDA: no GPU
        return False


# ------------------------------------------------------------------------------------- processes


def _proc_start_time(pid: int) -> str | None:
    """The process's creation time (psutil, as a string), or None when there is no such process."""
    try:
        return repr(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def process_status(pid: int | None, pid_start: str | None = None) -> tuple[bool, int | None]:
    """(alive, return code if known) of a job process; reaps it when it is our child."""
    if not pid:
        return False, None
    child = _CHILDREN.get(pid)
    if child is not None:
        rc = child.poll()
        if rc is not None:
            _CHILDREN.pop(pid, None)
            return False, rc
        return True, None
    try:  # a child of this process whose Popen we no longer hold (e.g. the module was reloaded)
        got, status = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            return False, os.waitstatus_to_exitcode(status)
    except (ChildProcessError, OSError):
        pass
    try:
        proc = psutil.Process(pid)
        if proc.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
            return False, None
        if pid_start is not None and repr(proc.create_time()) != pid_start:
            return False, None  # the pid was recycled by another process
    except psutil.NoSuchProcess:
        return False, None
    except psutil.AccessDenied:
        pass  # exists, owned by someone else
    return True, None


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # jobs lead their own process group (start_new_session)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def run_outcome(run_dir: str) -> str | None:
    """The last status record of the run's log: "finished", "stopped", "started", ... or None."""
    from .train import read_log

    last = None
    for rec in read_log(run_dir):
        if rec.get("type") == "status":
            last = rec.get("status")
    return last


def _read_tail(log_path: str | Path, max_bytes: int) -> str | None:
    """The last ``max_bytes`` of a log file as text, or None when it cannot be read."""
    try:
        with open(log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - max_bytes))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


def _log_error_line(log_path: str, max_bytes: int = 20_000) -> str | None:
    """The last line of a job's log that looks like an error message (for the failure message)."""
    tail = _read_tail(log_path, max_bytes)
    if tail is None:
        return None
    lines = [ln.strip() for ln in tail.replace("\r", "\n").splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "error" in ln.lower() or "Error" in ln or ln.startswith("Traceback"):
            return ln[:300]
    return None


def read_log_tail(log_path: str | Path, lines: int = 40, max_bytes: int = 64_000) -> str:
    """The last ``lines`` lines of a job's log; tqdm's carriage-return redraws keep only their last state."""
    text = _read_tail(log_path, max_bytes)
    if text is None:
        return ""
    out = []
    for raw in text.split("\n"):
        parts = [p for p in raw.split("\r") if p.strip()]
        if parts:
            out.append(parts[-1])
    return "\n".join(out[-lines:])


#: report statuses of videos that were skipped or are incomplete (listed to the user)
INGEST_PROBLEMS = ("failed", "partial", "no_segments")


def ingest_report(job: Job) -> dict | None:
    """The ``ingest_report.json`` of an ingest job's collection, or None when there is none or it was
    written before the job's current attempt started (an earlier run's)."""
    path = Path(job.collection) / "ingest_report.json"
    try:
        if path.stat().st_mtime < (job.started or 0) - 1:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def warm_state(job: Job) -> dict | None:
    """A warm job's state (``explorer.warm``), None before it wrote one."""
    from .warm import read_state

    return read_state(Path(job.run_dir) / WARM_STATE)


def _exit_reason(job: Job, returncode: int | None) -> str:
    """Why a job's process ended without finishing, in words."""
    if returncode is not None and returncode < 0:
        return f"killed by signal {-returncode}"
    if returncode is not None:
        return f"exited with code {returncode}"
    if job.pid is None:
        return "its process never started (the app stopped while starting it)"
    return f"process {job.pid} ended without finishing (killed from outside or crashed)"


# ------------------------------------------------------------------------------------------ store


class JobStore:
    """The jobs table of one SQLite file; every method opens its own short connection (thread-safe)."""

    def __init__(self, db_path: str | Path | None = None, max_cpu_jobs: int | None = None,
                 gpu: bool | None = None, python: str | None = None, cancel_grace: float = 5.0):
        self.db_path = Path(db_path) if db_path else default_db_path()
        env_max = os.environ.get("EXPLORER_MAX_CPU_JOBS")
        self.max_cpu_jobs = max_cpu_jobs if max_cpu_jobs is not None else int(env_max) if env_max else 2
        self._gpu = gpu
        self.python = python or sys.executable
        self.cancel_grace = float(cancel_grace)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
        self._migrate()

    def _migrate(self) -> None:
        """Bring the file to SCHEMA_VERSION, one migration per transaction; refuse a newer file."""
        with self._transaction() as con:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise JobError(f"{self.db_path} has job schema version {version}; this explorer knows up to "
                               f"{SCHEMA_VERSION} (a newer explorer wrote it)")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self._transaction() as con:
                if con.execute("PRAGMA user_version").fetchone()[0] >= target:
                    continue  # another process migrated it meanwhile
                for statement in MIGRATIONS[target - 1].split(";"):
                    if statement.strip():
                        con.execute(statement)
                con.execute(f"PRAGMA user_version = {target}")

    @property
    def gpu(self) -> bool:
        if self._gpu is None:
            self._gpu = gpu_available()
        return self._gpu

    @contextmanager
    def _connect(self):
        con = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        con.row_factory = sqlite3.Row
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def _transaction(self):
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    @staticmethod
    def _job(row) -> Job:
        return Job(**{k: row[k] for k in row.keys()})

    def _update(self, con, job_id: int, **values) -> None:
        cols = ", ".join(f"{k} = ?" for k in values)
        con.execute(f"UPDATE jobs SET {cols} WHERE id = ?", [*values.values(), job_id])

    # ------------------------------------------------------------------------------------- reads

    def get(self, job_id: int) -> Job:
        with self._connect() as con:
            row = con.execute("SELECT * FROM jobs WHERE id = ?", (int(job_id),)).fetchone()
        if row is None:
            raise JobError(f"no job {job_id}")
        return self._job(row)

    def list(self, statuses: tuple[str, ...] | None = None) -> list[Job]:
        """All jobs, newest first (optionally only those with one of ``statuses``)."""
        with self._connect() as con:
            rows = con.execute("SELECT * FROM jobs ORDER BY id DESC").fetchall()
        jobs = [self._job(r) for r in rows]
        return [j for j in jobs if statuses is None or j.status in statuses]

    # ----------------------------------------------------------------------------------- actions

    def submit(self, kind: str, collection: str, epochs: int | None = None, device: str = "auto", seed: int = 0,
               overrides: dict | None = None, start: bool = True) -> Job:
        """Record a new job (validated) and start it when nothing it must wait for is running."""
        from .models import MODELS

        if kind not in MODELS:
            raise JobError(f"unknown model kind {kind!r} (known: {', '.join(MODELS)})")
        if device not in DEVICES:
            raise JobError(f"unknown device {device!r} (expected {', '.join(DEVICES)})")
        if device == "cuda" and not self.gpu:
            raise JobError("device cuda was asked for, but this machine has no CUDA GPU (use auto or cpu)")
        if epochs is not None and int(epochs) < 1:
            raise JobError(f"epochs must be at least 1, got {epochs}")
        if overrides:
            from dataclasses import asdict

            from .models.base import config_from_dict

            config_cls = MODELS[kind][1]
            try:
                config_from_dict(config_cls, {**asdict(config_cls()), **overrides})
            except (TypeError, ValueError) as e:
                raise JobError(f"bad configuration override: {e}") from e
        from .data.collection import resolve_collection_path

        coll_path = resolve_collection_path(collection)  # CollectionError (a ValueError) when missing
        uses_gpu = device == "cuda" or (device == "auto" and self.gpu)
        return self._insert(kind, collection, None if epochs is None else int(epochs), device, int(seed),
                            overrides or {}, uses_gpu, f"{kind}-{coll_path.name}", start)

    def _insert(self, kind: str, collection: str, epochs: int | None, device: str, seed: int, overrides: dict,
                uses_gpu: bool, run_prefix: str, start: bool) -> Job:
        """Record a queued job, name its run directory ``runs/<run_prefix>-<time>-job<id>``, maybe start it."""
        with self._transaction() as con:
            cur = con.execute(
                "INSERT INTO jobs (kind, collection, epochs, device, seed, overrides, status, uses_gpu, created) "
                "VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
                (kind, collection, epochs, device, seed, json.dumps(overrides), int(uses_gpu), time.time()))
            job_id = cur.lastrowid
            run_dir = runs_dir() / f"{run_prefix}-{datetime.now():%Y%m%d-%H%M%S}-job{job_id}"
            self._update(con, job_id, run_dir=str(run_dir), log_path=str(run_dir / LOG_NAME))
        if start:
            self.reconcile()
        return self.get(job_id)

    def submit_ingest(self, source: str | Path, name: str, options: dict | None = None, start: bool = True) -> Job:
        """Record an ingest job: the videos of folder ``source`` into the collection ``name`` (a new or
        earlier-ingested folder under ``paths.collections_dir()``), with ``INGEST_OPTIONS``."""
        import re

        from .paths import collections_dir

        src = Path(source).expanduser()
        if not src.is_dir():
            raise JobError(f"video folder {str(source)!r} does not exist or is not a folder")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", name or ""):
            raise JobError(f"collection name {name!r}: use letters, digits, '_', '.', '-' (no '/'), starting with "
                           "a letter or digit")
        opts = dict(options or {})
        for key, value in opts.items():
            want = INGEST_OPTIONS.get(key)
            if want is None:
                raise JobError(f"unknown ingest option {key!r} (known: {', '.join(INGEST_OPTIONS)})")
            if not isinstance(value, want) or (want is not bool and isinstance(value, bool)):
                if want is float and isinstance(value, int) and not isinstance(value, bool):
                    opts[key] = float(value)
                else:
                    raise JobError(f"ingest option {key}: expected {want.__name__}, got {value!r}")
        from .video.ingest import TRANSCRIPT_SOURCES

        if opts.get("transcripts", "auto") not in TRANSCRIPT_SOURCES:
            raise JobError(f"ingest option transcripts: one of {', '.join(TRANSCRIPT_SOURCES)}; got {opts['transcripts']!r}")
        if opts.get("segments") and not Path(opts["segments"]).expanduser().is_file():
            raise JobError(f"segments file {opts['segments']!r} does not exist")
        out = collections_dir() / name
        opts["source"] = str(src.resolve())
        return self._insert(INGEST_KIND, str(out), None, "cpu", 0, opts, False, f"ingest-{name}", start)

    def submit_warm(self, all_shipped: bool = False, start: bool = True) -> Job:
        """Record a warm job: ``explorer warm`` over every collection's default model (``all_shipped``: also
        every shipped checkpoint on its own collection). Pairs already warm are skipped, so resuming it
        simply runs it again."""
        return self._insert(WARM_KIND, "(every collection)", None, "cpu", 0, {"all_shipped": bool(all_shipped)},
                            False, "warm", start)

    def cancel(self, job_id: int, wait: float = 0.0, grace: float | None = None) -> Job:
        """Cancel a queued job, or stop a running one: SIGTERM to its process group, and return.

        Returns at once by default (a page must not block); ``wait`` > 0 waits up to that many seconds
        for the process to end. A process that outlives ``grace`` (default: the store's
        ``cancel_grace``) seconds after the request gets SIGKILL, here while waiting or from
        ``reconcile``. The job turns ``cancelled`` once its process is gone.
        """
        grace = self.cancel_grace if grace is None else float(grace)
        job = self.get(job_id)
        if job.status == "queued":
            with self._transaction() as con:
                self._update(con, job.id, status="cancelled", ended=time.time(), cancel_requested=time.time(),
                             message="cancelled before it started")
            return self.get(job.id)
        if job.status != "running":
            raise JobError(f"job {job.id} is {job.status}, not running")
        asked = time.time()
        with self._transaction() as con:
            self._update(con, job.id, cancel_requested=asked)
        if process_status(job.pid, job.pid_start)[0]:
            _signal_group(job.pid, signal.SIGTERM)
        deadline = asked + max(0.0, float(wait))
        while time.time() < deadline and process_status(job.pid, job.pid_start)[0]:
            if time.time() - asked > grace:
                _signal_group(job.pid, signal.SIGKILL)
            time.sleep(0.1)
        self.reconcile()
        return self.get(job.id)

    def resume(self, job_id: int) -> Job:
        """Queue a failed or cancelled job again: ``--resume`` from its ``latest.pt``, or from scratch
        when it never wrote one."""
        job = self.get(job_id)
        if job.status not in ("failed", "cancelled"):
            raise JobError(f"job {job.id} is {job.status}; only failed or cancelled jobs can be resumed")
        if job.kind in (INGEST_KIND, WARM_KIND):  # they resume by themselves: finished videos / pairs are skipped
            with self._transaction() as con:
                self._update(con, job.id, status="queued", resume=1, cancel_requested=None, pid=None, pid_start=None,
                             returncode=None, ended=None, message=None)
            self.reconcile()
            return self.get(job.id)
        has_ckpt = (Path(job.run_dir) / "latest.pt").is_file()
        with self._transaction() as con:
            self._update(con, job.id, status="queued", resume=int(has_ckpt), cancel_requested=None, pid=None,
                         pid_start=None, returncode=None, ended=None,
                         message=None if has_ckpt else "no checkpoint had been written: starting again from scratch")
        self.reconcile()
        return self.get(job.id)

    def command(self, job: Job) -> list[str]:
        """The ``explorer train`` (or ``explorer ingest``) command line of the job's next attempt."""
        if job.kind == WARM_KIND:
            cmd = [self.python, "-m", "explorer.cli", "warm", "--state", str(Path(job.run_dir) / WARM_STATE)]
            return cmd + (["--all-shipped"] if job.config_overrides.get("all_shipped") else [])
        if job.kind == INGEST_KIND:
            opts = job.config_overrides
            cmd = [self.python, "-m", "explorer.cli", "ingest", opts["source"], "--out", job.collection]
            for key, value in opts.items():
                if key == "source" or value is None or value is False:
                    continue
                flag = "--" + key.replace("_", "-")
                cmd += [flag] if value is True else [flag, str(value)]
            return cmd
        cmd = [self.python, "-m", "explorer.cli", "train"]
        if job.resume:
            cmd += ["--resume", job.run_dir]
        else:
            cmd += [job.kind, "--collection", job.collection, "--seed", str(job.seed), "--out", job.run_dir]
            for key, value in job.config_overrides.items():
                cmd += ["--set", f"{key}={json.dumps(value)}"]
        if job.epochs is not None:
            cmd += ["--epochs", str(job.epochs)]
        cmd += ["--device", job.device]
        return cmd

    def _launch(self, job: Job) -> tuple[subprocess.Popen | None, str | None]:
        """Start a claimed job's process (outside any transaction): (process, None) or (None, why)."""
        run_dir = Path(job.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        cmd = self.command(job)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(job.log_path, "ab") as log:
            log.write(f"=== {datetime.now():%Y-%m-%d %H:%M:%S} attempt {job.attempts + 1}: {shlex.join(cmd)}\n".encode())
            log.flush()
            try:
                proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        cwd=str(REPO_ROOT), env=env, start_new_session=True)
            except OSError as e:
                return None, f"could not start: {e}"
        _CHILDREN[proc.pid] = proc
        return proc, None

    def _finish(self, con, job: Job, returncode: int | None) -> None:
        if job.kind == INGEST_KIND:
            return self._finish_ingest(con, job, returncode)
        if job.kind == WARM_KIND:
            return self._finish_warm(con, job, returncode)
        outcome = run_outcome(job.run_dir)
        last = job.last_good()
        where = (f"last good checkpoint: {last['path']} (epoch {last['epoch']}, step {last['global_step']})"
                 if last else "no checkpoint was written")
        if outcome in ("finished", "stopped"):
            status, message = "finished", None if outcome == "finished" else "stopped after --max-steps"
        elif job.cancel_requested:
            status, message = "cancelled", f"cancelled; {where}"
        else:
            status = "failed"
            err = _log_error_line(job.log_path)
            message = f"{_exit_reason(job, returncode)}; {where}" + (f" — {err}" if err else "")
        self._update(con, job.id, status=status, ended=time.time(), returncode=returncode, message=message)

    def _finish_ingest(self, con, job: Job, returncode: int | None) -> None:
        report = ingest_report(job)
        if report is not None and report.get("complete"):
            t = report["totals"]
            skipped = [v for v in report["videos"] if v["status"] in INGEST_PROBLEMS]
            status, message = "finished", (f"{t['segments_in_collection']} segment(s) from {t['videos']} video(s)"
                                           + (f"; {len(skipped)} video(s) with problems (see the report)" if skipped else ""))
        elif job.cancel_requested:
            status, message = "cancelled", "cancelled; finished videos are kept (resume skips them)"
        else:
            status = "failed"
            err = _log_error_line(job.log_path)
            message = (f"{_exit_reason(job, returncode)}; finished videos are kept (resume skips them)"
                       + (f" — {err}" if err else ""))
        self._update(con, job.id, status=status, ended=time.time(), returncode=returncode, message=message)

    def _finish_warm(self, con, job: Job, returncode: int | None) -> None:
        state = warm_state(job)
        if state is not None and state.get("complete"):
            counts: dict[str, int] = {}
            for p in state["pairs"]:
                counts[p["status"]] = counts.get(p["status"], 0) + 1
            status = "finished"
            message = f"{len(state['pairs'])} model/collection pair(s): " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        elif job.cancel_requested:
            status, message = "cancelled", "cancelled; what was computed is kept (resume skips it)"
        else:
            status = "failed"
            err = _log_error_line(job.log_path)
            message = f"{_exit_reason(job, returncode)}" + (f" — {err}" if err else "")
        self._update(con, job.id, status=status, ended=time.time(), returncode=returncode, message=message)

    def reconcile(self) -> list[Job]:
        """Update running jobs whose process ended, start queued jobs that may start; returns all jobs.

        Deciding happens in one short transaction, which also *claims* the jobs to start (``running``
        with no pid, so no other process starts them too); their processes are started after it, and
        their pids recorded in a second one."""
        to_start: list[Job] = []
        with self._transaction() as con:
            rows = con.execute("SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY id").fetchall()
            jobs = [self._job(r) for r in rows]
            running = []
            for job in jobs:
                if job.status != "running":
                    continue
                if job.pid is None and time.time() - (job.started or 0) < STARTING_GRACE_S:
                    running.append(job)  # claimed by a reconcile that is starting it right now
                    continue
                alive, rc = process_status(job.pid, job.pid_start)
                if alive:
                    if job.cancel_requested and time.time() - job.cancel_requested > self.cancel_grace:
                        _signal_group(job.pid, signal.SIGKILL)  # a cancel whose SIGTERM went unheeded
                    running.append(job)
                else:
                    self._finish(con, job, rc)
            gpu_busy = any(j.uses_gpu for j in running)
            cpu_running = sum(1 for j in running if not j.uses_gpu)
            for job in jobs:
                if job.status != "queued":
                    continue
                if job.uses_gpu:
                    if gpu_busy:
                        continue
                    gpu_busy = True
                else:
                    if self.max_cpu_jobs and cpu_running >= self.max_cpu_jobs:
                        continue
                    cpu_running += 1
                self._update(con, job.id, status="running", pid=None, pid_start=None, started=time.time(),
                             ended=None, returncode=None)
                to_start.append(job)
        for job in to_start:
            proc, problem = self._launch(job)
            with self._transaction() as con:
                if proc is None:
                    self._update(con, job.id, status="failed", ended=time.time(), message=problem)
                else:
                    self._update(con, job.id, pid=proc.pid, pid_start=_proc_start_time(proc.pid),
                                 attempts=job.attempts + 1)
        return self.list()

    def queue_reason(self, job: Job) -> str | None:
        """Why a queued job waits (None when it is not queued)."""
        if job.status != "queued":
            return None
        if job.uses_gpu:
            return "waiting for the GPU (another GPU job is running)"
        return f"waiting: {self.max_cpu_jobs} CPU job(s) already running"
