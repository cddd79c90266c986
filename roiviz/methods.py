"""The method registry: every method's key, label, batched op, trace and readable reference, in
one table (:data:`REGISTRY`), and the entry points the pages call.

Everything that asks "which method?" reads this table: the Playground's panels and "Show the
code", the sweeps and gradients (:meth:`Method.run`), the renderers (:attr:`Method.label`; their
colours by the same keys in :mod:`roiviz.drawing.style`). Each method's module defines its ``KEY`` and ``LABEL`` next to its code;
a new method is one :class:`Method` line here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np
import torch

from . import precise_roi_pool, roi_align, roi_pool, roi_warp
from .records import MethodTrace, Settings

__all__ = [
    "SAMPLED",
    "METHODS",
    "REGISTRY",
    "SERIES",
    "UNALIGNED",
    "Method",
    "difference_from_precise",
    "get",
    "label",
    "summary_rows",
    "trace_all",
    "trace_method",
]


@dataclass(frozen=True)
class Method:
    """One method (or a variant of one) as the app uses it.

    Attributes:
        key: ``"roi_align"``...; the URL and export name.
        label: the display name, ``"RoI Align"``.
        op: the batched op, torchvision's signature ``op(input, boxes, output_size, spatial_scale,
            ...)``.
        trace: ``trace(feature [H, W], box, Settings) -> MethodTrace``, the teaching record.
        reference: the readable loop that follows the kernel (shown by "Show the code").
        options: the op's keyword arguments taken from :class:`~roiviz.records.Settings`.
        color: the method's colour (:mod:`roiviz.drawing.style`); ``line``, ``marker``: matplotlib's.
    """

    key: str
    label: str
    op: Callable
    trace: Callable[[np.ndarray, object, Settings], MethodTrace]
    reference: Callable
    options: Callable[[Settings], dict]

    def run(self, input: torch.Tensor, boxes: torch.Tensor, settings: Settings) -> torch.Tensor:
        """The batched op with the options of ``settings`` that apply to this method.

        Args:
            input (Tensor[N, C, H, W]): feature maps, floating point.
            boxes (Tensor[K, 5]): ``(batch index, x1, y1, x2, y2)`` in image pixels.

        Returns:
            Tensor[K, C, PH, PW], differentiable in ``input``.
        """
        return self.op(input, boxes, settings.output_size, settings.spatial_scale,
                       **self.options(settings))

    def reference_source(self) -> str:
        """The source text of :attr:`reference` (what "Show the code" shows)."""
        return inspect.getsource(self.reference)


def _method(module, op, trace, reference, options) -> Method:
    return Method(module.KEY, module.LABEL, op, trace, reference, options)


#: The four methods, in teaching order.
_METHODS = (
    _method(roi_pool, roi_pool.roi_pool, roi_pool.trace_roi_pool, roi_pool.roi_pool_reference,
            lambda s: {"convention": s.convention}),
    _method(roi_warp, roi_warp.roi_warp, roi_warp.trace_roi_warp, roi_warp.roi_warp_reference,
            lambda s: {"sampling_ratio": s.sampling_ratio, "reduce": s.reduce,
                       "convention": s.convention}),
    _method(roi_align, roi_align.roi_align, roi_align.trace_roi_align, roi_align.roi_align_reference,
            lambda s: {"sampling_ratio": s.sampling_ratio, "aligned": s.aligned, "reduce": s.reduce}),
    _method(precise_roi_pool, precise_roi_pool.precise_roi_pool,
            precise_roi_pool.trace_precise_roi_pool, precise_roi_pool.precise_roi_pool_reference,
            lambda s: {}),
)
#: A sweep-only variant: RoI Align with ``aligned=False`` whatever ``Settings.aligned`` says.
UNALIGNED = "roi_align_unaligned"
_ALIGN = _METHODS[2]
_VARIANTS = (
    Method(UNALIGNED, "RoI Align (aligned=False)", _ALIGN.op,
           lambda f, b, s: _ALIGN.trace(f, b, replace(s, aligned=False)), _ALIGN.reference,
           lambda s: {**_ALIGN.options(s), "aligned": False}),
)
#: Every method and variant by key, in display order.
REGISTRY: dict[str, Method] = {m.key: m for m in _METHODS + _VARIANTS}
#: The four methods' keys, in teaching order.
METHODS: tuple[str, ...] = tuple(m.key for m in _METHODS)
#: The methods that take bilinear samples (whose traces record them, and a budget can refuse).
SAMPLED: tuple[str, ...] = ("roi_warp", "roi_align")
#: Everything the sweeps and gradients accept: the methods and :data:`UNALIGNED`.
SERIES: tuple[str, ...] = tuple(REGISTRY)


def get(key: str) -> Method:
    """The registry entry for ``key``.

    Raises:
        ValueError: unknown key (naming the known ones).
    """
    if key not in REGISTRY:
        raise ValueError(f"method must be one of {SERIES}, got {key!r}")
    return REGISTRY[key]


def label(key: str) -> str:
    """The display name of a method or variant (``"RoI Align"``)."""
    return get(key).label


def trace_method(method: str, feature: np.ndarray, box, settings: Settings = Settings(), *,
                 record_samples: bool = True) -> MethodTrace:
    """Trace one method (a key of :data:`METHODS`) on a 2-D map ``[H, W]``.

    ``record_samples=False`` skips RoI Align's and RoI Warp's per-sample records (bins keep
    their rectangles and values; :data:`SAMPLED`): for a page that shows only the numbers.

    Raises:
        ValueError: unknown method, or any error of the method's trace function.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method in SAMPLED:
        return REGISTRY[method].trace(feature, box, settings, record_samples=record_samples)
    return REGISTRY[method].trace(feature, box, settings)


def trace_all(feature: np.ndarray, box, settings: Settings = Settings(),
              methods: Iterable[str] = METHODS, *, record_samples: bool = True) -> dict[str, MethodTrace]:
    """Trace several methods on the same map and box; keys in teaching order
    (``record_samples``: see :func:`trace_method`)."""
    chosen = list(methods)
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise ValueError(f"methods must be among {METHODS}, got {unknown}")
    return {m: trace_method(m, feature, box, settings, record_samples=record_samples)
            for m in METHODS if m in chosen}


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
