"""``explorer ingest --ray`` and ``extract_collection_features(ray=True)`` on a local Ray of 2 CPUs:
the same files as the single-process ingest, the same resumability, a killed worker's video redone once.

Most tests connect by address to one Ray started in a helper process for the module (a connection
takes ~0.1 s, a fresh local Ray ~7 s on 2 cores); the first lets ``ingest`` start and stop its own.
Compared outputs: every file of both collection folders, by name and bytes, except what records wall
clock or the run itself: ``decode_seconds`` in the done-markers ``.ingest/<video>.json``, and in
``ingest_report.json`` ``out`` (the folder), ``workers``, ``backend``, ``totals.wall_seconds``,
``totals.video_seconds_per_second`` and each video's ``decode_seconds``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")
ray = pytest.importorskip("ray")

import explorer.video.ingest as ingest_mod  # noqa: E402
from explorer import scale_ray  # noqa: E402
from explorer.video.ingest import REPORT_NAME, IngestError, ingest  # noqa: E402
from tests.test_video_cli import run as run_cli  # noqa: E402
from tests.test_video_ingest import PARAMS, videos  # noqa: E402,F401  (videos: the generated folder, a fixture)

REPO = Path(__file__).resolve().parents[1]
MISSING_RAY = "--ray needs the 'ray' package: pip install 'explorer[scale]'"
_HELPER = (
    "import logging, sys, ray\n"
    "ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)\n"
    "print(ray.get_runtime_context().gcs_address, flush=True)\n"
    "sys.stdin.read()\n"  # runs until the test closes its stdin (or dies), then Ray shuts down with it
)


def _outputs(root: Path) -> dict[str, object]:
    """Every file under ``root`` by relative path: bytes, or for the report and the done-markers
    their JSON without the keys that record wall clock or the run (module docstring)."""
    out: dict[str, object] = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        rel, data = p.relative_to(root).as_posix(), p.read_bytes()
        if rel == REPORT_NAME:
            report = json.loads(data)
            for k in ("out", "workers", "backend"):
                report.pop(k)
            for k in ("wall_seconds", "video_seconds_per_second"):
                report["totals"].pop(k)
            for v in report["videos"]:
                v.pop("decode_seconds", None)  # only videos that were decoded have it
            data = report
        elif p.parent == root / ".ingest" and p.suffix == ".json":
            marker = json.loads(data)
            marker.pop("decode_seconds")
            data = marker
        out[rel] = data
    return out


@pytest.fixture(scope="module")
def reference(videos, tmp_path_factory) -> Path:  # noqa: F811
    """The single-process ingest of the generated videos."""
    out = tmp_path_factory.mktemp("serial") / "c"
    ingest(videos, out, PARAMS, progress=False)
    files = _outputs(out)
    # the comparison covers the whole collection: keyframes, display copies, transcripts, videos, markers
    for pattern in ("long_", "display/long_", "videos/long.mp4", ".ingest/truncated.json", "segments.tsv"):
        assert any(rel.startswith(pattern) for rel in files), pattern
    return out


@pytest.fixture(scope="module", autouse=True)
def _restore_ray_auth_mode():
    """A new local Ray sets ``RAY_AUTH_MODE=token`` in this process's environment: put it back after the module."""
    before = os.environ.get("RAY_AUTH_MODE")
    yield
    if before is None:
        os.environ.pop("RAY_AUTH_MODE", None)
    else:
        os.environ["RAY_AUTH_MODE"] = before


