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


# ----------------------------------------------------------------------------------------------
# The box gradient against MNC's coordinate backward (tests/mnc_reference.py, a line-by-line
# port of caffe-mnc's ROIWarpingBackwardCoordinate). roiviz's docstring states where its layer
# deliberately differs from MNC's (snapping with + 1, samples at bin centres in the aligned
# frame, sampling_ratio samples averaged, the kernels' border rule). What the two share is the
# rule for one sample: d sample / d x1 = spatial_scale * (1 - t) * (slope of the interpolant
# along x), d / d x2 = spatial_scale * t * slope, t the sample's fraction of the box (MNC's
# map_ratio), the rounding passed straight through. That rule is checked here on roiviz's own
# samples, through MNC's get_coordinate_gradient; then MNC's whole layer is compared on the
# property the rule implies for both (x1 + x2: a translation of the box).

import mnc_reference  # noqa: E402


def _inside_cases(rng, count, height, width, scale, sampling_ratio, pooled):
    """Random library-convention boxes whose samples all read two cells along both axes
    (0 <= coordinate < size - 1, no border rule involved), as (rois [K, 5], snapped [K, 5])."""
    rois, snapped = [], []
    while len(rois) < count:
        x1, y1 = rng.uniform(0, width / scale), rng.uniform(0, height / scale)
        x2, y2 = x1 + rng.uniform(0.5, 8) / scale, y1 + rng.uniform(0.5, 8) / scale
        roi = np.array([[rng.integers(0, 2), x1, y1, x2, y2]], np.float32)
        snap = snapped_boxes(roi, scale, "library")[0]
        # Samples span the snapped box shifted by -0.5 (aligned frame), from its first bin's
        # first sample to its last bin's last one.
        lo_x, hi_x, lo_y, hi_y = snap[1] - 0.5, snap[3] - 0.5, snap[2] - 0.5, snap[4] - 0.5
        # No sample on a cell line, where the slope jumps and the two codes may round to
        # different sides (a 1-cell box cut in 3 bins has its middle sample at an integer).
        ty, tx = ((np.arange(n)[:, None] + (np.arange(sampling_ratio) + 0.5) / sampling_ratio).ravel() / n
                  for n in pooled)
        on_line = [abs(v - round(v)) < 1e-6 for v in (*(lo_x + tx * (hi_x - lo_x)), *(lo_y + ty * (hi_y - lo_y)))]
        if lo_x > 0.01 and lo_y > 0.01 and hi_x < width - 1.01 and hi_y < height - 1.01 and not any(on_line):
            rois.append(roi[0])
            snapped.append(snap.astype(np.float64))
    return np.asarray(rois), np.asarray(snapped, np.float64)


@pytest.mark.parametrize("sampling_ratio", [1, 2, 3])
def test_box_grad_follows_mncs_rule_per_sample(sampling_ratio):
    rng = np.random.default_rng(100 + sampling_ratio)
    channels, height, width, scale, pooled = 2, 11, 13, 0.5, (3, 4)
    x = rng.standard_normal((2, channels, height, width))
    rois, snapped = _inside_cases(rng, 40, height, width, scale, sampling_ratio, pooled)
    top_diff = rng.standard_normal((len(rois), channels, *pooled))
    boxes = torch.tensor(rois, dtype=torch.float64, requires_grad=True)
    roi_warp(torch.tensor(x), boxes, pooled, scale, sampling_ratio).backward(torch.tensor(top_diff))
    g = sampling_ratio
    for k, (roi, snap) in enumerate(zip(rois, snapped)):
        data = x[int(roi[0])]
        (ph_n, pw_n), length_x, length_y = pooled, snap[3] - snap[1], snap[4] - snap[2]
        expected = np.zeros(5)
        for ph in range(ph_n):
            for iy in range(g):
                fy = (ph + (iy + 0.5) / g) / ph_n                      # the sample's fraction t
                h = snap[2] - 0.5 + fy * length_y
                for pw in range(pw_n):
                    for ix in range(g):
                        fx = (pw + (ix + 0.5) / g) / pw_n
                        w = snap[1] - 0.5 + fx * length_x
                        for c in range(channels):
                            for index in range(1, 5):
                                # MNC's oh / ow are in bins: map_ratio = oh / pooled_height = t.
                                slope = mnc_reference.get_coordinate_gradient(
                                    index, h, w, data[c], fy * ph_n, fx * pw_n, ph_n, pw_n)
                                expected[index] += scale * slope * top_diff[k, c, ph, pw] / (g * g)
        np.testing.assert_allclose(boxes.grad[k].numpy(), expected, rtol=1e-9, atol=1e-9,
                                   err_msg=f"box {k}: {roi}")


