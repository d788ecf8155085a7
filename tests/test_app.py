"""AppTest: every page of the Streamlit app opens on a small collection and checkpoint made by the tests,
and its main interaction works (typing a transcript, picking an anchor, starting and cancelling a job...).
Bad inputs are answered with ``st.error`` messages, never tracebacks, and what the user typed is kept."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from .app_fixtures import app_data, app_env, finished_job  # noqa: F401  (fixtures)

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGES = {
    "pages/1_overview.py": "Multimodal video hyperlinking explorer",
    "pages/2_imagery.py": "Transcript → imagery",
    "pages/3_topwords.py": "Image → top words",
    "pages/4_joint_space.py": "Joint space",
    "pages/5_hyperlinks.py": "Hyperlinks",
    "pages/6_failures.py": "Failure cases",
    "pages/7_training.py": "Training",
}


def open_app(page: str | None = None, params: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=float(os.environ.get("EXPLORER_APPTEST_TIMEOUT", "300")))
    if params:
        at.query_params.update(params)
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown(markdown: str) -> str:
    """Markdown source as the user reads it: backslash escapes (pages/_shared.esc) removed."""
    return re.sub(r"\\(.)", r"\1", markdown)


def errors(at: AppTest) -> list[str]:
    return [shown(e.value) for e in at.error]


def texts(at: AppTest) -> str:
    """All markdown, captions, alerts and metric labels of the page, joined (as the user reads them)."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [x.value for x in at.error] + [x.value for x in at.warning] + [x.value for x in at.info]
    parts += [x.value for x in at.success] + [f"{m.label} {m.value}" for m in at.metric]
    return shown("\n".join(parts))


def test_every_page_opens(app_env):
    at = open_app()
    for page, title in PAGES.items():
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert at.title[0].value == title
        # the only error allowed anywhere: the unusable checkpoint listed on the Overview page
        assert all("bogus" in e for e in errors(at)), (page, errors(at))
    at.switch_page("pages/1_overview.py").run()
    assert "unknown model kind 'bogus'" in "\n".join(errors(at))
    # (AppTest drops the sidebar from its element tree after the first run; the script still runs it)
    assert at.session_state["keep_collection"] in ("clips", "tiny")
    assert at.session_state["keep_model"] == app_env["ckpt_id"]


def test_sidebar_pickers(app_env):
    at = open_app(None, {"collection": "clips"})
    assert at.sidebar.selectbox(key="keep_collection").value == "clips"
    assert at.sidebar.selectbox(key="keep_collection").options == ["clips", "tiny"]
    models = at.sidebar.selectbox(key="keep_model")
    assert models.value == app_env["ckpt_id"]
    assert any("unusable" in o for o in models.options)  # the unknown-kind checkpoint is listed, marked


def test_transcript_to_imagery(app_env):
    at = open_app("pages/2_imagery.py", {"collection": "tiny"})
    at.text_area(key="keep_t2i_text").input("large white petals and zzzq").run()
    assert not errors(at)
    assert len(at.image) == 8  # one batch of 8 generated images
    assert "zzzq" in "\n".join(w.value for w in at.warning)  # unknown words are shown, not dropped
    assert "large" in texts(at) and "petals" in texts(at)
    at.button[0].click().run()  # "More images"
    assert len(at.image) == 16
    assert "Seed 1" in texts(at)

    # a segment: its transcript replaces the text and its real keyframe is shown beside the images
    at.text_input(key="keep_t2i_search").input("rose_003").run()
    at.selectbox(key="keep_t2i_segment").select("rose_003").run()
    from explorer import api

    assert at.text_area(key="keep_t2i_text").value == api.segment_info("tiny", "rose_003")["text"]
    assert any("Real keyframe of rose_003" in (c or "") for img in at.image for c in img.captions)

    # bad inputs: clear messages, and what was typed stays in the box
    at.text_area(key="keep_t2i_text").input("   ").run()
    assert any("transcript is empty" in e for e in errors(at)) and at.text_area(key="keep_t2i_text").value == "   "
    at.text_area(key="keep_t2i_text").input("zzzq qqqz").run()
    assert any("none of the words" in e and "zzzq, qqqz" in e for e in errors(at))
    assert at.text_area(key="keep_t2i_text").value == "zzzq qqqz"
    assert not at.exception

    # typed text survives a visit to another page
    at.switch_page("pages/1_overview.py").run()
    at.switch_page("pages/2_imagery.py").run()
    assert at.text_area(key="keep_t2i_text").value == "zzzq qqqz"


