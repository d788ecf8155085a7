"""MediaEval 2014 Search & Hyperlinking / TRECVID video hyperlinking formats and evaluation.

Follows the task's evaluation scripts (``robinaly/sh_eval``: ``utils.py``, ``sh_eval.py``,
``sh_check.py``):

- **Times** in anchors, judgments and runs are ``minutes.seconds``: ``16.38`` is 16 min 38 s = 998 s.
  As in ``ToSec``, the part after the dot is a whole number of seconds (``1.5`` = 1 min 5 s), so
  times have one-second resolution; the seconds may be at most 60 (``isTime``). Written times
  (``format_time``) are ``%d.%02d`` of whole minutes and seconds, truncated.
- **Anchors**: XML ``<anchor>`` elements with ``anchorId``, ``startTime``, ``endTime`` and the video
  in ``fileName`` (MediaEval 2014) or ``video`` (TRECVID 2015/16); search queries: ``<top>`` with
  ``queryId`` / ``queryText``; collection durations: ``name HH:MM:SS`` per line.
- **Judgments** (qrels): ``topic Q0 video start end relevance`` per line.
- **Runs** (linking): ``anchorId Q0 video start end rank score runName`` per line.

Evaluation (``evaluate_run``), per anchor, as sh_eval's segment measures:

- relevant judged segments (relevance > 0) of the anchor that overlap one another are merged;
  ``R`` = number of merged relevant segments;
- **segments overlapping the anchor itself are excluded**, both from the ranking (they are dropped
  and the ranks closed up) and from the relevant set;
- a returned segment is relevant iff it overlaps a (merged) relevant segment (same video, closed
  intervals: sharing an end point counts, as in sh_eval's ``overlaps``); judged non-relevant and
  unjudged segments count as non-relevant;
- ``P@n`` = relevant among the first ``n`` / ``n``; ``AP`` = sum over relevant ranks ``k`` of
  ``P@k``, divided by ``max(R, relevant returned)``. sh_eval divides by ``R`` alone, which gives an
  AP above 1 when several returned segments overlap one relevant segment; the two agree otherwise;
- means are taken over the judged anchors present in the run (as sh_eval); with
  ``missing_as_zero=True`` judged anchors absent from the run count as 0.

Run writing (``build_run``) and checking (``check_run``) follow ``sh_check.py``'s linking checks:
8 fields; one contiguous block per anchor; ranks 1, 2, 3, ... within a block; valid times; end after
start; length 10 s to 2 min; the run name not a number; no overlap with the anchor (closed
intervals); no overlap with an earlier result of the same anchor (positive-length overlap on the
written whole seconds, as sh_check's interval tree); optionally the video known and the start
within it (``cAXES`` durations).
"""

from __future__ import annotations

import gzip
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_TIME_RE = re.compile(r"^(\d+)\.(\d+)$")
RUN_NAME_RE = re.compile(
    r"^(?P<task>[^_]+)_(?P<team>[^_]+)_(?P<runType>[^_]+)_(?P<priority>[^_]+)_(?P<segmentation>[^_]+)_"
    r"(?P<asr>[^_]+)_(?P<additional>[^_.]+)(?P<description>_[^_]+)?(\..+)?$"
)
MIN_LINK_SECONDS = 10
MAX_LINK_SECONDS = 120


class MediaEvalFormatError(ValueError):
    """A malformed anchors / judgments / run file; the message names the file and line."""


# ------------------------------------------------------------------------------------------- times


def to_seconds(s: str) -> int:
    """``minutes.seconds`` -> seconds (sh_eval ``ToSec``): ``'16.38'`` -> 998. Raises on bad input."""
    m = _TIME_RE.match(s.strip())
    if not m:
        raise ValueError(f"{s!r} is not a minutes.seconds time (e.g. 16.38)")
    if int(m.group(2)) > 60:
        raise ValueError(f"{s!r}: the seconds part must be at most 60 (times are minutes.seconds)")
    return int(m.group(1)) * 60 + int(m.group(2))


def format_time(seconds: float) -> str:
    """Seconds -> ``minutes.seconds`` with whole seconds, truncated (sh_eval ``sec2String``)."""
    if seconds < 0:
        raise ValueError(f"negative time {seconds}")
    whole = int(math.floor(seconds + 1e-9))
    return "%d.%02d" % divmod(whole, 60)


def _hms_seconds(s: str) -> int:
    parts = s.strip().split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{s!r} is not HH:MM:SS")
    h, m, sec = (int(p) for p in parts)
    return h * 3600 + m * 60 + sec


