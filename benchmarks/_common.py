"""Shared pieces of the browser benchmarks (``latency.py``, ``classroom.py``).

A real ``streamlit run app.py`` on 127.0.0.1 (its pid, for the resident memory), Debian's
``/usr/bin/chromium`` driven by Playwright (never ``playwright install``), a box-drag like a
student's, and the wait for the panels to show the new box.
"""

from __future__ import annotations

import statistics
import sys
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The server and browser launchers are the browser tests' own (one copy of each).
sys.path.insert(0, str(ROOT / "tests"))
from browser_support import CHROMIUM, CHROMIUM_ARGS  # noqa: E402,F401
from browser_support import streamlit_process as streamlit_server  # noqa: E402,F401
PANELS = ("roi_pool", "roi_warp", "roi_align", "precise_roi_pool")
#: The Playground as the issue's budget defines it: astronaut (512 x 512), stride 16, 7 x 7
#: output, all four methods.
QUERY = "?src=sample&img=astronaut&stride=16&out=7x7&methods=" + ",".join(PANELS)

#: Installed in every page: the time of the last mouse-up, stamped in the page itself (so the
#: driver's own delays never count).
#: ``pointerup`` too: the stage cancels the compatibility mouse events of its drags.
MOUSEUP_STAMP_JS = """for (const type of ['pointerup', 'mouseup']) window.addEventListener(type, () => {
  window.__roivizUp = performance.now();
}, true);"""

# Polled on every animation frame after the mouse-up. It returns false until the server has
# answered the stage's release ``oldSeq + 1`` or later (the stage's ``data-seq`` equals its
# ``data-server-seq``, state ``ok`` or ``warn``; see tests/stage_driver.py), the script has
# stopped, nothing is stale and the page's table is drawn. Then it returns the milliseconds since
# the mouse-up, the stage's box (image pixels), its release counter and the table's rows by
# method label, which the caller checks against the engine. The stage lives in an open shadow
# root, so it is looked up in every shadow root of the page.
STAGE_ANSWERED_JS = """(oldSeq) => {
  const app = document.querySelector('[data-testid=stApp]');
  if (!app || app.getAttribute('data-test-script-state') === 'running') return false;
  if (document.querySelector('[data-stale=true]')) return false;
  let stage = null;
  for (const host of document.querySelectorAll('*')) {
    stage = host.shadowRoot && host.shadowRoot.querySelector('.roiviz-stage');
    if (stage) break;
  }
  if (!stage) return false;
  const d = stage.dataset;
  if (!['ok', 'warn'].includes(d.state) || d.seq !== d.serverSeq || Number(d.seq) <= oldSeq)
    return false;
  const table = document.querySelector('table.roiviz-summary');
  if (!table || !table.querySelector('tbody tr')) return false;
  const headers = [...table.querySelectorAll('thead th')].map(t => t.innerText.trim()).filter(h => h);
  const rows = {};
  for (const tr of table.querySelectorAll('tbody tr')) {
    const cells = [...tr.querySelectorAll('td, th')].map(t => t.innerText.trim()).slice(-headers.length);
    const row = Object.fromEntries(headers.map((h, i) => [h, cells[i]]));
    const label = row.method;
    delete row.method;
    rows[label] = row;
  }
  return {ms: performance.now() - window.__roivizUp, box: d.box, seq: Number(d.seq), rows: rows};
}"""

#: The stage's release counter and its feature map's bounding box on the screen.
STAGE_MAP_JS = """() => {
  for (const host of document.querySelectorAll('*')) {
    const stage = host.shadowRoot && host.shadowRoot.querySelector('.roiviz-stage');
    if (!stage) continue;
    const svg = stage.querySelector('.surface[data-surface=map] .surface-svg');
    if (!svg) return null;
    const r = svg.getBoundingClientRect();
    return {seq: Number(stage.dataset.seq), bb: {x: r.x, y: r.y, width: r.width, height: r.height}};
  }
  return null;
}"""


