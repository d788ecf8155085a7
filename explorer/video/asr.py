"""Transcripts for videos without subtitles: offline speech recognition and forced alignment.

Both run on the video's own audio track with **pocketsphinx** (PyPI ``pocketsphinx>=5``; its wheel
ships the US-English acoustic model, language model and dictionary, so nothing is downloaded):

* ``read_audio(path)`` decodes the first audio stream through PyAV into 16 kHz mono int16 PCM.
* ``transcribe(pcm)`` finds speech regions with pocketsphinx's voice-activity ``Segmenter``, decodes
  each with the default US-English language model and returns **word-timed cues**: the words of a
  region, cut into a new cue at every pause of ``CUE_GAP_S`` or more and after ``CUE_MAX_S`` seconds,
  so the cue-based segmentation (and its ``gap`` rule) sees the pauses of the speech.
* ``align(pcm, text)`` is forced alignment (``Decoder.set_align_text``) of a known plain transcript
  (collections with text but no timings): the words come from ``text``, only their times from the
  audio. Words the dictionary does not know are left out (counted in a message).

Fillers (``<s>``, ``</s>``, ``<sil>``, ``[NOISE]``...) are dropped and alternative pronunciations
(``read(2)``) folded. ``word_error_rate`` (jiwer) is the measure ``bench/bench_video_road.py`` reports.
Times are seconds from the start of the audio stream, as subtitle times are.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .subtitles import Cue

SAMPLE_RATE = 16_000
FRAME_S = 0.01  # pocketsphinx reports word times in 10-ms frames
CUE_GAP_S = 0.5  # a pause this long between two words starts a new cue
CUE_MAX_S = 8.0  # a cue longer than this is cut at its next word
ASR_VERSION = 1  # bump when transcribe()/align() give other cues for the same audio
_ALT = re.compile(r"\(\d+\)$")


class AsrError(RuntimeError):
    """No audio, no pocketsphinx, or the recogniser failed; the message names the file and the cause."""


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float


def _pocketsphinx():
    try:
        import pocketsphinx
    except ImportError as e:  # pragma: no cover - the video extra installs it
        raise AsrError("speech recognition needs pocketsphinx: pip install -e .[video]") from e
    return pocketsphinx


def read_audio(path: str | Path) -> np.ndarray:
    """The first audio stream of ``path`` as 16 kHz mono int16 samples (shape ``(n,)``)."""
    import av

    path = Path(path)
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as e:
        raise AsrError(f"{path.name}: cannot open: {e}") from e
    with container:
        if not container.streams.audio:
            raise AsrError(f"{path.name}: no audio stream, so no speech to transcribe")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.FFmpegError as e:
            if not chunks:
                raise AsrError(f"{path.name}: audio cannot be decoded: {e}") from e
            # a truncated file: keep what was decoded
    return np.concatenate(chunks).astype(np.int16) if chunks else np.zeros(0, np.int16)


def _decoder(**options):
    ps = _pocketsphinx()
    return ps.Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", **options)


def _words(decoder, offset: float) -> list[Word]:
    """The real words of the decoder's last utterance, times shifted by ``offset`` seconds."""
    out = []
    for seg in decoder.seg():
        w = seg.word
        if w.startswith("<") or w.startswith("[") or w.startswith("++"):
            continue
        out.append(Word(_ALT.sub("", w), offset + seg.start_frame * FRAME_S, offset + (seg.end_frame + 1) * FRAME_S))
    return out


def words_to_cues(words: list[Word], gap: float = CUE_GAP_S, max_len: float = CUE_MAX_S) -> list[Cue]:
    """Group timed words into cues: a new cue after a pause >= ``gap`` s, or once a cue spans ``max_len`` s."""
    cues: list[Cue] = []
    group: list[Word] = []
    for w in words:
        if group and (w.start - group[-1].end >= gap or group[-1].end - group[0].start >= max_len):
            cues.append(Cue(group[0].start, group[-1].end, " ".join(x.text for x in group)))
            group = []
        group.append(w)
    if group:
        cues.append(Cue(group[0].start, group[-1].end, " ".join(x.text for x in group)))
    return cues


def transcribe(pcm: np.ndarray, on_progress: Callable[[float, float], None] | None = None) -> tuple[list[Cue], dict]:
    """Speech -> word-timed cues, and stats {audio_seconds, asr_seconds, real_time_factor, words}.

    ``on_progress(seconds_done, seconds_total)`` is called after each speech region."""
    ps = _pocketsphinx()
    total = len(pcm) / SAMPLE_RATE
    t0 = time.perf_counter()
    decoder = _decoder()
    segmenter = ps.Segmenter(sample_rate=SAMPLE_RATE)
    cues: list[Cue] = []
    n_words = 0
    for region in segmenter.segment(io.BytesIO(np.ascontiguousarray(pcm, dtype=np.int16).tobytes())):
        decoder.start_utt()
        decoder.process_raw(region.pcm, full_utt=True)
        decoder.end_utt()
        words = _words(decoder, region.start_time)
        cues.extend(words_to_cues(words))  # a region boundary is a pause: no cue spans two regions
        n_words += len(words)
        if on_progress is not None:
            on_progress(min(region.end_time, total), total)
    elapsed = time.perf_counter() - t0
    stats = {"audio_seconds": round(total, 3), "asr_seconds": round(elapsed, 3),
             "real_time_factor": round(elapsed / total, 4) if total > 0 else None, "words": n_words}
    return cues, stats


def align(pcm: np.ndarray, text: str) -> tuple[list[Cue], list[str]]:
    """Forced alignment of the plain transcript ``text`` to the audio -> word-timed cues, messages."""
    from ..data.text import tokenize

    decoder = _decoder(bestpath=False)
    tokens = tokenize(text)
    known = [t for t in tokens if decoder.lookup_word(t) is not None]
    messages = []
    if len(known) < len(tokens):
        missing = sorted({t for t in tokens if decoder.lookup_word(t) is None})
        messages.append(f"{len(tokens) - len(known)} word(s) not in the pronunciation dictionary, left out of "
                        f"the alignment: {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
    if not known:
        return [], messages + ["no word of the transcript can be aligned"]
    decoder.set_align_text(" ".join(known))
    decoder.start_utt()
    decoder.process_raw(np.ascontiguousarray(pcm, dtype=np.int16).tobytes(), full_utt=True)
    decoder.end_utt()
    words = _words(decoder, 0.0)
    if not words:
        return [], messages + ["the alignment failed (the audio may not contain this transcript)"]
    return words_to_cues(words), messages


def word_error_rate(reference: str | list[str], hypothesis: str | list[str]) -> float:
    """Word error rate (substitutions + deletions + insertions) / reference words, on
    ``data.text.tokenize`` tokens (jiwer). Lists are a corpus: errors and words summed over the pairs."""
    import jiwer

    from ..data.text import tokenize

    refs = [reference] if isinstance(reference, str) else list(reference)
    hyps = [hypothesis] if isinstance(hypothesis, str) else list(hypothesis)
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} reference(s) but {len(hyps)} hypothesis(es)")
    refs = [" ".join(tokenize(r)) for r in refs]
    if not any(refs) or not all(refs):
        raise ValueError("every reference transcript needs at least one word")
    # jiwer refuses an empty hypothesis; a token no reference holds counts as one insertion... so
    # score an empty hypothesis as all deletions instead
    total_words = sum(len(r.split()) for r in refs)
    errors = 0.0
    for r, h in zip(refs, hyps):
        h = " ".join(tokenize(h))
        errors += len(r.split()) if not h else jiwer.wer(r, h) * len(r.split())
    return float(errors / total_words)