def overlaps_closed(a_start: float, a_end: float, b_start: float, b_end: float) -> bool:
    """Closed-interval overlap (sharing an end point counts), as sh_eval ``overlaps``."""
    return a_start <= b_end and b_start <= a_end


def overlaps_open(a_start: float, a_end: float, b_start: float, b_end: float) -> bool:
    """Positive-length overlap (touching intervals do not overlap)."""
    return a_start < b_end and b_start < a_end


# ------------------------------------------------------------------------------------------- files


@dataclass(frozen=True)
class Anchor:
    anchor_id: str
    video: str
    start: float  # seconds
    end: float  # seconds
    ref_id: str | None = None


@dataclass(frozen=True)
class Query:
    query_id: str
    text: str
    ref_id: str | None = None


@dataclass(frozen=True)
class Judgment:
    topic: str
    video: str
    start: float
    end: float
    relevance: int


@dataclass(frozen=True)
class RunEntry:
    topic: str
    video: str
    start: float
    end: float
    rank: int
    score: float
    run_name: str


def _open_text(path: Path):
    path = Path(path)
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rt", encoding="utf-8")
        return open(path, encoding="utf-8")
    except OSError as e:
        raise MediaEvalFormatError(f"cannot read {path}: {e.strerror or e}") from e


def _xml_root(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as e:
        raise MediaEvalFormatError(f"{path}: not well-formed XML ({e})") from e
    except OSError as e:
        raise MediaEvalFormatError(f"cannot read {path}: {e.strerror or e}") from e


def _child(el: ET.Element, names: tuple[str, ...], path: Path, n: int) -> str:
    for name in names:
        c = el.find(name)
        if c is not None and c.text and c.text.strip():
            return c.text.strip()
    raise MediaEvalFormatError(f"{path}: element {n} <{el.tag}> has no <{'> or <'.join(names)}>")


def read_anchors(path: str | Path) -> list[Anchor]:
    """Anchors of a MediaEval 2014 (``fileName``) or TRECVID 2015/16 (``video``) anchors XML file."""
    path = Path(path)
    root = _xml_root(path)
    anchors: list[Anchor] = []
    seen: set[str] = set()
    for n, el in enumerate(root.iter("anchor"), start=1):
        aid = _child(el, ("anchorId",), path, n)
        video = _child(el, ("fileName", "video"), path, n)
        times = []
        for tag in ("startTime", "endTime"):
            raw = _child(el, (tag,), path, n)
            try:
                times.append(to_seconds(raw))
            except ValueError as e:
                raise MediaEvalFormatError(f"{path}: anchor {aid!r}: {tag}: {e}") from e
        if times[1] <= times[0]:
            raise MediaEvalFormatError(f"{path}: anchor {aid!r} ends ({times[1]} s) before it starts ({times[0]} s)")
        if aid in seen:
            raise MediaEvalFormatError(f"{path}: anchor id {aid!r} appears twice")
        seen.add(aid)
        ref = el.find("refId")
        anchors.append(Anchor(aid, video, float(times[0]), float(times[1]), ref.text.strip() if ref is not None and ref.text else None))
    if not anchors:
        raise MediaEvalFormatError(f"{path}: no <anchor> elements")
    return anchors


def read_queries(path: str | Path) -> list[Query]:
    """Search queries (``<top>`` with ``queryId``/``itemId`` and ``queryText``)."""
    path = Path(path)
    root = _xml_root(path)
    out = []
    for n, el in enumerate(root.iter("top"), start=1):
        qid = _child(el, ("queryId", "itemId"), path, n)
        text = _child(el, ("queryText",), path, n)
        ref = el.find("refId")
        out.append(Query(qid, text, ref.text.strip() if ref is not None and ref.text else None))
    if not out:
        raise MediaEvalFormatError(f"{path}: no <top> elements")
    return out


def read_durations(path: str | Path) -> dict[str, int]:
    """Collection file list with durations (``cAXES.txt``: ``name HH:MM:SS``) -> {name: seconds}."""
    path = Path(path)
    out: dict[str, int] = {}
    with _open_text(path) as f:
        for n, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2:
                raise MediaEvalFormatError(f"{path} line {n}: expected 'name HH:MM:SS', got {line.strip()!r}")
            try:
                out[fields[0]] = _hms_seconds(fields[1])
            except ValueError as e:
                raise MediaEvalFormatError(f"{path} line {n}: {e}") from e
    return out


def read_qrels(path: str | Path) -> list[Judgment]:
    """Judgments ``topic Q0 video start end relevance`` (times minutes.seconds)."""
    path = Path(path)
    out: list[Judgment] = []
    with _open_text(path) as f:
        for n, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 6:
                raise MediaEvalFormatError(
                    f"{path} line {n}: expected 6 fields 'topic Q0 video start end relevance', got {len(fields)}"
                )
            try:
                start, end = to_seconds(fields[3]), to_seconds(fields[4])
                rel = int(fields[5])
            except ValueError as e:
                raise MediaEvalFormatError(f"{path} line {n}: {e}") from e
            out.append(Judgment(fields[0], fields[2], float(start), float(end), rel))
    if not out:
        raise MediaEvalFormatError(f"{path}: no judgments")
    return out


def read_run(path: str | Path) -> list[RunEntry]:
    """A linking run ``anchorId Q0 video start end rank score runName`` (strict; see ``check_run``)."""
    path = Path(path)
    out: list[RunEntry] = []
    with _open_text(path) as f:
        for n, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 8:
                raise MediaEvalFormatError(f"{path} line {n}: expected 8 fields, got {len(fields)}")
            try:
                out.append(RunEntry(
                    fields[0], fields[2], float(to_seconds(fields[3])), float(to_seconds(fields[4])),
                    int(fields[5]), float(fields[6]), fields[7],
                ))
            except ValueError as e:
                raise MediaEvalFormatError(f"{path} line {n}: {e}") from e
    return out


def format_run_line(e: RunEntry) -> str:
    return f"{e.topic} Q0 {e.video} {format_time(e.start)} {format_time(e.end)} {e.rank} {e.score:.6f} {e.run_name}"


def write_run(entries: list[RunEntry], path: str | Path) -> None:
    from ..cache import atomic_write_text

    atomic_write_text(Path(path), "".join(format_run_line(e) + "\n" for e in entries))


# --------------------------------------------------------------------------------------- evaluation


@dataclass
class EvalResult:
    per_anchor: dict[str, dict[str, float]]
    mean: dict[str, float]
    judged_not_in_run: list[str] = field(default_factory=list)
    run_not_judged: list[str] = field(default_factory=list)

    def format(self, per_anchor: bool = False) -> str:
        lines = []
        if per_anchor:
            for a in sorted(self.per_anchor, key=_natural):
                lines.append("  ".join([f"{a:<12}"] + [f"{k} {v:.4f}" for k, v in self.per_anchor[a].items()]))
        lines.append("  ".join(["all".ljust(12)] + [f"{k} {v:.4f}" for k, v in self.mean.items()]))
        if self.judged_not_in_run:
            lines.append(f"note: {len(self.judged_not_in_run)} judged anchor(s) not in the run: {', '.join(self.judged_not_in_run[:10])}")
        if self.run_not_judged:
            lines.append(f"note: {len(self.run_not_judged)} run anchor(s) without judgments (ignored): {', '.join(self.run_not_judged[:10])}")
        return "\n".join(lines)


def _natural(s: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def merge_intervals(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Merge closed intervals that overlap or touch (sh_eval ``mergeList``)."""
    out: list[list[float]] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def precision_at(rels: list[bool], n: int) -> float:
    return sum(rels[:n]) / float(n)


def average_precision(rels: list[bool], n_relevant: int) -> float:
    hits, total = 0, 0.0
    for k, r in enumerate(rels, start=1):
        if r:
            hits += 1
            total += hits / k
    denom = max(n_relevant, hits)
    return total / denom if denom else 0.0


def evaluate_ranking(
    ranking: list[tuple[str, float, float]],
    judgments: list[Judgment],
    anchor: Anchor | None = None,
    cutoffs: tuple[int, ...] = (5, 10, 20),
) -> dict[str, float]:
    """Measures for one topic. ``ranking``: (video, start, end) best first; ``judgments``: that topic's."""
    relevant: dict[str, list[tuple[float, float]]] = {}
    for j in judgments:
        if j.relevance <= 0:
            continue
        if anchor is not None and j.video == anchor.video and overlaps_closed(j.start, j.end, anchor.start, anchor.end):
            continue
        relevant.setdefault(j.video, []).append((j.start, j.end))
    merged = {v: merge_intervals(iv) for v, iv in relevant.items()}
    n_rel = sum(len(v) for v in merged.values())
    kept = [
        r for r in ranking
        if anchor is None or r[0] != anchor.video or not overlaps_closed(r[1], r[2], anchor.start, anchor.end)
    ]
    rels = [any(overlaps_closed(s, e, a, b) for a, b in merged.get(v, ())) for v, s, e in kept]
    out = {f"P@{n}": precision_at(rels, n) for n in cutoffs}
    out["AP"] = average_precision(rels, n_rel)
    out["num_rel"] = float(n_rel)
    out["num_ret"] = float(len(kept))
    out["num_rel_ret"] = float(sum(rels))
    return out


def evaluate_run(
    run: list[RunEntry],
    judgments: list[Judgment],
    anchors: list[Anchor] | dict[str, Anchor] | None = None,
    cutoffs: tuple[int, ...] = (5, 10, 20),
    missing_as_zero: bool = False,
) -> EvalResult:
    """P@n and AP per anchor and their means (MAP); rules in the module docstring."""
    if isinstance(anchors, list):
        anchors = {a.anchor_id: a for a in anchors}
    anchors = anchors or {}
    by_topic_j: dict[str, list[Judgment]] = {}
    for j in judgments:
        by_topic_j.setdefault(j.topic, []).append(j)
    by_topic_r: dict[str, list[RunEntry]] = {}
    for e in run:
        by_topic_r.setdefault(e.topic, []).append(e)
    per: dict[str, dict[str, float]] = {}
    for topic, entries in by_topic_r.items():
        if topic not in by_topic_j:
            continue
        ranked = sorted(entries, key=lambda e: (e.rank, -e.score))
        per[topic] = evaluate_ranking([(e.video, e.start, e.end) for e in ranked], by_topic_j[topic], anchors.get(topic), cutoffs)
    missing = sorted((t for t in by_topic_j if t not in by_topic_r), key=_natural)
    if missing_as_zero:
        for t in missing:
            per[t] = evaluate_ranking([], by_topic_j[t], anchors.get(t), cutoffs)
    keys = [f"P@{n}" for n in cutoffs] + ["AP"]
    mean = {k: (float(np.mean([p[k] for p in per.values()])) if per else 0.0) for k in keys}
    mean["MAP"] = mean.pop("AP")
    return EvalResult(
        per_anchor=per, mean=mean, judged_not_in_run=missing,
        run_not_judged=sorted((t for t in by_topic_r if t not in by_topic_j), key=_natural),
    )


# ------------------------------------------------------------------------------------- run writing


@dataclass
class RunBuild:
    entries: list[RunEntry]
    messages: list[str]


def _written(start: float, end: float) -> tuple[int, int]:
    """The whole-second interval a segment is written as (both ends truncated, as format_time)."""
    return int(math.floor(start + 1e-9)), int(math.floor(end + 1e-9))


def anchor_embedding(
    anchor: Anchor, segments: list, embeddings: np.ndarray
) -> tuple[np.ndarray | None, str]:
    """The embedding of an anchor: its own segment's if the collection has a segment with the anchor's
    video and time span (within 1 s), else the mean of the segments of its video overlapping it
    (positive-length overlap). (None, reason) when there are none."""
    same_video = [i for i, s in enumerate(segments) if s.video_id == anchor.video and s.start is not None and s.end is not None]
    if not same_video:
        return None, f"anchor {anchor.anchor_id}: video {anchor.video!r} is not in the collection (skipped)"
    for i in same_video:
        s = segments[i]
        if abs(s.start - anchor.start) <= 1.0 and abs(s.end - anchor.end) <= 1.0:
            return embeddings[i], "segment"
    over = [i for i in same_video if overlaps_open(segments[i].start, segments[i].end, anchor.start, anchor.end)]
    if not over:
        return None, (
            f"anchor {anchor.anchor_id}: no segment of video {anchor.video!r} overlaps "
            f"{format_time(anchor.start)}-{format_time(anchor.end)} (skipped)"
        )
    return embeddings[over].mean(axis=0), f"mean of {len(over)} segment(s)"


def build_run(
    segments: list,
    embeddings: np.ndarray,
    anchors: list[Anchor],
    run_name: str = "explorer",
    top_k: int = 100,
    min_len: int = MIN_LINK_SECONDS,
    max_len: int = MAX_LINK_SECONDS,
    index=None,
) -> RunBuild:
    """Rank the collection's segments for every anchor by cosine similarity of embeddings.

    ``segments``: objects with ``video_id``, ``start``, ``end`` (seconds), e.g. ``Collection.segments``;
    ``embeddings``: (len(segments), D), row i for segment i. Per anchor (in the given order): the
    anchor embedding (``anchor_embedding``), then segments by decreasing cosine similarity (ties by
    position), keeping a segment only if, on its written whole-second interval, it does not overlap
    the anchor (closed intervals), does not overlap an already kept result (positive length), and is
    ``min_len``..``max_len`` s long; at most ``top_k`` per anchor, ranks 1.. consecutive.

    ``index``: an ``explorer.ann.RankIndex`` over the same rows (a large collection): segments are then taken
    from its top results, asking for 4x more each time the filters leave fewer than ``top_k``, instead of
    scoring every segment for every anchor.
    """
    if not _valid_run_name(run_name):
        raise ValueError(f"run name {run_name!r} must be one word and not a number (the checker rejects it)")
    emb = np.asarray(embeddings, dtype=np.float64)
    if emb.ndim != 2 or emb.shape[0] != len(segments):
        raise ValueError(f"embeddings must be ({len(segments)}, D), got {emb.shape}")
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    unit = emb / np.where(norms > 0, norms, 1.0)
    timed = [i for i, s in enumerate(segments) if s.video_id is not None and s.start is not None and s.end is not None]
    messages: list[str] = []
    if len(timed) < len(segments):
        messages.append(f"{len(segments) - len(timed)} segment(s) without video id / times cannot be linked (ignored)")
    lengths = {i: (lambda w: w[1] - w[0])(_written(segments[i].start, segments[i].end)) for i in timed}
    bad_len = {i for i in timed if not (min_len <= lengths[i] <= max_len)}
    if bad_len:
        messages.append(
            f"{len(bad_len)} segment(s) are not {min_len}-{max_len} s long (as written in whole seconds) and are never returned"
        )
    eligible = [i for i in timed if i not in bad_len]
    eligible_set = set(eligible)
    entries: list[RunEntry] = []
    for a in anchors:
        q, how = anchor_embedding(a, segments, emb)
        if q is None:
            messages.append(how)
            continue
        qn = np.linalg.norm(q)
        q = q / qn if qn > 0 else q
        kept: dict[str, list[tuple[int, int]]] = {}
        rank = 0
        candidates = (_by_index(index, q, eligible_set, top_k, len(segments)) if index is not None
                      else _by_score(unit, q, eligible))
        for i, score in candidates:
            s = segments[i]
            ws, we = _written(s.start, s.end)
            if s.video_id == a.video and overlaps_closed(ws, we, a.start, a.end):
                continue
            if any(overlaps_open(ws, we, ks, ke) for ks, ke in kept.get(s.video_id, ())):
                continue
            kept.setdefault(s.video_id, []).append((ws, we))
            rank += 1
            entries.append(RunEntry(a.anchor_id, s.video_id, float(ws), float(we), rank, float(score), run_name))
            if rank >= top_k:
                break
        if rank == 0:
            why = "all eligible segments overlap the anchor" if eligible else "no segment is 10 s to 2 min long with times"
            messages.append(f"anchor {a.anchor_id}: no segment can be returned ({why})")
    return RunBuild(entries, messages)


def _by_score(unit: np.ndarray, q: np.ndarray, eligible: list[int]):
    """(segment, cosine) for every eligible segment, best first (ties by position)."""
    scores = unit[eligible] @ q
    for o in np.argsort(-scores, kind="stable"):
        yield eligible[o], scores[o]


def _by_index(index, q: np.ndarray, eligible: set[int], top_k: int, n: int):
    """(segment, cosine) from an ANN index, best first, eligible ones only: the top 4 x top_k first, then 4x more
    results each time those run out, up to every row."""
    done, want = 0, min(n, 4 * top_k)
    while done < n:
        ids, scores = index.search(q[None, :].astype(np.float32), want)
        for i, score in zip(ids[0][done:], scores[0][done:]):
            if i >= 0 and int(i) in eligible:
                yield int(i), float(score)
        if want >= n:
            return
        done, want = want, min(n, 4 * want)


def _valid_run_name(name: str) -> bool:
    if not name or any(c.isspace() for c in name):
        return False
    try:
        float(name)
        return False
    except ValueError:
        return True


def check_run_name(filename: str) -> list[str]:
    """sh_check's file-name rule ``Task_Team_RunType_Priority_Segmentation_Transcript_Additional[_Desc][.ext]``."""
    name = Path(filename).name
    m = RUN_NAME_RE.match(name)
    if not m:
        return [
            f"run file name {name!r} does not follow Task_Team_RunType_Priority_Segmentation_TranscriptType_"
            "AdditionalFeatures[_Description][.ext] (e.g. me14sh_TEAM_L_1_Sh_M_V_gan.txt)"
        ]
    errors = []
    if m.group("task") not in ("me14sh", "me15sava", "tv15lnk", "tv16lnk"):
        errors.append(f"run file name: unknown task {m.group('task')!r} (me14sh, me15sava, tv15lnk, tv16lnk)")
    if m.group("runType") not in ("S", "L"):
        errors.append(f"run file name: run type {m.group('runType')!r} must be S or L")
    if not re.fullmatch(r"(Ss|Sp|Sh|F|L|P|O)+", m.group("segmentation")):
        errors.append(f"run file name: segmentation {m.group('segmentation')!r} must combine Ss Sp Sh F L P O")
    if not re.fullmatch(r"[IMSUN]+", m.group("asr")):
        errors.append(f"run file name: transcript type {m.group('asr')!r} must combine I M S U N")
    if not re.fullmatch(r"[MVON]+", m.group("additional")):
        errors.append(f"run file name: additional features {m.group('additional')!r} must combine M V O N")
    return errors


def check_run(
    lines: list[str],
    anchors: list[Anchor] | dict[str, Anchor],
    durations: dict[str, int] | None = None,
) -> list[str]:
    """sh_check's linking-run checks on the lines of a run file; returns error messages (empty: valid)."""
    if isinstance(anchors, list):
        anchors = {a.anchor_id: a for a in anchors}
    errors: list[str] = []
    found: set[str] = set()
    last_anchor, last_rank = "", 0
    seen: dict[str, list[tuple[int, int]]] = {}
    for n, line in enumerate(lines, start=1):
        f = line.split()
        if not f:
            continue

        def err(msg: str) -> None:
            errors.append(f"line {n}: {msg}")

        if len(f) != 8:
            err(f"expected 8 fields 'anchorId Q0 video start end rank score runName', got {len(f)}")
            continue
        aid = f[0]
        if aid not in anchors:
            err(f"unknown anchor id {aid!r}")
            continue
        if aid != last_anchor:
            if aid in found:
                err(f"anchor {aid} mentioned again after other anchors (each anchor's results must be one block)")
                continue
            last_anchor, last_rank, seen = aid, 0, {}
        found.add(aid)
        if f[1] != "Q0":
            err(f"second field must be Q0, got {f[1]!r}")
        if durations is not None and f[2] not in durations:
            err(f"unknown video {f[2]!r}")
            continue
        try:
            start, end = to_seconds(f[3]), to_seconds(f[4])
        except ValueError as e:
            err(f"invalid time: {e}")
            continue
        try:
            rank = int(f[5])
        except ValueError:
            err(f"invalid rank {f[5]!r}")
            continue
        if rank != last_rank + 1:
            err(f"non-consecutive rank {rank} (expected {last_rank + 1})")
            continue
        last_rank = rank
        try:
            float(f[6])
        except ValueError:
            err(f"invalid score {f[6]!r}")
            continue
        if not _valid_run_name(f[7]):
            err(f"invalid run name {f[7]!r} (must not be a number)")
            continue
        if end <= start:
            err(f"end {f[4]} is not after start {f[3]}")
            continue
        if durations is not None and start > durations[f[2]]:
            err(f"segment {f[3]}-{f[4]} starts after the end of video {f[2]} ({format_time(durations[f[2]])})")
            continue
        if not (MIN_LINK_SECONDS <= end - start <= MAX_LINK_SECONDS):
            err(f"segment {f[3]}-{f[4]} is {end - start} s long; must be {MIN_LINK_SECONDS} s to {MAX_LINK_SECONDS} s")
            continue
        a = anchors[aid]
        if f[2] == a.video and overlaps_closed(start, end, a.start, a.end):
            err(f"segment {f[3]}-{f[4]} overlaps the anchor ({format_time(a.start)}-{format_time(a.end)})")
            continue
        clash = next(((s, e) for s, e in seen.get(f[2], ()) if overlaps_open(start, end, s, e)), None)
        if clash:
            err(f"segment {f[3]}-{f[4]} overlaps the earlier result {format_time(clash[0])}-{format_time(clash[1])}")
            continue
        seen.setdefault(f[2], []).append((start, end))
    return errors
