"""SRT / WebVTT parsing and cleaning (explorer.video.subtitles)."""

from __future__ import annotations

import pytest

from explorer.paths import data_root
from explorer.video.subtitles import (
    Cue,
    SubtitleError,
    clean_cues,
    decode_subtitle_bytes,
    parse_srt,
    parse_subtitles,
    parse_timing,
    read_subtitles,
    to_srt,
    to_vtt,
)

FRIDAY_TEXTS = [
    "Hildy!",
    "How are you?",
    "Tell me, is the lord of the universe in?",
    "Yes, he's in - in a bad humor",
    "Somebody must've stolen the crown jewels",
]


def test_parse_timing_variants():
    assert parse_timing("00:00:01,000 --> 00:00:02,500") == (1.0, 2.5)
    assert parse_timing("00:01.5 --> 00:02.25 line:80% align:start") == (1.5, 2.25)
    assert parse_timing("01:02:03.004 --> 01:02:04.000") == (3723.004, 3724.0)
    assert parse_timing("00:00:01,000 --> 00:00:02,000 X1:10 X2:20 Y1:1 Y2:2") == (1.0, 2.0)
    assert parse_timing("00:00:61,000 --> 00:01:02,000") is None
    assert parse_timing("hello --> world") is None


def test_srt_tags_entities_multiline_crlf_bom(tmp_path):
    text = (
        "\ufeff1\r\n00:00:01,000 --> 00:00:02,000\r\n<i>Hello</i> &amp; <font color=\"red\">welcome</font>\r\n"
        "second line\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,000\r\n{\\an8}Top text\r\n\r\n"
    )
    p = tmp_path / "a.srt"
    p.write_bytes(text.encode("utf-8"))
    cues, warnings = read_subtitles(p)
    assert cues == [Cue(1.0, 2.0, "Hello & welcome second line"), Cue(3.0, 4.0, "Top text")]
    assert warnings == []


def test_vtt_header_notes_styles_settings_voice_tags(tmp_path):
    text = (
        "WEBVTT - some title\nKind: captions\n\nNOTE a comment\nspanning lines\n\nSTYLE\n::cue { color: red }\n\n"
        "intro\n00:01.000 --> 00:02.000 align:start position:10%\n<v Roger>Hi <c.yellow>there</c>\n\n"
        "00:00:02.500 --> 00:00:03.000\n<00:00:02.600>karaoke <b>bold</b>\n"
    )
    p = tmp_path / "a.vtt"
    p.write_text(text, encoding="utf-8")
    cues, warnings = read_subtitles(p)
    assert cues == [Cue(1.0, 2.0, "Hi there"), Cue(2.5, 3.0, "karaoke bold")]
    assert warnings == []


def test_vtt_without_header_is_read_as_srt_with_warning():
    cues, warnings = parse_subtitles("1\n00:00:01,000 --> 00:00:02,000\nhi\n", "vtt", "x.vtt")
    assert cues == [Cue(1.0, 2.0, "hi")]
    assert any("WEBVTT" in w for w in warnings)


def test_cp1252_and_latin1_fallback_warned():
    text, warnings = decode_subtitle_bytes("café – naïve".encode("cp1252"), "x.srt")
    assert text == "café – naïve"
    assert "Windows-1252" in warnings[0]
    # 0x81 is undefined in cp1252 -> Latin-1
    text, warnings = decode_subtitle_bytes(b"caf\xe9 \x81", "x.srt")
    assert text.startswith("café") and "Latin-1" in warnings[0]
    text, warnings = decode_subtitle_bytes("\ufeffhé".encode("utf-16-le").replace(b"\xff\xfe\xff\xfe", b"\xff\xfe"), "x")
    assert text.endswith("hé")


def test_non_utf8_file_reported(tmp_path):
    p = tmp_path / "a.srt"
    p.write_bytes(to_srt([Cue(1, 2, "Très bien, ça va")]).encode("cp1252"))
    cues, warnings = read_subtitles(p)
    assert cues[0].text == "Très bien, ça va"
    assert any("not UTF-8" in w and "1252" in w for w in warnings)


