"""Transcript -> imagery (the paper's Table 1): what the generator draws for a typed or picked transcript."""

import numpy as np
import streamlit as st

from explorer import api
from pages import _shared as ui

ui.frame("imagery")

st.title("Transcript → imagery")
st.caption("The GAN's generator draws images for a transcript (averaged word2vec of its known words + noise; "
           "one image per noise draw). "
           "Type any transcript, or pick a segment to see its real keyframe beside the generated images.")

coll = ui.require_collection()
ref = ui.require_model(generative=True)
ui.model_note(ref, coll)


def _use_segment() -> None:
    sid = st.session_state.get("keep_t2i_segment")
    if sid:
        st.session_state["keep_t2i_text"] = api.shown_text(api.segment_info(ui.collection(coll), sid)["text"])


if "keep_t2i_text" not in st.session_state:
    first = ui.search(coll, "", split=api.default_split(ui.collection(coll)), limit=1)
    st.session_state["keep_t2i_text"] = api.segment_info(ui.collection(coll), first[0])["snippet"] if first else ""
ui.default("keep_t2i_n", 8)
ui.default("keep_t2i_seed", 0)

left, right = st.columns([3, 2], gap="large")
with right:
    st.markdown("**Pick a segment** (its transcript replaces the text)")
    picked = ui.segment_picker(coll, "t2i", on_change=_use_segment)
with left:
    text = st.text_area("Transcript", key="keep_t2i_text", height=110,
                        placeholder="e.g. this flower has large yellow petals and a dark brown centre")
    c1, c2, c3 = st.columns([2, 1, 1])
    with c1:
        n = st.slider("Images per batch", 1, 32, key="keep_t2i_n")
    with c2:
        seed = st.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="keep_t2i_seed")

signature = (ref, text, n, seed)
if st.session_state.get("_t2i_sig") != signature:
    st.session_state["_t2i_sig"] = signature
    st.session_state["_t2i_batches"] = 1


def _more() -> None:
    st.session_state["_t2i_batches"] = st.session_state.get("_t2i_batches", 1) + 1


with c3:
    st.write("")
    st.button("More images", on_click=_more, help="Another batch with the next seed", width="stretch")

with left:
    vocab = ui.guard(ui.check_transcript, ref, text)
    if vocab:
        known = " ".join(f":green[{ui.esc(w)}]" for w in vocab["known"])
        unknown = " ".join(f":red[~~{ui.esc(w)}~~]" for w in dict.fromkeys(vocab["unknown"]))
        st.markdown(f"**Words used** ({len(vocab['known'])}): {known}")
        if vocab["unknown"]:
            st.warning(f"Not in the model's vocabulary, so ignored ({len(vocab['unknown'])}): {unknown}")
        for b in range(st.session_state.get("_t2i_batches", 1)):
            out = ui.guard(ui.generate, ref, text, int(n), int(seed) + b, what="Generation")
            if out is None:
                break
            big = np.repeat(np.repeat(out["images"], 2, axis=1), 2, axis=2)  # 64 -> 128 px, crisp pixels
            st.caption(f"Seed {int(seed) + b}")
            ui.image_grid(list(big), per_row=8, width=128)

with right:
    if picked:
        info = api.segment_info(ui.collection(coll), picked)
        img = ui.guard(ui.keyframe, coll, picked, what="Keyframe")
        if img is not None:
            st.image(img, caption=f"Real keyframe of {info['id']} ({info['category']})", width=256)
        if info["video"]:
            st.caption(f"Video: {ui.esc(info['video'])}")
        with st.expander("Its transcript", expanded=True):
            st.text(api.shown_text(info["text"]))
        if text.strip() != api.shown_text(info["text"]).strip():
            st.caption("The transcript box was edited: the images show the edited text.")
