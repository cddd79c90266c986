"""Bilinear interpolation as the RoI Align kernels do it, split into its two 1-D halves.

The kernels' bilinear weight of neighbour ``(row, col)`` for a sample at ``(y, x)`` is a product
``wy(row) * wx(col)``, and the "outside the map" test is a product of two 1-D tests, so every
rule lives in one 1-D function, :func:`linear_weights`. The teaching traces take the outer
product for one sample; the batched ops turn the same weights into ``[bins, H]`` and
``[bins, W]`` matrices and apply them to the map on each side (``Wy @ F @ Wx^T``).

Rules (torchvision ``roi_align_kernel.cpp`` ``pre_calc_for_bilinear_interpolate``, ONNX Runtime
``RoiAlign``), in the library frame where the value of cell ``j`` sits at coordinate ``j``:

1. ``x < -1`` or ``x > W``: the sample is off the map, its value is 0 (it still counts in the
   average).
2. Otherwise clamp ``x`` to ``[0, W - 1]``: a sample in ``[-1, 0)`` reads cell 0 alone and one in
   ``(W - 1, W]`` reads cell ``W - 1`` alone.
3. Neighbours ``floor(x)`` and ``floor(x) + 1`` with weights ``1 - l`` and ``l``,
   ``l = x - floor(x)``.

Worked number: on a map of width 5, ``x = 1.3`` reads cells 1 and 2 with weights 0.7 and 0.3;
``x = -0.4`` reads cell 0 with weight 1; ``x = 5.2`` is off the map.
(``tests/test_bilinear.py::test_worked_numbers``.)
"""

from __future__ import annotations

import numpy as np
import torch

from .geometry import Array, _as_int, _xp

__all__ = ["linear_weights", "interpolant_integral", "interpolant_weights", "hat_weights",
           "hat_integral"]


def linear_weights(coord: Array, size: int, margin: float = 1.0,
                   extrapolate_below: bool = False) -> tuple[Array, Array, Array, Array]:
    """The 1-D half of the kernels' bilinear interpolation.

    Args:
        coord: sample coordinates in the library frame, float ``[...]`` (numpy or torch).
        size: the map's size along this axis (``H`` or ``W``), >= 1.
        margin: the off-map rule, as how far beyond the outer cells' centres a sample still
            reads the map (rule 1 of the module docstring, generalised): a sample is off the map
            when ``x < -margin`` or ``x > size - 1 + margin``. ``1.0`` (default) is torchvision's
            and ONNX Runtime's ``[-1, size]``; ``0.5`` is MNC's ``ROIWarping`` (``[-0.5,
            size - 0.5]``); ``0.0`` is TensorFlow's ``crop_and_resize`` (``[0, size - 1]``, the
            caller adds ``extrapolation_value``); ``math.inf`` clamps every sample to the edge
            (TensorRT's plugins). Other frameworks' rules: :mod:`roiviz.conventions`.
        extrapolate_below: a sample at ``x < 0`` is not clamped but extrapolated along the line
            through cells 0 and 1 (weights ``1 - x`` and ``x``), as KerasCV's
            ``_compute_grid_positions`` does (it clamps ``floor(x)``, not ``x``). Use with
            ``margin=math.inf``.

    Returns:
        ``(low, high, w_low, w_high)``: neighbour indices (int64 ``[...]``, always valid
        indices) and their weights (dtype of ``coord``). Off-map samples get weights 0 and
        indices 0. ``w_low + w_high`` is 1 on the map and 0 off it.
    """
    xp = _xp(coord)
    on_map = (coord >= -margin) & (coord <= (size - 1) + margin)
    clamped = xp.clip(coord, 0.0, None) if xp is np else coord.clamp(min=0.0)
    below = (coord < 0) & (size > 1) if extrapolate_below else xp.zeros_like(on_map)
    clamped = xp.where(below, coord, clamped)
    low = _as_int(xp.floor(clamped))
    low = xp.where(below, xp.zeros_like(low), low)
    at_edge = low >= size - 1
    edge = xp.full_like(low, size - 1)
    low = xp.where(at_edge, edge, low)
    high = xp.where(at_edge, edge, low + 1)
    clamped = xp.where(at_edge, xp.full_like(clamped, size - 1), clamped)
    frac = clamped - (low.to(coord.dtype) if xp is torch else low.astype(coord.dtype))
    zero = xp.zeros_like(frac)
    w_low = xp.where(on_map, 1.0 - frac, zero)
    w_high = xp.where(on_map, frac, zero)
    zero_i = xp.zeros_like(low)
    return xp.where(on_map, low, zero_i), xp.where(on_map, high, zero_i), w_low, w_high


