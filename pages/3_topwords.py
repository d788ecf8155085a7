"""Image -> top words (the paper's Table 3): the inverted generator maps an image to the text space."""

import pandas as pd
import streamlit as st

from explorer import api
from explorer.data.text import tokenize
from pages import _shared as ui

ui.frame("topwords")

st.title("Image → top words")
st.caption("An image's top words: for the paper's GAN-CLS, the inverted generator maps the image back to the "
           "100-d text space and the nearest vocabulary words are listed; for gan_proj, the discriminator's "
           "aligned image and text parts rank the vocabulary. Pick a segment to compare them with its real "
           "transcript, or upload any image.")

coll = ui.require_collection()
ref = ui.require_model(generative=True)
ui.model_note(ref, coll)

ui.default("keep_i2w_source", "Collection segment")
ui.default("keep_i2w_k", 15)
methods = ui.guard(lambda: api.topword_methods(api.model_path(ref)), what="Top-words methods") or ("transposed",)
if st.session_state.get("keep_i2w_method") not in methods:
    st.session_state["keep_i2w_method"] = methods[0]  # the kind's best measured method

c1, c2, c3 = st.columns([2, 2, 2])
with c1:
    source = st.radio("Image", ["Collection segment", "Upload an image"], key="keep_i2w_source", horizontal=True)
with c2:
    k = st.slider("Top words", 5, 50, key="keep_i2w_k")
with c3:
    method = st.radio("Method", list(methods), key="keep_i2w_method", horizontal=True,
                      help="crossmodal (gan_proj): words ranked by the discriminator's aligned image and text parts "
                           "(instant; best measured, bench/results/gan_proj.md). transposed (gan_cls): the paper's "
                           "inverted generator (instant). optimise (gan_cls): gradient descent on the text vector so "
                           "that G reconstructs the image (1-4 minutes on a 2-core CPU the first time, with a progress bar; "
                           "then instant for that image).")

image_col, words_col, text_col = st.columns([2, 3, 3], gap="large")
words = None
transcript = None
if source == "Collection segment":
    with text_col:
        sid = ui.segment_picker(coll, "i2w", allow_none=False)
    if sid:
        info = api.segment_info(ui.collection(coll), sid)
        transcript = info["text"]
        with image_col:
            img = ui.guard(ui.keyframe, coll, sid, what="Keyframe")
            if img is not None:
                st.image(img, caption=f"{info['id']} ({info['category']})", width=256)
            if info["video"]:
                st.caption(f"Video: {ui.esc(info['video'])}")
        image64 = ui.guard(api.segment_image, ui.collection(coll), sid, what="Keyframe")
        if image64 is not None:
            ui.prepare_top_words(ref, image64, method)
        words = ui.guard(ui.segment_top_words, ref, coll, sid, k, method, what="Top words")
else:
    with image_col:
        upload = st.file_uploader("Upload an image (JPEG, PNG, WebP, BMP, GIF, TIFF; at most 40 megapixels)",
                                  key="i2w_upload")
    if upload is not None:
        data = upload.getvalue()
        info = ui.guard(api.inspect_upload, data, upload.name, what="Upload rejected")
        if info:
            with image_col:
                preview = ui.guard(api.image_preview, data, what="Preview")
                if preview is not None:
                    st.image(preview, width=256)
                st.caption(f"{ui.esc(upload.name)}: {info['format']}, {info['width']}x{info['height']}, mode {info['mode']}, "
                           f"{info['bytes'] / 1e3:.0f} kB (centre-cropped to 64x64 for the model)")
            ui.prepare_top_words(ref, data, method)
            words = ui.guard(ui.upload_top_words, ref, data, k, method, what="Top words")
    else:
        with words_col:
            st.info("Upload an image to see its top words.")

if words:
    in_text = set(tokenize(transcript)) if transcript else set()
    df = pd.DataFrame(words)
    if transcript:
        df["in transcript"] = ["✓" if w in in_text else "" for w in df["word"]]
    with words_col:
        st.markdown(f"**Top {len(words)} words** ({method})")
        st.dataframe(df, hide_index=True, width="stretch", height=min(36 * (len(df) + 1), 640),
                     column_config={"rank": st.column_config.NumberColumn(width="small"),
                                    "cosine": st.column_config.ProgressColumn(
                                        "cosine", format="%.3f", width="medium", min_value=0.0,
                                        max_value=max(1e-6, float(df["cosine"].max())))})
    if transcript:
        with text_col:
            hits = [w["word"] for w in words if w["word"] in in_text]
            st.markdown(f"**Real transcript** — {len(hits)} of the top {len(words)} words occur in it")
            hitset = set(hits)

            def mark(line: str) -> str:
                out = []
                for w in line.split():
                    safe = ui.esc(w)  # inert Markdown, autolinks broken
                    out.append(f"**:green[{safe}]**" if set(tokenize(w)) & hitset else safe)
                return " ".join(out)

            st.markdown("  \n".join(mark(line) for line in api.shown_text(transcript).splitlines()))
