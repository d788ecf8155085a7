"""What every page shares: the sidebar (collection and model pickers, URL sync), Streamlit caches over
``explorer.api``, and small display helpers. Pages import this module and ``explorer.api`` only."""

from __future__ import annotations

import collections
import functools
import inspect
import re
import time
from contextlib import contextmanager
from pathlib import Path

from typing import Any, Callable

import streamlit as st

from explorer import api, progress

# Query parameters the app reads once per session (a shared URL) and keeps up to date.
URL_KEYS = {"collection": "keep_collection", "model": "keep_model", "anchor": "keep_hl_segment",
            "model2": "keep_hl_model2", "split": "keep_hl_split", "k": "keep_hl_k"}
USER_ERRORS = (ValueError, KeyError, OSError, RuntimeError)
# A local file: a ":material/...:" page icon makes the browser fetch the favicon from a font CDN.
FAVICON = str(Path(__file__).resolve().parent.parent / "assets" / "favicon.png")


# --------------------------------------------------------------------------------------- messages


_MD_SPECIAL = frozenset("\\`*_{}[]()#+-.!|<>~:$=&")


def esc(value, keep_lines: bool = False) -> str:
    """Text from users, URLs or collections, made inert inside Streamlit Markdown (st.markdown, st.caption,
    st.error, ...): every character that Markdown, GitHub-style autolinks, Streamlit's directives
    (``:green[...]``, ``:material/...:``) or LaTeX (``$``) would interpret is backslash-escaped, so a
    ``[link](http://...)`` or ``![](http://...)`` shows as the characters it is and nothing is fetched.
    Literal autolinks (``http://``, ``www.``, ``a@b``) are broken by an invisible word joiner.
    Newlines become spaces, or Markdown line breaks with ``keep_lines``."""
    lines = [_no_autolink(" ".join(line.split())) for line in (str(value).splitlines() or [""])]
    safe = ["".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in line) for line in lines]
    return "  \n".join(safe) if keep_lines else " ".join(safe)


_WORD_JOINER = "\u2060"  # invisible, zero-width: it splits what GitHub-style autolinking looks for


def _no_autolink(text: str) -> str:
    """Break the literal autolinks of GitHub Markdown (``http://``, ``www.``, ``name@host``), which
    backslash escapes do not stop, with an invisible word joiner: the text reads the same."""
    text = text.replace("://", ":" + _WORD_JOINER + "//").replace("@", "@" + _WORD_JOINER)
    return re.sub(r"(?i)\bwww\.", lambda m: m.group(0)[:3] + _WORD_JOINER + ".", text)


def message(e: BaseException) -> str:
    """A user-facing one-line message for an exception (no traceback, no quoting of KeyError), escaped
    for Markdown (it may quote a URL parameter, a file name or a collection's text)."""
    text = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    return esc(str(text) or type(e).__name__)


def guard(fn: Callable, *args, what: str | None = None, **kwargs) -> Any:
    """Call ``fn``; on a user-facing error show it with ``st.error`` and return None."""
    try:
        return fn(*args, **kwargs)
    except USER_ERRORS as e:
        st.error((f"{esc(what)}: " if what else "") + message(e))
        return None


def keep_widget_values() -> None:
    """Widgets whose key starts with ``keep_`` keep their value when the user visits another page."""
    for k in list(st.session_state.keys()):
        if isinstance(k, str) and k.startswith("keep_"):
            st.session_state[k] = st.session_state[k]


def default(key: str, value: Any) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


# ------------------------------------------------------------------------------------------ caches


