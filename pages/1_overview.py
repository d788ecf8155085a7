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


def _text_view_panel(name: str, summary: dict) -> None:
    """For a collection whose keyframes are mostly missing (Pascal Sentence: 47 of 1,000): text-only
    hyperlinking over all its texts, so its categories can still be read."""
    with st.container(border=True):
        st.markdown(f"**Text-only view** — only {summary['n_segments']:,} segment(s) have a keyframe, but "
                    f"{summary['n_segments'] + summary['n_skipped']:,} rows have a text: rank all texts by averaged "
                    "skip-gram word2vec of the collection's own train texts (the text-only baseline; no model, no labels).")
        if not st.session_state.get("show_text_view"):
            st.button("Show the text-only view", key="text_view_button",
                      on_click=lambda: st.session_state.update(show_text_view=True))
            return
        with ui.progress_bar("Text-only view of every text (once per collection)"):
            view = ui.guard(api.text_view, name, what="Text-only view")
        if not view:
            return
        overall = view["per_category"][-1]
        c = st.columns(3)
        c[0].metric("Texts", f"{view['n_texts']:,}")
        c[1].metric(f"P@{view['k']}", f"{overall['p@k']:.3f}")
        c[2].metric("MAP", f"{overall['map']:.3f}")
        st.caption(f"Every text is an anchor ranking the {view['n_texts'] - 1:,} others; {view['n_categories']} categories, "
                   f"at least {view['min_targets']} relevant targets per anchor. Per category, worst P@{view['k']} first:")
        st.dataframe(pd.DataFrame(view["per_category"][:-1]).rename(columns={"p@k": f"P@{view['k']}", "map": "MAP",
                                                                             "n": "anchors"}),
                     hide_index=True, width="stretch", height=260,
                     column_config={f"P@{view['k']}": st.column_config.NumberColumn(format="%.3f"),
                                    "MAP": st.column_config.NumberColumn(format="%.3f")})


def _start_warm(all_shipped: bool) -> None:
    try:
        ui.jobs().submit_warm(all_shipped=all_shipped)
    except ui.USER_ERRORS as e:
        st.session_state["_warm_error"] = f"Cannot start warming the caches: {ui.message(e)}"


def _warm_panel(was_active: bool) -> None:
    """The one-off computations of first visits (features, embeddings, hyperlink index, projection): offer to
    run them in the background before the user waits for them, and show how far that job is."""
    store = ui.jobs()
    store.reconcile()
    job = api.warm_job(store)
    if (job is not None and job.active) != was_active:
        st.rerun()  # it started or ended: refresh the page (and the polling interval)
    err = st.session_state.pop("_warm_error", None)
    if err:
        st.error(err)  # built from ui.message(), already escaped
    if job is not None and job.active:
        prog = api.warm_progress(job)
        cur = prog["current"]
        left = f" · about {api.format_seconds(prog['eta_s'])} left" if prog["eta_s"] else ""
        st.progress(prog["done"] / prog["total"] if prog["total"] else 0.0,
                    text=f"Warming the caches in the background (job {job.id}): {prog['done']} of {prog['total'] or '?'} "
                         f"model/collection pair(s) done{left}. The pages work meanwhile.")
        if cur:
            frac = cur["done"] / cur["total"] if cur["total"] else None
            line = (f"{ui.esc(cur['checkpoint'])} on {ui.esc(cur['collection'])}: {ui.esc(cur['stage'])}"
                    + (f" · {cur['done']:,} / {cur['total']:,}" if cur["total"] else ""))
            if frac is not None:
                st.progress(min(1.0, frac), text=line)
            else:
                st.caption(line)
        if st.button("Stop warming", key="warm_cancel"):
            store.cancel(job.id)
            st.rerun()
        return
    if not coll_name:
        return
    cold = ui.cold_pairs(coll_name, job)
    if job is not None and job.status == "failed":
        st.warning(f"Warming the caches failed (job {job.id}): {ui.esc(job.message or '')}")
    if not cold:
        return
    names = ", ".join(ref.split("/")[-1].removesuffix(".pt") for ref, _ in cold[:4]) + (" …" if len(cold) > 4 else "")
    st.info(f"{len(cold)} model(s) on {ui.esc(coll_name)} have not computed their one-off caches yet "
            f"({ui.esc(names)}): the first visit of Joint space, Hyperlinks or Failure cases with one of them "
            "computes keyframes, visual features, embeddings and the projection, minutes on a CPU "
            "(bench/results/app.md, cold path). Warm them now in the background, with progress here; the "
            "pages stay usable.", icon=":material/hourglass_top:")
    c = st.columns([1, 1, 1])
    c[0].button("Warm the default models", key="warm_defaults", on_click=_start_warm, args=(False,),
                help="Each collection's default model (what the sidebar opens)")
    c[1].button("Warm all shipped models", key="warm_all", on_click=_start_warm, args=(True,),
                help="Also every shipped checkpoint on the collection it was trained on (side-by-side views)")


_warm_now = api.warm_job(ui.jobs())
_warm_active = _warm_now is not None and _warm_now.active
st.fragment(run_every=2.0 if _warm_active else None)(_warm_panel)(_warm_active)

left, right = st.columns(2, gap="large")
with left:
    st.subheader("Collection")
    if not coll_name:
        st.error(f"No collection: {api.data_problem() or 'none found'}. Set EXPLORER_DATA to the folder holding "
                 "your collections and restart the app.")
    else:
        summary = ui.guard(lambda: api.collection_summary(ui.collection(coll_name)), what=f"Collection {coll_name!r}")
        if summary:
            for text in ui.guard(ui.collection_warnings, coll_name) or []:
                st.warning(ui.esc(text), icon=":material/warning:")
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
            if ui.guard(api.text_view_available, ui.collection(coll_name)):
                _text_view_panel(coll_name, summary)
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
    st.page_link("pages/2_imagery.py", label="Visualise a transcript (Table 1)", icon=":material/image:")
    st.page_link("pages/3_topwords.py", label="Top words of an image (Table 3)", icon=":material/text_fields:")
with c[1]:
    st.page_link("pages/4_joint_space.py", label="Explore the joint space", icon=":material/scatter_plot:")
    st.page_link("pages/5_hyperlinks.py", label="Follow an anchor's hyperlinks", icon=":material/link:")
with c[2]:
    st.page_link("pages/6_failures.py", label="See where hyperlinking fails", icon=":material/troubleshoot:")
    st.page_link("pages/7_training.py", label="Train or resume a model", icon=":material/model_training:")
