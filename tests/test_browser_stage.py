"""The Playground's live stage in a real browser (Chromium): held drags, snapping vs gliding,
release, keyboard, hover, layout and touch. Screenshots go to ``tests/artifacts/`` (look at
them)."""

from __future__ import annotations

import numpy as np
import pytest

from browser_support import ARTIFACTS
from roiviz import features, samples
from roiviz.app.state import PlaygroundState
from roiviz.methods import label, summary_rows, trace_all
from stage_driver import (METHODS, STAGE, held_drag, panel_geometry, scroll_stage_into_view, stage_box,
                          stage_state, surface, to_screen, wait_for_server, wait_for_table)

STRIDE = PlaygroundState().stride


def engine_rows(box):
    """The table the Playground must show for ``box`` with its default settings (the engine)."""
    state = PlaygroundState()
    values = features.image_feature_map(samples.load_sample_image(state.sample), STRIDE).channel(state.channel)
    rows = summary_rows(trace_all(values, box, state.settings()))
    return {label(m): row for m, row in rows.items()}


def open_stage(server, width=1500, height=1000, query="", collapse_sidebar=False, **context_args):
    url, browser = server
    context = browser.new_context(viewport={"width": width, "height": height}, **context_args)
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{url}/{query}")
    page.wait_for_selector(f"{STAGE} .panel[data-method=precise_roi_pool] .out rect")
    wait_for_server(page)
    if collapse_sidebar:
        page.locator("[data-testid=stSidebar]").hover()
        page.locator("[data-testid=stSidebarCollapseButton] button").first.click()
        page.locator("[data-testid=stSidebar][data-collapsed=true]").wait_for(state="attached")
        page.wait_for_timeout(500)
    page.errors = errors  # type: ignore[attr-defined]
    return page


def test_a_held_drag_moves_every_panel_before_release_and_release_checks_with_the_server(server):
    page = open_stage(server)
    before = {m: panel_geometry(page, m) for m in METHODS}
    box = stage_box(page)
    cx, cy = (box[0] + box[2]) / 2 / STRIDE, (box[1] + box[3]) / 2 / STRIDE  # map units
    seen = []

    def during(i):
        seen.append((stage_state(page)["state"], {m: panel_geometry(page, m) for m in METHODS}))

    held_drag(page, "map", (cx, cy), (cx + 2.37, cy + 1.61), steps=6, during=during)
    # Before the release every panel had moved, and the server had not been asked.
    state, during_drag = seen[-1]
    assert state == "dragging"
    for m in METHODS:
        assert during_drag[m]["outputs"] != before[m]["outputs"], m
    final = wait_for_server(page)
    assert float(final["agreement"]) <= 1e-5
    new_box = stage_box(page)
    np.testing.assert_allclose(new_box, np.add(box, [2.37 * STRIDE, 1.61 * STRIDE] * 2), atol=0.6)
    wait_for_table(page, engine_rows(new_box))
    # The stage's own metrics show the same numbers as the server's table.
    want = engine_rows(new_box)
    for m in METHODS:
        assert panel_geometry(page, m)["metrics"] == list(want[label(m)].values()), m
    assert not page.errors
    page.context.close()


def test_roi_pool_jumps_by_whole_cells_while_roi_align_glides(server):
    page = open_stage(server)
    box = stage_box(page)
    cx, cy = (box[0] + box[2]) / 2 / STRIDE, (box[1] + box[3]) / 2 / STRIDE
    pool_x, align_x = [], []

    def during(i):
        pool_x.append(panel_geometry(page, "roi_pool")["snapped"][0])
        align_x.append(panel_geometry(page, "roi_align")["samples"][0][0])

    held_drag(page, "map", (cx, cy), (cx + 1.8, cy), steps=12, during=during)  # 0.15 cell a move
    wait_for_server(page)
    assert all(float(x).is_integer() for x in pool_x), pool_x
    assert len(set(pool_x)) < len(pool_x) / 2  # it stays put for several moves, then jumps
    # Every move, by about 0.15 cell (the first moves after the press are merged: a press only
    # becomes a drag after 3 screen pixels).
    steps = np.diff(align_x)
    steps = steps[int(np.argmax(steps > 0)) + 1:]
    assert len(steps) >= 6
    assert np.all(steps > 0.1) and np.all(steps < 0.2), steps
    page.context.close()


