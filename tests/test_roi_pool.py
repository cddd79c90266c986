"""Tests for roiviz.roi_pool: golden values, a loop reference, properties, trace vs op, errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from references import batched
from roiviz.roi_pool import roi_pool, roi_pool_reference, trace_roi_pool
from roiviz.records import MAX_TRACE_OUTPUT, Settings

FLT_MAX = float(np.finfo(np.float32).max)
ARANGE = np.arange(25, dtype=np.float32).reshape(5, 5)   # value of cell (r, c) is 5 r + c


def pool(feature, box, output_size, stride=1.0, convention="library"):
    """roi_pool on one 2-D map and one box; returns [PH, PW]."""
    x = torch.as_tensor(np.asarray(feature, np.float32))[None, None]
    rois = torch.tensor([[0.0, *box]], dtype=torch.float32)
    return roi_pool(x, rois, output_size, 1.0 / stride, convention=convention)[0, 0].numpy()


# ----------------------------------------------------------------------------------------------
# Slow reference: torchvision csrc/ops/cpu/roi_pool_kernel.cpp, line by line, in float32.


def _c_round(v: np.float32) -> int:
    """C's round of a float32 (exact in float64): halves away from zero."""
    return int(math.copysign(math.floor(abs(float(v)) + 0.5), float(v)))


def roi_pool_loop(x: np.ndarray, rois: np.ndarray, output_size, spatial_scale: float,
                  convention: str = "library"):
    """Returns (output [K, C, PH, PW], argmax [K, C, PH, PW] as flat h * W + w, -1 if empty)."""
    f32 = np.float32
    _, channels, height, width = x.shape
    pooled_h, pooled_w = output_size
    out = np.zeros((len(rois), channels, pooled_h, pooled_w), np.float32)
    argmax = np.full(out.shape, -1, np.int64)
    scale = f32(spatial_scale)
    for k, roi in enumerate(np.asarray(rois, np.float32)):
        b = int(roi[0])
        u1, v1, u2, v2 = f32(roi[1]) * scale, f32(roi[2]) * scale, f32(roi[3]) * scale, f32(roi[4]) * scale
        if convention == "library":
            roi_start_w, roi_start_h = _c_round(u1), _c_round(v1)
            roi_end_w, roi_end_h = _c_round(u2), _c_round(v2)
            roi_width = max(roi_end_w - roi_start_w + 1, 1)       # force malformed RoIs to 1x1
            roi_height = max(roi_end_h - roi_start_h + 1, 1)
            bin_size_h = f32(roi_height) / f32(pooled_h)
            bin_size_w = f32(roi_width) / f32(pooled_w)
        else:  # article: integer part of corner and size, equal whole-cell bins
            roi_start_w, roi_start_h = math.floor(u1), math.floor(v1)
            roi_width = max(math.floor(f32(u2 - u1)), 1)
            roi_height = max(math.floor(f32(v2 - v1)), 1)
            cells_h, cells_w = max(roi_height // pooled_h, 1), max(roi_width // pooled_w, 1)
        for ph in range(pooled_h):
            for pw in range(pooled_w):
                if convention == "library":
                    hstart = int(math.floor(f32(ph) * bin_size_h))
                    wstart = int(math.floor(f32(pw) * bin_size_w))
                    hend = int(math.ceil(f32(ph + 1) * bin_size_h))
                    wend = int(math.ceil(f32(pw + 1) * bin_size_w))
                else:
                    hstart, wstart = ph * cells_h, pw * cells_w
                    hend, wend = hstart + cells_h, wstart + cells_w
                # Add roi offsets and clip to input boundaries
                hstart = min(max(hstart + roi_start_h, 0), height)
                hend = min(max(hend + roi_start_h, 0), height)
                wstart = min(max(wstart + roi_start_w, 0), width)
                wend = min(max(wend + roi_start_w, 0), width)
                is_empty = (hend <= hstart) or (wend <= wstart)
                for c in range(channels):
                    maxval = 0.0 if is_empty else -FLT_MAX
                    maxidx = -1
                    for h in range(hstart, hend):
                        for w in range(wstart, wend):
                            if x[b, c, h, w] > maxval:
                                maxval, maxidx = x[b, c, h, w], h * width + w
                    out[k, c, ph, pw] = maxval
                    argmax[k, c, ph, pw] = maxidx
    return out, argmax


def random_case(rng: np.random.Generator, n_boxes: int = 4):
    n, c = 2, 2
    h, w = (int(v) for v in rng.integers(1, 9, 2))
    stride = float(rng.choice([1, 2, 3, 4, 7, 8, 16, 32]))
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    kind = rng.integers(0, 4)
    xs = rng.uniform(-0.3 * w * stride, 1.3 * w * stride, (n_boxes, 2))
    ys = rng.uniform(-0.3 * h * stride, 1.3 * h * stride, (n_boxes, 2))
    if kind == 0:                         # sorted corners
        xs.sort(1), ys.sort(1)
    elif kind == 1:                       # tiny: less than a cell
        xs[:, 1] = xs[:, 0] + rng.uniform(0, stride, n_boxes)
        ys[:, 1] = ys[:, 0] + rng.uniform(0, stride, n_boxes)
    elif kind == 2:                       # halves of cells: exact .5 ties for C's round
        xs, ys = np.round(xs / stride * 2) / 2 * stride, np.round(ys / stride * 2) / 2 * stride
    rois = np.column_stack([rng.integers(0, n, n_boxes), xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]])
    output_size = tuple(int(v) for v in rng.integers(1, 6, 2))
    return x, rois.astype(np.float32), output_size, 1.0 / stride


