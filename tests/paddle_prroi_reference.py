"""PaddlePaddle's CPU ``prroi_pool`` kernels (the old fluid op), ported line by line to Python.

Source: PaddlePaddle/Paddle, ``paddle/fluid/operators/prroi_pool_op.h`` at commit
44de671413cd5d45bee329e9f2e56a4a25ee3073: ``CPUPRROIPoolOpKernel::Compute`` (forward) and
``CPUPRROIPoolGradOpKernel::Compute`` with its ``PrRoIPoolingCoorBackward`` (the box gradient).
PaddlePaddle 3.3 no longer ships the op. Written for roiviz's tests from reading the kernels; no
code of theirs is copied.

The device helpers the kernels call (``PrRoIPoolingGetData``, ``PrRoIPoolingInterpolation``,
``PrRoIPoolingSingleCoorIntegral``, ``PrRoIPoolingMatCalculation``) have the same formulas, in
the same order, as the authors' (vacancy/PreciseRoIPooling), so this port calls their port in
``tests/prroi_reference.py``. What differs is the kernels around them, read from the code:

- the ROIs are ``[K, 4]`` ``(x1, y1, x2, y2)`` (the image comes from a LoD or ``BatchRoINums``);
- the four edge partials are declared ``float``, so with ``T = double`` they are rounded to
  float32 before the division by the bin's area (``partial_x1`` etc.);
- there is no early exit for an empty bin: with ``win_size == 0`` the partials are ``0 / 0``,
  so a zero-size box gets a NaN gradient (the authors' kernel returns before, leaving 0);
- an older version of the same file (commit 00d86b64bb8bd4d1f711321ae58470c79634de5d) passed the
  feature-gradient buffer where the box gradient belongs and the (unset) box gradient where the
  output gradient belongs, so it wrote the box gradient into the map's gradient; 44de6714 passes
  ``offset_input_roi_grad_data`` and ``offset_output_grad_data`` and zeroes the box gradient.
"""

from __future__ import annotations

import math

import numpy as np

from prroi_reference import _interpolate, _mat_calculation, _single_coor_integral


def _window(roi, spatial_scale: float, pooled_h: int, pooled_w: int, ph: int, pw: int):
    """The kernels' bin ``[win_start, win_end)``, ``win_size`` and the cells it covers
    ``s_h .. e_h``, ``s_w .. e_w``, as ``Compute`` computes them."""
    roi_start_w, roi_start_h = float(roi[0]) * spatial_scale, float(roi[1]) * spatial_scale
    roi_end_w, roi_end_h = float(roi[2]) * spatial_scale, float(roi[3]) * spatial_scale
    roi_width, roi_height = max(roi_end_w - roi_start_w, 0.0), max(roi_end_h - roi_start_h, 0.0)
    bin_size_h, bin_size_w = roi_height / pooled_h, roi_width / pooled_w
    win_start_w = roi_start_w + bin_size_w * pw
    win_start_h = roi_start_h + bin_size_h * ph
    win_end_w, win_end_h = win_start_w + bin_size_w, win_start_h + bin_size_h
    win_size = max(0.0, bin_size_w * bin_size_h)
    cells = (math.floor(win_start_h), math.ceil(win_end_h), math.floor(win_start_w), math.ceil(win_end_w))
    return (win_start_h, win_start_w, win_end_h, win_end_w, win_size), cells


def forward(data: np.ndarray, roi, output_size, spatial_scale: float) -> np.ndarray:
    """``CPUPRROIPoolOpKernel``: one map ``[H, W]``, one ROI ``(x1, y1, x2, y2)``."""
    pooled_h, pooled_w = output_size
    out = np.zeros((pooled_h, pooled_w))
    for ph in range(pooled_h):
        for pw in range(pooled_w):
            (win_start_h, win_start_w, win_end_h, win_end_w, win_size), (s_h, e_h, s_w, e_w) = _window(
                roi, spatial_scale, pooled_h, pooled_w, ph, pw)
            sum_out = 0.0
            if win_size > 0.0:
                for w_iter in range(s_w, e_w):
                    for h_iter in range(s_h, e_h):
                        sum_out += _mat_calculation(
                            data, h_iter, w_iter, h_iter + 1, w_iter + 1,
                            max(win_start_h, float(h_iter)), max(win_start_w, float(w_iter)),
                            min(win_end_h, h_iter + 1.0), min(win_end_w, w_iter + 1.0))
                out[ph, pw] = sum_out / win_size
    return out


