"""The Playground's downloads: how long each file takes to make, as the page makes it on a click.

Each export is the page's own callback (pages/playground.py ``export_buttons``): the traces the
file draws (:func:`roiviz.drawing.thinned.drawable_traces`, every chosen method, thinned past the sample
budget), then the figure (PNG, the blog column's PNG, SVG), the JSON or the GIF. The default view
(the astronaut, stride 16, its default box, all four methods) at 3 x 3, 7 x 7 and 14 x 14 bins,
sampling ratio 2, and 7 x 7 at ratio 16. Each is made ``--runs`` times in one process after one
warm-up run (imports, fonts); the table gives the median wall time, its spread (min-max) and the
median CPU time of the process (``time.process_time``: what the export costs when the machine is
shared), with the load average before and after.

Run: ``.venv/bin/python benchmarks/bench_exports.py [--runs 5] [--only png,gif] [--cases 7x2]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from roiviz import features, samples  # noqa: E402
from roiviz.drawing.animate import animate_gif  # noqa: E402
from roiviz.drawing.export import figure_png, figure_svg, trace_json  # noqa: E402
from roiviz.drawing.render_mpl import BLOG_DPI, COMPARISON_DPI, blog_figure, comparison_figure  # noqa: E402
from roiviz.app.state import PlaygroundState, default_box  # noqa: E402
from roiviz.drawing.thinned import drawable_traces, thinning, thinning_line  # noqa: E402

CASES = ((3, 2), (7, 2), (14, 2), (7, 16))


def exports(values, box, state: PlaygroundState) -> dict:
    """Each download's callback, as the page runs it (a function returning the file's bytes)."""
    settings, methods = state.settings(), state.methods

    def traces():
        return drawable_traces(values, box, settings, methods)

    def blog():
        t = traces()
        return figure_png(blog_figure(t, values, thinned=thinning_line(t)), dpi=BLOG_DPI, compress_level=1)

    def json_text():
        t = traces()
        return trace_json(t, {"query": state.to_query(), "thinned": thinning(t)}).encode()

    return {"png": lambda: figure_png(comparison_figure(traces(), values), dpi=COMPARISON_DPI, compress_level=1),
            "blog png": blog,
            "svg": lambda: figure_svg(comparison_figure(traces(), values)),
            "json": json_text,
            "gif": lambda: animate_gif(values, box, settings, methods).gif}


def measure(make, runs: int) -> tuple[list[float], list[float], int]:
    make()                                            # warm-up
    wall, cpu, size = [], [], 0
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        size = len(make())
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return wall, cpu, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="png,blog png,svg,json,gif")
    parser.add_argument("--cases", default=",".join(f"{n}x{r}" for n, r in CASES),
                        help="output size x sampling ratio, e.g. 7x2,7x16")
    args = parser.parse_args()
    only = [k.strip() for k in args.only.split(",")]
    base = PlaygroundState()
    values = features.image_feature_map(samples.load_sample_image(base.sample), base.stride).channel(0)
    box = default_box(values.shape, base.stride)
    load = os.getloadavg()
    rows = []
    cases = [tuple(int(v) for v in c.split("x")) for c in args.cases.split(",")]
    for size, ratio in cases:
        state = replace(base, output_size=(size, size), sampling_ratio=ratio, box=box)
        for name, make in exports(values, box, state).items():
            if name not in only:
                continue
            wall, cpu, nbytes = measure(make, args.runs)
            rows.append(f"| {size} x {size}, ratio {ratio} | {name} | {statistics.median(wall):.2f} "
                        f"({min(wall):.2f}-{max(wall):.2f}) | {statistics.median(cpu):.2f} | {nbytes / 1e3:,.0f} |")
            print(rows[-1], flush=True)
    after = os.getloadavg()
    print(f"\nload average before {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}, after "
          f"{after[0]:.2f}/{after[1]:.2f}/{after[2]:.2f}; {os.cpu_count()} cores; {args.runs} runs each")
    print("\n| view | file | wall s, median (min-max) | CPU s, median | kB |\n|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
