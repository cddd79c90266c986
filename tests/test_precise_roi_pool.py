"""Tests for roiviz.precise_roi_pool: the exact bin average of the bilinear interpolant."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from references import batched
from roiviz.precise_roi_pool import precise_roi_pool, precise_roi_pool_reference, trace_precise_roi_pool
from roiviz.roi_align import roi_align
from roiviz.records import MAX_TRACE_OUTPUT, Settings
from translation_cases import random_map, translated_case

ARANGE = np.arange(25, dtype=np.float32).reshape(5, 5)   # value of cell (r, c) is 5 r + c

def precise(feature, box, output_size, stride=1.0):
    """precise_roi_pool on one 2-D map and one box; returns [PH, PW]."""
    x = torch.as_tensor(np.asarray(feature, np.float32))[None, None]
    rois = torch.tensor([[0.0, *box]], dtype=torch.float32)
    return precise_roi_pool(x, rois, output_size, 1.0 / stride)[0, 0].numpy()

# ----------------------------------------------------------------------------------------------
# (a) Golden values on the 5 x 5 arange map. The interpolant is f = 5 Y(y) S(x) + S(y) X(x)
# where X(x) = x on [0, 4], 0 on [-1, 0) (clamped to cell 0), 4 on (4, 5], and S = 1 on the
# map [-1, 5], 0 off it (library frame).

def test_golden_inside():
    # Box (1, 1, 3, 3), 2 x 2: bins are cells 1 and 2 exactly, where f averages to the cell
    # value: 6, 7, 11, 12.
    np.testing.assert_allclose(precise(ARANGE, (1, 1, 3, 3), 2), [[6, 7], [11, 12]], atol=1e-5)

def test_golden_clamped_edge():
    # Box (0, 0, 1.5, 1.5), 1 x 1: library [-0.5, 1.0] on both axes. Mean of X over it:
    # (integral of 0 over [-0.5, 0] + integral of x over [0, 1]) / 1.5 = 0.5 / 1.5 = 1/3.
    # Value 5/3 + 1/3 = 2.
    np.testing.assert_allclose(precise(ARANGE, (0, 0, 1.5, 1.5), 1), [[2.0]], atol=1e-5)

def test_golden_off_map_part_is_zero():
    # Box (4, 0, 6, 1), 1 x 1: x in library [3.5, 5.5], y in [-0.5, 0.5].
    # mean X = (int_3.5^4 x dx + int_4^5 4 dx + 0) / 2 = (1.875 + 4) / 2 = 2.9375;
    # mean S(x) = 1.5 / 2 = 0.75 (nothing beyond x = 5); mean Y = int_0^0.5 y dy / 1 = 0.125;
    # mean S(y) = 1. Value = 5 * 0.125 * 0.75 + 1 * 2.9375 = 3.40625.
    np.testing.assert_allclose(precise(ARANGE, (4, 0, 6, 1), 1), [[3.40625]], atol=1e-5)

# ----------------------------------------------------------------------------------------------
# (b) The readable reference (roiviz.precise_roi_pool.precise_roi_pool_reference): the exact
# integral of the kernels' interpolant, piece by piece between whole cells

def test_matches_loop_reference():
    rng = np.random.default_rng(7)
    for case in range(40):
        n, c = 2, 2
        h, w = (int(v) for v in rng.integers(1, 8, 2))
        stride = float(rng.choice([1, 2, 3, 4, 8, 12, 16, 32]))
        x = rng.standard_normal((n, c, h, w)).astype(np.float32)
        k = 3
        xs = rng.uniform(-0.4 * w * stride, 1.4 * w * stride, (k, 2))
        ys = rng.uniform(-0.4 * h * stride, 1.4 * h * stride, (k, 2))
        if case % 3:
            xs.sort(1), ys.sort(1)
        if case % 5 == 0:
            xs[:, 1] = xs[:, 0] + rng.uniform(0, stride, k)
        rois = np.column_stack([rng.integers(0, n, k), xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]]).astype(np.float32)
        output_size = tuple(int(v) for v in rng.integers(1, 5, 2))
        expected = batched(precise_roi_pool_reference, x, rois, output_size, 1 / stride)
        out = precise_roi_pool(torch.tensor(x), torch.tensor(rois), output_size, 1 / stride)
        np.testing.assert_allclose(out.numpy(), expected, atol=2e-5, err_msg=f"case {case}")

def test_limit_of_roi_align():
    # Precise RoI Pooling = RoI Align (aligned=True, avg) as sampling_ratio grows, for boxes
    # inside the map (no jump of the interpolant at -1 / W within a bin).
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.standard_normal((2, 3, 7, 9)).astype(np.float32))
    for stride in (1.0, 4.0, 16.0):
        k = 12
        x1 = rng.uniform(0, 7.5, k)
        y1 = rng.uniform(0, 5.5, k)
        x2 = rng.uniform(x1 + 0.05, 9.0)
        y2 = rng.uniform(y1 + 0.05, 7.0)
        rois = torch.tensor(np.column_stack([rng.integers(0, 2, k), np.column_stack([x1, y1, x2, y2]) * stride]),
                            dtype=torch.float32)
        for output_size in ((1, 1), (2, 3), (3, 3)):
            exact = precise_roi_pool(x, rois, output_size, 1 / stride)
            sampled = roi_align(x, rois, output_size, 1 / stride, 256, True)
            torch.testing.assert_close(exact, sampled, atol=1e-3, rtol=0)

# ----------------------------------------------------------------------------------------------
# (c) Properties

strides_pow2 = st.sampled_from([1, 2, 4, 8, 16, 32])

@settings(max_examples=50, deadline=None)
@given(st.data(), strides_pow2, st.integers(0, 3), st.integers(0, 3))
def test_integer_translation_invariance(data, stride, dy, dx):
    feature, box, shifted, moved = translated_case(data, stride, dy, dx, pad_value=1.75)
    np.testing.assert_allclose(precise(feature, box, (2, 3), stride),
                               precise(shifted, moved, (2, 3), stride), atol=1e-5)

@settings(max_examples=30, deadline=None)
@given(st.data(), strides_pow2)
def test_halving_box_and_doubling_scale(data, stride):
    feature = random_map(data, 6, 7)
    box = tuple(data.draw(st.integers(-16, 16 * 8)) / 16 * stride for _ in range(4))
    half = tuple(v / 2 for v in box)
    np.testing.assert_array_equal(precise(feature, box, 3, stride), precise(feature, half, 3, stride / 2))

@settings(max_examples=40, deadline=None)
@given(st.data())
def test_average_within_map_range(data):
    h, w = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6))
    feature = random_map(data, h, w) + data.draw(st.floats(-3, 3))
    lo, hi = float(feature.min()), float(feature.max())
    box = tuple(data.draw(st.floats(-3 * w, 4 * w)) for _ in range(4))
    out = precise(feature, box, (2, 2))
    assert np.all(out >= min(lo, 0) - 1e-5) and np.all(out <= max(hi, 0) + 1e-5)
    u1, v1 = data.draw(st.floats(0, w - 0.01)), data.draw(st.floats(0, h - 0.01))
    box = (u1, v1, data.draw(st.floats(u1 + 0.01, w)), data.draw(st.floats(v1 + 0.01, h)))
    out = precise(feature, box, (3, 2))
    assert np.all(out >= lo - 1e-5) and np.all(out <= hi + 1e-5)

@settings(max_examples=40, deadline=None)
@given(st.floats(-100, 100, width=32), st.data(), st.sampled_from([1, 8, 32]))
def test_constant_map(value, data, stride):
    h, w = 5, 6
    u1, v1 = data.draw(st.floats(0, w - 0.01)), data.draw(st.floats(0, h - 0.01))
    u2, v2 = data.draw(st.floats(u1 + 0.01, w)), data.draw(st.floats(v1 + 0.01, h))
    box = tuple(v * stride for v in (u1, v1, u2, v2))
    out = precise(np.full((h, w), value, np.float32), box, (3, 2), stride)
    np.testing.assert_allclose(out, np.full((3, 2), value), rtol=1e-5, atol=1e-5)

def test_tiny_bins_keep_float32_precision():
    # A bin 0.0086 cell wide: its integrals are differences of values near 5, divided by 0.0086.
    # Computed in float32 that loses ~3e-5 (found by test_constant_map); roiviz computes the
    # weights in float64.
    box = (5.7734375, 0.0, 5.790634750151479, 1.0)
    np.testing.assert_allclose(precise(np.ones((5, 6)), box, (3, 2)), np.ones((3, 2)), rtol=0, atol=1e-6)
    trace = trace_precise_roi_pool(ARANGE, (4.1, 0.2, 4.1172, 3.0), Settings(output_size=(3, 2), stride=1.0))
    np.testing.assert_allclose(trace.output, precise(ARANGE, trace.image_box, (3, 2)), atol=1e-5)

def test_empty_reversed_and_outside_boxes_give_zeros():
    x = torch.rand(2, 3, 5, 6) + 1
    rois = torch.tensor([[0, 2, 2, 2, 4], [1, 2, 2, 4, 2], [0, 4, 4, 1, 1], [1, 3, 1, 2, 4],
                         [0, 20, 20, 30, 30], [1, -30, -30, -2, -2]], dtype=torch.float32)
    out = precise_roi_pool(x, rois, (2, 3), 1.0)
    assert out.shape == (6, 3, 2, 3) and torch.all(out == 0)
    assert precise_roi_pool(x, torch.zeros(0, 5), 2).shape == (0, 3, 2, 2)

# ----------------------------------------------------------------------------------------------
# (d) Trace = op

@pytest.mark.parametrize("output_size", [(1, 1), (2, 3), (7, 7), (1, 5)])
@pytest.mark.parametrize("stride", [1.0, 3.0, 16.0, 32.0])
def test_trace_equals_op(output_size, stride):
    rng = np.random.default_rng([*output_size, int(stride)])
    feature = rng.standard_normal((8, 10)).astype(np.float32)
    for _ in range(4):
        corners = rng.uniform([-2, -2, -2, -2], [11, 9, 11, 9]) * stride
        trace = trace_precise_roi_pool(feature, tuple(corners), Settings(output_size=output_size, stride=stride))
        op = precise(feature, trace.image_box, output_size, stride)
        np.testing.assert_allclose(trace.output, op, atol=1e-5)
        # The recorded weights reproduce each bin's value.
        for b in trace.bins:
            value = sum(w * feature[cell] for cell, w in b.cell_weights)
            assert value == pytest.approx(b.value, abs=1e-5)

# ----------------------------------------------------------------------------------------------
# Gradients

def test_gradcheck():
    x = torch.randn(2, 2, 5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2),
                    requires_grad=True)
    rois = torch.tensor([[0, 0.5, 1.2, 4.1, 3.9], [1, -1.5, 2.0, 3.0, 7.0], [0, 5.5, 4.5, 6.5, 5.0]],
                        dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: precise_roi_pool(t, rois, (2, 3)), (x,), eps=1e-6, atol=1e-5)

# ----------------------------------------------------------------------------------------------
# (e) Argument errors

def test_argument_errors():
    x = torch.rand(2, 1, 5, 5)
    rois = torch.tensor([[0.0, 0, 0, 2, 2]])
    cases = [
        (lambda: precise_roi_pool(x, torch.tensor([[0.0, 0, 0, float("inf"), 2]]), 2), ValueError, "boxes"),
        (lambda: precise_roi_pool(x, rois, 0), ValueError, "output_size"),
        (lambda: precise_roi_pool(x, rois, (0, 2)), ValueError, "output_size"),
        (lambda: precise_roi_pool(x, rois, 2, 0.0), ValueError, "spatial_scale"),
        (lambda: precise_roi_pool(x, rois, 2, -3.0), ValueError, "spatial_scale"),
        (lambda: precise_roi_pool(x[:, 0], rois, 2), ValueError, "input"),
        (lambda: precise_roi_pool(x.to(torch.int16), rois, 2), ValueError, "input"),
        (lambda: precise_roi_pool(None, rois, 2), TypeError, "input"),
        (lambda: precise_roi_pool(x, torch.tensor([[2.0, 0, 0, 2, 2]]), 2), ValueError, "batch"),
        (lambda: precise_roi_pool(x, torch.zeros(3, 6), 2), ValueError, "boxes"),
    ]
    for call, error, name in cases:
        with pytest.raises(error, match=name):
            call()

def test_trace_errors():
    with pytest.raises(ValueError, match="output"):
        trace_precise_roi_pool(ARANGE, (0, 0, 4, 4), Settings(output_size=(MAX_TRACE_OUTPUT + 1, 1), stride=1.0))
    with pytest.raises(ValueError, match="box"):
        trace_precise_roi_pool(ARANGE, (0, 2, 4, 2), Settings(stride=1.0))
    with pytest.raises(ValueError, match="stride"):
        trace_precise_roi_pool(ARANGE, (0, 0, 4, 4), Settings(stride=-1.0))
