"""Data-parallel training over several processes (``torchrun``): the process group and what is synchronised.

``torchrun --nproc_per_node N -m explorer.cli train KIND ...`` starts N trainers with ``WORLD_SIZE``,
``RANK`` and ``LOCAL_RANK`` in their environment; ``setup`` reads them and starts the process group
(NCCL on GPUs, one GPU per process; gloo on CPUs), or joins one its caller started. Without either (or
with ``WORLD_SIZE=1``) it returns a single-process ``Ranks`` whose every method does nothing, so one
process trains exactly as it would without this module.

What ``explorer.train`` does with it, and why this way:

- every rank draws the same global batches (the epoch permutation is seeded by the run's seed) and
  trains on its own slice of each (``shard``);
- ``average_gradients`` hooks each optimizer a kind's ``configure_optimizers`` returns: before every
  ``step`` the gradients of that optimizer's parameters become their mean over the ranks. Kinds keep
  their own ``train_step`` (a GAN steps D and G several times per batch) and need no change;
- ``broadcast`` gives every rank rank 0's tensors: all parameters and buffers once the model is built
  or restored, the buffers again at each checkpoint (BatchNorm running statistics are rank-local);
- rank 0 alone (``is_main``) writes the run directory, validates and shows progress; ``gather`` brings each
  rank's RNG state into its checkpoint, ``rank0_decides`` makes a per-rank decision (a time-based
  checkpoint) the same everywhere, ``mean`` averages the logged step metrics over ranks.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterable

import torch
import torch.distributed as dist

#: how long a collective waits for the slowest rank. Rank 0 alone fills the disk caches (keyframes,
#: features) and validates while the others wait for it, which on a large collection takes minutes.
WAIT = timedelta(hours=1)


@dataclass(frozen=True)
class Ranks:
    """This process's place among the trainers of one run (``world_size`` 1: a plain single process)."""

    rank: int = 0
    world_size: int = 1
    device: str = "cpu"  # where collectives' tensors live: "cuda" (this process's GPU, NCCL) or "cpu" (gloo)
    owns_group: bool = False  # ``setup`` started the process group, so ``cleanup`` ends it

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        """This rank's slice of a global batch of indices (B,) -> (B / world_size,), strided like
        ``DistributedSampler``: the slices of all ranks are disjoint and together the whole batch."""
        return idx[self.rank :: self.world_size]

    def average_gradients(self, optimizer: torch.optim.Optimizer) -> None:
        """Before each ``optimizer.step()``, replace every rank's gradients by their mean over ranks.

        Each rank's loss is a mean over its slice, so for a loss that is a mean over independent
        samples (and no BatchNorm) the averaged gradient is the one of the whole global batch. Every
        rank runs the same ``train_step`` code, so the same parameters have gradients everywhere.
        """
        if self.world_size == 1:
            return

        def hook(opt: torch.optim.Optimizer, args, kwargs) -> None:
            grads = [p.grad for group in opt.param_groups for p in group["params"] if p.grad is not None]
            if not grads:
                return
            flat = torch.cat([g.reshape(-1) for g in grads])  # (sum of numels,): one message per step
            dist.all_reduce(flat)  # sum: gloo has no ReduceOp.AVG
            flat /= self.world_size
            for g, part in zip(grads, flat.split([g.numel() for g in grads])):
                g.copy_(part.view_as(g))  # copy_ keeps g's memory format (channels-last convolutions)

        optimizer.register_step_pre_hook(hook)

    def broadcast(self, tensors: Iterable[torch.Tensor]) -> None:
        """Overwrite ``tensors`` (parameters, buffers) in place with rank 0's."""
        if self.world_size == 1:
            return
        with torch.no_grad():
            for t in tensors:
                buf = t.contiguous()  # a copy for channels-last weights: collectives want dense row-major
                dist.broadcast(buf, src=0)
                if buf is not t:
                    t.copy_(buf)

    def gather(self, obj) -> list:
        """Every rank's ``obj`` (anything picklable, tensors included), in rank order, on every rank."""
        if self.world_size == 1:
            return [obj]
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def share(self, obj):
        """Rank 0's ``obj`` on every rank (a run directory named after the time rank 0 started)."""
        if self.world_size == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def rank0_decides(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank, for decisions each rank would make differently (clocks)."""
        if self.world_size == 1:
            return flag
        t = torch.tensor([int(flag)], device=self.device)
        dist.broadcast(t, src=0)
        return bool(t.item())

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """{name: float} averaged over ranks (the step metrics of the global batch, for the log)."""
        if self.world_size == 1:
            return values
        t = torch.tensor(list(values.values()), dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return dict(zip(values, (t / self.world_size).tolist()))

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    @contextmanager
    def main_first(self):
        """Rank 0 runs the block first (filling the disk caches), then the others (reading them): a
        cache that several processes computed at once would be computed N times, and word2vec with
        several threads is not bit-reproducible, so ranks could disagree on their inputs."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()


def world_size() -> int:
    """How many processes train the run: the process group's size, else torchrun's ``WORLD_SIZE``, else 1."""
    return dist.get_world_size() if dist.is_initialized() else int(os.environ.get("WORLD_SIZE", "1"))


def setup(device: str) -> Ranks:
    """Join the run's process group: the one a caller already started (kept theirs), else the one
    ``torchrun``'s environment describes (``WORLD_SIZE`` > 1); without either, a single process.

    ``device`` is ``explorer.train.resolve_device``'s: with ``"cuda"`` each process takes the GPU
    ``LOCAL_RANK`` as its current device, so ``"cuda"`` means that GPU everywhere in the trainer.
    """
    world = world_size()
    if world == 1:
        return Ranks()
    owns = not dist.is_initialized()
    rank = int(os.environ["RANK"]) if owns else dist.get_rank()
    if device == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)))
    if owns:
        dist.init_process_group(backend="nccl" if device == "cuda" else "gloo", timeout=WAIT)
    return Ranks(rank=rank, world_size=world, device=device, owns_group=owns)


def cleanup(ranks: Ranks) -> None:
    if ranks.owns_group and dist.is_initialized():
        dist.destroy_process_group()