def cached(max_entries: int, *, resource: bool = False, model_arg: bool = False, coll_arg: bool = False,
           load_model: bool = True):
    """One decorator for every Streamlit cache over ``explorer.api``, keyed by what is on disk.

    The decorated ``fn(ref?, coll?, *args)`` is called as such by pages. With ``model_arg`` its first
    argument is a checkpoint reference: the cache key holds the file's (path, mtime, size), ``fn``
    receives the path, and the model is loaded first (``load_model``: a bad checkpoint fails with its
    own message, and only once). With ``coll_arg`` the next argument is a collection name, keyed with
    its ``api.collection_stamp`` (so an edited collection is recomputed). ``resource``: an
    ``st.cache_resource`` (shared object, never copied: callers must not modify it) instead of
    ``st.cache_data``."""
    def wrap(fn: Callable) -> Callable:
        def keyed(model_stamp, coll_stamp, *args):
            head = ([model_stamp[0]] if model_arg else []) + ([coll_stamp[0]] if coll_arg else [])
            return fn(*head, *args)

        # Streamlit keys a cache by the function's module, qualified name and source: give each its own
        keyed.__qualname__ = keyed.__name__ = f"cached_{fn.__name__}"
        keyed.__module__ = fn.__module__
        store = (st.cache_resource if resource else st.cache_data)(show_spinner=False, max_entries=max_entries)(keyed)

        signature = inspect.signature(fn)

        def public(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)  # keyword arguments and defaults: one cache key per call
            bound.apply_defaults()
            rest = list(bound.arguments.values())
            model_stamp = coll_stamp = None
            if model_arg:
                ref = rest.pop(0)
                if load_model:
                    model(ref)
                model_stamp = api.checkpoint_stamp(ref)
            if coll_arg:
                name = rest.pop(0)
                coll_stamp = (name, api.collection_stamp(name))
            return store(model_stamp, coll_stamp, *rest)

        return functools.update_wrapper(public, fn)

    return wrap


#: The last lines progress bars showed, (what, line), newest last: what a user saw while waiting (tests and
#: bug reports read it; the bar itself is removed once the computation ends).
RECENT_PROGRESS: collections.deque = collections.deque(maxlen=200)


@contextmanager
def progress_bar(what: str):
    """A progress bar with counts and time left for what ``explorer.progress`` reports inside the block.

    Use it *outside* Streamlit caches (around the first, uncached computation), so nothing is replayed.
    Leaving the page or pressing Stop cancels the computation: Streamlit raises its rerun / stop
    exception from the next bar update, which ends the loop that reported."""
    bar = st.progress(0.0, text=f"{what}…")
    timer = progress.Timer()
    last = [0.0]

    def show(stage: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] < 0.25 and not (total and done >= total):
            return
        last[0] = now
        fraction, line = timer.line(stage, done, total)
        RECENT_PROGRESS.append((what, line))
        bar.progress(fraction or 0.0, text=f"{what}: {line} (change page or press Stop to cancel)")

    try:
        with progress.reporting(show):
            yield
    finally:
        bar.empty()


def prepare(ref, coll: str, split: str) -> None:
    """Before ranking ``split``: compute the model's embeddings of the collection with a progress bar when
    neither the split's hyperlink index (on disk) nor the embeddings (in memory) are there yet (the
    first time: keyframes, visual features, the model over every segment)."""
    try:
        ready = api.hyperlinks_ready(ref, collection(coll), split) or api.embeddings_ready(ref, coll)
    except USER_ERRORS:
        return  # the caller's own call reports the problem
    if not ready:
        with progress_bar(f"Embedding {len(collection(coll)):,} segments once (then kept in memory)"):
            try:
                api.embeddings(ref, coll)
            except USER_ERRORS:
                pass  # the caller's own call shows the problem, once


def prepare_top_words(ref, image, method: str) -> None:
    """Before showing an image's top words: an "optimise" inversion not computed yet (minutes on a CPU) runs
    here, uncached, under a progress bar; the page's cached call then re-ranks at once."""
    try:
        if api.top_words_ready(ref, image, method):
            return
    except USER_ERRORS:
        return  # the page's own call reports the problem
    with progress_bar("Inverting the generator by gradient descent (once per image)"):
        try:
            api.image_top_words(ref, image, method=method)
        except USER_ERRORS:
            pass


@st.cache_resource(show_spinner=False, max_entries=4)
def _collection(name: str, stamp: tuple):
    return api.get_collection(name)


def collection(name: str):
    return _collection(name, api.collection_stamp(name))


@st.cache_resource(show_spinner=False, max_entries=4)
def _model(path: str, mtime: float, size: int):
    return api.model(path)


def model(ref):
    """The loaded model (``st.cache_resource``); raises ``CheckpointError``."""
    return _model(*api.checkpoint_stamp(ref))


@cached(64, model_arg=True, load_model=False)
def card(path) -> dict:
    return api.model_card(path)


@cached(32, model_arg=True)
def dims(path) -> dict:
    return api.embedding_dims(path)


@cached(256, model_arg=True)
def generate(path, text: str, n: int, seed: int) -> dict:
    return api.generate(path, text, n=n, seed=seed)


@cached(128, model_arg=True)
def check_transcript(path, text: str) -> dict:
    return api.check_transcript(path, text)


