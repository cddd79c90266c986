"""The box-gradient views in a real browser: Gradient flow's sweep chart and the Box refinement
lab (its animated figure plays, its table of 100 starts appears). Screenshots at 1500 x 1000,
1280 x 720 and 390 px in tests/artifacts/ (look at them)."""

from __future__ import annotations

import pytest
from browser_support import ARTIFACTS, app_page

SIZES = [(1500, 1000), (1280, 720), (390, 844)]


@pytest.mark.parametrize("width, height", SIZES)
def test_sweep_and_lab(width, height):
    with app_page(width, height, timeout_ms=180_000) as pg:
        pg.goto(pg.url_base + "/gradients")
        heading = pg.get_by_text("Gradients with respect to the box")
        heading.wait_for()
        chart = pg.locator("[data-testid=stPlotlyChart]").first
        chart.locator(".scatterlayer .trace").first.wait_for(state="attached")
        # Four methods plus the two kinds of marks.
        assert chart.locator(".scatterlayer .trace").count() == 6
        chart.scroll_into_view_if_needed()
        pg.wait_for_timeout(500)
        pg.screenshot(path=str(ARTIFACTS / f"gradients_box_sweep_{width}x{height}.png"))

        pg.goto(pg.url_base + "/refinement")
        pg.get_by_text("One start, four methods").wait_for()
        # The study's table (100 seeded starts) appears below once computed.
        pg.locator("[data-testid=stTable]").nth(1).wait_for(timeout=240_000)
        text = pg.locator("[data-testid=stTable]").nth(1).inner_text()
        for name in ("RoI Pool", "RoI Warp", "RoI Align", "Precise RoI Pooling", "start (jittered)"):
            assert name in text
        fig = pg.locator("[data-testid=stPlotlyChart]").first
        fig.scroll_into_view_if_needed()
        fig.get_by_text("play").click()
        pg.wait_for_timeout(2500)
        pg.screenshot(path=str(ARTIFACTS / f"refinement_lab_{width}x{height}.png"))
        pg.locator("[data-testid=stTable]").nth(1).scroll_into_view_if_needed()
        pg.wait_for_timeout(300)
        pg.screenshot(path=str(ARTIFACTS / f"refinement_table_{width}x{height}.png"))
