"""All four methods on one RoI: the entry point the app's pages call."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .precise_roi_pool import trace_precise_roi_pool
from .roi_align import trace_roi_align
from .roi_pool import trace_roi_pool
from .roi_warp import trace_roi_warp
from .trace import METHODS, MethodTrace, Settings

TRACERS = {
    "roi_pool": trace_roi_pool,
    "roi_warp": trace_roi_warp,
    "roi_align": trace_roi_align,
    "precise_roi_pool": trace_precise_roi_pool,
}


def trace_method(method: str, feature: np.ndarray, box, settings: Settings = Settings()) -> MethodTrace:
    """Trace one method (a key of :data:`roiviz.trace.METHODS`) on a 2-D map ``[H, W]``.

    Raises:
        ValueError: unknown method, or any error of the method's trace function.
    """
    if method not in TRACERS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return TRACERS[method](feature, box, settings)


def trace_all(feature: np.ndarray, box, settings: Settings = Settings(),
              methods: Iterable[str] = METHODS) -> dict[str, MethodTrace]:
    """Trace several methods on the same map and box; keys in teaching order."""
    chosen = list(methods)
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise ValueError(f"methods must be among {METHODS}, got {unknown}")
    return {m: trace_method(m, feature, box, settings) for m in METHODS if m in chosen}


def difference_from_precise(traces: dict[str, MethodTrace]) -> dict[str, float]:
    """Mean absolute difference of each output from Precise RoI Pooling's (the exact integral).

    Returns an empty dict when ``traces`` has no ``precise_roi_pool`` entry.
    """
    exact = traces.get("precise_roi_pool")
    if exact is None:
        return {}
    return {m: float(np.mean(np.abs(t.output.astype(np.float64) - exact.output)))
            for m, t in traces.items()}


def summary_rows(traces: dict[str, MethodTrace]) -> dict[str, dict[str, str]]:
    """Per method, the small table shown under its panel (formatted strings, fixed keys).

    Keys: ``lost %``, ``gained %``, ``outside %``, ``IoU`` (read region vs RoI) and
    ``mean |diff| vs Precise`` (mean absolute difference of the outputs; blank without Precise).
    """
    diffs = difference_from_precise(traces)
    rows = {}
    for method, t in traces.items():
        a = t.areas
        rows[method] = {
            "lost %": f"{a.percent('lost'):.1f}",
            "gained %": f"{a.percent('gained'):.1f}",
            "outside %": f"{a.percent('outside'):.1f}",
            "IoU": f"{a.iou:.3f}",
            "mean |diff| vs Precise": f"{diffs[method]:.4f}" if method in diffs else "",
        }
    return rows
