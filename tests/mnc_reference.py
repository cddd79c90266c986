"""MNC's RoI warping layer, ported line by line to Python (float64): forward and coordinate
backward.

Source: daijifeng001/caffe-mnc, ``src/caffe/layers/roi_warping_layer.cu`` at commit
c8020aa8a7462406a4a8d1bedd71f32a550f581d (the repository's head; its code equals d8bf82b7,
"Move multiply spatial scale to ROIWarping instead of in proposal layer", the commit MNC's
``caffe-mnc`` submodule has pinned since November 2016; c8020aa8 only renames two comments to
``x2`` / ``y2``): ``bilinear_interpolate``, ``ROIWarpingForward``, ``get_coordinate_gradient``
and ``ROIWarpingBackwardCoordinate`` followed by the ``thrust::reduce_by_key`` sum over each
RoI's channels and bins. The layer has no CPU code (``Forward_cpu`` is ``NOT_IMPLEMENTED``).
One CUDA thread computes one element; here a loop does. The kernels run in float32; this port
keeps their formulas and order in float64. Written for roiviz's tests from reading the kernels;
no code of theirs is copied.

What the kernels do (read from the code):

- forward: corners rounded (C ``round``) after ``* spatial_scale``, ``roi_width = max(end -
  start, 0)`` (no ``+ 1``), **one** bilinear sample per output cell at the bin's corner
  ``start + p * bin_size``, cell values at integer coordinates; a sample beyond ``-0.5`` or
  ``H - 0.5`` is skipped (the output is 0 and the stored argmax is -1); the stored argmax is the
  sample clamped to the map (``h <= 0 -> 0``, ``h >= H - 1 -> H - 1``);
- coordinate backward: for each output element, with its stored sample ``(h, w)``, the
  derivative of the bilinear interpolant along x (``dxc``) and along y (``dyc``) on the cell
  whose top-left corner is ``(int(h), int(w))``, 0 when that cell's far row or column is off
  the map (``int(h) + 1 > H - 1``); ``map_ratio = ((h - start) / bin_size) / pooled`` with a
  bin size that **has** the ``+ 1`` (``max(end - start + 1, 1) / pooled``), so it is not the
  forward's fraction; then ``d/d x1 = 0.5 dxc - dw = (1 - map_ratio_w) dxc``,
  ``d/d x2 = 0.5 dxc + dw = map_ratio_w dxc`` (likewise y), times ``spatial_scale``, times the
  output gradient, summed over the RoI's channels and bins. The batch-index column gets 0.
"""

from __future__ import annotations

import math

import numpy as np

FLT_MAX = float(np.finfo(np.float32).max)


def c_round(v: float) -> float:
    """CUDA's ``round``: halves away from zero."""
    return math.copysign(math.floor(abs(v) + 0.5), v)


def bilinear_interpolate(data: np.ndarray, h: float, w: float, maxval: float, maxidx_h: float,
                         maxidx_w: float) -> tuple[float, float, float]:
    """``bilinear_interpolate``: returns the updated ``(maxval, maxidx_h, maxidx_w)``."""
    height, width = data.shape
    if h < -0.5 or h > height - 0.5 or w < -0.5 or w > width - 0.5:
        return maxval, maxidx_h, maxidx_w
    if h <= 0:
        h = 0.0
    if w <= 0:
        w = 0.0
    h_low, w_low = int(h), int(w)
    if h_low >= height - 1:
        h_high = h_low = height - 1
        h = float(h_low)
    else:
        h_high = h_low + 1
    if w_low >= width - 1:
        w_high = w_low = width - 1
        w = float(w_low)
    else:
        w_high = w_low + 1
    lh, lw = h - h_low, w - w_low
    hh, hw = 1 - lh, 1 - lw
    v1, v2 = float(data[h_low, w_low]), float(data[h_low, w_high])
    v3, v4 = float(data[h_high, w_low]), float(data[h_high, w_high])
    w1, w2, w3, w4 = hh * hw, hh * lw, lh * hw, lh * lw
    val = w1 * v1 + w2 * v2 + w3 * v3 + w4 * v4
    if val > maxval:
        return val, h, w
    return maxval, maxidx_h, maxidx_w


def forward(data: np.ndarray, roi, output_size, spatial_scale: float):
    """``ROIWarpingForward`` for one RoI on one channel.

    Args:
        data: ``[H, W]``; roi: ``(x1, y1, x2, y2)`` image pixels; output_size: ``(PH, PW)``.

    Returns:
        ``(top [PH, PW], argmax_h [PH, PW], argmax_w [PH, PW])``.
    """
    pooled_h, pooled_w = output_size
    x1, y1, x2, y2 = (float(v) for v in roi)
    roi_start_w, roi_start_h = c_round(x1 * spatial_scale), c_round(y1 * spatial_scale)
    roi_end_w, roi_end_h = c_round(x2 * spatial_scale), c_round(y2 * spatial_scale)
    roi_width, roi_height = max(roi_end_w - roi_start_w, 0.0), max(roi_end_h - roi_start_h, 0.0)
    bin_size_h, bin_size_w = roi_height / pooled_h, roi_width / pooled_w
    top = np.zeros((pooled_h, pooled_w))
    arg_h, arg_w = np.full((pooled_h, pooled_w), -1.0), np.full((pooled_h, pooled_w), -1.0)
    for ph in range(pooled_h):
        for pw in range(pooled_w):
            maxval, maxidx_h, maxidx_w = -FLT_MAX, -1.0, -1.0
            ih = roi_start_h + ph * bin_size_h
            iw = roi_start_w + pw * bin_size_w
            maxval, maxidx_h, maxidx_w = bilinear_interpolate(data, ih, iw, maxval, maxidx_h, maxidx_w)
            if maxidx_h == -1 and maxidx_w == -1:
                maxval = 0.0
            top[ph, pw], arg_h[ph, pw], arg_w[ph, pw] = maxval, maxidx_h, maxidx_w
    return top, arg_h, arg_w


