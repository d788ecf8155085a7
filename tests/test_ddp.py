"""Data-parallel training with ``torchrun``, on CPU: 2 gloo processes on the generated collections.

One ``torchrun`` launch of this very file (its ``__main__`` part is the worker) trains every
two-process run the tests read: gan_cls for an epoch through the CLI, bidnn for two steps (to compare
with one process on the same global batch), and bidnn straight vs stopped and resumed. The worker
swaps each kind's class for a subclass that records, per rank, the batches it was given, its RNG
state at the first step and its final state dict, so the tests see every rank, not only the run
directory rank 0 writes. Another launch asks for a closed-form kind, which is refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from explorer import checkpoint as ckpt_io
from explorer.models import MODELS
from explorer.train import read_log, train

ROOT = Path(__file__).resolve().parent.parent
GAN = ["--set", "batch_size=8", "--epochs", "1"]  # 32 train segments: 4 global batches of 8, 4 segments of each on each rank
# bidnn on the feature collection (~110 train segments: 7 global batches of 16). No dropout for the
# equivalence (its masks are random per rank); the resumed run keeps it, so each rank's RNG matters.
BIDNN = {"hidden": 64, "rep": 32, "batch_size": 16}
EQUIV = {**BIDNN, "dropout": 0.0}


def _set_args(overrides: dict) -> list[str]:
    return [a for k, v in overrides.items() for a in ("--set", f"{k}={v}")]


def _torchrun(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def two_process_runs(tmp_path_factory) -> Path:
    from tests.conftest import make_folder_collection
    from tests.test_models_neural import make_feature_collection

    root = tmp_path_factory.mktemp("ddp")
    tiny, feat = make_folder_collection(root / "tiny"), make_feature_collection(root / "tinyfeat")
    proc = _torchrun(__file__, str(root / "out"), str(tiny), str(feat))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root


def _record(root: Path, name: str, rank: int) -> dict:
    return torch.load(root / "out" / f"{name}.rank{rank}.pt", weights_only=True)


def _states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _check_shards(ranks: list[dict], per_rank: int) -> None:
    """Each step, every rank got its own half of the global batch (images' row sums identify segments)."""
    for parts in zip(*(r["seen"] for r in ranks)):
        assert all(len(p) == per_rank for p in parts)
        assert not set(parts[0].tolist()) & set(parts[1].tolist())


def test_gan_cls_on_two_processes_writes_one_run_and_keeps_ranks_in_sync(two_process_runs):
    run = two_process_runs / "out" / "gan"
    r0, r1 = _record(two_process_runs, "gan", 0), _record(two_process_runs, "gan", 1)
    # rank 0 alone wrote the run directory: one run, one log (one start, 4 steps, not 8), one checkpoint set
    files = sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())
    assert files == ["best.json", "best.pt", "latest.json", "latest.pt", "log.jsonl", "run.json", "samples/epoch_001.png"]
    log = read_log(run)
    assert [r["status"] for r in log if r["type"] == "status"] == ["started", "finished"]
    assert [r["step"] for r in log if r["type"] == "step"] == [1, 2, 3, 4]
    latest = ckpt_io.load(run / "latest.pt")
    assert latest["hardware"].startswith("2 processes x CPU") and len(latest["progress"]["rng"]["ranks"]) == 2
    # gradients averaged before every D and G step, BN running statistics broadcast at the checkpoint:
    # both ranks end with exactly the model rank 0 saved
    assert _states_equal(r0["state"], latest["model_state"]) and _states_equal(r1["state"], latest["model_state"])
    _check_shards([r0, r1], per_rank=4)
    assert len(r0["seen"]) == 4
    assert not torch.equal(r0["rng"], r1["rng"])  # each rank draws its own noise


def test_two_processes_on_half_batches_equal_one_process_on_the_global_batch(two_process_runs, monkeypatch):
    """bidnn (a mean of per-sample squared errors, no BatchNorm, no dropout here): two Adam steps on
    2 ranks x 8 segments give the parameters and losses of one process on the same 16 segments."""
    seen: list[torch.Tensor] = []
    base = MODELS["bidnn"][0]

    class Recording(base):
        def train_step(self, batch, optimizers):
            seen.append(batch["image"].flatten(1).double().sum(1))
            return super().train_step(batch, optimizers)

    monkeypatch.setitem(MODELS, "bidnn", (Recording, MODELS["bidnn"][1]))
    one = train("bidnn", str(two_process_runs / "tinyfeat"), device="cpu", out=two_process_runs / "one", overrides=EQUIV,
                progress_bar=False, max_steps=2)
    two = two_process_runs / "out" / "equiv"
    r0, r1 = _record(two_process_runs, "equiv", 0), _record(two_process_runs, "equiv", 1)
    _check_shards([r0, r1], per_rank=8)
    assert len(seen) == len(r0["seen"]) == 2
    for global_batch, a, b in zip(seen, r0["seen"], r1["seen"]):  # the halves are exactly the global batch
        assert torch.equal(torch.cat([a, b]).sort().values, global_batch.sort().values)

    want, got = ckpt_io.load(one / "latest.pt")["model_state"], ckpt_io.load(two / "latest.pt")["model_state"]
    assert want.keys() == got.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-5, msg=k)
    losses = [[r["loss"] for r in read_log(run) if r["type"] == "step"] for run in (one, two)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)  # the log's losses: the mean over ranks


