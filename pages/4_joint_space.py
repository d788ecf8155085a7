"""Joint space: a UMAP of the model's embeddings of every segment (WebGL), with lasso / box selection; above
``DENSITY_ABOVE`` points (or on request) a density image that draws the points once the user zooms in."""

import hashlib

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from explorer import api, projection
from explorer.projection import DENSITY_ABOVE, POINTS_IN_VIEW
from pages import _shared as ui
from pages._zoom_plot import zoom_plot

ui.frame("joint_space")

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d",
           "#31a354", "#756bb1", "#636363", "#6baed6", "#fd8d3c", "#74c476", "#9e9ac8", "#969696", "#9c9ede",
           "#e7ba52", "#b5cf6b", "#d6616b"]
MAX_LEGEND = 30  # more groups than this: one trace, colours cycled, no legend
HOVER_SAMPLE = 5_000  # points drawn (for hover) over the density image of a large collection
DRAW_POINTS_MAX = 50_000  # the most points a view may be asked to draw one by one


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


@st.cache_resource(show_spinner=False, max_entries=12)
def view_figure(ckpt_stamp: tuple, coll: str, coll_stamp: tuple, color: str, shown: tuple, view: tuple | None,
                max_points: int) -> str:
    """One view of a large projection (``api.joint_view``) as Plotly figure JSON: its points one by one
    (coloured, to hover and click) when at most ``max_points`` are inside it, else a density image of the view with
    a seeded sample of HOVER_SAMPLE of its points to hover. Built once per view; ``layout.meta.whole`` is where
    "reset axes" goes. A plain dict, encoded without plotly's validation: validating 20,000 per-point colours and
    hover rows took 0.6 s of a zoom."""
    import base64
    import io

    import plotly.io as pio
    from PIL import Image

    pts = ui.joint_points(ckpt_stamp[0], coll)
    names, codes = ui.point_groups(ckpt_stamp[0], coll, color)
    v = api.joint_view(ckpt_stamp[0], ui.collection(coll), shown, codes, PALETTE,
                       None if view is None else {"x": view[:2], "y": view[2:]}, max_points=max_points,
                       hover_sample=HOVER_SAMPLE)
    x0, x1, y0, y1 = v["extent"]
    images = []
    if v["image"] is not None:
        buf = io.BytesIO()
        Image.fromarray(v["image"], "RGBA").save(buf, format="PNG")
        images.append({"source": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode(), "xref": "x",
                       "yref": "y", "x": x0, "y": y1, "sizex": x1 - x0, "sizey": y1 - y0, "sizing": "stretch",
                       "layer": "below"})
    rows = v["rows"]
    table = api.segments_table(ui.collection(coll), pts["segment"][rows])  # the drawn points' rows only
    # customdata: the segment id as it is (for a click), then what hover shows, made inert for Plotly's HTML
    shown_columns = [[api.plotly_text(t) for t in table[c]] for c in ("id", "category", "split", "snippet")]
    custom = np.array([table["id"]] + shown_columns, dtype=object).T.reshape(-1, 5)  # (rows, 5), also when empty
    marker = ({"size": 5, "color": np.array(PALETTE)[codes[rows] % len(PALETTE)], "opacity": 0.85}
              if v["as_points"] else {"size": 3, "color": "rgba(40,40,40,0.25)"})
    trace = {"type": "scattergl", "x": pts["x"][rows], "y": pts["y"][rows], "mode": "markers", "customdata": custom,
             "hovertemplate": "<b>%{customdata[1]}</b> · %{customdata[2]} · %{customdata[3]}<br>%{customdata[4]}"
                              "<extra></extra>", "marker": marker, "showlegend": False}
    what = (f"{v['n_in_view']:,} points in view, each drawn" if v["as_points"] else
            f"{v['n_in_view']:,} points in view as a density image (points from {max_points:,}), "
            f"{len(rows):,} sampled to hover")
    layout = {"height": 640, "margin": {"l": 10, "r": 10, "t": 30, "b": 10}, "dragmode": "zoom", "images": images,
              "modebar": {"orientation": "v"},  # beside the plot: the title is long
              "xaxis": {"visible": False, "range": [x0, x1]},
              "yaxis": {"visible": False, "range": [y0, y1], "scaleanchor": "x"},
              "meta": {"whole": list(v["whole"]), "as_points": v["as_points"]},
              "title": {"text": f"{what} · colour: {color} ({len(names)} groups)", "font": {"size": 13}}}
    return pio.to_json({"data": [trace], "layout": layout}, validate=False)


