"""Box-gradient arrows on the Playground's stage, in Chromium: during a drag RoI Warp, RoI Align
and Precise RoI Pooling draw arrows on their box edges and RoI Pool draws none (and says why);
the toggle hides them; the numbers behind them equal :func:`roiviz.box_gradients.box_gradient`.
Screenshots at 1500 x 1000, 1280 x 720 and 390 px in ``tests/artifacts/`` (look at them)."""

from __future__ import annotations

import numpy as np
import pytest

from browser_support import ARTIFACTS
from roiviz import features, samples
from roiviz.box_gradients import box_gradient
from roiviz.app.state import PlaygroundState
from stage_driver import STAGE, held_drag, stage_box, surface, wait_for_server
from test_browser_stage import STRIDE, open_stage

LIVE = ("roi_warp", "roi_align", "precise_roi_pool")


def arrows(page) -> dict:
    """Per method: arrows drawn, the gradient behind them (or None), the panel's arrow note."""
    return page.locator(STAGE).evaluate("""root => Object.fromEntries([...root.querySelectorAll('.box-arrows')].map(g => {
      const sec = root.querySelector(`.panel[data-method=${g.dataset.method}]`);
      return [g.dataset.method, {n: Number(g.dataset.arrows || 0), gradient: g.dataset.gradient,
        note: sec.querySelector('.arrow-note').textContent}];
    }))""")


@pytest.mark.parametrize("width, height", [(1500, 1000), (1280, 720), (390, 844)])
def test_arrows_follow_a_drag_for_three_methods_and_not_roi_pool(server, width, height):
    page = open_stage(server, width=width, height=height)
    surface(page, "map").scroll_into_view_if_needed()
    box = stage_box(page)
    cx, cy = (box[0] + box[2]) / 2 / STRIDE, (box[1] + box[3]) / 2 / STRIDE
    seen = []

    def during(i):
        seen.append(arrows(page))
        if i == 5:
            shot = page.locator(STAGE) if width > 760 else page.locator(f"{STAGE} .panels")
            shot.screenshot(path=str(ARTIFACTS / f"box_arrows_drag_{width}x{height}.png"))

    held_drag(page, "map", (cx, cy), (cx + 4.3, cy + 1.4), steps=8, during=during)
    for frame in seen:
        assert frame["roi_pool"]["n"] == 0 and "step function" in frame["roi_pool"]["note"]
    for m in LIVE:
        assert any(frame[m]["n"] > 0 for frame in seen), m
        # The arrows are recomputed as the box moves (RoI Warp's change only when a rounding flips).
        assert len({frame[m]["gradient"] for frame in seen}) > (1 if m == "roi_warp" else 3), m
    wait_for_server(page)
    assert not page.errors
    page.context.close()


def test_arrow_numbers_are_roivizs_and_the_toggle_hides_them(server):
    page = open_stage(server)
    wait_for_server(page)
    state = PlaygroundState()
    values = features.image_feature_map(samples.load_sample_image(state.sample), STRIDE).channel(state.channel)
    box = stage_box(page)
    shown = arrows(page)
    for m in LIVE:
        js = np.array([float(v) for v in shown[m]["gradient"].split(",")])
        py = box_gradient(m, values, box, state.settings()).gradient
        np.testing.assert_allclose(js, py, rtol=1e-9, atol=1e-12)
    assert shown["roi_pool"]["gradient"] == "null"
    page.locator(f"{STAGE} .arrow-toggle").uncheck()
    page.wait_for_timeout(200)
    assert all(v["n"] == 0 and v["note"] == "" for v in arrows(page).values())
    page.locator(f"{STAGE} .arrow-toggle").check()
    page.locator(f"{STAGE} .arrow-target").select_option("match")
    page.wait_for_timeout(200)
    # "match": at the release the box is its own reference, so every derivative is 0 ...
    assert all(v["n"] == 0 for v in arrows(page).values())
    box = stage_box(page)
    cx, cy = (box[0] + box[2]) / 2 / STRIDE, (box[1] + box[3]) / 2 / STRIDE
    seen = []
    held_drag(page, "map", (cx, cy), (cx + 0.8, cy), steps=4, during=lambda i: seen.append(arrows(page)))
    # ... and once the box moves away, the arrows point back: d/dx1 < 0 for Precise RoI Pooling.
    last = seen[-1]["precise_roi_pool"]
    assert last["n"] > 0
    page.locator(STAGE).screenshot(path=str(ARTIFACTS / "box_arrows_match_1500x1000.png"))
    wait_for_server(page)
    assert not page.errors
    page.context.close()