@cached(256, model_arg=True, coll_arg=True)
def segment_top_words(path, coll: str, segment: str, k: int, method: str) -> list[dict]:
    return api.segment_top_words(path, collection(coll), segment, k=k, method=method)


@cached(64, model_arg=True)
def upload_top_words(path, data: bytes, k: int, method: str) -> list[dict]:
    return api.image_top_words(path, data, k=k, method=method)


@cached(256, model_arg=True, coll_arg=True)
def anchor_hyperlinks(path, coll: str, anchor: str, split: str, n: int) -> dict:
    return api.anchor_hyperlinks(path, collection(coll), anchor, split, n=n)


@cached(32, model_arg=True, coll_arg=True)
def category_metrics(path, coll: str, split: str) -> list[dict]:
    return api.category_metrics(path, collection(coll), split)


@cached(32, model_arg=True, coll_arg=True)
def confusion(path, coll: str, split: str) -> dict:
    return api.category_confusion(path, collection(coll), split)


@cached(64, model_arg=True, coll_arg=True)
def stealers(path, coll: str, split: str, category: str, n: int = 12) -> list[dict]:
    return api.stealers(path, collection(coll), split, category, n=n)


@cached(64, model_arg=True, coll_arg=True)
def worst_anchors(path, coll: str, split: str, category: str, n: int) -> list[dict]:
    return api.worst_anchors(path, collection(coll), split, category, n=n)


@cached(8, resource=True, model_arg=True, coll_arg=True)
def projection(path, coll: str):
    """The joint-space projection as a DataFrame (disk cache + ``st.cache_resource``: shared, do not modify)."""
    import pandas as pd

    return pd.DataFrame(api.joint_projection(path, collection(coll)))


@cached(4, resource=True, model_arg=True, coll_arg=True)
def joint_points(path, coll: str) -> dict:
    """The projection's arrays only (x, y, segment, modality): what a million-point view needs (shared)."""
    return api.joint_points(path, collection(coll))


@cached(16, resource=True, model_arg=True, coll_arg=True)
def point_groups(path, coll: str, color: str) -> tuple[list[str], object]:
    """(group names, codes per projected point) under a colouring (shared, do not modify)."""
    pts = joint_points(path, coll)
    return api.point_groups(collection(coll), pts["segment"], pts["modality"], color)


@cached(4, resource=True, coll_arg=True)
def segments(coll: str) -> dict:
    """Column lists of every segment (``st.cache_resource``: shared, never copied; do not modify)."""
    return api.segments_table(collection(coll))


@cached(4, resource=True, coll_arg=True)
def id_index(coll: str) -> dict:
    """Segment id -> row of ``segments(coll)``."""
    return {sid: i for i, sid in enumerate(segments(coll)["id"])}


@cached(4096, coll_arg=True)
def thumb(coll: str, segment: str) -> str | None:
    return api.thumbnail_uri(collection(coll), segment)


@cached(256, coll_arg=True)
def keyframe(coll: str, segment: str, max_side: int = 256):
    return api.keyframe(collection(coll), segment, max_side=max_side)


@cached(512, coll_arg=True)
def search(coll: str, query: str, split: str | None = None, limit: int = 200) -> list[int]:
    return api.search_segments(collection(coll), query, split=split, limit=limit)


@cached(64, coll_arg=True)
def collection_warnings(coll: str) -> list[str]:
    return api.collection_warnings(collection(coll))


@cached(4096, coll_arg=True)
def segment_video(coll: str, segment: str) -> dict | None:
    return api.segment_video(collection(coll), segment)


@st.cache_data(show_spinner=False, ttl=5)
def _checkpoints(folders: tuple) -> list[dict]:
    return api.list_checkpoints()


def checkpoints() -> list[dict]:
    """``api.list_checkpoints`` (re-listed at most every 5 s: new run checkpoints appear quickly)."""
    return _checkpoints(tuple(api.checkpoint_folders()))


@st.cache_resource(show_spinner=False)
def _jobs(db_path: str):
    return api.job_store()


def jobs():
    """The training jobs store (``explorer.jobs.JobStore``)."""
    return _jobs(str(api.jobs_db_path()))


@st.cache_data(show_spinner=False, max_entries=16, ttl=600)
def _cold_pairs(coll: str, coll_stamp: tuple, checkpoints_stamp: tuple, warm_stamp: tuple, cache: str) -> list[tuple[str, str]]:
    return api.cold_pairs(coll)


