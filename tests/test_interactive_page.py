"""The standalone interactive page (roiviz.drawing.export.interactive_page): one HTML file with the stage's
JS, CSS and data inlined. Opened from disk in Chromium with every network request blocked, a
mouse drag moves the box, the panels follow, and their numbers equal roiviz's for that box.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from browser_support import ARTIFACTS, chromium_browser, require_chromium
from stage_driver import METHODS, STAGE, held_drag, panel_geometry, stage_box, stage_state

from roiviz import features, samples
from roiviz.drawing.export import MAX_PAGE_BYTES, interactive_page
from roiviz.methods import trace_all
from roiviz.records import Settings
from roiviz.app.stage import encode_display_image, stage_data
from roiviz.app.state import default_box


def _page(size: int = 64, stride: int = 8):
    """The astronaut at a stride giving a ``size x size`` map, with its photo, as a page."""
    image = samples.load_sample_image("astronaut")
    values = features.image_feature_map(image, stride).channel(0)
    assert values.shape == (size, size)
    box = default_box(values.shape, stride)
    settings = Settings(output_size=(7, 7), stride=float(stride), sampling_ratio=2)
    traces = trace_all(values, box, settings)
    data = stage_data(values, box, settings, tuple(traces), traces,
                      image_uri=encode_display_image(image), image_shape=image.shape[:2],
                      map_title="Feature map 64 x 64 cells", image_title="Image 512 x 512 px")
    return interactive_page(data, "RoI pooling, live: drag the box <i>here</i>"), values, settings


def test_the_page_is_one_self_contained_file():
    text, _, _ = _page()
    size = len(text.encode("utf-8"))
    assert size < MAX_PAGE_BYTES, size
    # Nothing is fetched: no src/href to anything but inline data, and a CSP that forbids requests.
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", text)
    assert "default-src 'none'" in text
    assert "<i>here</i>" not in text and "&lt;i&gt;here&lt;/i&gt;" in text
    assert text.count("<script") == 2 and "export default" not in text


def test_dragging_on_the_page_from_disk_moves_the_box_and_numbers_equal_roivizs(tmp_path):
    require_chromium()
    text, values, settings = _page()
    path = tmp_path / "roiviz-interactive.html"
    path.write_text(text, encoding="utf-8")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    requests = []
    with chromium_browser() as browser:
        context = browser.new_context(viewport={"width": 1500, "height": 1000})
        context.route("**/*", lambda route: (requests.append(route.request.url), route.abort())
                      if not route.request.url.startswith("file:") else route.continue_())
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_selector(f"{STAGE} .panel[data-method=roi_align] .out rect")
        before = stage_box(page)
        x1, y1, x2, y2 = (v / settings.stride for v in before)     # feature cells
        start = ((x1 + x2) / 2, (y1 + y2) / 2)
        held_drag(page, "map", start, (start[0] + 3.37, start[1] - 2.21), steps=8)
        page.wait_for_function(f"() => document.querySelector('#roiviz-host').shadowRoot"
                               f".querySelector('{STAGE}').dataset.state !== 'dragging'")
        after = stage_box(page)
        assert after != before
        np.testing.assert_allclose(np.subtract(after, before)[[0, 2]], 3.37 * settings.stride, atol=1.0)
        traces = trace_all(values, after, settings)
        for m in METHODS:
            got = np.array(panel_geometry(page, m)["outputs"])
            np.testing.assert_allclose(got, traces[m].output.ravel(), atol=1e-4, err_msg=m)
        page.screenshot(path=str(ARTIFACTS / "interactive-page-after-drag.png"))
        assert stage_state(page)["state"] != "warn"
        context.close()
    assert requests == [] and errors == []
