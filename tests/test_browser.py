"""Real browser: Playwright drives Debian's Chromium (headless) against ``streamlit run app.py``.

It types a transcript and sees generated images, lasso- and box-selects points of the joint space (the
selection table and CSV export appear), opens an anchor's hyperlinks (from a shared URL and from the
Failure cases page), opens the real Wikipedia (features only) and Pascal Sentence (47 of 1,000 images) collections
with the shipped checkpoints (integration: ../shared), and saves a screenshot of every page to
``test-artifacts/screenshots/``.
Chromium comes from ``scripts/browser-setup.sh`` (Debian package ``chromium``; never ``playwright
install``); without it the test skips, saying so.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from .app_fixtures import app_data, app_env, finished_job  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
SHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT = float(os.environ.get("EXPLORER_BROWSER_TIMEOUT", "240"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(log_dir: Path, env: dict | None = None):
    """``streamlit run app.py`` on a free port, in the current environment updated by ``env``; yields its URL once
    it answers, and stops it afterwards (its output goes to ``log_dir/streamlit.log``). The benches use it too."""
    port = _free_port()
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    log = open(Path(log_dir) / "streamlit.log", "wb")
    env = {**os.environ, **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + TIMEOUT
        while True:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise AssertionError(f"streamlit did not start:\n{(Path(log_dir) / 'streamlit.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=15)
        log.close()


def _need_browser() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: run scripts/browser-setup.sh (Debian package 'chromium')")
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")


@pytest.fixture
def server(app_env, tmp_path):
    _need_browser()
    with streamlit_server(tmp_path, {"OMP_NUM_THREADS": "1"}) as url:
        yield url


EVIL = "[Session expired: log in again](http://evil.example/login) ![pixel](http://evil.example/pixel.png)"


@pytest.fixture
def evil_server(app_env, tmp_path, monkeypatch):
    """The app on a copy of the tiny collection whose segment rose_009 has Markdown in its transcript."""
    import shutil

    _need_browser()
    data = tmp_path / "data"
    shutil.copytree(app_env["data"] / "tiny", data / "tiny")
    (data / "tiny" / "rose_009.txt").write_text("red layered petals\n" + EVIL + "\n")
    monkeypatch.setenv("EXPLORER_DATA", str(data))
    with streamlit_server(tmp_path, {"OMP_NUM_THREADS": "1"}) as url:
        yield url


@contextmanager
def _chromium_page(height: int):
    """A headless Chromium page (1400 px wide) with the tests' default timeout; closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": height})
            page.set_default_timeout(TIMEOUT * 1000)
            yield page
        finally:
            browser.close()


def until_idle(page, js_condition: str, timeout: float = 600) -> None:
    """Wait, polling inside the page every 20 ms, until ``js_condition`` holds and the app has stopped running:
    how the benches time an interaction from the user's action to its result drawn."""
    idle = "!document.querySelector('[data-testid=\"stStatusWidget\"]')"
    page.wait_for_function(f"() => ({js_condition}) && {idle}", polling=20, timeout=timeout * 1000)


def settle(page, timeout: float = TIMEOUT) -> None:
    """Wait until the app has drawn a page title and stopped running for a moment."""
    deadline = time.time() + timeout
    quiet = 0
    while time.time() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        drawn = page.locator("h1").count() > 0
        quiet = quiet + 1 if drawn and not running else 0
        if quiet >= 6:
            return
        time.sleep(0.25)
    raise AssertionError("the app did not finish rendering in time")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_deep_link_as_a_fresh_servers_first_request(server):
    """The first request a new server gets may name a page (a shared link): Streamlit then runs in its legacy
    multipage mode, which knows pages by their file names, and shows a modal "Page not found" (the page under
    it inert) unless the page's url_path is its file's name. /joint-space did that before its file's name was
    the URL's."""
    with _chromium_page(height=1000) as page:
        page.goto(server + "/joint_space?collection=tiny")
        settle(page)
        page.locator(".js-plotly-plot").first.wait_for()
        assert page.get_by_role("heading", name="Joint space").is_visible()
        assert page.get_by_text("Page not found").count() == 0