def _f32(v: float) -> float:
    """C++'s ``float partial = <double expression>``."""
    return float(np.float32(v))


def coordinate_backward(data: np.ndarray, roi, output_size, spatial_scale: float,
                        top_diff: np.ndarray) -> np.ndarray:
    """``CPUPRROIPoolGradOpKernel``'s box gradient: ``dL/d(x1, y1, x2, y2)`` for one map and one
    ROI, given ``top_diff = dL/d out`` ``[PH, PW]`` (NaN for a zero-size box, as the kernel)."""
    pooled_h, pooled_w = output_size
    top = forward(data, roi, output_size, spatial_scale)
    grad = np.zeros(4)
    with np.errstate(divide="ignore", invalid="ignore"):
        for ph in range(pooled_h):
            for pw in range(pooled_w):
                (win_start_h, win_start_w, win_end_h, win_end_w, win_size), (s_h, e_h, s_w, e_w) = _window(
                    roi, spatial_scale, pooled_h, pooled_w, ph, pw)
                g_x1_y = g_x2_y = g_x_y1 = g_x_y2 = 0.0
                for h_iter in range(s_h, e_h):
                    s, t = max(win_start_h, float(h_iter)) - h_iter, min(win_end_h, float(h_iter + 1)) - h_iter
                    g_x1_y += _single_coor_integral(s, t, _interpolate(data, h_iter, win_start_w),
                                                    _interpolate(data, h_iter + 1, win_start_w))
                    g_x2_y += _single_coor_integral(s, t, _interpolate(data, h_iter, win_end_w),
                                                    _interpolate(data, h_iter + 1, win_end_w))
                for w_iter in range(s_w, e_w):
                    s, t = max(win_start_w, float(w_iter)) - w_iter, min(win_end_w, float(w_iter + 1)) - w_iter
                    g_x_y1 += _single_coor_integral(s, t, _interpolate(data, win_start_h, w_iter),
                                                    _interpolate(data, win_start_h, w_iter + 1))
                    g_x_y2 += _single_coor_integral(s, t, _interpolate(data, win_end_h, w_iter),
                                                    _interpolate(data, win_end_h, w_iter + 1))
                out = top[ph, pw]
                partial_x1 = _f32(-g_x1_y + (win_end_h - win_start_h) * out)
                partial_y1 = _f32(-g_x_y1 + (win_end_w - win_start_w) * out)
                partial_x2 = _f32(g_x2_y - (win_end_h - win_start_h) * out)
                partial_y2 = _f32(g_x_y2 - (win_end_w - win_start_w) * out)
                partial_x1 = _f32(np.float64(partial_x1) / win_size * spatial_scale)
                partial_x2 = _f32(np.float64(partial_x2) / win_size * spatial_scale)
                partial_y1 = _f32(np.float64(partial_y1) / win_size * spatial_scale)
                partial_y2 = _f32(np.float64(partial_y2) / win_size * spatial_scale)
                d = float(top_diff[ph, pw])
                grad[0] += (partial_x1 * (1.0 - pw / pooled_w) + partial_x2 * (1.0 - (pw + 1) / pooled_w)) * d
                grad[1] += (partial_y1 * (1.0 - ph / pooled_h) + partial_y2 * (1.0 - (ph + 1) / pooled_h)) * d
                grad[2] += (partial_x2 * (pw + 1) / pooled_w + partial_x1 * pw / pooled_w) * d
                grad[3] += (partial_y2 * (ph + 1) / pooled_h + partial_y1 * ph / pooled_h) * d
    return grad
