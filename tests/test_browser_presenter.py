"""Presenter mode on a 1280 x 720 projector, in a real Chromium: every page's texts are at least
20 px (computed CSS font size), no element's box covers another's text, nothing is cut off, and
the current figure is wholly on screen without scrolling.

Starts ``streamlit run app.py`` headless and drives Debian's /usr/bin/chromium with Playwright
(see tests/browser_support.py). Screenshots go to tests/artifacts/presenter-*.png: look at them.
"""

from __future__ import annotations

import pytest
from browser_support import ARTIFACTS, app_page, save_download

from roiviz.ui import PRESENTER_MIN_PX

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
    pg.locator(figure).first.wait_for(state="visible")        # Playwright's locators pierce shadow roots
    pg.locator(figure).first.evaluate(
        "el => el.tagName !== 'IMG' || el.complete && el.naturalWidth > 200 ||"
        " new Promise(r => el.addEventListener('load', r, {once: true}))")
    pg.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
    pg.wait_for_timeout(800)     # fonts and the last layout pass


@pytest.mark.parametrize("name, path, title, figure", PAGES, ids=[p[0] for p in PAGES])
def test_presenter_mode_fits_a_projector(presenter_page, name, path, title, figure):
    pg = presenter_page
    pg.goto(pg.url_base + path)
    pg.wait_for_selector(f"h1:has-text('{title}')")
    _settled(pg, figure)
    pg.screenshot(path=str(ARTIFACTS / f"presenter-{name}-1280x720.png"))
    m = pg.evaluate(MEASURE, figure)
    assert m["viewport"] == [WIDTH, HEIGHT]
    _assert_fits(m)
    left, top, right, bottom = m["figure"]
    assert (right - left) * (bottom - top) >= 0.2 * WIDTH * HEIGHT   # and not shrunk to a stamp


def _assert_fits(m) -> None:
    small = [(t["text"], t["size"], t["where"]) for t in m["texts"] if t["size"] < PRESENTER_MIN_PX - 0.01]
    assert not small, small[:12]
    assert not m["overlaps"], m["overlaps"][:12]
    cut = [(t["text"], t["where"]) for t in m["texts"] if t["cut"]]
    assert not cut, cut[:12]
    left, top, right, bottom = m["figure"]
    assert left >= -0.5 and top >= -0.5 and right <= WIDTH + 0.5 and bottom <= HEIGHT + 0.5, m["figure"]


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
    stage = pg.locator(".roiviz-stage .layout").bounding_box()
    assert stage["x"] >= pg.locator("[data-testid=stSidebar]").bounding_box()["width"] - 1


def test_gif_download_from_the_sensitivity_page(presenter_page):
    """The GIF button is drawn on click (deferred): the browser gets a looping 16-frame GIF."""
    import io

    from PIL import Image

    from roiviz.animate import MAX_GIF_BYTES

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
    from roiviz.export import MAX_PAGE_BYTES

    pg = presenter_page
    pg.goto(pg.url_base + "/?presenter=0")
    pg.wait_for_selector(".roiviz-stage .panel .out rect")
    path = save_download(pg, ".st-key-dl_html button:visible", 120_000)
    assert path.name == "roiviz-3x3-ratio2-astronaut.html"      # named after the view (the defaults)
    text = path.read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) < MAX_PAGE_BYTES
    assert text.startswith("<!doctype html>") and "mountStage(" in text and "default-src 'none'" in text