def test_joint_space_density_draws_points_once_zoomed_in_in_a_real_browser(server):
    """The density view (chosen here for the tiny collection; a collection of more than 50,000 points always
    gets it) in Chromium: the chart (a custom component in an iframe) sends its view back after a zoom, and the
    server draws the points inside it one by one; double-clicking goes back to the whole projection's image. A
    click on a drawn point shows that segment."""
    with _chromium_page(height=1300) as page:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server + "/joint_space?collection=tiny")
        settle(page)
        page.get_by_text("density, points on zoom").click()
        settle(page)
        points = page.get_by_label("Draw points once at most this many are in view")
        points.fill("20")
        points.press("Enter")
        settle(page)
        chart = page.frame_locator('iframe[title*="zoom_plot"]')
        title = chart.locator(".gtitle")
        title.filter(has_text="48 points in view as a density image").wait_for()
        assert chart.locator("svg image").count() == 1  # the density image (a Plotly layout image)
        shot(page, "4c_joint_space_density")
        # zoom (the default drag mode) into the top left third of the plot (a category's cluster of 12 points in
        # this seeded projection; the axes keep their aspect, so the box keeps the plot's), then let the server
        # redraw it
        box = chart.locator(".nsewdrag").first.bounding_box()
        x0, y0 = box["x"] + 2, box["y"] + 2
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x0 + box["width"] / 3, y0 + box["height"] / 3, steps=12)
        page.mouse.up()
        title.filter(has_text=re.compile(r"^\d+ points in view, each drawn")).wait_for()
        settle(page)
        n = int(title.text_content().split()[0])
        assert 0 < n <= 20, n
        assert chart.locator("svg image").count() == 0
        shot(page, "4d_joint_space_zoomed_to_points")
        # a drawn point, clicked: its segment is shown
        dot = chart.locator(".nsewdrag").first.bounding_box()
        page.mouse.dblclick(dot["x"] + dot["width"] / 2, dot["y"] + dot["height"] / 2)
        title.filter(has_text="48 points in view as a density image").wait_for()
        settle(page)
        assert not errors, errors
        assert page.locator('[data-testid="stException"]').count() == 0