def cold_pairs(coll: str, warm_job) -> list[tuple[str, str]]:
    """``api.cold_pairs`` of a collection (about a second: it looks up every shipped model's caches),
    recomputed when the collection, the checkpoints, the warm job's status or the cache folder change."""
    listing = tuple((e["id"], e["mtime"]) for e in checkpoints())
    return _cold_pairs(coll, api.collection_stamp(coll), listing,
                       (warm_job.id, warm_job.status) if warm_job is not None else None, api.cache_folder())


def poll_jobs() -> list:
    """Bring the jobs table up to date (finished / crashed processes, queued jobs to start)."""
    try:
        all_jobs = jobs().reconcile()
    except Exception as e:  # noqa: BLE001 - the app stays usable without the jobs database
        st.sidebar.warning(f"Training jobs are unavailable: {message(e)}")
        return []
    running = sum(j.status == "running" for j in all_jobs)
    queued = sum(j.status == "queued" for j in all_jobs)
    if running or queued:
        st.sidebar.caption(f"Training: {running} running, {queued} queued")
    return all_jobs


# ------------------------------------------------------------------------------------------ sidebar


def _sync_from_url() -> None:
    """Query parameters the app did not write itself (a shared URL, a link with parameters) become the
    widget values; the ones it wrote are left alone."""
    written = st.session_state.setdefault("_url_written", {})
    for param, key in URL_KEYS.items():
        value = st.query_params.get(param)
        if value and value != written.get(param):
            st.session_state[key] = value
            written[param] = value


def set_url(**params) -> None:
    """Write query parameters (None removes one), remembering them as the app's own."""
    written = st.session_state.setdefault("_url_written", {})
    for k, v in params.items():
        if v:
            if st.query_params.get(k) != v:
                st.query_params[k] = v
            written[k] = v
        else:
            if k in st.query_params:
                del st.query_params[k]
            written.pop(k, None)


def _on_collection_change() -> None:
    st.session_state["keep_model"] = api.default_checkpoint(st.session_state.get("keep_collection"), checkpoints())


PAGE_PARAMS = {"hyperlinks": ("anchor", "split", "model2")}


def sidebar(page: str = "") -> dict:
    """The collection and model pickers; returns (and stores as ``ctx``) the current choice.
    ``page``: the current page's url path (other pages' query parameters are dropped from the URL)."""
    _sync_from_url()
    notices = st.session_state.setdefault("_notices", [])
    names = api.list_collections()
    coll = st.session_state.get("keep_collection")
    if names and coll not in names:
        if coll:
            notices.append(f"No collection {coll!r} under the data root (known: {', '.join(names)}); "
                           f"showing {api.default_collection(names)!r} instead.")
        st.session_state["keep_collection"] = api.default_collection(names)
    with st.sidebar:
        st.markdown("### explorer")
        if names:
            st.selectbox("Collection", names, key="keep_collection", on_change=_on_collection_change,
                         help="Collections are the folders under the data root (EXPLORER_DATA) and the ingested "
                              "ones in the collections folder (EXPLORER_COLLECTIONS, default runs/collections).")
            coll = st.session_state["keep_collection"]
        else:
            coll = None
            st.error(f"No collection: {api.data_problem() or 'none found'}")
        if "_use_model" in st.session_state:  # "Use its checkpoint" on the Training page
            st.session_state["keep_model"] = st.session_state.pop("_use_model")
            _checkpoints.clear()  # the run's checkpoint may be newer than the cached listing
        entries = checkpoints()
        ids = [e["id"] for e in entries]
        chosen = st.session_state.get("keep_model")
        if chosen and chosen not in ids:
            notices.append(f"No checkpoint {chosen!r}; showing the default one instead.")
            chosen = None
        if not chosen:
            chosen = api.default_checkpoint(coll, entries)
            if chosen:
                st.session_state["keep_model"] = chosen
            elif coll and any(e["supported"] for e in entries):
                st.session_state["keep_model"] = chosen = next(e["id"] for e in entries if e["supported"])
                notices.append(f"No checkpoint can read collection {coll!r} (none was trained on it, and the others "
                               "expect other inputs): train one on the Training page.")
        if ids:
            labels = {e["id"]: e["label"] + ("" if e["supported"] else "  (unusable)") for e in entries}
            st.selectbox("Model checkpoint", ids, key="keep_model", format_func=lambda i: labels.get(i, i),
                         help="Shipped checkpoints (checkpoints/), extra folders (EXPLORER_CHECKPOINTS) "
                              "and training runs (runs/*/best.pt).")
            chosen = st.session_state["keep_model"]
        else:
            chosen = None
            st.info("No checkpoint yet: train one on the Training page.")
        st.caption("Share a view by copying the URL.")
    ctx = {"collection": coll, "model": chosen, "entries": entries}
    st.session_state["ctx"] = ctx
    set_url(collection=coll, model=chosen)
    keep = PAGE_PARAMS.get(page, ())
    set_url(**{p: None for params in PAGE_PARAMS.values() for p in params if p not in keep})
    return ctx