def _png(size=(96, 80), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, (250, 220, 30) if mode == "RGB" else 0).save(buf, format="PNG")
    return buf.getvalue()


def test_image_to_top_words(app_env):
    at = open_app("pages/3_topwords.py", {"collection": "tiny"})
    assert not errors(at)
    words = at.dataframe[0].value
    assert len(words) == 15 and list(words["rank"]) == list(range(1, 16)) and "in transcript" in words.columns
    assert "Real transcript" in texts(at)
    at.slider(key="keep_i2w_k").set_value(5).run()
    assert len(at.dataframe[0].value) == 5

    at.radio(key="keep_i2w_source").set_value("Upload an image").run()
    at.file_uploader[0].set_value(("notes.pdf", b"%PDF-1.4 not an image at all", "application/pdf")).run()
    assert any("not an image" in e for e in errors(at)) and not at.exception
    at.file_uploader[0].set_value(("huge.png", _png((10_000, 5_000), "L"), "image/png")).run()
    assert any("50 megapixels" in e and "40 MP" in e for e in errors(at)) and not at.exception
    at.file_uploader[0].set_value(("flower.png", _png(), "image/png")).run()
    assert not errors(at)
    assert len(at.dataframe[0].value) == 5 and "PNG, 96x80, mode RGB" in texts(at)


def _chart_spec(at: AppTest) -> dict:
    charts = at.get("plotly_chart")
    assert charts, "no plotly chart"
    return json.loads(charts[0].proto.spec)


def test_joint_space(app_env):
    at = open_app("pages/4_joint_space.py", {"collection": "tiny"})
    assert not errors(at)
    spec = _chart_spec(at)
    traces = spec["data"]
    assert all(t["type"] == "scattergl" for t in traces)
    ids = [cd[0] for t in traces for cd in t["customdata"]]
    assert len(ids) == 48 and len(set(ids)) == 48  # every segment, stable ids in customdata
    assert {t["name"] for t in traces} == {"lily", "rose", "sunflower", "violet"}
    at.radio(key="keep_js_color").set_value("split").run()
    assert {t["name"] for t in _chart_spec(at)["data"]} == {"train", "val", "test"}
    assert "Click a point" in texts(at)


def test_hyperlinks_shared_url_and_side_by_side(app_env):
    at = open_app(None, {"collection": "tiny", "model": app_env["ckpt_id"], "anchor": "rose_009", "split": "test"})
    at.switch_page("pages/5_hyperlinks.py").run()
    assert not at.exception and not errors(at)
    assert at.selectbox(key="keep_hl_segment").value == "rose_009"
    labels = {m.label: m.value for m in at.metric}
    assert "P@10 (only 7 targets)" in labels and "AP" in labels  # 7 targets: P@10 still divides by 10, and says so
    table = at.dataframe[0].value
    assert len(table) == 7 and list(table["rank"]) == list(range(1, 8))  # 8 test segments, the anchor excluded
    assert set(table["relevant"]) <= {"✓ yes", "✗ no"} and "rose_009" not in set(table["id"])
    assert at.query_params["anchor"] == ["rose_009"] or at.query_params["anchor"] == "rose_009"

    # the number of targets shown is part of the shared URL, both ways
    at.slider(key="keep_hl_k").set_value(7).run()
    assert str(at.query_params["k"]).strip("[]'") == "7"
    shared = open_app(None, {"collection": "tiny", "model": app_env["ckpt_id"], "anchor": "rose_009", "split": "test", "k": "6"})
    shared.switch_page("pages/5_hyperlinks.py").run()
    assert shared.slider(key="keep_hl_k").value == 6 and len(shared.dataframe[0].value) == 6 and not errors(shared)
    bad = open_app(None, {"collection": "tiny", "model": app_env["ckpt_id"], "anchor": "rose_009", "k": "lots"})
    bad.switch_page("pages/5_hyperlinks.py").run()
    assert any("Targets shown from the URL" in e for e in errors(bad)) and bad.slider(key="keep_hl_k").value == 10

    # pick another anchor: the URL follows
    at.text_input(key="keep_hl_search").input("violet").run()
    at.selectbox(key="keep_hl_segment").select("violet_011").run()
    assert "violet_011" in str(at.query_params["anchor"])
    assert at.dataframe[0].value["id"].tolist()[0] != "violet_011"

    # two models side by side
    at.selectbox(key="keep_hl_model2").select("extra/gan_cls-tiny2.pt").run()
    assert len(at.dataframe) == 2 and sum(m.label == "AP" for m in at.metric) == 2
    assert "gan_cls-tiny2.pt" in str(at.query_params["model2"])