def density_view(points: dict) -> None:
    """The Joint space as a density image that draws points once zoomed in: colour by a group, modalities; the
    chart reports its view (``_zoom_plot``), a lasso or box selects every point inside it (resolved by
    ``api.joint_selection``), a click shows one segment."""
    modalities = points["modalities"]
    options = (["category", "split"] + (["programme"] if ui.collection(coll).has_times else [])
               + (["modality"] if len(modalities) > 1 else []))
    c1, c2, c3 = st.columns([2, 3, 2])
    with c1:
        ui.default("keep_js_color_dense", "category")
        if st.session_state["keep_js_color_dense"] not in options:
            st.session_state["keep_js_color_dense"] = "category"
        color = st.radio("Colour by", options, key="keep_js_color_dense", horizontal=True)
    with c2:
        # the joint (multimodal) embedding alone by default: image and text ones would triple the points
        ui.default("keep_js_modalities_dense", ["joint"] if "joint" in modalities else modalities)
        if any(m not in modalities for m in st.session_state["keep_js_modalities_dense"]):  # another model's
            st.session_state["keep_js_modalities_dense"] = modalities
        shown = (st.multiselect("Modalities", modalities, key="keep_js_modalities_dense")
                 if len(modalities) > 1 else modalities)
    with c3:
        ui.default("keep_js_points_in_view", POINTS_IN_VIEW)
        max_points = st.number_input("Draw points once at most this many are in view", min_value=1,
                                     max_value=DRAW_POINTS_MAX, step=1000, key="keep_js_points_in_view")
    if not shown:
        st.warning("No modality selected.")
        return
    st.caption("Each pixel of the image is the mean colour of its points, its opacity their count. Zoom in "
               "(drag a box, or scroll): once the view holds few enough points they are drawn one by one, to hover "
               "and click. Double-click to see everything again. Lasso or box select (toolbar): every point inside "
               "is selected on the server, not only the drawn ones.")
    # the chart's key names the projection: another model's or collection's view means nothing here
    key = "joint_zoom_" + hashlib.sha256(repr((api.checkpoint_stamp(ref), coll)).encode()).hexdigest()[:12]
    report = st.session_state.get(key) or {}
    view = ui.guard(projection.checked_view, report.get("view"), what="Chart view")
    fig = view_figure(api.checkpoint_stamp(ref), coll, api.collection_stamp(coll), color, tuple(shown), view,
                      int(max_points))
    report = zoom_plot(fig, key=key)
    if report["clicked"] is not None:
        show_segment(str(report["clicked"]))
    sel = report["selection"] or {}
    boxes, lassos = sel.get("box") or [], sel.get("lasso") or []
    if not boxes and not lassos:
        return
    picked = api.joint_selection(ref, ui.collection(coll), shown, boxes=boxes, lassos=lassos)
    every_id = ui.collection(coll).ids
    if not picked:
        st.info("No point inside the selection.")
        return
    show_selection([every_id[i] for i in picked])


def show_segment(segment: str) -> None:
    """One segment's keyframe, id, category, split and transcript (a clicked point)."""
    info = ui.guard(api.segment_info, ui.collection(coll), segment)
    if info is None:
        return
    img = ui.guard(ui.keyframe, coll, segment, 192)
    if img is not None:
        st.image(img, width=192)
    st.markdown(f"**{ui.esc(info['id'])}** · {ui.esc(info['category'])} · {ui.esc(info['split'])}")
    if info["video"]:
        st.caption(f"Video: {ui.esc(info['video'])}")
    st.caption(ui.esc(info["text"][:600], keep_lines=True))


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
large = len(points["x"]) > DENSITY_ABOVE
if not large:
    ui.default("keep_js_draw", "every point")
    st.radio("Draw", ["every point", "density, points on zoom"], key="keep_js_draw", horizontal=True,
             help="The density image is how a collection of more than "
                  f"{DENSITY_ABOVE:,} points is always drawn: an image of every point, points once zoomed in")
if large or st.session_state["keep_js_draw"] != "every point":
    density_view(points)  # a million points: an image of them, points on zoom, selections resolved server side
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
    # customdata: segment id as it is (stable, for selections), then what hover shows, made inert for Plotly's
    # HTML: id, category, split, transcript snippet (+ modality)
    columns = ["id", "category", "split", "snippet"] + (["modality"] if len(shown) > 1 else [])
    custom = np.stack([view["id"].to_numpy()] + [view[c].map(api.plotly_text).to_numpy() for c in columns], axis=1)
    hover = ("<b>%{customdata[1]}</b> · %{customdata[2]} · %{customdata[3]}"
             + (" · %{customdata[5]}" if len(shown) > 1 else "") + "<br>%{customdata[4]}<extra></extra>")
    fig = go.Figure()
    codes = {g: i for i, g in enumerate(groups)}
    xs, ys = view["x"].to_numpy(), view["y"].to_numpy()
    if highlight:
        rest = ~view[color].isin(highlight).to_numpy()
        fig.add_trace(go.Scattergl(x=xs[rest], y=ys[rest], mode="markers", name="others", customdata=custom[rest],
                                   hovertemplate=hover, marker={"size": size, "color": "#d0d0d0", "opacity": 0.5}))
        for g in highlight:
            m = (view[color] == g).to_numpy()
            fig.add_trace(go.Scattergl(x=xs[m], y=ys[m], mode="markers", name=api.plotly_text(g), customdata=custom[m],
                                       hovertemplate=hover,
                                       marker={"size": size + 2, "color": PALETTE[codes[g] % len(PALETTE)], "opacity": 0.95}))
    elif len(groups) <= MAX_LEGEND:
        for g in groups:
            m = (view[color] == g).to_numpy()
            fig.add_trace(go.Scattergl(x=xs[m], y=ys[m], mode="markers", name=api.plotly_text(g), customdata=custom[m],
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
        show_segment(selected[0])
    else:
        st.info("Click a point, or drag a lasso / box (toolbar), to see keyframes and transcripts here.")

if selected:
    show_selection(selected)
