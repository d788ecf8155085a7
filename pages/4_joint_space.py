"""Joint space: a UMAP of the model's embeddings of every segment (WebGL), with lasso / box selection."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer import api
from pages import _shared as ui

ui.frame("joint-space")

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d",
           "#31a354", "#756bb1", "#636363", "#6baed6", "#fd8d3c", "#74c476", "#9e9ac8", "#969696", "#9c9ede",
           "#e7ba52", "#b5cf6b", "#d6616b"]
MAX_LEGEND = 30  # more groups than this: one trace, colours cycled, no legend

st.title("Joint space")
st.caption("Every segment's embedding projected to 2-D (PCA to 50-d, then UMAP with the cosine metric), computed "
           "once per (model, collection) and cached on disk. Hover a point for its transcript; click, box- or "
           "lasso-select points to list them, see their keyframes and export them as CSV.")

coll = ui.require_collection()
ref = ui.require_model()
ui.model_note(ref, coll)

if not ui.guard(api.projection_ready, ref, ui.collection(coll)):
    n = len(ui.collection(coll))
    with ui.progress_bar(f"Projecting {n:,} segments once (embeddings, PCA, UMAP; then cached on disk)"):
        ui.guard(api.joint_projection, ref, ui.collection(coll), what="Projection")
df = ui.guard(ui.projection, ref, coll, what="Projection")
if df is None:
    st.stop()

modalities = list(dict.fromkeys(df["modality"]))
color_options = (["category", "split"] + (["programme"] if "programme" in df else [])
                 + (["modality"] if len(modalities) > 1 else []))
ui.default("keep_js_color", "category")
if st.session_state["keep_js_color"] not in color_options:
    st.session_state["keep_js_color"] = "category"
c1, c2, c3 = st.columns([2, 3, 2])
with c1:
    color = st.radio("Colour by", color_options, key="keep_js_color", horizontal=True)
with c2:
    if len(modalities) > 1:
        ui.default("keep_js_modalities", modalities)
        if any(m not in modalities for m in st.session_state["keep_js_modalities"]):  # another model's
            st.session_state["keep_js_modalities"] = modalities
        shown = st.multiselect("Modalities", modalities, key="keep_js_modalities",
                               help="image / text: each modality's own embedding; joint: the multimodal one")
    else:
        shown = modalities
        st.caption(f"Modality: {modalities[0]} embedding ({len(df):,} points, no sampling)")
with c3:
    ui.default("keep_js_size", 4)
    size = st.slider("Point size", 2, 10, key="keep_js_size")

if not shown:
    st.warning("No modality selected.")
    st.stop()

groups_all = sorted(set(df[color]))
ui.default("keep_js_highlight", [])
st.session_state["keep_js_highlight"] = [g for g in st.session_state["keep_js_highlight"] if g in groups_all]
highlight = st.multiselect(f"Highlight {color} values (the others turn grey; type to search)", groups_all,
                           key="keep_js_highlight", placeholder=f"all {len(groups_all)} {color} values in colour")


@st.cache_resource(show_spinner=False, max_entries=16)
def build_figure(ckpt_stamp: tuple, coll: str, coll_stamp: tuple, color: str, size: int, shown: tuple,
                 highlight: tuple = ()) -> go.Figure:
    """The plotly figure (WebGL, every point), built once per view and reused by reruns. With
    ``highlight``, only those groups are coloured (one legend entry each); the rest is one grey trace."""
    df = ui.projection(ckpt_stamp[0], coll)
    view = df[df["modality"].isin(shown)]
    groups = list(dict.fromkeys(view[color]))
    # customdata: segment id (stable, for selections), category, split, transcript snippet (+ modality)
    columns = ["id", "category", "split", "snippet"] + (["modality"] if len(shown) > 1 else [])
    custom = np.stack([view[c].to_numpy() for c in columns], axis=1)
    hover = ("<b>%{customdata[0]}</b> · %{customdata[1]} · %{customdata[2]}"
             + (" · %{customdata[4]}" if len(shown) > 1 else "") + "<br>%{customdata[3]}<extra></extra>")
    fig = go.Figure()
    codes = {g: i for i, g in enumerate(groups)}
    xs, ys = view["x"].to_numpy(), view["y"].to_numpy()
    if highlight:
        rest = ~view[color].isin(highlight).to_numpy()
        fig.add_trace(go.Scattergl(x=xs[rest], y=ys[rest], mode="markers", name="others", customdata=custom[rest],
                                   hovertemplate=hover, marker={"size": size, "color": "#d0d0d0", "opacity": 0.5}))
        for g in highlight:
            m = (view[color] == g).to_numpy()
            fig.add_trace(go.Scattergl(x=xs[m], y=ys[m], mode="markers", name=str(g), customdata=custom[m],
                                       hovertemplate=hover,
                                       marker={"size": size + 2, "color": PALETTE[codes[g] % len(PALETTE)], "opacity": 0.95}))
    elif len(groups) <= MAX_LEGEND:
        for g in groups:
            m = (view[color] == g).to_numpy()
            fig.add_trace(go.Scattergl(x=xs[m], y=ys[m], mode="markers", name=str(g), customdata=custom[m],
                                       hovertemplate=hover,
                                       marker={"size": size, "color": PALETTE[codes[g] % len(PALETTE)], "opacity": 0.8}))
    else:
        colors = [PALETTE[codes[g] % len(PALETTE)] for g in view[color]]
        fig.add_trace(go.Scattergl(x=xs, y=ys, mode="markers", name="segments", customdata=custom,
                                   hovertemplate=hover, showlegend=False,
                                   marker={"size": size, "color": colors, "opacity": 0.8}))
    fig.update_layout(height=640, margin={"l": 10, "r": 10, "t": 30, "b": 10}, dragmode="lasso",
                      legend={"itemsizing": "constant"}, xaxis={"visible": False},
                      yaxis={"visible": False, "scaleanchor": "x"},
                      title={"text": f"{len(view):,} points · colour: {color}"
                                     + (f" ({len(highlight)} of {len(groups)} highlighted)" if highlight else
                                        f" ({len(groups)} groups, legend hidden: highlight some to see them)"
                                        if len(groups) > MAX_LEGEND else ""),
                             "font": {"size": 13}})
    return fig


chart_col, side_col = st.columns([3, 1], gap="medium")
with chart_col:
    fig = build_figure(api.checkpoint_stamp(ref), coll, api.collection_stamp(coll), color, size, tuple(shown),
                       tuple(highlight))
    event = st.plotly_chart(fig, key="joint_chart", on_select="rerun", selection_mode=("points", "box", "lasso"),
                            width="stretch", config={"scrollZoom": True, "displaylogo": False})

selected = []
points = (event or {}).get("selection", {}).get("points", []) if event else []
for p in points:
    cd = p.get("customdata")
    if cd:
        selected.append(cd[0])
selected = list(dict.fromkeys(selected))

with side_col:
    if selected:
        first = selected[0]
        info = api.segment_info(ui.collection(coll), first)
        img = ui.guard(ui.keyframe, coll, first, 192)
        if img is not None:
            st.image(img, width=192)
        st.markdown(f"**{ui.esc(info['id'])}** · {ui.esc(info['category'])} · {ui.esc(info['split'])}")
        if info["video"]:
            st.caption(f"Video: {ui.esc(info['video'])}")
        st.caption(ui.esc(info["text"][:600], keep_lines=True))
    else:
        st.info("Click a point, or drag a lasso / box (toolbar), to see keyframes and transcripts here.")

if selected:
    st.subheader(f"{len(selected):,} selected segment{'s' if len(selected) != 1 else ''}")
    rows = api.selection_rows(ui.collection(coll), selected)
    shown_rows = rows[:200]
    table = pd.DataFrame(shown_rows)
    table.insert(0, "keyframe", [ui.thumb(coll, r["id"]) for r in shown_rows])
    st.dataframe(table, hide_index=True, width="stretch", row_height=48,
                 column_config={"keyframe": st.column_config.ImageColumn("keyframe", width="small"),
                                "transcript": st.column_config.TextColumn(width="large")})
    if len(rows) > 200:
        st.caption(f"Showing the first 200 of {len(rows):,}; the CSV holds all of them.")
    st.download_button("Export the selection as CSV", api.selection_csv(ui.collection(coll), selected),
                       file_name=f"selection-{coll}.csv", mime="text/csv")
