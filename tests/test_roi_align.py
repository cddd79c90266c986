"""Tests for roiviz.roi_align: golden values, a loop reference, properties, trace vs op, errors,
gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from references import batched
from roiviz.roi_align import roi_align, roi_align_reference, trace_roi_align
from roiviz.records import MAX_TRACE_OUTPUT, Settings
from translation_cases import random_map, translated_case

ARANGE = np.arange(25, dtype=np.float32).reshape(5, 5)   # value of cell (r, c) is 5 r + c


def align(feature, box, output_size, stride=1.0, sampling_ratio=-1, aligned=True, reduce="avg"):
    """roi_align on one 2-D map and one box; returns [PH, PW]."""
    x = torch.as_tensor(np.asarray(feature, np.float32))[None, None]
    rois = torch.tensor([[0.0, *box]], dtype=torch.float32)
    return roi_align(x, rois, output_size, 1.0 / stride, sampling_ratio, aligned, reduce)[0, 0].numpy()


# ----------------------------------------------------------------------------------------------
# Slow reference: torchvision csrc/ops/cpu/roi_align_kernel.cpp (and ONNX Runtime's RoiAlign),
# line by line, in float32. ``reduce="max"`` takes the maximum of the interpolated samples
# (mmcv; 0 for a bin without samples), which is roiviz's documented choice.


def bilinear_interpolate(height: int, width: int, y, x):
    """The kernel's pre_calc for one sample: returns [(row, col, weight)] (empty off the map)."""
    f32 = np.float32
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return []
    if y <= 0:
        y = f32(0)
    if x <= 0:
        x = f32(0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_high = y_low = height - 1
        y = f32(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_high = x_low = width - 1
        x = f32(x_low)
    else:
        x_high = x_low + 1
    ly, lx = f32(y - f32(y_low)), f32(x - f32(x_low))
    hy, hx = f32(1) - ly, f32(1) - lx
    return [(y_low, x_low, hy * hx), (y_low, x_high, hy * lx),
            (y_high, x_low, ly * hx), (y_high, x_high, ly * lx)]


def roi_align_loop(x: np.ndarray, rois: np.ndarray, output_size, spatial_scale: float,
                   sampling_ratio: int, aligned: bool, reduce: str = "avg", grad_out=None):
    """Returns the output [K, C, PH, PW]; with ``grad_out`` also the input gradient."""
    f32 = np.float32
    _, channels, height, width = x.shape
    pooled_h, pooled_w = output_size
    out = np.zeros((len(rois), channels, pooled_h, pooled_w), np.float32)
    grad = np.zeros(x.shape, np.float64)
    scale = f32(spatial_scale)
    for k, roi in enumerate(np.asarray(rois, np.float32)):
        b = int(roi[0])
        offset = f32(0.5) if aligned else f32(0.0)
        roi_start_w = f32(roi[1]) * scale - offset
        roi_start_h = f32(roi[2]) * scale - offset
        roi_end_w = f32(roi[3]) * scale - offset
        roi_end_h = f32(roi[4]) * scale - offset
        roi_width = f32(roi_end_w - roi_start_w)
        roi_height = f32(roi_end_h - roi_start_h)
        if not aligned:  # force malformed RoIs to be 1x1
            roi_width = max(roi_width, f32(1.0))
            roi_height = max(roi_height, f32(1.0))
        bin_size_h = f32(roi_height / f32(pooled_h))
        bin_size_w = f32(roi_width / f32(pooled_w))
        grid_h = sampling_ratio if sampling_ratio > 0 else int(math.ceil(roi_height / f32(pooled_h)))
        grid_w = sampling_ratio if sampling_ratio > 0 else int(math.ceil(roi_width / f32(pooled_w)))
        count = max(grid_h * grid_w, 1)
        for ph in range(pooled_h):
            for pw in range(pooled_w):
                samples = []
                for iy in range(grid_h):
                    yy = roi_start_h + f32(ph) * bin_size_h + f32(iy + 0.5) * bin_size_h / f32(grid_h)
                    for ix in range(grid_w):
                        xx = roi_start_w + f32(pw) * bin_size_w + f32(ix + 0.5) * bin_size_w / f32(grid_w)
                        samples.append(bilinear_interpolate(height, width, f32(yy), f32(xx)))
                for c in range(channels):
                    values = [sum((w * x[b, c, r, q] for r, q, w in s), f32(0)) for s in samples]
                    if reduce == "avg":
                        out[k, c, ph, pw] = sum(values, f32(0)) / f32(count)
                        chosen, share = samples, 1.0 / count
                    elif values:
                        best = int(np.argmax(values))
                        out[k, c, ph, pw] = values[best]
                        chosen, share = [samples[best]], 1.0
                    else:
                        chosen, share = [], 1.0
                    if grad_out is not None:
                        for s in chosen:
                            for r, q, w in s:
                                grad[b, c, r, q] += grad_out[k, c, ph, pw] * float(w) * share
    return (out, grad) if grad_out is not None else out


def random_case(rng: np.random.Generator, n_boxes: int = 3):
    n, c = 2, 2
    h, w = (int(v) for v in rng.integers(1, 9, 2))
    stride = float(rng.choice([1, 2, 3, 4, 6, 8, 16, 32]))
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    kind = rng.integers(0, 4)
    xs = rng.uniform(-0.4 * w * stride, 1.4 * w * stride, (n_boxes, 2))
    ys = rng.uniform(-0.4 * h * stride, 1.4 * h * stride, (n_boxes, 2))
    if kind == 0:
        xs.sort(1), ys.sort(1)
    elif kind == 1:                                   # tiny boxes
        xs[:, 1] = xs[:, 0] + rng.uniform(0, stride, n_boxes)
        ys[:, 1] = ys[:, 0] + rng.uniform(0, stride, n_boxes)
    elif kind == 2:                                   # degenerate: zero width
        xs[:, 1] = xs[:, 0]
    rois = np.column_stack([rng.integers(0, n, n_boxes), xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]])
    output_size = tuple(int(v) for v in rng.integers(1, 5, 2))
    return x, rois.astype(np.float32), output_size, 1.0 / stride


# ----------------------------------------------------------------------------------------------
# (a) Golden values on the 5 x 5 arange map. Inside [0, 4] (library frame) the interpolant of
# this map is exactly 5 y + x, so a bin's average is 5 * (mean sample y) + (mean sample x).


def test_golden_aligned():
    # Box (1, 1, 3, 3), stride 1, aligned: library frame [0.5, 2.5], bins of 1, 2 samples per
    # side at 0.75, 1.25 (mean 1) and 1.75, 2.25 (mean 2). The bins are cells 1 and 2 exactly:
    # 5 * 1 + 1 = 6, 7, 11, 12, the values of cells (1,1), (1,2), (2,1), (2,2).
    np.testing.assert_allclose(align(ARANGE, (1, 1, 3, 3), 2, sampling_ratio=2), [[6, 7], [11, 12]])


def test_golden_unaligned_half_cell_shift():
    # aligned=False: library frame [1, 3], samples 1.25, 1.75 (mean 1.5) and 2.5: half a cell
    # down and right of the drawn box: 5 * 1.5 + 1.5 = 9, 10, 14, 15.
    np.testing.assert_allclose(align(ARANGE, (1, 1, 3, 3), 2, sampling_ratio=2, aligned=False),
                               [[9, 10], [14, 15]])


def test_golden_clamp_at_border():
    # Box (0, 0, 2, 2), aligned, 1 x 1, 4 x 4 samples: library [-0.5, 1.5], samples at
    # -0.25, 0.25, 0.75, 1.25; -0.25 is in [-1, 0) and clamps to 0: mean (0 + .25 + .75 + 1.25)
    # / 4 = 0.5625 per axis -> 5 * 0.5625 + 0.5625 = 3.375.
    np.testing.assert_allclose(align(ARANGE, (0, 0, 2, 2), 1, sampling_ratio=4), [[3.375]])


def test_golden_off_map_sample_counts_as_zero():
    # Box (3, 1, 6.5, 2), aligned=False, 1 x 1, 2 x 2 samples: x in [3, 6.5], samples at
    # 3 + 3.5/4 = 3.875 and 3 + 3 * 3.5/4 = 5.625 (> W = 5: off the map, value 0 but still
    # counted); y in [1, 2]: 1.25, 1.75. On-map samples: 5 * 1.25 + 3.875 = 10.125 and
    # 5 * 1.75 + 3.875 = 12.625. Average over 4: 22.75 / 4 = 5.6875.
    np.testing.assert_allclose(align(ARANGE, (3, 1, 6.5, 2), 1, sampling_ratio=2, aligned=False),
                               [[5.6875]])


def test_golden_max_and_adaptive():
    # Box (1, 1, 3, 3), aligned, 1 x 1, 2 x 2 samples at library 1.0 and 2.0: the samples are
    # cells (1,1)=6, (1,2)=7, (2,1)=11, (2,2)=12: max 12, avg 9.
    np.testing.assert_allclose(align(ARANGE, (1, 1, 3, 3), 1, sampling_ratio=2, reduce="max"), [[12]])
    np.testing.assert_allclose(align(ARANGE, (1, 1, 3, 3), 1, sampling_ratio=2), [[9]])
    # Adaptive: box (0.5, 0.5, 3.5, 2.5) is 3 wide and 2 high -> 2 x 3 samples; library x in
    # [0, 3]: 0.5, 1.5, 2.5 (mean 1.5); y in [0, 2]: 0.5, 1.5 (mean 1): 5 + 1.5 = 6.5.
    np.testing.assert_allclose(align(ARANGE, (0.5, 0.5, 3.5, 2.5), 1, sampling_ratio=0), [[6.5]])
    trace = trace_roi_align(ARANGE, (0.5, 0.5, 3.5, 2.5), Settings(output_size=(1, 1), stride=1.0,
                                                                   sampling_ratio=0))
    assert trace.grid == (2, 3)


def test_golden_stride():
    # Stride 4: box (4, 4, 12, 12) -> cells [1, 3), aligned, 2 x 2 output, 1 sample per bin at
    # the bin centre: library 1.0 and 2.0 -> the cells' own values 6, 7, 11, 12.
    np.testing.assert_allclose(align(ARANGE, (4, 4, 12, 12), 2, stride=4, sampling_ratio=1),
                               [[6, 7], [11, 12]])


# ----------------------------------------------------------------------------------------------
# (b) Loop reference on random cases (forward and backward)


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("reduce", ["avg", "max"])
def test_matches_loop_reference(aligned, reduce, monkeypatch):
    if aligned:   # one RoI per group and batch: exercises the batching
        monkeypatch.setattr("roiviz._separable.BATCH_ENTRIES", 1)
    rng = np.random.default_rng([int(aligned), len(reduce)])
    for case in range(30):
        x, rois, output_size, scale = random_case(rng)
        sampling_ratio = int(rng.choice([-1, 0, 1, 2, 3]))
        grad_out = rng.standard_normal((len(rois), x.shape[1], *output_size)).astype(np.float32)
        expected, expected_grad = roi_align_loop(x, rois, output_size, scale, sampling_ratio,
                                                 aligned, reduce, grad_out)
        # The readable reference shown by "Show the code" follows the kernel too.
        np.testing.assert_allclose(batched(roi_align_reference, x, rois, output_size, scale,
                                           sampling_ratio=sampling_ratio, aligned=aligned, reduce=reduce),
                                   expected, atol=1e-5, err_msg=f"case {case}")
        xt = torch.tensor(x, requires_grad=True)
        out = roi_align(xt, torch.tensor(rois), output_size, scale, sampling_ratio, aligned, reduce)
        np.testing.assert_allclose(out.detach().numpy(), expected, atol=1e-5, err_msg=f"case {case}")
        out.backward(torch.tensor(grad_out))
        np.testing.assert_allclose(xt.grad.numpy(), expected_grad, atol=1e-4, err_msg=f"case {case}")


# ----------------------------------------------------------------------------------------------
# (c) Properties

strides_pow2 = st.sampled_from([1, 2, 4, 8, 16, 32])


@settings(max_examples=50, deadline=None)
@given(st.data(), strides_pow2, st.booleans(), st.sampled_from([-1, 1, 2, 3]),
       st.sampled_from(["avg", "max"]), st.integers(0, 3), st.integers(0, 3))
def test_integer_translation_invariance(data, stride, aligned, ratio, reduce, dy, dx):
    feature, box, shifted, moved = translated_case(data, stride, dy, dx, pad_value=3.25)
    kwargs = dict(stride=stride, sampling_ratio=ratio, aligned=aligned, reduce=reduce)
    np.testing.assert_allclose(align(feature, box, (2, 3), **kwargs),
                               align(shifted, moved, (2, 3), **kwargs), atol=1e-5)


@pytest.mark.parametrize("batch_entries, padding, table_elements",
                         [(1, 1.5, 1 << 22), (3000, 1.5, 1 << 22), (1 << 22, 1e9, 1 << 22), (3000, 1.5, 1)])
def test_batching_changes_no_bit(batch_entries, padding, table_elements, monkeypatch):
    # Boxes of very different shapes (small squares, long thin strips, one covering the map):
    # roiviz._separable groups boxes whose bags have similar shapes, out of order, pads each
    # group's bags with weight-0 entries, cuts the groups into batches, and the channels into
    # groups (table_elements=1: one channel at a time). Each box's output must not depend on
    # its group, its padding, its batch or its channel group; the input's gradient only up to
    # float rounding (the batches' contributions to a cell are added in another order).
    rng = np.random.default_rng(7)
    x = torch.tensor(rng.standard_normal((2, 3, 40, 50)).astype(np.float32), requires_grad=True)
    corner = rng.uniform(-5, 45, (60, 2))
    size = np.where(rng.uniform(size=(60, 2)) < 0.3, rng.uniform(20, 60, (60, 2)), rng.uniform(0.5, 6, (60, 2)))
    rois = torch.tensor(np.column_stack([rng.integers(0, 2, 60), corner, corner + size]).astype(np.float32))
    rois[0] = torch.tensor([1, -3, -3, 52, 43])
    grad_out = torch.randn(60, 3, 4, 5, generator=torch.Generator().manual_seed(3))

    def run():
        x.grad = None
        out = roi_align(x, rois, (4, 5), 1.0, -1, True)
        out.backward(grad_out)
        return out.detach(), x.grad.clone()

    default = run()
    monkeypatch.setattr("roiviz._separable.BATCH_ENTRIES", batch_entries)
    monkeypatch.setattr("roiviz._separable.PADDING", padding)
    monkeypatch.setattr("roiviz._separable.TABLE_ELEMENTS", table_elements)
    batched = run()
    torch.testing.assert_close(default[0], batched[0], rtol=0, atol=0)
    torch.testing.assert_close(default[1], batched[1], rtol=0, atol=1e-5)


@pytest.mark.parametrize("window_elements, window_padding, transpose_block",
                         [(1, 2.0, 64), (3 * 40, 1.0, 7), (1 << 30, 1e9, 1 << 20)])
def test_backward_chunking_changes_only_rounding(window_elements, window_padding, transpose_block, monkeypatch):
    # The one-pass backward (roiviz._separable.separable_backward) takes RoIs in chunks of
    # similar windows, padded, and transposes the map's gradient back in blocks: one RoI per
    # chunk, chunks without padding and an odd block, or every RoI in one chunk. The map's and
    # the boxes' gradients must not depend on it beyond float rounding, and must equal the
    # gradients from autograd through the forward's own embedding_bag path.
    from roiviz import _separable
    from roiviz.roi_align import _avg_axis
    from roiviz.geometry import align_mapping

    rng = np.random.default_rng(8)
    x = torch.tensor(rng.standard_normal((2, 3, 30, 40)))
    corner = rng.uniform(-4, 36, (50, 2))
    size = np.where(rng.uniform(size=(50, 2)) < 0.3, rng.uniform(15, 45, (50, 2)), rng.uniform(0.5, 6, (50, 2)))
    rois = torch.tensor(np.column_stack([rng.integers(0, 2, 50), corner, corner + size]))
    grad_out = torch.randn(50, 3, 4, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)

    def run():
        xg, bg = x.clone().requires_grad_(), rois.clone().requires_grad_()
        roi_align(xg, bg, (4, 5), 0.5, -1, True).backward(grad_out)
        return xg.grad, bg.grad

    default = run()
    monkeypatch.setattr(_separable, "WINDOW_ELEMENTS", window_elements)
    monkeypatch.setattr(_separable, "WINDOW_PADDING", window_padding)
    monkeypatch.setattr(_separable, "TRANSPOSE_BLOCK", transpose_block)
    chunked = run()
    torch.testing.assert_close(chunked[0], default[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(chunked[1], default[1], rtol=0, atol=1e-12)
    # The map's gradient against autograd through separable_apply (embedding_bag's backward).
    start_x, length_x = align_mapping(rois[:, 1], rois[:, 3], 0.5, True)
    start_y, length_y = align_mapping(rois[:, 2], rois[:, 4], 0.5, True)
    rows = _avg_axis(start_y, length_y, 4, 30, -1, torch.float64)
    cols = _avg_axis(start_x, length_x, 5, 40, -1, torch.float64)
    xg = x.clone().requires_grad_()
    _separable.separable_apply(xg, rois[:, 0].long(), rows, cols).backward(grad_out)
    torch.testing.assert_close(chunked[0], xg.grad, rtol=0, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.data(), strides_pow2, st.sampled_from([0, 1, 2, 4]))
def test_halving_box_and_doubling_scale(data, stride, ratio):
    # Image and box halved, stride halved (spatial scale doubled): same feature coordinates.
    feature = random_map(data, 6, 7)
    box = tuple(data.draw(st.integers(-16, 16 * 8)) / 16 * stride for _ in range(4))
    half = tuple(v / 2 for v in box)
    np.testing.assert_array_equal(align(feature, box, 3, stride, ratio, aligned=True),
                                  align(feature, half, 3, stride / 2, ratio, aligned=True))


def test_aligned_true_is_resolution_independent():
    # A linear ramp F(x, y) = 0.3 x - 0.2 y + 1 of image pixels, sampled at cell centres at
    # stride 4 and at stride 8. Bilinear interpolation of a linear map is exact, so RoI Align
    # returns F at the sample points. With aligned=True these are the same image points at both
    # strides, so the outputs agree; aligned=False shifts them by half a cell, i.e. by 2 px at
    # stride 4 and 4 px at stride 8, so the outputs differ by 0.1 * 2 * (0.3 - 0.2) = 0.2.
    def ramp(stride, n):
        c = (np.arange(n) + 0.5) * stride
        return (0.3 * c[None, :] - 0.2 * c[:, None] + 1).astype(np.float32)
    box = (18.0, 14.0, 46.0, 40.0)        # inside the centres of the coarse map (4 .. 60 px)
    fine, coarse = ramp(4, 16), ramp(8, 8)
    for ratio in (1, 2, 0):
        a = align(fine, box, (3, 4), 4, ratio, aligned=True)
        b = align(coarse, box, (3, 4), 8, ratio, aligned=True)
        np.testing.assert_allclose(a, b, atol=1e-4)
    a = align(fine, box, (3, 4), 4, 2, aligned=False)
    b = align(coarse, box, (3, 4), 8, 2, aligned=False)
    np.testing.assert_allclose(b - a, np.full((3, 4), 0.2), atol=1e-4)


@settings(max_examples=50, deadline=None)
@given(st.data(), st.booleans(), st.sampled_from([-1, 0, 1, 3]))
def test_average_within_map_range(data, aligned, ratio):
    h, w = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6))
    feature = random_map(data, h, w) + data.draw(st.floats(-3, 3))
    lo, hi = float(feature.min()), float(feature.max())
    # Anywhere: off-map samples are 0, so the average lies within [min(lo, 0), max(hi, 0)].
    box = tuple(data.draw(st.floats(-3 * w, 4 * w)) for _ in range(4))
    out = align(feature, box, (2, 2), 1.0, ratio, aligned)
    assert np.all(out >= min(lo, 0) - 1e-5) and np.all(out <= max(hi, 0) + 1e-5)
    # Boxes on the map (with room for aligned=False's one-cell minimum): within [lo, hi].
    u1, v1 = data.draw(st.floats(0, max(w - 1.0, 0))), data.draw(st.floats(0, max(h - 1.0, 0)))
    box = (u1, v1, data.draw(st.floats(u1 + 0.01, w)), data.draw(st.floats(v1 + 0.01, h)))
    out = align(feature, box, (2, 3), 1.0, ratio, aligned)
    assert np.all(out >= lo - 1e-5) and np.all(out <= hi + 1e-5)


@settings(max_examples=40, deadline=None)
@given(st.floats(-100, 100, width=32), st.data(), st.booleans(), st.sampled_from([-1, 1, 2]),
       st.sampled_from(["avg", "max"]), st.sampled_from([1, 4, 32]))
def test_constant_map(value, data, aligned, ratio, reduce, stride):
    h, w = 5, 6
    u1, v1 = data.draw(st.floats(0, w - 1.0)), data.draw(st.floats(0, h - 1.0))
    u2, v2 = data.draw(st.floats(u1 + 0.01, w)), data.draw(st.floats(v1 + 0.01, h))
    box = tuple(v * stride for v in (u1, v1, u2, v2))
    out = align(np.full((h, w), value, np.float32), box, (3, 2), stride, ratio, aligned, reduce)
    np.testing.assert_allclose(out, np.full((3, 2), value), rtol=1e-5, atol=1e-5)


def test_empty_and_reversed_boxes_give_zeros():
    x = torch.rand(2, 3, 5, 6) + 1
    # aligned=True with adaptive sampling: a zero-size or reversed box has no sample -> zeros.
    rois = torch.tensor([[0, 2, 2, 2, 4], [1, 2, 2, 4, 2], [0, 4, 4, 1, 1], [1, 3, 1, 2, 4]],
                        dtype=torch.float32)
    for ratio in (-1, 0):
        for reduce in ("avg", "max"):
            out = roi_align(x, rois, (2, 3), 1.0, ratio, True, reduce)
            assert out.shape == (4, 3, 2, 3) and torch.all(out == 0)
    # Far off the map (more than a cell away) for every option.
    far = torch.tensor([[0, 20, 20, 30, 30], [1, -30, -30, -2.5, -2.5]], dtype=torch.float32)
    for aligned in (True, False):
        for ratio in (-1, 1, 2):
            out = roi_align(x, far, 2, 1.0, ratio, aligned)
            assert out.shape == (2, 3, 2, 2) and torch.all(out == 0)
    for reduce in ("avg", "max"):
        assert roi_align(x, torch.zeros(0, 5), (3, 1), reduce=reduce).shape == (0, 3, 3, 1)
    # Documented non-zero cases: aligned=False widens a reversed box to one cell, and a fixed
    # sampling_ratio samples a reversed aligned box in mirror image.
    assert torch.all(roi_align(x, rois[2:3], 1, 1.0, -1, False) > 0)
    assert torch.all(roi_align(x, rois[2:3], 1, 1.0, 2, True) > 0)


# ----------------------------------------------------------------------------------------------
# (d) Trace = op


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("reduce", ["avg", "max"])
@pytest.mark.parametrize("output_size", [(1, 1), (2, 3), (7, 7), (4, 1)])
@pytest.mark.parametrize("stride", [1.0, 3.0, 16.0, 32.0])
def test_trace_equals_op(aligned, reduce, output_size, stride):
    rng = np.random.default_rng([int(aligned), len(reduce), *output_size, int(stride)])
    feature = rng.standard_normal((8, 10)).astype(np.float32)
    for ratio in (-1, 0, 1, 2, 3):
        corners = rng.uniform([-2, -2, -2, -2], [11, 9, 11, 9]) * stride
        if rng.random() < 0.3:   # small boxes too
            corners[2:] = corners[:2] + rng.uniform(0.05, 1.5, 2) * stride
        trace = trace_roi_align(feature, tuple(corners), Settings(
            output_size=output_size, stride=stride, sampling_ratio=ratio, aligned=aligned, reduce=reduce))
        op = align(feature, trace.image_box, output_size, stride, ratio, aligned, reduce)
        np.testing.assert_allclose(trace.output, op, atol=1e-5)


# ----------------------------------------------------------------------------------------------
# Gradients


@pytest.mark.parametrize("aligned", [True, False])
def test_gradcheck(aligned):
    x = torch.randn(2, 2, 5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0),
                    requires_grad=True)
    rois = torch.tensor([[0, 0.5, 1.2, 4.1, 3.9], [1, -1.5, 2.0, 3.0, 7.0], [1, 3.3, 0.2, 5.8, 2.1]],
                        dtype=torch.float64)
    for ratio in (-1, 2):
        assert torch.autograd.gradcheck(
            lambda t: roi_align(t, rois, (2, 3), 1.0, ratio, aligned), (x,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("reduce", ["avg", "max"])
@pytest.mark.parametrize("ratio", [-1, 2])
def test_backward_equals_trace_cell_weights(reduce, ratio):
    rng = np.random.default_rng([len(reduce), ratio + 2])
    feature = rng.standard_normal((6, 7)).astype(np.float32)
    for box in [(3.0, 5.0, 20.0, 17.0), (-6.0, 1.0, 9.0, 30.0), (10.0, 10.0, 26.0, 21.0)]:
        settings_ = Settings(output_size=(3, 2), stride=4.0, sampling_ratio=ratio, reduce=reduce)
        trace = trace_roi_align(feature, box, settings_)
        grad_out = rng.standard_normal((3, 2)).astype(np.float32)
        expected = np.zeros((6, 7))
        for b in trace.bins:
            for (r, c), w in b.cell_weights:
                expected[r, c] += grad_out[b.row, b.col] * w
        x = torch.tensor(feature)[None, None].requires_grad_(True)
        out = roi_align(x, torch.tensor([[0.0, *box]]), (3, 2), 0.25, ratio, True, reduce)
        out.backward(torch.tensor(grad_out)[None, None])
        np.testing.assert_allclose(x.grad[0, 0].numpy(), expected, atol=1e-5)


# ----------------------------------------------------------------------------------------------
# (e) Argument errors


def test_argument_errors():
    x = torch.rand(2, 1, 5, 5)
    rois = torch.tensor([[0.0, 0, 0, 2, 2]])
    cases = [
        (lambda: roi_align(x, torch.tensor([[0.0, float("nan"), 0, 2, 2]]), 2), ValueError, "boxes"),
        (lambda: roi_align(x, [torch.tensor([[0.0, 0, float("-inf"), 2]]), torch.zeros(0, 4)], 2),
         ValueError, "boxes"),
        (lambda: roi_align(x, rois, 0), ValueError, "output_size"),
        (lambda: roi_align(x, rois, (3, -1)), ValueError, "output_size"),
        (lambda: roi_align(x, rois, 2, 1.0, 1.5), ValueError, "sampling_ratio"),
        (lambda: roi_align(x, rois, 2, 1.0, True), ValueError, "sampling_ratio"),
        (lambda: roi_align(x, rois, 2, 0.0), ValueError, "spatial_scale"),
        (lambda: roi_align(x, rois, 2, -1.0), ValueError, "spatial_scale"),
        (lambda: roi_align(x, rois, 2, float("inf")), ValueError, "spatial_scale"),
        (lambda: roi_align(x[None], rois, 2), ValueError, "input"),
        (lambda: roi_align(x.to(torch.int64), rois, 2), ValueError, "input"),
        (lambda: roi_align(x.numpy(), rois, 2), TypeError, "input"),
        (lambda: roi_align(x, rois[None], 2), ValueError, "boxes"),
        (lambda: roi_align(x, "boxes", 2), TypeError, "boxes"),
        (lambda: roi_align(x, torch.tensor([[5.0, 0, 0, 2, 2]]), 2), ValueError, "batch"),
        (lambda: roi_align(x, rois, 2, reduce="sum"), ValueError, "reduce"),
    ]
    for call, error, name in cases:
        with pytest.raises(error, match=name):
            call()


def test_trace_errors():
    with pytest.raises(ValueError, match="output"):
        trace_roi_align(ARANGE, (0, 0, 4, 4), Settings(output_size=(2, MAX_TRACE_OUTPUT + 1), stride=1.0))
    for box in [(1, 1, 1, 3), (1, 3, 3, 3)]:
        with pytest.raises(ValueError, match="box"):
            trace_roi_align(ARANGE, box, Settings(stride=1.0))
    with pytest.raises(ValueError, match="sampling_ratio"):
        trace_roi_align(ARANGE, (0, 0, 4, 4), Settings(stride=1.0, sampling_ratio=1.5))
    with pytest.raises(ValueError, match="reduce"):
        trace_roi_align(ARANGE, (0, 0, 4, 4), Settings(stride=1.0, reduce="median"))
    with pytest.raises(ValueError, match="samples"):   # too many samples to draw
        trace_roi_align(ARANGE, (0, 0, 4, 4), Settings(output_size=(8, 8), stride=1.0, sampling_ratio=40))
    with pytest.raises(ValueError, match="feature"):
        trace_roi_align(np.full((3, 3), np.nan), (0, 0, 2, 2), Settings(stride=1.0))
    with pytest.raises(TypeError, match="settings"):
        trace_roi_align(ARANGE, (0, 0, 4, 4), {"stride": 1.0})


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("reduce", ["avg", "max"])
def test_box_gradient_equals_finite_differences(reduce, aligned):
    # The "max" box gradient has no library to compare with (torchvision's differentiable
    # _roi_align has no max mode): central finite differences in float64 are the independent
    # reference. Boxes are random, inside the map, with a fixed sampling ratio, so no sample sits
    # on a cell line and no two samples tie (a kink there has no derivative: probability 0).
    gen = torch.Generator().manual_seed(7 + (reduce == "max") + 2 * aligned)
    x = torch.randn(1, 3, 9, 11, dtype=torch.float64, generator=gen)
    for _ in range(8):
        lo = torch.rand(2, generator=gen, dtype=torch.float64) * torch.tensor([5.0, 4.0])
        size = 0.6 + torch.rand(2, generator=gen, dtype=torch.float64) * 4.0
        box = torch.cat([torch.zeros(1, dtype=torch.float64), lo, lo + size]).view(1, 5)
        for ratio in (1, 3):
            coords = box[:, 1:].clone().requires_grad_(True)

            def f(c):
                return roi_align(x, torch.cat([box[:, :1], c], dim=1), (2, 3), 1.0, ratio, aligned,
                                 reduce)

            assert torch.autograd.gradcheck(f, (coords,), eps=1e-7, atol=1e-5)
