"""SRT and WebVTT subtitle files -> a clean, sorted, non-overlapping list of cues.

``read_subtitles(path)`` is the entry point: it decodes the file (``decode_subtitle_bytes``), parses
it as SRT or WebVTT (by suffix, or by sniffing a ``WEBVTT`` header) and cleans the cues
(``clean_cues``). Everything it had to repair is returned as human-readable warnings, never silently:

- encodings: a BOM (UTF-8 / UTF-16) wins; otherwise UTF-8, then Windows-1252, then Latin-1 (the last
  two with a warning naming the encoding used);
- line endings: LF, CRLF and lone CR;
- WebVTT: the ``WEBVTT`` header, ``NOTE`` / ``STYLE`` / ``REGION`` blocks, cue identifiers and cue
  settings (``line:80% align:start``) are skipped; SRT: the index line is optional, ``.`` is accepted
  for ``,`` in timestamps and trailing ``X1:.. Y1:..`` coordinates are ignored;
- cue text: HTML-ish tags (``<i>``, ``<v Speaker>``, ``<c.yellow>``, ``<00:01.000>``, ``<font ...>``)
  and ASS overrides (``{\\an8}``) are stripped, entities (``&amp;``) unescaped, the lines of one cue
  joined by a space; cues left empty are dropped;
- malformed blocks (a bad timing line) are skipped with a warning naming the line;
- cues whose end is not after their start are dropped (warning);
- out-of-order cues are sorted by start time (warning);
- overlapping cues: two cues starting at the same time are merged into one (texts joined, the later
  end kept; an identical duplicate is dropped); otherwise the earlier cue is *clipped* to end where the
  later one starts (warning with the count and the first place). Clipping, not merging, keeps
  "rolling" captions (each cue overlapping the next) from collapsing into one endless cue.

Times are seconds (float) from the start of the video.
"""

from __future__ import annotations

import codecs
import html
import re
from dataclasses import dataclass
from pathlib import Path

SUBTITLE_SUFFIXES = (".vtt", ".srt")


class SubtitleError(ValueError):
    """A subtitle file cannot be used at all; the message names the file and the problem."""


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float  # seconds
    text: str


# ----------------------------------------------------------------------------------------- decoding


def decode_subtitle_bytes(raw: bytes, what: str = "subtitle file") -> tuple[str, list[str]]:
    """Bytes -> text. BOMs first, then UTF-8, then cp1252, then latin-1 (the last two warned)."""
    warnings: list[str] = []
    for bom, enc in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if raw.startswith(bom):
            try:
                return raw.decode(enc), warnings
            except UnicodeDecodeError as e:
                raise SubtitleError(f"{what}: starts with a {enc} byte-order mark but is not {enc} ({e.reason})") from e
    if b"\x00" in raw[:2000] and raw.count(b"\x00") > len(raw) // 4:
        raise SubtitleError(f"{what}: looks binary (many NUL bytes) or is UTF-16 without a byte-order mark")
    try:
        return raw.decode("utf-8"), warnings
    except UnicodeDecodeError as e:
        where = f"byte {e.start}"
    try:
        text = raw.decode("cp1252")
        warnings.append(f"{what} is not UTF-8 (invalid {where}); decoded as Windows-1252 (cp1252)")
        return text, warnings
    except UnicodeDecodeError:
        pass
    text = raw.decode("latin-1")
    warnings.append(f"{what} is not UTF-8 (invalid {where}) nor Windows-1252; decoded as Latin-1")
    return text, warnings


# ----------------------------------------------------------------------------------------- parsing

# [HH:]MM:SS(,|.)mmm  (hours any number of digits; milliseconds 1-3 digits accepted)
_TS = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?"
_TIMING_RE = re.compile(rf"^\s*{_TS}\s*-->\s*{_TS}(?:\s+(.*))?$")
_TAG_RE = re.compile(r"<[^>\n]*>")
_ASS_RE = re.compile(r"\{\\[^}]*\}")
_WS_RE = re.compile(r"\s+")


def _ts_seconds(h: str | None, m: str, s: str, ms: str | None) -> float:
    frac = int(ms.ljust(3, "0")) / 1000 if ms else 0.0
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + frac


def parse_timing(line: str) -> tuple[float, float] | None:
    """``00:00:01,000 --> 00:00:02.500 [settings]`` -> (1.0, 2.5); None when not a timing line."""
    m = _TIMING_RE.match(line)
    if not m:
        return None
    g = m.groups()
    if int(g[2]) >= 60 or int(g[6]) >= 60 or (g[0] is not None and int(g[1]) >= 60) or (g[4] is not None and int(g[5]) >= 60):
        return None
    return _ts_seconds(*g[0:4]), _ts_seconds(*g[4:8])


