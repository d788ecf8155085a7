"""Formatting for display: transcript cut-offs and snippets, times, video spans, images as data URIs. Pure functions,
no file access."""

from __future__ import annotations

import base64
import io

import numpy as np

SHOWN_TEXT_CHARS = 4000  # a page shows at most this much of one transcript (a collection may hold megabytes)


def shown_text(text: str, limit: int = SHOWN_TEXT_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out, for display."""
    if len(text) <= limit:
        return text
    return text[:limit].rstrip() + f" … ({len(text) - limit:,} more characters not shown)"


def snippet(text: str, n: int = 140) -> str:
    """The first line of a transcript, cut to ``n`` characters."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= n else first[: n - 1].rstrip() + "…"


def plotly_text(value) -> str:
    """Text from a collection made inert inside a Plotly label (hover, legend): Plotly draws the few HTML tags
    it knows (``<a href>``, ``<b>``, ``<br>``, ``<span style>``) in any text it is given, inserted values
    included, so ``&``, ``<`` and ``>`` become entities, which it shows as the characters they are."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    m, s = divmod(float(seconds), 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m}:{s:04.1f}"


def video_span(seg) -> str | None:
    """``video_id start-end`` of a segment with video times, else None."""
    if seg.video_id is None or seg.start is None:
        return None
    return f"{seg.video_id} {format_seconds(seg.start)}–{format_seconds(seg.end)}" if seg.end is not None \
        else f"{seg.video_id} {format_seconds(seg.start)}"


def png_data_uri(image: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# What a thumbnail column shows for collections without keyframes (Wikipedia's precomputed SIFT
# features): an inline SVG, so nothing is fetched and the column never reads "None".
NO_KEYFRAME_URI = ("data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' width='64' height='64'>"
                   "<rect width='64' height='64' fill='%23eeeeee'/><text x='32' y='29' font-size='10' "
                   "text-anchor='middle' fill='%23777777' font-family='sans-serif'>no</text><text x='32' y='42' "
                   "font-size='10' text-anchor='middle' fill='%23777777' font-family='sans-serif'>keyframe</text></svg>")
