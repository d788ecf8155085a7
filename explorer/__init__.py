"""explorer: multimodal (keyframe + transcript) representation learning with GANs.

Subpackages: ``data`` (collections, transcripts, keyframes), ``features`` (visual extractors and the
on-disk feature cache), ``models`` (one file per model kind, registry in ``explorer.models.MODELS``),
``video`` (ingest of real videos with subtitles, MediaEval formats). Top-level modules: ``metrics``
(pure retrieval metrics), ``checkpoint`` (atomic, self-describing checkpoints), ``train`` (the shared
training runner), ``evaluate`` (embeddings -> metrics), ``api`` (the facade the Streamlit app calls),
``cli`` (the ``explorer`` command). Nothing in this package imports Streamlit.
"""

__version__ = "0.1.0"