def test_hyperlinks_show_video_times(app_env):
    at = open_app(None, {"collection": "clips", "anchor": "lily_004", "split": "all"})
    at.switch_page("pages/5_hyperlinks.py").run()
    assert not errors(at)
    assert "Video **video" in texts(at)
    table = at.dataframe[0].value
    assert "video" in table.columns and table["video"].str.startswith("video").all()


def test_failure_cases(app_env):
    at = open_app("pages/6_failures.py", {"collection": "tiny"})
    assert not errors(at)
    assert {"P@10", "MAP", "Anchors", "Categories"} <= {m.label for m in at.metric}
    at.selectbox(key="keep_fc_split").select("all").run()
    at.selectbox(key="keep_fc_category").select("violet").run()
    assert not errors(at)
    assert "worst anchors of violet" in texts(at)
    assert len(at.get("plotly_chart")) >= 2  # per-category bars + who steals the places


def _job_rows(db: str) -> list[dict]:
    import sqlite3

    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM jobs ORDER BY id")]
    finally:
        con.close()


def test_training_start_and_cancel_a_tiny_job(app_env):
    import os

    from explorer.jobs import process_status

    at = open_app("pages/7_training.py", {"collection": "tiny"})
    assert "No training job yet" in texts(at)
    at.selectbox(key="keep_tr_collection").select("tiny").run()
    at.number_input(key="keep_tr_epochs").set_value(1)
    at.radio(key="keep_tr_device").set_value("cpu")
    at.text_input(key="keep_tr_overrides").input("batch_size=8")
    at.button(key="FormSubmitter:new_job-Start training").click().run()
    assert not errors(at), errors(at)
    assert "Job 1 started" in texts(at)
    rows = _job_rows(os.environ["EXPLORER_JOBS_DB"])
    assert len(rows) == 1 and rows[0]["status"] == "running" and rows[0]["overrides"] == '{"batch_size": 8}'
    pid = rows[0]["pid"]
    assert process_status(pid)[0]

    import time

    at.button(key="cancel_1").click().run()  # returns at once; the page polls until the process is gone
    assert not at.exception
    deadline = time.time() + 60
    while _job_rows(os.environ["EXPLORER_JOBS_DB"])[0]["status"] != "cancelled":
        assert time.time() < deadline, _job_rows(os.environ["EXPLORER_JOBS_DB"])[0]
        assert "Cancelling" in texts(at) or "Cancelled" in texts(at)
        time.sleep(0.5)
        at.run()
    at.run()
    assert not process_status(pid)[0]
    assert "Cancelled" in texts(at)
    assert at.number_input(key="keep_tr_epochs").value == 1  # the form keeps what was typed

    # bad requests: clear messages, no job recorded
    at.text_input(key="keep_tr_overrides").input("no_such_option=3")
    at.button(key="FormSubmitter:new_job-Start training").click().run()
    assert any("no_such_option" in e for e in errors(at))
    from explorer.jobs import gpu_available

    if not gpu_available():
        at.text_input(key="keep_tr_overrides").input("")
        at.radio(key="keep_tr_device").set_value("cuda")
        at.button(key="FormSubmitter:new_job-Start training").click().run()
        assert any("no CUDA GPU" in e for e in errors(at))
    assert len(_job_rows(os.environ["EXPLORER_JOBS_DB"])) == 1


def test_missing_collection_in_url(app_env):
    at = open_app(None, {"collection": "nope"})
    assert any("No collection 'nope'" in e for e in errors(at))
    assert at.sidebar.selectbox(key="keep_collection").value in ("clips", "tiny")
    assert at.query_params["collection"] != "nope"


