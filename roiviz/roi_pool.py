"""RoI Pool (Girshick, *Fast R-CNN*, ICCV 2015, Section 2.1): two quantizations, then max.

1. The box is snapped to whole cells (:func:`roiviz.geometry.snap_box`).
2. The snapped region is cut into ``PH x PW`` bins of whole cells
   (:func:`roiviz.geometry.pool_bins`).
3. Each bin gives the maximum of its cells (0 if it has none); the gradient goes to that cell.

Numbers follow torchvision's ``csrc/ops/cpu/roi_pool_kernel.cpp`` and ONNX ``MaxRoiPool``
(the ``library`` convention). The ``article`` convention reproduces the simplified account of
the blog post this project started from (integer part of corner and size; equal bins, remainder
dropped).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import _checks
from ._separable import bin_max
from .box_grad import attach_box_grad, box_coords, boxes_require_grad
from .geometry import check_box_cells, pool_bins, snap_box
from .records import Bin, MethodTrace, Settings, check_trace_args, feature_rect, freeze, region_areas

#: The method's key and display name (collected by :mod:`roiviz.methods`).
KEY, LABEL = "roi_pool", "RoI Pool"

__all__ = ["roi_pool", "trace_roi_pool", "pool_geometry"]


def pool_geometry(coords, spatial_scale: float, output_size: tuple[int, int],
                  map_shape: tuple[int, int], convention: str):
    """Both quantizations for ``[K]`` boxes (numpy or torch; float32 for the kernels' rounding).

    Args:
        coords: ``[K, 4]`` boxes ``(x1, y1, x2, y2)`` in image pixels.

    Returns:
        ``(snapped, rows, cols)``: ``snapped = (start_x, len_x, start_y, len_y)`` int64 ``[K]``;
        ``rows = (lo, hi)`` int64 ``[K, PH]`` and ``cols = (lo, hi)`` ``[K, PW]``, each bin's
        half-open cell range, clipped to the map.
    """
    start_x, len_x = snap_box(coords[:, 0] * spatial_scale, coords[:, 2] * spatial_scale, convention)
    start_y, len_y = snap_box(coords[:, 1] * spatial_scale, coords[:, 3] * spatial_scale, convention)
    dtype = coords.dtype
    rows = pool_bins(start_y, len_y, output_size[0], map_shape[0], convention, dtype)
    cols = pool_bins(start_x, len_x, output_size[1], map_shape[1], convention, dtype)
    return (start_x, len_x, start_y, len_y), rows, cols


def roi_pool(input: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0, *,
             convention: str = "library") -> torch.Tensor:
    """Performs Region of Interest (RoI) Pool, as in Fast R-CNN.

    A drop-in for ``torchvision.ops.roi_pool`` (same arguments, same numbers), plus
    ``convention``.

    Args:
        input (Tensor[N, C, H, W]): the feature maps, floating point.
        boxes (Tensor[K, 5] or List[Tensor[L, 4]]): ``(batch index, x1, y1, x2, y2)`` in image
            pixels, or one ``(x1, y1, x2, y2)`` tensor per image. A box with ``x2 < x1`` is read
            as a one-cell-wide box at ``round(x1 * spatial_scale)``, as in torchvision.
        output_size (int or Tuple[int, int]): ``(PH, PW)``, each >= 1.
        spatial_scale (float): ``1 / stride``, > 0. Default 1.
        convention (str): ``"library"`` (default; torchvision, Caffe, ONNX ``MaxRoiPool``) or
            ``"article"`` (integer part of corner and size, equal bins, remainder dropped).

    Returns:
        Tensor[K, C, PH, PW]: each bin's maximum, 0 for a bin with no cell on the map. The
        backward sends each bin's whole gradient to its argmax cell (first maximum in row-major
        order). The output is piecewise constant in the box: with ``boxes`` requiring grad,
        ``boxes.grad`` is zero (torchvision's compiled op leaves it ``None``; neither raises).

    Raises:
        TypeError, ValueError: for arguments of the wrong type, shape or range.
    """
    _checks.check_input(input)
    size = _checks.check_output_size(output_size)
    scale = _checks.check_spatial_scale(spatial_scale)
    _checks.check_convention(convention)
    batch_idx, coords = _checks.convert_boxes(boxes, input)
    check_box_cells(coords, scale)
    height, width = input.shape[-2:]
    _, rows, cols = pool_geometry(coords, scale, size, (height, width), convention)
    # Each bin is a rectangle of cells: its max (first maximum in row-major order, like the
    # kernels' strict ">" scan, which is also where the gradient goes; 0 if it has no cell).
    out = bin_max(input, batch_idx, rows, cols)                               # [K, C, PH, PW]
    if not boxes_require_grad(boxes):
        return out
    # Piecewise constant in the box: its derivative is 0 wherever it exists.
    return attach_box_grad(out, box_coords(boxes, input), lambda grad: grad.new_zeros((grad.shape[0], 4)))


def trace_roi_pool(feature: np.ndarray, box, settings: Settings = Settings()) -> MethodTrace:
    """Trace RoI Pool on one 2-D map: snapped box, bins, cells read, argmax, output.

    Args:
        feature: ``[H, W]`` real values (one channel).
        box: ``(x1, y1, x2, y2)`` in image pixels, corners in any order, positive size.
        settings: uses ``output_size``, ``stride`` and ``convention``.

    Returns:
        A :class:`~roiviz.records.MethodTrace` whose ``output`` equals :func:`roi_pool`'s.
        ``read_region`` is the union of the bins (under the article convention, the snapped box
        minus the dropped lines).
    """
    values, image_box = check_trace_args(feature, box, settings)
    height, width = values.shape
    coords = np.asarray([image_box], dtype=np.float32)
    (sx, lx, sy, ly), (row_lo, row_hi), (col_lo, col_hi) = pool_geometry(
        coords, np.float32(settings.spatial_scale), settings.output_size, (height, width),
        settings.convention)
    pooled_h, pooled_w = settings.output_size
    bins, output = [], np.zeros((pooled_h, pooled_w), dtype=np.float32)
    for ph in range(pooled_h):
        for pw in range(pooled_w):
            r0, r1, c0, c1 = int(row_lo[0, ph]), int(row_hi[0, ph]), int(col_lo[0, pw]), int(col_hi[0, pw])
            cells = tuple((r, c) for r in range(r0, r1) for c in range(c0, c1))
            argmax = None
            for cell in cells:  # the kernels' scan: strict ">" keeps the first maximum
                if argmax is None or values[cell] > values[argmax]:
                    argmax = cell
            output[ph, pw] = values[argmax] if argmax is not None else 0.0
            bins.append(Bin(row=ph, col=pw, rect=(c0, r0, c1, r1) if cells else None,
                            value=float(output[ph, pw]), cells=cells, argmax=argmax,
                            cell_weights=((argmax, 1.0),) if argmax is not None else ()))
    snapped = (float(sx[0]), float(sy[0]), float(sx[0] + lx[0]), float(sy[0] + ly[0]))
    used = [b.rect for b in bins if b.rect is not None]
    read = (min(r[0] for r in used), min(r[1] for r in used), max(r[2] for r in used),
            max(r[3] for r in used)) if used else None
    notes = []
    if settings.convention == "library":
        notes.append("Library convention: corners are rounded and the box is read as inclusive "
                     "cell indices (+1 cell), and bins may overlap so that no cell is dropped.")
    else:
        notes.append("Article convention: the integer parts of corner and size are kept and "
                     "every bin has the same whole number of cells; leftover rows and columns "
                     "are dropped.")
    roi = feature_rect(image_box, settings.stride)
    return MethodTrace(
        method=KEY, label=LABEL, settings=settings, image_box=image_box, roi=roi, snapped_box=snapped,
        sampled_box=None, read_region=read, grid=(0, 0), bins=tuple(bins), output=freeze(output),
        map_shape=(height, width), areas=region_areas(roi, read, (height, width), settings.stride),
        notes=tuple(notes))


# ---------------------------------------------------------------------------------------------
# Readable reference


def roi_pool_reference(feature: np.ndarray, box, output_size: tuple[int, int],
                       spatial_scale: float = 1.0, convention: str = "library") -> np.ndarray:
    """RoI Pool of one box on one map as a plain loop: what :func:`roi_pool` computes, cell by cell.

    It follows torchvision's ``roi_pool_kernel.cpp`` line by line, in float32 like the kernel
    (``tests/test_roi_pool.py`` checks it equals the batched op).

    Args:
        feature: ``[H, W]`` real values.
        box: ``(x1, y1, x2, y2)`` in image pixels.
        output_size: ``(PH, PW)`` bins.
        spatial_scale: feature cells per image pixel (``1 / stride``).
        convention: ``"library"`` (torchvision) or ``"article"``.

    Returns:
        float32 ``[PH, PW]``.
    """
    f32 = np.float32
    height, width = feature.shape
    pooled_h, pooled_w = output_size
    x1, y1, x2, y2 = (f32(v) * f32(spatial_scale) for v in box)     # the box in feature cells
    # First quantization: snap the box to whole cells (library: round each corner and count
    # the end cell too; article: the integer part of the corner and of the size).
    col0, cols = (int(v) for v in snap_box(x1, x2, convention))
    row0, rows = (int(v) for v in snap_box(y1, y2, convention))
    out = np.zeros((pooled_h, pooled_w), np.float32)
    for ph in range(pooled_h):
        for pw in range(pooled_w):
            # Second quantization: the bin's edges in whole cells.
            if convention == "library":     # floor / ceil of fractional edges: bins may overlap
                bin_h, bin_w = f32(rows) / f32(pooled_h), f32(cols) / f32(pooled_w)
                r1, r2 = math.floor(f32(ph) * bin_h), math.ceil(f32(ph + 1) * bin_h)
                c1, c2 = math.floor(f32(pw) * bin_w), math.ceil(f32(pw + 1) * bin_w)
            else:                           # equal whole-cell bins; the remainder is dropped
                step_h, step_w = max(rows // pooled_h, 1), max(cols // pooled_w, 1)
                r1, r2 = ph * step_h, (ph + 1) * step_h
                c1, c2 = pw * step_w, (pw + 1) * step_w
            # Move the bin onto the box and clip it to the map.
            r1, r2 = min(max(r1 + row0, 0), height), min(max(r2 + row0, 0), height)
            c1, c2 = min(max(c1 + col0, 0), width), min(max(c2 + col0, 0), width)
            cells = feature[r1:r2, c1:c2]
            out[ph, pw] = cells.max() if cells.size else 0.0        # an empty bin outputs 0
    return out
