"""Hyperlinks: an anchor's ranked targets (cosine of joint embeddings), one or two models side by side."""

import random

import pandas as pd
import streamlit as st

from explorer import api
from pages import _shared as ui

ui.frame("hyperlinks")

st.title("Hyperlinks")
st.caption("Video hyperlinking: an anchor segment ranks every other segment of the split by cosine similarity of "
           "the joint embeddings; a target is relevant when it has the anchor's category. P@10 and AP are the "
           "anchor's own. The URL holds the collection, model(s), split, anchor and number of targets: copy it to share this view.")

coll = ui.require_collection()
ref = ui.require_model()
collection = ui.collection(coll)
splits = api.split_choices(collection)
table = ui.segments(coll)

# ------------------------------------------------------------------ state (URL values are validated)
anchor = st.session_state.get("keep_hl_segment")
if anchor:
    try:
        api.segment_index(collection, anchor)
    except KeyError as e:
        st.error(f"Anchor from the URL: {ui.message(e)}")
        st.session_state["keep_hl_segment"] = anchor = None
split = st.session_state.get("keep_hl_split")
if split and split not in splits:
    st.error(f"Unknown split {ui.esc(repr(split))} (this collection has: {ui.esc(', '.join(splits))}); using "
             f"{api.default_split(collection)!r}.")
    split = None
if not split:
    split = api.default_split(collection)
    if anchor:
        split = table["split"][api.segment_index(collection, anchor)]
elif anchor and split != "all" and table["split"][api.segment_index(collection, anchor)] != split:
    anchor_split = table["split"][api.segment_index(collection, anchor)]
    st.info(f"Anchor {ui.esc(anchor)} is in the {ui.esc(repr(anchor_split))} split: showing that split.")
    split = anchor_split
st.session_state["keep_hl_split"] = split

# other usable checkpoints, those trained on this collection first
others = [e["id"] for e in sorted(ui.ctx()["entries"], key=lambda e: e["collection"] != coll)
          if e["supported"] and e["id"] != ref]
model2 = st.session_state.get("keep_hl_model2")
if model2 and model2 not in others:
    if model2 != ref:
        st.error(f"No usable checkpoint {ui.esc(repr(model2))} to compare with.")
    st.session_state["keep_hl_model2"] = ""
ui.default("keep_hl_model2", "")
ui.default("keep_hl_k", 10)
k_url = st.session_state["keep_hl_k"]
if isinstance(k_url, str):  # from a shared URL: a whole number of targets between 5 and HYPERLINK_TOP
    try:
        k_url = int(k_url)
        if not 5 <= k_url <= api.HYPERLINK_TOP:
            raise ValueError
    except ValueError:
        st.error(f"Targets shown from the URL: {ui.esc(repr(k_url))} is not a whole number from 5 to "
                 f"{api.HYPERLINK_TOP}; showing 10.")
        k_url = 10
    st.session_state["keep_hl_k"] = k_url


def _random_anchor() -> None:
    pool = ui.search(coll, "", split=st.session_state["keep_hl_split"], limit=10**9)
    if pool:
        st.session_state["keep_hl_segment"] = table["id"][random.choice(pool)]
        st.session_state["keep_hl_search"] = ""


# --------------------------------------------------------------------------------------- controls
c1, c2, c3 = st.columns([1, 1, 2])
with c1:
    split = st.selectbox("Split (anchors and targets)", splits, key="keep_hl_split")
with c2:
    k = st.slider("Targets shown", 5, api.HYPERLINK_TOP, key="keep_hl_k")
with c3:
    labels = {e["id"]: e["label"] for e in ui.ctx()["entries"]}
    if others:
        model2 = st.selectbox("Compare with a second model", [""] + others, key="keep_hl_model2",
                              format_func=lambda i: "— none —" if not i else labels.get(i, i))
    else:
        model2 = None
        st.caption("Compare with a second model: no other usable checkpoint yet.")

pick_col, anchor_col = st.columns([2, 3], gap="large")
with pick_col:
    anchor = ui.segment_picker(coll, "hl", split=split, label="Anchor", allow_none=False)
    st.button("Random anchor", on_click=_random_anchor)

ui.set_url(anchor=anchor, split=split, model2=model2, k=str(k))

if not anchor:
    st.info("Choose an anchor: search by id, words or category.")
    st.stop()

