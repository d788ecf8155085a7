"""``zoom_plot``: a Plotly chart that tells Python its view after a zoom or pan, as well as box / lasso
selections and the clicked point. ``st.plotly_chart`` reports selections only, and the Joint space of a large
collection draws its points once the user has zoomed in far enough, so it needs the view.

It is a Streamlit component (v1 message protocol): ``assets/zoom_plot/index.html``, plain JavaScript with no
build step, plus the ``plotly.min.js`` that the installed plotly package ships. Both are copied into one folder
under the cache, because a component serves files from its own folder only. The app fetches nothing from
elsewhere."""

from __future__ import annotations

import functools
import hashlib
import shutil
from pathlib import Path

import plotly
import streamlit.components.v1 as components

from explorer.paths import cache_dir

PAGE = Path(__file__).resolve().parent.parent / "assets" / "zoom_plot" / "index.html"


@functools.lru_cache(maxsize=4)
def _folder(cache: Path) -> Path:
    """The component's folder under ``cache``: index.html and plotly.min.js, made once per (page, plotly version)
    and published with an atomic rename, so a server never serves a half-copied folder. Looked up once per
    process and cache folder, not on every rerun of the page."""
    page = PAGE.read_bytes()
    folder = cache / "components" / f"zoom_plot-{plotly.__version__}-{hashlib.sha256(page).hexdigest()[:12]}"
    if not (folder / "index.html").is_file():
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        shutil.copyfile(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", tmp / "plotly.min.js")
        (tmp / "index.html").write_bytes(page)
        try:
            tmp.rename(folder)
        except OSError:  # another process published it first
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def zoom_plot(figure_json: str, key: str, height: int = 640) -> dict:
    """Draw the Plotly figure ``figure_json`` (``fig.to_json()`` or ``plotly.io.to_json``); returns the chart's
    last report, {"view": {"x": [x0, x1], "y": [y0, y1]} or None (the figure's own ranges), "selection": {"box":
    [...], "lasso": [...]} or None, "clicked": the clicked point's customdata[0] or None}, all None before the
    first interaction. ``layout.meta["whole"]`` = [x0, x1, y0, y1] is where "reset axes" goes."""
    # declared on every call: it registers with the running Streamlit runtime, and each AppTest has its own
    component = components.declare_component("zoom_plot", path=str(_folder(cache_dir())))
    value = component(figure=figure_json, height=height, key=key, default=None)
    return {"view": None, "selection": None, "clicked": None, **(value if isinstance(value, dict) else {})}
