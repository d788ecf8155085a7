"""Real videos: ingest (subtitles + keyframes -> a segment collection) and MediaEval hyperlinking formats.

Modules: ``subtitles`` (SRT / WebVTT parsing and cleaning), ``segmentation`` (cue-aligned segments
within length limits), ``keyframe`` (the per-pixel-median representative frame), ``decode`` (PyAV
probing and frame sampling), ``ingest`` (the ``explorer ingest`` orchestration), ``mediaeval``
(anchors, judgments, runs, P@n / MAP evaluation, run writing and checking), ``synth`` (synthetic
test videos), ``cli`` (``register(subparsers)`` for the ``explorer`` command). See ``docs/video.md``.
PyAV (``pip install av``, the ``video`` extra) is imported only when a video is actually decoded.
"""

# ``ingest()`` itself is deliberately not re-exported: it would shadow the ``ingest`` submodule.
# Use ``from explorer.video.ingest import ingest``.
from .ingest import IngestParams
from .keyframe import per_pixel_median, select_keyframe
from .mediaeval import (
    Anchor,
    Judgment,
    RunEntry,
    build_run,
    check_run,
    evaluate_run,
    read_anchors,
    read_qrels,
    read_run,
    to_seconds,
    write_run,
)
from .segmentation import Span, segment_cues
from .subtitles import Cue, read_subtitles

__all__ = [
    "Anchor", "Cue", "IngestParams", "Judgment", "RunEntry", "Span", "build_run", "check_run", "evaluate_run",
    "per_pixel_median", "read_anchors", "read_qrels", "read_run", "read_subtitles", "segment_cues",
    "select_keyframe", "to_seconds", "write_run",
]
