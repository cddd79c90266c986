"""Presenter mode on a 1280 x 720 projector, in a real Chromium: on every page the sidebar is
collapsed, every text is at least 20 px, measured twice (the computed CSS font size of every
visible text node, and each figure's own font sizes at the size it is shown:
``pt * dpi / 72 * shown_width / natural_width``, tests/presenter_figures.py), figures are as wide
as the page (never shrunk to the window's height), no element's box covers another's text and
nothing is cut off. The Playground's stage is wholly on screen without scrolling.
Also: the first-visit tip and its dismissal, and every page at 390 px (a phone).

Starts ``streamlit run app.py`` headless and drives Debian's /usr/bin/chromium with Playwright
(see tests/browser_support.py). Screenshots go to tests/artifacts/presenter-*.png: look at them.
"""

from __future__ import annotations

import pytest
from browser_support import ARTIFACTS, app_page, save_download
from presenter_figures import RECIPES

from roiviz.drawing.legible import PROJECTOR_SHOWN_PX
from roiviz.app.ui import PRESENTER_MIN_PX, TIP_TEXT

WIDTH, HEIGHT = 1280, 720

#: Measures the page: every visible text node's font size and boxes, which text boxes overlap,
#: which texts are cut off (ellipsis or clipped by an ancestor), and where the figure is.
MEASURE = """(figureSelector) => {
  const root = document.querySelector('.stApp');
  const texts = [], owners = [];   // owners[i]: the element holding texts[i]
  // The page and every shadow root in it (the live stage is a component in one).
  const roots = [root, ...[...root.querySelectorAll('*')].filter(e => e.shadowRoot).map(e => e.shadowRoot)];
  const up = (e) => e.parentElement || (e.getRootNode().host || null);
  for (const scope of roots) {
  const walker = document.createTreeWalker(scope, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const text = node.textContent.trim();
    if (!text) continue;
    const el = node.parentElement;
    if (el.closest('style, script, noscript, [aria-hidden=true], .material-symbols-rounded, [data-testid=stIconMaterial]')) continue;
    if (el.closest('svg') && !el.closest('text')) continue;   // charts' SVG text counts, icons do not
    const cs = getComputedStyle(el);
    if (cs.visibility !== 'visible' || parseFloat(cs.opacity) === 0) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const rects = [...range.getClientRects()].filter(r => r.width > 1 && r.height > 1);
    if (!rects.length) continue;
    if (el.closest('[data-testid=stSidebar][data-collapsed=true]')) continue;   // a collapsed sidebar
    const closed = el.closest('details:not([open])');         // a closed expander's content
    if (closed && !el.closest('summary')) continue;
    const own = el.getBoundingClientRect();
    if (own.width <= 2 || own.height <= 2) continue;            // visually hidden (skip links)
    // Clipping ancestors: wholly outside one = hidden (a closed expander); partly = cut off,
    // unless the ancestor scrolls that way (the page itself scrolls down).
    let hidden = false;
    let cut = cs.textOverflow === 'ellipsis' && el.scrollWidth > el.clientWidth + 1;
    let scrollsX = false, scrollsY = false;   // once inside a scroller, its outer clips don't cut
    for (let a = up(el); a && a !== document.documentElement; a = up(a)) {
      const acs = getComputedStyle(a);
      if (acs.overflowX === 'visible' && acs.overflowY === 'visible') continue;
      const box = a.getBoundingClientRect();
      scrollsX = scrollsX || ['auto', 'scroll'].includes(acs.overflowX);
      scrollsY = scrollsY || ['auto', 'scroll'].includes(acs.overflowY);
      for (const r of rects) {
        const inX = Math.min(r.right, box.right) - Math.max(r.left, box.left);
        const inY = Math.min(r.bottom, box.bottom) - Math.max(r.top, box.top);
        if ((inX <= 0 && !scrollsX) || (inY <= 0 && !scrollsY)) hidden = true;
        else if ((!scrollsX && (r.left < box.left - 1 || r.right > box.right + 1)) ||
                 (!scrollsY && (r.top < box.top - 1 || r.bottom > box.bottom + 1))) cut = true;
      }
    }
    if (hidden) continue;
    owners.push(el);
    texts.push({text: text.slice(0, 60), size: parseFloat(cs.fontSize), cut,
                where: (el.closest('[data-testid]') || el).dataset.testid || el.tagName,
                rects: rects.map(r => [r.left, r.top, r.right, r.bottom])});
  }
  }
  const hit = (a, b) => Math.min(a[2], b[2]) - Math.max(a[0], b[0]) > 1 && Math.min(a[3], b[3]) - Math.max(a[1], b[1]) > 1;
  const overlaps = [];
  for (let i = 0; i < texts.length; i++)
    for (let j = i + 1; j < texts.length; j++)
      if (texts[i].rects.some(a => texts[j].rects.some(b => hit(a, b))))
        overlaps.push([texts[i].text, texts[j].text]);
  // Pictures and charts covering a text that is not theirs.
  for (const img of document.querySelectorAll('.stApp img, .stApp canvas, .stApp .js-plotly-plot')) {
    const r = img.getBoundingClientRect();
    const box = [r.left, r.top, r.right, r.bottom];
    texts.forEach((t, i) => {
      if (!img.contains(owners[i]) && t.rects.some(a => hit(a, box))) overlaps.push(['<figure>', t.text]);
    });
  }
  let fig = document.querySelector(figureSelector);
  for (const scope of roots) fig = fig || scope.querySelector(figureSelector);
  const f = fig ? fig.getBoundingClientRect() : null;
  return {texts, overlaps, figure: f && [f.left, f.top, f.right, f.bottom],
          viewport: [innerWidth, innerHeight]};
}"""

