"""Fixtures for the app tests: a small data root, checkpoints trained on it, and the environment that
points ``explorer.api`` (and the Streamlit app) at them.

``app_data`` (session): once per test session (even when several test modules import it)
  - ``data/tiny``: the synthetic 48-segment collection of ``conftest.make_folder_collection``;
  - ``data/clips``: the same with video ids and start/end times (the Hyperlinks page shows them);
  - ``ckpts/gan_cls-tiny.pt``: GAN-CLS trained 1 epoch on tiny (batch 8, ~5-10 s on one CPU thread),
    ``ckpts/gan_cls-tiny2.pt`` a copy (a second model for side-by-side views),
    ``ckpts/bogus-tiny.pt``: a well-formed checkpoint of an unknown model kind;
  - the joint-space projection of tiny, computed once (UMAP compiles with numba on first use).
``app_env`` (function): sets EXPLORER_DATA / EXPLORER_CHECKPOINTS / EXPLORER_JOBS_DB for one test.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import make_folder_collection

_STATE: dict = {}


def _add_video_times(root: Path) -> None:
    """Rewrite segments.tsv with video_id, start and end columns (4 videos, 12 segments of 10 s each)."""
    lines = (root / "segments.tsv").read_text().splitlines()
    out = [lines[0] + "\tvideo_id\tstart\tend"]
    for n, line in enumerate(lines[1:]):
        video, slot = divmod(n, 12)
        out.append(f"{line}\tvideo{video + 1}\t{slot * 10.0}\t{slot * 10.0 + 9.5}")
    (root / "segments.tsv").write_text("\n".join(out) + "\n")


def _bogus_checkpoint(path: Path) -> None:
    from explorer import checkpoint as ckpt_io

    ckpt_io.save({"kind": "bogus", "config": {}, "data_spec": {}, "collection": {"name": "tiny"},
                  "model_state": {}, "metrics": {}, "progress": {}}, path)


@pytest.fixture(scope="session")
def app_data(tmp_path_factory, session_cache):
    if "root" in _STATE:
        return _STATE
    import os

    import torch

    root = tmp_path_factory.mktemp("appdata")
    data = root / "data"
    make_folder_collection(data / "tiny")
    make_folder_collection(data / "clips", per_category=6, seed=1)
    _add_video_times(data / "clips")
    ckpts = root / "ckpts"
    ckpts.mkdir()
    old_env = {k: os.environ.get(k) for k in ("EXPLORER_CACHE", "EXPLORER_DATA", "EXPLORER_CHECKPOINTS")}
    os.environ["EXPLORER_CACHE"] = str(session_cache)
    os.environ["EXPLORER_DATA"] = str(data)
    os.environ["EXPLORER_CHECKPOINTS"] = str(ckpts)  # the api opens only checkpoints in listed folders
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small convolutions: one thread is faster, and fair to a loaded machine
    try:
        from explorer.train import train

        run = train("gan_cls", str(data / "tiny"), epochs=1, device="cpu", out=root / "run", seed=0,
                    overrides={"batch_size": 8}, progress_bar=False)
        for name in ("gan_cls-tiny", "gan_cls-tiny2"):
            shutil.copy2(run / "best.pt", ckpts / f"{name}.pt")
            shutil.copy2(run / "best.json", ckpts / f"{name}.json")
        _bogus_checkpoint(ckpts / "bogus-tiny.pt")
        from explorer import api

        api.joint_projection(str(ckpts / "gan_cls-tiny.pt"), "tiny")  # warm the on-disk projection cache
    finally:
        torch.set_num_threads(threads)
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    _STATE.update({"root": root, "data": data, "ckpts": ckpts, "ckpt": ckpts / "gan_cls-tiny.pt",
                   "ckpt_id": "extra/gan_cls-tiny.pt", "cache": session_cache})
    return _STATE


@pytest.fixture
def app_env(app_data, monkeypatch, tmp_path):
    """Point the facade at the test data root, checkpoints and a fresh jobs database."""
    monkeypatch.setenv("EXPLORER_DATA", str(app_data["data"]))
    monkeypatch.setenv("EXPLORER_CHECKPOINTS", str(app_data["ckpts"]))
    # the app under test sees only the checkpoints the tests made, not the repository's shipped ones
    monkeypatch.setenv("EXPLORER_SHIPPED", str(tmp_path / "no-shipped-checkpoints"))
    monkeypatch.setenv("EXPLORER_JOBS_DB", str(tmp_path / "jobs.sqlite"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # for job processes started by the tests
    return app_data


def finished_job(app_env) -> tuple[int, str]:
    """A finished training job in the app's jobs database whose run holds the tiny checkpoint:
    (job id, run directory name)."""
    import sqlite3

    from explorer import api

    store = api.job_store()
    job = store.submit("gan_cls", str(app_env["data"] / "tiny"), epochs=1, device="cpu", start=False)
    run = Path(job.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    shutil.copy2(app_env["ckpt"], run / "best.pt")
    shutil.copy2(app_env["ckpt"].with_suffix(".json"), run / "best.json")
    (run / "log.jsonl").write_text('{"type": "status", "status": "finished"}\n')
    con = sqlite3.connect(store.db_path)
    con.execute("UPDATE jobs SET status = 'finished', ended = 1.0 WHERE id = ?", (job.id,))
    con.commit()
    con.close()
    return job.id, run.name
