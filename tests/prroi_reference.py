"""The authors' Precise RoI Pooling kernels, ported line by line to Python (float64).

Source: vacancy/PreciseRoIPooling, ``src/prroi_pooling_gpu_impl.cu`` at commit
f75570ae05aea68a2ebc100f60a54194b0a9d15c (the file ``pytorch/prroi_pool/src/`` links to):
``PrRoIPoolingForward`` and ``PrRoIPoolingCoorBackward`` with their device helpers. One CUDA
thread computes one output element ``(n, c, ph, pw)``; here a loop does. The kernels run in
float32; this port keeps their formulas and order in float64, so the comparison in
``tests/test_box_grad.py`` is about the mathematics, with float64 tolerances. Written for
roiviz's tests from reading the kernels; no code of theirs is copied.
"""

from __future__ import annotations

import math

import numpy as np


def _get(data: np.ndarray, h: int, w: int) -> float:
    """``PrRoIPoolingGetData``: 0 off the map."""
    height, width = data.shape
    return 0.0 if h < 0 or w < 0 or h >= height or w >= width else float(data[h, w])


def _coeff(dh: float, dw: float) -> float:
    """``PrRoIPoolingGetCoeff``."""
    return (1.0 - abs(dh)) * (1.0 - abs(dw))


def _interpolate(data: np.ndarray, h: float, w: float) -> float:
    """``PrRoIPoolingInterpolation``: the four corners around ``(h, w)``."""
    total = 0.0
    for h1, w1 in ((math.floor(h), math.floor(w)), (math.floor(h) + 1, math.floor(w)),
                   (math.floor(h), math.floor(w) + 1), (math.floor(h) + 1, math.floor(w) + 1)):
        total += _get(data, h1, w1) * _coeff(h - h1, w - w1)
    return total


def _single_coor_integral(s: float, t: float, c1: float, c2: float) -> float:
    """``PrRoIPoolingSingleCoorIntegral``."""
    return 0.5 * (t * t - s * s) * c2 + (t - 0.5 * t * t - s + 0.5 * s * s) * c1


def _mat_calculation(data, s_h, s_w, e_h, e_w, y0, x0, y1, x1) -> float:
    """``PrRoIPoolingMatCalculation``: the integral over one cell square of the four corners."""
    def part(a, la):       # the kernels' "lim - lim^2 / 2 - a + a^2 / 2"
        return la - 0.5 * la * la - a + 0.5 * a * a

    total = 0.0
    total += _get(data, s_h, s_w) * part(x0 - s_w, x1 - s_w) * part(y0 - s_h, y1 - s_h)
    total += _get(data, s_h, e_w) * part(e_w - x1, e_w - x0) * part(y0 - s_h, y1 - s_h)
    total += _get(data, e_h, s_w) * part(x0 - s_w, x1 - s_w) * part(e_h - y1, e_h - y0)
    total += _get(data, e_h, e_w) * part(e_w - x1, e_w - x0) * part(e_h - y1, e_h - y0)
    return total


def _window(roi, spatial_scale, pooled_h, pooled_w, ph, pw):
    x1, y1, x2, y2 = (float(v) * spatial_scale for v in roi)
    roi_w, roi_h = max(x2 - x1, 0.0), max(y2 - y1, 0.0)
    bin_h, bin_w = roi_h / pooled_h, roi_w / pooled_w
    ws_w, ws_h = x1 + bin_w * pw, y1 + bin_h * ph
    return ws_h, ws_w, ws_h + bin_h, ws_w + bin_w, max(0.0, bin_w * bin_h)


def forward(data: np.ndarray, roi, output_size, spatial_scale: float) -> np.ndarray:
    """``PrRoIPoolingForward`` for one map ``[H, W]`` and one box ``(x1, y1, x2, y2)``."""
    pooled_h, pooled_w = output_size
    out = np.zeros((pooled_h, pooled_w))
    for ph in range(pooled_h):
        for pw in range(pooled_w):
            ws_h, ws_w, we_h, we_w, win = _window(roi, spatial_scale, pooled_h, pooled_w, ph, pw)
            if win == 0:
                continue
            total = 0.0
            for w_it in range(math.floor(ws_w), math.ceil(we_w)):
                for h_it in range(math.floor(ws_h), math.ceil(we_h)):
                    total += _mat_calculation(data, h_it, w_it, h_it + 1, w_it + 1,
                                              max(ws_h, h_it), max(ws_w, w_it),
                                              min(we_h, h_it + 1.0), min(we_w, w_it + 1.0))
            out[ph, pw] = total / win
    return out


def coordinate_backward(data: np.ndarray, roi, output_size, spatial_scale: float,
                        top_diff: np.ndarray) -> np.ndarray:
    """``PrRoIPoolingCoorBackward``: ``dL/d(x1, y1, x2, y2)`` for one map and one box, given
    ``top_diff = dL/d out`` ``[PH, PW]``."""
    pooled_h, pooled_w = output_size
    top = forward(data, roi, output_size, spatial_scale)
    grad = np.zeros(4)
    for ph in range(pooled_h):
        for pw in range(pooled_w):
            ws_h, ws_w, we_h, we_w, win = _window(roi, spatial_scale, pooled_h, pooled_w, ph, pw)
            scaled = 0.0 if win == 0 else top_diff[ph, pw] / win
            if scaled == 0:
                continue
            g_x1_y = g_x2_y = g_x_y1 = g_x_y2 = 0.0
            for h_it in range(math.floor(ws_h), math.ceil(we_h)):
                s, t = max(ws_h, h_it) - h_it, min(we_h, h_it + 1.0) - h_it
                g_x1_y += _single_coor_integral(s, t, _interpolate(data, h_it, ws_w),
                                                _interpolate(data, h_it + 1, ws_w))
                g_x2_y += _single_coor_integral(s, t, _interpolate(data, h_it, we_w),
                                                _interpolate(data, h_it + 1, we_w))
            for w_it in range(math.floor(ws_w), math.ceil(we_w)):
                s, t = max(ws_w, w_it) - w_it, min(we_w, w_it + 1.0) - w_it
                g_x_y1 += _single_coor_integral(s, t, _interpolate(data, ws_h, w_it),
                                                _interpolate(data, ws_h, w_it + 1))
                g_x_y2 += _single_coor_integral(s, t, _interpolate(data, we_h, w_it),
                                                _interpolate(data, we_h, w_it + 1))
            out = top[ph, pw]
            p_x1 = (-g_x1_y + (we_h - ws_h) * out) / win * spatial_scale
            p_y1 = (-g_x_y1 + (we_w - ws_w) * out) / win * spatial_scale
            p_x2 = (g_x2_y - (we_h - ws_h) * out) / win * spatial_scale
            p_y2 = (g_x_y2 - (we_w - ws_w) * out) / win * spatial_scale
            d = top_diff[ph, pw]
            grad[0] += (p_x1 * (1.0 - pw / pooled_w) + p_x2 * (1.0 - (pw + 1) / pooled_w)) * d
            grad[1] += (p_y1 * (1.0 - ph / pooled_h) + p_y2 * (1.0 - (ph + 1) / pooled_h)) * d
            grad[2] += (p_x2 * (pw + 1) / pooled_w + p_x1 * pw / pooled_w) * d
            grad[3] += (p_y2 * (ph + 1) / pooled_h + p_y1 * ph / pooled_h) * d
    return grad
