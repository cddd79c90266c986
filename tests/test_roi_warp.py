"""Tests for roiviz.roi_warp: RoI Pool's snapping followed by RoI Align's sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from references import batched
from roiviz.roi_warp import roi_warp, roi_warp_reference, trace_roi_warp
from roiviz.records import MAX_TRACE_OUTPUT, Settings
from translation_cases import random_map, translated_case

ARANGE = np.arange(25, dtype=np.float32).reshape(5, 5)   # value of cell (r, c) is 5 r + c


def warp(feature, box, output_size, stride=1.0, sampling_ratio=-1, reduce="avg", convention="library"):
    """roi_warp on one 2-D map and one box; returns [PH, PW]."""
    x = torch.as_tensor(np.asarray(feature, np.float32))[None, None]
    rois = torch.tensor([[0.0, *box]], dtype=torch.float32)
    return roi_warp(x, rois, output_size, 1.0 / stride, sampling_ratio, reduce,
                    convention=convention)[0, 0].numpy()


# ----------------------------------------------------------------------------------------------
# The snapped box (SEMANTICS.md, "RoI Warp"), written out: as roi_pool_kernel.cpp does (C's
# round, inclusive +1) or as the article does (integer parts). The forward reference is
# roiviz.roi_warp.roi_warp_reference (snap, then RoI Align's reference on the snapped box).


def _c_round(v) -> int:
    return int(math.copysign(math.floor(abs(float(v)) + 0.5), float(v)))


def snapped_boxes(rois: np.ndarray, spatial_scale: float, convention: str) -> np.ndarray:
    f32 = np.float32
    out = []
    for b, x1, y1, x2, y2 in np.asarray(rois, np.float32):
        u1, v1, u2, v2 = (f32(v) * f32(spatial_scale) for v in (x1, y1, x2, y2))
        if convention == "library":
            sx, sy = _c_round(u1), _c_round(v1)
            w, h = max(_c_round(u2) - sx + 1, 1), max(_c_round(v2) - sy + 1, 1)
        else:
            sx, sy = math.floor(u1), math.floor(v1)
            w, h = max(math.floor(f32(u2 - u1)), 1), max(math.floor(f32(v2 - v1)), 1)
        out.append([b, sx, sy, sx + w, sy + h])
    return np.asarray(out, np.float32).reshape(-1, 5)


# ----------------------------------------------------------------------------------------------
# (a) Golden values on the 5 x 5 arange map (interpolant = 5 y + x inside [0, 4], library frame)


def test_golden_library():
    # Box (1, 2.6, 5, 7), stride 2 -> (0.5, 1.3, 2.5, 3.5) cells -> round: columns 1..3, rows
    # 1..4 -> snapped box [1, 4) x [1, 5) (3 wide, 4 high), library frame start 0.5.
    # 1 x 1, 2 x 2 samples: x at 0.5 + 0.75 = 1.25 and 0.5 + 2.25 = 2.75 (mean 2), y at 1.5 and
    # 3.5 (mean 2.5): 5 * 2.5 + 2 = 14.5, the mean of the snapped cells.
    np.testing.assert_allclose(warp(ARANGE, (1, 2.6, 5, 7), 1, 2, 2), [[14.5]])
    # max of those four samples: 5 * 3.5 + 2.75 = 20.25.
    np.testing.assert_allclose(warp(ARANGE, (1, 2.6, 5, 7), 1, 2, 2, "max"), [[20.25]])
    # 2 x 2, one sample per bin at the bin centre: x 1.25, 2.75; y 1.5, 3.5.
    np.testing.assert_allclose(warp(ARANGE, (1, 2.6, 5, 7), 2, 2, 1),
                               [[8.75, 10.25], [18.75, 20.25]])


def test_golden_article():
    # Same box, article: start floor(0.5) = 0, width floor(2.0) = 2; start floor(1.3) = 1,
    # height floor(2.2) = 2 -> snapped [0, 2) x [1, 3): cells 5, 6, 10, 11; mean 8.
    # Samples x at -0.5 + 0.5 = 0 and 1.0, y at 1.0 and 2.0: 5 * 1.5 + 0.5 = 8.
    np.testing.assert_allclose(warp(ARANGE, (1, 2.6, 5, 7), 1, 2, 2, convention="article"), [[8.0]])


def test_golden_differs_from_align_only_by_snapping():
    # Box (1.4, 1.4, 3.4, 3.4), stride 1: library snapping rounds to cells 1..3 -> [1, 4),
    # 3 cells; 1 x 1 adaptive (3 x 3 samples at the cell centres 1, 2, 3): 5 * 2 + 2 = 12.
    np.testing.assert_allclose(warp(ARANGE, (1.4, 1.4, 3.4, 3.4), 1, 1, 0), [[12.0]])


# ----------------------------------------------------------------------------------------------
# (b) Loop reference


@pytest.mark.parametrize("convention", ["library", "article"])
@pytest.mark.parametrize("reduce", ["avg", "max"])
def test_matches_loop_reference(convention, reduce):
    rng = np.random.default_rng([len(convention), len(reduce)])
    for case in range(30):
        n, c = 2, 2
        h, w = (int(v) for v in rng.integers(1, 9, 2))
        stride = float(rng.choice([1, 2, 3, 5, 8, 16, 32]))
        x = rng.standard_normal((n, c, h, w)).astype(np.float32)
        k = 3
        xs = rng.uniform(-0.3 * w * stride, 1.3 * w * stride, (k, 2))
        ys = rng.uniform(-0.3 * h * stride, 1.3 * h * stride, (k, 2))
        if case % 2:
            xs.sort(1), ys.sort(1)
        rois = np.column_stack([rng.integers(0, n, k), xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]]).astype(np.float32)
        output_size = tuple(int(v) for v in rng.integers(1, 5, 2))
        ratio = int(rng.choice([-1, 0, 1, 2, 3]))
        expected = batched(roi_warp_reference, x, rois, output_size, 1 / stride, sampling_ratio=ratio,
                           reduce=reduce, convention=convention)
        out = roi_warp(torch.tensor(x), torch.tensor(rois), output_size, 1 / stride, ratio, reduce,
                       convention=convention)
        np.testing.assert_allclose(out.numpy(), expected, atol=1e-5, err_msg=f"case {case}")


# ----------------------------------------------------------------------------------------------
# (c) Properties

strides_pow2 = st.sampled_from([1, 2, 4, 8, 16, 32])
conventions = st.sampled_from(["library", "article"])


@settings(max_examples=50, deadline=None)
@given(st.data(), strides_pow2, conventions, st.sampled_from([-1, 1, 2]),
       st.sampled_from(["avg", "max"]), st.integers(0, 3), st.integers(0, 3))
def test_integer_translation_invariance(data, stride, convention, ratio, reduce, dy, dx):
    feature, box, shifted, moved = translated_case(data, stride, dy, dx, pad_value=-2.5)
    kwargs = dict(stride=stride, sampling_ratio=ratio, reduce=reduce, convention=convention)
    np.testing.assert_allclose(warp(feature, box, (3, 2), **kwargs),
                               warp(shifted, moved, (3, 2), **kwargs), atol=1e-5)


@settings(max_examples=30, deadline=None)
@given(st.data(), strides_pow2, conventions)
def test_halving_box_and_doubling_scale(data, stride, convention):
    feature = random_map(data, 6, 7)
    box = tuple(data.draw(st.integers(-16, 16 * 8)) / 16 * stride for _ in range(4))
    half = tuple(v / 2 for v in box)
    np.testing.assert_array_equal(warp(feature, box, 3, stride, 2, convention=convention),
                                  warp(feature, half, 3, stride / 2, 2, convention=convention))


@settings(max_examples=40, deadline=None)
@given(st.data(), conventions, st.sampled_from([-1, 1, 3]))
def test_average_within_map_range(data, convention, ratio):
    h, w = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6))
    feature = random_map(data, h, w) + data.draw(st.floats(-3, 3))
    lo, hi = float(feature.min()), float(feature.max())
    box = tuple(data.draw(st.floats(-3 * w, 4 * w)) for _ in range(4))
    out = warp(feature, box, (2, 2), 1.0, ratio, convention=convention)
    assert np.all(out >= min(lo, 0) - 1e-5) and np.all(out <= max(hi, 0) + 1e-5)
    # A snapped box inside the map: every sample is on the map.
    u1, v1 = data.draw(st.floats(0, w - 1.0)), data.draw(st.floats(0, h - 1.0))
    box = (u1, v1, data.draw(st.floats(u1, w - 1.0)), data.draw(st.floats(v1, h - 1.0)))
    out = warp(feature, box, (2, 3), 1.0, ratio, convention=convention)
    assert np.all(out >= lo - 1e-5) and np.all(out <= hi + 1e-5)


@settings(max_examples=30, deadline=None)
@given(st.floats(-100, 100, width=32), st.data(), conventions, st.sampled_from(["avg", "max"]))
def test_constant_map(value, data, convention, reduce):
    h, w = 5, 6
    u1, v1 = data.draw(st.floats(0, w - 1.0)), data.draw(st.floats(0, h - 1.0))
    box = (u1, v1, data.draw(st.floats(u1, w - 1.0)), data.draw(st.floats(v1, h - 1.0)))
    out = warp(np.full((h, w), value, np.float32), box, (2, 3), 1.0, -1, reduce, convention)
    np.testing.assert_allclose(out, np.full((2, 3), value), rtol=1e-5, atol=1e-5)


def test_empty_reversed_and_outside_boxes():
    x = torch.rand(2, 3, 5, 6) + 1
    far = torch.tensor([[0, 20, 20, 30, 30], [1, -30, -30, -3, -3]], dtype=torch.float32)
    for convention in ("library", "article"):
        out = roi_warp(x, far, (2, 3), 1.0, convention=convention)
        assert out.shape == (2, 3, 2, 3) and torch.all(out == 0)
    assert roi_warp(x, torch.zeros(0, 5), 2).shape == (0, 3, 2, 2)
    # A reversed (or zero-size) box snaps to a one-cell box at round(x1): with a 1 x 1 output
    # its single adaptive sample sits at the cell's centre and reads that cell alone.
    rev = torch.tensor([[0, 3.2, 2.1, 1.0, 0.0], [1, 2, 2, 2, 2]], dtype=torch.float32)
    out = roi_warp(x, rev, 1, 1.0)
    torch.testing.assert_close(out[0], x[0, :, 2:3, 3:4])
    torch.testing.assert_close(out[1], x[1, :, 2:3, 2:3])


# ----------------------------------------------------------------------------------------------
# (d) Trace = op


@pytest.mark.parametrize("convention", ["library", "article"])
@pytest.mark.parametrize("reduce", ["avg", "max"])
@pytest.mark.parametrize("output_size", [(1, 1), (3, 2), (7, 7)])
@pytest.mark.parametrize("stride", [1.0, 6.0, 32.0])
def test_trace_equals_op(convention, reduce, output_size, stride):
    rng = np.random.default_rng([len(convention), len(reduce), *output_size, int(stride)])
    feature = rng.standard_normal((8, 9)).astype(np.float32)
    for ratio in (-1, 0, 1, 2, 4):
        corners = rng.uniform([-2, -2, -2, -2], [10, 9, 10, 9]) * stride
        trace = trace_roi_warp(feature, tuple(corners), Settings(
            output_size=output_size, stride=stride, sampling_ratio=ratio, reduce=reduce,
            convention=convention, aligned=bool(rng.integers(0, 2))))   # aligned does not apply
        op = warp(feature, trace.image_box, output_size, stride, ratio, reduce, convention)
        np.testing.assert_allclose(trace.output, op, atol=1e-5)
        sx, sy, ex, ey = snapped_boxes(np.array([[0, *trace.image_box]]), 1 / stride, convention)[0, 1:]
        assert trace.snapped_box == (sx, sy, ex, ey) == trace.read_region


# ----------------------------------------------------------------------------------------------
# Gradients


def test_gradcheck():
    x = torch.randn(2, 2, 5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1),
                    requires_grad=True)
    rois = torch.tensor([[0, 2.0, 3.0, 17.0, 15.0], [1, -5.0, 6.0, 10.0, 30.0]], dtype=torch.float64)
    for convention in ("library", "article"):
        assert torch.autograd.gradcheck(
            lambda t: roi_warp(t, rois, (2, 3), 0.25, -1, "avg", convention=convention), (x,),
            eps=1e-6, atol=1e-5)


# ----------------------------------------------------------------------------------------------
# (e) Argument errors


def test_argument_errors():
    x = torch.rand(2, 1, 5, 5)
    rois = torch.tensor([[0.0, 0, 0, 2, 2]])
    cases = [
        (lambda: roi_warp(x, torch.tensor([[0.0, 0, 0, 2, float("nan")]]), 2), ValueError, "boxes"),
        (lambda: roi_warp(x, rois, 0), ValueError, "output_size"),
        (lambda: roi_warp(x, rois, (1, 0)), ValueError, "output_size"),
        (lambda: roi_warp(x, rois, 2, 1.0, 2.0), ValueError, "sampling_ratio"),
        (lambda: roi_warp(x, rois, 2, 0.0), ValueError, "spatial_scale"),
        (lambda: roi_warp(x, rois, 2, -2.0), ValueError, "spatial_scale"),
        (lambda: roi_warp(x[0, 0], rois, 2), ValueError, "input"),
        (lambda: roi_warp(x.to(torch.bool), rois, 2), ValueError, "input"),
        (lambda: roi_warp([x], rois, 2), TypeError, "input"),
        (lambda: roi_warp(x, torch.tensor([[3.0, 0, 0, 2, 2]]), 2), ValueError, "batch"),
        (lambda: roi_warp(x, rois, 2, reduce="min"), ValueError, "reduce"),
        (lambda: roi_warp(x, rois, 2, convention="floor"), ValueError, "convention"),
    ]
    for call, error, name in cases:
        with pytest.raises(error, match=name):
            call()


def test_trace_errors():
    with pytest.raises(ValueError, match="output"):
        trace_roi_warp(ARANGE, (0, 0, 4, 4), Settings(output_size=(MAX_TRACE_OUTPUT + 1,) * 2, stride=1.0))
    with pytest.raises(ValueError, match="box"):
        trace_roi_warp(ARANGE, (3, 0, 3, 4), Settings(stride=1.0))
    with pytest.raises(ValueError, match="convention"):
        trace_roi_warp(ARANGE, (0, 0, 4, 4), Settings(stride=1.0, convention="mnc"))
