"""The Feature pyramids page in a real browser: its four methods are the Playground's live stage
on the box's level, every panel follows a held drag, a release across sqrt(w*h) = 224 px switches
the stage (and the picture and the heading) from P3 to P4, and the page is at most four screens
tall at 1280 x 720. Screenshots at 1500 x 1000, 1280 x 720, 760 and 390 px wide go to
tests/artifacts/ (look at them).

Starts ``streamlit run app.py`` headless and drives Debian's /usr/bin/chromium with Playwright
(see tests/browser_support.py).
"""

from __future__ import annotations

import pytest
from browser_support import ARTIFACTS
from stage_driver import (METHODS, STAGE, held_drag, panel_geometry, stage_box, stage_state,
                          wait_for_server)


def open_page(server, query: str, width: int, height: int, **context_args):
    url, browser = server
    context = browser.new_context(viewport={"width": width, "height": height}, **context_args)
    pg = context.new_page()
    pg.set_default_timeout(120_000)
    errors = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.errors = errors  # type: ignore[attr-defined]
    # A fresh server resolves URLs through pages/ until app.py has called st.navigation once.
    pg.goto(url + "/")
    pg.locator("[data-testid=stSidebarNav]").get_by_text("Playground").wait_for()
    pg.goto(url + "/pyramids" + query)
    return pg


def level_text(pg) -> str:
    return pg.locator(".st-key-pyr_level h3").first.inner_text()


def wait_until_idle(pg) -> None:
    """The script has stopped, nothing is stale, the pyramid picture is loaded and the stage has
    drawn its four panels and agrees with the server."""
    pg.wait_for_function(
        "() => { const app = document.querySelector('[data-testid=stApp]');"
        " if (!app || app.getAttribute('data-test-script-state') === 'running') return false;"
        " if (document.querySelector('[data-stale=true]')) return false;"
        " const im = document.querySelector('[data-testid=stImage] img');"
        " return im && im.complete && im.naturalWidth > 200; }")
    pg.wait_for_selector(f"{STAGE} .panel[data-method=precise_roi_pool] .out rect")
    wait_for_server(pg)


def map_title(pg) -> str:
    return pg.locator(f"{STAGE} .surface[data-surface=map] .surface-title").inner_text()


def page_height(pg) -> int:
    """The page's full height: the document's (``document.scrollingElement``), or that of
    Streamlit's main area, whichever is larger: the main area is what scrolls (the document
    stays one window tall)."""
    return pg.evaluate("""() => Math.max(document.scrollingElement.scrollHeight,
        ...[...document.querySelectorAll('[data-testid=stMain], [data-testid=stAppViewContainer]')]
           .map(e => e.scrollHeight))""")


def screens(pg, path) -> None:
    """The whole page as the screens a reader scrolls through, one under the other, in one PNG
    (Streamlit scrolls its main area, so Playwright's full-page screenshot shows one screen)."""
    import io

    from PIL import Image

    width, height = pg.viewport_size["width"], pg.viewport_size["height"]
    tall = page_height(pg)
    shots = []
    for top in range(0, tall, height):
        pg.evaluate("(y) => document.querySelector('[data-testid=stMain]').scrollTo(0, y)", top)
        pg.wait_for_timeout(300)
        shots.append((min(top, tall - height), Image.open(io.BytesIO(pg.screenshot()))))
    sheet = Image.new("RGB", (width, tall), "white")
    for top, shot in shots:
        sheet.paste(shot, (0, top))
    sheet.save(path)
    pg.evaluate("() => document.querySelector('[data-testid=stMain]').scrollTo(0, 0)")