PAGES = [
    ("playground", "/?presenter=1", "Playground", ".roiviz-stage .layout"),
    ("walkthrough", "/walkthrough?step=6&conv=article&presenter=1", "Walkthrough",
     "[data-testid=stImage] img"),
    ("walkthrough-bilinear", "/walkthrough?step=9&conv=library&presenter=1", "Walkthrough",
     "[data-testid=stImage] img"),
    ("walkthrough-photo", "/walkthrough?step=1&conv=article&presenter=1", "Walkthrough",
     "[data-testid=stImage] img"),
    ("sensitivity", "/sensitivity?presenter=1", "Sub-pixel sensitivity", "[data-testid=stImage] img"),
    ("gradients", "/gradients?presenter=1", "Gradient flow", "[data-testid=stImage] img"),
    ("evidence", "/evidence?table=2d&presenter=1", "Evidence", "[data-testid=stImage] img"),
    ("pyramids", "/pyramids?presenter=1", "Feature pyramids", "[data-testid=stImage] img"),
]


@pytest.fixture(scope="module")
def presenter_page():
    with app_page(WIDTH, HEIGHT, timeout_ms=90_000) as pg:
        yield pg


def _settled(pg, figure: str) -> None:
    # Playwright's locators pierce shadow roots. A projector figure is drawn once per state
    # (cached), in a few seconds, longer on a busy machine.
    pg.locator(figure).first.wait_for(state="visible", timeout=240_000)
    pg.locator(figure).first.evaluate(
        "el => el.tagName !== 'IMG' || el.complete && el.naturalWidth > 200 ||"
        " new Promise(r => el.addEventListener('load', r, {once: true}))")
    pg.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
    pg.wait_for_timeout(800)     # fonts and the last layout pass


@pytest.fixture(scope="module")
def page_figures():
    """Each page's figures, rebuilt by the package (page name -> [PageFigure])."""
    return {name: make() for name, make in RECIPES.items()}


#: Each figure's displayed size and its PNG's: ``[shown w, shown h, natural w, natural h]``.
IMAGES = """() => [...document.querySelectorAll('[data-testid=stImage] img')].map(img => {
  const r = img.getBoundingClientRect();
  return [r.width, r.height, img.naturalWidth, img.naturalHeight];
})"""


@pytest.mark.parametrize("name, path, title, figure", PAGES, ids=[p[0] for p in PAGES])
def test_presenter_mode_fits_a_projector(presenter_page, page_figures, name, path, title, figure):
    pg = presenter_page
    pg.goto(pg.url_base + path)
    pg.wait_for_selector(f"h1:has-text('{title}')")
    _settled(pg, figure)
    pg.screenshot(path=str(ARTIFACTS / f"presenter-{name}-1280x720.png"))
    m = pg.evaluate(MEASURE, figure)
    assert m["viewport"] == [WIDTH, HEIGHT]
    assert pg.locator("[data-testid=stSidebar]").get_attribute("data-collapsed") == "true"
    assert TIP_TEXT.split(":")[0] not in pg.content()            # no first-visit tip on a projector
    _assert_fits(m)
    left, top, right, bottom = m["figure"]
    assert (right - left) * (bottom - top) >= 0.2 * WIDTH * HEIGHT   # and not shrunk to a stamp
    if name == "playground":                                      # the stage: one screen
        assert left >= -0.5 and top >= -0.5 and right <= WIDTH + 0.5 and bottom <= HEIGHT + 0.5, m["figure"]
        return
    # Every figure grows to its column's width, keeps its shape, and its own texts are >= 20 px.
    figures = {f.size: f for f in page_figures[name]}
    for index, (shown_w, shown_h, natural_w, natural_h) in enumerate(pg.evaluate(IMAGES)):
        if name == "pyramids" and index == 0:
            # The pyramid picture (one row): its texts are checked at PRESENTER_PICTURE_PX in
            # tests/drawing/test_render_pyramid.py; here it must be shown at least that wide.
            from roiviz.drawing.render_pyramid import PRESENTER_PICTURE_PX
            assert shown_w >= PRESENTER_PICTURE_PX - 1
            continue
        fig = next((f for size, f in figures.items() if _served_size(size)[0] == natural_w
                    and abs(_served_size(size)[1] - natural_h) <= 1), None)
        assert fig is not None, f"a figure of {natural_w} x {natural_h} px that no recipe draws: {list(figures)}"
        share = 0.6 if name == "walkthrough-photo" else 1.0
        assert shown_w >= PROJECTOR_SHOWN_PX * share - 1, (fig.name, shown_w)       # grown to the width
        assert abs(shown_h - shown_w * natural_h / natural_w) <= 2, (fig.name, shown_w, shown_h)   # not squeezed
        text, px = fig.smallest_px(shown_w)
        assert px >= PRESENTER_MIN_PX, (fig.name, text, px)