def frame(page: str = "") -> None:
    """The common frame of every page: keep widget values, sidebar, job polling, notices.

    ``app.py`` draws it before running the page, and flags that it did. A page calls it too, so that it
    is also drawn when Streamlit runs a file of ``pages/`` directly (its legacy multipage mode does that
    for a server's very first run, and ``AppTest`` for every rerun); the flag makes the second call a no-op.
    """
    if st.session_state.get("_frame_drawn"):
        return
    _leave_legacy_multipage_mode()
    st.set_page_config(page_title="explorer", page_icon=FAVICON, layout="wide")
    keep_widget_values()
    sidebar(page)
    poll_jobs()
    show_notices()


def _leave_legacy_multipage_mode() -> None:
    """A page file run without ``app.py`` means Streamlit saw ``pages/`` and used its legacy multipage mode
    (it does so for a fresh server's very first run when the URL names a page). Switch that mode off, as
    ``st.navigation`` would have, and rerun once, so that ``app.py`` and its navigation take over.

    Streamlit keeps a ``pages/`` folder as a legacy (MPA v1) signal even when ``st.navigation`` is used;
    its maintainers note the odd behaviour of a ``pages`` folder + ``st.navigation`` on direct URL access
    (streamlit/streamlit PR #10276). The brief fixes the folder's name, so this uses the class flag
    ``PagesManager.uses_pages_directory`` (not public API): when it is gone, the page draws its own frame."""
    if st.session_state.get("_left_legacy_mode"):
        return
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # another Streamlit layout: draw the frame from the page instead
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        st.session_state["_left_legacy_mode"] = True
        PagesManager.uses_pages_directory = False
        st.rerun()


def ctx() -> dict:
    return st.session_state.get("ctx") or {"collection": None, "model": None, "entries": []}


def show_notices() -> None:
    for text in st.session_state.pop("_notices", []):
        st.error(text)


def entry(ref) -> dict | None:
    for e in ctx()["entries"]:
        if e["id"] == ref:
            return e
    return None


def require_collection() -> str:
    coll = ctx()["collection"]
    if not coll:
        st.error(f"No collection to show: {api.data_problem() or 'none found'}. Set EXPLORER_DATA to the folder "
                 "holding your collections and restart the app.")
        st.stop()
    try:
        collection(coll)
    except USER_ERRORS as e:
        st.error(f"Collection {esc(repr(coll))} cannot be loaded: {message(e)}")
        st.stop()
    for text in collection_warnings(coll):
        st.warning(esc(text), icon=":material/warning:")
    return coll


def require_model(generative: bool = False) -> str:
    """The chosen checkpoint, loaded; otherwise a clear message (and a pointer to Training) and stop."""
    ref = ctx()["model"]
    if not ref:
        st.warning("No model checkpoint yet. The shipped GAN checkpoints "
                   "(checkpoints/gan_proj-flowers102_reed.pt, gan_cls-flowers102_reed.pt) are not there, and no "
                   "training run has one.")
        st.page_link("pages/7_training.py", label="Train a model on the Training page", icon=":material/model_training:")
        st.stop()
    e = entry(ref)
    if e is not None and not e["supported"]:
        st.error(f"Checkpoint {esc(e['label'])} cannot be used: {esc(e['problem'])}. Pick another one in the sidebar.")
        st.stop()
    try:
        lm = model(ref)
    except USER_ERRORS as err:
        st.error(f"Checkpoint {esc(ref)} cannot be loaded: {message(err)}")
        st.stop()
    coll = ctx()["collection"]
    if e is not None and coll and not _fits(ref, coll):
        st.warning(f"Checkpoint {esc(e['label'])} cannot read collection {esc(repr(coll))}: it was trained on "
                   f"{esc(repr(e.get('collection')))}, whose inputs differ ({esc(_spec_words(e))}). Pick a checkpoint "
                   "trained on this collection in the sidebar, or train one on the Training page.")
        st.page_link("pages/7_training.py", label="Train a model on the Training page", icon=":material/model_training:")
        st.stop()
    if generative and not lm.model.generative:
        st.info(f"{esc(ref)} is a {lm.kind!r} model, which has no generator. This page needs a GAN checkpoint (gan_proj or gan_cls): "
                "pick one in the sidebar.")
        st.stop()
    return ref


