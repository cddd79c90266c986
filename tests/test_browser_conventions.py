"""The "Why don't my numbers match?" page in a real browser: fill in the example, find the
convention, and save screenshots at 1500 x 1000, 1280 x 720, 760 px and 390 px (look at them)."""

from __future__ import annotations

from browser_support import ARTIFACTS, app_page


def wait_done(pg) -> None:
    pg.wait_for_function("() => { const a = document.querySelector('[data-testid=stApp]');"
                         " return a && a.getAttribute('data-test-script-state') !== 'running'; }")


def test_example_is_named_and_drawn():
    with app_page(1500, 1000) as pg:
        pg.goto(pg.url_base + "/conventions")
        pg.get_by_role("button", name="Fill in an example (ONNX opset 10 numbers)").click()
        wait_done(pg)
        pg.wait_for_function("() => [...document.querySelectorAll('textarea')].some(t => t.value.startsWith('[['))")
        pg.get_by_role("button", name="Find the convention").click()
        pg.get_by_text("reproduce your numbers").first.wait_for()
        wait_done(pg)
        pg.locator("[data-testid=stImage] img").first.wait_for()
        assert pg.get_by_text("One-line fix").count() == 1
        assert not pg.locator("[data-testid=stException]").count()
        for width, height, name in ((1500, 1000, "1500"), (1280, 720, "1280"), (760, 1000, "760"),
                                    (390, 844, "390")):
            pg.set_viewport_size({"width": width, "height": height})
            pg.wait_for_timeout(600)
            pg.screenshot(path=str(ARTIFACTS / f"conventions_{name}.png"), full_page=True)
            # The result (card, fix, drawing) lies below the form: scroll to it and look again.
            pg.get_by_text("One-line fix").scroll_into_view_if_needed()
            pg.wait_for_timeout(300)
            pg.screenshot(path=str(ARTIFACTS / f"conventions_{name}_result.png"))
            pg.locator("[data-testid=stImage] img").first.scroll_into_view_if_needed()
            pg.wait_for_timeout(300)
            pg.screenshot(path=str(ARTIFACTS / f"conventions_{name}_drawing.png"))
        pg.set_viewport_size({"width": 1280, "height": 720})
        pg.get_by_role("tab", name="Compare two dialects").click()
        pg.wait_for_timeout(800)
        pg.get_by_text("max |tv_align - tv_align_legacy|").scroll_into_view_if_needed()
        pg.wait_for_timeout(300)
        pg.screenshot(path=str(ARTIFACTS / "conventions_compare_1280.png"))
