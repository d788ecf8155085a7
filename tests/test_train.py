"""The shared training runner: run directory contents, exact resume, kill -9 safety, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from PIL import Image

from explorer import checkpoint as ckpt_io
from explorer.train import TrainingError, read_log, train

FAST = {"batch_size": 8}  # 32 train segments -> 4 steps per epoch


def test_run_directory_has_config_log_samples_and_checkpoints(tiny_collection, tmp_path):
    run = train("gan_cls", str(tiny_collection), epochs=2, device="cpu", out=tmp_path / "run", overrides=FAST, progress_bar=False)
    info = json.loads((run / "run.json").read_text())
    assert info["kind"] == "gan_cls" and info["config"]["batch_size"] == 8 and info["data_spec"]["image_input"] == "pixels64"
    log = read_log(run)
    steps = [r for r in log if r["type"] == "step"]
    epochs = [r for r in log if r["type"] == "epoch"]
    assert len(steps) == 8 and len(epochs) == 2
    assert {"d_loss", "g_loss", "d_real", "d_wrong", "d_fake"} <= set(steps[0])
    assert {"val_p@10", "val_map"} <= set(epochs[-1])
    grid = Image.open(run / "samples" / "epoch_002.png")
    assert grid.size == (8 * 66 + 2, 8 * 66 + 2)  # 8 fixed val transcripts x 8 fixed noises, 2-px padding
    ckpt = torch.load(run / "latest.pt", weights_only=True)
    assert ckpt["kind"] == "gan_cls" and ckpt["progress"]["epoch"] == 2 and "optimizer_state" in ckpt
    assert ckpt["text"]["vectors"].shape[1] == 100 and ckpt["versions"]["explorer"]
    assert ckpt["collection"]["name"] == "tiny" and ckpt["metrics"]["val_p@10"] >= 0
    best = torch.load(run / "best.pt", weights_only=True)
    assert "optimizer_state" not in best
    assert json.loads((run / "latest.json").read_text())["kind"] == "gan_cls"


def _states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_continues_exactly(tiny_collection, tmp_path):
    straight = train("gan_cls", str(tiny_collection), epochs=2, device="cpu", out=tmp_path / "a", overrides=FAST, progress_bar=False)
    part = train("gan_cls", str(tiny_collection), epochs=2, device="cpu", out=tmp_path / "b", overrides=FAST,
                 progress_bar=False, max_steps=3)  # stops in the middle of epoch 1
    assert torch.load(part / "latest.pt", weights_only=True)["progress"]["global_step"] == 3
    resumed = train(None, None, resume=part, device="cpu", progress_bar=False)
    a = torch.load(straight / "latest.pt", weights_only=True)
    b = torch.load(resumed / "latest.pt", weights_only=True)
    assert a["progress"]["global_step"] == b["progress"]["global_step"] == 8
    assert _states_equal(a["model_state"], b["model_state"])
    assert [r["d_loss"] for r in read_log(straight) if r["type"] == "step"] == [r["d_loss"] for r in read_log(resumed) if r["type"] == "step"]


def test_kill_9_leaves_last_checkpoint_loadable_and_resumable(tiny_collection, tmp_path):
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "explorer.cli", "train", "gan_cls", "--collection", str(tiny_collection), "--epochs", "50",
           "--device", "cpu", "--out", str(run), "--set", "batch_size=8", "--checkpoint-every", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    kills = 0
    for delay in (4.0, 1.3, 0.7):
        proc = subprocess.Popen(cmd if kills == 0 else [*cmd[:3], "--resume", str(run), "--checkpoint-every", "0"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while not (run / "latest.pt").exists() and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(delay)  # checkpoints are written after every step: land the kill anywhere
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        ckpt = ckpt_io.load(run / "latest.pt")  # must never be half-written
        assert ckpt["progress"]["global_step"] >= 1
    steps_before = ckpt["progress"]["global_step"]
    # +2: the kill may have landed after an epoch's last step but before its end-of-epoch bookkeeping.
    done = train(None, None, resume=run, epochs=ckpt["progress"]["epoch"] + 2, device="cpu", progress_bar=False)
    final = ckpt_io.load(done / "latest.pt")
    assert final["progress"]["global_step"] > steps_before and final["progress"]["step_in_epoch"] == 0


def test_bad_training_requests_fail_clearly(tiny_collection, tmp_path):
    with pytest.raises(TrainingError, match="unknown model kind 'nope'"):
        train("nope", str(tiny_collection), out=tmp_path / "x")
    if not torch.cuda.is_available():
        with pytest.raises(TrainingError, match="no CUDA GPU"):
            train("gan_cls", str(tiny_collection), device="cuda", out=tmp_path / "x")
    run = train("gan_cls", str(tiny_collection), epochs=1, device="cpu", out=tmp_path / "r", overrides=FAST, progress_bar=False, max_steps=1)
    with pytest.raises(TrainingError, match="already holds a run"):
        train("gan_cls", str(tiny_collection), epochs=1, device="cpu", out=run, overrides=FAST)
    with pytest.raises(ValueError, match="unknown GanClsConfig option"):
        train("gan_cls", str(tiny_collection), out=tmp_path / "y", overrides={"learning_rate": 1})


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ckpt_io.CheckpointError, match="not a readable explorer checkpoint"):
        ckpt_io.load(bad)
    torch.save({"format": "explorer-checkpoint", "format_version": 1, "kind": "mystery"}, bad)
    with pytest.raises(ckpt_io.CheckpointError, match="unknown model kind 'mystery'"):
        ckpt_io.load(bad)


class _Pickled:  # a class: torch.save pickles it, weights_only loading refuses it
    pass


def test_pickled_file_is_refused_without_pytorchs_unsafe_hint(tmp_path):
    bad = tmp_path / "pickled.pt"
    torch.save({"format": "explorer-checkpoint", "obj": _Pickled()}, bad)
    with pytest.raises(ckpt_io.CheckpointError) as info:
        ckpt_io.load(bad)
    msg = str(info.value)
    assert "pickled Python objects" in msg and "weights_only=False" not in msg and "\n" not in msg


def test_state_dict_mismatch_is_one_line_naming_file_kind_and_keys(tiny_collection, tmp_path):
    run = train("gan_cls", str(tiny_collection), epochs=1, device="cpu", out=tmp_path / "r", overrides=FAST,
                progress_bar=False, max_steps=1)
    ckpt = ckpt_io.load(run / "latest.pt")
    ckpt["config"]["embed_channels"] = 128  # the weights are for 256 maps
    path = ckpt_io.save(ckpt, tmp_path / "mismatch.pt")
    from explorer.evaluate import LoadedModel

    with pytest.raises(ckpt_io.CheckpointError) as info:
        LoadedModel(path)
    msg = str(info.value)
    assert "\n" not in msg and len(msg) < 600, msg
    assert str(path) in msg and "gan_cls" in msg and "shape mismatches" in msg and "D.joint_conv.weight" in msg


def test_read_log_keeps_each_step_once_after_a_resume(tmp_path):
    """A kill after step 5 with the last checkpoint at step 3: the resumed run logs 4, 5, 6 again."""
    from explorer.train import read_log

    lines = [{"type": "status", "status": "started"}] + [{"type": "step", "step": s, "loss": s} for s in (1, 2, 3, 4, 5)]
    lines += [{"type": "status", "status": "resumed"}] + [{"type": "step", "step": s, "loss": 10 + s} for s in (4, 5, 6)]
    lines += [{"type": "epoch", "epoch": 1, "val_p@10": 0.1}, {"type": "epoch", "epoch": 1, "val_p@10": 0.2}]
    (tmp_path / "log.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + '\n{"type": "st')  # torn last line
    recs = read_log(tmp_path)
    steps = [r for r in recs if r["type"] == "step"]
    assert [r["step"] for r in steps] == [1, 2, 3, 4, 5, 6] and [r["loss"] for r in steps][3:] == [14, 15, 16]
    assert [r["val_p@10"] for r in recs if r["type"] == "epoch"] == [0.2]
    assert [r["status"] for r in recs if r["type"] == "status"] == ["started", "resumed"]


def test_resume_removes_stale_temporaries_and_sidecars_are_checked_by_size(tiny_collection, tmp_path):
    run = train("gan_cls", str(tiny_collection), epochs=1, device="cpu", out=tmp_path / "r", overrides=FAST,
                progress_bar=False, max_steps=1)
    stale = [run / ".latest.pt.abc123.tmp", run / "samples" / ".epoch_001.png.x.tmp"]
    for p in stale:
        p.write_bytes(b"x" * 1000)  # what a kill during an atomic write leaves
    train(None, None, resume=run, device="cpu", progress_bar=False)
    assert not any(p.exists() for p in stale)
    assert not list(run.glob("*.tmp")) and (run / "samples" / "epoch_001.png").is_file()
    # a sidecar that does not describe the file (same mtime, other size) is not trusted
    side = json.loads((run / "latest.json").read_text())
    side["kind"], side["bytes"] = "lie", side["bytes"] + 1
    (run / "latest.json").write_text(json.dumps(side))
    assert ckpt_io.read_summary(run / "latest.pt")["kind"] == "gan_cls"


def test_run_progress_reports_steps_speed_time_left_and_best_val(tiny_collection, tmp_path):
    from explorer import api

    run = train("gan_cls", str(tiny_collection), epochs=2, device="cpu", out=tmp_path / "r", overrides=FAST,
                progress_bar=False, max_steps=6)  # 4 steps per epoch: stops in epoch 2
    prog = api.run_progress(run)
    assert (prog["step"], prog["total_steps"], prog["epoch"], prog["epochs"]) == (6, 8, 1, 2)
    assert prog["steps_per_s"] > 0 and prog["eta_s"] == pytest.approx(2 / prog["steps_per_s"])
    assert prog["best_val"]["epoch"] == 1 and 0 <= prog["best_val"]["val_p@10"] <= 1
    assert api.run_progress(tmp_path / "nothing-here") == {"step": 0, "total_steps": None, "epoch": 0, "epochs": None,
                                                            "steps_per_s": None, "eta_s": None, "best_val": None}