info = api.segment_info(collection, anchor)
with anchor_col:
    a1, a2 = st.columns([1, 2])
    with a1:
        img = ui.guard(ui.keyframe, coll, anchor, 192, what="Keyframe")
        if img is not None:
            st.image(img, width=192)
        else:
            st.image(api.NO_KEYFRAME_URI, width=96, caption="this collection has image features, no keyframes")
    with a2:
        st.markdown(f"**Anchor {ui.esc(info['id'])}** · category **{ui.esc(info['category'])}** · {ui.esc(info['split'])} split")
        if info["video"]:
            st.markdown(f":material/movie: Video **{ui.esc(info['video_id'])}**, {api.format_seconds(info['start'])} – "
                        f"{api.format_seconds(info['end'])}")
        st.caption(ui.esc(info["text"][:700], keep_lines=True))
    if info["video"]:
        ui.play_segment(coll, anchor)


def show_model(model_ref: str) -> None:
    e = ui.entry(model_ref) or {}
    st.markdown(f"#### {ui.esc(e.get('label', model_ref))}")
    if e and not e["supported"]:
        st.error(f"Cannot be used: {ui.esc(e['problem'])}")
        return
    ui.prepare(model_ref, coll, split)
    with st.spinner(f"Ranking the {split!r} split (computed once per model and split, then cached)…"):
        res = ui.guard(ui.anchor_hyperlinks, model_ref, coll, anchor, split, k, what="Hyperlinks")
    if res is None:
        return
    m = st.columns(3)
    few = res["n_gallery"] < res["k"]  # P@k still divides by k: say how many targets there are
    m[0].metric(f"P@{res['k']}" + (f" (only {res['n_gallery']} targets)" if few else ""),
                "—" if res["pk"] is None else f"{res['pk']:.2f}",
                help=f"P@{res['k']} divides by {res['k']} even when fewer targets exist" if few else None)
    m[1].metric(res["ap_label"], "—" if res["ap"] is None else f"{res['ap']:.3f}",
                help=(f"AP over the top {res['scale']['top']} targets (divided by min(relevant, {res['scale']['top']}))"
                      if res["scale"] else None))
    m[2].metric("Relevant targets", f"{res['n_relevant']:,} / {res['n_gallery']:,}")
    if res["ap"] is None:
        st.warning("No other segment of this split has the anchor's category: P@10 and AP are undefined.")
    if res["scale"]:
        sc = res["scale"]
        how = (f"a FAISS IVF index (nprobe {sc['nprobe']}, recall@10 {sc['recall@10']:.3f} against exact search)"
               if sc["kind"] == "ivf" else "an exact top-k search")
        st.caption(f"{sc['n']:,} segments in this split: targets come from {how}; P@{res['k']} and "
                   f"{res['ap_label']} are those of the top {sc['top']}.")
    has_text = any(t["snippet"] for t in res["targets"])  # Wikipedia's features come without their texts
    rows = [{"rank": t["rank"], "keyframe": ui.thumb(coll, t["id"]), "relevant": "✓ yes" if t["relevant"] else "✗ no",
             "cosine": t["score"], "id": t["id"], "category": t["category"],
             **({"transcript": t["snippet"]} if has_text else {}),
             **({"video": t["video"] or ""} if collection.has_times else {})} for t in res["targets"]]
    event = st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", row_height=56,
                 height=min(56 * len(rows) + 40, 1200), key=f"hl_table_{model_ref}", on_select="rerun",
                 selection_mode="single-row",
                 column_config={"keyframe": st.column_config.ImageColumn("keyframe", width="small"),
                                "cosine": st.column_config.NumberColumn("cosine", format="%.3f", width=70),
                                "rank": st.column_config.NumberColumn(width="small"),
                                "relevant": st.column_config.TextColumn("rel.", width="small",
                                                                        help="same category as the anchor"),
                                "transcript": st.column_config.TextColumn(width="large")})
    # The table cuts long transcripts (and side by side, most of them): the selected row's is shown whole.
    chosen = (event.selection.rows if event is not None and hasattr(event, "selection") else []) or []
    if not has_text:
        pass
    elif chosen and chosen[0] < len(res["targets"]):
        t = res["targets"][chosen[0]]
        full = api.segment_info(collection, t["id"])
        st.markdown(f"**#{t['rank']} {ui.esc(t['id'])}** · {ui.esc(str(t['category']))} · cosine {t['score']:.3f}"
                    + (" · relevant" if t["relevant"] else " · not relevant"))
        st.text(api.shown_text(full["text"]))
    else:
        st.caption("Select a row (its left edge) to read the target's whole transcript here.")
    if collection.has_times and res["targets"]:
        by_rank = {t["rank"]: t for t in res["targets"]}
        pick = st.selectbox("Play a target", list(by_rank), key=f"hl_play_{model_ref}",
                            format_func=lambda r: f"#{r} {by_rank[r]['id']} ({by_rank[r]['category']})")
        ui.play_segment(coll, by_rank[pick]["id"])


if model2:
    left, right = st.columns(2, gap="medium")
    with left:
        show_model(ref)
    with right:
        show_model(model2)
else:
    show_model(ref)
