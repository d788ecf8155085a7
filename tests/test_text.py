"""Tokenizer, word2vec training settings, averaged embeddings and the out-of-vocabulary signal."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.data.collection import load_collection
from explorer.data.text import OutOfVocabularyError, WordVectors, collection_word_vectors, tokenize, train_word_vectors


def test_tokenizer_rules():
    assert tokenize("The flower's PETALS, bright-yellow; 3 of them!") == ["the", "flower's", "petals", "bright", "yellow", "3", "of", "them"]
    assert tokenize("Café ﬁne") == ["café", "fine"]  # NFKC folds the ligature
    assert tokenize("...") == []


def test_average_of_known_words_and_oov_signal():
    wv = WordVectors(vocab=["red", "petals", "green"], vectors=np.array([[1, 0], [0, 2], [4, 4]], dtype=np.float32))
    np.testing.assert_allclose(wv.embed("Red petals, zzz"), [0.5, 1.0])
    with pytest.raises(OutOfVocabularyError, match="zzz"):
        wv.embed("zzz qqq")
    vecs, known = wv.embed_many(["red", "zzz", ""])
    assert known.tolist() == [True, False, False]
    assert np.isfinite(vecs).all() and (vecs[1:] == 0).all()
    assert wv.nearest(np.array([1.0, 1.0]), k=1) == [("green", pytest.approx(1.0))]


def test_word2vec_uses_paper_settings_and_learns_cooccurrence():
    rng = np.random.default_rng(0)
    topics = [["yellow", "sunflower", "bright", "sun", "golden", "warm"], ["purple", "violet", "deep", "dark", "plum", "dusk"]]
    texts = [" ".join(rng.choice(topics[i % 2], size=5)) for i in range(600)]
    wv = train_word_vectors(texts, min_count=1, epochs=20, seed=1)
    assert wv.dim == 100 and wv.params["sg"] == 1 and wv.params["hs"] == 1 and wv.params["window"] == 5
    near_yellow = [w for w, _ in wv.nearest(wv.embed("yellow"), k=6)][1:]  # [0] is "yellow" itself
    assert sum(w in topics[0] for w in near_yellow) >= 4, near_yellow


def test_word_vectors_round_trip_through_state():
    wv = WordVectors(vocab=["a", "b"], vectors=np.eye(2, dtype=np.float32), params={"sg": 1})
    back = WordVectors.from_state(wv.to_state())
    assert back.vocab == wv.vocab and np.array_equal(back.vectors, wv.vectors) and back.params == {"sg": 1}


def test_collection_word_vectors_trained_on_train_split_only(tiny_collection):
    coll = load_collection(tiny_collection)
    wv = collection_word_vectors(coll)
    assert "petals" in wv.index
    again = collection_word_vectors(coll)  # cached
    assert np.array_equal(again.vectors, wv.vectors)


def test_word2vec_is_bit_identical_across_processes_and_hash_seeds(tmp_path):
    """Two fresh trainings (separate processes, different PYTHONHASHSEED) give identical vectors."""
    import os
    import subprocess
    import sys

    code = ("import sys, numpy as np; from explorer.data.text import train_word_vectors; "
            "texts = [f'the {c} flower has {w} petals and a {s} centre' for c in ('red', 'pink', 'white', 'blue') "
            "for w in ('round', 'long', 'soft') for s in ('dark', 'yellow')] * 400; "
            "wv = train_word_vectors(texts); np.save(sys.argv[1], wv.vectors); open(sys.argv[1] + '.vocab', 'w').write(' '.join(wv.vocab))")
    outs = []
    for hash_seed in ("1", "2"):
        out = str(tmp_path / f"v{hash_seed}.npy")
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", code, out], check=True, env=env)
        outs.append(out)
    a, b = (np.load(o) for o in outs)
    assert open(outs[0] + ".vocab").read() == open(outs[1] + ".vocab").read()
    assert a.shape == b.shape and np.array_equal(a, b)