#: Streamlit serves an st.image at most this wide (pixels; wider PNGs are downscaled, which
#: changes no text's size on screen: that depends on the shown width and the PNG's own width).
SERVED_MAX_WIDTH = 1460


def _served_size(size: tuple[int, int]) -> tuple[int, int]:
    w, h = size
    return (w, h) if w <= SERVED_MAX_WIDTH else (SERVED_MAX_WIDTH, int(h * SERVED_MAX_WIDTH / w))


def _assert_fits(m) -> None:
    small = [(t["text"], t["size"], t["where"]) for t in m["texts"] if t["size"] < PRESENTER_MIN_PX - 0.01]
    assert not small, small[:12]
    assert not m["overlaps"], m["overlaps"][:12]
    cut = [(t["text"], t["where"]) for t in m["texts"] if t["cut"]]
    assert not cut, cut[:12]


def test_playground_presenter_collapses_the_sidebar_and_fits_with_it_open(presenter_page):
    """Presenter mode gives the stage the whole width (the sidebar starts collapsed); a lecturer
    who opens the sidebar to change a setting still sees every panel, at 20 px, uncut."""
    pg = presenter_page
    pg.goto(pg.url_base + "/?presenter=1")
    pg.wait_for_selector("h1:has-text('Playground')")
    _settled(pg, ".roiviz-stage .layout")
    assert pg.locator("[data-testid=stSidebar]").get_attribute("data-collapsed") == "true"
    pg.locator("[data-testid=stExpandSidebarButton]").first.click()
    pg.locator("[data-testid=stSidebar][data-collapsed=false]").wait_for(state="attached")
    pg.wait_for_timeout(1200)   # the sidebar's slide and the stage's layout pass
    pg.screenshot(path=str(ARTIFACTS / "presenter-playground-sidebar-1280x720.png"))
    m = pg.evaluate(MEASURE, ".roiviz-stage .layout")
    _assert_fits(m)
    left, top, right, bottom = m["figure"]
    assert left >= -0.5 and top >= -0.5 and right <= WIDTH + 0.5 and bottom <= HEIGHT + 0.5, m["figure"]
    stage = pg.locator(".roiviz-stage .layout").bounding_box()
    assert stage["x"] >= pg.locator("[data-testid=stSidebar]").bounding_box()["width"] - 1


def test_gif_download_from_the_sensitivity_page(presenter_page):
    """The GIF button is drawn on click (deferred): the browser gets a looping 16-frame GIF."""
    import io

    from PIL import Image

    from roiviz.drawing.animate import MAX_GIF_BYTES

    pg = presenter_page
    pg.goto(pg.url_base + "/sensitivity?presenter=0&methods=roi_pool,roi_align")
    pg.wait_for_selector("h1:has-text('Sub-pixel sensitivity')")
    _settled(pg, "[data-testid=stImage] img")
    path = save_download(pg, ".st-key-sens_dl_gif button:visible", 180_000)
    assert path.name == "roiviz-sensitivity-shift-x.gif"
    data = path.read_bytes()
    assert data.startswith(b"GIF89a") and len(data) <= MAX_GIF_BYTES
    with Image.open(io.BytesIO(data)) as im:
        assert im.n_frames == 16 and im.info["loop"] == 0