# ----------------------------------------------------------------------------------------------
# (a) Golden values on the 5 x 5 arange map


def test_golden_library():
    # Box (0, 0, 4, 4), stride 1: round -> cells 0..4 (inclusive, +1), 5 cells, 2 x 2 output.
    # Bin size 2.5: rows/cols [floor(0), ceil(2.5)) = [0, 3) and [floor(2.5), ceil(5)) = [2, 5):
    # overlapping at row/col 2. Maxima on the increasing map are the bins' bottom-right cells:
    # (2, 2) = 12, (2, 4) = 14, (4, 2) = 22, (4, 4) = 24.
    np.testing.assert_array_equal(pool(ARANGE, (0, 0, 4, 4), 2), [[12, 14], [22, 24]])
    # The decreasing map 24 - arange: maxima at the top-left cells (0, 0), (0, 2), (2, 0), (2, 2).
    np.testing.assert_array_equal(pool(24 - ARANGE, (0, 0, 4, 4), 2), [[24, 22], [14, 12]])


def test_golden_library_stride_2():
    # Box (1, 2.6, 5, 7), stride 2 -> (0.5, 1.3, 2.5, 3.5) cells. round: x 1..3 (round(0.5) = 1,
    # round(2.5) = 3, halves away from zero), y 1..4. Output (2, 3): rows split 4 / 2 = 2 ->
    # [1, 3), [3, 5); cols 3 / 3 = 1 -> [1, 2), [2, 3), [3, 4).
    # Bottom-right cells: (2, 1) = 11, (2, 2) = 12, (2, 3) = 13, (4, 1) = 21, 22, 23.
    np.testing.assert_array_equal(pool(ARANGE, (1, 2.6, 5, 7), (2, 3), stride=2),
                                  [[11, 12, 13], [21, 22, 23]])


def test_golden_article():
    # Box (0, 0, 4, 4): floor -> start 0, size floor(4) = 4 cells; 2 x 2 bins of 4 // 2 = 2
    # cells: [0, 2), [2, 4). Row 4 and column 4 are not read. Maxima: (1, 1) = 6, (1, 3) = 8,
    # (3, 1) = 16, (3, 3) = 18.
    np.testing.assert_array_equal(pool(ARANGE, (0, 0, 4, 4), 2, convention="article"),
                                  [[6, 8], [16, 18]])
    # 3 x 3 output of the same box: bins of 4 // 3 = 1 cell, rows/cols 0, 1, 2; 3 dropped.
    np.testing.assert_array_equal(pool(ARANGE, (0, 0, 4, 4), 3, convention="article"),
                                  [[0, 1, 2], [5, 6, 7], [10, 11, 12]])


def test_golden_partly_outside():
    # Box (3, 3, 7, 7): cells 3..7, 5 cells, bins [3, 6) and [5, 8) clipped to [3, 5) and
    # [5, 5) (empty -> 0). Only bin (0, 0) reads a cell: max of rows/cols 3..4 = (4, 4) = 24.
    np.testing.assert_array_equal(pool(ARANGE, (3, 3, 7, 7), 2), [[24, 0], [0, 0]])


def test_golden_reversed_box_is_one_cell():
    # x2 < x1: roi_width = max(round(1) - round(3) + 1, 1) = 1 cell at column 3; same for y at
    # row 2. Every bin of the 2 x 2 output reads cell (2, 3) = 13 (bin size 0.5: [0, 1), [0, 1)).
    np.testing.assert_array_equal(pool(ARANGE, (3, 2, 1, 0), 2), [[13, 13], [13, 13]])


# ----------------------------------------------------------------------------------------------
# (b) Loop reference on random cases


