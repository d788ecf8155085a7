"""Ray for scale-out (``pip install 'explorer[scale]'``): ``explorer ingest --ray`` and
``extract_collection_features(..., ray=True)`` run their units of work (one video, one chunk of
keyframes) as Ray tasks of one CPU each. ``ray`` is imported only here, and only when asked for.

- :func:`import_ray` -- the ``ray`` module, or :class:`RayUnavailable` with a one-line fix.
- :func:`session` -- a local Ray of ``num_cpus`` CPUs (no dashboard, quiet logs) or, with an address
  (or Ray's own ``RAY_ADDRESS`` variable), a connection to an existing cluster
  (:class:`RayUnavailable` when it cannot be reached); an already initialised Ray is used as it is.
  Ray is shut down (or disconnected from) on exit only when this session started it.
- :func:`run_tasks` -- ``fn(item)`` for every item as Ray tasks, yielding ``(index, result, error)``
  as each task finishes. ``error`` is :class:`WorkerDied` when the worker process or its node was
  lost (killed, out of memory) ``retries + 1`` times: Ray's own retries are off unless asked for, so
  a caller can redo the work itself (the ingest redoes a video once, as with a broken process pool,
  and says so in its report). An exception raised by ``fn`` is yielded as itself. Leaving the loop
  early cancels the tasks still running, so nothing keeps writing behind the caller.

Tasks read and write the files named in their arguments: on a cluster, every path (videos,
collection folder, model files) must be on a file system shared by all nodes at the same path.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence


class RayUnavailable(RuntimeError):
    """Ray was asked for but cannot be used: the ``ray`` package is missing, or the cluster cannot be reached."""


class WorkerDied(RuntimeError):
    """A Ray task's worker process (or its node) was lost before the task finished."""


def import_ray(what: str = "--ray"):
    """The ``ray`` module; :class:`RayUnavailable` naming ``what`` asked for it when it is missing."""
    try:
        import ray
    except ImportError:
        raise RayUnavailable(f"{what} needs the 'ray' package: pip install 'explorer[scale]'") from None
    return ray


@contextmanager
def session(num_cpus: int, address: str | None = None, what: str = "--ray") -> Iterator[Any]:
    """Ray for the duration of the block: a local instance of ``num_cpus`` CPUs, or the cluster at
    ``address``; an already initialised Ray is reused and left running."""
    ray = import_ray(what)
    if ray.is_initialized():
        yield ray
        return
    # Ray itself connects to $RAY_ADDRESS when given no address, and then refuses num_cpus.
    address = address or os.environ.get("RAY_ADDRESS") or None
    # ERROR, not WARNING: every start otherwise prints notices (token authentication, usage stats)
    # that say nothing about the work; worker output stays on the workers (results carry messages).
    options = {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False}
    try:
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=num_cpus, **options)
    except ConnectionError as e:
        raise RayUnavailable(f"{what}: cannot connect to the Ray cluster at {address!r}: {e}") from e
    try:
        yield ray
    finally:
        ray.shutdown()


def run_tasks(
    fn: Callable[[Any], Any], items: Sequence[Any], num_cpus: float = 1, retries: int = 0
) -> Iterator[tuple[int, Any, BaseException | None]]:
    """Run ``fn(item)`` for every item as a Ray task (needs a :func:`session`); yield
    ``(index, result, None)``, ``(index, None, WorkerDied)`` or ``(index, None, exception fn raised)``
    in the order tasks finish. ``retries``: times Ray reruns a task whose worker died."""
    ray = import_ray()
    task = ray.remote(num_cpus=num_cpus, max_retries=retries)(fn)
    refs = {task.remote(item): i for i, item in enumerate(items)}
    waiting = list(refs)
    try:
        while waiting:
            (ref,), waiting = ray.wait(waiting, num_returns=1)
            try:
                result, error = ray.get(ref), None
            except ray.exceptions.RayTaskError as e:  # fn raised: hand on its own exception
                result, error = None, e.cause if isinstance(e.cause, BaseException) else e
            except ray.exceptions.RayError as e:  # worker crashed / killed / out of memory, node lost
                result, error = None, WorkerDied(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
            yield refs[ref], result, error
    finally:
        if ray.is_initialized():  # the caller stopped early (an error, Ctrl-C): nothing runs on behind it
            for ref in waiting:
                ray.cancel(ref, force=True)
