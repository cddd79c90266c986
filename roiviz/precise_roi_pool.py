"""Precise RoI Pooling (Jiang et al., *Acquisition of Localization Confidence for Accurate
Object Detection*, ECCV 2018, the IoU-Net paper, its section "Precise RoI Pooling"): the exact
average of the interpolant over each bin.

Each bin's value is the integral, over the bin, of the same bilinear interpolant RoI Align
samples (:mod:`roiviz.bilinear`), divided by the bin's area: no quantization and no sampling
count. It is the limit of RoI Align (``aligned=True``, ``avg``) as ``sampling_ratio`` grows
(``tests/test_precise_roi_pool.py``). The integral is separable, so every bin is
``Iy @ F @ Ix^T / area`` with ``Iy[j] = integral of row j's 1-D weight over the bin's height``.

The authors' implementation (PreciseRoIPooling) places cell values at integer coordinates (no
half-cell shift, like ``aligned=False`` but without its size clamp) and treats the plane outside
the map as zero; roiviz uses the ``aligned=True`` frame and the kernels' border rules by
default, so that it is exactly the limit of the RoI Align it is compared with, and offers the
authors' frame as ``precise_roi_pool(..., convention="authors")``.

Box gradient: by the Leibniz rule, moving a bin's edge changes its average by the interpolant's
mean along that edge minus the bin's mean, over the bin's length (:func:`bin_slopes`); the
authors' ``PrRoIPoolingCoorBackward`` computes the same, edge integrals included.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import _checks
from ._separable import entries_from_dense, separable_apply_with_grads
from .bilinear import hat_integral, hat_weights, interpolant_integral, interpolant_weights
from .box_grad import box_coords, boxes_require_grad, corner_grads
from .geometry import align_mapping, check_box_cells
from .records import Bin, MethodTrace, Settings, check_trace_args, feature_rect, freeze, region_areas

#: The method's key and display name (collected by :mod:`roiviz.methods`).
KEY, LABEL = "precise_roi_pool", "Precise RoI Pooling"

__all__ = ["precise_roi_pool", "trace_precise_roi_pool", "bin_integrals", "bin_slopes", "PRROI_CONVENTIONS"]


def bin_integrals(start, length, pooled: int, size: int, zero_padded: bool = False):
    """Each bin's integral weights along one axis, divided by the bin's length.

    Args:
        start, length: ``[...]`` mapped box (library frame, ``aligned=True``).
        zero_padded: see :func:`~roiviz.bilinear.interpolant_integral`.

    Returns:
        ``[..., pooled, size]``: row ``p`` is the average over bin ``p`` of each cell's 1-D
        weight; all zeros for a bin of length <= 0.
    """
    if isinstance(start, torch.Tensor):
        p = torch.arange(pooled, dtype=start.dtype, device=start.device)
    else:
        p = np.arange(pooled, dtype=start.dtype)
    bin_size = (length / pooled)[..., None]
    lo = start[..., None] + p * bin_size
    integrals = interpolant_integral(lo, lo + bin_size, size, zero_padded)               # [..., P, size]
    safe = bin_size if isinstance(bin_size, torch.Tensor) else np.asarray(bin_size)
    positive = safe > 0
    denom = torch.where(positive, safe, torch.ones_like(safe)) if isinstance(safe, torch.Tensor) \
        else np.where(positive, safe, 1.0)
    return integrals * (positive / denom)[..., None]


#: Where Precise RoI Pooling puts the cells: ``"aligned"`` (roiviz's default: RoI Align's
#: ``aligned=True`` frame and border rules) or ``"authors"`` (PreciseRoIPooling and mmcv's
#: ``PrRoIPool``: cell ``j`` at coordinate ``j``, zero off the map).
PRROI_CONVENTIONS = ("aligned", "authors")


def _mapping(coords: torch.Tensor, spatial_scale: float, convention: str):
    """``((start_y, length_y), (start_x, length_x))`` ``[K]`` each, float64.

    ``authors``: ``start = x1 * s``, ``length = max(x2 * s - x1 * s, 0)`` (the kernels' ``roi_start_w``
    and ``roi_width``); ``aligned``: :func:`~roiviz.geometry.align_mapping` with ``aligned=True``.
    """
    wide = coords.to(torch.float64)
    if convention == "authors":
        starts = wide * spatial_scale
        length_x = (starts[:, 2] - starts[:, 0]).clamp(min=0.0)
        length_y = (starts[:, 3] - starts[:, 1]).clamp(min=0.0)
        return (starts[:, 1], length_y), (starts[:, 0], length_x)
    # The kernels' float32 mapping, then widened (the forward's numbers since roiviz 1).
    start_x, length_x = align_mapping(coords[:, 0], coords[:, 2], spatial_scale, True)
    start_y, length_y = align_mapping(coords[:, 1], coords[:, 3], spatial_scale, True)
    return (start_y.to(torch.float64), length_y.to(torch.float64)), \
        (start_x.to(torch.float64), length_x.to(torch.float64))


def bin_slopes(start: torch.Tensor, length: torch.Tensor, pooled: int, size: int, convention: str):
    """Each bin's average weights along one axis and their derivatives (the Leibniz rule).

    A bin ``[lo, hi]`` with ``lo = start + p * length / P`` and ``b = hi - lo`` averages cell
    ``j``'s weight: ``A_j = integral(w_j, lo, hi) / b``. Then ``dA_j / d lo = (A_j - w_j(lo)) / b``
    and ``dA_j / d hi = (w_j(hi) - A_j) / b``: the interpolant's values on the bin's edges, which
    move continuously with the box. Chained through ``lo`` and ``hi``::

        dA / d start  = (w(hi) - w(lo)) / b
        dA / d length = ((p + 1) w(hi) - p w(lo) - A) / (P b)

    Args:
        start, length: ``[K]`` float64 (see :func:`_mapping`).

    Returns:
        ``(A, dA/dstart, dA/dlength)``, ``[K, P, size]`` each; all zero for a bin with ``b <= 0``.
    """
    p = torch.arange(pooled, dtype=start.dtype, device=start.device)
    bin_size = (length / pooled)[:, None]                                      # [K, 1]
    lo = start[:, None] + p * bin_size                                         # [K, P]
    hi = lo + bin_size
    positive = bin_size > 0
    safe = torch.where(positive, bin_size, torch.ones_like(bin_size))
    if convention == "authors":
        integral, w_lo, w_hi = hat_integral(lo, hi, size), hat_weights(lo, size), hat_weights(hi, size)
    else:
        integral = interpolant_integral(lo, hi, size)
        w_lo, w_hi = interpolant_weights(lo, size), interpolant_weights(hi, size)
    average = integral * (positive / safe)[..., None]        # as bin_integrals, bit for bit
    keep = positive[..., None].to(start.dtype)
    d_start = (w_hi - w_lo) / safe[..., None]
    d_length = ((p + 1)[:, None] * w_hi - p[:, None] * w_lo - average) / (pooled * safe[..., None])
    return average, d_start * keep, d_length * keep


def precise_roi_pool(input: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0, *,
                     convention: str = "aligned") -> torch.Tensor:
    """Performs Precise RoI Pooling: the exact mean of the bilinear interpolant over each bin.

    Args:
        input (Tensor[N, C, H, W]): the feature maps, floating point.
        boxes (Tensor[K, 5] or List[Tensor[L, 4]]): ``(batch index, x1, y1, x2, y2)`` in image
            pixels, or one ``(x1, y1, x2, y2)`` tensor per image. A box with ``x2 <= x1`` or
            ``y2 <= y1`` has empty bins and gives zeros.
        output_size (int or Tuple[int, int]): ``(PH, PW)``, each >= 1.
        spatial_scale (float): ``1 / stride``, > 0. Default 1.
        convention (str): ``"aligned"`` (default): cell values at cell centres and RoI Align's
            border rules, so that it is the limit of ``roi_align(aligned=True)``. ``"authors"``:
            PreciseRoIPooling's (and mmcv ``PrRoIPool``'s) frame, cell ``j`` at coordinate
            ``j`` and zero off the map; numbers and gradients then equal the authors' kernels.

    Returns:
        Tensor[K, C, PH, PW], differentiable in ``input`` (each cell receives its integrated
        bilinear weight over the bin's area) and, when ``boxes`` requires grad, in the boxes:
        the exact derivative of the integral (:func:`bin_slopes`), continuous in the box while
        the box stays on the map; ``boxes.grad`` is zero in the batch-index column.

    Raises:
        TypeError, ValueError: for arguments of the wrong type, shape or range.
    """
    _checks.check_input(input)
    size = _checks.check_output_size(output_size)
    scale = _checks.check_spatial_scale(spatial_scale)
    if convention not in PRROI_CONVENTIONS:
        raise ValueError(f"convention must be one of {PRROI_CONVENTIONS}, got {convention!r}")
    batch_idx, coords = _checks.convert_boxes(boxes, input)
    check_box_cells(coords, scale)
    height, width = input.shape[-2:]
    (start_y, length_y), (start_x, length_x) = _mapping(coords, scale, convention)
    # The integrals are differences of nearby values divided by the bin's length: in float32
    # a bin 0.01 cell wide would lose 3 digits, so they are computed in float64.
    if convention == "aligned" and not boxes_require_grad(boxes):
        wy = bin_integrals(start_y, length_y, size[0], height)               # [K, PH, H]
        wx = bin_integrals(start_x, length_x, size[1], width)                # [K, PW, W]
        # Differentiable in the map (one backward pass, roiviz._separable.separable_backward).
        return separable_apply_with_grads(input, batch_idx, entries_from_dense(wy.to(input.dtype)),
                                          entries_from_dense(wx.to(input.dtype)))
    ay, sy, ly = bin_slopes(start_y, length_y, size[0], height, convention)
    ax, sx, lx = bin_slopes(start_x, length_x, size[1], width, convention)
    rows, row_slopes = entries_from_dense(*(t.to(input.dtype) for t in (ay, sy, ly)))
    cols, col_slopes = entries_from_dense(*(t.to(input.dtype) for t in (ax, sx, lx)))

    def box_grad(row_terms: torch.Tensor, col_terms: torch.Tensor) -> torch.Tensor:
        return corner_grads(torch.cat((row_terms[:, :2], col_terms[:, :2]), 1), scale)

    # The map's gradient and the boxes' come from one backward pass.
    coords_graph = box_coords(boxes, input) if boxes_require_grad(boxes) else None
    return separable_apply_with_grads(input, batch_idx, rows, cols, coords_graph, row_slopes, col_slopes,
                                      box_grad)


def trace_precise_roi_pool(feature: np.ndarray, box, settings: Settings = Settings()) -> MethodTrace:
    """Trace Precise RoI Pooling on one 2-D map: bins, each cell's share of each bin, output.

    Args:
        feature: ``[H, W]`` real values (one channel).
        box: ``(x1, y1, x2, y2)`` in image pixels, corners in any order, positive size.
        settings: uses ``output_size`` and ``stride``.

    Returns:
        A :class:`~roiviz.records.MethodTrace` whose ``output`` equals :func:`precise_roi_pool`'s;
        each bin's ``cell_weights`` are the cells' integrated weights (they sum to 1 for a bin
        inside the map).
    """
    values, image_box = check_trace_args(feature, box, settings)
    height, width = values.shape
    x1, y1, x2, y2 = (np.asarray(v, dtype=np.float64) for v in np.float32(image_box))
    scale = float(np.float32(settings.spatial_scale))
    start_x, length_x = align_mapping(x1, x2, scale, True)
    start_y, length_y = align_mapping(y1, y2, scale, True)
    pooled_h, pooled_w = settings.output_size
    wy = bin_integrals(start_y, length_y, pooled_h, height)                # [PH, H]
    wx = bin_integrals(start_x, length_x, pooled_w, width)                 # [PW, W]
    output = wy @ values.astype(np.float64) @ wx.T                         # [PH, PW]
    bin_h, bin_w = float(length_y) / pooled_h, float(length_x) / pooled_w
    left, top = float(start_x) + 0.5, float(start_y) + 0.5
    bins = []
    for ph in range(pooled_h):
        for pw in range(pooled_w):
            share = np.outer(wy[ph], wx[pw])
            cells = tuple(((int(r), int(c)), float(share[r, c])) for r, c in zip(*np.nonzero(share)))
            bins.append(Bin(row=ph, col=pw, value=float(np.float32(output[ph, pw])),
                            rect=(left + pw * bin_w, top + ph * bin_h,
                                  left + (pw + 1) * bin_w, top + (ph + 1) * bin_h),
                            cell_weights=cells))
    roi = feature_rect(image_box, settings.stride)
    sampled = roi  # aligned=True: the sampled box is the RoI itself
    notes = ("Each bin is the exact average of the bilinear interpolant over its area (no "
             "sampling points). The authors' code puts cell values at integer coordinates "
             "(no half-cell shift) and treats the plane outside the map as zero; roiviz uses the "
             "aligned=True frame so that it is the limit of RoI Align.",)
    return MethodTrace(
        method=KEY, label=LABEL, settings=settings, image_box=image_box, roi=roi,
        snapped_box=None, sampled_box=sampled, read_region=sampled, grid=(0, 0), bins=tuple(bins),
        output=freeze(output), map_shape=(height, width),
        areas=region_areas(roi, sampled, (height, width), settings.stride), notes=notes)


# ---------------------------------------------------------------------------------------------
# Readable reference


def precise_roi_pool_reference(feature: np.ndarray, box, output_size: tuple[int, int],
                               spatial_scale: float = 1.0) -> np.ndarray:
    """Precise RoI Pooling of one box on one map as a plain loop: each bin's exact average.

    The map is read as RoI Align reads it (bilinear interpolation of the cells, the edge cell's
    value up to one cell from its centre, i.e. half a cell past the map's border, zero beyond);
    each bin's output is the integral of that surface over the bin divided by
    the bin's area, with no sampling points. ``tests/test_precise_roi_pool.py`` checks it
    against the batched :func:`precise_roi_pool`.

    Args:
        feature: ``[H, W]`` real values.
        box: ``(x1, y1, x2, y2)`` in image pixels.
        output_size: ``(PH, PW)`` bins.
        spatial_scale: feature cells per image pixel (``1 / stride``).

    Returns:
        float64 ``[PH, PW]``.
    """
    height, width = feature.shape
    pooled_h, pooled_w = output_size
    scale = float(np.float32(spatial_scale))
    # The box in cells, half a cell shifted so that cell j's value sits at j (aligned=True).
    x1, y1, x2, y2 = (float(np.float32(v)) * scale - 0.5 for v in box)
    bin_h, bin_w = (y2 - y1) / pooled_h, (x2 - x1) / pooled_w
    out = np.zeros((pooled_h, pooled_w))
    if bin_h <= 0 or bin_w <= 0:                        # an empty box outputs 0
        return out

    def weights(t: float, size: int) -> dict[int, float]:
        """Each cell's share of the interpolated value at ``t`` along one axis."""
        if t < -1.0 or t > size:                        # over a cell from the edge cell's centre: 0
            return {}
        t = min(max(t, 0.0), size - 1.0)                # the border cells extend half a cell
        j = int(t)
        return {j: 1.0} if j == size - 1 else {j: 1.0 - (t - j), j + 1: t - j}

    def integrals(lo: float, hi: float, size: int) -> np.ndarray:
        """Each cell's weight integrated over ``[lo, hi]``: linear between whole cells, so the
        midpoint rule is exact on each piece."""
        cuts = [lo, *range(math.floor(lo) + 1, math.ceil(hi)), hi]
        total = np.zeros(size)
        for a, b in zip(cuts, cuts[1:]):
            for j, w in weights((a + b) / 2, size).items():
                total[j] += w * (b - a)
        return total

    for ph in range(pooled_h):
        rows = integrals(y1 + ph * bin_h, y1 + (ph + 1) * bin_h, height)          # [H]
        for pw in range(pooled_w):
            cols = integrals(x1 + pw * bin_w, x1 + (pw + 1) * bin_w, width)      # [W]
            out[ph, pw] = rows @ feature.astype(np.float64) @ cols / (bin_h * bin_w)
    return out
