"""MediaEval / TRECVID hyperlinking formats: parsing, overlap-based evaluation, run writing and checking."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from explorer.paths import data_root
from explorer.video.mediaeval import (
    Anchor,
    MediaEvalFormatError,
    RunEntry,
    average_precision,
    build_run,
    check_run,
    check_run_name,
    evaluate_run,
    format_run_line,
    format_time,
    merge_intervals,
    read_anchors,
    read_durations,
    read_qrels,
    read_queries,
    read_run,
    to_seconds,
    write_run,
)


def test_minutes_seconds():
    assert to_seconds("16.38") == 998
    assert to_seconds("0.06") == 6
    assert to_seconds("1.5") == 65  # as sh_eval's ToSec: the digits after the dot are whole seconds
    assert to_seconds("125.00") == 7500
    for bad in ("16:38", "1.75", "abc", "-1.00", "3"):
        with pytest.raises(ValueError):
            to_seconds(bad)
    assert format_time(998) == "16.38" and format_time(6.9) == "0.06" and format_time(7500) == "125.00"
    for s in range(0, 4000, 7):
        assert to_seconds(format_time(s)) == s


def test_merge_intervals_closed():
    assert merge_intervals([(50, 90), (0, 60), (90, 100), (200, 210)]) == [(0, 100), (200, 210)]


# Hand-written judgments and run with hand-computed measures -------------------------------------

ANCHORS = [
    Anchor("a1", "vA", to_seconds("1.40"), to_seconds("2.10")),  # 100-130 s
    Anchor("a2", "vX", 0, 20),
    Anchor("a3", "vZ", 500, 530),
]
QRELS_TEXT = """\
a1 Q0 vB 0.00 1.00 1
a1 Q0 vB 0.50 1.30 1
a1 Q0 vC 5.00 5.30 1
a1 Q0 vA 1.50 2.00 1
a1 Q0 vD 0.00 0.30 0
a1 Q0 vA 10.00 10.30 1
a2 Q0 vY 0.00 0.30 1
a2 Q0 vY 2.00 2.30 0
a3 Q0 vZ 0.00 0.30 1
"""
RUN_TEXT = """\
a1 Q0 vA 1.45 2.20 1 0.9 test
a1 Q0 vB 0.10 0.40 2 0.8 test
a1 Q0 vD 0.00 0.30 3 0.7 test
a1 Q0 vE 0.00 0.30 4 0.6 test
a1 Q0 vC 5.30 6.00 5 0.5 test
a1 Q0 vB 1.40 2.00 6 0.4 test
a2 Q0 vY 1.00 1.30 1 0.9 test
a2 Q0 vY 0.10 0.40 2 0.8 test
a4 Q0 vY 0.10 0.40 1 0.8 test
"""
# a1: R = 3 (vB 0-60 and 50-90 merge; vA 110-120 overlaps the anchor: excluded; vA 600-630; vC 300-330)
#     ranking after dropping rank 1 (overlaps the anchor): vB 10-40 R, vD N (judged), vE N (unjudged),
#     vC 330-360 R (touches 300-330: closed overlap), vB 100-120 N
#     P@5 = 2/5, P@10 = 2/10, AP = (1/1 + 2/4) / 3 = 0.5
# a2: R = 1; ranking N, R -> P@5 = 1/5, P@10 = 1/10, AP = (1/2) / 1 = 0.5
# a3: judged, not in the run; a4: in the run, not judged


@pytest.fixture
def qrels(tmp_path):
    p = tmp_path / "test.qrel"
    p.write_text(QRELS_TEXT)
    return read_qrels(p)


@pytest.fixture
def run(tmp_path):
    p = tmp_path / "run.txt"
    p.write_text(RUN_TEXT)
    return read_run(p)


def test_hand_written_run_known_p10_and_map(qrels, run):
    res = evaluate_run(run, qrels, ANCHORS)
    a1, a2 = res.per_anchor["a1"], res.per_anchor["a2"]
    assert a1["P@5"] == pytest.approx(0.4) and a1["P@10"] == pytest.approx(0.2) and a1["AP"] == pytest.approx(0.5)
    assert a1["num_rel"] == 3 and a1["num_ret"] == 5 and a1["num_rel_ret"] == 2
    assert a2["P@5"] == pytest.approx(0.2) and a2["P@10"] == pytest.approx(0.1) and a2["AP"] == pytest.approx(0.5)
    assert res.mean["P@10"] == pytest.approx(0.15)
    assert res.mean["MAP"] == pytest.approx(0.5)
    assert res.mean["P@5"] == pytest.approx(0.3) and res.mean["P@20"] == pytest.approx((2 / 20 + 1 / 20) / 2)
    assert res.judged_not_in_run == ["a3"] and res.run_not_judged == ["a4"]
    zero = evaluate_run(run, qrels, ANCHORS, missing_as_zero=True)
    assert zero.mean["P@10"] == pytest.approx(0.1) and zero.mean["MAP"] == pytest.approx(1 / 3)
    assert "MAP 0.5000" in res.format()


def test_without_anchors_nothing_is_excluded(qrels, run):
    a1 = evaluate_run(run, qrels).per_anchor["a1"]
    # rank 1 (vA 105-140) now counts and is relevant (overlaps vA 110-120, no longer excluded); R = 4
    assert a1["num_rel"] == 4 and a1["P@10"] == pytest.approx(0.3)
    assert a1["AP"] == pytest.approx((1 / 1 + 2 / 2 + 3 / 5) / 4)


def test_ap_never_exceeds_one():
    # three returned segments overlap the single relevant segment: sh_eval would report AP = 3
    assert average_precision([True, True, True], 1) == 1.0
    assert average_precision([False, True], 1) == 0.5
    assert average_precision([], 0) == 0.0


def test_qrel_and_run_format_errors(tmp_path):
    p = tmp_path / "bad.qrel"
    p.write_text("a1 Q0 vB 0.00 1.00 1\na1 Q0 vB 0.00 1\n")
    with pytest.raises(MediaEvalFormatError, match="line 2"):
        read_qrels(p)
    p.write_text("a1 Q0 vB 0.00 1.75 1\n")
    with pytest.raises(MediaEvalFormatError, match="line 1.*at most 60"):
        read_qrels(p)
    x = tmp_path / "a.xml"
    x.write_text("<anchors><anchor><anchorId>a</anchorId><startTime>1.00</startTime></anchor></anchors>")
    with pytest.raises(MediaEvalFormatError, match="fileName"):
        read_anchors(x)
    x.write_text("<anchors><anchor>")
    with pytest.raises(MediaEvalFormatError, match="XML"):
        read_anchors(x)


def test_trecvid_style_anchor_xml(tmp_path):
    x = tmp_path / "tv.xml"
    x.write_text(
        "<anchors><anchor><anchorId>anchor_1</anchorId><video>v1</video><startTime>1.05</startTime>"
        "<endTime>1.20</endTime></anchor></anchors>"
    )
    assert read_anchors(x) == [Anchor("anchor_1", "v1", 65.0, 80.0)]


# Run writing and checking ------------------------------------------------------------------------


@dataclass(frozen=True)
class Seg:
    id: str
    video_id: str | None
    start: float | None
    end: float | None


def _collection():
    segs, emb = [], []
    for v, vid in enumerate(("vA", "vB", "vC")):
        t = 0.0
        for k in range(6):
            length = 20.5 if k % 2 == 0 else 19.5
            segs.append(Seg(f"{vid}_{k}", vid, t, t + length))
            angle = 0.3 * v + 0.05 * k
            emb.append([np.cos(angle), np.sin(angle), 0.1 * k])
            t += length
    segs.append(Seg("tiny", "vC", 200.0, 205.0))  # too short to be a link target
    emb.append([1.0, 0.0, 0.0])
    segs.append(Seg("untimed", None, None, None))
    emb.append([1.0, 0.0, 0.0])
    return segs, np.asarray(emb)


def test_build_run_is_valid_and_ranked_by_cosine(tmp_path):
    segs, emb = _collection()
    anchors = [
        Anchor("anchor_1", "vA", 20.0, 40.0),  # = segment vA_1 (20.5-40): its own embedding
        Anchor("anchor_2", "vB", 30.0, 50.0),  # mean of vB_1, vB_2
        Anchor("anchor_3", "vQ", 0.0, 30.0),  # video not in the collection
    ]
    built = build_run(segs, emb, anchors, run_name="me14sh_test", top_k=50)
    assert any("anchor_3" in m and "not in the collection" in m for m in built.messages)
    assert any("not 10-120 s long" in m for m in built.messages)
    assert any("without video id" in m for m in built.messages)
    lines = [format_run_line(e) for e in built.entries]
    assert check_run(lines, anchors) == []
    by_anchor = {}
    for e in built.entries:
        by_anchor.setdefault(e.topic, []).append(e)
    assert list(by_anchor) == ["anchor_1", "anchor_2"]  # one block per anchor, in anchor order
    for aid, entries in by_anchor.items():
        assert [e.rank for e in entries] == list(range(1, len(entries) + 1))
        assert all(a.score >= b.score for a, b in zip(entries, entries[1:]))
    # anchor_1 (vA 20-40) uses vA_1's embedding; vA_1 overlaps it and vA_0 (written 0-20) and vA_2
    # (written 40-60) touch it: all three are excluded
    vids = [(e.video, e.start) for e in by_anchor["anchor_1"]]
    assert ("vA", 0.0) not in vids and ("vA", 20.0) not in vids and ("vA", 40.0) not in vids
    q = emb[1] / np.linalg.norm(emb[1])
    allowed = [
        i for i, s in enumerate(segs)
        if s.video_id is not None and s.id != "tiny" and not (s.video_id == "vA" and int(s.start) <= 40 and 20 <= int(s.end))
    ]
    best = max(allowed, key=lambda i: emb[i] @ q / np.linalg.norm(emb[i]))
    assert (by_anchor["anchor_1"][0].video, by_anchor["anchor_1"][0].start) == (segs[best].video_id, float(int(segs[best].start)))
    assert by_anchor["anchor_1"][0].score == pytest.approx(emb[best] @ q / np.linalg.norm(emb[best]))
    # round trip through a file
    path = tmp_path / "me14sh_TEAM_L_1_Sh_M_V_gan.txt"
    write_run(built.entries, path)
    assert [format_run_line(e) for e in read_run(path)] == lines
    assert check_run_name(path.name) == []


def test_build_run_top_k_and_bad_names():
    segs, emb = _collection()
    built = build_run(segs, emb, [Anchor("a", "vA", 0.0, 20.0)], top_k=3)
    assert [e.rank for e in built.entries] == [1, 2, 3]
    with pytest.raises(ValueError, match="not a number"):
        build_run(segs, emb, [], run_name="1.5")
    with pytest.raises(ValueError, match="embeddings"):
        build_run(segs, emb[:3], [])


def test_check_run_catches_what_the_official_checker_rejects():
    anchors = [Anchor("a1", "vA", 100.0, 130.0), Anchor("a2", "vB", 0.0, 10.0)]
    lines = [
        "a1 Q0 vB 0.00 0.30 1 0.9 r",  # ok
        "a1 Q0 vB 0.20 0.50 2 0.8 r",  # overlaps the previous result (rank 2 is consumed, as sh_check)
        "a1 Q0 vB 1.00 1.30 4 0.7 r",  # non-consecutive rank (expected 3)
        "a1 Q0 vA 2.10 2.40 3 0.7 r",  # touches the anchor end (closed overlap)
        "a1 Q0 vC 0.00 0.05 4 0.6 r",  # 5 s: too short
        "a1 Q0 vC 0.00 3.00 5 0.6 r",  # 180 s: too long
        "a1 Q0 vC 0.75 1.30 6 0.6 r",  # invalid time
        "a1 Q0 vC 0.30 0.00 6 0.6 r",  # end before start
        "a1 Q0 vC 0.30 1.00 7 0.6 1.0",  # numeric run name
        "a2 Q0 vC 0.00 0.30 1 0.5 r",  # ok
        "a1 Q0 vD 0.00 0.30 1 0.5 r",  # a1 again after a2
        "a9 Q0 vD 0.00 0.30 1 0.5 r",  # unknown anchor
        "a2 Q0 vD 0.00 0.30",  # 5 fields
        "a2 Q0 vC 0.30 1.00 2 0.5 r",  # ok: touching an earlier result end-to-start is allowed
    ]
    errors = check_run(lines, anchors)
    joined = "\n".join(errors)
    for n, what in [(2, "overlaps the earlier"), (3, "non-consecutive"), (4, "overlaps the anchor"), (5, "10 s to 120 s"),
                    (6, "10 s to 120 s"), (7, "invalid time"), (8, "not after"), (9, "run name"), (11, "again"),
                    (12, "unknown anchor"), (13, "8 fields")]:
        assert f"line {n}: " in joined and what in [e for e in errors if e.startswith(f"line {n}:")][0], (n, errors)
    assert not any(e.startswith(("line 1:", "line 10:", "line 14:")) for e in errors)
    assert "unknown video" in check_run(lines[:1], anchors, durations={"vX": 100})[0]
    assert check_run_name("run.txt") and check_run_name("me14sh_T_X_1_Sh_M_V.txt")


# The real MediaEval 2014 files --------------------------------------------------------------------


@pytest.mark.integration
def test_reads_all_mediaeval_2014_files():
    root = data_root(required=False)
    d = root / "video_fixtures" / "mediaeval2014_search_hyperlinking" if root else None
    if d is None or not d.is_dir():
        pytest.skip("video_fixtures not available")
    anchors = read_anchors(d / "me14sh_linking_testSet_anchors.xml")
    assert len(anchors) == 48 and len({a.video for a in anchors}) == 31
    assert anchors[0] == Anchor("anchor_1", "v20080629_184000_bbctwo_killer_whales_in_the", 998.0, 1055.0, "53b3c46f42b47e459265d06f")
    queries = read_queries(d / "me14sh_search_testSet_queries.xml")
    assert len(queries) == 36 and queries[0].text == "sightseeing london"
    durations = read_durations(d / "cAXES_collection_durations.txt")
    assert len(durations) == 3520 and durations["v20080512_001000_bbcone_weatherview"] == 354
    link = read_qrels(d / "me14sh_linking_testSet.qrel")
    assert len(link) == 12340 and sum(j.relevance > 0 for j in link) == 1888 and len({j.topic for j in link}) == 30
    search = read_qrels(d / "me14sh_search_testSet.qrel")
    assert len(search) == 9615 and sum(j.relevance > 0 for j in search) == 3177
    assert {j.video for j in link} <= set(durations) and {a.video for a in anchors} <= set(durations)
    # every judged anchor is defined; judged segments obey the 10 s - 2 min link rule
    assert {j.topic for j in link} <= {a.anchor_id for a in anchors}
    assert all(10 <= j.end - j.start <= 120 for j in link)
    # a run made of the relevant judgments themselves is valid and scores P@5 = MAP = 1 on most anchors
    amap = {a.anchor_id: a for a in anchors}
    entries = []
    for topic in sorted({j.topic for j in link}):
        rel = [j for j in link if j.topic == topic and j.relevance > 0]
        kept = []
        for j in rel:
            if any(j.video == k.video and j.start < k.end and k.start < j.end for k in kept):
                continue
            kept.append(j)
        entries += [RunEntry(topic, j.video, j.start, j.end, r, 1.0 / r, "oracle") for r, j in enumerate(kept, 1)]
    lines = [format_run_line(e) for e in entries]
    assert check_run(lines, amap, durations) == []
    res = evaluate_run(entries, link, anchors)
    assert res.mean["MAP"] > 0.9 and res.mean["P@5"] > 0.9


@pytest.mark.parametrize("top_k", [1, 2, 5, 50])
def test_build_run_through_an_index_equals_the_exhaustive_ranking(top_k):
    """With a RankIndex (a large collection) the run holds the same results: the index's top results are
    filtered like the full ranking, asking for more whenever the filters (overlaps, lengths) leave too few."""
    from explorer.ann import build_index

    segs, emb = _collection()
    anchors = [Anchor("anchor_1", "vA", 20.0, 40.0), Anchor("anchor_2", "vB", 30.0, 50.0)]
    plain = build_run(segs, emb, anchors, top_k=top_k)
    searched = []
    index = build_index(emb, exact_below=10**6)
    real_search = index.search
    index.search = lambda q, k: searched.append(k) or real_search(q, k)
    indexed = build_run(segs, emb, anchors, top_k=top_k, index=index)
    key = lambda e: (e.topic, e.video, e.start, e.end, e.rank)  # noqa: E731
    assert [key(e) for e in indexed.entries] == [key(e) for e in plain.entries] and plain.entries
    np.testing.assert_allclose([e.score for e in indexed.entries], [e.score for e in plain.entries], atol=1e-6)
    assert searched and min(searched) == min(4 * top_k, len(segs))  # the first ask is small
    if top_k == 1:
        assert max(searched) < len(segs)  # never scanned the whole collection for one result
