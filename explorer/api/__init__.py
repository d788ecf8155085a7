"""The library facade: everything the CLI's model commands and the Streamlit pages call, by concern:

- ``checkpoints``: which checkpoints exist (shipped, extra folders, runs), confinement to those folders, model
  cards, loading a model;
- ``collections``: collections under the data root, their segments, search, keyframes, playable video, exports;
- ``generation``: transcript -> images, image -> top words, and the checks of typed or uploaded input;
- ``retrieval``: embeddings of a collection, the hyperlink index, one anchor's targets, the joint-space projection;
- ``analysis``: where a model fails (per-category metrics, confusion, worst anchors);
- ``jobs``: training and ingest jobs as the Training page shows them;
- ``display``: formatting (cut-offs, snippets, times, data URIs).

Pages import only ``explorer.api`` (and never Streamlit from ``explorer/``). Functions take checkpoint ids or
paths and collection names, return numpy arrays / plain dicts, and raise ``ValueError`` subclasses with a
message fit to show a user. In-memory caches are one mechanism, ``_memo.Memo``, keyed by what is on disk
(file stamps, collection stamps and digests); what lasts across processes is in ``explorer.cache``.
"""

from ..checkpoint import CheckpointError  # noqa: F401  (pages catch it)
from ..data.collection import CollectionError  # noqa: F401
from ..data.images import ImageInputError  # noqa: F401
from ..data.text import OutOfVocabularyError  # noqa: F401
from .display import (  # noqa: F401
    SHOWN_TEXT_CHARS, shown_text, snippet, plotly_text, format_seconds, video_span, png_data_uri, NO_KEYFRAME_URI,
)
from .collections import (  # noqa: F401
    DEFAULT_COLLECTION, data_problem, list_collections, default_collection, collection_stamp, get_collection,
    collection_summary, collection_warnings, split_choices, default_split, PLAYABLE_VIDEO, segment_video,
    segment_index, segment_info, segments_table, search_segments, thumbnails, thumbnail_uri, keyframe,
    selection_rows, selection_csv, text_view_available, text_view,
)
from .checkpoints import (  # noqa: F401
    DEFAULT_KIND, load_model, extra_checkpoint_dirs, checkpoint_folders, list_checkpoints, resolve_checkpoint,
    checkpoint_stamp, fits_collection, default_checkpoint, kind_description, model_card, model_card_text, model,
    model_path, is_generative, embedding_dims, model_kinds,
)
from .generation import (  # noqa: F401
    NotGenerativeError, transcript_vocabulary, generate_images, image_tensor, invert_image, topword_methods,
    CROSSMODAL_VOCAB, crossmodal_top_words, top_words, EmptyTranscriptError, check_transcript, generate,
    MAX_UPLOAD_BYTES, UPLOAD_FORMATS, inspect_upload, image_preview, image_top_words, segment_top_words,
    segment_image, top_words_ready,
)
from .retrieval import (  # noqa: F401
    HYPERLINK_TOP, HYPERLINK_VERSION, embeddings_ready, embeddings, hyperlinks_ready, hyperlink_index,
    anchor_hyperlinks, projection_key, projection_ready, joint_projection, SCALE_ABOVE, scale_info, split_rank_index,
    joint_points, point_groups, joint_selection, joint_view,
)
from .analysis import (  # noqa: F401
    category_metrics, worst_anchors, category_confusion, stealers,
)
from .jobs import (  # noqa: F401
    jobs_db_path, job_store, run_curves, run_progress, ingest_progress, transcript_sources, job_log_tail,
    latest_sample_grid, parse_overrides, warm_pairs, cold_pairs, warm_job, warm_progress,
    cache_folder,
)