def test_arrow_keys_move_the_box_by_a_tenth_of_a_cell_or_a_cell(server):
    page = open_stage(server)
    box = stage_box(page)
    surface(page, "map").focus()
    page.keyboard.press("ArrowRight")
    np.testing.assert_allclose(stage_box(page), np.add(box, [STRIDE / 10, 0] * 2), atol=1e-3)
    page.keyboard.press("Shift+ArrowDown")
    moved = np.add(box, [STRIDE / 10, STRIDE] * 2)
    np.testing.assert_allclose(stage_box(page), moved, atol=1e-3)
    wait_for_server(page)
    wait_for_table(page, engine_rows(tuple(round(v, 3) for v in moved)))
    page.context.close()


def test_hover_shows_a_samples_neighbours_and_a_bins_cells(server):
    page = open_stage(server)
    x, y = panel_geometry(page, "roi_align")["samples"][4]
    view = page.locator(f"{STAGE} .panel[data-method=roi_align] .view")
    sx, sy = view.evaluate("(svg, [x, y]) => { const p = new DOMPoint(x, y).matrixTransform(svg.getScreenCTM());"
                           " return [p.x, p.y]; }", [x, y])
    page.mouse.move(sx, sy)
    tip = page.locator(f"{STAGE} .tooltip")
    tip.wait_for(state="visible")
    text = tip.text_content()
    assert "sample" in text and text.count(" x 0.") + text.count(" x 1.") == 4, text
    snapped = panel_geometry(page, "roi_pool")["snapped"]
    view = page.locator(f"{STAGE} .panel[data-method=roi_pool] .view")
    sx, sy = view.evaluate("(svg, [x, y]) => { const p = new DOMPoint(x, y).matrixTransform(svg.getScreenCTM());"
                           " return [p.x, p.y]; }", [snapped[0] + 0.5, snapped[1] + 0.5])
    page.mouse.move(sx, sy)
    page.wait_for_timeout(100)
    assert "reads" in tip.text_content() and "max at cell" in tip.text_content()
    page.context.close()


def _overlap(a, b) -> bool:
    return (a["x"] < b["x"] + b["width"] - 1 and b["x"] < a["x"] + a["width"] - 1
            and a["y"] < b["y"] + b["height"] - 1 and b["y"] < a["y"] + a["height"] - 1)


@pytest.mark.parametrize("width, height, collapse", [(1280, 720, True), (1500, 1000, False)])
def test_a_surface_and_all_four_panels_fit_on_one_screen_without_overlap(server, width, height, collapse):
    """A projector (sidebar collapsed) and a laptop (sidebar open): scrolled to the stage once,
    the surfaces and every panel are on one screen."""
    page = open_stage(server, width, height, collapse_sidebar=collapse)
    scroll_stage_into_view(page)
    parts = [surface(page, "map").bounding_box()] + [
        page.locator(f"{STAGE} .panel[data-method={m}]").bounding_box() for m in METHODS]
    for p in parts:
        assert p["x"] >= 0 and p["y"] >= 0 and p["x"] + p["width"] <= width and p["y"] + p["height"] <= height, p
    for i, a in enumerate(parts):
        for b in parts[i + 1:]:
            assert not _overlap(a, b), (a, b)
    # Inside each panel: the view, the output grid and the metrics do not overlap either.
    for m in METHODS:
        boxes = [page.locator(f"{STAGE} .panel[data-method={m}] {s}").bounding_box()
                 for s in (".view", ".out", ".metrics")]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert not _overlap(a, b), (m, a, b)
    page.screenshot(path=str(ARTIFACTS / f"stage_{width}x{height}.png"))
    page.context.close()


def test_a_click_without_a_drag_keeps_the_box(server):
    page = open_stage(server)
    box = stage_box(page)
    x, y = to_screen(page, "map", 1.0, 1.0)
    page.mouse.click(x, y)
    page.wait_for_timeout(500)
    assert stage_box(page) == box and stage_state(page)["seq"] == "0"
    page.context.close()
