"""The Playground's latency budget, measured (never asserted in tests).

Setting (the issue's): the 512 x 512 sample 'astronaut', stride 16, 7 x 7 output, all four
methods, default settings otherwise.

(a) Server side: the time of the Playground's views-and-panels fragment
    (``pages/playground.py::views_and_panels``: the traces, all ten figures, Streamlit's
    marshalling of every element into protobuf) after a box change, over ``--reruns`` distinct
    boxes. ``app.py`` runs unchanged under Streamlit's AppTest (no browser, no websocket); the
    fragment records its own duration (``roiviz.ui.timed``) because the benchmark puts a list
    under ``roiviz.ui.TIMINGS`` in the session. The whole script's rerun time as seen by
    AppTest is reported next to it for context.
(b) In the browser: a real ``streamlit run app.py`` and Debian's headless Chromium (viewport
    1500 x 1000); a mouse drag across the feature map, timed in the page from the mouse-up
    event until the script has stopped, nothing is stale, the URL holds the new box and every
    panel's Plotly figure shows the new RoI (checked on every animation frame). Each update is
    also checked against the engine (the tables must equal ``summary_rows`` of ``trace_all``
    for the box in the URL); a mismatch counts as an error. One drag at a time, 0.3 s apart.

Run: ``.venv/bin/python benchmarks/latency.py`` (about two minutes). Targets on the reference
2-core machine: (a) p95 <= 150 ms, (b) p95 <= 500 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import (
    CHROMIUM,
    CHROMIUM_ARGS,
    MOUSEUP_STAMP_JS,
    PANELS,
    PANELS_UPDATED_JS,
    QUERY,
    ROOT,
    box_query,
    drag_points,
    expected_rows,
    machine_load,
    panel_rows,
    percentile,
    streamlit_server,
    summary,
)

APP = ROOT / "app.py"
STRIDE = 16


def server_side(reruns: int, seed: int = 0) -> dict[str, list[float]]:
    """(a): fragment and whole-script times (ms) over ``reruns`` box changes."""
    from streamlit.testing.v1 import AppTest

    from roiviz.ui import TIMINGS

    at = AppTest.from_file(str(APP), default_timeout=120)
    for k, v in {"src": "sample", "img": "astronaut", "stride": str(STRIDE), "out": "7x7"}.items():
        at.query_params[k] = v
    at.run()
    if at.exception:
        raise RuntimeError([e.value for e in at.exception])
    assert set(at.session_state["methods"]) == set(PANELS)
    rng = random.Random(seed)
    script_ms = []
    for _ in range(3):  # warm-up: imports, caches, plotly's validators
        at.session_state["box"] = _random_box(rng)
        at.run()
    at.session_state[TIMINGS] = []
    for _ in range(reruns):
        at.session_state["box"] = _random_box(rng)
        t0 = time.perf_counter()
        at.run()
        script_ms.append(1000 * (time.perf_counter() - t0))
        if at.exception or at.error:
            raise RuntimeError([e.value for e in at.exception] + [e.value for e in at.error])
    fragment_ms = [1000 * s for name, s in at.session_state[TIMINGS] if name == "views_and_panels"]
    assert len(fragment_ms) == reruns, len(fragment_ms)
    return {"fragment": fragment_ms, "script": script_ms}


def _random_box(rng: random.Random) -> tuple[float, float, float, float]:
    w, h = rng.uniform(40, 300), rng.uniform(40, 300)
    x, y = rng.uniform(0, 512 - w), rng.uniform(0, 512 - h)
    return (round(x, 3), round(y, 3), round(x + w, 3), round(y + h, 3))


def drag_and_time(page, rng: random.Random, timeout_ms: float = 30_000) -> tuple[float, tuple, dict]:
    """One drag on the feature map. Returns (mouse-up to updated panels in ms, as timed in the
    page; the new box; the panels' metrics rows)."""
    bb = page.locator(".st-key-select_feature .nsewdrag").first.bounding_box()
    points = drag_points(bb, rng)
    old = box_query(page.url)
    page.mouse.move(*points[0])
    page.mouse.down()
    for p in points[1:]:
        page.mouse.move(*p)
    page.mouse.up()
    done = page.wait_for_function(PANELS_UPDATED_JS, arg=[old, STRIDE], polling="raf",
                                  timeout=timeout_ms).json_value()
    box = tuple(float(v) for v in done["box"].split(","))
    return float(done["ms"]), box, panel_rows(done["rows"])


def browser_side(drags: int, seed: int = 1, warmup: int = 3) -> dict:
    from playwright.sync_api import sync_playwright

    rng = random.Random(seed)
    times, errors = [], []
    log = ROOT / "benchmarks" / "latency-server.log"
    with streamlit_server(log) as (url, _pid), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1500, "height": 1000})
            context.add_init_script(MOUSEUP_STAMP_JS)
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.goto(url + "/" + QUERY)
            page.wait_for_selector(".st-key-panel_precise_roi_pool [data-testid=stTable]")
            page.locator(".st-key-select_feature .nsewdrag").first.scroll_into_view_if_needed()
            page.wait_for_timeout(1500)
            for i in range(drags + warmup):
                try:
                    ms, box, rows = drag_and_time(page, rng)
                except Exception as exc:  # noqa: BLE001 - a timeout is an error, recorded
                    errors.append(f"drag {i}: {type(exc).__name__}: {str(exc)[:120]}")
                    page.wait_for_timeout(1000)
                    continue
                if rows != expected_rows(box):
                    errors.append(f"drag {i}: tables differ from the engine for box {box}")
                if i >= warmup:  # the first drags warm the browser's Plotly and the server's caches
                    times.append(ms)
                page.wait_for_timeout(300)
            context.close()
        finally:
            browser.close()
    return {"times": times, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reruns", type=int, default=60, help="box changes for (a)")
    parser.add_argument("--drags", type=int, default=60, help="mouse drags for (b)")
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--skip-server", action="store_true")
    args = parser.parse_args()

    print("Latency budget: astronaut 512 x 512, stride 16, output 7 x 7, all four methods")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {machine_load()} at start")
    rows = []
    if not args.skip_server:
        server = server_side(args.reruns)
        frag, script = server["fragment"], server["script"]
        print(f"(a) fragment, server side:   {summary(frag)}")
        print(f"    whole script (AppTest):  {summary(script)}")
        rows.append(("(a) fragment rerun after a box change (server)", len(frag),
                     percentile(frag, 50), percentile(frag, 95), 150))
        rows.append(("whole-script rerun, for context (AppTest)", len(script),
                     percentile(script, 50), percentile(script, 95), None))
    errors = []
    if not args.skip_browser:
        browser = browser_side(args.drags)
        times, errors = browser["times"], browser["errors"]
        print(f"(b) mouse-up to panels:      {summary(times)}; errors {len(errors)}")
        for e in errors:
            print("    error:", e)
        rows.append(("(b) mouse-up to updated panels (Chromium)", len(times),
                     percentile(times, 50), percentile(times, 95), 500))
    print(f"load average {machine_load()} at the end")
    print()
    print("| measure | n | p50 (ms) | p95 (ms) | target p95 | met |")
    print("|---|---|---|---|---|---|")
    for name, n, p50, p95, target in rows:
        met = "" if target is None else ("yes" if p95 <= target else "no")
        print(f"| {name} | {n} | {p50:.0f} | {p95:.0f} | {'' if target is None else f'<= {target}'} | {met} |")
    if not args.skip_browser:
        print(f"| (b) errors (timeouts, page errors, tables differing from the engine) | {len(errors)} | | | 0 | {'yes' if not errors else 'no'} |")


if __name__ == "__main__":
    main()
