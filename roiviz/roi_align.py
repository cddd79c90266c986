"""RoI Align (He et al., *Mask R-CNN*, ICCV 2017, Section 3): no quantization anywhere.

The box is mapped to the feature map with floats, cut into ``PH x PW`` equal bins, each bin is
sampled at a ``g x g`` grid of points, every point is read by bilinear interpolation of its four
neighbouring cells, and the samples of a bin are averaged (``avg``, what torchvision and
Detectron2 run) or their maximum is taken (``max``, also in the paper's Table 2c and in mmcv).
Numbers follow torchvision's ``csrc/ops/cpu/roi_align_kernel.cpp`` and ONNX Runtime's
``RoiAlign`` (opset 16): see :mod:`roiviz.geometry` for the frames and the ``aligned`` offset and
:mod:`roiviz.bilinear` for the interpolation rules.

ONNX's ``max`` mode differs: it takes the maximum of the four *weighted corner terms* of each
sample instead of the maximum of the interpolated values. roiviz follows the paper and mmcv.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import _checks
from ._separable import AxisEntries, separable_apply, separable_apply_with_grads, separable_slopes
from .box_grad import attach_box_grad, box_coords, boxes_require_grad, corner_grads
from .bilinear import linear_weights
from .geometry import (LIVE_SAMPLE_LIMIT, SAMPLE_BUDGET, align_mapping, check_box_cells, sample_coords,
                       sampling_grid)
from .records import (Bin, MethodTrace, Sample, Settings, check_trace_args, feature_rect, freeze,
                      region_areas)

#: The method's key and display name (collected by :mod:`roiviz.methods`).
KEY, LABEL = "roi_align", "RoI Align"

__all__ = ["roi_align", "trace_roi_align", "align_box_grad", "mapping_grads"]


def roi_align(input: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0,
              sampling_ratio: int = -1, aligned: bool = False, reduce: str = "avg") -> torch.Tensor:
    """Performs Region of Interest (RoI) Align, as in Mask R-CNN.

    A drop-in for ``torchvision.ops.roi_align`` (same arguments, same numbers), plus ``reduce``.

    Args:
        input (Tensor[N, C, H, W]): the feature maps, floating point.
        boxes (Tensor[K, 5] or List[Tensor[L, 4]]): ``(batch index, x1, y1, x2, y2)`` in image
            pixels, or one ``(x1, y1, x2, y2)`` tensor per image. ``x2 < x1`` is accepted as in
            torchvision: with ``aligned=False`` the box is widened to one cell; with
            ``aligned=True`` the bins have negative size, which gives zeros with adaptive
            sampling and mirrored samples with a fixed ``sampling_ratio``.
        output_size (int or Tuple[int, int]): ``(PH, PW)``, each >= 1.
        spatial_scale (float): ``1 / stride``, > 0. Default 1.
        sampling_ratio (int): samples per bin side; ``<= 0`` is adaptive,
            ``ceil(roi_size / output_size)`` per RoI and axis. Default -1.
        aligned (bool): shift the box by -0.5 cell so samples line up with pixel centres
            (Detectron2's fix). ``False`` is the legacy behaviour, which also raises a
            smaller-than-one-cell RoI to one cell. Default False, as torchvision.
        reduce (str): ``"avg"`` (default, torchvision's only mode) or ``"max"`` over a bin's
            samples.

    Returns:
        Tensor[K, C, PH, PW]: differentiable in ``input``; the backward scatters the bilinear
        weights (divided by the sample count for ``avg``; to the winning sample for ``max``).
        When ``boxes`` requires grad, the backward also fills ``boxes.grad`` (zero in the
        batch-index column): the piecewise derivative of the output in the box
        (:func:`mapping_grads`), equal to autograd through torchvision's differentiable Python
        ``_roi_align`` wherever that equals the C++ kernel (for a sample beyond -1 or H it
        reads the border cell instead of 0: a different value, and a non-zero gradient in the
        other axis's corners where the kernel has none).
        torchvision's compiled op gives no box gradient.

    Raises:
        TypeError, ValueError: for arguments of the wrong type, shape or range.
    """
    _checks.check_input(input)
    size = _checks.check_output_size(output_size)
    scale = _checks.check_spatial_scale(spatial_scale)
    ratio = _checks.check_sampling_ratio(sampling_ratio)
    _checks.check_reduce(reduce)
    batch_idx, coords = _checks.convert_boxes(boxes, input)
    check_box_cells(coords, scale)
    if reduce == "avg" and torch.is_grad_enabled() and (input.requires_grad or boxes_require_grad(boxes)):
        return _align_avg_with_grads(input, boxes, batch_idx, coords, size, scale, ratio, bool(aligned))
    out = align_boxes(input, batch_idx, coords, size, scale, ratio, bool(aligned), reduce)
    if not boxes_require_grad(boxes):
        return out
    return attach_box_grad(out, box_coords(boxes, input), lambda grad: align_box_grad(
        input, batch_idx, coords, size, scale, ratio, bool(aligned), reduce, grad))


def _align_avg_with_grads(input: torch.Tensor, boxes, batch_idx: torch.Tensor, coords: torch.Tensor,
                          output_size: tuple[int, int], spatial_scale: float, sampling_ratio: int,
                          aligned: bool) -> torch.Tensor:
    """:func:`roi_align` with ``avg`` (the same numbers as :func:`align_boxes`) when a gradient
    is wanted: the map's and, if ``boxes`` requires grad, the boxes' gradients come from one
    backward pass (:func:`~roiviz._separable.separable_apply_with_grads`; the box gradient is
    :func:`align_box_grad`'s)."""
    start_x, length_x = align_mapping(coords[:, 0], coords[:, 2], spatial_scale, aligned)
    start_y, length_y = align_mapping(coords[:, 1], coords[:, 3], spatial_scale, aligned)
    height, width = input.shape[-2:]
    with_boxes = boxes_require_grad(boxes)
    rows = _avg_axis(start_y, length_y, output_size[0], height, sampling_ratio, input.dtype, with_boxes)
    cols = _avg_axis(start_x, length_x, output_size[1], width, sampling_ratio, input.dtype, with_boxes)
    if not with_boxes:
        return separable_apply_with_grads(input, batch_idx, rows, cols)
    (rows, row_slopes), (cols, col_slopes) = rows, cols

    def box_grad(row_terms: torch.Tensor, col_terms: torch.Tensor) -> torch.Tensor:
        return _corner_grads(torch.cat((row_terms[:, :2], col_terms[:, :2]), 1), coords, spatial_scale,
                             aligned)

    return separable_apply_with_grads(input, batch_idx, rows, cols, box_coords(boxes, input), row_slopes,
                                      col_slopes, box_grad)


def align_boxes(input: torch.Tensor, batch_idx: torch.Tensor, coords: torch.Tensor,
                output_size: tuple[int, int], spatial_scale: float, sampling_ratio: int, aligned: bool,
                reduce: str = "avg", out: torch.Tensor | None = None,
                out_rows: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`roi_align` on checked arguments (shared with :class:`roiviz.fpn.MultiScaleRoIAlign`).

    Args:
        batch_idx: int64 ``[K]``; coords: ``[K, 4]`` ``(x1, y1, x2, y2)`` in image pixels, dtype
            of ``input`` (as :func:`roiviz._checks.convert_boxes` gives them).
        out, out_rows: see :func:`align_from_mapping`.

    Returns:
        Tensor[K, C, PH, PW], or ``out``.
    """
    start_x, length_x = align_mapping(coords[:, 0], coords[:, 2], spatial_scale, aligned)
    start_y, length_y = align_mapping(coords[:, 1], coords[:, 3], spatial_scale, aligned)
    return align_from_mapping(input, batch_idx, (start_y, length_y), (start_x, length_x),
                              output_size, sampling_ratio, reduce, out, out_rows)


def _axis_entries(coords: torch.Tensor, mask: torch.Tensor, size: int, count: torch.Tensor,
                  slopes=()) -> AxisEntries | tuple[AxisEntries, list[torch.Tensor]]:
    """Each bin's bilinear weights along one axis, summed over its samples and divided by ``count``.

    Sample ``g`` of bin ``p`` reads cells ``low`` and ``high = low + 1`` with weights ``w_low``
    and ``w_high`` (:func:`~roiviz.bilinear.linear_weights`). Listed as they are, that is ``2 G``
    entries per bin. Where the run of cells from the bin's first neighbour to its last is not
    longer, the weights are summed per cell on that run instead: samples closer than a cell share
    neighbours, so a small bin needs fewer entries. Worked number: samples at 1.3 and 2.1 on a map
    of width 5 read cells 1, 2 and 2, 3; merged, cells 1, 2, 3 with weights ``(0.7, 0.3 + 0.9,
    0.1) / count``, 3 entries instead of 4. A bin 10 cells wide with 2 samples keeps its 4.

    Args:
        coords: ``[K, P, G]`` sample coordinates (library frame); mask: bool ``[K, P, G]``,
            False on padding.
        size: the map's size along the axis.
        count: ``[K]`` (dtype of ``coords``), what each RoI's sums are divided by (its samples
            per bin side for ``avg``).
        slopes: ``[K, P, G]`` factors ``d coord / d theta`` (one per parameter ``theta``); for
            each, the entries' weights are differentiated: ``d w_high / d coord = 1 =
            -d w_low / d coord`` where the sample reads two cells (``0 <= coord < size - 1``),
            0 where it is clamped to a border cell or off the map.

    Returns:
        :class:`~roiviz._separable.AxisEntries` ``[K, P]`` of ``2 G`` entries at most; with
        ``slopes``, also the list of their ``d weights / d theta`` on the same entries.
    """
    low, high, w_low, w_high = linear_weights(coords, size)                   # [K, P, G] each
    counted = mask & ((w_low + w_high) > 0)                                   # on the map
    on = counted.to(coords.dtype)
    # Listed: (low_0, high_0, low_1, high_1, ...), padding samples last.
    listed = torch.stack((low, high), -1).flatten(-2)                         # [K, P, 2G]
    listed_weights = torch.stack((w_low * on, w_high * on), -1).flatten(-2)   # [K, P, 2G]
    # Merged on the run from the first neighbour to the last.
    first = torch.where(counted, low, size).amin(-1)                          # [K, P]
    run = (torch.where(counted, high, -1).amax(-1) - first + 1).clamp(min=0)
    first = first.clamp(max=size - 1)
    width = listed.shape[-1]
    slots = (listed - first[..., None]).clamp(0, width - 1)
    merged = (first[..., None] + torch.arange(width, device=coords.device)).clamp(max=size - 1)
    use_run = (run <= width)[..., None]                                       # [K, P, 1]

    def entry_weights(listed_w: torch.Tensor) -> torch.Tensor:
        merged_w = torch.zeros_like(listed_w).scatter_add_(-1, slots, listed_w)
        return torch.where(use_run, merged_w, listed_w) / count[:, None, None]

    cells = torch.where(use_run, merged, listed)
    listed_used = 2 * mask.sum(-1)                                            # [K, P]
    entries = AxisEntries(cells, entry_weights(listed_weights),
                          torch.where(use_run[..., 0], run, listed_used))
    if not slopes:
        return entries
    reads_two = (mask & (coords >= 0) & (coords < size - 1)).to(coords.dtype)
    derivatives = [entry_weights(torch.stack((-slope * reads_two, slope * reads_two), -1).flatten(-2))
                   for slope in slopes]
    return entries, derivatives


def _avg_axis(start: torch.Tensor, length: torch.Tensor, pooled: int, size: int, sampling_ratio: int,
              dtype, slopes: bool = False):
    """``avg`` RoI Align's weights along one axis (:func:`_axis_entries` of the bins' samples,
    divided by the samples per bin side); with ``slopes``, also their derivatives in the mapped
    box's ``(start, length)`` (a sample sits at ``start + length * fraction``).

    Args:
        start, length: ``[K]`` (library frame); pooled: bins; size: the map's size.

    Returns:
        :class:`~roiviz._separable.AxisEntries` ``[K, pooled]``; with ``slopes``,
        ``(entries, [d / d start, d / d length])``.
    """
    grid = sampling_grid(length, pooled, sampling_ratio)                      # [K]
    max_grid = max(int(grid.max()), 1) if grid.numel() else 1
    coords, mask = sample_coords(start, length, pooled, grid, max_grid)      # [K, P, G]
    count = grid.clamp(min=1).to(dtype)
    if not slopes:
        return _axis_entries(coords.to(dtype), mask, size, count)
    fraction = _sample_fractions(pooled, grid, max_grid, dtype).expand_as(coords)
    return _axis_entries(coords.to(dtype), mask, size, count, (torch.ones_like(fraction), fraction))


def align_from_mapping(input: torch.Tensor, batch_idx: torch.Tensor, mapping_y, mapping_x,
                       output_size: tuple[int, int], sampling_ratio: int, reduce: str,
                       out: torch.Tensor | None = None, out_rows: torch.Tensor | None = None) -> torch.Tensor:
    """RoI Align from an already mapped box (shared with RoI Warp and the FPN pooler).

    Args:
        mapping_y, mapping_x: ``(start, length)`` per axis, ``[K]`` each, library frame.
        out, out_rows: write RoI ``k`` into ``out[out_rows[k]]`` in place (``out`` ``[M, C, PH,
            PW]``, dtype of ``input``) instead of a new tensor; see
            :func:`~roiviz._separable.separable_apply`.

    Returns:
        Tensor[K, C, PH, PW], or ``out``.
    """
    (start_y, length_y), (start_x, length_x) = mapping_y, mapping_x
    pooled_h, pooled_w = output_size
    height, width = input.shape[-2:]
    k_total = batch_idx.numel()
    if reduce == "avg":
        # The mean of bilinear samples is separable: average each axis's weights over its grid.
        # Bins with no sample (grid <= 0) have all-zero weights and give 0, as in the kernels.
        rows = _avg_axis(start_y, length_y, pooled_h, height, sampling_ratio, input.dtype)
        cols = _avg_axis(start_x, length_x, pooled_w, width, sampling_ratio, input.dtype)
        return separable_apply(input, batch_idx, rows, cols, out, out_rows)   # [K, C, PH, PW]
    grid_y = sampling_grid(length_y, pooled_h, sampling_ratio)                # [K]
    grid_x = sampling_grid(length_x, pooled_w, sampling_ratio)
    max_gy = max(int(grid_y.max()), 1) if k_total else 1
    max_gx = max(int(grid_x.max()), 1) if k_total else 1
    cy, my = sample_coords(start_y, length_y, pooled_h, grid_y, max_gy)      # [K, PH, Gy]
    cx, mx = sample_coords(start_x, length_x, pooled_w, grid_x, max_gx)      # [K, PW, Gx]
    # max: every sample is a "bin" of its own (one sample, count 1), then the largest per bin.
    one = input.new_ones(k_total)
    rows = _axis_entries(cy.reshape(k_total, pooled_h * max_gy, 1).to(input.dtype),
                       my.reshape(k_total, pooled_h * max_gy, 1), height, one)
    cols = _axis_entries(cx.reshape(k_total, pooled_w * max_gx, 1).to(input.dtype),
                       mx.reshape(k_total, pooled_w * max_gx, 1), width, one)
    samples = separable_apply(input, batch_idx, rows, cols)                   # [K, C, PH*Gy, PW*Gx]
    channels = input.shape[1]
    samples = samples.reshape(k_total, channels, pooled_h, max_gy, pooled_w, max_gx)
    samples = samples.permute(0, 1, 2, 4, 3, 5).reshape(k_total, channels, pooled_h, pooled_w,
                                                        max_gy * max_gx)   # K may be 0
    valid = (my[:, :, None, :, None] & mx[:, None, :, None, :]).reshape(k_total, 1, pooled_h, pooled_w,
                                                                     max_gy * max_gx)
    best = samples.masked_fill(~valid, float("-inf")).max(dim=-1).values    # [K, C, PH, PW]
    best = torch.where(valid.any(-1), best, torch.zeros_like(best))
    if out is None:
        return best
    return out.index_copy_(0, out_rows, best)


# ----------------------------------------------------------------------------------------------
# Gradient with respect to the box


def _sample_fractions(pooled: int, grid: torch.Tensor, max_grid: int, dtype) -> torch.Tensor:
    """``d coord / d length`` of every sample: ``(p + (i + 0.5) / g) / pooled``, ``[K, P, G]``
    (a sample sits at ``start + length * fraction``; ``d coord / d start`` is 1)."""
    p = torch.arange(pooled, dtype=dtype, device=grid.device)
    i = torch.arange(max_grid, dtype=dtype, device=grid.device)
    g = grid.to(dtype).clamp(min=1)[:, None, None]
    return (p[:, None] + (i + 0.5) / g) / pooled


def mapping_grads(input: torch.Tensor, batch_idx: torch.Tensor, mapping_y, mapping_x,
                  output_size: tuple[int, int], sampling_ratio: int, reduce: str,
                  grad: torch.Tensor) -> torch.Tensor:
    """``dL / d(start_y, length_y, start_x, length_x)`` of :func:`align_from_mapping`.

    The samples move linearly with the mapped box (``start + length * fraction``) over the
    piecewise-bilinear interpolant, so the derivative is piecewise constant in the box: it jumps
    when a sample crosses a cell line, and the adaptive sample count (``ceil``) and the clamp at
    the border contribute nothing. With ``max`` the gradient follows each bin's winning sample
    (the first maximum, as the forward's backward).

    Args:
        mapping_y, mapping_x: ``(start, length)`` ``[K]`` each (library frame, detached).
        grad: ``dL / d out``, ``[K, C, PH, PW]``.

    Returns:
        ``[K, 4]`` in the dtype of ``input`` (float32 for half-precision maps).
    """
    (start_y, length_y), (start_x, length_x) = mapping_y, mapping_x
    pooled_h, pooled_w = output_size
    height, width = input.shape[-2:]
    k_total = batch_idx.numel()
    dtype = input.dtype
    if k_total == 0:
        return input.new_zeros((0, 4))
    if reduce == "avg":
        rows, (dy_start, dy_length) = _avg_axis(start_y, length_y, pooled_h, height, sampling_ratio, dtype, True)
        cols, (dx_start, dx_length) = _avg_axis(start_x, length_x, pooled_w, width, sampling_ratio, dtype, True)
        g = grad
    else:
        grid_y = sampling_grid(length_y, pooled_h, sampling_ratio)
        grid_x = sampling_grid(length_x, pooled_w, sampling_ratio)
        max_gy, max_gx = max(int(grid_y.max()), 1), max(int(grid_x.max()), 1)
        cy, my = sample_coords(start_y, length_y, pooled_h, grid_y, max_gy)      # [K, PH, Gy]
        cx, mx = sample_coords(start_x, length_x, pooled_w, grid_x, max_gx)      # [K, PW, Gx]
        ty = _sample_fractions(pooled_h, grid_y, max_gy, dtype).expand_as(cy)
        tx = _sample_fractions(pooled_w, grid_x, max_gx, dtype).expand_as(cx)
        one = input.new_ones(k_total)

        def per_sample(c, m, t, pooled, g_max, size):
            flat = (k_total, pooled * g_max, 1)
            return _axis_entries(c.reshape(flat).to(dtype), m.reshape(flat), size, one,
                                 (torch.ones(flat, dtype=dtype, device=c.device), t.reshape(flat)))

        rows, (dy_start, dy_length) = per_sample(cy, my, ty, pooled_h, max_gy, height)
        cols, (dx_start, dx_length) = per_sample(cx, mx, tx, pooled_w, max_gx, width)
        # Each bin's gradient goes to its first maximum (as torch.max's backward in the forward).
        channels = input.shape[1]
        with torch.no_grad():
            samples = separable_apply(input.detach(), batch_idx, rows, cols)
        samples = samples.reshape(k_total, channels, pooled_h, max_gy, pooled_w, max_gx)
        samples = samples.permute(0, 1, 2, 4, 3, 5).reshape(k_total, channels, pooled_h, pooled_w,
                                                            max_gy * max_gx)
        valid = (my[:, :, None, :, None] & mx[:, None, :, None, :]).reshape(
            k_total, 1, pooled_h, pooled_w, max_gy * max_gx)
        winner = samples.masked_fill(~valid, float("-inf")).max(dim=-1).indices
        spread = torch.zeros_like(samples).scatter_(
            -1, winner[..., None], (grad * valid.any(-1)).to(samples.dtype)[..., None])
        g = spread.reshape(k_total, channels, pooled_h, pooled_w, max_gy, max_gx).permute(
            0, 1, 2, 4, 3, 5).reshape(k_total, channels, pooled_h * max_gy, pooled_w * max_gx)
    row_terms, col_terms = separable_slopes(input, batch_idx, g, rows, cols,
                                            (dy_start, dy_length), (dx_start, dx_length))
    return torch.stack((row_terms[:, 0], row_terms[:, 1], col_terms[:, 0], col_terms[:, 1]), 1)


def align_box_grad(input: torch.Tensor, batch_idx: torch.Tensor, coords: torch.Tensor,
                   output_size: tuple[int, int], spatial_scale: float, sampling_ratio: int,
                   aligned: bool, reduce: str, grad: torch.Tensor) -> torch.Tensor:
    """``dL / d(x1, y1, x2, y2)`` of :func:`align_boxes`, ``[K, 4]`` (see :func:`mapping_grads`).

    With ``aligned=False`` a box thinner than one cell is widened to one cell: its length no
    longer depends on the corners there (as ``torch.clamp`` in torchvision's ``_roi_align``).
    """
    start_x, length_x = align_mapping(coords[:, 0], coords[:, 2], spatial_scale, aligned)
    start_y, length_y = align_mapping(coords[:, 1], coords[:, 3], spatial_scale, aligned)
    d = mapping_grads(input, batch_idx, (start_y, length_y), (start_x, length_x), output_size,
                      sampling_ratio, reduce, grad)
    return _corner_grads(d, coords, spatial_scale, aligned)


def _corner_grads(d: torch.Tensor, coords: torch.Tensor, spatial_scale: float, aligned: bool) -> torch.Tensor:
    """``dL / d(x1, y1, x2, y2)`` ``[K, 4]`` from ``d = dL / d(start_y, length_y, start_x,
    length_x)`` ``[K, 4]`` (:func:`~roiviz.box_grad.corner_grads`, with RoI Align's one-cell
    minimum when not ``aligned``); coords: ``[K, 4]`` detached."""
    if aligned:
        return corner_grads(d, spatial_scale)
    return corner_grads(d, spatial_scale, free_y=(coords[:, 3] - coords[:, 1]) * spatial_scale >= 1,
                        free_x=(coords[:, 2] - coords[:, 0]) * spatial_scale >= 1)


# ----------------------------------------------------------------------------------------------
# Teaching trace


def trace_roi_align(feature: np.ndarray, box, settings: Settings = Settings(), *,
                    record_samples: bool = True) -> MethodTrace:
    """Trace RoI Align on one 2-D map: bins, samples, neighbours, weights, output.

    Args:
        feature: ``[H, W]`` real values (one channel).
        box: ``(x1, y1, x2, y2)`` in image pixels, corners in any order, positive size.
        settings: uses ``output_size``, ``stride``, ``sampling_ratio``, ``aligned``, ``reduce``.
        record_samples: ``False``: no per-sample records (see :func:`align_trace_from_mapping`).

    Returns:
        A :class:`~roiviz.records.MethodTrace` whose ``output`` equals :func:`roi_align`'s.

    Raises:
        ValueError: bad arguments, or more than ``SAMPLE_BUDGET`` samples to record
            (``LIVE_SAMPLE_LIMIT`` to compute with ``record_samples=False``).
    """
    values, image_box = check_trace_args(feature, box, settings)
    x1, y1, x2, y2 = (np.asarray(v, dtype=np.float32) for v in image_box)
    scale = np.float32(settings.spatial_scale)
    mapping_x = align_mapping(x1, x2, scale, settings.aligned)
    mapping_y = align_mapping(y1, y2, scale, settings.aligned)
    notes = () if settings.aligned else (
        "aligned=False: the sampling grid is shifted half a cell right and down from the RoI "
        "(the legacy mapping), and a RoI thinner than one cell is widened to one cell.",)
    # The sampled box in the drawing frame, computed in float64 so that it coincides exactly
    # with the RoI when aligned=True (the float32 mapping above is what the kernels sample).
    roi = feature_rect(image_box, settings.stride)
    shift = 0.0 if settings.aligned else 0.5
    width, height = roi[2] - roi[0], roi[3] - roi[1]
    if not settings.aligned:
        width, height = max(width, 1.0), max(height, 1.0)
    sampled_box = (roi[0] + shift, roi[1] + shift, roi[0] + shift + width, roi[1] + shift + height)
    return align_trace_from_mapping(KEY, LABEL, values, image_box, settings, mapping_y,
                                    mapping_x, sampled_box=sampled_box, snapped_box=None, notes=notes,
                                    record_samples=record_samples)


def bin_samples(values: np.ndarray, y: np.ndarray, x: np.ndarray) -> tuple[Sample, ...]:
    """The bilinear samples at every ``(y[i], x[j])``, row by row, as the kernels read them.

    Args:
        values: float32 ``[H, W]``.
        y, x: sample coordinates in the library frame, float32 ``[Gy]`` and ``[Gx]`` (one
            bin's rows and columns, or a subset of them).

    Returns:
        ``Gy * Gx`` :class:`~roiviz.records.Sample` records: position in the drawing frame,
        four neighbours ``(row, col)``, their weights (:func:`~roiviz.bilinear.linear_weights`)
        and the interpolated value.
    """
    height, width = values.shape
    ylo, yhi, wyl, wyh = linear_weights(y, height)
    xlo, xhi, wxl, wxh = linear_weights(x, width)
    samples = []
    for iy in range(len(y)):
        for ix in range(len(x)):
            rows, cols = (int(ylo[iy]), int(yhi[iy])), (int(xlo[ix]), int(xhi[ix]))
            weights = (wyl[iy] * wxl[ix], wyl[iy] * wxh[ix], wyh[iy] * wxl[ix], wyh[iy] * wxh[ix])
            cells = ((rows[0], cols[0]), (rows[0], cols[1]), (rows[1], cols[0]), (rows[1], cols[1]))
            value = sum(w * values[c] for w, c in zip(weights, cells))
            samples.append(Sample(
                x=float(x[ix]) + 0.5, y=float(y[iy]) + 0.5, neighbours=cells,
                weights=tuple(float(w) for w in weights), value=float(value),
                on_map=bool(sum(weights) > 0)))
    return tuple(samples)


def _bin_values(values: np.ndarray, y: np.ndarray, x: np.ndarray, reduce: str) -> np.ndarray:
    """Every bin's value from its samples without recording them: the float32 arithmetic of
    :func:`bin_samples` and of the trace's reduction, in the same order, for all bins at once.

    Args:
        values: float32 ``[H, W]``.
        y, x: sample coordinates, float32 ``[PH, Gy]`` and ``[PW, Gx]``, library frame.
        reduce: ``"avg"`` or ``"max"``.

    Returns:
        float32 ``[PH, PW]`` (0 for a bin without samples).
    """
    (pooled_h, gy), (pooled_w, gx) = y.shape, x.shape
    if gy * gx == 0:
        return np.zeros((pooled_h, pooled_w), dtype=np.float32)
    height, width = values.shape
    ylo, yhi, wyl, wyh = (a[:, :, None, None] for a in linear_weights(y, height))   # [PH, Gy, 1, 1]
    xlo, xhi, wxl, wxh = (a[None, None] for a in linear_weights(x, width))         # [1, 1, PW, Gx]
    # One sample's value: its four weighted neighbours added left to right, as bin_samples does.
    sample = (wyl * wxl) * values[ylo, xlo]
    sample = sample + (wyl * wxh) * values[ylo, xhi]
    sample = sample + (wyh * wxl) * values[yhi, xlo]
    sample = sample + (wyh * wxh) * values[yhi, xhi]                                # [PH, Gy, PW, Gx]
    sample = sample.transpose(0, 2, 1, 3).reshape(pooled_h, pooled_w, gy * gx)     # row by row
    if reduce != "avg":
        return sample.max(axis=2).astype(np.float32)
    total = np.zeros((pooled_h, pooled_w), dtype=np.float32)
    for i in range(gy * gx):     # one sample after another, as the trace adds them (not pairwise)
        total = total + sample[:, :, i]
    return total / np.float32(gy * gx)


def align_trace_from_mapping(method: str, label: str, values: np.ndarray, image_box, settings: Settings,
                             mapping_y, mapping_x, sampled_box, snapped_box, notes=(),
                             record_samples: bool = True) -> MethodTrace:
    """Trace of RoI Align from a mapped box (shared with RoI Warp).

    Args:
        values: float32 ``[H, W]``.
        mapping_y, mapping_x: ``(start, length)`` float32 scalars, library frame.
        sampled_box: the same box in the drawing frame (exact, for drawing and areas).
        record_samples: ``False`` leaves every bin's ``samples`` and ``cell_weights`` empty and
            its ``winner`` ``None`` (a page that needs only the numbers, boxes and areas); the
            output is the same, bit for bit (:func:`_bin_values`).
    """
    (start_y, length_y), (start_x, length_x) = mapping_y, mapping_x
    pooled_h, pooled_w = settings.output_size
    height, width = values.shape
    grid_y = sampling_grid(length_y, pooled_h, settings.sampling_ratio)
    grid_x = sampling_grid(length_x, pooled_w, settings.sampling_ratio)
    gy, gx = max(int(grid_y), 0), max(int(grid_x), 0)
    # Recording a sample costs far more than computing it: the two paths have their own bound.
    limit, verb = (SAMPLE_BUDGET, "draw") if record_samples else (LIVE_SAMPLE_LIMIT, "compute")
    if pooled_h * pooled_w * gy * gx > limit:
        raise ValueError(f"{pooled_h * pooled_w * gy * gx} samples are too many to {verb} (at most "
                         f"{limit}): choose a smaller sampling_ratio than {gy}")
    cy, _ = sample_coords(start_y, length_y, pooled_h, grid_y, max(gy, 1))   # [PH, Gy]
    cx, _ = sample_coords(start_x, length_x, pooled_w, grid_x, max(gx, 1))   # [PW, Gx]
    count = max(gy * gx, 1)
    bin_h, bin_w = float(length_y) / pooled_h, float(length_x) / pooled_w
    # Drawing frame = library frame + 0.5 (a cell's value sits at its centre).
    left, top = float(start_x) + 0.5, float(start_y) + 0.5
    bins, output = [], np.zeros((pooled_h, pooled_w), dtype=np.float32)
    if not record_samples:
        output = _bin_values(values, cy[:, :gy], cx[:, :gx], settings.reduce)
        bins = [Bin(row=ph, col=pw,
                    rect=(left + pw * bin_w, top + ph * bin_h, left + (pw + 1) * bin_w, top + (ph + 1) * bin_h),
                    value=float(output[ph, pw]), samples=(), winner=None, cell_weights=())
                for ph in range(pooled_h) for pw in range(pooled_w)]
    for ph in range(pooled_h if record_samples else 0):
        for pw in range(pooled_w):
            samples = bin_samples(values, cy[ph, :gy], cx[pw, :gx])
            winner = None
            if not samples:
                value = 0.0
            elif settings.reduce == "avg":
                value = np.float32(sum(np.float32(s.value) for s in samples)) / np.float32(count)
            else:
                winner = int(np.argmax([s.value for s in samples]))
                value = samples[winner].value
            output[ph, pw] = value
            bins.append(Bin(
                row=ph, col=pw,
                rect=(left + pw * bin_w, top + ph * bin_h, left + (pw + 1) * bin_w, top + (ph + 1) * bin_h),
                value=float(output[ph, pw]), samples=tuple(samples), winner=winner,
                cell_weights=_sample_cell_weights(samples, count, winner, settings.reduce)))
    roi = feature_rect(image_box, settings.stride)
    return MethodTrace(
        method=method, label=label, settings=settings, image_box=image_box, roi=roi, snapped_box=snapped_box,
        sampled_box=sampled_box, read_region=sampled_box, grid=(gy, gx), bins=tuple(bins),
        output=freeze(output), map_shape=(height, width),
        areas=region_areas(roi, sampled_box, (height, width), settings.stride), notes=tuple(notes))


def _sample_cell_weights(samples, count: int, winner, reduce: str):
    """``d(bin value) / d(cell)``: the samples' weights over the count, or the winner's."""
    chosen = samples if reduce == "avg" else ([samples[winner]] if winner is not None else [])
    scale = 1.0 / count if reduce == "avg" else 1.0
    total: dict = {}
    for s in chosen:
        for cell, w in zip(s.neighbours, s.weights):
            if w:
                total[cell] = total.get(cell, 0.0) + w * scale
    return tuple(sorted(total.items()))


# ---------------------------------------------------------------------------------------------
# Readable reference


def roi_align_reference(feature: np.ndarray, box, output_size: tuple[int, int],
                        spatial_scale: float = 1.0, sampling_ratio: int = -1, aligned: bool = True,
                        reduce: str = "avg") -> np.ndarray:
    """RoI Align of one box on one map as a plain loop: each bin's samples, weights and mean.

    It follows torchvision's ``roi_align_kernel.cpp`` (``pre_calc`` and
    ``bilinear_interpolate``) in float32 like the kernel; ``reduce="max"`` keeps the largest
    sample. ``tests/test_roi_align.py`` checks it against the batched :func:`roi_align`.

    Args:
        feature: ``[H, W]`` real values.
        box: ``(x1, y1, x2, y2)`` in image pixels.
        output_size: ``(PH, PW)`` bins.
        spatial_scale: feature cells per image pixel (``1 / stride``).
        sampling_ratio: samples per bin side; ``<= 0``: ``ceil(bin size)`` (adaptive).
        aligned: shift the box by half a cell, so that cell ``j``'s value sits at ``j + 0.5``.
        reduce: ``"avg"`` or ``"max"`` over a bin's samples.

    Returns:
        float32 ``[PH, PW]``.
    """
    f32 = np.float32
    height, width = feature.shape
    pooled_h, pooled_w = output_size
    offset = f32(0.5) if aligned else f32(0.0)
    x1, y1, x2, y2 = (f32(v) * f32(spatial_scale) - offset for v in box)  # cells, no rounding
    roi_w, roi_h = f32(x2 - x1), f32(y2 - y1)
    if not aligned:                                     # the legacy mapping: at least one cell
        roi_w, roi_h = max(roi_w, f32(1)), max(roi_h, f32(1))
    bin_h, bin_w = f32(roi_h / f32(pooled_h)), f32(roi_w / f32(pooled_w))
    grid_h = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_h / f32(pooled_h))
    grid_w = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_w / f32(pooled_w))

    def bilinear(y: float, x: float) -> float:
        """The map at a point: the four nearest cells, weighted by closeness (0 off the map)."""
        if y < -1.0 or y > height or x < -1.0 or x > width:
            return 0.0
        y, x = min(max(y, f32(0)), f32(height - 1)), min(max(x, f32(0)), f32(width - 1))
        r, c = min(int(y), height - 1), min(int(x), width - 1)     # top-left neighbour
        r2, c2 = min(r + 1, height - 1), min(c + 1, width - 1)
        ly, lx = f32(y - f32(r)), f32(x - f32(c))                   # how far past it
        return ((1 - ly) * (1 - lx) * feature[r, c] + (1 - ly) * lx * feature[r, c2]
                + ly * (1 - lx) * feature[r2, c] + ly * lx * feature[r2, c2])

    out = np.zeros((pooled_h, pooled_w), np.float32)
    for ph in range(pooled_h):
        for pw in range(pooled_w):
            samples = [                         # a grid_h x grid_w grid of points in the bin
                bilinear(f32(y1 + f32(ph) * bin_h + f32(iy + 0.5) * bin_h / f32(grid_h)),
                         f32(x1 + f32(pw) * bin_w + f32(ix + 0.5) * bin_w / f32(grid_w)))
                for iy in range(grid_h) for ix in range(grid_w)]
            if reduce == "avg":                 # the mean (an empty bin gives 0)
                out[ph, pw] = sum(samples, f32(0)) / f32(max(grid_h * grid_w, 1))
            else:                               # the largest sample
                out[ph, pw] = max(samples, default=0.0)
    return out
