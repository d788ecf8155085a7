"""Background training jobs (``explorer.jobs``): SQLite records, process supervision, crash detection,
cancel / resume, and the one-GPU-job-at-a-time queue. Most tests run a stand-in command instead of
``explorer train`` (fast); one runs the real thing end to end and kills it from outside."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from explorer import jobs as jobs_mod
from explorer.jobs import JobError, JobStore, process_status

SLEEP = "import time; time.sleep(60)"
FINISH = ("import json, sys, pathlib; d = pathlib.Path(sys.argv[1]); d.mkdir(parents=True, exist_ok=True); "
          "print('training...'); (d / 'log.jsonl').write_text(json.dumps({'type': 'status', 'status': 'finished'}) + '\\n')")
CRASH = "import sys; print('explorer train: error: boom, the data is wrong', file=sys.stderr); sys.exit(2)"


class FakeStore(JobStore):
    """A JobStore whose jobs run a given Python snippet (argv[1] = the run directory)."""

    def __init__(self, *args, script: str = SLEEP, **kwargs):
        super().__init__(*args, **kwargs)
        self.script = script

    def command(self, job):
        return [sys.executable, "-c", self.script, job.run_dir]


def wait_until(store: JobStore, job_id: int, statuses: tuple[str, ...], timeout: float = 60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        store.reconcile()
        job = store.get(job_id)
        if job.status in statuses:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {store.get(job_id).status} after {timeout} s")


@pytest.fixture
def store_factory(tmp_path, tiny_collection):
    made: list[JobStore] = []

    def make(**kwargs) -> JobStore:
        kwargs.setdefault("gpu", False)
        s = FakeStore(tmp_path / "jobs.sqlite", **kwargs)
        made.append(s)
        return s

    make.collection = str(tiny_collection)
    yield make
    for s in made:  # never leave a process behind
        for job in s.list(("queued", "running")):
            s.cancel(job.id, wait=10, grace=1.0)


def test_database_is_sqlite_in_wal_mode(store_factory):
    store = store_factory()
    con = sqlite3.connect(store.db_path)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        con.close()


def test_a_finished_job(store_factory):
    store = store_factory(script=FINISH)
    job = store.submit("gan_cls", store_factory.collection, epochs=1, device="cpu", seed=3)
    assert job.status == "running" and job.pid and job.attempts == 1
    job = wait_until(store, job.id, ("finished", "failed"))
    assert job.status == "finished" and job.returncode == 0 and job.ended >= job.started
    log = Path(job.log_path).read_text()
    assert log.startswith("=== ") and "attempt 1" in log and "training..." in log


def test_a_crash_is_failed_with_its_error(store_factory):
    store = store_factory(script=CRASH)
    job = wait_until(store, store.submit("gan_cls", store_factory.collection, device="cpu").id, ("failed",))
    assert job.returncode == 2
    assert "exited with code 2" in job.message and "no checkpoint was written" in job.message
    assert "boom, the data is wrong" in job.message


def _fake_checkpoint(run_dir: str, epoch: int) -> None:
    d = Path(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    (d / "latest.pt").write_bytes(b"checkpoint bytes")
    (d / "latest.json").write_text(json.dumps({"progress": {"epoch": epoch, "global_step": 40 * epoch}}))


def test_killed_from_outside_is_failed_with_its_last_good_checkpoint(store_factory):
    store = store_factory()
    job = store.submit("gan_cls", store_factory.collection, device="cpu")
    _fake_checkpoint(job.run_dir, epoch=3)
    # an app restart: a new store on the same database, knowing nothing of the process
    jobs_mod._CHILDREN.clear()
    restarted = FakeStore(store.db_path, gpu=False)
    assert restarted.reconcile()[0].status == "running"
    os.killpg(job.pid, signal.SIGKILL)
    job = wait_until(restarted, job.id, ("failed",))
    assert "killed" in job.message or "ended without finishing" in job.message
    assert "last good checkpoint" in job.message and "epoch 3" in job.message
    assert job.checkpoint == Path(job.run_dir) / "latest.pt"


def test_cancel_running_and_queued_jobs(store_factory):
    store = store_factory(max_cpu_jobs=1)
    first = store.submit("gan_cls", store_factory.collection, device="cpu")
    second = store.submit("gan_cls", store_factory.collection, device="cpu")
    assert first.status == "running" and second.status == "queued"
    assert "CPU job" in store.queue_reason(second)
    second = store.cancel(second.id)
    assert second.status == "cancelled" and second.pid is None
    pid = first.pid
    first = store.cancel(first.id, wait=10, grace=2.0)
    assert first.status == "cancelled" and "no checkpoint was written" in first.message
    assert not process_status(pid)[0]
    with pytest.raises(JobError, match="not running"):
        store.cancel(first.id)


def test_cancel_returns_at_once_and_a_stubborn_process_is_killed_by_reconcile(store_factory):
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    store = store_factory(script=stubborn, cancel_grace=0.5)
    job = store.submit("gan_cls", store_factory.collection, device="cpu")
    time.sleep(0.5)  # let it install its SIGTERM handler
    t0 = time.time()
    job = store.cancel(job.id)
    assert time.time() - t0 < 2.0  # the page is not blocked
    assert job.status == "running" and job.cancel_requested  # still alive: it ignores SIGTERM
    job = wait_until(store, job.id, ("cancelled",), timeout=20)  # reconcile sent SIGKILL after the grace
    assert not process_status(job.pid)[0]


def test_processes_are_started_outside_a_database_transaction(store_factory, monkeypatch):
    store = store_factory()
    seen = []
    real_popen = subprocess.Popen

    def popen(*args, **kwargs):
        other = sqlite3.connect(store.db_path, timeout=0.1, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # "database is locked" if the starter held a write transaction
            other.execute("ROLLBACK")
            seen.append("free")
        finally:
            other.close()
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(jobs_mod.subprocess, "Popen", popen)
    job = store.submit("gan_cls", store_factory.collection, device="cpu")
    assert seen == ["free"] and job.status == "running" and job.pid and job.attempts == 1


def test_schema_version_and_migrations(store_factory, tmp_path):
    store = store_factory()
    con = sqlite3.connect(store.db_path)
    try:
        assert con.execute("PRAGMA user_version").fetchone()[0] == jobs_mod.SCHEMA_VERSION >= 1
    finally:
        con.close()
    # a file from before versioning (the same table, user_version 0) is adopted as it is
    old = tmp_path / "old.sqlite"
    con = sqlite3.connect(old)
    con.executescript(jobs_mod.MIGRATIONS[0])
    con.execute("INSERT INTO jobs (kind, collection, device, seed, status, created) VALUES ('gan_cls', 'x', 'cpu', 0, 'finished', 1.0)")
    con.commit()
    con.close()
    adopted = JobStore(old, gpu=False)
    assert [j.status for j in adopted.list()] == ["finished"]
    # a file written by a newer explorer is refused, not altered
    con = sqlite3.connect(old)
    con.execute(f"PRAGMA user_version = {jobs_mod.SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    with pytest.raises(JobError, match="newer explorer"):
        JobStore(old, gpu=False)


def test_one_gpu_job_at_a_time(store_factory):
    store = store_factory(gpu=True, max_cpu_jobs=2)
    a = store.submit("gan_cls", store_factory.collection, device="cuda")
    b = store.submit("gan_cls", store_factory.collection, device="auto")  # auto on a GPU machine = GPU
    c = store.submit("gan_cls", store_factory.collection, device="cpu")
    assert (a.status, b.status, c.status) == ("running", "queued", "running")
    assert a.uses_gpu and b.uses_gpu and not c.uses_gpu
    assert "GPU" in store.queue_reason(b)
    store.cancel(a.id, wait=10, grace=1.0)
    assert store.get(b.id).status == "running"  # the queue moved on


def test_resume_uses_the_last_checkpoint_or_restarts(store_factory):
    store = store_factory()
    job = store.submit("gan_cls", store_factory.collection, device="cpu", overrides={"batch_size": 8})
    real = JobStore.command(store, job)  # what explorer train would be given
    assert real[real.index("--set") + 1] == "batch_size=8" and real[real.index("--out") + 1] == job.run_dir
    store.cancel(job.id, wait=10, grace=1.0)
    restarted = store.resume(job.id)
    assert restarted.status == "running" and restarted.attempts == 2 and not restarted.resume
    assert "from scratch" in restarted.message
    store.cancel(job.id, wait=10, grace=1.0)
    _fake_checkpoint(job.run_dir, epoch=1)
    resumed = store.resume(job.id)
    assert resumed.status == "running" and resumed.resume and resumed.attempts == 3
    cmd = JobStore.command(store, resumed)
    assert cmd[cmd.index("--resume") + 1] == job.run_dir
    assert Path(job.log_path).read_text().count("=== ") == 3
    with pytest.raises(JobError, match="only failed or cancelled"):
        store.resume(job.id)


def test_bad_requests(store_factory, tmp_path):
    from explorer.data.collection import CollectionError

    store = store_factory()
    coll = store_factory.collection
    with pytest.raises(JobError, match="unknown model kind 'nope'"):
        store.submit("nope", coll)
    with pytest.raises(JobError, match="unknown device"):
        store.submit("gan_cls", coll, device="tpu")
    with pytest.raises(JobError, match="no CUDA GPU"):
        store.submit("gan_cls", coll, device="cuda")
    with pytest.raises(JobError, match="at least 1"):
        store.submit("gan_cls", coll, epochs=0)
    with pytest.raises(JobError, match="unknown GanClsConfig option"):
        store.submit("gan_cls", coll, overrides={"no_such_option": 1})
    with pytest.raises(CollectionError):
        store.submit("gan_cls", str(tmp_path / "missing-collection"))
    assert store.list() == []


def test_process_status_guards_against_recycled_pids():
    me = os.getpid()
    start = jobs_mod._proc_start_time(me)
    assert process_status(me, start) == (True, None)
    if start is not None:
        assert process_status(me, "not-my-start-time")[0] is False
    assert process_status(None) == (False, None)


def test_read_log_tail_collapses_progress_bars(tmp_path):
    log = tmp_path / "train.log"
    log.write_text("=== start\nepoch 1:  10%\repoch 1:  50%\repoch 1: 100%\nrun directory: x\n")
    assert jobs_mod.read_log_tail(log) == "=== start\nepoch 1: 100%\nrun directory: x"


def test_real_training_job_killed_from_outside_then_resumed(tmp_path, tiny_collection, monkeypatch):
    """``explorer train`` for real: kill -9 after its first epoch, see it failed with its last good
    checkpoint, resume it, and find the finished run's checkpoint in the app's model list."""
    from explorer import api
    from explorer.train import read_log

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    store = JobStore(tmp_path / "jobs.sqlite", gpu=False)
    job = store.submit("gan_cls", str(tiny_collection), epochs=2, device="cpu", overrides={"batch_size": 8, "g_steps": 1})
    try:
        deadline = time.time() + 240
        while not (store.get(job.id).last_good() or {}).get("epoch"):  # latest.pt of epoch 1 is written
            assert time.time() < deadline, Path(job.log_path).read_text()[-2000:]
            assert store.reconcile() and store.get(job.id).status == "running", store.get(job.id).message
            time.sleep(0.1)
        os.killpg(store.get(job.id).pid, signal.SIGKILL)
        failed = wait_until(store, job.id, ("failed", "finished"))
        if failed.status == "failed":  # (finished when epoch 2 was faster than the kill)
            assert "killed by signal 9" in failed.message and "last good checkpoint" in failed.message
            assert failed.last_good()["epoch"] >= 1
            store.resume(job.id)
        done = wait_until(store, job.id, ("finished", "failed"), timeout=240)
        assert done.status == "finished", done.message
        assert [r["status"] for r in read_log(job.run_dir) if r["type"] == "status"][-1] == "finished"
        ids = [e["id"] for e in api.list_checkpoints()]
        assert f"runs/{Path(job.run_dir).name}/best.pt" in ids
    finally:
        for j in store.list(("queued", "running")):
            store.cancel(j.id, wait=10, grace=1.0)


def test_ingest_job_survives_a_restart_of_the_app_and_reports_skipped_videos(tmp_path, monkeypatch):
    """A real ``explorer ingest`` job: its outcome is read from the collection's report, so a store
    opened afterwards by another process (an app restart: no Popen kept) still finishes it."""
    pytest.importorskip("av")
    from explorer.data.collection import list_collection_names, load_collection
    from explorer.video.synth import make_cues, make_video, write_subtitles

    monkeypatch.setenv("EXPLORER_COLLECTIONS", str(tmp_path / "collections"))
    src = tmp_path / "videos"
    src.mkdir()
    for name in ("a", "b"):
        make_video(src / f"{name}.mp4", 25)
        write_subtitles(src / f"{name}.srt", make_cues(25, prefix=name))
    (src / "broken.mp4").write_bytes(os.urandom(5000))
    store = JobStore(tmp_path / "jobs.sqlite", max_cpu_jobs=1)
    with pytest.raises(JobError, match="does not exist"):
        store.submit_ingest(tmp_path / "nope", "x")
    with pytest.raises(JobError, match="collection name"):
        store.submit_ingest(src, "../escape")
    with pytest.raises(JobError, match="unknown ingest option"):
        store.submit_ingest(src, "x", {"rm_rf": True})
    with pytest.raises(JobError, match="expected int"):
        store.submit_ingest(src, "x", {"workers": "2"})
    job = store.submit_ingest(src, "progs", {"transcripts": "subtitles", "min_seconds": 5.0, "segment_seconds": 10})
    assert job.kind == "ingest" and job.status == "running"
    assert store.command(job)[3:] == ["ingest", str(src.resolve()), "--out", str(tmp_path / "collections" / "progs"),
                                      "--transcripts", "subtitles", "--min-seconds", "5.0", "--segment-seconds", "10.0"]
    jobs_mod._CHILDREN.clear()  # the app restarts: the new process holds no Popen of the job
    restarted = JobStore(tmp_path / "jobs.sqlite", max_cpu_jobs=1)
    deadline = time.time() + 120
    while time.time() < deadline and restarted.get(job.id).status == "running":
        time.sleep(0.5)
        restarted.reconcile()
    done = restarted.get(job.id)
    assert done.status == "finished", (done.message, jobs_mod.read_log_tail(done.log_path))
    assert "1 video(s) with problems" in done.message
    assert "progs" in list_collection_names()
    coll = load_collection("progs")
    assert {s.video_id for s in coll.segments} == {"a", "b"}
    from explorer import api

    prog = api.ingest_progress(done)
    assert prog["done"] == prog["total"] == 3  # every video looked at, the broken one included
    assert [p["video"] for p in prog["problems"]] == ["broken.mp4"] and prog["problems"][0]["status"] == "failed"
    # the playable copy is inside the collection, and the app finds it for a segment
    v = api.segment_video(coll, coll.segments[0].id)
    assert v is not None and Path(v["path"]).parent == (tmp_path / "collections" / "progs" / "videos").resolve()
    assert v["start"] == int(coll.segments[0].start) and v["playable"]
