"""The browser engine (``assets/stage/engine/*.js``) against roiviz's traces, in headless Chromium.

The same random cases go to ``roiviz.methods.trace_method`` and to the bundled engine's
``traceMethod`` (all cases of a method in one page evaluation) and the traces are compared field
by field: geometry (boxes, rectangles, cells, argmax, neighbours, sample positions, grid,
winner, settings) must be identical; values, weights, outputs, areas and gradients within
``1e-5`` (relative to the value when it is larger than 1). Cases where roiviz refuses the
input (a zero-width box, too many samples) must be refused by the engine with the same message.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from browser_support import chromium_browser, require_chromium
from roiviz.lessons.examples import SEED_EXAMPLE_BOX, SEED_EXAMPLE_MAP_SHAPE, seed_example_settings
from roiviz.drawing.stage_bundle import engine_source
from roiviz.methods import METHODS
from roiviz.records import Settings
from roiviz.methods import trace_method

TOLERANCE = 1e-5
CASES = 580
#: A case is redrawn when RoI Align would take more samples than this, or a Precise RoI Pooling
#: bin list more cells (it keeps the Python reference's part of the test to seconds).
CASE_WORK_LIMIT = 160
#: Fields (at any depth) whose numbers are computed values; every other number is geometry.
VALUE_FIELDS = {"value", "output", "weights", "areas", "cell_weights"}
STRIDES = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 20, 24, 32)

#: Stores a named set of cases in the page (sent once, used by every method).
STORE_CASES_JS = """([name, cases]) => {
  window.storedCases = window.storedCases || {};
  window.storedCases[name] = cases.map((c) => ({...c, feature: {
    values: Float32Array.from(c.values), height: c.height, width: c.width}}));
  return window.storedCases[name].length;
}"""
#: Traces every stored case with one method; a refused case gives {error: message}.
RUN_CASES_JS = """([method, name]) => JSON.stringify(window.storedCases[name].map((c) => {
  try {
    return window.roivizEngine.traceMethod(method, c.feature, c.box, c.settings);
  } catch (e) {
    return {error: String(e.message)};
  }
}))"""


@pytest.fixture(scope="module")
def engine_page():
    """A blank page with the bundled engine as a module, reachable as ``window.roivizEngine``."""
    require_chromium()
    with chromium_browser() as browser:
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_content("<!doctype html><title>engine</title>")
        page.add_script_tag(type="module", content=engine_source() +
                            "\nwindow.roivizEngine = { traceMethod, traceAll, regionRects, SAMPLE_BUDGET, "
                            "MAX_TRACE_OUTPUT, LIVE_SAMPLE_LIMIT, RECORDED_PER_SIDE, boxGradient, boxJacobian, "
                            "targetGradient };\n")
        page.wait_for_function("window.roivizEngine !== undefined")
        assert not errors
        yield page


# ----------------------------------------------------------------------------------------------
# Cases


def _edges(rng, kind: str, size: int, stride: float) -> tuple[float, float]:
    """Two box edges along one axis, in image pixels, for a map ``size`` cells long."""
    if kind == "inside":
        u1 = rng.uniform(0, size)
        u2 = rng.uniform(u1, size) if rng.random() < 0.8 else u1 + rng.uniform(0.05, 1.0)
    elif kind == "tiny":
        u1 = rng.uniform(-1.5, size + 1.5)
        u2 = u1 + 10.0 ** rng.uniform(-4, -0.5)
    elif kind == "half_cells":  # edges at exact half cells (C round's ties) or one float32 ulp off
        k1, k2 = sorted(rng.integers(-2, size + 3, size=2))
        u1, u2 = k1 + 0.5, k2 + 1.5 if k1 == k2 else k2 + 0.5
        nudge = rng.choice([0, 0, 1, -1])
        if nudge:
            u1 = float(np.nextafter(np.float32(u1), np.float32(nudge * np.inf))) if u1 else u1
        return u1 * stride, u2 * stride
    else:  # "outside" (partly or wholly off the map), "reversed", "zero_width"
        u1 = rng.uniform(-4, size + 1)
        u2 = u1 + rng.uniform(0.1, size + 4)
    x1, x2 = u1 * stride, u2 * stride
    if kind == "reversed":
        x1, x2 = x2, x1
    if kind == "zero_width":
        x2 = x1
    return x1, x2


def random_case(rng) -> dict:
    """One map, box and settings within :data:`CASE_WORK_LIMIT`; a JSON-ready dict."""
    while True:
        case = _draw_case(rng)
        if _work(case) <= CASE_WORK_LIMIT:
            return case


def _work(case: dict) -> int:
    """About how many samples (or Precise cell weights) tracing ``case`` records."""
    s = case["settings"]
    work = 1
    for axis, pooled in ((0, s["output_size"][1]), (1, s["output_size"][0])):
        cells = abs(case["box"][axis + 2] - case["box"][axis]) / s["stride"]
        grid = s["sampling_ratio"] if s["sampling_ratio"] > 0 else math.ceil(max(cells, 1.0) / pooled)
        work *= max(pooled * grid, cells + 2 * pooled)
    return work


def _draw_case(rng) -> dict:
    """One map, box and settings; a JSON-ready dict (the map's values are float32)."""
    height, width = (int(v) for v in rng.integers(1, 25, size=2))
    stride = float(rng.choice(STRIDES)) if rng.random() < 0.9 else round(float(rng.uniform(1, 32)), 2)
    kind = str(rng.choice(["inside", "outside", "tiny", "half_cells", "reversed", "zero_width"],
                          p=[0.25, 0.25, 0.15, 0.15, 0.14, 0.06]))
    x1, x2 = _edges(rng, kind, width, stride)
    y1, y2 = _edges(rng, kind if kind != "zero_width" or rng.random() < 0.5 else "inside",
                    height, stride)
    if rng.random() < 0.3:  # ties: the first maximum must win, in both engines
        values = rng.integers(0, 3, size=(height, width)).astype(np.float32)
    else:
        values = (rng.standard_normal((height, width)) * 10.0 ** rng.uniform(-1, 2)).astype(np.float32)
    return {
        "kind": kind, "height": height, "width": width, "values": values.ravel().tolist(),
        "box": [float(x1), float(y1), float(x2), float(y2)],
        "settings": {
            "output_size": [int(v) for v in rng.integers(1, 15, size=2)], "stride": stride,
            "sampling_ratio": int(rng.choice([-1, 0, 0, 1, 2, 3, 4])),
            "aligned": bool(rng.random() < 0.5), "reduce": str(rng.choice(["avg", "max"])),
            "convention": str(rng.choice(["library", "article"])),
        },
    }


def python_trace(method: str, case: dict) -> dict:
    """roiviz's trace as JSON would carry it (without ``notes``), or ``{"error": message}``."""
    feature = np.asarray(case["values"], dtype=np.float32).reshape(case["height"], case["width"])
    s = case["settings"]
    settings = Settings(output_size=tuple(s["output_size"]), stride=s["stride"],
                        sampling_ratio=s["sampling_ratio"], aligned=s["aligned"], reduce=s["reduce"],
                        convention=s["convention"])
    try:
        trace = trace_method(method, feature, case["box"], settings).to_dict()
    except ValueError as e:
        return {"error": str(e)}
    trace.pop("notes")
    return json.loads(json.dumps(trace))


def browser_traces(page, method: str, name: str, cases: list[dict] | None = None) -> list[dict]:
    """The engine's traces of the case set ``name`` in one evaluation (``cases`` stores it)."""
    if cases is not None:
        page.evaluate(STORE_CASES_JS, [name, cases])
    return json.loads(page.evaluate(RUN_CASES_JS, [method, name]))


# ----------------------------------------------------------------------------------------------
# Field-by-field comparison


def compare(expected, actual, path: str = "", value: bool = False) -> tuple[list[str], float]:
    """``(mismatches, largest value difference)`` between a Python trace and a browser trace.

    Numbers under :data:`VALUE_FIELDS` may differ by ``TOLERANCE * max(1, |expected|)``; all
    other numbers (geometry), strings, booleans and ``None`` must be equal.
    """
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(expected) != set(actual):
            return [f"{path}: keys {sorted(expected)} != {sorted(actual) if isinstance(actual, dict) else actual!r}"], 0.0
        out, worst = [], 0.0
        for key in expected:
            if key == "cell_weights":  # [[cell, weight], ...]: the cells are geometry
                cells_e = [c for c, _ in expected[key]]
                cells_a = [c for c, _ in actual[key]] if isinstance(actual[key], list) else None
                if cells_e != cells_a:
                    out.append(f"{path}.cell_weights: cells {cells_e} != {cells_a}")
                    continue
                m, d = compare([w for _, w in expected[key]], [w for _, w in actual[key]],
                               f"{path}.cell_weights", True)
            else:
                m, d = compare(expected[key], actual[key], f"{path}.{key}", value or key in VALUE_FIELDS)
            out += m
            worst = max(worst, d)
        return out, worst
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(expected) != len(actual):
            return [f"{path}: {expected!r} != {actual!r}"], 0.0
        out, worst = [], 0.0
        for i, (e, a) in enumerate(zip(expected, actual)):
            m, d = compare(e, a, f"{path}[{i}]", value)
            out += m
            worst = max(worst, d)
        return out, worst
    numeric = isinstance(expected, (int, float)) and not isinstance(expected, bool)
    if numeric and isinstance(actual, (int, float)) and not isinstance(actual, bool):
        diff = abs(expected - actual)
        if value:
            ok = diff <= TOLERANCE * max(1.0, abs(expected))
            return ([] if ok else [f"{path}: {expected!r} != {actual!r} (|diff| {diff:.3g})"]), diff
        return ([] if expected == actual else [f"{path}: {expected!r} != {actual!r}"]), 0.0
    return ([] if expected == actual else [f"{path}: {expected!r} != {actual!r}"]), 0.0


def check_parity(method: str, cases: list[dict], py: list[dict], js: list[dict]) -> float:
    """Fail with the first few mismatching cases; return the largest value difference."""
    failures, worst = [], 0.0
    for i, (case, expected, actual) in enumerate(zip(cases, py, js)):
        if "error" in expected or "error" in actual:
            if expected.get("error", "<none>").split(", got")[0] != actual.get("error", "<none>").split(", got")[0]:
                failures.append(f"case {i} ({case['kind']}): python {expected.get('error')!r}, "
                                f"browser {actual.get('error')!r}")
            continue
        if expected == actual:  # the usual case: bit-identical (== is exact on numbers)
            continue
        mismatches, diff = compare(expected, actual, method)
        worst = max(worst, diff)
        if mismatches:
            failures.append(f"case {i} ({case['kind']}, box {case['box']}, {case['settings']}): "
                            + "; ".join(mismatches[:4]))
    assert not failures, f"{len(failures)} of {len(cases)} cases differ:\n" + "\n".join(failures[:5])
    return worst


@pytest.fixture(scope="module")
def random_cases() -> list[dict]:
    rng = np.random.default_rng(20261126)
    return [random_case(rng) for _ in range(CASES)]


@pytest.fixture(scope="module")
def random_page(engine_page, random_cases):
    """The engine page with the random cases stored in it."""
    assert engine_page.evaluate(STORE_CASES_JS, ["random", random_cases]) == len(random_cases)
    yield engine_page


@pytest.mark.parametrize("method", METHODS)
def test_random_parity(random_page, random_cases, method):
    js = browser_traces(random_page, method, "random")
    py = [python_trace(method, c) for c in random_cases]
    worst = check_parity(method, random_cases, py, js)
    traced = sum("error" not in t for t in py)
    kinds = {c["kind"] for c, t in zip(random_cases, py) if "error" not in t}
    # The cases must exercise what they claim: at least 500 are traced, of every kind but zero width.
    assert traced >= 500 and kinds == {"inside", "outside", "tiny", "half_cells", "reversed"}
    assert any("error" in t for t in py)  # zero-width boxes are refused by both
    print(f"{method}: {traced} traced cases + {len(py) - traced} refused, max |value diff| {worst:.3g}")


def test_random_cases_cover_the_options(random_cases):
    """The generator reaches every option, stride kind and map size it is meant to."""
    settings = [c["settings"] for c in random_cases]
    assert {s["convention"] for s in settings} == {"library", "article"}
    assert {s["reduce"] for s in settings} == {"avg", "max"}
    assert {s["aligned"] for s in settings} == {True, False}
    assert {s["sampling_ratio"] for s in settings} >= {-1, 0, 1, 2, 3, 4}
    assert {3.0, 7.0, 12.0, 1.0, 32.0} <= {s["stride"] for s in settings}
    assert any(not float(s["stride"]).is_integer() for s in settings)
    sizes = {v for s in settings for v in s["output_size"]}
    assert sizes == set(range(1, 15))
    assert {c["height"] for c in random_cases} >= {1, 24}


# ----------------------------------------------------------------------------------------------
# Hand cases


def trace_pair(page, method: str, values: np.ndarray, box, settings: Settings) -> tuple[dict, dict]:
    case = {"kind": "hand", "height": values.shape[0], "width": values.shape[1],
            "values": values.astype(np.float32).ravel().tolist(), "box": list(box),
            "settings": {"output_size": list(settings.output_size), "stride": settings.stride,
                         "sampling_ratio": settings.sampling_ratio, "aligned": settings.aligned,
                         "reduce": settings.reduce, "convention": settings.convention}}
    return python_trace(method, case), browser_traces(page, method, "hand", [case])[0]


@pytest.mark.parametrize("convention", ["article", "library"])
def test_seed_example(engine_page, convention):
    """The seed article's 4 x 6 example: every method's trace equals roiviz's."""
    values = np.random.default_rng(0).standard_normal(SEED_EXAMPLE_MAP_SHAPE).astype(np.float32)
    for method in METHODS:
        py, js = trace_pair(engine_page, method, values, SEED_EXAMPLE_BOX,
                            seed_example_settings(convention, sampling_ratio=2))
        assert compare(py, js, method)[0] == []
    # The article's numbers, from the engine itself (roiviz/lessons/examples.py).
    pool = trace_pair(engine_page, "roi_pool", values, SEED_EXAMPLE_BOX,
                      seed_example_settings(convention))[1]
    if convention == "article":
        assert pool["snapped_box"] == [1, 2, 7, 6] and pool["read_region"] == [1, 2, 7, 5]
        assert math.isclose(pool["areas"]["lost"], 9.1875) and math.isclose(pool["areas"]["gained"], 2.1875)
    else:
        assert pool["snapped_box"] == [1, 2, 9, 7]
        assert pool["areas"]["lost"] == 0 and math.isclose(pool["areas"]["gained"], 15.0)


def test_outside_case(engine_page):
    """Issue 13's case: constant 5, stride 1, box (-1, 0, 3, 4), 1 x 1, ratio 2."""
    values = np.full((6, 6), 5.0, dtype=np.float32)
    settings = Settings(output_size=(1, 1), stride=1.0, sampling_ratio=2)
    expected = {"roi_align": 5.0, "precise_roi_pool": 4.375}
    for method, value in expected.items():
        py, js = trace_pair(engine_page, method, values, (-1, 0, 3, 4), settings)
        assert compare(py, js, method)[0] == []
        assert js["output"] == [[value]]
        assert math.isclose(js["areas"]["outside"], 4.0)
    py, js = trace_pair(engine_page, "roi_pool", -values, (-1, 0, 3, 4), settings)
    assert compare(py, js)[0] == [] and js["output"] == [[-5.0]]


def test_refusals_match(engine_page):
    """Inputs roiviz refuses are refused by the engine with the same message."""
    values = np.zeros((4, 4), dtype=np.float32)
    bad = [
        ((1, 1, 1, 3), Settings()),                                        # zero width
        ((0, 0, 4, 4), Settings(output_size=(14, 14), stride=1, sampling_ratio=80)),  # > live limit
        ((0, 0, 4, 4), Settings(reduce="median")),
        ((0, 0, 4, 4), Settings(convention="caffe")),
        ((0, 0, 4, 4), Settings(output_size=(0, 3))),
        ((0, 0, 4, 4), Settings(stride=-2.0)),
    ]
    for box, settings in bad:
        py, js = trace_pair(engine_page, "roi_align", values, box, settings)
        assert "error" in py and "error" in js
        if "samples" in js["error"]:  # the engine computes without per-sample records
            py = {"error": str(pytest.raises(ValueError, trace_method, "roi_align", values, box,
                                             settings, record_samples=False).value)}
        assert py["error"].split(", got")[0] == js["error"].split(", got")[0]


def test_overflow_refusals_match(engine_page):
    """Issue 17's fix on the way: a box past 2^24 feature cells (the int64 casts wrapped at
    2^63: roi_pool on (0, 0, 1e19, 1) over [[1, 2, 3, 4]] gave 0 where the engine gave 4), a box
    beyond float32's range and a stride whose reciprocal overflows (1e-320) are refused by both
    engines, for every method, with the same message."""
    values = np.array([[1, 2, 3, 4]], dtype=np.float32)
    one = Settings(output_size=(1, 1), stride=1.0)
    bad = [((0, 0, 1e19, 1), one), ((0, 0, 1e39, 1), one), ((-2e7, 0, 1, 1), one),
           ((0, 0, 4, 1), Settings(output_size=(1, 1), stride=1e-320)),
           ((0, 0, 4, 1), Settings(output_size=(1, 1), stride=1e50))]
    for method in ("roi_pool", "roi_warp", "roi_align", "precise_roi_pool"):
        for box, settings in bad:
            py, js = trace_pair(engine_page, method, values, box, settings)
            assert "error" in py and "error" in js, (method, box, py, js)
            assert py["error"].split(", got")[0] == js["error"].split(", got")[0]
    # At the bound both still compute, and agree.
    py, js = trace_pair(engine_page, "roi_pool", values, (0, 0, 2.0 ** 24, 1), one)
    assert "error" not in py and py["output"] == js["output"] == [[4.0]]


def test_bounds_are_roivizs(engine_page):
    """The engine's bounds are roiviz's: one sample budget (geometry) and one output bound."""
    from roiviz.geometry import LIVE_SAMPLE_LIMIT, SAMPLE_BUDGET
    from roiviz.records import MAX_TRACE_OUTPUT
    from roiviz.drawing.thinned import RECORDED_PER_SIDE
    js = engine_page.evaluate("[window.roivizEngine.SAMPLE_BUDGET, window.roivizEngine.MAX_TRACE_OUTPUT, "
                              "window.roivizEngine.LIVE_SAMPLE_LIMIT, window.roivizEngine.RECORDED_PER_SIDE]")
    assert js == [SAMPLE_BUDGET, MAX_TRACE_OUTPUT, LIVE_SAMPLE_LIMIT, RECORDED_PER_SIDE]
    values = np.zeros((8, 8), dtype=np.float32)
    at_budget = Settings(output_size=(8, 8), stride=1, sampling_ratio=8)  # 8 * 8 * 8 * 8 = 4096
    py, js = trace_pair(engine_page, "roi_align", values, (0, 0, 8, 8), at_budget)
    assert "error" not in py and "error" not in js and len(js["bins"][0]["samples"]) == 64


def test_trace_all_and_regions(engine_page):
    """traceAll gives every method in teaching order with Settings' fields; regionRects equals
    region_rects."""
    from roiviz.methods import trace_all
    values = np.arange(64, dtype=np.float32).reshape(8, 8)
    box, settings = (-5.0, 3.0, 21.0, 30.0), Settings(output_size=(2, 3), stride=4.0)
    result = engine_page.evaluate(
        """([v, box, s]) => {
          const feature = {values: Float32Array.from(v), height: 8, width: 8};
          const traces = window.roivizEngine.traceAll(feature, box, s);
          const regions = {};
          for (const [m, t] of Object.entries(traces)) {
            regions[m] = ['lost', 'gained', 'outside'].map((n) => window.roivizEngine.regionRects(t, n));
          }
          return {keys: Object.keys(traces), regions, settings: traces.roi_align.settings};
        }""",
        [values.ravel().tolist(), list(box), {"output_size": [2, 3], "stride": 4.0, "unknown": 1}])
    assert result["keys"] == list(METHODS)
    # Missing settings take Settings' defaults; unknown ones are not copied into the trace.
    assert result["settings"] == json.loads(json.dumps(trace_all(values, box, settings)["roi_align"].to_dict()["settings"]))
    for method, trace in trace_all(values, box, settings).items():
        expected = [[list(r) for r in trace.region_rects(n)] for n in ("lost", "gained", "outside")]
        assert result["regions"][method] == expected


@pytest.mark.parametrize("method", ["roi_align", "roi_warp"])
@pytest.mark.parametrize("size, ratio, reduce, aligned", [
    ((7, 7), 16, "avg", True), ((14, 14), 16, "max", False), ((5, 9), 0, "avg", True), ((5, 5), 13, "max", True)])
def test_past_the_budget_the_engine_records_what_roiviz_thinned_records(engine_page, method, size, ratio,
                                                                        reduce, aligned):
    """Past SAMPLE_BUDGET the engine still computes every sample (its output is roiviz's
    ``record_samples=False`` trace's, which is bit-identical to the recorded one) and records
    the samples :func:`roiviz.drawing.thinned.thinned_trace` records: same rows, positions, neighbours,
    weights and values, same ``sample_step``."""
    from roiviz.drawing.thinned import thinned_trace
    rng = np.random.default_rng(hash((method, size, ratio)) % 2 ** 32)
    values = (rng.standard_normal((40, 52)) * 5).astype(np.float32)
    if reduce == "max":
        values = np.round(values)  # ties: the first maximum must win
    box = (37.3, 21.9, 611.0, 598.4)
    stride = 4 if ratio == 0 else 16  # adaptive: a box of 143 x 144 cells, partly off the map
    settings = Settings(output_size=size, stride=stride, sampling_ratio=ratio, reduce=reduce, aligned=aligned)
    py_out = trace_method(method, values, box, settings, record_samples=False)
    thin = thinned_trace(values, box, settings, method)
    js = json.loads(engine_page.evaluate(
        "([m, v, h, w, box, s]) => JSON.stringify(window.roivizEngine.traceMethod(m, "
        "{values: Float32Array.from(v), height: h, width: w}, box, s))",
        [method, values.ravel().tolist(), 40, 52, list(box),
         {"output_size": list(size), "stride": stride, "sampling_ratio": ratio, "reduce": reduce, "aligned": aligned}]))
    gy, gx = js["grid"]
    assert size[0] * size[1] * gy * gx > 4096
    assert js["output"] == py_out.output.tolist()  # bit for bit
    expected = json.loads(json.dumps(thin.to_dict()))
    assert js["sample_step"] == expected["sample_step"] == list(thin.sample_step)
    assert [b["samples"] for b in js["bins"]] == [b["samples"] for b in expected["bins"]]
    assert all(b["winner"] is None and b["cell_weights"] == [] for b in js["bins"])
    for key in ("grid", "snapped_box", "sampled_box", "read_region", "roi"):
        assert js[key] == expected[key], key
