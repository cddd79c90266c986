"""The live stage on the screens and settings its users bring (issue 20), in a real Chromium:
sampling ratio 16, a blog's 760 px iframe (``embed=true``), a 390 x 844 touch phone, a 1280 x 720
projector with the sidebar open, presenter mode. Screenshots at 390, 760, 1280 and 1500 px go to
``tests/artifacts/screens-*.png`` (look at them)."""

from __future__ import annotations

import pytest

from browser_support import ARTIFACTS
from stage_driver import (METHODS, STAGE, held_drag, panel_geometry, scroll_stage_into_view, stage_box,
                          stage_state, touch_drag, wait_for_server)
from test_browser_stage import STRIDE, open_stage

#: Every panel's output values, read from the DOM.
OUTPUTS = f"""() => Object.fromEntries([...document.querySelectorAll('*')].filter(e => e.shadowRoot)
  .flatMap(e => [...e.shadowRoot.querySelectorAll('{STAGE} .panel')])
  .map(p => [p.dataset.method, [...p.querySelectorAll('.out rect')].filter(r => r.style.display !== 'none')
    .map(r => r.dataset.value).join(',')]))"""


def on_screen(page, selector: str) -> list[dict]:
    """The bounding boxes of ``selector`` that are not inside the window (empty = all inside)."""
    width, height = page.viewport_size["width"], page.viewport_size["height"]
    out = []
    for i in range(page.locator(selector).count()):
        b = page.locator(selector).nth(i).bounding_box()
        if b is None or b["width"] < 20 or b["height"] < 20 or b["x"] < -0.5 or b["y"] < -0.5 \
                or b["x"] + b["width"] > width + 0.5 or b["y"] + b["height"] > height + 0.5:
            out.append({"selector": selector, "index": i, "box": b})
    return out


def visible_surfaces(page) -> list[str]:
    return page.locator(f"{STAGE} .surface").evaluate_all(
        "els => els.filter(e => !e.hidden && e.getBoundingClientRect().width > 0).map(e => e.dataset.surface)")


# ----------------------------------------------------------------------------------------------
# No method vanishes


@pytest.mark.parametrize("out, total", [("7x7", 12_544), ("14x14", 50_176)])
def test_ratio_16_draws_all_four_methods_live(server, out, total):
    """At ratio 16 every method has its panel, its output grid, its drawn (thinned) samples and a
    note saying how many of all the samples are drawn; the server traces all four and agrees;
    during a held drag every panel changes."""
    page = open_stage(server, 1500, 1000, query=f"?out={out}&sr=16")
    side = int(out.split("x")[0])
    assert page.locator("text=not shown").count() == 0
    for m in METHODS:
        panel = page.locator(f"{STAGE} .panel[data-method={m}]")
        assert panel.is_visible() and "refused" not in (panel.get_attribute("class") or ""), m
        geometry = panel_geometry(page, m)
        assert len(geometry["outputs"]) == side * side, m
        if m in ("roi_warp", "roi_align"):
            assert 0 < len(geometry["samples"]) <= 1500, m
            note = panel.locator(".panel-note")
            assert f"of {total:,} samples" in note.text_content(), note.text_content()
            assert int(note.get_attribute("data-drawn")) == len(geometry["samples"])
    assert float(stage_state(page)["agreement"]) <= 1e-5   # the server traced all four
    box = stage_box(page)
    cx, cy = (box[0] + box[2]) / 2 / STRIDE, (box[1] + box[3]) / 2 / STRIDE
    before, changed = page.evaluate(OUTPUTS), set()

    def during(i):
        now = page.evaluate(OUTPUTS)
        assert stage_state(page)["state"] == "dragging"
        changed.update(m for m in METHODS if now[m] != before[m])

    held_drag(page, "map", (cx, cy), (cx + 1.3, cy + 0.7), steps=5, during=during)
    assert changed == set(METHODS)
    wait_for_server(page)
    assert float(stage_state(page)["agreement"]) <= 1e-5
    page.screenshot(path=str(ARTIFACTS / f"screens-ratio16-{out}-1500x1000.png"))
    assert not page.errors
    page.context.close()


# ----------------------------------------------------------------------------------------------
# Compact layouts: a blog's iframe and a phone


def _assert_one_screen(page) -> None:
    """One drag surface and all four panels' bodies are on screen together."""
    scroll_stage_into_view(page)
    assert len(visible_surfaces(page)) == 1
    off = on_screen(page, f"{STAGE} .surface:not([hidden]) .surface-svg")
    for m in METHODS:
        off += on_screen(page, f"{STAGE} .panel[data-method={m}] .panel-body")
        off += on_screen(page, f"{STAGE} .panel[data-method={m}] .out")
    assert not off, off