def test_checkpoint_of_unknown_kind(app_env):
    at = open_app("pages/2_imagery.py", {"collection": "tiny", "model": "extra/bogus-tiny.pt"})
    assert any("unknown model kind 'bogus'" in e for e in errors(at))
    assert not at.exception and not at.image


def test_no_checkpoint_yet_points_to_training(app_env, tmp_path, monkeypatch):
    empty = tmp_path / "no-ckpts"
    empty.mkdir()
    monkeypatch.setenv("EXPLORER_CHECKPOINTS", str(empty))
    for page in ("pages/2_imagery.py", "pages/5_hyperlinks.py"):
        at = open_app(page, {"collection": "tiny"})
        assert "No model checkpoint yet" in texts(at)
        assert any("Training" in link.label for link in at.page_link)


def test_no_data_root(app_env, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_DATA", str(tmp_path / "absent"))
    at = open_app()
    assert any("EXPLORER_DATA" in e for e in errors(at))
    at.switch_page("pages/2_imagery.py").run()
    assert not at.exception and any("No collection" in e for e in errors(at))


def test_every_page_with_a_crossmodal_feature_model(app_env, tmp_path, monkeypatch):
    """The shipped kinds other than GAN-CLS embed feature vectors and generate nothing: every page opens
    with one (here CCA on pixel features, fitted on tiny), the generative pages say what they need, and
    the joint space offers its image / text / joint embeddings."""
    from explorer.train import train

    run = train("cca", str(app_env["data"] / "tiny"), device="cpu", out=tmp_path / "cca-run", visual="pixels",
                overrides={"n_components": 3}, progress_bar=False)
    ckpts = tmp_path / "ckpts"
    ckpts.mkdir()
    (ckpts / "cca-tiny.pt").write_bytes((run / "best.pt").read_bytes())
    monkeypatch.setenv("EXPLORER_CHECKPOINTS", str(ckpts))
    at = open_app(None, {"collection": "tiny", "model": "extra/cca-tiny.pt"})
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not errors(at), (page, errors(at))
    at.switch_page("pages/2_imagery.py").run()
    assert not at.image and "generat" in texts(at).lower()
    at.switch_page("pages/4_joint_space.py").run()
    assert set(at.multiselect(key="keep_js_modalities").options) == {"image", "text", "joint"}
    at.switch_page("pages/5_hyperlinks.py").run()
    assert "P@10" in texts(at)


def _unescaped(text: str) -> str:
    """What is left of Markdown source once every backslash-escaped character is removed."""
    import re

    return re.sub(r"\\.", "", text)


def test_url_and_collection_text_are_never_rendered_as_markdown(app_env, tmp_path, monkeypatch):
    """A link in a URL parameter, and a link + image in a transcript, reach the page escaped: no
    clickable link, no image fetched by the browser (tests/test_browser.py checks the rendered page)."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(app_env["data"] / "tiny", data / "tiny")
    evil = "[Session expired: log in again](http://evil.example/login) ![x](http://evil.example/pixel.png) :red[alarm] $x^2$"
    (data / "tiny" / "rose_009.txt").write_text("red layered petals\n" + evil + "\n")
    monkeypatch.setenv("EXPLORER_DATA", str(data))

    at = open_app(None, {"collection": "tiny", "model": app_env["ckpt_id"], "anchor": evil, "split": "test"})
    at.switch_page("pages/5_hyperlinks.py").run()
    msgs = [e.value for e in at.error]  # the Markdown source, escapes included
    assert msgs and any("Session expired" in m for m in msgs)  # the bad anchor is named...
    for m in msgs:
        rest = _unescaped(m)  # ...but every Markdown character of it is escaped
        assert "](" not in rest and "[" not in rest and "http://" not in m and "$" not in rest, m

    at = open_app(None, {"collection": "tiny", "model": app_env["ckpt_id"], "anchor": "rose_009", "split": "test"})
    at.switch_page("pages/5_hyperlinks.py").run()
    shown = [c.value for c in at.caption if "Session expired" in c.value]
    assert shown, "the transcript is shown"
    for c in shown:
        rest = _unescaped(c)
        assert "](" not in rest and "![" not in rest and ":red[" not in rest and "$" not in rest, c


def test_collection_html_in_the_joint_space_hover_is_inert(app_env, tmp_path, monkeypatch):
    """Plotly draws the HTML tags it knows (<a href>, <b>, <br>) in hover and legend text, inserted values
    included: a transcript's tags reach both Joint space charts as entities, and a click or selection still
    gets the segment's own id."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(app_env["data"] / "tiny", data / "tiny")
    (data / "tiny" / "rose_009.txt").write_text('<a href="http://evil.example/x">log in</a> <b>&amp;</b>\n')
    monkeypatch.setenv("EXPLORER_DATA", str(data))
    at = open_app("pages/4_joint_space.py", {"collection": "tiny"})
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    rows = [row for trace in spec["data"] for row in trace["customdata"] if row[0] == "rose_009"]
    assert rows and rows[0][4].startswith('&lt;a href="http://evil.example/x"&gt;log in&lt;/a&gt; &lt;b&gt;&amp;amp;')
    at.radio(key="keep_js_draw").set_value("density, points on zoom").run()
    _, fig = _zoom_chart(at)
    (row,) = [r for r in fig["data"][0]["customdata"] if r[0] == "rose_009"]
    assert "<a" not in row[4] and row[4].startswith("&lt;a href=")


def test_the_private_streamlit_flag_the_app_relies_on_still_exists():
    """pages/_shared.py leaves Streamlit's legacy multipage mode through ``PagesManager.uses_pages_directory``
    (not public API; streamlit is bounded above in pyproject.toml for that reason). If this fails after an
    upgrade, the direct-URL handling in ``_shared._leave_legacy_multipage_mode`` needs another way."""
    from streamlit.runtime.pages_manager import PagesManager

    assert hasattr(PagesManager, "uses_pages_directory"), "streamlit removed PagesManager.uses_pages_directory"


def test_use_its_checkpoint_picks_the_run_in_the_sidebar_on_every_page(app_env):
    job_id, run_name = finished_job(app_env)
    at = open_app("pages/7_training.py", {"collection": "tiny"})
    want = f"runs/{run_name}/best.pt"
    assert at.selectbox(key="keep_model").value != want
    at.button(key=f"use_{job_id}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="keep_model").value == want
    assert want in str(at.query_params["model"])
    at.switch_page("pages/5_hyperlinks.py").run()
    assert at.selectbox(key="keep_model").value == want and not at.exception


def test_projection_banner_is_gone_once_the_plot_is_drawn(app_env):
    at = open_app("pages/4_joint_space.py", {"collection": "tiny", "model": "extra/gan_cls-tiny2.pt"})  # not cached yet
    assert not at.exception and at.get("plotly_chart")
    assert "Computing the projection" not in texts(at)


def _feature_collection(root: Path, n: int = 12) -> None:
    """A Wikipedia-layout collection: 8-d image and 3-d text features, no keyframes, no transcripts."""
    import numpy as np

    (root / "features").mkdir(parents=True)
    rows = ["id\tcategory\timage_path\ttext_path\tsplit\tfeature_row"]
    for i in range(n):
        split = "train" if i < n // 2 else "test"
        rows.append(f"s{i}\tc{i % 2}\t\t\t{split}\t{i if split == 'train' else i - n // 2}")
    (root / "pairs.tsv").write_text("\n".join(rows) + "\n")
    rng = np.random.default_rng(0)
    np.savez(root / "features" / "raw_features.npz", I_tr=rng.normal(size=(n // 2, 8)), I_te=rng.normal(size=(n // 2, 8)),
             T_tr=rng.normal(size=(n // 2, 3)), T_te=rng.normal(size=(n // 2, 3)))


def test_a_collection_no_checkpoint_can_read_says_so_instead_of_failing(app_env, tmp_path, monkeypatch):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(app_env["data"] / "tiny", data / "tiny")
    _feature_collection(data / "feat")
    monkeypatch.setenv("EXPLORER_DATA", str(data))
    from explorer import api

    assert api.default_checkpoint("feat") is None and api.default_checkpoint("tiny") == "extra/gan_cls-tiny.pt"
    at = open_app(None, {"collection": "feat"})
    assert any("No checkpoint can read collection 'feat'" in e for e in errors(at)), errors(at)
    at.switch_page("pages/5_hyperlinks.py").run()
    assert not at.exception
    warned = [shown(w.value) for w in at.warning]
    assert any("cannot read collection 'feat'" in w and "trained on 'tiny'" in w for w in warned), warned
    assert not at.dataframe  # no ranking attempted with a model that cannot read the inputs


def test_training_page_ingests_a_video_folder_in_the_background(app_env, tmp_path, monkeypatch):
    """The Ingest form: a bad folder gets a one-line error; a good one starts an ingest job whose panel
    shows videos done and, at the end, the skipped video with its message; the collection is then listed."""
    import os
    import time

    import pytest

    pytest.importorskip("av")
    from explorer.video.synth import make_cues, make_video, write_subtitles

    monkeypatch.setenv("EXPLORER_COLLECTIONS", str(tmp_path / "collections"))
    src = tmp_path / "videos"
    src.mkdir()
    make_video(src / "show.mp4", 25)
    write_subtitles(src / "show.srt", make_cues(25, prefix="show"))
    make_video(src / "silent.mp4", 12)  # no subtitles, no audio: skipped with a message
    at = open_app("pages/7_training.py", {"collection": "tiny"})
    at.text_input(key="keep_in_source").input(str(tmp_path / "nope"))
    at.text_input(key="keep_in_name").input("shows")
    at.button(key="FormSubmitter:new_ingest-Start ingest").click().run()
    assert any("does not exist" in e for e in errors(at)), errors(at)
    assert not _job_rows(os.environ["EXPLORER_JOBS_DB"])
    at.text_input(key="keep_in_source").input(str(src))
    at.button(key="FormSubmitter:new_ingest-Start ingest").click().run()
    assert not errors(at), errors(at)
    assert "Ingest job 1 running" in texts(at)
    deadline = time.time() + 120
    while _job_rows(os.environ["EXPLORER_JOBS_DB"])[0]["status"] == "running":
        assert time.time() < deadline
        time.sleep(0.5)
        at.run()
    at.run()
    page = texts(at)
    assert _job_rows(os.environ["EXPLORER_JOBS_DB"])[0]["status"] == "finished", page
    assert "1 video(s) with problems" in page and "2 of 2 video(s) done" in " ".join(str(p.proto.text) for p in at.get("progress"))
    assert "1 video(s) skipped or incomplete" in page
    problems = at.dataframe[-1].value
    assert list(problems["video"]) == ["silent.mp4"] and "no subtitles" in problems["message"][0]
    at = open_app(None, {"collection": "shows"})
    assert at.sidebar.selectbox(key="keep_collection").value == "shows"


def test_a_megabyte_transcript_is_shown_cut(app_env, tmp_path, monkeypatch):
    import shutil

    from explorer import api

    data = tmp_path / "data"
    shutil.copytree(app_env["data"] / "tiny", data / "tiny")
    (data / "tiny" / "rose_003.txt").write_text("red petals " * 100_000 + "\n")  # 1.1 MB
    monkeypatch.setenv("EXPLORER_DATA", str(data))
    at = open_app("pages/2_imagery.py", {"collection": "tiny"})
    at.text_input(key="keep_t2i_search").input("rose_003").run()
    at.selectbox(key="keep_t2i_segment").select("rose_003").run()
    assert not at.exception
    box = at.text_area(key="keep_t2i_text").value
    assert len(box) < api.SHOWN_TEXT_CHARS + 60 and box.endswith("more characters not shown)")
    assert all(len(t.value) < api.SHOWN_TEXT_CHARS + 60 for t in at.text)


def test_cold_computations_show_progress_with_counts(app_env, tmp_path, monkeypatch):
    """Each one-off computation of a first visit reports done / total under a progress bar (what the
    user sees while waiting; the bar is removed once it ends): the embeddings of a collection for
    Hyperlinks, the projection for Joint space, an "optimise" inversion for top words."""
    from explorer.api import generation, retrieval
    from pages import _shared

    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cold-cache"))  # nothing on disk yet
    retrieval._EMBEDDINGS.clear()  # nor in memory
    generation._INVERSIONS.clear()
    _shared.RECENT_PROGRESS.clear()
    open_app("pages/5_hyperlinks.py", {"collection": "tiny", "model": "extra/gan_cls-tiny2.pt"})
    seen = [f"{what}: {line}" for what, line in _shared.RECENT_PROGRESS]
    assert any(s.startswith("Embedding") and " / " in s for s in seen), seen

    _shared.RECENT_PROGRESS.clear()
    retrieval._EMBEDDINGS.clear()
    open_app("pages/4_joint_space.py", {"collection": "tiny", "model": "extra/gan_cls-tiny2.pt"})
    seen = [f"{what}: {line}" for what, line in _shared.RECENT_PROGRESS]
    assert any(s.startswith("Projecting") and " / " in s for s in seen), seen

    _shared.RECENT_PROGRESS.clear()
    at = open_app("pages/3_topwords.py", {"collection": "tiny", "model": "extra/gan_cls-tiny2.pt"})
    at.radio(key="keep_i2w_method").set_value("optimise").run()
    assert not at.exception and at.dataframe  # the top words are shown once the inversion ends
    lines = [line for what, line in _shared.RECENT_PROGRESS if what.startswith("Inverting")]
    assert lines and lines[-1].startswith("inverting the generator · 200 / 200"), lines
    _shared.RECENT_PROGRESS.clear()
    at.slider(key="keep_i2w_k").set_value(20).run()  # another k: the inversion is reused, no second wait
    assert not _shared.RECENT_PROGRESS and len(at.dataframe[0].value) == 20


def test_overview_offers_to_warm_cold_caches_and_the_job_warms_them(app_env, tmp_path, monkeypatch):
    """First start: the Overview says which models have cold caches and runs ``explorer warm`` as a background
    job; once it ends the pages find the hyperlink index and projection on disk, and the offer is gone."""
    import time

    from explorer import api
    from explorer.jobs import JobStore, warm_state

    monkeypatch.setenv("EXPLORER_CACHE", str(tmp_path / "cold-cache"))
    at = open_app(None, {"collection": "tiny"})
    assert "have not computed their one-off caches" in shown(texts(at))
    cold = api.cold_pairs("tiny")
    assert ("extra/gan_cls-tiny.pt", "tiny") in cold
    at.button(key="warm_defaults").click().run()
    assert not at.exception
    store = JobStore(os.environ["EXPLORER_JOBS_DB"])
    deadline = time.time() + 240
    while time.time() < deadline and store.reconcile()[0].active:
        time.sleep(0.5)
    job = store.list()[0]
    assert job.kind == "warm" and job.status == "finished", (job.status, job.message, api.job_log_tail(job.log_path))
    state = warm_state(job)
    assert state["complete"] and {(p["checkpoint"], p["collection"]) for p in state["pairs"]} >= set(cold)
    assert all(p["status"] == "done" for p in state["pairs"])
    assert api.cold_pairs("tiny") == []
    at.run()
    assert "have not computed their one-off caches" not in shown(texts(at)) and not at.exception
    at.switch_page("pages/7_training.py").run()  # the job is listed with its pairs
    assert not at.exception and "warming the app's caches" in shown(texts(at))


def test_overview_offers_a_text_only_view_of_a_mostly_imageless_collection(app_env, tmp_path, monkeypatch):
    from .test_app_api import _mostly_imageless

    data = tmp_path / "data"
    _mostly_imageless(data / "pascalish")
    monkeypatch.setenv("EXPLORER_DATA", str(data))
    at = open_app(None, {"collection": "pascalish"})
    assert "Text-only view" in texts(at) and any("text-only view" in shown(w.value) for w in at.warning)
    at.button(key="text_view_button").click().run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Texts"] == "48"  # every text, not the 12 with a keyframe
    table = next(d.value for d in at.dataframe if "P@10" in d.value.columns)
    assert len(table) == 4 and "P@10" in table.columns


def _values(v) -> list:
    """A figure's array as a list: plotly sends numeric numpy arrays as {"dtype", "bdata" (base64)}."""
    import base64

    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)


def _zoom_chart(at: AppTest) -> tuple[str, dict]:
    """The Joint space's zoomable chart (pages/_zoom_plot, a custom component): its key and the figure it was sent."""
    (chart,) = at.get("component_instance")
    assert chart.proto.component_name.endswith("zoom_plot")
    return chart.key, json.loads(json.loads(chart.proto.json_args)["figure"])


def test_joint_space_draws_a_density_image_above_the_threshold_and_points_once_zoomed_in(app_env, monkeypatch):
    """Above ``DENSITY_ABOVE`` points (forced here on the tiny collection) the page sends one image of every
    point plus a sample to hover, not every point. The chart reports its view after a zoom (set here as the
    browser would); once the view holds at most the chosen number of points, exactly those are drawn, coloured,
    and a reported click or box selection lists segments."""
    import base64

    from explorer import projection

    monkeypatch.setattr(projection, "DENSITY_ABOVE", 10)
    at = open_app("pages/4_joint_space.py", {"collection": "tiny"})
    assert not at.exception and not errors(at)
    at.number_input(key="keep_js_points_in_view").set_value(10).run()
    key, fig = _zoom_chart(at)
    images = fig["layout"]["images"]
    assert len(images) == 1 and images[0]["source"].startswith("data:image/png;base64,")
    png = Image.open(io.BytesIO(base64.b64decode(images[0]["source"].split(",", 1)[1])))
    assert png.size == (800, 640) and png.mode == "RGBA"
    assert np.count_nonzero(np.asarray(png.getchannel("A"))) >= 10  # the points are drawn in the image
    (trace,) = fig["data"]
    assert len(trace["customdata"]) == 48  # fewer than HOVER_SAMPLE: every point is hoverable
    assert "48 points in view as a density image" in fig["layout"]["title"]["text"]
    assert "Zoom in" in texts(at)
    at.radio(key="keep_js_color_dense").set_value("split").run()
    assert not at.exception and "colour: split (3 groups)" in _zoom_chart(at)[1]["layout"]["title"]["text"]

    # zoom to the left part of the projection, as the chart reports it: the points inside, one by one
    x0, x1, y0, y1 = fig["layout"]["meta"]["whole"]
    xs = sorted(_values(trace["x"]))
    cut = (xs[4] + xs[5]) / 2  # 5 points left of it
    at.session_state[key] = {"view": {"x": [x0, cut], "y": [y0, y1]}, "selection": None, "clicked": None, "seq": 1}
    at.run()
    assert not at.exception and not errors(at)
    _, zoomed = _zoom_chart(at)
    (points,) = zoomed["data"]
    assert not zoomed["layout"].get("images")
    assert sorted(_values(points["x"])) == pytest.approx(xs[:5]) and len(points["marker"]["color"]) == 5
    assert zoomed["layout"]["title"]["text"].startswith("5 points in view, each drawn")
    assert zoomed["layout"]["xaxis"]["range"] == pytest.approx([x0, cut])

    # a click shows that segment; a box selection lists every segment inside it
    clicked = points["customdata"][0][0]
    at.session_state[key] = {"view": {"x": [x0, cut], "y": [y0, y1]}, "clicked": clicked, "seq": 2,
                             "selection": {"box": [{"x": [x0, cut], "y": [y0, y1]}], "lasso": []}}
    at.run()
    assert not at.exception and not errors(at)
    assert clicked in texts(at) and "5 selected segments" in [h.value for h in at.subheader]

    # a malformed view: one line naming it, the whole projection drawn
    at.session_state[key] = {"view": {"x": [1, 1], "y": [0, 1]}, "selection": None, "clicked": None, "seq": 3}
    at.run()
    assert not at.exception and any("Chart view: view must span" in e for e in errors(at))
    assert "48 points in view" in _zoom_chart(at)[1]["layout"]["title"]["text"]


def test_joint_space_of_a_small_collection_can_be_drawn_as_a_density_image(app_env):
    at = open_app("pages/4_joint_space.py", {"collection": "tiny"})
    assert at.get("plotly_chart") and not at.get("component_instance")  # every point, st.plotly_chart
    at.radio(key="keep_js_draw").set_value("density, points on zoom").run()
    assert not at.exception and not errors(at)
    _, fig = _zoom_chart(at)
    assert fig["layout"]["title"]["text"].startswith("48 points in view, each drawn")  # 48 <= POINTS_IN_VIEW
