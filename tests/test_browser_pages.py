"""The teaching pages in a real browser: open each page, click through the whole walkthrough,
download a PNG, reopen a copied link, and save a screenshot of every page to tests/artifacts/.

Starts ``streamlit run app.py`` headless and drives Debian's /usr/bin/chromium with Playwright
(see tests/browser_support.py). Look at the screenshots.
"""

from __future__ import annotations

import pytest
from browser_support import ARTIFACTS, app_page, save_download

from roiviz.drawing.export import PNG_SIGNATURE
from roiviz.lessons.walkthrough import STEP_KEYS, walkthrough

N = len(STEP_KEYS)


@pytest.fixture(scope="module")
def browser_page():
    with app_page(1400, 3000) as pg:
        yield pg


def wait_for_image(pg) -> None:
    pg.wait_for_function(
        "() => { const im = document.querySelector('[data-testid=stImage] img');"
        " return im && im.complete && im.naturalWidth > 200; }")


def heading(pg) -> str:
    return pg.locator("[data-testid=stHeading] h3").first.inner_text()


def wait_for_step(pg, i: int) -> None:
    """Until step ``i`` is shown and its run has finished (the page writes the address bar last)."""
    pg.wait_for_url(lambda u: f"step={i}&" in u)
    pg.wait_for_function(
        "(want) => [...document.querySelectorAll('[data-testid=stHeading] h3')]"
        ".some(h => h.innerText.startsWith(want))", arg=f"Step {i} of {N}:")
    wait_for_image(pg)
    pg.wait_for_function("() => [...document.querySelectorAll('[data-testid=stCode] code')]"
                         ".some(c => c.innerText.includes('step='))")


def test_walkthrough_click_through_every_step(browser_page):
    pg = browser_page
    pg.goto(pg.url_base + "/walkthrough")
    wait_for_step(pg, 1)
    nav = pg.locator("[data-testid=stSidebarNav]")
    assert nav.get_by_text("Walkthrough").is_visible() and not nav.get_by_text("common").count()
    steps = walkthrough("article").steps
    pg.screenshot(path=str(ARTIFACTS / "walkthrough_step01.png"), full_page=True)
    for i in range(2, N + 1):
        pg.locator(".st-key-walk_next button:visible").click()
        wait_for_step(pg, i)
        assert heading(pg) == f"Step {i} of {N}: {steps[i - 1].title}"
        assert f"step={i}&" in pg.url   # the address bar follows the stepper
        if i in (3, 5, 6, 9, 10, 11, 13):
            pg.screenshot(path=str(ARTIFACTS / f"walkthrough_step{i:02d}.png"), full_page=True)
    assert pg.locator(".st-key-walk_next button:visible").is_disabled()
    assert "Traceback" not in pg.content()


def test_walkthrough_keyboard_and_png_download(browser_page):
    pg = browser_page
    pg.goto(pg.url_base + "/walkthrough?step=4&conv=library")
    wait_for_step(pg, 4)
    # A presentation clicker sends PageDown / PageUp.
    pg.locator("[data-testid=stHeading] h3").first.click()
    pg.keyboard.press("PageDown")
    wait_for_step(pg, 5)
    pg.keyboard.press("PageUp")
    wait_for_step(pg, 4)
    path = save_download(pg, ".st-key-walk_dl_png button:visible")
    assert path.name == "roiviz-walkthrough-step4-library.png"
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_copied_link_reopens_the_step(browser_page):
    pg = browser_page
    pg.goto(pg.url_base + "/walkthrough?step=7&conv=library&presenter=1")
    wait_for_step(pg, 7)
    link = pg.locator("[data-testid=stCode] code").first.inner_text().strip()
    assert link.startswith(pg.url_base + "/walkthrough?") and "step=7" in link
    other = pg.context.new_page()
    other.goto(link)
    wait_for_step(other, 7)
    assert other.locator(".st-key-walk_presenter input").is_checked()
    other.screenshot(path=str(ARTIFACTS / "walkthrough_link_presenter.png"), full_page=True)
    other.close()


@pytest.mark.parametrize("path, title", [("/sensitivity", "Sub-pixel sensitivity"),
                                         ("/gradients", "Gradient flow"),
                                         ("/evidence?table=2d", "Evidence")])
def test_each_page_opens(browser_page, path, title):
    pg = browser_page
    pg.goto(pg.url_base + path)
    pg.wait_for_selector(f"h1:has-text('{title}')")
    wait_for_image(pg)
    pg.wait_for_selector(".st-key-" + {"/s": "sens", "/g": "grad", "/e": "ev"}[path[:2]] + "_dl_svg button:visible")
    assert not pg.locator("[data-testid=stException]").count()
    name = path.strip("/").split("?")[0]
    pg.screenshot(path=str(ARTIFACTS / f"page_{name}.png"), full_page=True)
