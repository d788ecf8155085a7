"""Cutting one video into hyperlinking segments along subtitle cue boundaries (a pure function).

``segment_cues(cues, duration, target, min_len, max_len, gap)`` implements this rule (``cues`` must be
sorted and non-overlapping, as ``subtitles.clean_cues`` returns them; times in seconds):

1. The parameters must satisfy ``0 < min_len <= target <= max_len``.
2. A video shorter than ``min_len`` (known ``duration``) gives **no segment** and a message.
3. Cues are clipped to the video: cues starting at or after ``duration`` are dropped, ends past it are
   cut to ``duration`` (one message each kind). A single cue longer than ``max_len`` is cut to
   ``max_len`` (message): the only case where a segment boundary is not a cue boundary.
4. Grouping (greedy, left to right): a segment starts at the start of its first cue and takes the
   next cue while all three hold: the segment still spans less than ``target`` (span = last cue's
   end - first cue's start), the next cue *starts* less than ``target`` after the segment's start, and
   taking it keeps the span within ``max_len``. So a segment is the shortest run of whole cues
   reaching ``target`` seconds, cut earlier before a cue that starts too late (a segment never
   bridges a silence that would take it past ``target``). With ``gap`` > 0 a fourth condition
   holds too: the silence before the next cue is shorter than ``gap`` seconds, so a longer pause
   (a story or topic change in most programmes) always ends a segment. A cue is never split between
   two segments. The segment's text is its cues' texts, one cue per line.
5. A segment shorter than ``min_len`` is lengthened into the silence around it: first its end towards
   the next cue's start (or the end of the video), then its start back towards the previous segment's
   end (or 0), just enough to reach ``min_len``.
6. If that is not possible it is merged into the previous segment (which then spans from its start
   to this segment's end) when the result stays within ``max_len``; otherwise its cues are dropped,
   with a message naming their time span.

Every returned segment therefore satisfies ``min_len <= end - start <= max_len``,
``0 <= start < end <= duration``, and segments do not overlap. Boundaries are cue starts / ends
(or points in the silence between cues when a segment had to be lengthened).

``spans_from_boundaries(cues, boundaries, duration)`` is the other way in: the segments are given
(e.g. a collection's ``segments.tsv`` of story boundaries), clipped to the video, and each cue goes
to the segment that holds its midpoint (segments left without a cue are dropped, reported).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from .subtitles import Cue

_EPS = 1e-6


class SegmentationError(ValueError):
    """Invalid segmentation parameters."""


@dataclass(frozen=True)
class Span:
    """One segment of a video: its time span (seconds) and the cues it holds."""

    start: float
    end: float
    cues: tuple[Cue, ...]

    @property
    def text(self) -> str:
        return "\n".join(c.text for c in self.cues)

    @property
    def length(self) -> float:
        return self.end - self.start


def check_lengths(target: float, min_len: float, max_len: float) -> None:
    if not (min_len > 0):
        raise SegmentationError(f"--min-seconds must be > 0 (got {min_len})")
    if not (min_len <= target <= max_len):
        raise SegmentationError(
            f"segment lengths must satisfy min <= target <= max; got min {min_len}, target {target}, max {max_len}"
        )


def _fmt(t: float) -> str:
    m, s = divmod(t, 60)
    return f"{int(m)}:{s:05.2f}"


def segment_cues(
    cues: list[Cue],
    duration: float | None,
    target: float = 30.0,
    min_len: float = 10.0,
    max_len: float = 120.0,
    gap: float = 0.0,
) -> tuple[list[Span], list[str]]:
    """Segments of one video (see the module docstring for the exact rule) and messages."""
    check_lengths(target, min_len, max_len)
    if gap < 0:
        raise SegmentationError(f"--gap-seconds must be >= 0 (0 = off), got {gap}")
    messages: list[str] = []
    if duration is not None and duration < min_len:
        return [], [f"video is {duration:.2f} s long, shorter than the minimum segment length ({min_len:g} s): no segment"]
    if not cues:
        return [], ["no subtitle cues: no segment"]
    for a, b in zip(cues, cues[1:]):
        if b.start < a.end - _EPS or b.start < a.start:
            raise SegmentationError("cues must be sorted and non-overlapping (use subtitles.clean_cues)")

    work: list[Cue] = []
    after_end = clipped_end = too_long = 0
    for c in cues:
        if duration is not None:
            if c.start >= duration:
                after_end += 1
                continue
            if c.end > duration:
                clipped_end += 1
                c = Cue(c.start, duration, c.text)
        if c.end - c.start > max_len:
            too_long += 1
            messages.append(
                f"cue at {_fmt(c.start)}-{_fmt(c.end)} is longer than the maximum segment length "
                f"({max_len:g} s): its segment is cut at {_fmt(c.start + max_len)}"
            )
            c = Cue(c.start, c.start + max_len, c.text)
        work.append(c)
    if after_end:
        messages.append(f"{after_end} cue(s) start after the end of the video ({duration:.2f} s): ignored")
    if clipped_end:
        messages.append(f"a cue runs past the end of the video ({duration:.2f} s): cut there")
    if not work:
        return [], messages + ["no subtitle cue inside the video: no segment"]

    video_end = duration if duration is not None else work[-1].end
    segments: list[Span] = []
    i, n = 0, len(work)
    while i < n:
        j = i
        start = work[i].start
        while (
            j + 1 < n
            and work[j].end - start < target
            and work[j + 1].start - start < target
            and work[j + 1].end - start <= max_len + _EPS
            and (gap <= 0 or work[j + 1].start - work[j].end < gap)
        ):
            j += 1
        end = work[j].end
        group = tuple(work[i : j + 1])
        if end - start < min_len:
            right_limit = work[j + 1].start if j + 1 < n else video_end
            left_limit = segments[-1].end if segments else 0.0
            end = min(max(end, start + min_len), right_limit)
            if end - start < min_len:
                start = max(end - min_len, left_limit)
        if end - start >= min_len - _EPS:
            segments.append(Span(start, end, group))
        elif segments and end - segments[-1].start <= max_len + _EPS:
            prev = segments.pop()
            segments.append(Span(prev.start, end, prev.cues + group))
        else:
            messages.append(
                f"cue(s) at {_fmt(group[0].start)}-{_fmt(group[-1].end)} dropped: they cannot form a segment "
                f"of at least {min_len:g} s without overlapping a neighbour or exceeding {max_len:g} s"
            )
        i = j + 1
    if not segments:
        messages.append("no segment could be formed within the length limits")
    return segments, messages


def spans_from_boundaries(
    cues: list[Cue], boundaries: list[tuple[float, float]], duration: float | None
) -> tuple[list[Span], list[str]]:
    """Given segments ``[(start, end), ...]`` of one video (seconds) -> spans holding their cues.

    Boundaries are sorted and clipped to ``[0, duration]``; a segment that is empty after clipping,
    or overlaps the previous one, is dropped with a message. A cue belongs to the segment holding its
    midpoint; cues in no segment are counted in a message. A segment that holds no cue is dropped
    with a message (a segment needs a transcript)."""
    messages: list[str] = []
    spans: list[Span] = []
    last_end = -1.0
    for start, end in sorted(boundaries):
        s0, e0 = max(0.0, float(start)), float(end)
        if duration is not None:
            e0 = min(e0, duration)
        if e0 - s0 <= _EPS:
            messages.append(f"segment {_fmt(start)}-{_fmt(end)} lies outside the video: dropped")
            continue
        if s0 < last_end - _EPS:
            messages.append(f"segment {_fmt(start)}-{_fmt(end)} overlaps the previous one: dropped")
            continue
        spans.append(Span(s0, e0, ()))
        last_end = e0
    held: list[list[Cue]] = [[] for _ in spans]
    outside = 0
    starts = [sp.start for sp in spans]
    for c in cues:
        mid = (c.start + c.end) / 2
        k = bisect.bisect_right(starts, mid) - 1
        if k >= 0 and mid < spans[k].end:
            held[k].append(c)
        else:
            outside += 1
    if outside:
        messages.append(f"{outside} cue(s) fall in no given segment (between or after them): not used")
    empty = [sp for sp, h in zip(spans, held) if not h]
    if empty:  # a segment needs a transcript (collections refuse empty ones)
        messages.append(f"{len(empty)} given segment(s) hold no cue (no speech there), dropped: "
                        + ", ".join(f"{_fmt(sp.start)}-{_fmt(sp.end)}" for sp in empty[:5]) + (" ..." if len(empty) > 5 else ""))
    return [Span(sp.start, sp.end, tuple(h)) for sp, h in zip(spans, held) if h], messages