def test_blog_column_embed_shows_one_surface_and_four_panels_that_follow_a_drag(server):
    page = open_stage(server, 760, 900, query="?embed=true&out=7x7")
    assert "compact" in page.locator(STAGE).get_attribute("class")
    _assert_one_screen(page)
    assert visible_surfaces(page) == ["map"]
    page.screenshot(path=str(ARTIFACTS / "screens-embed-760x900.png"))
    box = stage_box(page)
    cx, cy = (box[0] + box[2]) / 2 / STRIDE, (box[1] + box[3]) / 2 / STRIDE
    before, changed = page.evaluate(OUTPUTS), set()

    def during(i):
        now = page.evaluate(OUTPUTS)
        changed.update(m for m in METHODS if now[m] != before[m])

    held_drag(page, "map", (cx, cy), (cx + 2.3, cy - 1.4), steps=6, during=during)
    assert changed == set(METHODS)
    wait_for_server(page)
    # The photo instead, by the toggle: still one surface, still on one screen.
    page.locator(f"{STAGE} .toggle-button", has_text="photo").click()
    page.wait_for_timeout(300)
    assert visible_surfaces(page) == ["image"]
    _assert_one_screen(page)
    page.screenshot(path=str(ARTIFACTS / "screens-embed-photo-760x900.png"))
    assert not page.errors
    page.context.close()


def test_phone_touch_drag_moves_every_panel_on_one_screen_and_a_tap_shows_details(server):
    page = open_stage(server, 390, 844, query="?out=7x7", has_touch=True, is_mobile=True)
    _assert_one_screen(page)
    page.screenshot(path=str(ARTIFACTS / "screens-phone-390x844.png"))
    box = stage_box(page)
    cx, cy = (box[0] + box[2]) / 2 / STRIDE, (box[1] + box[3]) / 2 / STRIDE
    before, changed, states = page.evaluate(OUTPUTS), set(), []

    def during(i):
        now = page.evaluate(OUTPUTS)
        states.append(stage_state(page)["state"])
        changed.update(m for m in METHODS if now[m] != before[m])

    touch_drag(page, "map", (cx, cy), (cx - 3, cy + 2), during=during)
    assert "dragging" in states and changed == set(METHODS)
    wait_for_server(page)
    assert abs(stage_box(page)[0] - (box[0] - 3 * STRIDE)) <= 1.0
    _assert_one_screen(page)
    # Details on tap: an output cell's number and the panel's measures in words.
    cell = page.locator(f"{STAGE} .panel[data-method=roi_align] .out rect").nth(8)
    value = float(cell.get_attribute("data-value"))
    cell.tap()
    tip = page.locator(f"{STAGE} .tooltip")
    tip.wait_for(state="visible")
    text = tip.text_content()
    assert "output (row 1, col 1)" in text and "average gap to the exact answer" in text, text
    assert f"{value:.3g}"[:4] in text, (value, text)
    page.screenshot(path=str(ARTIFACTS / "screens-phone-tap-390x844.png"))
    page.locator(f"{STAGE} .panel[data-method=roi_align] .out rect").nth(8).tap()   # tap again: closed
    page.wait_for_timeout(200)
    assert not tip.is_visible()
    # The check badge's sentence on a tap (a phone has no hover).
    page.locator(f"{STAGE} .status").tap()
    tip.wait_for(state="visible")
    assert "Browser and server agree" in tip.text_content()
    assert not page.errors
    page.context.close()


# ----------------------------------------------------------------------------------------------
# A projector without presenter mode, and presenter mode

#: Stage texts cut off: an ellipsis, or text wider than its box where the box clips.
CUT_TEXTS = f"""() => {{
  const host = [...document.querySelectorAll('*')].find(e => e.shadowRoot && e.shadowRoot.querySelector('{STAGE}'));
  const root = host.shadowRoot.querySelector('{STAGE}');
  return [...root.querySelectorAll('.surface-title, .panel-title, .panel-summary, .panel-note, .legend-item, .status, .metrics th')]
    .filter(e => e.getClientRects().length && getComputedStyle(e).display !== 'none')
    .filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible'
                 || e.scrollHeight > e.clientHeight + 1 && getComputedStyle(e).overflowY !== 'visible')
    .map(e => e.textContent);
}}"""


def test_projector_with_the_sidebar_open_draws_each_surface_240_px_wide_and_cuts_no_text(server):
    page = open_stage(server, 1280, 720)
    assert page.locator("[data-testid=stSidebar]").get_attribute("aria-expanded") != "false"
    scroll_stage_into_view(page)
    for kind in ("image", "map"):
        picture = page.locator(f"{STAGE} .surface[data-surface={kind}] .surface-svg image").bounding_box()
        assert picture["width"] >= 240, (kind, picture)
    assert page.evaluate(CUT_TEXTS) == []
    off = on_screen(page, f"{STAGE} .surface-svg")
    for m in METHODS:
        off += on_screen(page, f"{STAGE} .panel[data-method={m}]")
    assert not off, off
    page.screenshot(path=str(ARTIFACTS / "screens-sidebar-1280x720.png"))
    page.context.close()


