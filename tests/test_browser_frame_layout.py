"""What a drag frame makes Chromium lay out again (structure, not time: the frame times are in
``benchmarks/latency.py``).

A panel's crop and output grid are SVGs in absolutely placed boxes of fixed size (px) with
``contain: strict``, and the panels' texts are frozen at their height during a drag
(``stage.js``, ``fitBody`` and ``freezeTexts``). Then a frame lays out only the elements it
changed. When a panel's SVG is re-sized instead (sized in %, or a flex item), Chromium lays out
every element of every panel again in each frame (5-8 ms of a 16.7 ms frame), and a drag drops
frames: the page's layout-invalidation records (a Chromium trace) show it as "Size changed" on
the SVG.
"""

from __future__ import annotations

from stage_driver import STAGE, next_frame, stage_box, to_screen, wait_for_server
from test_browser_stage import STRIDE, open_stage

CATEGORIES = "devtools.timeline,disabled-by-default-devtools.timeline.invalidationTracking"


def traced_drag(page, moves: int = 6, css: str = "") -> tuple[list[dict], list[dict]]:
    """Press in the box on the map, move once, then trace ``moves`` further moves (each drawn);
    release. Returns the trace's layout invalidations and, per traced frame, the panels' frozen
    text heights (``style.height``); ``css`` is added to the stage's styles first."""
    if css:
        page.locator(STAGE).evaluate("(s, css) => { const e = document.createElement('style'); "
                                     "e.textContent = css; s.getRootNode().appendChild(e); }", css)
    box = stage_box(page)
    cx, cy = (box[0] + box[2]) / 2 / STRIDE, (box[1] + box[3]) / 2 / STRIDE
    x0, y0 = to_screen(page, "map", cx, cy)
    x1, y1 = to_screen(page, "map", cx + 3, cy + 1)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + (x1 - x0) / (moves + 1), y0 + (y1 - y0) / (moves + 1))
    next_frame(page)
    cdp = page.context.new_cdp_session(page)
    events, done = [], []
    cdp.on("Tracing.dataCollected", lambda p: events.extend(p["value"]))
    cdp.on("Tracing.tracingComplete", lambda p: done.append(True))
    cdp.send("Tracing.start", {"categories": CATEGORIES, "transferMode": "ReportEvents"})
    frozen = []
    for i in range(2, moves + 2):
        page.mouse.move(x0 + (x1 - x0) * i / (moves + 1), y0 + (y1 - y0) * i / (moves + 1))
        next_frame(page)
        frozen.append(page.locator(STAGE).evaluate(
            "s => [...s.querySelectorAll('.panel-head, .metrics-box')].map(e => e.style.height)"))
    cdp.send("Tracing.end")
    while not done:
        page.wait_for_timeout(50)
    page.mouse.up()
    invalidations = [e["args"]["data"] for e in events if e.get("name") == "LayoutInvalidationTracking"]
    return invalidations, frozen


def resized_panel_svgs(invalidations: list[dict]) -> list[str]:
    return [d.get("nodeName", "") for d in invalidations
            if d.get("reason") == "Size changed" and d.get("nodeName", "").startswith(("svg class='view'", "svg class='out'"))]


def test_a_drag_frame_never_resizes_a_panels_svgs_and_unfreezes_its_texts_on_release(server):
    page = open_stage(server)
    before = stage_box(page)
    invalidations, frozen = traced_drag(page)
    # The frames did change the panels (their shapes moved), and no panel SVG was re-sized.
    assert sum(d.get("reason") == "SVG changed" for d in invalidations) > 100
    assert resized_panel_svgs(invalidations) == []
    # The texts were frozen at a height in px during the drag, and are free again after it.
    assert frozen and all(h and all(v.endswith("px") for v in h) for h in frozen)
    wait_for_server(page)
    assert stage_box(page) != before
    assert page.locator(STAGE).evaluate(
        "s => [...s.querySelectorAll('.panel-head, .metrics-box, .frozen')].every(e => !e.style.height && !e.classList.contains('frozen'))")
    assert not page.errors
    page.context.close()


def test_the_check_fails_when_the_panel_svgs_are_sized_in_percent(server):
    """The test above can fail: with the boxes sized in % (what made frames drop), every frame
    re-sizes the panels' SVGs."""
    page = open_stage(server)
    invalidations, _ = traced_drag(page, css=".view-box, .out-box { width: 50%; height: 100%; }")
    assert len(resized_panel_svgs(invalidations)) >= 4
    page.context.close()