_EXPECTED: dict = {}


def expected_traces(box, stride: int = 16, output_size=(7, 7), sampling_ratio: int = 2) -> dict:
    """The engine's traces of ``box`` on the astronaut (the Playground's defaults otherwise),
    without per-sample records (as the Playground traces a release)."""
    key = (tuple(box), stride, tuple(output_size), sampling_ratio)
    if key not in _EXPECTED:
        from roiviz import features, samples
        from roiviz.app.state import PlaygroundState
        from roiviz.methods import trace_all

        state = PlaygroundState(sample="astronaut", stride=stride, output_size=tuple(output_size),
                                sampling_ratio=sampling_ratio)
        values = features.image_feature_map(samples.load_sample_image("astronaut"), stride).channel(0)
        _EXPECTED[key] = trace_all(values, key[0], state.settings(), record_samples=False)
    return _EXPECTED[key]


def expected_rows(box, stride: int = 16, output_size=(7, 7), sampling_ratio: int = 2) -> dict[str, dict[str, str]]:
    """The summary rows the page must show for ``box`` (the engine, not the page)."""
    from roiviz.methods import summary_rows

    return summary_rows(expected_traces(box, stride, output_size, sampling_ratio))


def expected_outputs(box, stride: int = 16, output_size=(7, 7)) -> dict[str, list[float]]:
    """Each method's output for ``box``, row-major, as the stage's data carries them."""
    return {m: [float(v) for v in t.output.ravel()]
            for m, t in expected_traces(box, stride, output_size).items()}


def drag_points(bb: dict, rng) -> list[tuple[float, float]]:
    """Mouse positions of one drag across a plot area ``bb`` (start, 8 moves)."""
    (fx0, fy0), (fx1, fy1) = random_drag(rng)
    x0, y0 = bb["x"] + fx0 * bb["width"], bb["y"] + fy0 * bb["height"]
    x1, y1 = bb["x"] + fx1 * bb["width"], bb["y"] + fy1 * bb["height"]
    return [(x0 + (x1 - x0) * i / 8, y0 + (y1 - y0) * i / 8) for i in range(9)]


def machine_load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (``/proc/<pid>/stat``)."""
    import os
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants_cpu_seconds(root: int, name_prefix: str = "chrom") -> float:
    """CPU seconds (user + system) of the live descendants of ``root`` whose command name
    starts with ``name_prefix`` (the browsers this benchmark launched, not anyone else's)."""
    import os
    parents, names = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                head, tail = f.read().rsplit(")", 1)
        except OSError:
            continue
        parents[int(entry)] = int(tail.split()[1])
        names[int(entry)] = head.split("(", 1)[1]
    total = 0.0
    for pid, name in names.items():
        if not name.startswith(name_prefix):
            continue
        p = pid
        while p in parents and p not in (0, 1, root):
            p = parents[p]
        if p == root:
            try:
                total += cpu_seconds(pid)
            except (OSError, IndexError):
                pass
    return total


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (``VmRSS`` in ``/proc/<pid>/status``)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for pid {pid}")


def server_alive(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


def percentile(values, q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation between order statistics."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summary(values_ms) -> str:
    if not values_ms:
        return "n=0"
    return (f"n={len(values_ms)}  p50={percentile(values_ms, 50):.0f} ms  "
            f"p95={percentile(values_ms, 95):.0f} ms  max={max(values_ms):.0f} ms  "
            f"mean={statistics.fmean(values_ms):.0f} ms")


def random_drag(rng) -> tuple[tuple[float, float], tuple[float, float]]:
    """Start and end of a drag, as fractions of the plot area; boxes of 10%..60% per side."""
    w, h = rng.uniform(0.1, 0.6), rng.uniform(0.1, 0.6)
    x0, y0 = rng.uniform(0.02, 0.98 - w), rng.uniform(0.02, 0.98 - h)
    return (x0, y0), (x0 + w, y0 + h)
