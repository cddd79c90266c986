"""How long the browser engine takes to trace a drag frame, in headless Chromium.

The issue's budget case: a 32 x 32 map (a 512-pixel image at stride 16), 7 x 7 output, sampling
ratio 2, all four methods; and the largest settings the sidebar offers, ratio 16 at 7 x 7 and
14 x 14 (12,544 and 50,176 samples per method, past the sample budget: every sample computed,
every k-th row and column recorded). Each run traces the box moved by a tenth of a cell (as a keyboard
nudge or a drag would), timed inside the page with ``performance.now``; the medians are over
``--runs`` runs after a warm-up. ``traceAll`` is what the stage calls on every animation frame, plus, with the box-gradient arrows on,
one ``targetGradient`` per method that has one (``assets/stage/arrows.js``: the gradient alone);
``boxGradient`` (the Jacobian too, what the arrows called before) is timed beside it.

Usage: ``python benchmarks/bench_stage_engine.py [--runs 200]``. A benchmark, not a test: the
numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from browser_support import chromium_browser, require_chromium  # noqa: E402
from roiviz.drawing.stage_bundle import engine_source  # noqa: E402

MAP_SIZE, STRIDE = 32, 16.0
SETTINGS = {"output_size": [7, 7], "stride": STRIDE, "sampling_ratio": 2, "aligned": True,
            "reduce": "avg", "convention": "library"}
CASES = {"7 x 7, ratio 2": SETTINGS,
         "7 x 7, ratio 16": {**SETTINGS, "sampling_ratio": 16},
         "14 x 14, ratio 16": {**SETTINGS, "output_size": [14, 14], "sampling_ratio": 16}}
BOX = [100.3, 80.7, 380.2, 300.9]

TIME_JS = """([values, size, box, settings, runs]) => {
  const E = window.roivizEngine;
  const feature = {values: Float32Array.from(values), height: size, width: size};
  const step = settings.stride / 10;  // a tenth of a cell per run
  const at = (i) => box.map((v) => v + (i % 40) * step);
  const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
  const p95 = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length * 0.95)]; };
  const timeIt = (fn) => {
    for (let i = 0; i < 20; i++) fn(i);  // warm-up (JIT)
    const ms = [];
    for (let i = 0; i < runs; i++) { const t0 = performance.now(); fn(i); ms.push(performance.now() - t0); }
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) fn(i);
    return {median: median(ms), p95: p95(ms), mean: (performance.now() - t0) / runs};
  };
  const result = {traceAll: timeIt((i) => E.traceAll(feature, at(i), settings))};
  for (const m of ["roi_pool", "roi_warp", "roi_align", "precise_roi_pool"]) {
    result[m] = timeIt((i) => E.traceMethod(m, feature, at(i), settings));
  }
  // The stage's arrows: each method's box gradient from its trace (what arrows.js adds per frame).
  const traces = E.traceAll(feature, box, settings);
  for (const m of ["roi_warp", "roi_align", "precise_roi_pool"]) {
    result[`boxGradient ${m}`] = timeIt((i) => E.boxGradient(m, feature, box, settings, {kind: "all"}, traces[m]));
    result[`targetGradient ${m}`] = timeIt((i) => E.targetGradient(m, feature, box, settings, {kind: "all"}, traces[m]));
  }
  result["traceAll + 3 boxGradients"] = timeIt((i) => {
    const t = E.traceAll(feature, at(i), settings);
    for (const m of ["roi_warp", "roi_align", "precise_roi_pool"]) E.boxGradient(m, feature, at(i), settings, {kind: "all"}, t[m]);
  });
  result["traceAll + 3 targetGradients"] = timeIt((i) => {
    const t = E.traceAll(feature, at(i), settings);
    for (const m of ["roi_warp", "roi_align", "precise_roi_pool"]) E.targetGradient(m, feature, at(i), settings, {kind: "all"}, t[m]);
  });
  return result;
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    require_chromium()
    values = np.random.default_rng(0).standard_normal((MAP_SIZE, MAP_SIZE)).astype(np.float32)
    source = engine_source()
    with chromium_browser() as browser:
        page = browser.new_page()
        page.set_content("<!doctype html><title>bench</title>")
        page.add_script_tag(type="module", content=source +
                            "\nwindow.roivizEngine = { traceMethod, traceAll, boxGradient, targetGradient };\n")
        page.wait_for_function("window.roivizEngine !== undefined")
        results = {name: page.evaluate(TIME_JS, [values.ravel().tolist(), MAP_SIZE, BOX, settings, args.runs])
                   for name, settings in CASES.items()}
    print(f"engine bundle: {len(source.encode('utf-8'))} bytes; {MAP_SIZE} x {MAP_SIZE} map, "
          f"{args.runs} runs (performance.now resolution applies)")
    for case, result in results.items():
        print(f"{case}:")
        print(f"  {'':31} {'median ms':>10} {'p95 ms':>8} {'mean ms':>8}")
        for name, t in result.items():
            print(f"  {name:31} {t['median']:10.3f} {t['p95']:8.3f} {t['mean']:8.3f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