def get_coordinate_gradient(coordinate_index: int, h: float, w: float, data: np.ndarray, oh: float,
                            ow: float, pooled_height: int, pooled_width: int) -> float:
    """``get_coordinate_gradient``: d(sample) / d(x1, y1, x2, y2) for ``coordinate_index`` 1..4
    (before ``spatial_scale``), at the stored sample ``(h, w)``; ``oh, ow`` are the sample's
    positions in output-bin units."""
    height, width = data.shape
    arg_interpolate_h, arg_interpolate_w = int(h), int(w)
    if arg_interpolate_h + 1 > height - 1 or arg_interpolate_w + 1 > width - 1:
        return 0.0
    map_ratio_h = oh / pooled_height
    map_ratio_w = ow / pooled_width
    v1 = float(data[arg_interpolate_h, arg_interpolate_w])
    v2 = float(data[arg_interpolate_h, arg_interpolate_w + 1])
    v3 = float(data[arg_interpolate_h + 1, arg_interpolate_w])
    v4 = float(data[arg_interpolate_h + 1, arg_interpolate_w + 1])
    dxc = dyc = dw = dh = 0.0
    dxc += -1.0 * (1.0 - h + arg_interpolate_h) * v1
    dxc += 1.0 * (1.0 - h + arg_interpolate_h) * v2
    dxc += -1.0 * (h - arg_interpolate_h) * v3
    dxc += 1.0 * (h - arg_interpolate_h) * v4
    dyc += -1.0 * (1.0 - w + arg_interpolate_w) * v1
    dyc += -1.0 * (w - arg_interpolate_w) * v2
    dyc += 1.0 * (1.0 - w + arg_interpolate_w) * v3
    dyc += 1.0 * (w - arg_interpolate_w) * v4
    dw += (0.5 - map_ratio_w) * (1.0 - h + arg_interpolate_h) * v1
    dw += (-0.5 + map_ratio_w) * (1.0 - h + arg_interpolate_h) * v2
    dw += (0.5 - map_ratio_w) * (h - arg_interpolate_h) * v3
    dw += (-0.5 + map_ratio_w) * (h - arg_interpolate_h) * v4
    dh += (0.5 - map_ratio_h) * (1.0 - w + arg_interpolate_w) * v1
    dh += (0.5 - map_ratio_h) * (w - arg_interpolate_w) * v2
    dh += (-0.5 + map_ratio_h) * (1.0 - w + arg_interpolate_w) * v3
    dh += (-0.5 + map_ratio_h) * (w - arg_interpolate_w) * v4
    weight = 0.0
    if coordinate_index == 1:      # x1
        weight = 0.5 * dxc - dw
    elif coordinate_index == 2:    # y1
        weight = 0.5 * dyc - dh
    elif coordinate_index == 3:    # x2
        weight = 0.5 * dxc + dw
    elif coordinate_index == 4:    # y2
        weight = 0.5 * dyc + dh
    return weight


def coordinate_backward(data: np.ndarray, roi, output_size, spatial_scale: float,
                        top_diff: np.ndarray) -> np.ndarray:
    """``ROIWarpingBackwardCoordinate`` and the sum of its buffer, for one RoI over all channels.

    Args:
        data: ``[C, H, W]`` (the RoI's image); roi: ``(x1, y1, x2, y2)``; top_diff: ``[C, PH, PW]``.

    Returns:
        float64 ``[5]``: ``d loss / d (batch index, x1, y1, x2, y2)`` (the first is 0).
    """
    pooled_h, pooled_w = output_size
    x1, y1, x2, y2 = (float(v) for v in roi)
    roi_start_w, roi_start_h = int(c_round(x1 * spatial_scale)), int(c_round(y1 * spatial_scale))
    roi_end_w, roi_end_h = int(c_round(x2 * spatial_scale)), int(c_round(y2 * spatial_scale))
    roi_width = max(roi_end_w - roi_start_w + 1, 1)
    roi_height = max(roi_end_h - roi_start_h + 1, 1)
    bin_size_h, bin_size_w = roi_height / pooled_h, roi_width / pooled_w
    grad = np.zeros(5)
    for c in range(data.shape[0]):
        _, arg_h, arg_w = forward(data[c], roi, output_size, spatial_scale)
        for coordinate_index in range(1, 5):
            for ph in range(pooled_h):
                for pw in range(pooled_w):
                    ih, iw = float(arg_h[ph, pw]), float(arg_w[ph, pw])
                    if ih == -1 and iw == -1:
                        # A skipped sample: the kernel then reads the map at negative indices.
                        raise ValueError("MNC's coordinate backward is undefined for a skipped sample")
                    output_h = (ih - roi_start_h) / bin_size_h
                    output_w = (iw - roi_start_w) / bin_size_w
                    weight = spatial_scale * get_coordinate_gradient(
                        coordinate_index, ih, iw, data[c], output_h, output_w, pooled_h, pooled_w)
                    grad[coordinate_index] += weight * float(top_diff[c, ph, pw])
    return grad