def test_four_live_panels_follow_a_drag_and_a_release_across_224_px_switches_the_level(server):
    pg = open_page(server, "?box=100,100,323.9,323.9", 1500, 1000)
    wait_until_idle(pg)
    assert level_text(pg) == "Level P3: stride 8 px"
    assert map_title(pg).startswith("P3, stride 8: 64 x 64 cells")
    assert pg.locator(f"{STAGE} .panel").count() == len(METHODS)
    pg.screenshot(path=str(ARTIFACTS / "pyramids_P3_1500.png"))
    pg.locator(STAGE).scroll_into_view_if_needed()
    before = {m: panel_geometry(pg, m) for m in METHODS}
    seen = []

    def during(i):
        seen.append((stage_state(pg)["state"], {m: panel_geometry(pg, m) for m in METHODS}))

    # Pull the bottom-right corner from (323.9, 323.9) to (340, 340) image px: 240 x 240 px, P4.
    held_drag(pg, "image", (323.9, 323.9), (340.0, 340.0), steps=6, during=during)
    # Before the release, in the browser alone, every panel has followed the box (a method whose
    # last run took over 40 ms skips frames, so on a loaded machine look at every frame).
    assert [state for state, _ in seen] == ["dragging"] * len(seen)
    for m in METHODS:
        assert any(frame[m]["outputs"] != before[m]["outputs"] for _, frame in seen), m
    # The release goes to the server, which pools the box from P4: the stage gets P4's map.
    pg.wait_for_function("() => document.querySelector('.st-key-pyr_level h3').innerText.startsWith('Level P4')")
    wait_until_idle(pg)
    assert level_text(pg) == "Level P4: stride 16 px"
    assert map_title(pg).startswith("P4, stride 16: 32 x 32 cells")
    x1, y1, x2, y2 = stage_box(pg)
    assert (x1, y1) == (100, 100) and 335 < x2 < 345 and 335 < y2 < 345, (x1, y1, x2, y2)
    assert float(stage_state(pg)["agreement"]) <= 1e-5      # the browser on P4 = the server on P4
    assert "box=100%2C100%2C" in pg.url or "box=100,100," in pg.url
    assert not pg.locator("[data-testid=stException]").count() and not pg.errors
    pg.screenshot(path=str(ARTIFACTS / "pyramids_P4_1500.png"))
    pg.context.close()


@pytest.mark.parametrize("width, height, presenter", [(1280, 720, 0), (1280, 720, 1)])
def test_page_fits_four_screens_at_1280x720(server, width, height, presenter):
    pg = open_page(server, f"?presenter={presenter}", width, height)
    wait_until_idle(pg)
    pg.wait_for_timeout(800)                                  # fonts and the last layout pass
    tall = page_height(pg)
    suffix = "_presenter" if presenter else ""
    pg.screenshot(path=str(ARTIFACTS / f"pyramids_{width}x{height}{suffix}.png"))
    screens(pg, ARTIFACTS / f"pyramids_{width}x{height}{suffix}_full.png")
    if not presenter:
        assert tall <= 4 * height, tall
    # The stage's drag surfaces and its four panels are there and drawn.
    assert pg.locator(f"{STAGE} .panel[data-method] .out rect").count() >= 4 * 49
    assert not pg.locator("[data-testid=stException]").count() and not pg.errors
    pg.context.close()


@pytest.mark.parametrize("width, height", [(760, 900), (390, 844)])
def test_page_at_a_blog_column_and_a_phone(server, width, height):
    pg = open_page(server, "?box=40,200,140,280", width, height, **({"has_touch": True, "is_mobile": True}
                                                                     if width < 500 else {}))
    wait_until_idle(pg)
    assert level_text(pg) == "Level P2: stride 4 px"            # sqrt(100 x 80) = 89.4 px
    assert map_title(pg).startswith("P2, stride 4: 128 x 128 cells")
    assert not pg.locator("[data-testid=stException]").count() and not pg.errors
    assert pg.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
    # On a phone the one-row picture keeps 960 px (texts about 11 px) and scrolls inside its frame.
    picture = pg.evaluate("""() => { const frame = document.querySelector('.st-key-pyr_picture');
        const img = frame.querySelector('img').getBoundingClientRect();
        return {img: img.width, left: img.left - frame.getBoundingClientRect().left,
                scrolls: frame.scrollWidth > frame.clientWidth + 1}; }""")
    if width < 640:      # its left edge at the frame's, so every panel can be scrolled to
        assert picture["img"] >= 960 and picture["scrolls"] and abs(picture["left"]) <= 1, picture
    else:
        assert not picture["scrolls"], picture
    pg.screenshot(path=str(ARTIFACTS / f"pyramids_{width}_top.png"))
    pg.locator(STAGE).scroll_into_view_if_needed()
    pg.screenshot(path=str(ARTIFACTS / f"pyramids_{width}.png"))
    screens(pg, ARTIFACTS / f"pyramids_{width}_full.png")
    pg.context.close()