@pytest.mark.parametrize("chunk_elements", [None, 1])
@pytest.mark.parametrize("convention", ["library", "article"])
def test_matches_loop_reference(convention, chunk_elements, monkeypatch):
    if chunk_elements is not None:   # one RoI per chunk: exercises the chunking and its padding
        monkeypatch.setattr("roiviz._separable.CHUNK_ELEMENTS", chunk_elements)
    rng = np.random.default_rng(1 if convention == "library" else 2)
    for _ in range(60):
        x, rois, output_size, scale = random_case(rng)
        expected, argmax = roi_pool_loop(x, rois, output_size, scale, convention)
        # The readable reference shown by "Show the code" follows the kernel too.
        np.testing.assert_array_equal(
            batched(roi_pool_reference, x, rois, output_size, scale, convention=convention), expected)
        xt = torch.tensor(x, requires_grad=True)
        out = roi_pool(xt, torch.tensor(rois), output_size, scale, convention=convention)
        np.testing.assert_array_equal(out.detach().numpy(), expected)
        # Backward: each bin's gradient goes to the loop's argmax (random values: no ties).
        grad_out = rng.standard_normal(out.shape).astype(np.float32)
        out.backward(torch.tensor(grad_out))
        grad = np.zeros(x.shape, np.float64)
        height, width = x.shape[2:]
        for k, c, ph, pw in itertools.product(*(range(s) for s in out.shape)):
            idx = argmax[k, c, ph, pw]
            if idx >= 0:
                grad[int(rois[k, 0]), c, idx // width, idx % width] += grad_out[k, c, ph, pw]
        np.testing.assert_allclose(xt.grad.numpy(), grad, atol=1e-5)


# ----------------------------------------------------------------------------------------------
# (c) Properties


dyadic = st.integers(0, 16 * 6).map(lambda v: v / 16)   # exact in float32
strides_pow2 = st.sampled_from([1, 2, 4, 8, 16, 32])
conventions = st.sampled_from(["library", "article"])


@settings(max_examples=60, deadline=None)
@given(st.data(), strides_pow2, conventions, st.integers(0, 3), st.integers(0, 3))
def test_integer_translation_invariance(data, stride, convention, dy, dx):
    h, w = data.draw(st.integers(2, 7)), data.draw(st.integers(2, 7))
    feature = np.asarray(data.draw(st.lists(st.floats(-5, 5, width=32), min_size=h * w,
                                            max_size=h * w)), np.float32).reshape(h, w)
    u1 = data.draw(st.integers(0, 16 * (w - 1)).map(lambda v: v / 16))
    v1 = data.draw(st.integers(0, 16 * (h - 1)).map(lambda v: v / 16))
    u2, v2 = u1 + data.draw(dyadic), v1 + data.draw(dyadic)
    box = np.array([u1, v1, u2, v2]) * stride
    output_size = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)))
    # Shift the content by (dy, dx) cells (new cells at the top-left hold other values) and the
    # box by (dx, dy) * stride pixels: the bins move with it, the output does not change.
    shifted = np.full((h + dy, w + dx), 7.5, np.float32)
    shifted[dy:, dx:] = feature
    moved = box + np.array([dx, dy, dx, dy]) * stride
    np.testing.assert_array_equal(pool(feature, box, output_size, stride, convention),
                                  pool(shifted, moved, output_size, stride, convention))


@settings(max_examples=40, deadline=None)
@given(st.data(), strides_pow2, conventions)
def test_halving_box_and_doubling_scale(data, stride, convention):
    feature = np.random.default_rng(data.draw(st.integers(0, 100))).standard_normal((6, 7))
    box = tuple(data.draw(st.integers(-16, 16 * 8)) / 16 * stride for _ in range(4))
    half = tuple(v / 2 for v in box)
    np.testing.assert_array_equal(pool(feature, box, 3, stride, convention),
                                  pool(feature, half, 3, stride / 2, convention))


@settings(max_examples=40, deadline=None)
@given(st.floats(-100, 100, width=32), st.data(), conventions)
def test_constant_map(value, data, convention):
    # Boxes whose bins all lie on the map (library: snapped end round(u2) + 1 <= W needs
    # u2 < W - 0.5; article: start + PW * cells <= W).
    h, w = 6, 7
    ph, pw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    u1 = data.draw(st.floats(0, 2))
    v1 = data.draw(st.floats(0, 2))
    u2 = data.draw(st.floats(u1, w - 1.0))
    v2 = data.draw(st.floats(v1, h - 1.0))
    out = pool(np.full((h, w), value, np.float32), (u1, v1, u2, v2), (ph, pw), 1.0, convention)
    np.testing.assert_array_equal(out, np.full((ph, pw), np.float32(value)))