def test_out_of_order_sorted_and_reported():
    cues, warnings = clean_cues([Cue(5, 6, "b"), Cue(1, 2, "a"), Cue(8, 9, "c")])
    assert [c.text for c in cues] == ["a", "b", "c"]
    assert any("out of order" in w for w in warnings)


def test_overlapping_cues_clipped_or_merged():
    cues, warnings = clean_cues([Cue(0, 5, "a"), Cue(3, 7, "b"), Cue(3, 4, "c"), Cue(10, 12, "d"), Cue(10, 11, "d")])
    # same start (3): merged; later cue (3) starts inside "a": "a" clipped to end at 3;
    # identical duplicate of "d": dropped
    assert cues == [Cue(0, 3, "a"), Cue(3, 7, "c b"), Cue(10, 12, "d")]
    assert len(warnings) == 1 and "overlapping" in warnings[0] and "clipped" in warnings[0]
    for a, b in zip(cues, cues[1:]):
        assert a.end <= b.start


def test_rolling_captions_do_not_collapse():
    raw = [Cue(i * 2.0, i * 2.0 + 4.0, f"w{i}") for i in range(50)]
    cues, _ = clean_cues(raw)
    assert len(cues) == 50 and max(c.end - c.start for c in cues) == 4.0


def test_bad_cues_dropped_with_messages():
    text = "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\nnot a timing line\ntext\n\n3\n00:00:05,000 --> 00:00:04,000\nbackwards\n\n4\n00:00:06,000 --> 00:00:07,000\n<i></i>\n"
    cues, warnings = parse_subtitles(text, "srt", "x.srt")
    assert cues == [Cue(1, 2, "ok")]
    joined = " | ".join(warnings)
    assert "malformed" in joined and "line 5" in joined
    assert "end is not after" in joined
    assert "no text" in joined


def test_cues_without_blank_lines_between():
    text = "1\n00:00:01,000 --> 00:00:02,000\nfirst\n2\n00:00:03,000 --> 00:00:04,000\nsecond\n00:00:05,000 --> 00:00:06,000\nthird\n"
    cues, warnings = parse_subtitles(text, "srt")
    assert cues == [Cue(1, 2, "first"), Cue(3, 4, "second"), Cue(5, 6, "third")] and warnings == []


def test_unusable_files_raise_clear_errors(tmp_path):
    empty = tmp_path / "e.srt"
    empty.write_text("  \n")
    with pytest.raises(SubtitleError, match="empty"):
        read_subtitles(empty)
    junk = tmp_path / "j.srt"
    junk.write_text("just some text\nwithout cues\n")
    with pytest.raises(SubtitleError, match="no usable cues"):
        read_subtitles(junk)
    binary = tmp_path / "b.srt"
    binary.write_bytes(b"\x00\x01\x00\x02" * 100)
    with pytest.raises(SubtitleError, match="binary"):
        read_subtitles(binary)
    with pytest.raises(SubtitleError, match="cannot read"):
        read_subtitles(tmp_path / "missing.srt")


def test_round_trip_srt_vtt():
    cues = [Cue(0.5, 1.25, "one"), Cue(61.0, 3725.5, "two")]
    assert parse_srt(to_srt(cues))[0] == cues
    assert parse_subtitles(to_vtt(cues), "vtt")[0] == cues


@pytest.mark.integration
def test_friday_vtt_and_srt_agree():
    root = data_root(required=False)
    folder = root / "video_fixtures" / "his_girl_friday_clip" if root else None
    if folder is None or not folder.is_dir():
        pytest.skip("video_fixtures not available")
    vtt, w1 = read_subtitles(folder / "friday.vtt")
    srt, w2 = read_subtitles(folder / "friday.srt")
    assert [c.text for c in vtt] == FRIDAY_TEXTS
    assert vtt == srt and w1 == w2 == []
    assert vtt[0] == Cue(0.0, 0.999, "Hildy!") and vtt[-1].end == 6.0