def clean_cue_text(lines: list[str]) -> str:
    """Strip tags / ASS overrides, unescape entities, join the lines of one cue with single spaces."""
    text = " ".join(lines)
    text = _TAG_RE.sub("", text)
    text = _ASS_RE.sub("", text)
    text = html.unescape(text)
    text = text.replace("\u200e", "").replace("\u200f", "").replace("\ufeff", "")
    return _WS_RE.sub(" ", text).strip()


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """Split into blank-line separated blocks: (1-based line number of the block's first line, lines)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blocks: list[tuple[int, list[str]]] = []
    cur: list[str] = []
    start = 0
    for i, line in enumerate(lines, start=1):
        if line.strip():
            if not cur:
                start = i
            cur.append(line.rstrip())
        elif cur:
            blocks.append((start, cur))
            cur = []
    if cur:
        blocks.append((start, cur))
    return blocks


def _split_run_on(blocks: list[tuple[int, list[str]]]) -> list[tuple[int, list[str]]]:
    """Split blocks where a cue starts without a blank line before it (a timing line after the text
    of the previous cue, possibly preceded by a numeric SRT index)."""
    out = []
    for lineno, lines in blocks:
        cut = [0]
        for k in range(2, len(lines)):
            if "-->" in lines[k] and parse_timing(lines[k]) is not None and k - 1 > cut[-1]:
                cut.append(k - 1 if lines[k - 1].strip().isdigit() else k)
        cut.append(len(lines))
        for a, b in zip(cut, cut[1:]):
            if b > a:
                out.append((lineno + a, lines[a:b]))
    return out


def _parse_cue_blocks(blocks, what: str, vtt: bool) -> tuple[list[Cue], list[str]]:
    blocks = _split_run_on(blocks)
    cues: list[Cue] = []
    warnings: list[str] = []
    bad: list[int] = []
    empty = 0
    for lineno, lines in blocks:
        # timing line: the first line, or the second after an index / cue identifier
        t_idx = None
        for k in range(min(2, len(lines))):
            if "-->" in lines[k]:
                t_idx = k
                break
        if t_idx is None:
            if vtt and lines[0].split(None, 1)[0] in ("NOTE", "STYLE", "REGION"):
                continue
            bad.append(lineno)
            continue
        timing = parse_timing(lines[t_idx])
        if timing is None:
            bad.append(lineno + t_idx)
            continue
        text = clean_cue_text(lines[t_idx + 1 :])
        if not text:
            empty += 1
            continue
        cues.append(Cue(timing[0], timing[1], text))
    if bad:
        shown = ", ".join(str(n) for n in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        warnings.append(f"{what}: skipped {len(bad)} malformed block(s) (no valid 'start --> end' timing line) at line {shown}")
    if empty:
        warnings.append(f"{what}: dropped {empty} cue(s) with no text")
    return cues, warnings


def parse_srt(text: str, what: str = "SRT file") -> tuple[list[Cue], list[str]]:
    """Raw cues of an SRT text, in file order (not yet sorted / de-overlapped)."""
    text = text.lstrip("\ufeff")
    return _parse_cue_blocks(_blocks(text), what, vtt=False)


def parse_vtt(text: str, what: str = "WebVTT file") -> tuple[list[Cue], list[str]]:
    """Raw cues of a WebVTT text, in file order. The ``WEBVTT`` header is required."""
    text = text.lstrip("\ufeff")
    blocks = _blocks(text)
    if not blocks or not blocks[0][1][0].startswith("WEBVTT"):
        raise SubtitleError(f"{what}: not WebVTT (the first line must start with 'WEBVTT')")
    header = blocks[0][1]
    rest = blocks[1:]
    # The header block may (invalidly but commonly) run straight into a cue without a blank line.
    for k, line in enumerate(header[1:], start=1):
        if "-->" in line:
            start = max(1, k - 1)  # keep a possible cue identifier line
            rest = [(blocks[0][0] + start, header[start:])] + rest
            break
    return _parse_cue_blocks(rest, what, vtt=True)


def _fmt(t: float) -> str:
    h, rem = divmod(t, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:06.3f}"


def clean_cues(cues: list[Cue], what: str = "subtitles") -> tuple[list[Cue], list[str]]:
    """Drop non-positive cues, sort, merge same-start cues and clip overlaps (see module docstring)."""
    warnings: list[str] = []
    valid = [c for c in cues if c.end > c.start and c.start >= 0]
    if len(valid) < len(cues):
        bad = [c for c in cues if not (c.end > c.start and c.start >= 0)]
        warnings.append(
            f"{what}: dropped {len(bad)} cue(s) whose end is not after their start "
            f"(first at {_fmt(max(bad[0].start, 0))}: {bad[0].text[:40]!r})"
        )
    order_breaks = sum(1 for a, b in zip(valid, valid[1:]) if b.start < a.start)
    if order_breaks:
        warnings.append(f"{what}: cues out of order ({order_breaks} place(s)); sorted by start time")
    ordered = sorted(valid, key=lambda c: (c.start, c.end))
    out: list[Cue] = []
    merged = clipped = dupes = 0
    first_overlap: float | None = None
    for c in ordered:
        if out and c.start < out[-1].end:
            prev = out[-1]
            if first_overlap is None:
                first_overlap = c.start
            if c.start - prev.start < 1e-3:
                if c.text == prev.text:
                    dupes += 1
                    out[-1] = Cue(prev.start, max(prev.end, c.end), prev.text)
                else:
                    merged += 1
                    out[-1] = Cue(prev.start, max(prev.end, c.end), f"{prev.text} {c.text}")
                continue
            clipped += 1
            out[-1] = Cue(prev.start, c.start, prev.text)
        out.append(c)
    if merged or clipped or dupes:
        parts = []
        if clipped:
            parts.append(f"{clipped} clipped to end where the next cue starts")
        if merged:
            parts.append(f"{merged} merged with a cue starting at the same time")
        if dupes:
            parts.append(f"{dupes} duplicate(s) dropped")
        warnings.append(f"{what}: overlapping cues (first at {_fmt(first_overlap or 0.0)}): " + "; ".join(parts))
    return out, warnings


def parse_subtitles(text: str, kind: str, what: str = "subtitles") -> tuple[list[Cue], list[str]]:
    """Parse decoded text as ``kind`` ("srt" | "vtt"; a ``WEBVTT`` header overrides), then clean it."""
    stripped = text.lstrip("\ufeff")
    if stripped.startswith("WEBVTT"):
        kind = "vtt"
    if kind == "vtt" and not stripped.startswith("WEBVTT"):
        raw, warnings = parse_srt(stripped, what)
        warnings.insert(0, f"{what}: no 'WEBVTT' header; read as SRT")
    elif kind == "vtt":
        raw, warnings = parse_vtt(stripped, what)
    elif kind == "srt":
        raw, warnings = parse_srt(stripped, what)
    else:
        raise SubtitleError(f"{what}: unknown subtitle kind {kind!r} (expected srt or vtt)")
    cues, more = clean_cues(raw, what)
    return cues, warnings + more


def read_subtitles(path: str | Path) -> tuple[list[Cue], list[str]]:
    """Read an ``.srt`` / ``.vtt`` file -> (clean cues, warnings). Raises SubtitleError if unusable."""
    path = Path(path)
    what = path.name
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise SubtitleError(f"cannot read subtitle file {path}: {e.strerror or e}") from e
    if not raw.strip():
        raise SubtitleError(f"{what}: subtitle file is empty")
    text, warnings = decode_subtitle_bytes(raw, what)
    kind = "vtt" if path.suffix.lower() == ".vtt" else "srt"
    cues, more = parse_subtitles(text, kind, what)
    if not cues:
        raise SubtitleError(f"{what}: no usable cues" + (f" ({'; '.join(more)})" if more else ""))
    return cues, warnings + more


def format_timestamp(t: float, sep: str = ",") -> str:
    """Seconds -> ``HH:MM:SS,mmm`` (SRT; ``sep='.'`` for WebVTT)."""
    ms = int(round(t * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(cues: list[Cue]) -> str:
    """Cues -> SRT text (used by tests and the synthetic-video helper)."""
    return "".join(
        f"{i}\n{format_timestamp(c.start)} --> {format_timestamp(c.end)}\n{c.text}\n\n" for i, c in enumerate(cues, 1)
    )


def to_vtt(cues: list[Cue]) -> str:
    return "WEBVTT\n\n" + "".join(
        f"{format_timestamp(c.start, '.')} --> {format_timestamp(c.end, '.')}\n{c.text}\n\n" for c in cues
    )