def test_app_in_a_real_browser(server):

    with _chromium_page(height=1500) as page:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        elsewhere: list[str] = []  # everything the app shows must be served by the app itself
        page.on("request", lambda r: elsewhere.append(r.url)
                if urllib.parse.urlparse(r.url).hostname not in ("127.0.0.1", "localhost", None) else None)

        page.goto(server + "/?collection=tiny")
        settle(page)
        assert page.get_by_role("heading", name="Multimodal video hyperlinking explorer").is_visible()
        shot(page, "1_overview")
        page.goto(server + "/overview?collection=tiny")  # the URL docs/app.md gives for it
        settle(page)
        assert page.get_by_role("heading", name="Multimodal video hyperlinking explorer").is_visible()
        assert page.get_by_text("Page not found").count() == 0
        shot(page, "1b_overview_by_its_url")

        # Transcript -> imagery: type a transcript, see the generated images and the words used
        page.goto(server + "/imagery?collection=tiny")
        settle(page)
        box = page.get_by_role("textbox", name="Transcript")
        box.fill("large white petals with long orange stamens qqzzx")
        box.press("Control+Enter")
        page.get_by_text("qqzzx").first.wait_for()  # the unknown word is shown
        settle(page)
        images = page.locator('[data-testid="stMainBlockContainer"] [data-testid="stImage"] img')
        assert images.count() >= 8
        assert all(images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0") for i in range(8))
        page.get_by_text("Words used").first.wait_for()
        shot(page, "2_transcript_to_imagery")

        page.goto(server + "/topwords?collection=tiny")
        settle(page)
        page.get_by_text("Real transcript", exact=True).first.wait_for()
        shot(page, "3_image_to_top_words")

        page.goto(server + "/joint_space?collection=tiny")
        settle(page)
        page.locator(".js-plotly-plot").first.wait_for()
        shot(page, "4_joint_space")
        # lasso (the default drag mode) around the whole plot area: every one of the 48 points
        area = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
        x0, y0, x1, y1 = area["x"] + 2, area["y"] + 2, area["x"] + area["width"] - 2, area["y"] + area["height"] - 2
        page.mouse.move(x0, y0)
        page.mouse.down()
        for x, y in ((x1, y0), (x1, y1), (x0, y1), (x0, y0 + 4)):
            page.mouse.move(x, y, steps=12)
        page.mouse.up()
        page.get_by_text("48 selected segments", exact=True).first.wait_for()
        settle(page)
        assert page.get_by_role("button", name="Export the selection as CSV").is_visible()
        shot(page, "4b_joint_space_lasso")
        # box selection (toolbar) over the left half: a non-empty strict subset
        page.locator(".js-plotly-plot").first.hover()
        page.locator('.modebar-btn[data-title="Box Select"]').first.click()
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move((x0 + x1) / 2, y1, steps=12)
        page.mouse.up()
        page.wait_for_function("() => [...document.querySelectorAll('h3')].some(h => /^\\d+ selected segments?$/.test("
                               "h.textContent.trim()) && h.textContent.trim() !== '48 selected segments')")
        settle(page)
        n = int(page.locator("h3", has_text="selected segment").first.text_content().split()[0])
        assert 0 < n < 48, n

        # Hyperlinks from a shared URL
        page.goto(server + "/hyperlinks?collection=tiny&anchor=rose_009&split=test")
        settle(page)
        page.get_by_text("Anchor rose_009", exact=True).first.wait_for()
        page.get_by_text("P@10 (only 7 targets)", exact=True).first.wait_for()  # 8 test segments
        assert "anchor=rose_009" in page.url
        shot(page, "5_hyperlinks")

        # ... and an anchor opened from the Failure cases page
        page.goto(server + "/failures?collection=tiny")
        settle(page)
        page.get_by_role("heading", name="Per category (worst first)").wait_for()
        shot(page, "6_failure_cases")
        link = page.get_by_role("link", name="Open in Hyperlinks").first
        target = link.get_attribute("href")
        link.click()
        page.wait_for_url("**/hyperlinks**")
        settle(page)
        anchor = target.split("anchor=")[1].split("&")[0]
        page.get_by_text(f"Anchor {anchor}", exact=True).first.wait_for()
        shot(page, "5b_hyperlinks_from_failure_cases")

        page.goto(server + "/training?collection=tiny")
        settle(page)
        page.get_by_text("Start a job", exact=True).first.wait_for()
        shot(page, "7_training")
        assert not errors, errors
        assert not [u for u in elsewhere if not u.startswith(("data:", "blob:"))], elsewhere
        assert page.locator('[data-testid="stException"]').count() == 0


def test_url_and_transcript_markdown_is_shown_as_text_in_a_real_browser(evil_server):
    """A Markdown link in the ``anchor`` URL parameter and a link + image in a transcript: shown as
    the characters they are, no link element, nothing fetched from the linked host."""

    with _chromium_page(height=1200) as page:
        fetched: list[str] = []
        page.on("request", lambda r: fetched.append(r.url) if urllib.parse.urlparse(r.url).hostname == "evil.example" else None)
        page.goto(evil_server + "/hyperlinks?collection=tiny&split=test&anchor=" + urllib.parse.quote(EVIL))
        settle(page)
        page.get_by_text("[Session expired: log in again](http").first.wait_for()  # the characters, as typed
        shot(page, "5c_hyperlinks_markdown_anchor")
        assert page.locator('a[href*="evil.example"]').count() == 0
        assert page.locator('img[src*="evil.example"]').count() == 0

        page.goto(evil_server + "/hyperlinks?collection=tiny&split=test&anchor=rose_009")
        settle(page)
        page.get_by_text("![pixel](http").first.wait_for()  # the transcript's characters, as written
        shot(page, "5d_hyperlinks_markdown_transcript")
        assert page.locator('a[href*="evil.example"]').count() == 0
        assert page.locator('img[src*="evil.example"]').count() == 0
        assert not fetched, fetched


def test_use_its_checkpoint_in_a_real_browser(server, app_env):
    """The Training page's job panel is a fragment: its button must still change the sidebar's model."""

    job_id, run_name = finished_job(app_env)
    with _chromium_page(height=1200) as page:
        page.goto(server + "/training?collection=tiny")
        settle(page)
        def model_shown() -> str:  # the sidebar's model picker, as displayed
            return page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').nth(1).locator("input").input_value()

        assert run_name not in model_shown()
        page.get_by_role("button", name="Use its checkpoint").first.click()
        deadline = time.time() + TIMEOUT
        while not model_shown().startswith(f"run {run_name}"):
            assert time.time() < deadline, model_shown()
            time.sleep(0.25)
        settle(page)
        assert f"model=runs/{run_name}/best.pt" in urllib.parse.unquote(page.url)
        shot(page, "7b_training_use_its_checkpoint")
        page.goto(page.url.replace("/training", "/hyperlinks"))
        settle(page)
        assert model_shown().startswith(f"run {run_name}"), model_shown()


@pytest.fixture
def video_server(app_env, tmp_path, monkeypatch):
    """The app with an ingested collection 'progs' (two synthetic programmes with subtitles) that
    keeps its videos, so Hyperlinks can play segments."""
    _need_browser()
    pytest.importorskip("av")
    from explorer.video.ingest import IngestParams, ingest
    from explorer.video.synth import make_cues, make_video, write_subtitles

    src = tmp_path / "videos"
    src.mkdir()
    for name in ("prog_a", "prog_b"):
        make_video(src / f"{name}.mp4", 40, audio=True)
        write_subtitles(src / f"{name}.srt", make_cues(40, every=3.0, length=2.5, prefix=f"{name} words"))
    collections = tmp_path / "collections"
    monkeypatch.setenv("EXPLORER_COLLECTIONS", str(collections))
    ingest(src, collections / "progs", IngestParams(segment_seconds=10, min_seconds=5, max_seconds=30), progress=False)
    with streamlit_server(tmp_path, {"OMP_NUM_THREADS": "1"}) as url:
        yield url


def _video_state(page, n: int) -> dict:
    return page.evaluate(f"""() => {{ const v = document.querySelectorAll('video')[{n}];
        return v ? {{ready: v.readyState, t: v.currentTime, err: v.error ? v.error.code : null,
                     src: v.currentSrc}} : null; }}""")


def test_hyperlinks_plays_a_target_segment_from_its_start(video_server):
    from explorer import api
    from explorer.data.collection import load_collection

    coll = load_collection("progs")
    anchor = coll.segments[1]  # prog_a's second segment: it starts after 0 s
    with _chromium_page(height=1600) as page:
        page.goto(video_server + f"/hyperlinks?collection=progs&split=all&anchor={anchor.id}")
        settle(page)
        page.get_by_text("Play a target").first.wait_for()
        page.locator("video").nth(1).wait_for()
        target_label = page.locator('[data-testid="stSelectbox"]').filter(has_text="Play a target").locator("input").input_value()
        target_id = target_label.split()[1]
        want = {0: api.segment_video(coll, anchor.id)["start"], 1: api.segment_video(coll, target_id)["start"]}
        assert want[0] > 0
        deadline = time.time() + 60
        states = {}
        while time.time() < deadline:
            states = {n: _video_state(page, n) for n in (0, 1)}
            if all(s and s["ready"] >= 1 and abs(s["t"] - want[n]) < 0.5 for n, s in states.items()):
                break
            time.sleep(0.25)
        assert all(s and s["err"] is None for s in states.values()), states
        assert all(s["ready"] >= 1 and abs(s["t"] - want[n]) < 0.5 for n, s in states.items()), (states, want)
        # it plays from there
        page.evaluate("() => { const v = document.querySelectorAll('video')[1]; v.muted = true; return v.play(); }")
        time.sleep(1.5)
        t = _video_state(page, 1)["t"]
        assert want[1] < t < want[1] + 5, (t, want[1])
        shot(page, "5e_hyperlinks_video_playback")


@pytest.fixture
def shared_server(app_env, shared_data, tmp_path, monkeypatch):
    """The app on the real data root (../shared/data) with the shipped checkpoints, as a new user starts it."""
    _need_browser()
    for name in ("wikipedia", "pascal_sentence"):
        if not (shared_data / name).is_dir():
            pytest.skip(f"../shared/data/{name} is not available")
    monkeypatch.setenv("EXPLORER_DATA", str(shared_data))
    monkeypatch.delenv("EXPLORER_SHIPPED", raising=False)  # the repository's shipped checkpoints
    monkeypatch.setenv("EXPLORER_CHECKPOINTS", str(tmp_path / "no-extra"))
    monkeypatch.setenv("EXPLORER_COLLECTIONS", str(tmp_path / "no-ingested"))
    with streamlit_server(tmp_path, {"OMP_NUM_THREADS": "1"}) as url:
        yield url


def _alerts(page, kind: str) -> str:
    return " ".join(page.locator(f'[data-testid="stAlertContentWarning"], [data-testid="stAlertContent{kind}"]')
                    .all_inner_texts())


@pytest.mark.integration
def test_wikipedia_and_pascal_sentence_in_a_real_browser(shared_server):
    """The two collections a walkthrough found broken: Wikipedia (features only) opens with its own shipped
    model, a keyframe placeholder and numbers; Pascal Sentence (47 of 1,000 images) says so at the top of
    every page and offers a text-only view of all its texts."""
    from explorer.data.collection import load_collection

    wiki = load_collection("wikipedia")
    anchor = next(s.id for s in wiki.segments if s.split == "test")
    with _chromium_page(height=1400) as page:
        page.goto(shared_server + "/overview?collection=wikipedia")
        settle(page)
        model = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').nth(1).locator("input").input_value()
        assert model.endswith("wikipedia (shipped)"), model  # a model trained on Wikipedia, not a flowers one
        assert page.locator('[data-testid="stAlertContentError"]').count() == 0, _alerts(page, "Error")
        shot(page, "8a_wikipedia_overview")

        page.goto(shared_server + f"/hyperlinks?collection=wikipedia&anchor={anchor}&split=test")
        settle(page)
        page.locator('[data-testid="stDataFrame"]').first.wait_for()
        assert page.locator('[data-testid="stAlertContentError"]').count() == 0, _alerts(page, "Error")
        main = page.locator('[data-testid="stMain"]').inner_text()
        assert f"Anchor {anchor}" in main and "P@10" in main and "None" not in main.split("Relevant targets")[0]
        assert page.locator('img[src^="data:image/svg+xml"]').count() >= 1  # the "no keyframe" placeholder
        shot(page, "8b_wikipedia_hyperlinks")

        page.goto(shared_server + "/failures?collection=wikipedia&split=test")
        settle(page)
        assert page.locator('[data-testid="stAlertContentError"]').count() == 0, _alerts(page, "Error")
        shot(page, "8c_wikipedia_failure_cases")

        page.goto(shared_server + "/overview?collection=pascal_sentence")
        settle(page)
        warnings = _alerts(page, "Warning")
        assert "953 of 1,000 rows" in warnings and "same category" in warnings, warnings
        page.get_by_role("button", name="Show the text-only view").click()
        page.get_by_text("Every text is an anchor ranking the 999 others").wait_for()
        settle(page)
        assert "1,000" in page.locator('[data-testid="stMetric"]').filter(has_text="Texts").inner_text()
        shot(page, "9a_pascal_sentence_overview_text_only_view")

        page.goto(shared_server + "/hyperlinks?collection=pascal_sentence")
        settle(page)
        assert "953 of 1,000 rows" in _alerts(page, "Warning")  # at the top of every page
        # the table cuts transcripts: selecting a row shows the target's whole transcript under it
        grid = page.locator('[data-testid="stDataFrame"]').first
        grid.wait_for()
        box = grid.bounding_box()
        page.mouse.click(box["x"] + 14, box["y"] + 35 + 28)  # the first row's selection box (header ~35 px, rows 56)
        page.get_by_text("cosine ").filter(has_text="#1 ").first.wait_for()
        settle(page)
        shot(page, "9b_pascal_sentence_hyperlinks_whole_transcript")
