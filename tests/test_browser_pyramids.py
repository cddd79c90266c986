"""The Feature pyramids page in a real browser: typing a box across sqrt(w*h) = 224 px switches
the level shown from P3 to P4 (and the pyramid figure and the panels follow); screenshots at
1500 x 1000, 1280 x 720 and 390 px wide go to tests/artifacts/.

Starts ``streamlit run app.py`` headless and drives Debian's /usr/bin/chromium with Playwright
(see tests/browser_support.py).
"""

from __future__ import annotations

import pytest
from browser_support import ARTIFACTS


def open_page(server, query: str, width: int, height: int):
    url, browser = server
    context = browser.new_context(viewport={"width": width, "height": height})
    pg = context.new_page()
    pg.set_default_timeout(120_000)
    # A fresh server resolves URLs through pages/ until app.py has called st.navigation once.
    pg.goto(url + "/")
    pg.locator("[data-testid=stSidebarNav]").get_by_text("Playground").wait_for()
    pg.goto(url + "/pyramids" + query)
    return pg


def level_text(pg) -> str:
    return pg.locator(".st-key-pyr_level h3").first.inner_text()


def wait_until_idle(pg) -> None:
    """The script has stopped, nothing is stale and the pyramid figure is loaded."""
    pg.wait_for_function(
        "() => { const app = document.querySelector('[data-testid=stApp]');"
        " if (!app || app.getAttribute('data-test-script-state') === 'running') return false;"
        " if (document.querySelector('[data-stale=true]')) return false;"
        " const im = document.querySelector('[data-testid=stImage] img');"
        " return im && im.complete && im.naturalWidth > 200; }")


def type_number(pg, key: str, value: str) -> None:
    field = pg.locator(f".st-key-{key} input")
    field.fill(value)
    field.press("Enter")


def test_a_box_resized_across_224_px_changes_the_level(server):
    pg = open_page(server, "?box=100,100,323.9,323.9", 1500, 1000)
    pg.wait_for_selector(".st-key-pyr_level h3")
    wait_until_idle(pg)
    assert level_text(pg) == "Level P3: stride 8 px"
    assert "floor(3.9994) = 3" in pg.locator(".st-key-pyr_level [data-testid=stCode]").inner_text()
    pg.screenshot(path=str(ARTIFACTS / "pyramids_P3_1500.png"), full_page=False)
    type_number(pg, "pyr_x2", "324")
    pg.wait_for_url(lambda u: "box=100%2C100%2C324%2C323.9" in u or "box=100,100,324,323.9" in u)
    wait_until_idle(pg)
    assert level_text(pg) == "Level P3: stride 8 px"          # 224 x 223.9 is still below 224
    type_number(pg, "pyr_y2", "324")
    pg.wait_for_function("() => document.querySelector('.st-key-pyr_level h3').innerText"
                         ".startsWith('Level P4')")
    wait_until_idle(pg)
    assert level_text(pg) == "Level P4: stride 16 px"
    assert "14.00 x 14.00 cells" in pg.locator(".st-key-pyr_level [data-testid=stCode]").inner_text()
    assert "box=100%2C100%2C324%2C324" in pg.url or "box=100,100,324,324" in pg.url
    # The panels are drawn on P4 now (their titles name the stride).
    panel = pg.locator(".st-key-pyr_panel_roi_align .js-plotly-plot").first
    panel.wait_for()
    assert not pg.locator("[data-testid=stException]").count()
    pg.screenshot(path=str(ARTIFACTS / "pyramids_P4_1500.png"))
    pg.set_viewport_size({"width": 1500, "height": 4600})
    wait_until_idle(pg)
    pg.screenshot(path=str(ARTIFACTS / "pyramids_P4_full.png"))
    pg.context.close()


@pytest.mark.parametrize("width, height", [(1280, 720), (390, 7000)])
def test_page_at_other_sizes(server, width, height):
    pg = open_page(server, "?box=40,200,140,280", width, height)
    pg.wait_for_selector(".st-key-pyr_level h3")
    wait_until_idle(pg)
    assert level_text(pg) == "Level P2: stride 4 px"            # sqrt(100 x 80) = 89.4 px
    assert not pg.locator("[data-testid=stException]").count()
    # The screenshot shows the method panels drawn, not their empty frames.
    pg.locator(".st-key-pyr_out_precise_roi_pool .js-plotly-plot g.xtick").first.wait_for(state="attached")
    pg.screenshot(path=str(ARTIFACTS / f"pyramids_{width}.png"))
    pg.context.close()


#: Per plotly chart: tick labels the legend covers, and pairs of numbers in cells that overlap.
CHART_TEXTS = """() => {
  const hit = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5 &&
                        Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5;
  return [...document.querySelectorAll('.js-plotly-plot')].map(plot => {
    const legend = plot.querySelector('g.legend');
    const ticks = [...plot.querySelectorAll('g.xtick text, g.ytick text')];
    const numbers = [...plot.querySelectorAll('g.heatmaplayer text')].map(t => t.getBoundingClientRect());
    let overlapping = 0;
    for (let i = 0; i < numbers.length; i++)
      for (let j = i + 1; j < numbers.length; j++) if (hit(numbers[i], numbers[j])) overlapping++;
    return {key: plot.closest('[class*=st-key-]').className.match(/st-key-(\\S+)/)[1], ticks: ticks.length,
            covered: legend ? ticks.filter(t => hit(legend.getBoundingClientRect(), t.getBoundingClientRect()))
                                   .map(t => t.textContent) : [],
            numbers: numbers.length, overlapping};
  });
}"""


@pytest.mark.parametrize("width, height, presenter", [(1280, 720, 0), (1280, 720, 1), (1500, 1000, 0),
                                                       (390, 7000, 0)])
def test_legends_never_cover_tick_labels_and_numbers_never_overlap(server, width, height, presenter):
    pg = open_page(server, f"?out=3&presenter={presenter}", width, height)
    pg.locator(".st-key-pyr_out_precise_roi_pool .js-plotly-plot g.xtick").first.wait_for(state="attached")
    wait_until_idle(pg)
    charts = pg.evaluate(CHART_TEXTS)
    assert len(charts) == 8 and all(c["ticks"] for c in charts)
    assert [c for c in charts if c["covered"] or c["overlapping"]] == []
    # A 3 x 3 output has room for its numbers at every width, presenter mode included.
    assert {c["key"]: c["numbers"] for c in charts if c["key"].startswith("pyr_out_")} == {
        f"pyr_out_{m}": 9 for m in ("roi_pool", "roi_warp", "roi_align", "precise_roi_pool")}
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


def test_presenter_picture_uses_the_width_and_the_formula_is_page_text(server):
    """At 1280 x 720 in presenter mode the pyramid picture is as wide as the page gives it
    (PRESENTER_PICTURE_PX, where test_render_pyramid proves its texts are >= 20 px), not shrunk
    by the height limit, and the level formula with the box's numbers is page text at >= 20 px
    under it; the picture is on screen without scrolling, and the formula starts on it."""
    from roiviz.render_pyramid import PRESENTER_PICTURE_PX
    from roiviz.ui import PRESENTER_MIN_PX

    pg = open_page(server, "?presenter=1&box=180,60,330,210", 1280, 720)
    pg.wait_for_selector(".st-key-pyr_level h3")
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