def test_mncs_layer_and_roiviz_agree_on_translations():
    """MNC's layer (forward and coordinate backward, ported) and roiviz's RoI Warp differ in
    their samples, so their box gradients differ; both pass the rounding straight through, so
    for both, d/dx1 + d/dx2 (a translation of the box) is the sum over samples of
    spatial_scale x the interpolant's slope along x. MNC splits it between x1 and x2 with a
    map_ratio computed with the backward's + 1 (roi_width + 1), not the forward's fraction p / PW."""
    from roiviz.roi_align import roi_align

    rng = np.random.default_rng(5)
    channels, height, width, scale, pooled = 2, 12, 12, 0.5, (3, 3)
    x = rng.standard_normal((1, channels, height, width))
    feature = torch.tensor(x)
    checked, split_differs = 0, 0
    while checked < 30:
        x1, y1 = rng.uniform(2, 12), rng.uniform(2, 12)
        roi = (x1, y1, x1 + rng.uniform(2, 8), y1 + rng.uniform(2, 8))
        top_diff = rng.standard_normal((channels, *pooled))
        mnc = mnc_reference.coordinate_backward(x[0], roi, pooled, scale, top_diff)
        # The translation part and the x2 part from MNC's own samples (its forward's argmax).
        start_w = mnc_reference.c_round(roi[0] * scale)
        width_fwd = max(mnc_reference.c_round(roi[2] * scale) - start_w, 0.0)
        along_x = split_bwd = split_fwd = 0.0
        for c in range(channels):
            _, arg_h, arg_w = mnc_reference.forward(x[0, c], roi, pooled, scale)
            for h, w, diff in zip(arg_h.ravel(), arg_w.ravel(), top_diff[c].ravel()):
                r, q = int(h), int(w)
                if r + 1 > height - 1 or q + 1 > width - 1:
                    continue
                d = x[0, c]
                slope = (1 - (h - r)) * (d[r, q + 1] - d[r, q]) + (h - r) * (d[r + 1, q + 1] - d[r + 1, q])
                along_x += scale * slope * diff
                split_bwd += scale * slope * diff * (w - start_w) / (width_fwd + 1)
                split_fwd += scale * slope * diff * ((w - start_w) / width_fwd if width_fwd else 0.0)
        assert mnc[1] + mnc[3] == pytest.approx(along_x, abs=1e-9)
        assert mnc[3] == pytest.approx(split_bwd, abs=1e-9)
        split_differs += abs(split_fwd - split_bwd) > 1e-6
        # roiviz: d/dx1 + d/dx2 = spatial_scale x the derivative of RoI Align on the snapped
        # box as the box slides along x (central differences, the snapped box held fixed).
        snap = snapped_boxes(np.array([[0, *roi]], np.float32), scale, "library")[0].astype(np.float64)
        t = (np.arange(3)[:, None] + (np.arange(2) + 0.5) / 2).ravel() / 3
        samples_x = snap[1] - 0.5 + t * (snap[3] - snap[1])
        if np.abs(samples_x - np.round(samples_x)).min() < 1e-3:
            continue        # a sample on a cell line: the slope jumps there
        boxes = torch.tensor([[0, *roi]], dtype=torch.float64, requires_grad=True)
        roi_warp(feature, boxes, pooled, scale, 2).backward(torch.tensor(top_diff)[None])
        snapped = torch.tensor(snap[None])
        eps = 1e-6
        slide = lambda dx: roi_align(feature, snapped + torch.tensor([[0, dx, 0, dx, 0]], dtype=torch.float64),  # noqa: E731
                                     pooled, 1.0, 2, True)
        numeric = ((slide(eps) - slide(-eps)) / (2 * eps) * torch.tensor(top_diff)[None]).sum()
        assert float(boxes.grad[0, 1] + boxes.grad[0, 3]) == pytest.approx(scale * float(numeric), abs=1e-6)
        checked += 1
    assert split_differs > 0
