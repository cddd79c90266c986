"""First load: how soon a fresh visitor can use the Playground's stage, against Streamlit's own
hello-world page on the same machine in the same run.

Two real Streamlit servers (tests/browser_support.py): the app, and a one-line script
(``st.write("Hello world")``). Headless Chromium (Debian's, the flags of browser_support.py)
visits each page ``--visits`` times (default 5), alternating, each visit in a fresh browser
context (empty cache, no cookies, a new Streamlit session).

"Usable" is measured with the page's own clock, from navigation start (``performance.now()``
is 0 at the navigation's time origin), by a ``requestAnimationFrame`` loop injected before the
page's scripts run:

- the app: the first frame at which the Playground's stage (``.roiviz-stage``, inside its
  component's shadow root) has drawn its drag surface (an ``svg`` in ``.surface``) and a panel
  for every method it shows (``.panel[data-method]`` each with an ``svg``), and has finished a
  render (its ``data-draw-ms`` is set: it sets it at the end of a render, after attaching its
  pointer and key handlers, so a drag from then on moves the box);
- hello world: the first frame at which "Hello world" is on the page.

Bytes: the sum of every HTTP response's body as transferred (``request.sizes()``), and the
bytes of the websocket frames the server sent (the script's output: the stage's data, tables).
The JS chunks fetched are listed by size, with the ones the hello-world page does not fetch.

Then ``--fresh`` (default 1) first visits: a new app server per visit, timed from the moment its
health check answers to the stage being usable, and the time from the server process's start to
that answer. Two ways to start it: ``python -m roiviz.app.warm`` (what ``make run``, ``roiviz
app`` and ``make serve`` do: the pages' imports before the server answers) and a plain
``streamlit run app.py`` (the first visitor waits for the import of torch, matplotlib and the
app, the first feature map, the first traces). The warm visits above use the first.

Run: ``.venv/bin/python benchmarks/bench_first_load.py [--visits 5] [--fresh 1]``. The machine's
load average is printed with the table: the numbers are only comparable within one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from browser_support import chromium_browser, streamlit_process  # noqa: E402

#: Injected before any page script: records ``window.__usable`` (ms from navigation start).
USABLE_JS = """
(() => {
  const stageReady = () => {
    for (const host of document.querySelectorAll('[data-testid^=stBidiComponent], [data-testid^=stBidiComponent] *')) {
      const stage = host.shadowRoot && host.shadowRoot.querySelector('.roiviz-stage');
      if (!stage) continue;
      if (!stage.dataset.drawMs || !stage.querySelector('.surface svg')) return false;
      const panels = [...stage.querySelectorAll('.panel[data-method]')];
      return panels.length > 0 && panels.every(p => p.querySelector('svg'));
    }
    return false;
  };
  // textContent, not innerText: innerText lays the page out, and the probe runs every frame on
  // both pages (it cost the app's page some 80 ms of main thread before the stage was usable).
  const helloReady = () => [...document.querySelectorAll('[data-testid=stMarkdown]')]
    .some(el => el.textContent.includes('Hello world'));
  window.__lastChange = 0;
  new MutationObserver(() => { window.__lastChange = performance.now(); })
    .observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
  const tick = () => {
    if (stageReady()) { window.__usable = performance.now(); window.__what = 'stage'; return; }
    if (helloReady()) { window.__usable = performance.now(); window.__what = 'hello'; return; }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
"""

#: The page has settled when its DOM has not changed for this long (ms).
QUIET_MS = 1000

HELLO = 'import streamlit as st\n\nst.write("Hello world")\n'


def visit(browser, url: str, timeout_s: float = 120.0) -> dict:
    """One visit in a fresh context: ``{"usable_ms", "settled_ms", "http_bytes", "ws_bytes", "chunks"}``
    (``settled_ms``: the page's last DOM change before it stayed unchanged for ``QUIET_MS``; the
    stage's own drawing, inside its shadow root, is not part of it)."""
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    context.add_init_script(USABLE_JS)
    page = context.new_page()
    finished: list = []
    ws_bytes = [0]
    page.on("requestfinished", lambda request: finished.append(request))

    def on_ws(ws):
        ws.on("framereceived", lambda payload: ws_bytes.__setitem__(
            0, ws_bytes[0] + len(payload if isinstance(payload, (bytes, str)) else b"")))
    page.on("websocket", on_ws)
    try:
        page.goto(url, wait_until="commit")
        page.wait_for_function("() => window.__usable !== undefined", timeout=timeout_s * 1000, polling=100)
        usable = float(page.evaluate("window.__usable"))
        page.wait_for_function(f"() => performance.now() - window.__lastChange > {QUIET_MS}",
                               timeout=30_000, polling=100)
        settled = float(page.evaluate("window.__lastChange"))   # responses still arriving count too
        chunks, total = {}, 0
        for request in finished:
            try:
                size = request.sizes()
            except Exception:  # noqa: BLE001 - a request without sizes counts as 0
                continue
            body = size.get("responseBodySize", 0) + size.get("responseHeadersSize", 0)
            total += body
            if request.url.endswith(".js"):
                chunks[request.url.rsplit("/", 1)[-1]] = size.get("responseBodySize", 0)
        return {"usable_ms": usable, "settled_ms": settled, "http_bytes": total, "ws_bytes": ws_bytes[0], "chunks": chunks}
    finally:
        context.close()


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visits", type=int, default=5)
    parser.add_argument("--fresh", type=int, default=1)
    args = parser.parse_args()
    load_before = os.getloadavg()
    results: dict[str, list[dict]] = {"app": [], "hello": []}
    with tempfile.TemporaryDirectory() as tmp:
        hello = Path(tmp) / "hello.py"
        hello.write_text(HELLO)
        with streamlit_process(warm=True) as (app_url, _), streamlit_process(script=hello) as (hello_url, _), \
                chromium_browser() as browser:
            visit(browser, app_url + "/")        # warm: imports, the feature map, the traces
            visit(browser, hello_url + "/")
            for _ in range(args.visits):
                results["app"].append(visit(browser, app_url + "/"))
                results["hello"].append(visit(browser, hello_url + "/"))
    load_after = os.getloadavg()
    app, hello_r = results["app"], results["hello"]
    app_ms, hello_ms = [r["usable_ms"] for r in app], [r["usable_ms"] for r in hello_r]
    print(f"load average before {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, "
          f"after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}; {os.cpu_count()} cores")
    print()
    print("| page | usable, ms: median (min-max) | settled, ms: median (min-max) | HTTP MB (median) | "
          "websocket MB (median) |")
    print("|---|---|---|---|---|")
    for name, rs, ms in (("Playground (stage usable)", app, app_ms), ("hello world", hello_r, hello_ms)):
        print(f"| {name} | {spread(ms)} | {spread([r['settled_ms'] for r in rs])} | "
              f"{statistics.median(r['http_bytes'] for r in rs) / 1e6:.2f} | "
              f"{statistics.median(r['ws_bytes'] for r in rs) / 1e6:.2f} |")
    print(f"\nratio of medians: {statistics.median(app_ms) / statistics.median(hello_ms):.2f}x "
          f"(visits: {len(app_ms)} each, alternating, fresh browser context each)", flush=True)
    print()
    with chromium_browser() as browser:
        for warm in (True, False):
            how = "python -m roiviz.app.warm (make run)" if warm else "plain streamlit run app.py"
            for _ in range(args.fresh):
                started = time.perf_counter()
                with streamlit_process(warm=warm, timeout=600) as (url, _):
                    healthy = time.perf_counter() - started
                    try:
                        first = visit(browser, url + "/", timeout_s=600)
                    except Exception as exc:  # noqa: BLE001 - report it, keep the table above
                        print(f"first visit to a fresh server ({how}): failed ({type(exc).__name__})")
                        continue
                    print(f"first visit to a fresh server ({how}): usable at {first['usable_ms']:.0f} ms "
                          f"from navigation, sent once the health check answered, {1000 * healthy:.0f} ms "
                          f"after the process started (total {1000 * healthy + first['usable_ms']:.0f} ms); "
                          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    extra = {k: v for k, v in app[-1]["chunks"].items() if k not in hello_r[-1]["chunks"]}
    print("\nJS the app fetches beyond hello world's (bytes):")
    for name, size in sorted(extra.items(), key=lambda kv: -kv[1]):
        print(f"  {size:>9,}  {name}")


if __name__ == "__main__":
    main()
