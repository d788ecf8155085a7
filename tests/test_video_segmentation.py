"""Cue-aligned segmentation within [min, max] (explorer.video.segmentation)."""

from __future__ import annotations

import pytest

from explorer.video.segmentation import SegmentationError, segment_cues
from explorer.video.subtitles import Cue
from explorer.video.synth import make_cues


def _check_invariants(segs, duration, min_len, max_len):
    for s in segs:
        assert min_len - 1e-6 <= s.length <= max_len + 1e-6, s
        assert 0 <= s.start < s.end <= duration + 1e-9
        for c in s.cues:
            assert s.start - 1e-9 <= c.start and c.end <= s.end + 1e-9
    for a, b in zip(segs, segs[1:]):
        assert a.end <= b.start + 1e-9


def test_regular_cues_target_length():
    cues = make_cues(100.0, every=3.0, length=2.5, start=0.5)
    segs, msgs = segment_cues(cues, 100.0, target=30, min_len=10, max_len=120)
    # cue k spans 0.5 + 3(k-1) .. 3k; cue 11 starts 30 s after cue 1 -> a new segment; the 8.5 s tail
    # (cues 31-33, 90.5-99.0) is lengthened to 10 s: end -> video end (100), start back to 90
    assert [(s.start, s.end, len(s.cues)) for s in segs] == [
        (0.5, 30.0, 10), (30.5, 60.0, 10), (60.5, 90.0, 10), (90.0, 100.0, 3)
    ]
    assert msgs == []
    # every cue in exactly one segment, texts one per line in order
    assert [c for s in segs for c in s.cues] == cues
    assert segs[0].text.split("\n") == [f"line {k}" for k in range(1, 11)]
    _check_invariants(segs, 100.0, 10, 120)


def test_video_shorter_than_min_gives_no_segment():
    segs, msgs = segment_cues([Cue(0, 5, "a")], 6.17, target=30, min_len=10, max_len=120)
    assert segs == [] and "shorter than the minimum" in msgs[0] and "6.17" in msgs[0]


def test_no_cues():
    segs, msgs = segment_cues([], 100.0)
    assert segs == [] and "no subtitle cues" in msgs[0]


def test_short_segment_extended_into_silence():
    # one cue then a long silence: the segment grows into the silence to reach min
    segs, _ = segment_cues([Cue(5, 7, "a"), Cue(60, 62, "b")], 100.0, target=30, min_len=10, max_len=120)
    assert [(s.start, s.end) for s in segs] == [(5, 15), (60, 70)]


def test_short_tail_merged_into_previous():
    cues = [Cue(0, 29, "a"), Cue(29.5, 31, "b"), Cue(31.5, 33, "c")]
    # video ends at 33: the tail "c" cannot be lengthened -> merged into the previous segment
    segs, msgs = segment_cues(cues, 33.0, target=30, min_len=10, max_len=120)
    assert [(s.start, s.end, s.text) for s in segs] == [(0, 33.0, "a\nb\nc")]
    _check_invariants(segs, 33.0, 10, 120)


def test_short_tail_extended_backwards():
    cues = [Cue(0, 30, "a"), Cue(50, 52, "b")]
    segs, _ = segment_cues(cues, 53.0, target=30, min_len=10, max_len=120)
    assert [(s.start, s.end) for s in segs] == [(0, 30), (43.0, 53.0)]


def test_isolated_cue_dropped_when_it_cannot_fit():
    # "b" sits between two long cues with no room to reach min without overlapping or exceeding max
    cues = [Cue(0, 118, "a"), Cue(119, 121, "b"), Cue(122, 240, "c")]
    segs, msgs = segment_cues(cues, 240.0, target=30, min_len=10, max_len=120)
    assert [s.text for s in segs] == ["a", "c"]
    assert any("dropped" in m and "1:59" in m for m in msgs)
    _check_invariants(segs, 240.0, 10, 120)


def test_long_gap_never_spanned_and_max_respected():
    cues = [Cue(0, 2, "a"), Cue(3, 5, "b"), Cue(300, 302, "c")]
    segs, _ = segment_cues(cues, 400.0, target=30, min_len=10, max_len=120)
    assert [s.text for s in segs] == ["a\nb", "c"]
    _check_invariants(segs, 400.0, 10, 120)


def test_cue_longer_than_max_cut():
    segs, msgs = segment_cues([Cue(0, 200, "long")], 300.0, target=30, min_len=10, max_len=120)
    assert [(s.start, s.end) for s in segs] == [(0, 120)]
    assert "longer than the maximum" in msgs[0]


def test_cues_past_video_end():
    cues = [Cue(0, 12, "a"), Cue(15, 25, "b"), Cue(30, 40, "c")]
    segs, msgs = segment_cues(cues, 20.0, target=10, min_len=5, max_len=15)
    assert [(s.start, s.end, s.text) for s in segs] == [(0, 12, "a"), (15, 20.0, "b")]
    assert any("after the end" in m for m in msgs) and any("past the end" in m for m in msgs)


def test_unknown_duration_uses_cues():
    segs, _ = segment_cues(make_cues(50.0), None, target=10, min_len=5, max_len=20)
    assert segs and segs[-1].end <= 50.0


@pytest.mark.parametrize("target,mn,mx", [(5, 10, 120), (30, 10, 20), (30, 0, 120)])
def test_bad_parameters(target, mn, mx):
    with pytest.raises(SegmentationError):
        segment_cues([Cue(0, 1, "a")], 100.0, target=target, min_len=mn, max_len=mx)


def test_unsorted_cues_rejected():
    with pytest.raises(SegmentationError, match="sorted"):
        segment_cues([Cue(5, 6, "b"), Cue(0, 1, "a")], 100.0)


def test_random_cue_sets_keep_invariants():
    import random

    rng = random.Random(0)
    for trial in range(200):
        t, cues = rng.uniform(0, 5), []
        while t < 300:
            length = rng.choice([0.3, 1, 2, 4, 8, 30, 150])
            cues.append(Cue(round(t, 3), round(t + length, 3), f"c{len(cues)}"))
            t += length + rng.choice([0, 0.1, 1, 5, 40])
        duration = rng.uniform(cues[-1].start + 0.5, 320)
        mn = rng.choice([1, 5, 10])
        target = rng.choice([mn, 15, 30])
        mx = rng.choice([max(target, 20), 60, 120])
        segs, _ = segment_cues(cues, duration, target=target, min_len=mn, max_len=mx)
        _check_invariants(segs, duration, mn, mx)
        texts = [c.text for s in segs for c in s.cues]
        assert len(texts) == len(set(texts))  # no cue in two segments