def test_playground_pyramid_option_switches_level_across_224_px(server):
    url, browser = server
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(120_000)
    pg.goto(url + "/?fpn=1&aligned=0&box=100,100,323.9,323.9")
    level = pg.locator(".st-key-pyramid_level p").first
    level.wait_for()
    pg.wait_for_function("() => document.querySelector('.st-key-pyramid_level p').innerText"
                         ".includes('level P3, stride 8 px')")
    type_number(pg, "bx2", "324")
    pg.wait_for_url(lambda u: "box=100%2C100%2C324%2C323.9" in u or "box=100,100,324,323.9" in u)
    assert "level P3" in level.inner_text()
    type_number(pg, "by2", "324")
    pg.wait_for_function("() => document.querySelector('.st-key-pyramid_level p').innerText"
                         ".includes('level P4, stride 16 px')")
    # The live stage now holds the level's map (its title names the stride).
    pg.locator(".roiviz-stage .surface[data-surface=map]", has_text="stride 16").wait_for()
    assert not pg.locator("[data-testid=stException]").count()
    pg.screenshot(path=str(ARTIFACTS / "playground_pyramid_P4.png"))
    context.close()


def type_number(pg, key: str, value: str) -> None:
    field = pg.locator(f".st-key-{key} input")
    field.fill(value)
    field.press("Enter")


def test_presenter_picture_uses_the_width_and_the_formula_is_page_text(server):
    """At 1280 x 720 in presenter mode the pyramid picture is as wide as the page gives it
    (PRESENTER_PICTURE_PX, where test_render_pyramid proves its texts are >= 20 px), not shrunk
    by the height limit, and the level formula with the box's numbers is page text at >= 20 px
    under it; the picture is on screen without scrolling, and the formula starts on it."""
    from roiviz.drawing.render_pyramid import PRESENTER_PICTURE_PX
    from roiviz.app.ui import PRESENTER_MIN_PX

    pg = open_page(server, "?presenter=1&box=180,60,330,210", 1280, 720)
    wait_until_idle(pg)
    pg.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
    pg.wait_for_timeout(800)                                  # fonts and the last layout pass
    pg.screenshot(path=str(ARTIFACTS / "pyramids_presenter_1280x720.png"))
    m = pg.evaluate("""() => {
      const im = document.querySelector('[data-testid=stImage] img');
      const code = [...document.querySelectorAll('[data-testid=stCode]')]
        .filter(c => c.innerText.includes('clamp('))[0];
      const r = (e) => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
      return {img: r(im), natural: im.naturalWidth, code: code && r(code), text: code && code.innerText,
              size: code && parseFloat(getComputedStyle(code.querySelector('code')).fontSize),
              level: document.querySelector('.st-key-pyr_level h3').innerText,
              scrollX: document.documentElement.scrollWidth > innerWidth};
    }""")
    left, top, right, bottom = m["img"]
    assert right - left >= PRESENTER_PICTURE_PX - 2, m["img"]         # the width, not the height, limits it
    assert m["natural"] >= right - left                                # never blown up
    assert m["level"] == "Level P3: stride 8 px"
    assert m["code"] is not None and m["size"] >= PRESENTER_MIN_PX
    assert "k = clamp(floor(4 + log2(sqrt(w*h) / 224) + 1e-06), 2, 5)" in m["text"]
    assert "sqrt(150 x 150) = 150.00 px" in m["text"] and "level P3: stride 8 px" in m["text"]
    assert m["code"][1] >= bottom - 1                                  # under the picture
    # Presenter figures grow to the page's width (issue 20): the picture is on screen, the
    # formula starts on it (its last lines may need a scroll).
    assert top >= 0 and bottom <= 720 and m["code"][1] <= 720 - 60 and not m["scrollX"]
    assert not pg.locator("[data-testid=stException]").count()
    pg.context.close()