def test_two_process_run_resumes_exactly(two_process_runs):
    straight = [_record(two_process_runs, "straight", r) for r in (0, 1)]
    resumed = [_record(two_process_runs, "resumed", r) for r in (0, 1)]
    for a, b in zip(straight, resumed):  # every rank continued its own dropout masks from the checkpoint
        assert _states_equal(a["state"], b["state"])
    steps = [[r["loss"] for r in read_log(two_process_runs / "out" / name) if r["type"] == "step"]
             for name in ("straight", "part")]
    assert len(steps[0]) > 3 and steps[0] == steps[1]  # 3 steps before the stop, the rest after the resume


def test_closed_form_kind_is_refused_on_two_processes(tmp_path):
    from tests.conftest import make_folder_collection

    tiny = make_folder_collection(tmp_path / "tiny", per_category=3)
    proc = _torchrun("-m", "explorer.cli", "train", "cca", "--collection", str(tiny), "--visual", "pixels",
                     "--device", "cpu", "--out", str(tmp_path / "run"), timeout=120)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("explorer train: error:")]
    assert errors  # one line from each rank that printed before torchrun stopped the others
    assert all("cca is fitted in closed form, in one process: run it without torchrun (WORLD_SIZE=2)" in e for e in errors)
    assert not (tmp_path / "run").exists()


def test_one_process_joins_no_process_group(monkeypatch):
    from explorer import distributed

    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    ranks = distributed.setup("cpu")
    assert (ranks.rank, ranks.world_size, ranks.is_main) == (0, 1, True)
    assert not torch.distributed.is_initialized()
    idx = torch.arange(6)
    assert torch.equal(ranks.shard(idx), idx) and ranks.mean({"a": 1.5}) == {"a": 1.5}


# ------------------------------------------------------------------------- the torchrun worker
def _worker(out: Path, tiny: str, feat: str) -> None:
    """Every rank: the runs above, each rank's record in ``out/NAME.rankR.pt``."""
    import torch.distributed as dist

    from explorer import cli

    # The worker starts the process group itself: the runs then join it (a group is started once per
    # process); ``explorer train`` under torchrun starts its own, as the closed-form test sees.
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    made: list = []

    def recording(cls):
        class Recording(cls):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.seen, self.first_rng = [], None
                made.append(self)

            def train_step(self, batch, optimizers):
                if self.first_rng is None:
                    self.first_rng = torch.get_rng_state()
                self.seen.append(batch["image"].flatten(1).double().sum(1))  # (B / 2,): which segments
                return super().train_step(batch, optimizers)

        return Recording

    for kind in ("gan_cls", "bidnn"):
        MODELS[kind] = (recording(MODELS[kind][0]), MODELS[kind][1])

    def run(name: str, *argv: str) -> None:
        rc = cli.main(["train", *argv, "--device", "cpu"])
        if rc:
            raise SystemExit(f"rank {rank}: explorer train {name} exited {rc}")
        model = made[-1]
        torch.save({"state": model.state_dict(), "seen": model.seen, "rng": model.first_rng}, out / f"{name}.rank{rank}.pt")

    out.mkdir(parents=True, exist_ok=True)
    run("gan", "gan_cls", "--collection", tiny, "--out", str(out / "gan"), *GAN)
    run("equiv", "bidnn", "--collection", feat, "--out", str(out / "equiv"), "--max-steps", "2", *_set_args(EQUIV))
    run("straight", "bidnn", "--collection", feat, "--out", str(out / "straight"), "--epochs", "1", *_set_args(BIDNN))
    run("part", "bidnn", "--collection", feat, "--out", str(out / "part"), "--epochs", "1", "--max-steps", "3", *_set_args(BIDNN))
    run("resumed", "--resume", str(out / "part"))
    dist.destroy_process_group()


if __name__ == "__main__":
    _worker(Path(sys.argv[1]), sys.argv[2], sys.argv[3])
