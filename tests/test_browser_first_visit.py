"""First visits in a real browser: a deep link as the very first request to a fresh server shows
the same page, menu and layout as later visits, and no page makes the browser fetch anything
from outside the app's own host (no font, icon or script from the internet).

Each test starts its own ``streamlit run app.py`` (tests/browser_support.py), so that its first
request really is the server's first. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from browser_support import ARTIFACTS, chromium_browser, require_chromium, streamlit_server

from roiviz.app.ui import PAGES

DEEP_LINK = "/walkthrough?step=5&conv=article"


def wait_for_walkthrough_step(pg, step: int) -> None:
    pg.wait_for_function(
        "(want) => [...document.querySelectorAll('[data-testid=stHeading] h3')]"
        ".some(h => h.innerText.startsWith(want))", arg=f"Step {step} of ")
    pg.wait_for_function("() => { const im = document.querySelector('[data-testid=stImage] img');"
                         " return im && im.complete && im.naturalWidth > 200; }")


def view(pg) -> dict:
    """What a visitor sees of the frame: menu entries, tab title, main column width, heading."""
    nav = pg.locator("[data-testid=stSidebarNav] a")
    return {
        "menu": [nav.nth(i).inner_text().strip() for i in range(nav.count())],
        "title": pg.title(),
        "main_width": round(pg.locator("[data-testid=stMainBlockContainer]").bounding_box()["width"]),
        "heading": pg.locator("[data-testid=stHeading] h1").first.inner_text(),
        "url": urlsplit(pg.url).path,
    }


@pytest.fixture
def fresh_server():
    require_chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as url, chromium_browser() as browser:
        yield url, browser


def test_deep_link_as_first_request_looks_like_later_visits(fresh_server):
    url, browser = fresh_server
    not_found = []
    first_ctx = browser.new_context(viewport={"width": 1500, "height": 1000})
    first = first_ctx.new_page()
    first.set_default_timeout(90_000)
    first.on("response", lambda r: not_found.append(r.url) if r.status == 404 else None)
    first.goto(url + DEEP_LINK)          # the server's very first request
    wait_for_walkthrough_step(first, 5)
    first.screenshot(path=str(ARTIFACTS / "first-visit-deep-link.png"))
    seen_first = view(first)

    later_ctx = browser.new_context(viewport={"width": 1500, "height": 1000})
    later = later_ctx.new_page()
    later.set_default_timeout(90_000)
    later_not_found = []
    later.goto(url + "/")
    later.locator("[data-testid=stSidebarNav]").get_by_text("Walkthrough").wait_for()
    later.on("response", lambda r: later_not_found.append(r.url) if r.status == 404 else None)
    later.goto(url + DEEP_LINK)
    wait_for_walkthrough_step(later, 5)
    seen_later = view(later)

    assert seen_first == seen_later
    assert seen_first["menu"] == [title for _, title, _ in PAGES]
    assert seen_first["url"] == "/walkthrough"
    assert seen_first["main_width"] > 1000        # the wide layout, not Streamlit's narrow one
    # Streamlit's frontend probes the deep link's path as a possible base URL
    # ("/walkthrough/_stcore/health", then "/_stcore/health") on every visit; the first visit
    # must not have any other failing request.
    assert sorted(not_found) == sorted(later_not_found), (not_found, later_not_found)
    assert all("/_stcore/" in u for u in not_found), not_found
    first_ctx.close()
    later_ctx.close()


def test_no_request_leaves_the_machine(fresh_server):
    """Every request not to the app's own host is recorded and refused; there must be none."""
    url, browser = fresh_server
    host = urlsplit(url).netloc
    outside = []

    def guard(route):
        target = urlsplit(route.request.url)
        if target.scheme in ("data", "blob") or target.netloc == host:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.route("**/*", guard)
    pg = context.new_page()
    pg.set_default_timeout(90_000)
    for _, title, path in PAGES:
        pg.goto(f"{url}/{'' if path == PAGES[0][2] else path}")
        pg.locator("[data-testid=stSidebarNav]").get_by_text(title, exact=True).wait_for()
        pg.wait_for_function("() => { const app = document.querySelector('[data-testid=stApp]');"
                             " return app && app.getAttribute('data-test-script-state') !== 'running'"
                             " && document.querySelector('[data-testid=stHeading] h1'); }")
        pg.wait_for_timeout(1500)             # late requests: fonts, favicons, icons
        pg.screenshot(path=str(ARTIFACTS / f"offline-{path}.png"))
    context.close()
    assert outside == [], outside
