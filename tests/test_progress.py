"""``explorer.progress``: reports reach the reporter of this thread only, and say how long is left."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from explorer import progress


def test_reports_go_to_the_installed_reporter_and_nowhere_else():
    got: list[tuple] = []
    progress.report("nobody listens", 1, 2)  # no reporter: nothing happens
    with progress.reporting(lambda *a: got.append(a)):
        assert progress.active()
        progress.report("stage", 1, 4)
        seen_elsewhere: list[bool] = []
        t = threading.Thread(target=lambda: seen_elsewhere.append(progress.active()))
        t.start()
        t.join()
    assert got == [("stage", 1, 4)] and seen_elsewhere == [False] and not progress.active()


def test_timer_estimates_time_left_linearly():
    now = [100.0]
    timer = progress.Timer(clock=lambda: now[0])
    assert timer.line("features", 0, 100) == (0.0, "features · 0 / 100 · 0 s")
    now[0] = 110.0
    fraction, line = timer.line("features", 25, 100)
    assert fraction == 0.25 and line == "features · 25 / 100 · 10 s · about 30 s left"
    now[0] = 220.0
    assert timer.line("features", 50, 100)[1].endswith("2.0 min · about 2.0 min left")


def test_a_reporter_that_raises_cancels_the_computation(tmp_path):
    """What the app relies on: Streamlit raises from a progress-bar update when the user leaves."""
    from explorer.inputs import embed_all

    class Stop(Exception):
        pass

    calls = []

    def stop_at_second(stage, done, total):
        calls.append(done)
        if len(calls) == 2:
            raise Stop

    import torch

    class Tiny(torch.nn.Module):
        def embed(self, image, text):
            return {"joint": text}

    class Inputs:
        text = torch.randn(2000, 4)

        def __len__(self):
            return 2000

        def image_batch(self, b, device):
            return None

    with progress.reporting(stop_at_second), pytest.raises(Stop):
        embed_all(Tiny(), Inputs(), batch_size=512)
    assert calls == [512, 1024]
    out = embed_all(Tiny(), Inputs(), batch_size=512)  # no reporter: runs to the end
    assert np.allclose(out["joint"], Inputs.text.numpy())
