"""The Playground in a real browser: draw and move boxes on the stage's photo and map, check the
server's table against the engine, a bad upload. (The stage's own behaviour, held drags,
keyboard, hover, layout and touch, is in test_browser_stage.py.)

Starts ``streamlit run app.py`` and drives Debian's headless Chromium with Playwright.
Screenshots go to ``tests/artifacts/`` (look at them).
"""

from __future__ import annotations

import numpy as np
import pytest

from browser_support import (ARTIFACTS, box_from_url, chromium_browser, require_chromium,
                             streamlit_server)
from roiviz import features, samples
from roiviz.methods import label, summary_rows, trace_all
from roiviz.app.state import PlaygroundState
from stage_driver import STAGE, held_drag, stage_box, table_rows, wait_for_server, wait_for_table


@pytest.fixture(scope="module")
def page():
    require_chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as url, chromium_browser() as browser:
        context = browser.new_context(viewport={"width": 1500, "height": 1000})
        pg = context.new_page()
        pg.set_default_timeout(60_000)
        pg.goto(url + "/")
        pg.wait_for_selector(f"{STAGE} .panel[data-method=precise_roi_pool] .out rect")
        pg.wait_for_selector("table.roiviz-summary")
        wait_for_server(pg)
        pg.url_base = url  # type: ignore[attr-defined]
        yield pg
        context.close()


def expected_rows(box) -> dict[str, dict[str, str]]:
    defaults = PlaygroundState()
    values = features.image_feature_map(samples.load_sample_image(defaults.sample),
                                        defaults.stride).channel(defaults.channel)
    return {label(m): row for m, row in summary_rows(trace_all(values, box, defaults.settings())).items()}


def wait_for_new_box(pg, old) -> tuple[float, ...]:
    for _ in range(240):
        box = box_from_url(pg.url)
        if box is not None and box != old:
            return box
        pg.wait_for_timeout(250)
    raise AssertionError("the box in the URL did not change after the drag")


def test_initial_page_matches_engine(page):
    box = box_from_url(page.url)
    assert box is not None and stage_box(page) == box
    wait_for_table(page, expected_rows(box))
    page.screenshot(path=str(ARTIFACTS / "playground_initial.png"))
    # The README's picture (docs/playground.png is a copy of this file).
    page.screenshot(path=str(ARTIFACTS / "readme_playground.png"))


def test_drawing_a_box_up_left_on_the_feature_map(page):
    old = box_from_url(page.url)
    # From outside the box, up and to the left (end before start): the corners are sorted.
    held_drag(page, "map", (29.0, 29.0), (4.5, 5.25))
    box = wait_for_new_box(page, old)
    np.testing.assert_allclose(box, (4.5 * 16, 5.25 * 16, 29 * 16, 29 * 16), atol=1.0)
    wait_for_server(page)
    wait_for_table(page, expected_rows(box))
    inputs = [float(page.locator(f".st-key-{k} input").input_value()) for k in ("bx1", "by1", "bx2", "by2")]
    np.testing.assert_allclose(inputs, box, atol=0.006)
    page.screenshot(path=str(ARTIFACTS / "playground_after_drag.png"))
    page.locator(f"{STAGE} .panel[data-method=roi_pool]").screenshot(path=str(ARTIFACTS / "panel_roi_pool.png"))
    page.locator(f"{STAGE} .panel[data-method=roi_align]").screenshot(path=str(ARTIFACTS / "panel_roi_align.png"))


def test_moving_the_box_on_the_photo(page):
    old = box_from_url(page.url)
    cx, cy = (old[0] + old[2]) / 2, (old[1] + old[3]) / 2
    held_drag(page, "image", (cx, cy), (cx - 37.5, cy - 21.25))  # image pixels
    box = wait_for_new_box(page, old)
    np.testing.assert_allclose(box, np.add(old, [-37.5, -21.25] * 2), atol=2.0)
    wait_for_server(page)
    wait_for_table(page, expected_rows(box))


def test_bad_upload_shows_message_and_keeps_panels(page, tmp_path):
    before = table_rows(page)
    page.get_by_text("Upload an image", exact=True).click()
    fake = tmp_path / "notes.png"
    fake.write_text("this is text, not a PNG")
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(str(fake))
    alert = page.locator("[data-testid=stAlertContentError]")
    alert.wait_for()
    assert "image" in alert.inner_text().lower()
    assert "Traceback" not in page.content()
    # The previous input and its panels stay.
    assert table_rows(page) == before
    assert page.locator(f"{STAGE} .panel").count() == 4
    page.screenshot(path=str(ARTIFACTS / "playground_bad_upload.png"))
