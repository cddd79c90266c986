"""The Feature pyramids page's live stage: a drag and its release, timed with the page's own clock.

Setting: the page's defaults (astronaut, channel 0, 7 x 7, ratio 2, torchvision's rule); a real
``streamlit run app.py`` and Debian's headless Chromium at 1280 x 720. Each drag pulls the box's
bottom-right corner on the photo in ``--moves`` mouse moves and releases. Drags alternate between
a size on the same level as before (``same``: the page reruns, the stage keeps its map) and a size
across the 224 px boundary (``switch``: the stage gets the new level's map and stride).
Measured in the page (``performance.now``, the clock of ``benchmarks/latency.py``):

* during the drag: the stage's own time per frame (the browser engine, all four methods, and
  the drawing), from ``window.__roivizStageFrames``;
* mouse-up to the server's numbers on screen (the stage's ``data-server-seq`` reaching its
  ``data-seq``, watched by a ``MutationObserver``);
* mouse-up to the last change of the page, once it has been quiet for ``--quiet`` ms (the
  whole page reruns: the pyramid picture, the heading, the stage).

Each release is checked: the level shown must be the one of the released box, and the stage must
agree with the server (largest |difference| <= 1e-5); a miss counts as an error.

Run: ``.venv/bin/python benchmarks/pyramids_release.py`` (about three minutes for 2 x 10 drags).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import CHROMIUM, CHROMIUM_ARGS, ROOT, machine_load, streamlit_server, summary  # noqa: E402
from latency import PAGE_CLOCK_JS, WATCH_STAGE_JS, checked_drag, timed_drag  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from stage_driver import STAGE, stage_box, wait_for_server  # noqa: E402

from roiviz.fpn import trace_fpn_level  # noqa: E402

#: Box sizes (px, square, from the corner (100, 100)) visited in turn: 200 and 210 are on P3,
#: 240 and 250 on P4, so the releases alternate same level, level switch, same, switch...
SIZES = (200.0, 210.0, 240.0, 250.0)


def one_drag(page, size: float, moves: int, quiet_ms: float) -> dict:
    """Pull the box's bottom-right corner on the photo to make it ``size`` px square, release;
    ``benchmarks/latency.py``'s timings of it, and the level heading shown afterwards."""
    x1, y1, x2, y2 = stage_box(page)
    result = timed_drag(page, "image", (x2, y2), (x1 + size, y1 + size), moves, quiet_ms)
    result["level"] = page.locator(".st-key-pyr_level h3").first.inner_text()
    return result


def run(drags: int, moves: int, quiet_ms: float) -> dict:
    from playwright.sync_api import sync_playwright

    out = {"engine": [], "draw": [], "same": {"answered": [], "last_change": []},
           "switch": {"answered": [], "last_change": []}, "errors": []}
    with streamlit_server(ROOT / "benchmarks" / "pyramids-server.log") as (url, _pid), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 720})
            context.add_init_script(PAGE_CLOCK_JS)
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.on("pageerror", lambda exc: out["errors"].append(f"page error: {exc}"))
            page.goto(url + "/")
            page.locator("[data-testid=stSidebarNav]").get_by_text("Playground").wait_for()
            page.goto(url + "/pyramids?box=100,100,300,300")
            page.wait_for_selector(f"{STAGE} .panel[data-method=precise_roi_pool] .out rect")
            wait_for_server(page)
            page.locator(STAGE).scroll_into_view_if_needed()
            page.locator(STAGE).evaluate(WATCH_STAGE_JS)
            page.wait_for_timeout(1000)
            for i in range(2 * drags + 2):                    # two warm-up drags
                size = SIZES[i % len(SIZES)]
                before = trace_fpn_level(stage_box(page)).level
                r = checked_drag(page, out["errors"], i, lambda: one_drag(page, size, moves, quiet_ms))
                if r is None:
                    continue
                level = trace_fpn_level(r["box"])
                if r["level"] != f"Level P{level.level}: stride {level.stride} px":
                    out["errors"].append(f"drag {i}: {r['level']!r} for box {r['box']}")
                if i >= 2:
                    times = out["same" if level.level == before else "switch"]
                    for key in ("answered", "last_change"):
                        times[key].append(r[key])
                    for key in ("engine", "draw"):
                        out[key] += [f[key] for f in r["stage"]]
                page.wait_for_timeout(300)
            context.close()
        finally:
            browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drags", type=int, default=10, help="drags of each kind measured")
    parser.add_argument("--moves", type=int, default=30, help="mouse moves per drag")
    parser.add_argument("--quiet", type=float, default=1500.0, help="ms without a change that ends a release")
    args = parser.parse_args()
    print(f"load average before: {machine_load()}")
    out = run(args.drags, args.moves, args.quiet)
    print(f"load average after:  {machine_load()}")
    print(f"stage engine per frame (4 methods):  {summary(out['engine'])}")
    print(f"stage drawing per frame:             {summary(out['draw'])}")
    for kind in ("same", "switch"):
        print(f"{kind:6s} level, mouse-up to server's numbers: {summary(out[kind]['answered'])}")
        print(f"{kind:6s} level, mouse-up to last change:     {summary(out[kind]['last_change'])}")
    print(f"errors: {len(out['errors'])}")
    for e in out["errors"][:10]:
        print("  ", e)
    if any(not math.isfinite(v) for k in ("same", "switch") for v in out[k]["answered"]):
        print("some releases were not answered")


if __name__ == "__main__":
    main()
