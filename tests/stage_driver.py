"""Driving the live stage in a real browser: shared by the browser tests and benchmarks/latency.py.

The stage lives in an open shadow root; Playwright's CSS locators pierce it. Positions are read
from the stage's SVG attributes (feature units) and its ``data-*`` attributes:
``data-state`` (``dragging``, ``pending``, ``ok``, ``warn``), ``data-seq`` (releases sent),
``data-server-seq`` (the last release the server answered), ``data-box`` (image pixels),
``data-agreement`` (largest |browser - server| of the outputs) and ``data-draw-ms``.
"""

from __future__ import annotations

import time

STAGE = ".roiviz-stage"
METHODS = ("roi_pool", "roi_warp", "roi_align", "precise_roi_pool")


def stage_state(page) -> dict:
    return page.locator(STAGE).evaluate("el => ({...el.dataset})")


def stage_box(page) -> tuple[float, ...]:
    return tuple(float(v) for v in stage_state(page)["box"].split(","))


def surface(page, kind: str):
    """The drag surface ``"image"`` or ``"map"`` (its SVG)."""
    return page.locator(f"{STAGE} .surface[data-surface={kind}] .surface-svg")


def to_screen(page, kind: str, x: float, y: float) -> tuple[float, float]:
    """A point in a surface's units (image pixels, or feature cells on the map) on the screen."""
    return tuple(surface(page, kind).evaluate(
        "(svg, [x, y]) => { const p = new DOMPoint(x, y).matrixTransform(svg.getScreenCTM());"
        " return [p.x, p.y]; }", [x, y]))


def next_frame(page) -> None:
    """Wait until the browser has drawn two more frames (so a pointer move has been drawn)."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def panel_geometry(page, method: str) -> dict:
    """What a panel draws: its snapped/sampled box, sample centres, output values (DOM)."""
    return page.locator(f"{STAGE} .panel[data-method={method}]").evaluate("""sec => {
      const r = sec.querySelector('.snapped');
      const num = (e, a) => parseFloat(e.getAttribute(a));
      const shown = (e) => e.style.display !== 'none';
      return {
        snapped: r.getAttribute('visibility') === 'hidden' ? null : ['x', 'y', 'width', 'height'].map(a => num(r, a)),
        // The dots' path (draw.js): "M{x - r} {y}a{r} ..." per sample, in the trace's order.
        samples: [...(sec.querySelector('.samples path.sample:not(.off-map):not(.winner)').getAttribute('d') || '')
          .matchAll(/M(-?[0-9.e+-]+) (-?[0-9.e+-]+)a(-?[0-9.e+-]+)/g)].map(m => [+m[1] + +m[3], +m[2]]),
        outputs: [...sec.querySelectorAll('.out rect')].filter(shown).map(e => parseFloat(e.dataset.value)),
        metrics: [...sec.querySelectorAll('.metrics td')].map(td => td.textContent),
      };
    }""")


def wait_for_server(page, timeout: float = 60.0) -> dict:
    """Wait until the server has answered the stage's last release; returns the stage state."""
    deadline = time.monotonic() + timeout
    while True:
        state = stage_state(page)
        if state.get("state") in ("ok", "warn") and state.get("seq") == state.get("serverSeq"):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"the server did not answer the release: {state}")
        page.wait_for_timeout(100)


def table_rows(page) -> dict[str, dict[str, str]]:
    """The server's metrics table under the stage, by method label."""
    table = page.locator("table.roiviz-summary").first
    headers = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    out = {}
    for row in table.locator("tbody tr").all():
        cells = [c.strip() for c in row.locator("td, th").all_inner_texts()]
        named = dict(zip([h for h in headers if h], cells[-len([h for h in headers if h]):]))
        out[named.pop("method")] = named
    return out


def wait_for_table(page, want: dict[str, dict[str, str]], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    got = {}
    while time.monotonic() < deadline:
        got = table_rows(page)
        if got == want:
            return
        page.wait_for_timeout(200)
    assert got == want


def held_drag(page, kind: str, start: tuple[float, float], end: tuple[float, float], steps: int = 10,
              during=None) -> None:
    """Press at ``start``, move to ``end`` in ``steps`` moves (surface units), then release.

    ``during(i)`` runs after each move has been drawn, with the mouse still held.
    """
    x0, y0 = to_screen(page, kind, *start)
    x1, y1 = to_screen(page, kind, *end)
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, steps + 1):
        page.mouse.move(x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps)
        if during is not None:
            next_frame(page)
            during(i)
    page.mouse.up()


def scroll_stage_into_view(page, header: float = 64.0) -> None:
    """Scroll the page (Streamlit scrolls its own container) so that the stage starts just
    under the app's header bar, as a reader scrolls to it."""
    page.locator(STAGE).evaluate("""(el, header) => {
      let a = el.parentNode;
      while (a) {
        if (a instanceof ShadowRoot) a = a.host;
        if (a.nodeType === 1 && a.scrollHeight > a.clientHeight
            && /(auto|scroll)/.test(getComputedStyle(a).overflowY)) break;
        a = a.parentNode;
      }
      const dy = el.getBoundingClientRect().top - header;
      if (a && a.nodeType === 1) a.scrollTop += dy; else window.scrollBy(0, dy);
    }""", header)
    page.wait_for_timeout(300)


def touch_drag(page, kind: str, start: tuple[float, float], end: tuple[float, float], steps: int = 8,
               during=None) -> None:
    """A one-finger drag on a surface with real touch events (Chrome DevTools Protocol),
    ``start``/``end`` in surface units; ``during(i)`` runs after each move has been drawn."""
    x0, y0 = to_screen(page, kind, *start)
    x1, y1 = to_screen(page, kind, *end)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y0}]})
    for i in range(1, steps + 1):
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [
            {"x": x0 + (x1 - x0) * i / steps, "y": y0 + (y1 - y0) * i / steps}]})
        next_frame(page)
        if during is not None:
            during(i)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
