"""Progress of long computations, reported to whoever asked for them (the app's progress bars).

Loops that can take more than a few seconds (visual features, keyframe decoding, embedding a
collection, PCA / UMAP, top-word inversion) call ``report(stage, done, total)``. By default that does
nothing. A caller that wants to show progress installs a reporter for the duration of a call::

    with progress.reporting(lambda stage, done, total: ...):
        api.embeddings(ref, collection)

The reporter is a ``contextvars`` value, so it belongs to the calling thread (one Streamlit session)
and never leaks to another. A reporter may raise to stop the computation (the app's progress bar
does that when the user leaves the page: Streamlit raises its rerun exception from the next
element update, which ends the loop at the next report). ``Timer`` turns reports into "done of total,
time left" text.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

Reporter = Callable[[str, int, "int | None"], None]
_REPORTER: ContextVar[Reporter | None] = ContextVar("explorer_progress_reporter", default=None)


def report(stage: str, done: int, total: int | None = None) -> None:
    """Tell the installed reporter (if any) that ``done`` of ``total`` units of ``stage`` are done."""
    fn = _REPORTER.get()
    if fn is not None:
        fn(stage, int(done), None if total is None else int(total))


def active() -> bool:
    return _REPORTER.get() is not None


@contextmanager
def reporting(fn: Reporter) -> Iterator[None]:
    """Install ``fn(stage, done, total)`` as the reporter of this thread for the ``with`` block."""
    token = _REPORTER.set(fn)
    try:
        yield
    finally:
        _REPORTER.reset(token)


class Timer:
    """Per-stage elapsed time and a linear estimate of the time left, as a one-line text."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.started: dict[str, float] = {}

    def line(self, stage: str, done: int, total: int | None) -> tuple[float | None, str]:
        """(fraction done or None, "stage: done / total · 12 s · about 40 s left")."""
        now = self.clock()
        t0 = self.started.setdefault(stage, now)
        elapsed = now - t0
        parts = [stage]
        fraction = None
        if total:
            fraction = min(1.0, done / total)
            parts.append(f"{done:,} / {total:,}")
        parts.append(_seconds(elapsed))
        if fraction and 0 < fraction < 1 and elapsed > 0.5:
            parts.append(f"about {_seconds(elapsed * (1 - fraction) / fraction)} left")
        return fraction, " · ".join(parts)


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.1f} min"