@pytest.fixture(scope="module")
def cluster() -> str:
    """The address of a local Ray of 2 CPUs running in a helper process for this module."""
    # Without token authentication, which ray 2.60 turns on for a new local Ray: a driver connecting
    # by explicit address uses a token only with RAY_AUTH_MODE=token set before ray is imported.
    env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, "RAY_AUTH_MODE": "disabled"}
    proc = subprocess.Popen([sys.executable, "-c", _HELPER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env, cwd=REPO)
    address = proc.stdout.readline().strip()
    try:
        assert address, "the helper process did not start Ray"
        yield address
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def ray_address(cluster, monkeypatch) -> str:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    yield cluster
    assert not ray.is_initialized()  # ingest disconnected from the cluster it did not start


def _subset(folder: Path, dest: Path, *stems: str) -> Path:
    dest.mkdir()
    for stem in stems:
        for f in folder.glob(f"{stem}.*"):
            shutil.copy2(f, dest / f.name)
    return dest


def test_local_ray_ingest_is_byte_identical_and_shut_down(videos, reference, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    inits = []
    real_init = ray.init
    monkeypatch.setattr(ray, "init", lambda **kw: inits.append(kw) or real_init(**kw))
    assert not ray.is_initialized()
    out = tmp_path / "ray"
    report = ingest(videos, out, PARAMS, workers=2, ray=True, progress=False)
    assert report["backend"] == "ray" and report["complete"]
    assert [{k: v for k, v in kw.items() if k != "logging_level"} for kw in inits] == [
        {"num_cpus": 2, "include_dashboard": False, "log_to_driver": False}
    ]
    assert inits[0]["logging_level"] >= logging.WARNING
    assert not ray.is_initialized()  # started for the run, shut down after it
    assert _outputs(out) == _outputs(reference)


def test_cluster_ingest_same_files_and_resumable_across_backends(videos, reference, ray_address, tmp_path):  # noqa: F811
    out = tmp_path / "ray"
    first = ingest(videos, out, PARAMS, ray_address=ray_address, progress=False)
    assert first["backend"] == "ray"
    assert _outputs(out) == _outputs(reference)
    done = {v["video"] for v in first["videos"] if v["status"] in ("ok", "partial")}
    assert done == {"long.mp4", "second.mkv", "messy.webm", "truncated.mkv"}
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")}

    again = ingest(videos, out, PARAMS, ray_address=ray_address, progress=False)
    assert {v["video"] for v in again["videos"] if v["status"] == "skipped"} == done
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")} == mtimes
    # a collection begun without Ray goes on with it: the single process's markers count as done
    copy = tmp_path / "copy"
    shutil.copytree(reference, copy)
    over = ingest(videos, copy, PARAMS, ray_address=ray_address, progress=False)
    assert {v["video"] for v in over["videos"] if v["status"] == "skipped"} == done


def test_killed_worker_video_redone_once_then_failed(videos, reference, ray_address, tmp_path, monkeypatch):  # noqa: F811
    src = _subset(videos, tmp_path / "src", "long", "second")
    flags = tmp_path / "flags"
    flags.mkdir()
    real, test_pid = ingest_mod.ingest_video, os.getpid()

    def crashing(job):  # pickled by value into the Ray worker: "long" dies once, "second" always
        import os as _os

        if _os.getpid() == test_pid:
            raise RuntimeError("ingest_video ran in the test process, not in a Ray worker")
        flag = flags / job.video_id
        if job.video_id == "second" or not flag.exists():
            flag.touch()
            _os._exit(1)
        return real(job)

    monkeypatch.setattr(ingest_mod, "ingest_video", crashing)
    out = tmp_path / "out"
    report = ingest(src, out, PARAMS, ray_address=ray_address, progress=False)
    assert report["backend"] == "ray"
    status = {v["video"]: v for v in report["videos"]}
    assert status["long.mp4"]["status"] == "ok"
    assert status["second.mkv"]["status"] == "failed"
    assert "worker process died twice" in " ".join(status["second.mkv"]["messages"])
    assert any("2 unfinished video(s) were redone" in m for m in report["messages"])
    assert sorted(f.name for f in flags.iterdir()) == ["long", "second"]
    files = _outputs(out)
    assert not [rel for rel in files if "second" in rel]
    ref = _outputs(reference)
    redone = [rel for rel in files if "long" in rel]
    assert len(redone) > 5 and all(files[rel] == ref[rel] for rel in redone)


def test_cli_ray_and_ray_address(videos, reference, ray_address, tmp_path, monkeypatch, capsys):  # noqa: F811
    out = tmp_path / "cli"
    params = ["--segment-seconds", PARAMS.segment_seconds, "--min-seconds", PARAMS.min_seconds,
              "--max-seconds", PARAMS.max_seconds, "--sample-fps", PARAMS.sample_fps]
    monkeypatch.setenv("RAY_ADDRESS", ray_address)  # plain --ray goes where Ray's own variable says
    assert run_cli("ingest", videos, "--out", out, *params, "--ray", "--workers", "2") == 0
    assert "long.mp4: ok" in capsys.readouterr().out
    assert _outputs(out) == _outputs(reference)
    monkeypatch.delenv("RAY_ADDRESS")
    assert run_cli("ingest", videos, "--out", out, *params, "--ray-address", ray_address, "--no-progress") == 0
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["backend"] == "ray" and report["totals"]["status"]["skipped"] == 4


def test_missing_ray_is_one_clear_line(videos, tmp_path, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(IngestError) as e:
        ingest(videos, tmp_path / "a", PARAMS, ray=True, progress=False)
    assert str(e.value) == MISSING_RAY
    assert run_cli("ingest", videos, "--out", tmp_path / "b", "--ray", "--workers", "2") == 2
    assert capsys.readouterr().err == f"error: {MISSING_RAY}\n"
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # nothing touched
    with pytest.raises(scale_ray.RayUnavailable, match=r"^ray=True needs the 'ray' package"):
        with scale_ray.session(2, what="ray=True"):
            pass


def test_mobilenet_features_on_ray_are_byte_identical(tmp_path, ray_address, monkeypatch):
    from explorer.cache import load_arrays
    from explorer.data.collection import load_collection
    from explorer.features import visual as V
    from tests.conftest import make_folder_collection

    if V.available_extractors()["mobilenet"] is not None:
        pytest.skip(V.available_extractors()["mobilenet"])
    col = load_collection(make_folder_collection(tmp_path / "flowers", per_category=10))  # 40 keyframes
    serial = V.extract_collection_features(col, "mobilenet", progress=False, chunk=16)
    calls = []
    real_run_tasks = scale_ray.run_tasks
    monkeypatch.setattr(scale_ray, "run_tasks", lambda fn, items, **kw: calls.append(len(items)) or real_run_tasks(fn, items, **kw))
    on_ray = V.extract_collection_features(col, "mobilenet", progress=False, chunk=16, refresh=True, ray_address=ray_address)
    assert calls == [3]  # chunks of 16, 16 and 8 keyframes, computed as Ray tasks
    assert on_ray.dtype == serial.dtype and on_ray.shape == serial.shape == (40, 1024)
    assert on_ray.tobytes() == serial.tobytes()
    cached = load_arrays("visual/mobilenet", V.feature_cache_key(col, V.get_extractor("mobilenet")))["features"]
    assert cached.tobytes() == serial.tobytes()
