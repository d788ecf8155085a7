"""Overview: what is loaded (collection counts, checkpoints with their model cards and metrics), what next."""

import pandas as pd
import streamlit as st

from explorer import api
from pages import _shared as ui

ui.frame("overview")

st.title("Multimodal video hyperlinking explorer")
st.caption("Keyframe + transcript representations learned with GANs (Vukotić et al., ICMR 2017): the "
           "discriminator's 1x1-convolution output is the multimodal embedding, its generator visualises "
           "transcripts, and the inverted generator gives an image's top words. The default GAN is gan_proj "
           "(GAN-CLS with a projected, contrastive discriminator, which learns on a CPU); gan_cls is the "
           "paper-faithful one.")

ctx = ui.ctx()
coll_name = ctx["collection"]

left, right = st.columns(2, gap="large")
with left:
    st.subheader("Collection")
    if not coll_name:
        st.error(f"No collection: {api.data_problem() or 'none found'}. Set EXPLORER_DATA to the folder holding "
                 "your collections and restart the app.")
    else:
        summary = ui.guard(lambda: api.collection_summary(ui.collection(coll_name)), what=f"Collection {coll_name!r}")
        if summary:
            st.markdown(f"**{ui.esc(summary['name'])}** — {ui.esc(summary['root'])} ({summary['layout']} layout"
                        f"{', features only' if summary['features_only'] else ''})")
            c = st.columns(4)
            c[0].metric("Segments", f"{summary['n_segments']:,}")
            c[1].metric("Categories", summary["n_categories"])
            c[2].metric("Splits", len(summary["splits"]),
                        help=", ".join(f"{k}: {v}" for k, v in summary["splits"].items()))
            c[3].metric("Videos" if summary["has_times"] else "Skipped rows",
                        summary["n_videos"] if summary["has_times"] else summary["n_skipped"])
            st.caption("Splits: " + ", ".join(f"{k} {v:,}" for k, v in summary["splits"].items())
                       + (" · segments carry video times (video id, start, end)" if summary["has_times"] else ""))
            if summary["n_skipped"]:
                with st.expander(f"{summary['n_skipped']} rows skipped while loading"):
                    st.write(summary["skipped_examples"])
            with st.expander("Segments per category"):
                st.dataframe(pd.DataFrame({"category": list(summary["categories"]),
                                           "segments": list(summary["categories"].values())}),
                             hide_index=True, width="stretch", height=240)

with right:
    st.subheader("Model")
    ref = ctx["model"]
    if not ref:
        st.warning("No model checkpoint yet: the shipped GAN checkpoints "
                   "(checkpoints/gan_proj-flowers102_reed.pt, gan_cls-flowers102_reed.pt) are not there and no "
                   "training run has finished one.")
        st.page_link("pages/7_training.py", label="Start a training job", icon=":material/model_training:")
    else:
        card = ui.guard(ui.card, ref, what=f"Checkpoint {ref}")
        if card:
            m = card["metrics"]
            prog = card["progress"]
            st.markdown(f"**{ui.esc(ui.entry(ref)['label'] if ui.entry(ref) else ref)}** — kind `{card['kind']}`")
            st.caption(card["description"])
            c = st.columns(3)
            c[0].metric("val P@10", f"{m['val_p@10']:.3f}" if "val_p@10" in m else "—")
            c[1].metric("val MAP", f"{m['val_map']:.3f}" if "val_map" in m else "—")
            c[2].metric("Epoch", f"{prog.get('epoch', '—')}/{prog.get('epochs', '—')}")
            trained = card["collection"].get("name")
            lines = [f"Trained on **{ui.esc(trained)}** ({card['collection'].get('n_segments', '?')} train segments)"
                     if trained else "Training collection unknown",
                     f"{card['train_seconds'] / 60:.1f} min on {ui.esc(card['hardware'])}" if card.get("train_seconds") else None,
                     f"created {card['created']}" if card.get("created") else None,
                     f"{card['bytes'] / 1e6:.1f} MB",
                     "generates images from transcripts" if card["generative"] else "no generator"]
            st.markdown(" · ".join(x for x in lines if x))
            if trained and coll_name and trained != coll_name:
                st.info(f"This model was trained on {ui.esc(repr(trained))}; the pages show it on {ui.esc(repr(coll_name))}.")
            dims = ui.guard(ui.dims, ref, what="Embeddings")
            if dims:
                st.caption("Embeddings: " + ", ".join(f"{k} {v}-d" for k, v in dims.items()))
            card_md = api.model_card_text(ref)
            if card_md:
                with st.expander("Model card (shipped with the checkpoint)"):
                    st.markdown(card_md)
            with st.expander("Configuration and versions"):
                st.json({"config": card["config"], "data_spec": card["data_spec"], "versions": card["versions"]},
                        expanded=False)

st.subheader("All checkpoints")
entries = ctx["entries"]
if entries:
    rows = [{"checkpoint": e["label"], "kind": e["kind"], "trained on": e["collection"], "epoch": e["epoch"],
             "val P@10": e["metrics"].get("val_p@10"), "val MAP": e["metrics"].get("val_map"),
             "MB": round(e["size"] / 1e6, 1), "problem": e["problem"] or ""} for e in entries]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={"val P@10": st.column_config.NumberColumn(format="%.3f"),
                                "val MAP": st.column_config.NumberColumn(format="%.3f")})
    for e in entries:
        if not e["supported"]:
            st.error(f"{ui.esc(e['label'])}: {ui.esc(e['problem'])}")
else:
    st.info("No checkpoint found in checkpoints/, EXPLORER_CHECKPOINTS or the runs folder.")

st.subheader("What next")
c = st.columns(3)
with c[0]:
    st.page_link("pages/2_transcript_to_images.py", label="Visualise a transcript (Table 1)", icon=":material/image:")
    st.page_link("pages/3_image_to_words.py", label="Top words of an image (Table 3)", icon=":material/text_fields:")
with c[1]:
    st.page_link("pages/4_joint_space.py", label="Explore the joint space", icon=":material/scatter_plot:")
    st.page_link("pages/5_hyperlinks.py", label="Follow an anchor's hyperlinks", icon=":material/link:")
with c[2]:
    st.page_link("pages/6_failure_cases.py", label="See where hyperlinking fails", icon=":material/troubleshoot:")
    st.page_link("pages/7_training.py", label="Train or resume a model", icon=":material/model_training:")
