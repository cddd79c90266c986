"""The Playground's first paint in a real browser: what it makes the browser fetch, and what its
downloads are called.

Structural checks, not timings (those are benchmarks/bench_first_load.py's): until "Show the
code" is switched on the page sends no code block, so Streamlit's syntax highlighter (a 1.56 MB
chunk, ``StreamlitSyntaxHighlighter.*.js``) is not requested, and no Arrow table is drawn; the
summary table's headers carry their plain-words tooltips; the files are named after the view.
A server started warm (``python -m roiviz.app.warm``, as ``make run`` does) answers its health
check only once the pages' modules are imported, and serves its first visitor the stage.
"""

from __future__ import annotations

import pytest
from browser_support import (ARTIFACTS, chromium_browser, require_chromium, save_download, streamlit_process,
                             streamlit_server)
from stage_driver import STAGE

from roiviz.drawing.summary_table import COLUMN_HELP, SUMMARY_CLASS

HIGHLIGHTER = "StreamlitSyntaxHighlighter"


@pytest.fixture(scope="module")
def fresh():
    require_chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as url, chromium_browser() as browser:
        yield url, browser


def open_playground(browser, url: str, width: int, height: int, query: str = ""):
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(90_000)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(url + "/" + query)
    page.wait_for_selector(f"{STAGE} .panel[data-method=precise_roi_pool] .out rect")
    page.wait_for_selector(f"table.{SUMMARY_CLASS} tbody tr")
    page.wait_for_function("() => document.querySelector('[data-testid=stApp]')"
                           ".getAttribute('data-test-script-state') === 'notRunning'")
    page.wait_for_timeout(500)      # a lazily loaded chunk would be requested by now
    return context, page, requested


def test_first_paint_fetches_no_syntax_highlighter_until_show_the_code(fresh):
    url, browser = fresh
    context, page, requested = open_playground(browser, url, 1500, 1000)
    try:
        assert not [u for u in requested if HIGHLIGHTER in u]
        assert page.locator("[data-testid=stCode]").count() == 0
        # No Arrow table anywhere (st.table / st.dataframe): the summary is plain HTML.
        assert page.locator("[data-testid=stTable], [data-testid=stDataFrame]").count() == 0
        page.screenshot(path=str(ARTIFACTS / "first-load-1500.png"))
        # Opening "Show the code" draws the listings, and only then is the highlighter fetched
        # (the check above can fail: it is the chunk the code blocks need).
        page.locator(".st-key-show_code label").first.click()
        page.wait_for_selector("[data-testid=stCode] code")
        page.wait_for_function("() => document.querySelector('[data-testid=stCode] code').innerText"
                               ".includes('def roi_pool_reference(')")
        assert [u for u in requested if HIGHLIGHTER in u]
    finally:
        context.close()


#: Code chunks of the widgets under the stage and in the sidebar (Streamlit's names).
WIDGET_CHUNKS = ("Radio.", "Selectbox.", "Multiselect.", "NumberInput.", "Checkbox.", "DownloadButton.")


def test_the_stage_asks_for_its_script_before_the_widgets_code(fresh):
    """A new visitor's browser asks for the stage's script before the code of any widget under
    it or in the sidebar: the session's first run pauses after sending the stage
    (``roiviz.app.ui_stage._let_the_stage_load_first``). Sent at once, the widgets' forty-odd
    chunks went first, six at a time, and the stage waited behind them."""
    url, browser = fresh
    context, page, requested = open_playground(browser, url, 1500, 1000)
    try:
        names = [u.rsplit("/", 1)[-1] for u in requested]
        stage = next(i for i, n in enumerate(names) if n.startswith("stage-") and n.endswith(".js"))
        widgets = [i for i, n in enumerate(names) if n.startswith(WIDGET_CHUNKS)]
        assert len(widgets) >= 4, names
        assert stage < min(widgets), [names[i] for i in range(stage + 1)]
    finally:
        context.close()


@pytest.mark.parametrize("width, height", [(1280, 720), (760, 900), (390, 844)])
def test_summary_headers_explain_themselves(fresh, width, height):
    url, browser = fresh
    context, page, _ = open_playground(browser, url, width, height)
    try:
        table = page.locator(f"table.{SUMMARY_CLASS}")
        headers = table.locator("thead th")
        names = [h.strip() for h in headers.all_inner_texts()]
        assert names == list(COLUMN_HELP)
        for i, name in enumerate(names):
            assert headers.nth(i).get_attribute("title") == COLUMN_HELP[name]
        assert table.locator("tbody tr").count() == 4
        table.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"summary-table-{width}.png"))
    finally:
        context.close()


def test_downloads_are_named_after_the_view(fresh):
    url, browser = fresh
    context, page, _ = open_playground(browser, url, 1500, 1000, "?out=7x7&sr=2&img=coffee")
    try:
        png = save_download(page, ".st-key-dl_png button >> nth=0", 60_000)
        assert png.name == "roiviz-7x7-ratio2-coffee.png"
        blog = save_download(page, ".st-key-dl_blog_png button >> nth=0", 60_000)
        assert blog.name == "roiviz-7x7-ratio2-coffee-blog.png"
        html = save_download(page, ".st-key-dl_html button >> nth=0", 60_000)
        assert html.name == "roiviz-7x7-ratio2-coffee.html"
        assert "<title>roiviz Playground: 7 x 7 bins, sampling ratio 2, coffee</title>" in html.read_text()
    finally:
        context.close()


def test_a_warm_started_server_is_warm_before_it_answers_and_serves_the_stage(fresh):
    _, browser = fresh      # one Playwright per thread: the module's browser, another server
    log = ARTIFACTS / "warm-server.log"
    with streamlit_process(log, warm=True) as (url, _pid):
        # Healthy means warmed: the launcher reported before Streamlit's server started.
        text = log.read_text()
        assert "roiviz: warmed up in imports" in text, text
        assert "could not warm" not in text
        context, page, _ = open_playground(browser, url, 1500, 1000)
        try:
            methods = page.locator(f"{STAGE} .panel[data-method]")
            assert methods.count() == 4
            assert page.locator("[data-testid=stException]").count() == 0
            # The sidebar is drawn after the stage but in its usual order: Input first.
            headers = page.locator("[data-testid=stSidebar] [data-testid=stHeading]").all_inner_texts()
            assert [h.strip() for h in headers][:3] == ["Input", "Settings", "Share"]
            assert page.locator("[data-testid=stSidebar] .st-key-ch").count() == 1
        finally:
            context.close()