def test_presenter_mode_shows_a_colour_scale_and_20px_numbers_in_the_grids(server):
    page = open_stage(server, 1280, 720, query="?presenter=1&out=7x7")
    scale = page.locator(f"{STAGE} .legend-scale")
    assert scale.is_visible()
    lo, hi = (float(page.locator(f"{STAGE} .legend-scale {s}").text_content()) for s in (".scale-lo", ".scale-hi"))
    outputs = [v for m in METHODS for v in panel_geometry(page, m)["outputs"]]
    assert lo == pytest.approx(min(outputs), rel=0.01, abs=0.01) and hi == pytest.approx(max(outputs), rel=0.01)
    for m in METHODS:
        sizes = page.locator(f"{STAGE} .panel[data-method={m}] .out-text text").evaluate_all(
            "ts => ts.filter(t => t.style.display !== 'none').map(t => parseFloat(getComputedStyle(t).fontSize)"
            " * t.getScreenCTM().a)")
        assert len(sizes) == 49 and min(sizes) >= 20 - 0.01, (m, sizes[:3])
    page.screenshot(path=str(ARTIFACTS / "screens-presenter-1280x720.png"))
    page.context.close()


# ----------------------------------------------------------------------------------------------
# Learner first: the check is a badge, the measures are explained


def test_the_server_check_is_a_badge_with_its_sentence_on_hover(server):
    page = open_stage(server, 1500, 1000)
    status = page.locator(f"{STAGE} .status")
    assert "badge" in status.get_attribute("class") and status.text_content().strip() == "✓ checked"
    for attribute in ("title", "aria-label"):
        assert "Browser and server agree: largest |difference| 0" in status.get_attribute(attribute)
    assert status.bounding_box()["width"] < 120
    header = page.locator(f"{STAGE} .panel[data-method=roi_pool] .metrics th").nth(4)
    assert header.text_content() == "off exact by"
    assert "exact answer" in header.get_attribute("title")
    page.screenshot(path=str(ARTIFACTS / "screens-laptop-1500x1000.png"))
    page.context.close()


# ----------------------------------------------------------------------------------------------
# The teaching pages' static figures on a phone

#: The smallest figure text a phone test accepts (CSS px). The figures are laid out for 11 px
#: (roiviz.drawing.legible.PHONE_MIN_PX: Apple's smallest text style, Caption 2); 10 px leaves
#: room for a page a few pixels narrower than the 358 px the layout assumes.
PHONE_FIGURE_MIN_PX = 10

PHONE_PAGES = [("sensitivity", "sensitivity"), ("gradients", "gradients"), ("evidence", "evidence?table=2d")]

FIGURES_SHOWN = """() => [...document.querySelectorAll('[data-testid=stMain] [data-testid=stImage] img')]
  .filter(img => img.getBoundingClientRect().width > 0)
  .map(img => [img.getBoundingClientRect().width, img.naturalWidth, img.naturalHeight])"""


@pytest.mark.parametrize("name, path", PHONE_PAGES)
def test_teaching_figures_on_a_phone_have_text_of_10_px_or_more(server, name, path):
    from presenter_figures import PHONE_RECIPES

    url, browser = server
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    try:
        page = context.new_page()
        page.set_default_timeout(90_000)
        expected = PHONE_RECIPES[name]()
        page.goto(f"{url}/{path}")
        page.wait_for_function(f"(n) => {{ const s = ({FIGURES_SHOWN})(); return s.length >= n && "
                               "s.every(([w, nw]) => nw > 200); }", arg=len(expected))
        page.wait_for_timeout(500)
        shown = page.evaluate(FIGURES_SHOWN)
        assert len(shown) == len(expected), shown
        for width, natural_w, natural_h in shown:
            assert width <= 390
            # Each picture on screen is a phone variant (the page's own would be 3-4 px texts).
            figure = next((f for f in expected if abs(f.size[0] - natural_w) <= 2 and abs(f.size[1] - natural_h) <= 2),
                          None)
            assert figure is not None, (natural_w, natural_h, [f.size for f in expected])
            text, px = figure.smallest_px(width)
            assert px >= PHONE_FIGURE_MIN_PX, (figure.name, text, px, width)
        page.locator("[data-testid=stMain] [class*=st-key-fig-phone-] img").first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"screens-phone-{name}-390.png"))
        # At a desktop's width the same page shows its own figures again.
        page.set_viewport_size({"width": 1280, "height": 900})
        page.wait_for_timeout(300)
        wide = page.evaluate(FIGURES_SHOWN)
        assert wide and all(w > 390 for w, _, _ in wide)
        assert not [s for s in wide if any(abs(f.size[0] - s[1]) <= 2 for f in expected)]
    finally:
        context.close()