def test_playground_downloads_an_interactive_page(presenter_page):
    """The Playground's "Download interactive page" gives one HTML file under 1.5 MB that holds
    the stage (its behaviour from disk is tested in test_interactive_page.py)."""
    from roiviz.drawing.export import MAX_PAGE_BYTES

    pg = presenter_page
    pg.goto(pg.url_base + "/?presenter=0")
    pg.wait_for_selector(".roiviz-stage .panel .out rect")
    path = save_download(pg, ".st-key-dl_html button:visible", 120_000)
    assert path.name == "roiviz-3x3-ratio2-astronaut.html"      # named after the view (the defaults)
    text = path.read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) < MAX_PAGE_BYTES
    assert text.startswith("<!doctype html>") and "mountStage(" in text and "default-src 'none'" in text


def test_first_visit_tip_links_the_walkthrough_and_stays_dismissed(presenter_page):
    """A learner's first page says where to start, with a link; once dismissed it stays away on
    every page of the visit (one session), and the Walkthrough itself never shows it."""
    pg = presenter_page
    pg.goto(pg.url_base + "/sensitivity?presenter=0")
    pg.wait_for_selector("h1:has-text('Sub-pixel sensitivity')")
    tip = pg.locator(".st-key-roiviz_tip")
    tip.get_by_text(TIP_TEXT).wait_for(state="visible")
    pg.screenshot(path=str(ARTIFACTS / "tip-sensitivity-1280x720.png"))
    assert tip.bounding_box()["height"] < 60                                       # one line and tip.bounding_box()["height"] < 60     # one line
    link = tip.locator("a[href]")
    assert link.get_attribute("href").rstrip("/").endswith("walkthrough")
    tip.locator(".st-key-roiviz_tip_dismiss button").first.click()
    tip.wait_for(state="detached")
    # Another page of the same visit (the menu keeps the session): no tip.
    pg.locator("[data-testid=stSidebarNav]").get_by_text("Evidence").click()
    pg.wait_for_selector("h1:has-text('Evidence')")
    pg.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
    pg.wait_for_timeout(500)
    assert pg.locator(".st-key-roiviz_tip").count() == 0
    # A new visit (a reload is a new session) shows it again; embedded in a post it does not.
    pg.goto(pg.url_base + "/evidence?presenter=0")
    pg.locator(".st-key-roiviz_tip").wait_for(state="visible")
    pg.goto(pg.url_base + "/evidence?presenter=0&embed=true")
    pg.wait_for_selector("h1:has-text('Evidence')")
    pg.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
    pg.wait_for_timeout(500)
    assert pg.locator(".st-key-roiviz_tip").count() == 0


PHONE_PAGES = [("playground", "/?presenter=0", "Playground"),
               ("walkthrough", "/walkthrough?step=6&presenter=0", "Walkthrough"),
               ("sensitivity", "/sensitivity?presenter=0", "Sub-pixel sensitivity"),
               ("gradients", "/gradients?presenter=0", "Gradient flow"),
               ("evidence", "/evidence?table=2d&presenter=0", "Evidence"),
               ("pyramids", "/pyramids?presenter=0", "Feature pyramids")]


@pytest.mark.parametrize("name, path, title", PHONE_PAGES, ids=[p[0] for p in PHONE_PAGES])
def test_every_page_on_a_phone(presenter_page, name, path, title):
    """A fresh phone (390 x 844, touch): nothing runs off the side of the page (it never scrolls
    sideways) and the tables' headers carry their tooltips; the page is saved whole (a 390-px
    window as tall as the page) to look at."""
    context = presenter_page.context.browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        pg = context.new_page()
        pg.set_default_timeout(90_000)
        pg.goto(presenter_page.url_base + path)
        pg.wait_for_selector(f"h1:has-text('{title}')")
        if name == "pyramids":     # its levels table is in the rule's expander, under "Every level"
            pg.get_by_text("How the rule picks", exact=False).first.click()
            pg.get_by_role("tab", name="Every level").click()
        if name in ("sensitivity", "gradients", "evidence", "pyramids"):
            pg.locator("table.roiviz-table th").first.wait_for()
            headers = pg.locator("table.roiviz-table th")
            assert headers.count() >= 4
            assert all(len(headers.nth(i).get_attribute("title") or "") > 15 for i in range(headers.count()))
        pg.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
        pg.wait_for_timeout(1500)
        assert pg.locator("[data-testid=stSidebar]").get_attribute("data-collapsed") == "true"
        main = pg.locator("[data-testid=stMain]").first
        assert main.evaluate("el => el.scrollWidth <= el.clientWidth + 1"), main.evaluate(
            "el => [el.scrollWidth, el.clientWidth]")
        pg.screenshot(path=str(ARTIFACTS / f"phone-{name}-390x844.png"))
        tall = min(main.evaluate("el => el.scrollHeight"), 7000)
        pg.set_viewport_size({"width": 390, "height": tall})
        pg.wait_for_timeout(800)
        pg.screenshot(path=str(ARTIFACTS / f"phone-{name}-390-whole.png"))
    finally:
        context.close()
