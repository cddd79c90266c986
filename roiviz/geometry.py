"""Coordinates and conventions, stated once for the whole of roiviz.

Box format
    A box is ``(x1, y1, x2, y2)`` in **image pixels**, continuous (floats). Users may draw it in
    any corner order; :func:`normalize_box` sorts the corners. The batched ops accept ``x2 < x1``
    as torchvision does (see each op's docstring for what that gives).

Pixel model (the *drawing frame*)
    Image pixel (row ``r``, column ``c``) is the unit square ``[c, c+1) x [r, r+1)``. A feature map
    of stride ``S`` has ``spatial_scale s = 1 / S``; feature cell ``(i, j)`` is the square
    ``[j, j+1) x [i, i+1)`` in *feature units*, so its centre is at ``(j + 0.5, i + 0.5)``. Image
    point ``x`` maps to ``u = x * s``. Every overlay roiviz draws lives in this frame.

The kernels' frame (the *library frame*)
    torchvision's and ONNX Runtime's RoI Align kernels put the value of cell ``j`` at coordinate
    ``j`` (not ``j + 0.5``). A sample at library coordinate ``x`` is drawn at ``x + 0.5``.
    ``aligned=True`` subtracts half a cell when mapping the box (``u = x * s - 0.5``), which is
    exactly what makes the sample grid line up with the drawn box. Worked example (the one
    Detectron2's ``ROIAlign`` docstring uses): a box edge at image ``x = 1.3`` with ``s = 1``
    lies between the centres of pixels 0 and 1 (drawn at 0.5 and 1.5). With ``aligned=True`` the
    kernel reads library coordinate ``0.8``, i.e. 20% of pixel 0 and 80% of pixel 1; with
    ``aligned=False`` it reads ``1.3``, i.e. 70% of pixel 1 and 30% of pixel 2: half a pixel too
    far right. ``tests/test_geometry.py::test_aligned_worked_example`` checks these numbers.

Indexing
    Arrays are indexed ``[row, column]`` = ``[y, x]``; boxes and points are written ``(x, y)``.

Every helper here works on numpy arrays and on torch tensors alike (same code, same dtype
rules), so that the teaching traces and the batched ops share one implementation of each rule.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)

#: RoI Pool mapping conventions; RoI Warp follows the same choice.
CONVENTIONS = ("library", "article")
#: How RoI Align and RoI Warp reduce a bin's samples to one value.
REDUCES = ("avg", "max")
#: Largest sampling ratio (samples per bin side) the app offers.
MAX_SAMPLING_RATIO = 16
#: The sample budget: the most bilinear samples one method records for one RoI (a trace
#: refuses more, the Playground asks for smaller settings instead, the figures draw them all;
#: an export past it draws from :func:`roiviz.drawing.thinned.thinned_trace`). A sample's record holds
#: about 670 bytes: 14 x 14 bins at ratio 16 (50,176 samples) would be a 34 MB trace in the
#: shared trace cache and 12.5 MB of JSON, and take 0.5-0.8 s.
SAMPLE_BUDGET = 4096
#: Largest float32 (boxes beyond it cannot be held by the kernels' float32 arithmetic).
FLOAT32_MAX = 3.4028234663852886e38
#: Largest |box coordinate| in feature cells that the traces and the ops accept: float32 holds
#: every whole number up to 2^24 (past it, neighbouring cells merge), and the integer casts of
#: the snapping and the sample counts stay far from wrapping (torchvision's int32, roiviz's int64).
MAX_FEATURE_CELLS = 2.0 ** 24
#: The most bilinear samples one method computes for one RoI without recording them (the
#: Playground's server and its browser engine; ``record_samples=False``): 1,048,576 is a
#: 1024 x 1024 grid, beyond every fixed ratio the app offers (14 x 14 bins at ratio 16 is
#: 50,176), so only an adaptive ratio on a box far larger than the map reaches it.
LIVE_SAMPLE_LIMIT = 2 ** 20

__all__ = [
    "CONVENTIONS",
    "MAX_SAMPLING_RATIO",
    "REDUCES",
    "SAMPLE_BUDGET",
    "FLOAT32_MAX",
    "MAX_FEATURE_CELLS",
    "check_scale",
    "check_box_cells",
    "LIVE_SAMPLE_LIMIT",
    "normalize_box",
    "c_round",
    "snap_box",
    "pool_bins",
    "align_mapping",
    "sampling_grid",
    "samples_per_roi",
    "sample_coords",
    "rect_area",
    "rect_intersection",
    "rect_difference",
]


def _xp(a: Any):
    """The array namespace of ``a``: ``torch`` for tensors, ``numpy`` otherwise."""
    return torch if isinstance(a, torch.Tensor) else np


def _as_int(a: Array) -> Array:
    return a.to(torch.int64) if isinstance(a, torch.Tensor) else np.asarray(a).astype(np.int64)


def normalize_box(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """Sort a user-drawn box's corners so that ``x1 <= x2`` and ``y1 <= y2``.

    Args:
        box: ``(x1, y1, x2, y2)`` in image pixels, corners in any order (a drag can go up-left).

    Returns:
        ``(min x, min y, max x, max y)`` as Python floats.

    Raises:
        ValueError: if ``box`` does not have 4 entries or one of them is not a finite number.
    """
    if len(box) != 4:
        raise ValueError(f"box must have 4 numbers (x1, y1, x2, y2), got {len(box)}")
    try:
        x1, y1, x2, y2 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise ValueError(f"box must contain numbers, got {box!r}") from None
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise ValueError(f"box coordinates must be finite numbers, got {(x1, y1, x2, y2)}")
    return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


def check_scale(stride: float) -> float:
    """The float32 spatial scale ``1 / stride`` the kernels use, refused when it is infinite or 0
    (a stride of ``1e-320`` is finite and > 0, but its reciprocal overflows).

    Raises:
        ValueError: with the message the stage's engine gives (``geometry.js``, ``checkScale``).
    """
    with np.errstate(over="ignore", divide="ignore"):
        scale = np.float32(1.0 / stride) if stride != 0 else np.float32(np.inf)
    if not np.isfinite(scale) or scale == 0:
        raise ValueError(f"stride must give a spatial scale 1 / stride that is a finite, non-zero "
                         f"float32, got {stride!r}")
    return float(scale)


def check_box_cells(box, spatial_scale: float) -> None:
    """Refuse a box beyond float32's range or beyond ``MAX_FEATURE_CELLS`` feature cells.

    Args:
        box: ``(x1, y1, x2, y2)`` image pixels (Python floats) or a ``[K, 4]`` tensor.
        spatial_scale: ``1 / stride`` (as the kernels hold it).

    Raises:
        ValueError: with the messages of the stage's engine (``geometry.js``, ``checkBoxCells``).
    """
    if isinstance(box, torch.Tensor):
        largest = float(box.detach().abs().amax()) if box.numel() else 0.0
    else:
        largest = max(abs(float(v)) for v in box)
    if largest > FLOAT32_MAX:
        raise ValueError(f"box coordinates must be within float32's range (|v| <= {FLOAT32_MAX!r}), "
                         f"got {largest!r}")
    cells = float(np.float32(largest)) * spatial_scale
    if cells > MAX_FEATURE_CELLS:
        raise ValueError(f"box coordinates must lie within {int(MAX_FEATURE_CELLS)} feature cells of "
                         f"0 (float32's exact whole numbers), got {cells!r} cells")


def c_round(a: Array) -> Array:
    """C's ``round``: halves go away from zero (``round(2.5) == 3``, ``round(-2.5) == -3``).

    numpy's and torch's ``round`` send halves to even (``2.5 -> 2``), which is *not* what the
    RoI Pool kernels do.
    """
    xp = _xp(a)
    magnitude = xp.abs(a)
    whole = xp.floor(magnitude)
    # Compare the fraction (exact in floating point) rather than computing floor(|a| + 0.5):
    # in float32, 0.49999997 + 0.5 rounds up to 1.0, which C's round does not do.
    return xp.sign(a) * (whole + ((magnitude - whole) >= 0.5))


def snap_box(u1: Array, u2: Array, convention: str = "library", *, plus_one: bool = True,
             min_length: int = 1) -> tuple[Array, Array]:
    """RoI Pool's first quantization, along one axis: a continuous extent -> whole cells.

    Args:
        u1, u2: box edges in feature units (``x * spatial_scale``), any shape, float.
        convention: ``"library"`` (torchvision, Caffe, ONNX ``MaxRoiPool``) or ``"article"``.

    Returns:
        ``(start, length)``: int64 arrays of the input's shape. The snapped extent covers cells
        ``start .. start + length - 1``, i.e. the drawn interval ``[start, start + length)``.

        - ``library``: ``start = round(u1)``, ``length = max(round(u2) - start + 1, 1)``. The
          legacy ``+ 1`` treats the box as inclusive cell indices, so ``[0, 2.9)`` reads cells
          0..3 (``tests/test_geometry.py::test_snap_library_plus_one``).
        - ``article``: the integer part of the corner and of the size:
          ``start = floor(u1)``, ``length = max(floor(u2 - u1), 1)``.

        plus_one, min_length: library convention only; other frameworks' rounding
        (:mod:`roiviz.conventions`): torchvision's ``ps_roi_pool`` has no ``+ 1``
        (``plus_one=False``), MNC's ``ROIWarping`` has neither the ``+ 1`` nor the 1-cell
        minimum (``plus_one=False, min_length=0``).

    Raises:
        ValueError: for an unknown convention.
    """
    xp = _xp(u1)
    if convention == "library":
        start = c_round(u1)
        length = xp.maximum(c_round(u2) - start + int(plus_one), min_length * xp.ones_like(start))
    elif convention == "article":
        start = xp.floor(u1)
        length = xp.maximum(xp.floor(u2 - u1), xp.ones_like(start))
    else:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    return _as_int(start), _as_int(length)


def pool_bins(start: Array, length: Array, pooled: int, size: int,
              convention: str = "library", dtype: Any = None) -> tuple[Array, Array]:
    """RoI Pool's second quantization, along one axis: split a snapped extent into bins.

    Args:
        start, length: int64 ``[...]`` from :func:`snap_box`.
        pooled: number of bins (the output size along this axis).
        size: the feature map's size along this axis; bins are clipped to ``[0, size]``.
        convention: see :func:`snap_box`.
        dtype: float type the bin size is computed in (the kernels use the map's dtype, and
            ``ceil(3 * (7/3))`` is 7 or 8 depending on it). Default float32.

    Returns:
        ``(lo, hi)``: int64 ``[..., pooled]``; bin ``p`` reads cells ``lo[p] .. hi[p] - 1``
        (empty when ``hi <= lo``: its output is 0).

        - ``library`` (torchvision ``roi_pool_kernel.cpp``): ``bin = length / pooled`` (float);
          ``lo = floor(p * bin) + start``, ``hi = ceil((p + 1) * bin) + start``. Bins can overlap
          and together cover the whole snapped extent.
        - ``article``: every bin is ``max(length // pooled, 1)`` cells; the remainder cells at the
          end are dropped (a 4-cell extent pooled to 3 uses 3 one-cell bins and drops one).
    """
    xp = _xp(start)
    p = xp.arange(pooled)
    if xp is torch:
        p = p.to(start.device)
    start_ = start[..., None]
    if convention == "library":
        fdt = dtype if dtype is not None else (torch.float32 if xp is torch else np.float32)
        if xp is torch:
            bin_size = length[..., None].to(fdt) / pooled
            lo = xp.floor(p.to(fdt) * bin_size)
            hi = xp.ceil((p + 1).to(fdt) * bin_size)
        else:
            bin_size = length[..., None].astype(fdt) / np.asarray(pooled, dtype=fdt)
            lo = xp.floor(p.astype(fdt) * bin_size)
            hi = xp.ceil((p + 1).astype(fdt) * bin_size)
        lo = _as_int(lo) + start_
        hi = _as_int(hi) + start_
    elif convention == "article":
        cells = xp.maximum(length // pooled, xp.ones_like(length))[..., None]
        lo = start_ + p * cells
        hi = lo + cells
    else:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    return xp.clip(lo, 0, size), xp.clip(hi, 0, size)


def align_mapping(x1: Array, x2: Array, spatial_scale: float, aligned: bool) -> tuple[Array, Array]:
    """RoI Align's mapping along one axis: no rounding (Mask R-CNN, Section 3).

    Args:
        x1, x2: box edges in image pixels, float ``[...]``.
        spatial_scale: ``1 / stride``.
        aligned: subtract half a cell (``True``) or not (legacy ``False``).

    Returns:
        ``(start, length)`` in the *library frame* (see module docstring), same dtype as ``x1``.
        ``length = x2 * s - x1 * s``; only when ``aligned=False`` is it raised to at least 1
        (so an ``aligned=False`` box is never thinner than one cell, and a reversed box becomes a
        1-cell box; with ``aligned=True`` a reversed box has negative length and gives zeros).
    """
    xp = _xp(x1)
    offset = 0.5 if aligned else 0.0
    start = x1 * spatial_scale - offset
    length = (x2 * spatial_scale - offset) - start
    if not aligned:
        length = xp.maximum(length, xp.ones_like(length))
    return start, length


def sampling_grid(length: Array, pooled: int, sampling_ratio: int) -> Array:
    """Samples per bin side: ``sampling_ratio`` if > 0, else adaptive ``ceil(length / pooled)``.

    Args:
        length: RoI extent along one axis in cells, float ``[...]``.

    Returns:
        int64 ``[...]``; can be 0 or negative for an empty/reversed RoI (then no sample is taken
        and the output is 0, as in the kernels, which use ``count = max(grid_h * grid_w, 1)``).
    """
    xp = _xp(length)
    if sampling_ratio > 0:
        return _as_int(xp.full_like(length, sampling_ratio))
    return _as_int(xp.ceil(length / pooled))


def samples_per_roi(size: tuple[float, float], output_size: tuple[int, int],
                    sampling_ratio: int) -> int:
    """Samples one RoI takes in RoI Align or RoI Warp: ``PH * PW * gh * gw`` (:func:`sampling_grid`).

    Args:
        size: the sampled box's ``(height, width)`` in feature cells.
        output_size: ``(PH, PW)`` bins.
        sampling_ratio: samples per bin side, ``<= 0`` for adaptive.
    """
    (ph, pw), (height, width) = output_size, size
    gh = max(int(sampling_grid(np.float64(height), ph, sampling_ratio)), 0)
    gw = max(int(sampling_grid(np.float64(width), pw, sampling_ratio)), 0)
    return ph * pw * gh * gw


def sample_coords(start: Array, length: Array, pooled: int, grid: Array,
                          max_grid: int) -> tuple[Array, Array]:
    """Sample positions along one axis (torchvision ``roi_align_kernel.cpp``, ``pre_calc``).

    Sample ``i`` of bin ``p`` sits at ``start + p * bin + (i + 0.5) * bin / g``, with
    ``bin = length / pooled``: the centres of a ``g``-way split of the bin.

    Args:
        start, length: ``[...]`` from :func:`align_mapping` (library frame).
        pooled: bins along the axis.
        grid: int64 ``[...]``, samples per bin for each RoI (from :func:`sampling_grid`).
        max_grid: a Python int >= every ``grid``; RoIs with fewer samples are padded.

    Returns:
        ``(coords, mask)``, both ``[..., pooled, max_grid]``: coordinates in the library frame
        (dtype of ``start``) and a bool mask that is False on padding.
    """
    xp = _xp(start)
    if xp is torch:
        p = torch.arange(pooled, dtype=start.dtype, device=start.device)
        i = torch.arange(max_grid, dtype=start.dtype, device=start.device)
        g = grid.to(start.dtype).clamp(min=1)[..., None, None]
        mask = (torch.arange(max_grid, device=start.device) < grid[..., None, None])
    else:
        p = np.arange(pooled, dtype=start.dtype)
        i = np.arange(max_grid, dtype=start.dtype)
        g = np.maximum(grid, 1).astype(start.dtype)[..., None, None]
        mask = np.arange(max_grid) < grid[..., None, None]
    bin_size = (length / pooled)[..., None, None]
    coords = start[..., None, None] + p[:, None] * bin_size + (i + 0.5) * bin_size / g
    mask = mask & (p[:, None] >= 0)  # broadcast to [..., pooled, max_grid]
    return coords, mask


def rect_area(rect: tuple[float, float, float, float] | None) -> float:
    """Area of an ``(x1, y1, x2, y2)`` rectangle; 0 for ``None`` or an empty one."""
    if rect is None:
        return 0.0
    return max(rect[2] - rect[0], 0.0) * max(rect[3] - rect[1], 0.0)


def rect_intersection(a: tuple[float, float, float, float] | None,
                      b: tuple[float, float, float, float] | None):
    """Intersection of two ``(x1, y1, x2, y2)`` rectangles, or ``None`` when they do not overlap."""
    if a is None or b is None:
        return None
    r = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return r if r[2] > r[0] and r[3] > r[1] else None


def rect_difference(a: tuple[float, float, float, float] | None,
                    b: tuple[float, float, float, float] | None) -> list[tuple[float, float, float, float]]:
    """``a`` minus ``b`` as at most four disjoint rectangles (top, bottom, left, right strips).

    Used for the lost, gained and outside regions, which are differences of rectangles.
    """
    if a is None or rect_area(a) == 0:
        return []
    cut = rect_intersection(a, b)
    if cut is None:
        return [a]
    ax1, ay1, ax2, ay2 = a
    cx1, cy1, cx2, cy2 = cut
    strips = [(ax1, ay1, ax2, cy1), (ax1, cy2, ax2, ay2), (ax1, cy1, cx1, cy2), (cx2, cy1, ax2, cy2)]
    return [r for r in strips if rect_area(r) > 0]
