"""The browser engine's box gradients (``engine/box_grad.js``) against roiviz's
(:mod:`roiviz.box_gradients`), in headless Chromium, on the parity run's random cases.

Every case gets a target (the sum of all bins, one bin, or minus half the squared distance to
a reference feature, of all bins or of one bin); the Jacobian ``d out / d (x1, y1, x2, y2)`` and
the target's gradient, both ``boxGradient``'s and ``targetGradient``'s (the gradient without the
Jacobian, what the stage's arrows compute on every drag frame), must agree within ``1e-5`` relative (``1e-5 * max(1, |expected|)``), the
values' bar. RoI Pool has no box gradient: the engine returns none, roiviz zeros.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from roiviz.box_gradients import Target, box_gradient
from roiviz.methods import METHODS
from roiviz.records import Settings
from test_stage_engine import STORE_CASES_JS, engine_page, random_case  # noqa: F401 - a fixture

TOLERANCE = 1e-5
CASES = 560
GRADIENT_METHODS = ("roi_warp", "roi_align", "precise_roi_pool")

RUN_JS = """([method, name]) => JSON.stringify(window.storedCases[name].map((c) => {
  try {
    const g = window.roivizEngine.boxGradient(method, c.feature, c.box, c.settings, c.target);
    // The stage's arrows call targetGradient (the gradient without the Jacobian).
    const fast = window.roivizEngine.targetGradient(method, c.feature, c.box, c.settings, c.target);
    return {jacobian: g.jacobian, gradient: g.gradient, fast};
  } catch (e) {
    return {error: String(e.message)};
  }
}))"""


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    rng = np.random.default_rng(20261206)
    out = []
    while len(out) < CASES:
        case = random_case(rng)
        if case["kind"] == "zero_width":
            continue
        ph, pw = case["settings"]["output_size"]
        kind = ("all", "bin", "match", "match")[len(out) % 4]
        target = {"kind": kind}
        if kind == "bin" or (kind == "match" and rng.random() < 0.5):
            target["bin"] = [int(rng.integers(0, ph)), int(rng.integers(0, pw))]
        if kind == "match":
            target["reference"] = rng.standard_normal((ph, pw)).round(3).tolist()
        case["target"] = target
        out.append(case)
    return out


@pytest.fixture(scope="module")
def page(engine_page, cases):
    """The engine page (tests/test_stage_engine.py) with the cases stored in it."""
    assert engine_page.evaluate(STORE_CASES_JS, ["grad", cases]) == len(cases)
    yield engine_page


def python_gradient(method: str, case: dict) -> dict:
    feature = np.asarray(case["values"], dtype=np.float32).reshape(case["height"], case["width"])
    s = case["settings"]
    settings = Settings(output_size=tuple(s["output_size"]), stride=s["stride"], sampling_ratio=s["sampling_ratio"],
                        aligned=s["aligned"], reduce=s["reduce"], convention=s["convention"])
    t = case["target"]
    target = Target(t["kind"], tuple(t["bin"]) if "bin" in t else None, t.get("reference"))
    try:
        g = box_gradient(method, feature, case["box"], settings, target)
    except ValueError as e:
        return {"error": str(e)}
    return {"jacobian": g.jacobian.tolist(), "gradient": g.gradient.tolist()}


def _close(expected, actual) -> float:
    """Largest |difference| relative to max(1, |expected|) (inf if the shapes differ)."""
    e, a = np.asarray(expected, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape:
        return np.inf
    return float(np.max(np.abs(e - a) / np.maximum(1.0, np.abs(e)), initial=0.0))


@pytest.mark.parametrize("method", METHODS)
def test_box_gradient_parity(page, cases, method):
    js = json.loads(page.evaluate(RUN_JS, [method, "grad"]))
    py = [python_gradient(method, c) for c in cases]
    failures, worst, compared, nonzero = [], 0.0, 0, 0
    for i, (case, e, a) in enumerate(zip(cases, py, js)):
        if "error" in e or "error" in a:
            if e.get("error", "<none>").split(", got")[0] != a.get("error", "<none>").split(", got")[0]:
                failures.append(f"case {i}: python {e.get('error')!r}, browser {a.get('error')!r}")
            continue
        compared += 1
        if method == "roi_pool":
            # No box gradient: the engine returns none; roiviz's Jacobian is all zeros.
            if (a["jacobian"] is not None or a["gradient"] is not None or a["fast"] is not None
                    or np.any(np.asarray(e["jacobian"]))):
                failures.append(f"case {i}: RoI Pool has a box gradient")
            continue
        d = max(_close(e["jacobian"], a["jacobian"]), _close(e["gradient"], a["gradient"]),
                _close(e["gradient"], a["fast"]))
        worst = max(worst, d)
        nonzero += bool(np.any(np.asarray(e["gradient"]) != 0))
        if d > TOLERANCE:
            failures.append(f"case {i} ({case['kind']}, box {case['box']}, {case['settings']}, "
                            f"{case['target']['kind']}): |diff| {d:.3g}; python {e['gradient']}, browser {a['gradient']}")
    assert not failures, f"{len(failures)} of {len(cases)} cases differ:\n" + "\n".join(failures[:5])
    assert compared >= 500
    if method != "roi_pool":
        assert nonzero >= 400   # the cases exercise real, non-zero gradients
    print(f"{method}: {compared} cases compared, max relative |diff| {worst:.3g}")


def test_targets_cover_every_kind(cases):
    kinds = [(c["target"]["kind"], "bin" in c["target"]) for c in cases]
    assert {("all", False), ("bin", True), ("match", True), ("match", False)} <= set(kinds)
    assert {c["settings"]["reduce"] for c in cases} == {"avg", "max"}


def test_bad_target_is_refused_alike(page):
    """A bin outside the output and a reference of the wrong shape: the same message in both."""
    values = np.arange(16, dtype=np.float32).reshape(4, 4)
    for target in ({"kind": "bin", "bin": [5, 0]}, {"kind": "match", "reference": [[0.0]]}, {"kind": "nearest"}):
        case = {"kind": "hand", "height": 4, "width": 4, "values": values.ravel().tolist(),
                "box": [0.5, 0.5, 3.0, 3.5], "target": target,
                "settings": {"output_size": [2, 2], "stride": 1, "sampling_ratio": 2, "aligned": True,
                             "reduce": "avg", "convention": "library"}}
        page.evaluate(STORE_CASES_JS, ["bad", [case]])
        js = json.loads(page.evaluate(RUN_JS, ["roi_align", "bad"]))[0]
        py = python_gradient("roi_align", case)
        assert "error" in js and "error" in py
        assert js["error"].split(", got")[0] == py["error"].split(", got")[0]