def _hat_cdf(d: Array) -> Array:
    """Integral of the hat ``max(0, 1 - |t|)`` from ``-inf`` to ``d``."""
    xp = _xp(d)
    d = xp.clip(d, -1.0, 1.0)
    return xp.where(d <= 0, 0.5 * (d + 1.0) ** 2, 1.0 - 0.5 * (1.0 - d) ** 2)


def interpolant_integral(lo: Array, hi: Array, size: int, zero_padded: bool = False) -> Array:
    """Exact integral, over ``[lo, hi]``, of each cell's 1-D weight in :func:`linear_weights`.

    The kernels' interpolant along one axis is ``f(x) = sum_j v_j * a_j(x)`` with
    ``a_j(x) = max(0, 1 - |clip(x, 0, size - 1) - j|)`` on ``[-1, size]`` and 0 elsewhere
    (rules 1-3 of the module docstring). Precise RoI Pooling integrates it over each bin; this
    returns ``A[..., j] = integral of a_j over [lo, hi]``.

    Args:
        lo, hi: bin edges in the library frame, float ``[...]``; ``hi < lo`` gives zeros.
        size: the map's size along this axis.
        zero_padded: integrate ``a_j(x) = max(0, 1 - |x - j|)`` on the whole line instead: the
            plane outside the map is zero and nothing is clamped (the PreciseRoIPooling authors'
            ``PrRoIPoolingGetData``; :mod:`roiviz.conventions`, ``prroi_authors``).

    Returns:
        ``[..., size]``, dtype of ``lo``.
    """
    xp = _xp(lo)
    if xp is torch:
        j = torch.arange(size, dtype=lo.dtype, device=lo.device)
    else:
        j = np.arange(size, dtype=lo.dtype)
    lo_ = lo[..., None]
    hi_ = xp.maximum(hi, lo)[..., None]

    def overlap(a: float, b: float):  # length of [lo, hi] intersected with [a, b]
        return xp.clip(xp.clip(hi_, None, b) - xp.clip(lo_, a, None), 0.0, None)

    if zero_padded:
        return _hat_cdf(hi_ - j) - _hat_cdf(lo_ - j)
    # Middle part [0, size-1]: the plain hat around j.
    mid_lo = xp.clip(lo_, 0.0, size - 1.0)
    mid_hi = xp.clip(hi_, 0.0, size - 1.0)
    middle = _hat_cdf(mid_hi - j) - _hat_cdf(mid_lo - j)
    # Clamped parts: on [-1, 0] the interpolant is the value of cell 0, on [size-1, size] that
    # of cell size-1 (for size == 1 both are cell 0).
    left = overlap(-1.0, 0.0) * (j == 0)
    right = overlap(size - 1.0, float(size)) * (j == size - 1)
    return middle + left + right


def interpolant_weights(coord: torch.Tensor, size: int) -> torch.Tensor:
    """Dense :func:`linear_weights`: ``A[..., j]``, cell ``j``'s weight at ``coord`` (torch)."""
    low, high, w_low, w_high = linear_weights(coord, size)
    dense = torch.zeros(coord.shape + (size,), dtype=coord.dtype, device=coord.device)
    dense.scatter_add_(-1, low[..., None], w_low[..., None])
    return dense.scatter_add_(-1, high[..., None], w_high[..., None])


def hat_weights(coord: torch.Tensor, size: int) -> torch.Tensor:
    """The authors' interpolant of Precise RoI Pooling (PreciseRoIPooling's
    ``PrRoIPoolingInterpolation``): cell ``j``'s weight at ``coord`` is ``max(0, 1 - |coord -
    j|)``, cells at integer coordinates, nothing read off the map (so the surface falls to 0
    within one cell outside it). Dense ``[..., size]`` (torch)."""
    j = torch.arange(size, dtype=coord.dtype, device=coord.device)
    return (1.0 - (coord[..., None] - j).abs()).clamp(min=0.0)


def hat_integral(lo: torch.Tensor, hi: torch.Tensor, size: int) -> torch.Tensor:
    """Exact integral over ``[lo, hi]`` of each cell's :func:`hat_weights` (``hi < lo`` gives
    zeros): ``[..., size]`` (torch)."""
    j = torch.arange(size, dtype=lo.dtype, device=lo.device)
    hi = torch.maximum(hi, lo)
    return _hat_cdf(hi[..., None] - j) - _hat_cdf(lo[..., None] - j)
