"""Run any dialect of the catalogue on one map (batched over boxes, torch)."""

from __future__ import annotations

import numpy as np
import torch

from dataclasses import dataclass

from ..geometry import snap_box
from .catalogue import BY_ID, Dialect
from .engine import Sampler, axis_boxes, axis_mapping, run_pooler, run_sampler, sample_positions

__all__ = ["compute", "native_box", "sample_grid", "SampleGrid"]


def _dialect(dialect: str | Dialect) -> Dialect:
    if isinstance(dialect, Dialect):
        return dialect
    try:
        return BY_ID[dialect]
    except KeyError:
        raise ValueError(f"unknown dialect {dialect!r}; known: {', '.join(BY_ID)}") from None


def compute(dialect: str | Dialect, features, boxes, output_size, *, spatial_scale: float = 1.0,
            sampling_ratio=0, units: str | None = None, layout: str | None = None,
            extrapolation_value: float = 0.0) -> torch.Tensor:
    """The numbers ``dialect`` gives on one map.

    Args:
        dialect: an id of :data:`~roiviz.conventions.BY_ID` or a :class:`Dialect`.
        features (Tensor or array [C, H, W] or [H, W]): one image's map, float.
        boxes (Tensor or array [K, 4] or [4]): as passed to the framework, in ``layout`` and ``units``.
        output_size (int or (PH, PW)): bins.
        spatial_scale: ``1 / stride`` for absolute boxes.
        sampling_ratio: int, or int ``[K]`` (one per box); ``<= 0`` is adaptive. Ignored by
            dialects without a ratio.
        units, layout: default the dialect's first (its framework's default).
        extrapolation_value: TensorFlow's value for samples off the map.

    Returns:
        Tensor[K, C_out, PH, PW] (float32 for float32 input). ``C_out = C / (PH * PW)`` for the
        position-sensitive dialects.

    Raises:
        ValueError: unknown dialect, layout or units; a position-sensitive dialect on a map whose
            channels are not a multiple of ``PH * PW``.
    """
    d = _dialect(dialect)
    f = torch.as_tensor(np.asarray(features) if not isinstance(features, torch.Tensor) else features)
    if not f.is_floating_point():
        f = f.float()
    if f.ndim == 2:
        f = f[None]
    b = torch.as_tensor(np.asarray(boxes) if not isinstance(boxes, torch.Tensor) else boxes).to(f.dtype)
    if b.ndim == 1:
        b = b[None]
    size = (output_size, output_size) if isinstance(output_size, (int, np.integer)) else tuple(int(v) for v in output_size)
    units = units or d.units[0]
    layout = layout or d.layouts[0]
    if units not in d.units:
        raise ValueError(f"{d.id} takes boxes in {d.units}, not {units!r}")
    if layout not in d.layouts:
        raise ValueError(f"{d.id} takes boxes in {d.layouts}, not {layout!r}")
    if d.position_sensitive and f.shape[0] % (size[0] * size[1]):
        raise ValueError(f"{d.id} needs channels divisible by PH * PW = {size[0] * size[1]}, got {f.shape[0]}")
    if isinstance(d.engine, Sampler):
        return run_sampler(d.engine, f, b, size, float(spatial_scale), sampling_ratio, units, layout,
                           float(extrapolation_value))
    return run_pooler(d.engine, f, b, size, float(spatial_scale))


def native_box(dialect: str | Dialect, box_xyxy, map_shape: tuple[int, int], spatial_scale: float = 1.0,
               units: str | None = None, layout: str | None = None) -> tuple[float, float, float, float]:
    """The same region as an ``xyxy`` box in image pixels, written as ``dialect``'s framework wants it.

    Normalised units are the feature-unit coordinate ``x * spatial_scale`` divided by the size (or
    size - 1): the box that maps onto the same cells.
    """
    d = _dialect(dialect)
    units = units or d.units[0]
    layout = layout or d.layouts[0]
    height, width = map_shape
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    if units != "absolute":
        wx = width - (units == "by_size_minus_1")
        wy = height - (units == "by_size_minus_1")
        x1, x2 = x1 * spatial_scale / wx, x2 * spatial_scale / wx
        y1, y2 = y1 * spatial_scale / wy, y2 * spatial_scale / wy
    return (x1, y1, x2, y2) if layout == "xyxy" else (y1, x1, y2, x2)


@dataclass(frozen=True)
class SampleGrid:
    """Where a dialect reads the map for one box, in the drawing frame (cell j spans [j, j + 1)).

    Attributes:
        xs, ys: sample coordinates along each axis (every pair ``(x, y)`` is a sample); empty for
            dialects that do not sample (pooling, integration).
        region: ``(x1, y1, x2, y2)``, the box the dialect actually reads (after its offset, ``+1``,
            rounding or minimum size), or None.
        note: one line on what is drawn.
    """

    xs: np.ndarray
    ys: np.ndarray
    region: tuple[float, float, float, float] | None
    note: str


def sample_grid(dialect: str | Dialect, box, map_shape: tuple[int, int], output_size, *,
                spatial_scale: float = 1.0, sampling_ratio: int = 0, units: str | None = None,
                layout: str | None = None) -> SampleGrid:
    """The samples and read region of ``dialect`` for one box (for drawing; the numbers are :func:`compute`'s)."""
    d = _dialect(dialect)
    units = units or d.units[0]
    layout = layout or d.layouts[0]
    height, width = map_shape
    size = (output_size, output_size) if isinstance(output_size, (int, np.integer)) else tuple(int(v) for v in output_size)
    b = torch.as_tensor(np.asarray(box, np.float32).reshape(1, 4))
    x1, y1, x2, y2 = axis_boxes(b, layout)
    if isinstance(d.engine, Sampler):
        ratio = torch.tensor([int(sampling_ratio)])
        cy, my, _ = sample_positions(y1, y2, height, size[0], d.engine, spatial_scale, units, ratio)
        cx, mx, _ = sample_positions(x1, x2, width, size[1], d.engine, spatial_scale, units, ratio)
        ys = cy[my].numpy().astype(np.float64) + 0.5
        xs = cx[mx].numpy().astype(np.float64) + 0.5
        ry = _read_extent(y1, y2, height, d.engine, spatial_scale, units)
        rx = _read_extent(x1, x2, width, d.engine, spatial_scale, units)
        return SampleGrid(xs, ys, (rx[0], ry[0], rx[1], ry[1]),
                          f"{len(xs) * len(ys)} bilinear samples; the dashed box is the extent they split")
    scale = float(spatial_scale)
    if d.engine.kind == "integral":
        region = (float(x1) * scale + 0.5, float(y1) * scale + 0.5, float(x2) * scale + 0.5, float(y2) * scale + 0.5)
        return SampleGrid(np.empty(0), np.empty(0), region,
                          "no samples: the exact integral over the box, cell values at integer coordinates")
    plus = d.engine.kind == "max"
    sx, lx = snap_box(x1 * scale, x2 * scale, plus_one=plus)
    sy, ly = snap_box(y1 * scale, y2 * scale, plus_one=plus)
    region = (float(sx), float(sy), float(sx + lx), float(sy + ly))
    return SampleGrid(np.empty(0), np.empty(0), region,
                      "no samples: every whole cell of the rounded box" + (" (with the +1)" if plus else ""))


def _read_extent(a1, a2, size: int, spec: Sampler, spatial_scale: float, units: str) -> tuple[float, float]:
    """The mapped extent ``[start, start + length]`` of one axis, in the drawing frame."""
    start, _, length = axis_mapping(a1, a2, size, spec, spatial_scale, units)
    return float(start) + 0.5, float(start + length) + 0.5