def _fits(ref, coll: str) -> bool:
    e = entry(ref)
    try:
        return e is None or api.fits_collection(e, collection(coll))
    except USER_ERRORS:
        return True  # the collection's own problem is reported by require_collection


def _spec_words(e: dict) -> str:
    spec = e.get("data_spec") or {}
    return f"images as {spec.get('image_input')} ({spec.get('image_dim')}-d), text as {spec.get('text_input')} ({spec.get('text_dim')}-d)"


def model_note(ref, coll: str) -> None:
    """A caption naming the model, and a warning when it was trained on another collection."""
    e = entry(ref) or {}
    trained = e.get("collection")
    text = f"Model: **{esc(e.get('label', ref))}**"
    if trained and trained != coll:
        text += f" — trained on *{esc(trained)}*, shown on *{esc(coll)}*"
    st.caption(text)


def segment_label(coll: str, i: int, table: dict | None = None) -> str:
    seg = table or segments(coll)
    return f"{seg['id'][i]} · {seg['category'][i]} · {seg['snippet'][i][:70]}"


def segment_picker(coll: str, prefix: str, split: str | None = None, label: str = "Segment",
                   allow_none: bool = True, on_change: Callable | None = None) -> str | None:
    """Search box (id, words or category) + selectbox of matches; returns the picked segment id."""
    qkey, skey = f"keep_{prefix}_search", f"keep_{prefix}_segment"
    default(qkey, "")
    st.text_input(f"Search {label.lower()}s (id, words or category)", key=qkey,
                  placeholder="e.g. image_00042, 'purple petals' or sunflower")
    table = segments(coll)
    matches = [table["id"][i] for i in search(coll, st.session_state[qkey], split=split, limit=300)]
    current = st.session_state.get(skey)
    if current and current not in matches:
        try:
            i = api.segment_index(collection(coll), current)
            if split in (None, "all") or table["split"][i] == split:
                matches = [current] + matches
        except KeyError:
            st.session_state[skey] = None
    options = ([""] if allow_none else []) + matches  # "" = none (a None value would show a placeholder)
    if st.session_state.get(skey) not in options:
        st.session_state[skey] = options[0] if options else None
    if not matches:
        st.caption("No segment matches this search.")
    index_of = id_index(coll)
    st.selectbox(f"{label} ({len(matches)} match{'es' if len(matches) != 1 else ''}"
                 f"{', first 300' if len(matches) >= 300 else ''})", options, key=skey, on_change=on_change,
                 format_func=lambda s: "— none —" if not s else segment_label(coll, index_of[s], table))
    return st.session_state.get(skey) or None


def play_segment(coll: str, segment: str, caption: bool = True, width: int = 420) -> bool:
    """A video player over one segment (from its start to its end), with programme and times; nothing
    (False) when the collection keeps no video for it."""
    v = segment_video(coll, segment)
    if v is None:
        return False
    if not v["playable"]:
        st.caption(f"Video {esc(v['video_id'])}: its container cannot be played in a browser "
                   f"({esc(Path(v['path']).suffix)}); re-encode it to mp4 or webm to watch it here.")
        return False
    st.video(v["path"], format=v["format"], start_time=v["start"], end_time=v["end"], width=width)
    if caption:
        st.caption(f"Programme {esc(v['video_id'])}, {api.format_seconds(v['start'])} – "
                   f"{api.format_seconds(v['end'])}" if v["end"] is not None else f"Programme {esc(v['video_id'])}")
    return True


def image_grid(images, captions=None, per_row: int = 8, width: int = 112) -> None:
    """uint8 images in rows of ``per_row``."""
    for start in range(0, len(images), per_row):
        cols = st.columns(per_row)
        for j, img in enumerate(images[start:start + per_row]):
            with cols[j]:
                st.image(img, width=width, caption=None if captions is None else captions[start + j])
