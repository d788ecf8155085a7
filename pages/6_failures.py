"""Failure cases: per-category P@10 / MAP, the worst anchors of a category, and which categories steal
their top-10 places."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from explorer import api
from pages import _shared as ui

ui.frame("failures")

st.title("Failure cases")
st.caption("Hyperlinking quality per category (every anchor of the split against the rest of the split, "
           "relevance = same category), the anchors a category fails worst on, and the categories that take "
           "the top-10 places of its anchors.")

coll = ui.require_collection()
ref = ui.require_model()
ui.model_note(ref, coll)
collection = ui.collection(coll)
splits = api.split_choices(collection)
ui.default("keep_fc_split", api.default_split(collection))
if st.session_state["keep_fc_split"] not in splits:
    st.session_state["keep_fc_split"] = api.default_split(collection)

c1, c2 = st.columns([1, 3])
with c1:
    split = st.selectbox("Split", splits, key="keep_fc_split")
ui.prepare(ref, coll, split)
with st.spinner(f"Evaluating every anchor of the {split!r} split (once per model and split, then cached)…"):
    rows = ui.guard(ui.category_metrics, ref, coll, split, what="Evaluation")
if not rows:
    st.stop()
overall, cats = rows[-1], [r for r in rows[:-1] if r["n"] > 0]
scale = ui.guard(api.scale_info, ref, collection, split, what="Ranking")
if scale:
    st.caption(f"{scale['n']:,} segments in this split: these numbers are over a seeded sample of "
               f"{scale['sampled_anchors']:,} anchors, each ranked through an ANN index; MAP is the mean AP@{scale['top']}.")
with c2:
    m = st.columns(4)
    m[0].metric("P@10", f"{overall['p@k']:.3f}")
    m[1].metric("MAP", f"{overall['map']:.3f}")
    m[2].metric("Anchors", f"{overall['n']:,}")
    m[3].metric("Categories", len(cats))
if overall["n_undefined"]:
    st.caption(f"{overall['n_undefined']} anchors have no other segment of their category in this split; "
               "they are left out of every mean.")
if not cats:
    st.warning("No category has an anchor with a relevant target in this split.")
    st.stop()

st.subheader("Per category (worst first)")
names = [r["category"] for r in cats]
labels = [api.plotly_text(n) for n in names]  # Plotly draws HTML tags in axis labels: a collection's names are inert
fig = go.Figure()
fig.add_trace(go.Bar(y=labels, x=[r["p@k"] for r in cats], name="P@10", orientation="h", marker_color="#d62728"))
fig.add_trace(go.Bar(y=labels, x=[r["map"] for r in cats], name="MAP", orientation="h", marker_color="#1f77b4"))
fig.update_layout(barmode="group", height=max(260, 26 * len(cats) + 80), margin={"l": 10, "r": 10, "t": 10, "b": 10},
                  yaxis={"autorange": "reversed", "type": "category"},
                  xaxis={"range": [0, min(1.0, 1.1 * max(max(r["p@k"], r["map"]) for r in cats) + 0.02)]},
                  legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"})
fig.update_xaxes(side="top")  # the axis stays in view above a long list of bars
table_tab, chart_tab = st.tabs([f"Table of all {len(cats)} categories (sortable)", "Chart"])
with table_tab:
    import pandas as pd

    st.dataframe(pd.DataFrame([{"category": r["category"], "P@10": r["p@k"], "MAP": r["map"], "anchors": r["n"]}
                               for r in cats]),
                 hide_index=True, width="stretch", height=min(36 * len(cats) + 40, 600),
                 column_config={"P@10": st.column_config.ProgressColumn("P@10", format="%.3f", min_value=0.0, max_value=1.0),
                                "MAP": st.column_config.ProgressColumn("MAP", format="%.3f", min_value=0.0, max_value=1.0),
                                "category": st.column_config.TextColumn("category", width="medium")})
with chart_tab:
    st.plotly_chart(fig, width="stretch", config={"displaylogo": False})

st.subheader("Inspect a category")
if st.session_state.get("keep_fc_category") not in names:
    st.session_state["keep_fc_category"] = names[0]
ui.default("keep_fc_n", 3)
d1, d2 = st.columns([3, 1])
with d1:
    by_name = {r["category"]: r for r in cats}
    category = st.selectbox("Category", names, key="keep_fc_category",
                            format_func=lambda c: f"{c}  (P@10 {by_name[c]['p@k']:.2f}, MAP {by_name[c]['map']:.2f}, "
                                                  f"{by_name[c]['n']} anchors)")
with d2:
    n_worst = st.slider("Worst anchors", 1, 10, key="keep_fc_n")

steal_col, worst_col = st.columns([2, 3], gap="large")
with steal_col:
    st.markdown(f"**Who takes the top-10 places of {ui.esc(category)}'s anchors**")
    steal = ui.guard(ui.stealers, ref, coll, split, category, what="Confusion")
    if steal:
        bars = [("● " if s["own"] else "") + api.plotly_text(s["category"]) for s in steal]
        sfig = go.Figure(go.Bar(y=bars, x=[s["share"] for s in steal], orientation="h",
                                marker_color=["#2ca02c" if s["own"] else "#ff7f0e" for s in steal],
                                text=[f"{s['places']} place{'s' if s['places'] != 1 else ''}" for s in steal],
                                textposition="auto"))
        sfig.update_layout(height=max(220, 28 * len(steal) + 60), margin={"l": 10, "r": 10, "t": 10, "b": 10},
                           yaxis={"autorange": "reversed", "type": "category"}, xaxis={"title": "share of top-10 places"})
        st.plotly_chart(sfig, width="stretch", config={"displaylogo": False})
        st.caption("● its own category (correct places); the others steal places.")

with worst_col:
    st.markdown(f"**The {n_worst} worst anchors of {ui.esc(category)}** (lowest AP) and their top 10")
    worst = ui.guard(ui.worst_anchors, ref, coll, split, category, n_worst, what="Worst anchors") or []
    for res in worst:
        a = res["anchor"]
        with st.container(border=True):
            h1, h2 = st.columns([1, 5])
            with h1:
                img = ui.guard(ui.keyframe, coll, a["id"], 128)
                st.image(img if img is not None else api.NO_KEYFRAME_URI, width=96)
            with h2:
                st.markdown(f"**{ui.esc(a['id'])}** · AP {res['ap']:.3f} · P@10 {res['pk']:.2f}"
                            + (f" · video {ui.esc(a['video'])}" if a["video"] else ""))
                st.caption(ui.esc(a["snippet"]))
                st.page_link("pages/5_hyperlinks.py", label="Open in Hyperlinks", icon=":material/link:",
                             query_params={"collection": coll, "model": ref, "anchor": a["id"], "split": split})
            if a["video"]:
                with st.expander("Play the anchor and its highest-ranked wrong target"):
                    wrong = next((t for t in res["targets"] if not t["relevant"]), None)
                    v1, v2 = st.columns(2)
                    with v1:
                        st.markdown("**Anchor**")
                        ui.play_segment(coll, a["id"])
                    with v2:
                        if wrong is not None:
                            st.markdown(f"**#{wrong['rank']} {ui.esc(wrong['id'])}** ({ui.esc(str(wrong['category']))})")
                            ui.play_segment(coll, wrong["id"])
            # One row of keyframes captioned by rank and relevance only (a category name in a 56-px column would
            # wrap mid-word); the wrong targets' categories follow in one line that wraps between words.
            top = res["targets"][:10]
            st.image([ui.thumb(coll, t["id"]) for t in top], width=56,
                     caption=[f"#{t['rank']} {'✓' if t['relevant'] else '✗'}" for t in top])
            wrong_ones = [t for t in top if not t["relevant"]]
            if wrong_ones:
                st.caption("Wrong: " + " · ".join(f"#{t['rank']} {ui.esc(str(t['category']))} ({t['score']:.2f})"
                                                  for t in wrong_ones))

with st.expander("Confusion matrix of all categories (share of top-10 places)"):
    conf = ui.guard(ui.confusion, ref, coll, split, what="Confusion")
    if conf:
        order = [conf["categories"].index(c) for c in names if c in conf["categories"]]
        share = np.asarray(conf["share"])[np.ix_(order, order)]
        cells = [api.plotly_text(conf["categories"][i]) for i in order]
        hm = go.Figure(go.Heatmap(z=share, x=cells, y=cells, colorscale="Viridis",
                                  hovertemplate="anchor %{y}<br>target %{x}<br>share %{z:.2f}<extra></extra>"))
        side = max(400, 9 * len(order) + 150)
        hm.update_layout(height=side, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                         yaxis={"autorange": "reversed", "type": "category"}, xaxis={"type": "category"})
        st.plotly_chart(hm, width="stretch", config={"displaylogo": False})
        st.caption("Rows: anchor category (worst first); columns: category of the targets in their top 10.")
