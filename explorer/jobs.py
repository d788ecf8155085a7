"""Background training jobs: separate ``explorer train`` processes, recorded in an embedded SQLite database.

A job is one run directory trained by one or more processes (the first attempt, then resumes). The
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
``train.log`` in the run directory. ``cancel`` sends SIGTERM to the process group, then SIGKILL after
a grace period; checkpoints are written atomically, so the run's ``latest.pt`` stays loadable and
``resume`` starts a new process with ``explorer train --resume RUN_DIR``. A pid is only trusted with
its process start time (``/proc/PID/stat``), so a recycled pid is never mistaken for the job.
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

from .paths import REPO_ROOT, runs_dir

STATUSES = ("queued", "running", "finished", "failed", "cancelled")
ACTIVE = ("queued", "running")
DEVICES = ("auto", "cpu", "cuda")
LOG_NAME = "train.log"

_SCHEMA = """
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
    """The process's start time (clock ticks since boot) from /proc, or None where /proc is absent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its closing ")"
    return stat.rsplit(")", 1)[1].split()[19]


def _proc_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
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
        os.kill(pid, 0)
    except ProcessLookupError:
        return False, None
    except PermissionError:
        pass  # exists, owned by someone else: the start time below decides
    if _proc_state(pid) in ("Z", "X"):
        return False, None
    if pid_start is not None:
        now = _proc_start_time(pid)
        if now is not None and now != pid_start:
            return False, None  # the pid was recycled by another process
    return True, None


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # jobs lead their own process group (start_new_session)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _run_outcome(run_dir: str) -> str | None:
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


# ------------------------------------------------------------------------------------------ store


class JobStore:
    """The jobs table of one SQLite file; every method opens its own short connection (thread-safe)."""

    def __init__(self, db_path: str | Path | None = None, max_cpu_jobs: int | None = None,
                 gpu: bool | None = None, python: str | None = None):
        self.db_path = Path(db_path) if db_path else default_db_path()
        env_max = os.environ.get("EXPLORER_MAX_CPU_JOBS")
        self.max_cpu_jobs = max_cpu_jobs if max_cpu_jobs is not None else int(env_max) if env_max else 2
        self._gpu = gpu
        self.python = python or sys.executable
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)

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
        with self._transaction() as con:
            cur = con.execute(
                "INSERT INTO jobs (kind, collection, epochs, device, seed, overrides, status, uses_gpu, created) "
                "VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
                (kind, collection, None if epochs is None else int(epochs), device, int(seed),
                 json.dumps(overrides or {}), int(uses_gpu), time.time()))
            job_id = cur.lastrowid
            run_dir = runs_dir() / f"{kind}-{coll_path.name}-{datetime.now():%Y%m%d-%H%M%S}-job{job_id}"
            self._update(con, job_id, run_dir=str(run_dir), log_path=str(run_dir / LOG_NAME))
        if start:
            self.reconcile()
        return self.get(job_id)

    def cancel(self, job_id: int, grace: float = 5.0) -> Job:
        """Cancel a queued job, or stop a running one: SIGTERM, then SIGKILL after ``grace`` seconds."""
        job = self.get(job_id)
        if job.status == "queued":
            with self._transaction() as con:
                self._update(con, job.id, status="cancelled", ended=time.time(), cancel_requested=time.time(),
                             message="cancelled before it started")
            return self.get(job.id)
        if job.status != "running":
            raise JobError(f"job {job.id} is {job.status}, not running")
        with self._transaction() as con:
            self._update(con, job.id, cancel_requested=time.time())
        alive, _ = process_status(job.pid, job.pid_start)
        if alive:
            _signal_group(job.pid, signal.SIGTERM)
            deadline = time.time() + grace
            while time.time() < deadline:
                alive, _ = process_status(job.pid, job.pid_start)
                if not alive:
                    break
                time.sleep(0.1)
            if alive:
                _signal_group(job.pid, signal.SIGKILL)
                for _ in range(50):
                    if not process_status(job.pid, job.pid_start)[0]:
                        break
                    time.sleep(0.1)
        self.reconcile()
        return self.get(job.id)

    def resume(self, job_id: int) -> Job:
        """Queue a failed or cancelled job again: ``--resume`` from its ``latest.pt``, or from scratch
        when it never wrote one."""
        job = self.get(job_id)
        if job.status not in ("failed", "cancelled"):
            raise JobError(f"job {job.id} is {job.status}; only failed or cancelled jobs can be resumed")
        has_ckpt = (Path(job.run_dir) / "latest.pt").is_file()
        with self._transaction() as con:
            self._update(con, job.id, status="queued", resume=int(has_ckpt), cancel_requested=None, pid=None,
                         pid_start=None, returncode=None, ended=None,
                         message=None if has_ckpt else "no checkpoint had been written: starting again from scratch")
        self.reconcile()
        return self.get(job.id)

    def command(self, job: Job) -> list[str]:
        """The ``explorer train`` command line of the job's next attempt."""
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

    def _start(self, con, job: Job) -> None:
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
                self._update(con, job.id, status="failed", ended=time.time(), message=f"could not start: {e}")
                return
        _CHILDREN[proc.pid] = proc
        self._update(con, job.id, status="running", pid=proc.pid, pid_start=_proc_start_time(proc.pid),
                     started=time.time(), ended=None, returncode=None, attempts=job.attempts + 1)

    def _finish(self, con, job: Job, returncode: int | None) -> None:
        outcome = _run_outcome(job.run_dir)
        last = job.last_good()
        where = (f"last good checkpoint: {last['path']} (epoch {last['epoch']}, step {last['global_step']})"
                 if last else "no checkpoint was written")
        if outcome in ("finished", "stopped"):
            status, message = "finished", None if outcome == "finished" else "stopped after --max-steps"
        elif job.cancel_requested:
            status, message = "cancelled", f"cancelled; {where}"
        else:
            status = "failed"
            if returncode is not None and returncode < 0:
                why = f"killed by signal {-returncode}"
            elif returncode is not None:
                why = f"exited with code {returncode}"
            else:
                why = f"process {job.pid} ended without finishing (killed from outside or crashed)"
            err = _log_error_line(job.log_path)
            message = f"{why}; {where}" + (f" — {err}" if err else "")
        self._update(con, job.id, status=status, ended=time.time(), returncode=returncode, message=message)

    def reconcile(self) -> list[Job]:
        """Update running jobs whose process ended, start queued jobs that may start; returns all jobs."""
        with self._transaction() as con:
            rows = con.execute("SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY id").fetchall()
            jobs = [self._job(r) for r in rows]
            running = []
            for job in jobs:
                if job.status != "running":
                    continue
                alive, rc = process_status(job.pid, job.pid_start)
                if alive:
                    if job.cancel_requested and time.time() - job.cancel_requested > 30:
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
                self._start(con, job)
        return self.list()

    def queue_reason(self, job: Job) -> str | None:
        """Why a queued job waits (None when it is not queued)."""
        if job.status != "queued":
            return None
        if job.uses_gpu:
            return "waiting for the GPU (another GPU job is running)"
        return f"waiting: {self.max_cpu_jobs} CPU job(s) already running"
