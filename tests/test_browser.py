"""The Playground in a real browser: drag a box with the mouse, see the panels follow.

Starts ``streamlit run app.py`` and drives Debian's headless Chromium with Playwright.
Screenshots go to ``tests/artifacts/`` (look at them).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from browser_support import (ARTIFACTS, box_from_url, chromium_browser, require_chromium,
                             streamlit_server)
from roiviz import features, samples
from roiviz.state import PlaygroundState
from roiviz.methods import summary_rows, trace_all

PANEL_KEYS = ("roi_pool", "roi_warp", "roi_align", "precise_roi_pool")


@pytest.fixture(scope="module")
def page():
    require_chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as url, chromium_browser() as browser:
        context = browser.new_context(viewport={"width": 1500, "height": 3000})
        pg = context.new_page()
        pg.set_default_timeout(60_000)
        pg.goto(url + "/")
        pg.wait_for_selector(".st-key-panel_precise_roi_pool [data-testid=stTable]")
        pg.wait_for_timeout(1000)
        pg.url_base = url  # type: ignore[attr-defined]
        yield pg
        context.close()


def panel_row(pg, method: str) -> dict[str, str]:
    table = pg.locator(f".st-key-panel_{method} [data-testid=stTable] table")
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    cells = [c.strip() for c in table.locator("tbody tr").first.locator("td, th").all_inner_texts()]
    cells = cells[-len([h for h in headers if h]):]  # drop the index column if shown
    return dict(zip([h for h in headers if h], cells))


def expected_rows(box) -> dict[str, dict[str, str]]:
    defaults = PlaygroundState()
    values = features.image_feature_map(samples.load_sample_image(defaults.sample),
                                        defaults.stride).channel(defaults.channel)
    return summary_rows(trace_all(values, box, defaults.settings()))


def drag(pg, chart_key: str, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Drag with the mouse across a chart's plot area; start/end are fractions of it."""
    area = pg.locator(f".st-key-{chart_key} .nsewdrag").first
    area.scroll_into_view_if_needed()
    bb = area.bounding_box()
    x0, y0 = bb["x"] + start[0] * bb["width"], bb["y"] + start[1] * bb["height"]
    x1, y1 = bb["x"] + end[0] * bb["width"], bb["y"] + end[1] * bb["height"]
    pg.mouse.move(x0, y0)
    pg.mouse.down()
    for i in range(1, 11):
        pg.mouse.move(x0 + (x1 - x0) * i / 10, y0 + (y1 - y0) * i / 10)
    pg.mouse.up()


def wait_for_new_box(pg, old) -> tuple[float, ...]:
    for _ in range(120):
        box = box_from_url(pg.url)
        if box is not None and box != old:
            return box
        pg.wait_for_timeout(250)
    raise AssertionError("the box in the URL did not change after the drag")


def wait_for_rows(pg, want: dict[str, dict[str, str]]) -> None:
    got = {}
    for _ in range(120):
        got = {m: panel_row(pg, m) for m in PANEL_KEYS}
        if got == want:
            return
        pg.wait_for_timeout(250)
    assert got == want


def test_initial_page_matches_engine(page):
    box = box_from_url(page.url)
    assert box is not None
    wait_for_rows(page, expected_rows(box))
    page.screenshot(path=str(ARTIFACTS / "playground_initial.png"), full_page=True)
    # The README's picture (docs/playground.png is a copy of this file).
    page.screenshot(path=str(ARTIFACTS / "readme_playground.png"),
                    clip={"x": 0, "y": 0, "width": 1500, "height": 1900})


def test_drag_on_feature_map_updates_panels(page):
    old = box_from_url(page.url)
    # Up-left drag (end before start): the app must sort the corners.
    drag(page, "select_feature", (0.62, 0.7), (0.18, 0.22))
    box = wait_for_new_box(page, old)
    assert box[0] < box[2] and box[1] < box[3]
    # The box is in image pixels: roughly 18%..62% of the 512-pixel-wide image.
    assert 0.1 * 512 < box[0] < 0.3 * 512 and 0.5 * 512 < box[2] < 0.75 * 512
    wait_for_rows(page, expected_rows(box))
    inputs = [float(page.locator(f".st-key-{k} input").input_value()) for k in ("bx1", "by1", "bx2", "by2")]
    np.testing.assert_allclose(inputs, box, atol=0.006)
    page.screenshot(path=str(ARTIFACTS / "playground_after_drag.png"), full_page=True)
    page.locator(".st-key-panel_roi_pool").screenshot(path=str(ARTIFACTS / "panel_roi_pool.png"))
    page.locator(".st-key-panel_roi_align").screenshot(path=str(ARTIFACTS / "panel_roi_align.png"))


def test_drag_on_image_updates_panels(page):
    old = box_from_url(page.url)
    drag(page, "select_image", (0.3, 0.35), (0.55, 0.6))
    box = wait_for_new_box(page, old)
    assert 0.2 * 512 < box[0] < 0.4 * 512 and 0.45 * 512 < box[2] < 0.65 * 512
    wait_for_rows(page, expected_rows(box))


def test_hover_on_a_sample_shows_its_weights(page):
    points = page.locator(".st-key-fig_roi_align .scatterlayer .trace").last.locator("path.point")
    points.first.hover(force=True)
    hover = page.locator(".st-key-fig_roi_align .hoverlayer")
    hover.wait_for()
    text = hover.text_content()
    assert "sample at" in text and re.search(r"cell \(\d+,\d+\) x [01]\.\d+", text), text


def test_bad_upload_shows_message_and_keeps_panels(page, tmp_path):
    before = {m: panel_row(page, m) for m in PANEL_KEYS}
    page.get_by_text("Upload an image", exact=True).click()
    fake = tmp_path / "notes.png"
    fake.write_text("this is text, not a PNG")
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(fake))
    alert = page.locator("[data-testid=stAlertContentError]")
    alert.wait_for()
    assert "image" in alert.inner_text().lower()
    assert "Traceback" not in page.content()
    # The previous input and its panels stay.
    assert {m: panel_row(page, m) for m in PANEL_KEYS} == before
    page.screenshot(path=str(ARTIFACTS / "playground_bad_upload.png"), full_page=True)
