"""What the box-gradient arrows add to one drag frame of the Playground's stage, in CPU time.

``latency.py`` times whole drags with the page's clock: on a shared machine its frame intervals
are mostly the machine's load. This one asks a narrower question that load hardly changes: the
stage's own work per frame, arrows on and off, measured as the renderer thread's CPU time in a
Chromium trace (``tdur``), not as wall time.

Setting (the issue's): a real ``streamlit run app.py``, the 512 x 512 sample 'astronaut', stride
16, 7 x 7, ratio 2, all four methods, Chromium 1500 x 1000. Each block runs, inside the page, 40
frames of a drag as the stage's animation frame does (``compute(true)`` then ``draw()``, the box
moved by a twentieth of a cell each frame) and forces the style and layout after each frame
(reading ``offsetHeight``), so the layout the frame causes is counted; painting is not. Blocks
alternate arrows on / off; the first round is a warm-up. Reported: per frame, the median over
blocks of the script time (compute + draw) and of the style + layout time, CPU and wall.

Run: ``.venv/bin/python benchmarks/arrows_frame_cost.py [--rounds 8]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import CHROMIUM, CHROMIUM_ARGS, ROOT, machine_load, streamlit_server  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from stage_driver import STAGE, wait_for_server  # noqa: E402

from roiviz.methods import METHODS  # noqa: E402

QUERY = "?src=sample&img=astronaut&stride=16&out=7x7&sr=2&methods=" + ",".join(METHODS)
FRAMES = 40

#: ``n`` drag frames of the stage (its own compute and draw), each followed by a forced style and
#: layout; returns the wall time (ms) of both parts summed over the frames.
BLOCK_JS = """([n, arrows]) => {
  const root = [...document.querySelectorAll('*')].map(h => h.shadowRoot && h.shadowRoot.querySelector('.roiviz-stage')).find(Boolean);
  const st = root.__stage;
  if (st.arrows.on !== arrows) { st.arrows.toggle.checked = arrows; st.arrows.toggle.dispatchEvent(new Event('change')); }
  const b0 = st.box.slice(), cell = st.data.settings.stride;
  st.extent = null; st.compute(); st.draw(); root.offsetHeight;
  st.drag = {id: -1, moved: true};
  let script = 0, layout = 0;
  for (let i = 1; i <= n; i++) {
    const dx = cell * 0.05 * i;
    st.box = [b0[0] + dx, b0[1], b0[2] + dx, b0[3]];
    const t0 = performance.now();
    st.compute(true); st.draw();
    const t1 = performance.now();
    root.offsetHeight;
    layout += performance.now() - t1; script += t1 - t0;
  }
  st.drag = null; st.box = b0; st.extent = null; st.compute(); st.draw();
  return [script, layout];
}"""


def traced_block(page, cdp, arrows: bool) -> dict:
    """One block of FRAMES frames; per frame (ms): wall and CPU time of the script and of the
    style + layout (the CPU times from the renderer's trace events)."""
    events, done = [], []
    on_data, on_done = (lambda p: events.extend(p["value"])), (lambda p: done.append(1))
    cdp.on("Tracing.dataCollected", on_data)
    cdp.on("Tracing.tracingComplete", on_done)
    cdp.send("Tracing.start", {"categories": "toplevel,devtools.timeline", "transferMode": "ReportEvents"})
    script, layout = page.evaluate(BLOCK_JS, [FRAMES, arrows])
    cdp.send("Tracing.end")
    while not done:
        page.wait_for_timeout(50)
    cdp.remove_listener("Tracing.dataCollected", on_data)
    cdp.remove_listener("Tracing.tracingComplete", on_done)
    timed = [e for e in events if e.get("ph") == "X" and "tdur" in e]
    # The block is the longest task of the trace; its style and layout events are inside it.
    task = max((e for e in timed if e["name"] in ("RunTask", "ThreadControllerImpl::RunTask")), key=lambda e: e["dur"])
    inside = [e for e in timed if e["tid"] == task["tid"] and task["ts"] <= e["ts"] <= task["ts"] + task["dur"]]
    cpu_layout = sum(e["tdur"] for e in inside if e["name"] in ("Layout", "UpdateLayoutTree")) / 1000
    return {"wall script": script / FRAMES, "wall layout": layout / FRAMES,
            "cpu script": (task["tdur"] / 1000 - cpu_layout) / FRAMES, "cpu layout": cpu_layout / FRAMES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8, help="rounds of one block on and one off (after a warm-up round)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"load average {machine_load()} at start")
    results: dict[bool, list[dict]] = {True: [], False: []}
    with streamlit_server(None) as (url, _pid), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(url + "/" + QUERY)
            page.wait_for_selector(f"{STAGE} .panel[data-method=precise_roi_pool] .out rect")
            wait_for_server(page)
            cdp = page.context.new_cdp_session(page)
            for r in range(args.rounds + 1):
                for arrows in ((True, False) if r % 2 else (False, True)):
                    block = traced_block(page, cdp, arrows)
                    if r:
                        results[arrows].append(block)
        finally:
            browser.close()
    print(f"load average {machine_load()} at the end")
    print(f"per drag frame, median of {args.rounds} blocks of {FRAMES} frames (ms):")
    print("| arrows | CPU script | CPU style + layout | CPU sum | wall script | wall style + layout |")
    print("|---|---|---|---|---|---|")
    for arrows in (True, False):
        m = {k: statistics.median(b[k] for b in results[arrows]) for k in results[arrows][0]}
        print(f"| {'on' if arrows else 'off'} | {m['cpu script']:.2f} | {m['cpu layout']:.2f} | "
              f"{m['cpu script'] + m['cpu layout']:.2f} | {m['wall script']:.2f} | {m['wall layout']:.2f} |")


if __name__ == "__main__":
    main()
