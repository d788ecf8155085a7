"""Joint space: a UMAP of the model's embeddings of every segment (WebGL), with lasso / box selection."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer import api
from explorer.projection import DENSITY_ABOVE
from pages import _shared as ui

ui.frame("joint_space")

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d",
           "#31a354", "#756bb1", "#636363", "#6baed6", "#fd8d3c", "#74c476", "#9e9ac8", "#969696", "#9c9ede",
           "#e7ba52", "#b5cf6b", "#d6616b"]
MAX_LEGEND = 30  # more groups than this: one trace, colours cycled, no legend
HOVER_SAMPLE = 5_000  # points drawn (for hover) over the density image of a large collection
DRAW_SELECTED_MAX = 20_000  # a selection of up to this many points can be drawn point by point


def show_selection(selected: list[str]) -> None:
    """The selected segments: a table (first 200) with keyframes, and the whole selection as CSV."""
    st.subheader(f"{len(selected):,} selected segment{'s' if len(selected) != 1 else ''}")
    rows = api.selection_rows(ui.collection(coll), selected[:200])
    table = pd.DataFrame(rows)
    table.insert(0, "keyframe", [ui.thumb(coll, r["id"]) for r in rows])
    st.dataframe(table, hide_index=True, width="stretch", row_height=48,
                 column_config={"keyframe": st.column_config.ImageColumn("keyframe", width="small"),
                                "transcript": st.column_config.TextColumn(width="large")})
    if len(selected) > 200:
        st.caption(f"Showing the first 200 of {len(selected):,}; the CSV holds all of them.")
    st.download_button("Export the selection as CSV", api.selection_csv(ui.collection(coll), selected),
                       file_name=f"selection-{coll}.csv", mime="text/csv")


@st.cache_resource(show_spinner=False, max_entries=8)
def density_figure(ckpt_stamp: tuple, coll: str, coll_stamp: tuple, color: str, shown: tuple) -> go.Figure:
    """Every shown point aggregated into one coloured image (``projection.density_rgba``), plus a seeded sample
    of HOVER_SAMPLE points to hover and to drag a lasso over; built once per view."""
    import base64
    import io

    from PIL import Image

    from explorer.projection import density_rgba

    pts = ui.joint_points(ckpt_stamp[0], coll)
    names, codes = ui.point_groups(ckpt_stamp[0], coll, color)
    keep = np.flatnonzero(np.isin(pts["modality"], list(shown)))
    x, y = pts["x"][keep], pts["y"][keep]
    pad_x, pad_y = 0.02 * float(np.ptp(x) or 1.0), 0.02 * float(np.ptp(y) or 1.0)
    extent = (float(x.min()) - pad_x, float(x.max()) + pad_x, float(y.min()) - pad_y, float(y.max()) + pad_y)
    rgb_of = np.array([[int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)] for c in PALETTE], dtype=np.float64)
    image = density_rgba(x, y, rgb_of[codes[keep] % len(PALETTE)], extent, size=(800, 640))
    buf = io.BytesIO()
    Image.fromarray(image, "RGBA").save(buf, format="PNG")
    fig = go.Figure()
    fig.add_layout_image(source="data:image/png;base64," + base64.b64encode(buf.getvalue()).decode(), xref="x", yref="y",
                         x=extent[0], y=extent[3], sizex=extent[1] - extent[0], sizey=extent[3] - extent[2],
                         sizing="stretch", layer="below")
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(len(keep), size=min(HOVER_SAMPLE, len(keep)), replace=False))
    table = api.segments_table(ui.collection(coll), pts["segment"][keep[sample]])  # the sample's rows only
    custom = np.array([table[c] for c in ("id", "category", "split", "snippet")], dtype=object).T
    fig.add_trace(go.Scattergl(x=x[sample], y=y[sample], mode="markers", name="sample", customdata=custom,
                               hovertemplate="<b>%{customdata[0]}</b> · %{customdata[1]} · %{customdata[2]}"
                                             "<br>%{customdata[3]}<extra></extra>",
                               marker={"size": 3, "color": "rgba(40,40,40,0.25)"}, showlegend=False))
    fig.update_layout(height=640, margin={"l": 10, "r": 10, "t": 30, "b": 10}, dragmode="lasso",
                      xaxis={"visible": False, "range": list(extent[:2])},
                      yaxis={"visible": False, "range": list(extent[2:]), "scaleanchor": "x"},
                      title={"text": f"{len(keep):,} points as a density image, colour: {color} ({len(names)} groups); "
                                     f"{len(sample):,} sampled points to hover", "font": {"size": 13}})
    return fig


def density_view(points: dict) -> None:
    """The Joint space of a large collection: colour by a group, modalities, a lasso or box over the image
    selects every point inside it (resolved by ``api.joint_selection``), and a small selection can be drawn."""
    modalities = points["modalities"]
    options = (["category", "split"] + (["programme"] if ui.collection(coll).has_times else [])
               + (["modality"] if len(modalities) > 1 else []))
    c1, c2 = st.columns([2, 3])
    with c1:
        ui.default("keep_js_color_dense", "category")
        color = st.radio("Colour by", options, key="keep_js_color_dense", horizontal=True)
    with c2:
        # the joint (multimodal) embedding alone by default: image and text ones would triple the points
        ui.default("keep_js_modalities_dense", ["joint"] if "joint" in modalities else modalities)
        if any(m not in modalities for m in st.session_state["keep_js_modalities_dense"]):  # another model's
            st.session_state["keep_js_modalities_dense"] = modalities
        shown = (st.multiselect("Modalities", modalities, key="keep_js_modalities_dense")
                 if len(modalities) > 1 else modalities)
    if not shown:
        st.warning("No modality selected.")
        return
    n_shown = sum(int(np.count_nonzero(points["modality"] == m)) for m in shown)
    st.caption(f"{n_shown:,} points: more than {DENSITY_ABOVE:,}, so they are drawn as one image (each pixel the "
               f"mean colour of its points, opacity by count) with {HOVER_SAMPLE:,} sampled points to hover. Drag a "
               "lasso or a box: every point inside it is selected on the server, not only the sampled ones.")
    fig = density_figure(api.checkpoint_stamp(ref), coll, api.collection_stamp(coll), color, tuple(shown))
    event = st.plotly_chart(fig, key="joint_chart_dense", on_select="rerun", selection_mode=("box", "lasso"),
                            width="stretch", config={"scrollZoom": True, "displaylogo": False})
    sel = (event or {}).get("selection", {}) if event else {}
    boxes, lassos = sel.get("box") or [], sel.get("lasso") or []
    if not boxes and not lassos:
        st.info("Drag a lasso or a box (toolbar) over the image to select the segments inside it.")
        return
    picked = api.joint_selection(ref, ui.collection(coll), shown, boxes=boxes, lassos=lassos)
    every_id = ui.collection(coll).ids
    ids = [every_id[i] for i in picked]
    if not ids:
        st.info("No point inside the selection.")
        return
    if len(ids) <= DRAW_SELECTED_MAX and st.toggle(f"Draw the {len(ids):,} selected segments point by point",
                                                   key="keep_js_draw_selected"):
        names, codes = ui.point_groups(ref, coll, color)
        mask = np.isin(points["segment"], picked) & np.isin(points["modality"], list(shown))
        colors = [PALETTE[c % len(PALETTE)] for c in codes[mask]]
        zoom = go.Figure(go.Scattergl(x=points["x"][mask], y=points["y"][mask], mode="markers",
                                      text=[f"{every_id[i]} · {names[c]}" for i, c in zip(points["segment"][mask], codes[mask])],
                                      hoverinfo="text", marker={"size": 5, "color": colors, "opacity": 0.8}))
        zoom.update_layout(height=480, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis={"visible": False},
                           yaxis={"visible": False, "scaleanchor": "x"})
        st.plotly_chart(zoom, key="joint_chart_zoom", width="stretch")
    show_selection(ids)

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
points = ui.guard(ui.joint_points, ref, coll, what="Projection")
if points is None:
    st.stop()
if len(points["x"]) > DENSITY_ABOVE:
    density_view(points)  # a million points: an image of them, a sample to hover, selections resolved server side
    st.stop()
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
    show_selection(selected)
