"""Transcript features: the tokenizer, skip-gram word2vec (the paper's setting) and averaged embeddings.

The paper represents a segment's transcript by the *average* of the word2vec vectors of its words,
trained with skip-gram, hierarchical softmax, window 5, 100 dimensions. ``train_word_vectors`` does
exactly that with gensim on the collection's *train* transcripts (one sentence per transcript line),
optionally plus the 2 M-token ``text_corpus`` beside the data. ``WordVectors`` is a plain holder
(vocabulary list + float32 matrix) that is cached on disk, stored inside checkpoints and serves the
top-words view (nearest vocabulary words of a vector).

Tokenizer (``tokenize``): Unicode NFKC, lower-case, then maximal runs of ASCII/Unicode letters and
digits, keeping one inner apostrophe (``don't``, ``flower's``); everything else separates tokens.
Out-of-vocabulary tokens are ignored in the average; a text with *no* known token has no embedding:
``WordVectors.embed`` raises ``OutOfVocabularyError`` and ``embed_many`` returns a zero row and
``known=False`` for it, never NaN.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..cache import cached_arrays
from ..paths import data_root

TOKEN_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)?")

# The paper's word2vec setting; min_count/epochs are ours (small corpora need more passes).
W2V_DEFAULTS = {"vector_size": 100, "window": 5, "sg": 1, "hs": 1, "negative": 0, "min_count": 2, "epochs": 10, "seed": 0}
# 2: one worker thread, so that two trainings give bit-identical vectors (gensim's threads race on
# the shared weights); gensim 4 seeds its initial vectors from ``seed`` alone (no Python hash), so
# PYTHONHASHSEED does not matter (tests/test_text.py trains in two processes with different ones).
W2V_VERSION = 2

# Function words hidden by default in the top-words view (they are near every average vector).
STOPWORDS = frozenset(
    """a an the and or but if of at by for with about against between into through during before after above
    below to from up down in out on off over under again further then once here there when where why how all
    any both each few more most other some such no nor not only own same so than too very s t can will just
    don should now is are was were be been being have has had having do does did doing i me my myself we our
    ours you your he him his she her it its they them their what which who whom this that these those am
    has also as while""".split()
)


class OutOfVocabularyError(ValueError):
    """A transcript has no word in the vocabulary, so it has no averaged embedding."""


def tokenize(text: str) -> list[str]:
    """NFKC + lower-case + letter/digit runs (one inner apostrophe kept). See module docstring."""
    return TOKEN_RE.findall(unicodedata.normalize("NFKC", text).lower())


@dataclass
class WordVectors:
    vocab: list[str]
    vectors: np.ndarray  # (V, D) float32
    params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.vectors = np.asarray(self.vectors, dtype=np.float32)
        self.index = {w: i for i, w in enumerate(self.vocab)}
        norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
        self._unit = self.vectors / np.maximum(norms, 1e-12)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def split_known(self, text: str) -> tuple[list[str], list[str]]:
        """(known tokens, unknown tokens) of a text, in order."""
        known, unknown = [], []
        for tok in tokenize(text):
            (known if tok in self.index else unknown).append(tok)
        return known, unknown

    def embed(self, text: str) -> np.ndarray:
        """Average vector (D,) of the known tokens; raises OutOfVocabularyError when there are none."""
        known, unknown = self.split_known(text)
        if not known:
            shown = ", ".join(unknown[:8]) or "(no words)"
            raise OutOfVocabularyError(
                f"none of the words of this transcript is in the vocabulary ({len(self.vocab)} words): {shown}"
            )
        return self.vectors[[self.index[t] for t in known]].mean(axis=0)

    def embed_many(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(N, D) float32 averages and an (N,) bool ``known`` mask; rows with no known word are zero."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        known_mask = np.zeros(len(texts), dtype=bool)
        for i, text in enumerate(texts):
            ids = [self.index[t] for t in tokenize(text) if t in self.index]
            if ids:
                out[i] = self.vectors[ids].mean(axis=0)
                known_mask[i] = True
        return out, known_mask

    def nearest(self, vector: np.ndarray, k: int = 15, skip_stopwords: bool = True) -> list[tuple[str, float]]:
        """The k vocabulary words with the highest cosine similarity to ``vector``."""
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        v = v / max(float(np.linalg.norm(v)), 1e-12)
        sims = self._unit @ v  # (V,)
        out = []
        for i in np.argsort(-sims, kind="stable"):
            w = self.vocab[i]
            if skip_stopwords and w in STOPWORDS:
                continue
            out.append((w, float(sims[i])))
            if len(out) == k:
                break
        return out

    def to_state(self) -> dict:
        """Plain-types + tensor dict, storable in a ``weights_only`` checkpoint."""
        import torch

        return {"vocab": list(self.vocab), "vectors": torch.from_numpy(self.vectors.copy()), "params": dict(self.params)}

    @classmethod
    def from_state(cls, state: dict) -> "WordVectors":
        vectors = state["vectors"]
        vectors = vectors.numpy() if hasattr(vectors, "numpy") else np.asarray(vectors)
        return cls(vocab=list(state["vocab"]), vectors=vectors, params=dict(state.get("params", {})))


def corpus_files() -> list[Path]:
    """The general-English corpus beside the data (``text_corpus/*.txt``), if present."""
    root = data_root(required=False)
    if root is None or not (root / "text_corpus").is_dir():
        return []
    return sorted((root / "text_corpus").glob("*.txt"))


def _sentences(texts: list[str], extra_files: list[Path]) -> list[list[str]]:
    sents = [tokenize(line) for text in texts for line in text.splitlines()]
    for path in extra_files:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            toks = tokenize(line)
            # gensim truncates sentences at 10,000 tokens; corpus lines are whole documents.
            sents.extend(toks[i : i + 1000] for i in range(0, len(toks), 1000))
    return [s for s in sents if s]


def train_word_vectors(texts: list[str], use_corpus: bool = False, **overrides) -> WordVectors:
    """Skip-gram + hierarchical softmax word2vec on ``texts`` (and the text corpus if asked)."""
    from gensim.models import Word2Vec

    params = {**W2V_DEFAULTS, **overrides}
    extra = corpus_files() if use_corpus else []
    if use_corpus and not extra:
        raise FileNotFoundError("use_corpus=True but no text_corpus/*.txt was found under the data root")
    sentences = _sentences(texts, extra)
    if not sentences:
        raise OutOfVocabularyError("no tokens to train word vectors on")
    model = Word2Vec(sentences=sentences, workers=1, **params)  # deterministic: see W2V_VERSION
    vocab = list(model.wv.index_to_key)
    return WordVectors(vocab=vocab, vectors=model.wv.vectors.copy(), params={**params, "corpus": use_corpus})


def collection_word_vectors(collection, use_corpus: bool = False, refresh: bool = False) -> WordVectors:
    """Word vectors trained on the collection's train transcripts, cached by collection fingerprint."""
    train = collection.subset("train") if "train" in collection.split_names() else collection
    key = {
        "collection": collection.name, "fingerprint": train.fingerprint(), "params": W2V_DEFAULTS,
        "corpus": use_corpus, "version": W2V_VERSION,
    }

    def compute() -> dict[str, np.ndarray]:
        wv = train_word_vectors(train.texts, use_corpus=use_corpus)
        return {"vocab": np.array(wv.vocab), "vectors": wv.vectors}

    arrays = cached_arrays("word2vec", key, compute, refresh=refresh)
    return WordVectors(vocab=[str(w) for w in arrays["vocab"]], vectors=arrays["vectors"], params={**W2V_DEFAULTS, "corpus": use_corpus})


def text_features(collection, word_vectors: WordVectors | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) text features and (N,) bool ``known`` mask for every segment of ``collection``.

    Feature-only collections (Wikipedia) return their precomputed text features (LDA) as they are.
    """
    if "text" in collection.features:
        feats = collection.features["text"].astype(np.float32)
        return feats, np.ones(len(feats), dtype=bool)
    if word_vectors is None:
        raise ValueError("text_features needs word vectors for a collection of raw transcripts")
    return word_vectors.embed_many(collection.texts)
