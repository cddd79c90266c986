"""The batched engine behind every dialect: one box mapping, one sampling grid, one reduction.

Every sampled dialect of :mod:`roiviz.conventions.catalogue` is a :class:`Sampler`: a handful of
numbers and flags that say how the framework maps a box to the map, where it puts its samples,
what a sample off the map reads and how a bin's samples become one number. The interpolation
itself is roiviz's one :func:`roiviz.bilinear.linear_weights` (its ``margin`` is the off-map
rule), the rounding is :func:`roiviz.geometry.snap_box` / :func:`~roiviz.geometry.pool_bins`,
the exact integral is :func:`roiviz.precise_roi_pool.bin_integrals`.

Frames: as in :mod:`roiviz.geometry`, the value of cell ``j`` sits at coordinate ``j`` (the
library frame). Shapes: ``features [C, H, W]`` (one image), ``boxes [K, 4]`` in the dialect's
own order and units, outputs ``[K, C_out, PH, PW]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..bilinear import linear_weights
from ..geometry import pool_bins, snap_box
from ..precise_roi_pool import bin_integrals
from ..roi_pool import roi_pool

__all__ = ["Sampler", "Pooler", "axis_mapping", "sample_positions", "run_sampler", "run_pooler", "axis_boxes"]

#: Box units a dialect may take: ``absolute`` image pixels times ``spatial_scale``;
#: ``by_size`` normalised to [0, 1] and multiplied by ``H`` (``W``); ``by_size_minus_1``
#: normalised and multiplied by ``H - 1`` (TensorFlow, Core ML: corners aligned).
UNITS = ("absolute", "by_size", "by_size_minus_1")
#: Box orders: ``xyxy`` (PyTorch, ONNX, OpenVINO) and ``yxyx`` (TensorFlow, Keras, Core ML's
#: ``CORNERS_HEIGHT_FIRST``).
LAYOUTS = ("xyxy", "yxyx")


@dataclass(frozen=True)
class Sampler:
    """How one sampled dialect maps a box and reads the map (all per axis, same on x and y).

    Mapping (feature units ``u``, from :func:`axis_boxes`): ``start = u1 - offset``,
    ``end = u2 + end_plus * spatial_scale - offset``, ``length = max(end - start, min_size)``
    (``+ extent_plus`` for Core ML's resize modes).
    Grid: ``bin = length / (P - corners)``; sample ``i`` of bin ``p`` at
    ``start + bin * (p + (i + sample_offset) / g) + sample_shift``, optionally clamped into
    ``[start, end]``; ``g`` is ``sampling_ratio`` (or adaptive) when ``grid == "ratio"``, else 1.
    Reading: :func:`~roiviz.bilinear.linear_weights` with ``margin`` (and
    ``extrapolate_below``); with ``extrapolation`` an off-map sample (``margin`` 0) reads
    ``extrapolation_value`` instead of 0. ``round_box``: the edges are rounded first
    (:func:`~roiviz.geometry.snap_box` without ``+ 1`` or minimum, MNC). ``norm_minus_1``:
    with ``clip_box``, the normalised box is scaled by ``size - 1`` (TensorRT's transform -1).
    Reduction: ``avg`` (sum / count), ``max`` of the interpolated values, ``max_from_zero``
    (OpenVINO's reference: the running maximum starts at 0), ``corner_max`` (ONNX Runtime: the
    largest weighted corner term ``w_i * v_i`` over the bin's samples).
    """

    offset: float = 0.0
    offset_src: float = 0.0
    end_plus: float = 0.0
    min_size: float = 0.0
    clip_box: bool = False
    corners: bool = False
    centre_if_one: bool = True
    extent_plus: float = 0.0
    sample_offset: float = 0.5
    sample_shift: float = 0.0
    clamp_to_box: bool = False
    grid: str = "ratio"
    adaptive: str = "ceil"
    margin: float = 1.0
    extrapolation: bool = False
    reduce: str = "avg"
    channel_groups: bool = False
    extrapolate_below: bool = False
    round_box: bool = False
    norm_minus_1: bool = False


@dataclass(frozen=True)
class Pooler:
    """A dialect that pools whole cells or integrates instead of sampling.

    ``kind``: ``"max"`` (RoI Pool: round, ``+ 1``, max; ``bins_clip_last`` False), ``"ps_avg"``
    (torchvision ``ps_roi_pool``: round without ``+ 1``, bins clipped to ``H - 1`` so the last
    row and column are never read, average, one channel group per bin), ``"integral"``
    (PreciseRoIPooling's authors: integer-coordinate cells, zero off the map).
    """

    kind: str


def axis_boxes(boxes: torch.Tensor, layout: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``[K, 4]`` boxes in ``layout`` -> ``(x1, y1, x2, y2)``, each ``[K]``."""
    if layout == "xyxy":
        return boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    if layout == "yxyx":
        return boxes[:, 1], boxes[:, 0], boxes[:, 3], boxes[:, 2]
    raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")


def _feature_units(a1: torch.Tensor, a2: torch.Tensor, size: int, spatial_scale: float, units: str,
                   spec: Sampler) -> tuple[torch.Tensor, torch.Tensor]:
    """One axis of a box in feature units (before the offset), as the dialect reads it."""
    if units == "absolute":
        if spec.clip_box:
            # TensorRT's PyramidROIAlign: clipped to the image, normalised by the image size
            # (size / spatial_scale), then scaled back to the level.
            image = size / spatial_scale
            factor = size - 1 if spec.norm_minus_1 else size
            return (a1.clamp(0, image) / image) * factor, (a2.clamp(0, image) / image) * factor
        return (a1 + spec.offset_src) * spatial_scale, (a2 + spec.offset_src) * spatial_scale
    if units not in ("by_size", "by_size_minus_1"):
        raise ValueError(f"units must be one of {UNITS}, got {units!r}")
    if spec.clip_box:
        a1, a2 = a1.clamp(0, 1), a2.clamp(0, 1)
    factor = size if units == "by_size" else size - 1
    return a1 * factor, a2 * factor


def axis_mapping(a1: torch.Tensor, a2: torch.Tensor, size: int, spec: Sampler, spatial_scale: float,
                 units: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One axis of the box as the dialect maps it: ``(start, end, length)``, library frame, ``[K]``.

    ``length`` is what the bins split: ``max(end - start, min_size) + extent_plus``.
    """
    dt = a1.dtype
    u1, u2 = _feature_units(a1, a2, size, spatial_scale, units, spec)
    if spec.round_box:
        snapped, snapped_length = snap_box(u1, u2, plus_one=False, min_length=0)
        u1, u2 = snapped.to(dt), (snapped + snapped_length).to(dt)
    start = u1 - spec.offset
    end = (a2 + spec.end_plus) * spatial_scale - spec.offset if spec.end_plus else u2 - spec.offset
    length = torch.maximum(end - start, torch.full_like(start, spec.min_size)) + spec.extent_plus
    return start, end, length


def sample_positions(a1: torch.Tensor, a2: torch.Tensor, size: int, pooled: int, spec: Sampler,
                     spatial_scale: float, units: str, sampling_ratio: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sample coordinates along one axis, in float32 and in the kernels' order of operations.

    Args:
        a1, a2: ``[K]`` box edges along the axis, as passed to the framework.
        size: the map's size along the axis. pooled: bins along the axis.
        sampling_ratio: int64 ``[K]``, ``<= 0`` for adaptive (ignored unless ``grid == "ratio"``).

    Returns:
        ``(coords, mask, grid)``: ``[K, P, G]`` library-frame coordinates (dtype of ``a1``), a
        bool mask False on padding, and int64 ``[K]`` samples per bin side (may be 0).
    """
    dt = a1.dtype
    start, end, length = axis_mapping(a1, a2, size, spec, spatial_scale, units)
    divisions = pooled - 1 if spec.corners else pooled
    if spec.grid == "ratio":
        per_bin = length / pooled
        adaptive = {"ceil": torch.ceil(per_bin), "ceil_min1": torch.ceil(per_bin).clamp(min=1),
                    "floor": torch.floor(per_bin)}[spec.adaptive]
        grid = torch.where(sampling_ratio > 0, sampling_ratio.double(), adaptive).to(torch.int64)
    else:
        grid = torch.ones_like(start, dtype=torch.int64)
    max_grid = max(int(grid.max()), 1) if grid.numel() else 1
    p = torch.arange(pooled, dtype=dt)[None, :, None]
    i = torch.arange(max_grid, dtype=dt)[None, None, :]
    g = grid.clamp(min=1).to(dt)[:, None, None]
    if spec.corners and pooled == 1:
        bin_size = length[:, None, None] * (0.5 if spec.centre_if_one else 0.0)
        coords = start[:, None, None] + bin_size + 0 * i
    else:
        bin_size = (length / max(divisions, 1))[:, None, None]
        coords = (start[:, None, None] + p * bin_size + (i + spec.sample_offset) * bin_size / g
                  + spec.sample_shift)
    if spec.clamp_to_box:
        coords = torch.minimum(torch.maximum(coords, start[:, None, None]), end[:, None, None])
    mask = (torch.arange(max_grid)[None, None, :] < grid[:, None, None]).expand(coords.shape)
    return coords, mask, grid


def _axis_matrix(coords: torch.Tensor, mask: torch.Tensor, size: int, margin: float,
                 extrapolate_below: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense bilinear weights ``[K, P, G, size]`` (float64) of each sample, and its on-map flag."""
    low, high, w_low, w_high = linear_weights(coords, size, margin, extrapolate_below)
    w_low, w_high = w_low.double(), w_high.double()
    on = mask & ((w_low + w_high) != 0) if math.isfinite(margin) else mask.clone()
    dense = torch.zeros(*coords.shape, size, dtype=torch.float64)
    dense.scatter_add_(-1, low[..., None], (w_low * mask)[..., None])
    dense.scatter_add_(-1, high[..., None], (w_high * mask)[..., None])
    return dense, on


def run_sampler(spec: Sampler, features: torch.Tensor, boxes: torch.Tensor,
                output_size: tuple[int, int], spatial_scale: float, sampling_ratio,
                units: str = "absolute", layout: str = "xyxy",
                extrapolation_value: float = 0.0) -> torch.Tensor:
    """A sampled dialect on one image, batched over boxes.

    Args:
        features: ``[C, H, W]`` float. boxes: ``[K, 4]`` in ``layout`` and ``units``.
        output_size: ``(PH, PW)``. spatial_scale: ``1 / stride`` (for ``absolute`` boxes).
        sampling_ratio: an int or int64 ``[K]`` (one per box, so that the detective can try
            several ratios in one call); ``<= 0`` is adaptive.

    Returns:
        ``[K, C_out, PH, PW]`` in the dtype of ``features``; ``C_out = C / (PH * PW)`` for
        position-sensitive dialects (``channel_groups``), else ``C``.
    """
    channels, height, width = features.shape
    pooled_h, pooled_w = output_size
    k = boxes.shape[0]
    ratio = torch.as_tensor(sampling_ratio, dtype=torch.int64).expand(k)
    x1, y1, x2, y2 = axis_boxes(boxes.to(features.dtype), layout)
    cy, my, gy = sample_positions(y1, y2, height, pooled_h, spec, spatial_scale, units, ratio)
    cx, mx, gx = sample_positions(x1, x2, width, pooled_w, spec, spatial_scale, units, ratio)
    margin = 0.0 if spec.extrapolation else spec.margin
    wy, on_y = _axis_matrix(cy, my, height, margin, spec.extrapolate_below)  # [K, PH, Gy, H]
    wx, on_x = _axis_matrix(cx, mx, width, margin, spec.extrapolate_below)   # [K, PW, Gx, W]
    f = features.double()
    if spec.reduce == "avg":
        count_y = gy.double()[:, None]
        count_x = gx.double()[:, None]
        if spec.adaptive != "floor":   # the kernels divide by max(count, 1); MindSpore by count
            count_y, count_x = count_y.clamp(min=1), count_x.clamp(min=1)
        ay = wy.sum(2) / count_y[..., None]                                  # [K, PH, H]
        ax = wx.sum(2) / count_x[..., None]                                  # [K, PW, W]
        out = torch.einsum("kph,chw,kqw->kcpq", ay, f, ax)
        if spec.extrapolation:
            frac_y = on_y.double().sum(2) / count_y                          # [K, PH]
            frac_x = on_x.double().sum(2) / count_x
            out = out + extrapolation_value * (1 - frac_y[:, None, :, None] * frac_x[:, None, None, :])
    else:
        out = _max_reduce(spec.reduce, f, wy, wx, cy, cx, my, mx, height, width, spec.margin)
    if spec.channel_groups:
        out = _position_sensitive(out, pooled_h, pooled_w)
    return out.to(features.dtype)


def _max_reduce(reduce: str, f, wy, wx, cy, cx, my, mx, height: int, width: int, margin: float):
    """``max``, ``max_from_zero`` or ``corner_max`` over each bin's samples -> ``[K, C, PH, PW]``."""
    valid = my[:, None, :, :, None, None] & mx[:, None, None, None, :, :]    # [K, 1, PH, Gy, PW, Gx]
    if reduce == "corner_max":
        # Each corner term w_i * v_i is itself separable: one-entry weight rows on each side.
        rows = _corner_matrices(cy, my, height, margin)                       # 2 x [K, PH, Gy, H]
        cols = _corner_matrices(cx, mx, width, margin)
        terms = [torch.einsum("kpgh,chw,kqfw->kcpgqf", r, f, c) for r in rows for c in cols]
        samples = torch.stack(terms).amax(0)                                  # [K, C, PH, Gy, PW, Gx]
    else:
        samples = torch.einsum("kpgh,chw,kqfw->kcpgqf", wy, f, wx)
    best = samples.masked_fill(~valid, float("-inf")).amax(dim=(3, 5))       # [K, C, PH, PW]
    if reduce == "max_from_zero":
        return best.clamp(min=0)
    return torch.where(torch.isinf(best) & (best < 0), torch.zeros_like(best), best)


def _corner_matrices(coords: torch.Tensor, mask: torch.Tensor, size: int, margin: float):
    """The low and the high neighbour's weight, each as a dense ``[K, P, G, size]`` (float64)."""
    low, high, w_low, w_high = linear_weights(coords, size, margin)
    out = []
    for cell, weight in ((low, w_low), (high, w_high)):
        dense = torch.zeros(*coords.shape, size, dtype=torch.float64)
        dense.scatter_(-1, cell[..., None], (weight.double() * mask)[..., None])
        out.append(dense)
    return out


def _position_sensitive(out: torch.Tensor, pooled_h: int, pooled_w: int) -> torch.Tensor:
    """Bin ``(ph, pw)`` of output channel ``c`` reads input channel ``(c * PH + ph) * PW + pw``."""
    k, channels = out.shape[:2]
    groups = channels // (pooled_h * pooled_w)
    grouped = out[:, : groups * pooled_h * pooled_w].reshape(k, groups, pooled_h, pooled_w, pooled_h, pooled_w)
    ph = torch.arange(pooled_h)[:, None]
    pw = torch.arange(pooled_w)[None, :]
    return grouped[:, :, ph, pw, ph, pw]                                      # [K, groups, PH, PW]


def run_pooler(spec: Pooler, features: torch.Tensor, boxes: torch.Tensor, output_size: tuple[int, int],
               spatial_scale: float) -> torch.Tensor:
    """A pooling or integrating dialect on one image: ``[K, C_out, PH, PW]`` (``xyxy`` boxes)."""
    channels, height, width = features.shape
    pooled_h, pooled_w = output_size
    x1, y1, x2, y2 = axis_boxes(boxes.float(), "xyxy")
    scale = torch.tensor(spatial_scale, dtype=torch.float32)
    if spec.kind == "integral":
        f = features.double()
        wide = torch.float64
        sx, sy = x1.to(wide) * spatial_scale, y1.to(wide) * spatial_scale
        lx = (x2.to(wide) * spatial_scale - sx).clamp(min=0)
        ly = (y2.to(wide) * spatial_scale - sy).clamp(min=0)
        wy = bin_integrals(sy, ly, pooled_h, height, zero_padded=True)       # [K, PH, H]
        wx = bin_integrals(sx, lx, pooled_w, width, zero_padded=True)
        return torch.einsum("kph,chw,kqw->kcpq", wy, f, wx).to(features.dtype)
    if spec.kind == "max":   # RoI Pool is roiviz's own op (tested against ONNX MaxRoiPool)
        rois = torch.cat([torch.zeros_like(x1)[:, None], boxes.to(features.dtype)], 1)
        return roi_pool(features[None], rois, output_size, spatial_scale)
    if spec.kind == "ps_avg":
        start_x, len_x = snap_box(x1 * scale, x2 * scale, plus_one=False)
        start_y, len_y = snap_box(y1 * scale, y2 * scale, plus_one=False)
        # torchvision clips both ends to [0, H - 1], and the loop is h < hend: row H - 1 is
        # never read (tests/test_conventions.py::test_ps_roi_pool_never_reads_last_row).
        rows = pool_bins(start_y, len_y, pooled_h, height - 1, dtype=features.dtype)
        cols = pool_bins(start_x, len_x, pooled_w, width - 1, dtype=features.dtype)
    else:
        raise ValueError(f"unknown pooler kind {spec.kind!r}")
    return _mean_cells(features, rows, cols, pooled_h, pooled_w)


def _mean_cells(features: torch.Tensor, rows, cols, pooled_h: int, pooled_w: int) -> torch.Tensor:
    """Mean of each bin's cells (``rows``/``cols`` half-open ``[K, P]`` ranges), one group per bin."""
    channels, height, width = features.shape
    in_y = (torch.arange(height)[None, None, :] >= rows[0][..., None]) & (torch.arange(height) < rows[1][..., None])
    in_x = (torch.arange(width)[None, None, :] >= cols[0][..., None]) & (torch.arange(width) < cols[1][..., None])
    cells = in_y[:, :, None, :, None] & in_x[:, None, :, None, :]            # [K, PH, PW, H, W]
    empty = ~cells.flatten(-2).any(-1)                                        # [K, PH, PW]
    f = features.double()
    sums = torch.einsum("kph,chw,kqw->kcpq", in_y.double(), f, in_x.double())
    area = (in_y.sum(-1)[:, :, None] * in_x.sum(-1)[:, None, :]).double()     # [K, PH, PW]
    mean = torch.where(empty[:, None], torch.zeros_like(sums), sums / area.clamp(min=1)[:, None])
    return _position_sensitive(mean, pooled_h, pooled_w).to(features.dtype)
