"""The explorer app: ``streamlit run app.py`` (or ``bash scripts/app.sh``, bound to localhost).

Navigation with ``st.navigation`` over the thin pages in ``pages/``; the sidebar (collection and model
pickers) is shared by every page. All work is done by ``explorer.api``; see ``docs/app.md``.
"""

import streamlit as st

from pages import _shared as ui

st.set_page_config(page_title="explorer", page_icon=ui.FAVICON, layout="wide")

def home() -> None:
    """``/``: go to the Overview, keeping a shared URL's parameters. (The default page is served at ``/``
    and only *reserves* its url_path: were the Overview the default, its documented URL ``/overview``
    would be "Page not found".)"""
    st.switch_page(PAGES[0], query_params=st.query_params.to_dict())


# Each url_path is its file's name without the number: a fresh server whose first request names a page runs
# in Streamlit's legacy multipage mode (pages/ exists), which knows pages by file name only; any other url_path
# then shows a "Page not found" dialog over the page (tests/test_browser.py, a fresh server's deep link).
PAGES = [
    st.Page("pages/1_overview.py", title="Overview", icon=":material/home:", url_path="overview"),
    st.Page("pages/2_imagery.py", title="Transcript → imagery", icon=":material/image:", url_path="imagery"),
    st.Page("pages/3_topwords.py", title="Image → top words", icon=":material/text_fields:", url_path="topwords"),
    st.Page("pages/4_joint_space.py", title="Joint space", icon=":material/scatter_plot:", url_path="joint_space"),
    st.Page("pages/5_hyperlinks.py", title="Hyperlinks", icon=":material/link:", url_path="hyperlinks"),
    st.Page("pages/6_failures.py", title="Failure cases", icon=":material/troubleshoot:", url_path="failures"),
    st.Page("pages/7_training.py", title="Training", icon=":material/model_training:", url_path="training"),
]

HOME = st.Page(home, title="Overview", url_path="home", default=True, visibility="hidden")

page = st.navigation([HOME] + PAGES)
if page is HOME:  # before the frame, so that what the frame says (e.g. a bad URL) shows on the Overview
    home()
st.session_state["_frame_drawn"] = False
ui.frame(page.url_path)
st.session_state["_frame_drawn"] = True
try:
    page.run()
finally:
    st.session_state["_frame_drawn"] = False