def test_empty_and_outside_boxes_give_zeros():
    x = torch.rand(2, 3, 5, 5) + 1
    rois = torch.tensor([[0, 10, 10, 14, 14], [1, -9, -9, -6, -6], [0, 6, -3, 9, 2]], dtype=torch.float32)
    for convention in ("library", "article"):
        out = roi_pool(x, rois, (2, 3), 1.0, convention=convention)
        assert out.shape == (3, 3, 2, 3) and torch.all(out == 0)
    out = roi_pool(x, torch.zeros(0, 5), 4)
    assert out.shape == (0, 3, 4, 4)
    out = roi_pool(x, [torch.zeros(0, 4), torch.zeros(0, 4)], (1, 2))
    assert out.shape == (0, 3, 1, 2)


# ----------------------------------------------------------------------------------------------
# (d) Trace = op


@pytest.mark.parametrize("convention", ["library", "article"])
@pytest.mark.parametrize("output_size", [(1, 1), (2, 3), (3, 3), (7, 7), (5, 2)])
@pytest.mark.parametrize("stride", [1.0, 3.0, 16.0, 32.0])
def test_trace_equals_op(convention, output_size, stride):
    rng = np.random.default_rng([len(convention), *output_size, int(stride)])
    feature = rng.standard_normal((9, 11)).astype(np.float32)
    for _ in range(4):
        corners = rng.uniform([-2, -2, -2, -2], [12, 10, 12, 10]) * stride
        if abs(corners[2] - corners[0]) < 1e-3 or abs(corners[3] - corners[1]) < 1e-3:
            continue
        trace = trace_roi_pool(feature, tuple(corners),
                               Settings(output_size=output_size, stride=stride, convention=convention))
        op = pool(feature, trace.image_box, output_size, stride, convention)
        np.testing.assert_allclose(trace.output, op, atol=1e-5)
        expected, argmax = roi_pool_loop(feature[None, None], np.array([[0, *trace.image_box]]),
                                         output_size, 1.0 / stride, convention)
        for b in trace.bins:
            idx = argmax[0, 0, b.row, b.col]
            assert b.argmax == (None if idx < 0 else (idx // 11, idx % 11))
            assert b.value == expected[0, 0, b.row, b.col]


# ----------------------------------------------------------------------------------------------
# Backward routing


def test_gradient_routing_to_argmax():
    # 3 x 3 map, box (0, 0, 2, 2): cells 0..2, 2 x 2 output, bins [0, 2) and [1, 3) overlapping
    # at row/col 1.
    feature = torch.tensor([[9.0, 0.0, 0.0],
                            [0.0, 4.0, 4.0],
                            [0.0, 4.0, 0.0]])
    # bin (0,0) rows 0-1 cols 0-1: 9 at (0,0).
    # bin (0,1) rows 0-1 cols 1-2: 0, 0, 4, 4 -> tie, first in row-major order: (1,1).
    # bin (1,0) rows 1-2 cols 0-1: 0, 4, 0, 4 -> tie between (1,1) and (2,1): (1,1).
    # bin (1,1) rows 1-2 cols 1-2: 4, 4, 4, 0 -> (1,1).
    # Channel 1 is -feature = [[-9, 0, 0], [0, -4, -4], [0, -4, 0]]:
    # bin (0,0): -9, 0, 0, -4 -> first 0 at (0,1); bin (0,1): 0, 0, -4, -4 -> (0,1);
    # bin (1,0): 0, -4, 0, -4 -> (1,0); bin (1,1): -4, -4, -4, 0 -> (2,2).
    x = torch.stack([feature, -feature])[None].clone().requires_grad_(True)   # [1, 2, 3, 3]
    out = roi_pool(x, torch.tensor([[0.0, 0, 0, 2, 2]]), 2)
    np.testing.assert_array_equal(out[0, 0].detach().numpy(), [[9, 4], [4, 4]])
    np.testing.assert_array_equal(out[0, 1].detach().numpy(), [[0, 0], [0, 0]])
    out.backward(torch.tensor([[[[1.0, 10.0], [100.0, 1000.0]]] * 2]))
    # (0,0) gets 1; (1,1) accumulates 10 + 100 + 1000 from three overlapping bins.
    np.testing.assert_array_equal(x.grad[0, 0].numpy(), [[1, 0, 0], [0, 1110, 0], [0, 0, 0]])
    # (0,1) accumulates 1 + 10; (1,0) gets 100; (2,2) gets 1000.
    np.testing.assert_array_equal(x.grad[0, 1].numpy(), [[0, 11, 0], [100, 0, 0], [0, 0, 1000]])


def test_gradient_goes_to_first_maximum_of_constant_bin():
    x = torch.ones(1, 1, 4, 4, requires_grad=True)
    # Box (1, 1, 2, 2): cells 1..2, one 2 x 2 bin, all equal: the first cell (1, 1) wins.
    roi_pool(x, torch.tensor([[0.0, 1, 1, 2, 2]]), 1).sum().backward()
    expected = np.zeros((4, 4))
    expected[1, 1] = 1
    np.testing.assert_array_equal(x.grad[0, 0].numpy(), expected)


# ----------------------------------------------------------------------------------------------
# (e) Argument errors


def test_argument_errors():
    x = torch.rand(2, 1, 5, 5)
    rois = torch.tensor([[0.0, 0, 0, 2, 2]])
    cases = [
        (lambda: roi_pool(x, torch.tensor([[0.0, 0, float("nan"), 2, 2]]), 2), ValueError, "boxes"),
        (lambda: roi_pool(x, torch.tensor([[0.0, 0, 0, float("inf"), 2]]), 2), ValueError, "boxes"),
        (lambda: roi_pool(x, rois, 0), ValueError, "output_size"),
        (lambda: roi_pool(x, rois, (2, 0)), ValueError, "output_size"),
        (lambda: roi_pool(x, rois, 2.5), ValueError, "output_size"),
        (lambda: roi_pool(x, rois, (1, 2, 3)), ValueError, "output_size"),
        (lambda: roi_pool(x, rois, 2, 0.0), ValueError, "spatial_scale"),
        (lambda: roi_pool(x, rois, 2, -0.5), ValueError, "spatial_scale"),
        (lambda: roi_pool(x, rois, 2, float("nan")), ValueError, "spatial_scale"),
        (lambda: roi_pool(x[0], rois, 2), ValueError, "input"),
        (lambda: roi_pool(x.to(torch.int32), rois, 2), ValueError, "input"),
        (lambda: roi_pool(x.numpy(), rois, 2), TypeError, "input"),
        (lambda: roi_pool(x, rois[:, 1:], 2), ValueError, "boxes"),
        (lambda: roi_pool(x, rois.numpy(), 2), TypeError, "boxes"),
        (lambda: roi_pool(x, [torch.zeros(1, 4)], 2), ValueError, "boxes"),
        (lambda: roi_pool(x, [torch.zeros(1, 5), torch.zeros(1, 4)], 2), ValueError, "boxes"),
        (lambda: roi_pool(x, torch.tensor([[2.0, 0, 0, 2, 2]]), 2), ValueError, "batch"),
        (lambda: roi_pool(x, torch.tensor([[-1.0, 0, 0, 2, 2]]), 2), ValueError, "batch"),
        (lambda: roi_pool(x, torch.tensor([[0.5, 0, 0, 2, 2]]), 2), ValueError, "boxes"),
        (lambda: roi_pool(x, rois, 2, convention="caffe"), ValueError, "convention"),
    ]
    for call, error, name in cases:
        with pytest.raises(error, match=name):
            call()


def test_trace_errors():
    ok = Settings(output_size=(2, 2), stride=1.0)
    with pytest.raises(ValueError, match="output"):
        trace_roi_pool(ARANGE, (0, 0, 4, 4), Settings(output_size=(MAX_TRACE_OUTPUT + 1, 2), stride=1.0))
    with pytest.raises(ValueError, match="output"):
        trace_roi_pool(ARANGE, (0, 0, 4, 4), Settings(output_size=(0, 2), stride=1.0))
    for box in [(1, 1, 1, 3), (1, 1, 3, 1), (2, 2, 2, 2)]:
        with pytest.raises(ValueError, match="box"):
            trace_roi_pool(ARANGE, box, ok)
    with pytest.raises(ValueError, match="stride"):
        trace_roi_pool(ARANGE, (0, 0, 4, 4), Settings(stride=0.0))
    with pytest.raises(ValueError, match="convention"):
        trace_roi_pool(ARANGE, (0, 0, 4, 4), Settings(convention="caffe"))
    with pytest.raises(ValueError, match="feature"):
        trace_roi_pool(ARANGE[None], (0, 0, 4, 4), ok)
    with pytest.raises(TypeError, match="feature"):
        trace_roi_pool(ARANGE.tolist(), (0, 0, 4, 4), ok)
    assert trace_roi_pool(ARANGE, (0, 0, 4, 4), Settings(output_size=(MAX_TRACE_OUTPUT,) * 2,
                                                         stride=1.0)).output.shape == (32, 32)
