"""Tests for roiviz.geometry: the conventions every method shares (SEMANTICS.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from roiviz.bilinear import linear_weights
from roiviz.geometry import (align_mapping, c_round, normalize_box, pool_bins, rect_area,
                             rect_intersection, sample_coords, sampling_grid, snap_box)


def _np(a):
    return a.numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


# ----------------------------------------------------------------------------------------------
# c_round


@pytest.mark.parametrize("xp", ["numpy", "torch"])
def test_c_round_halves_away_from_zero(xp):
    values = [0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 0.49, -0.49, 1.51, 0.0, 7.0]
    expected = [1, 2, 3, 4, -1, -2, -3, 0, 0, 2, 0, 7]  # C's round; numpy's would give 0, 2, 2, 4
    a = np.array(values, dtype=np.float32)
    out = c_round(torch.from_numpy(a) if xp == "torch" else a)
    assert _np(out).tolist() == expected
    assert out.dtype == (torch.float32 if xp == "torch" else np.float32)


def test_c_round_exact_just_below_a_half():
    # The largest float32 below 0.5 is 0.5 - 2**-25; in float32, that + 0.5 rounds up to 1.0,
    # but C's round (and so ONNX MaxRoiPool / torchvision) gives 0. A box edge at image
    # x = 16 - 2**-20 with stride 32 lands exactly there.
    just_below = np.float32(0.5 - 2.0 ** -25)
    assert np.float32(16 - 2.0 ** -20) * np.float32(1 / 32) == just_below
    assert float(c_round(just_below)) == 0.0
    assert float(c_round(-just_below)) == 0.0
    assert float(c_round(torch.tensor(just_below))) == 0.0
    odd = np.float32(2 ** 23 + 1)  # |a| + 0.5 would tie-round to the even 2**23 + 2
    assert float(c_round(odd)) == 2 ** 23 + 1


@settings(max_examples=300, deadline=None)
@given(st.floats(-1e6, 1e6, width=32))
def test_c_round_matches_c_on_float32(v):
    # For float32 v, float64 |v| + 0.5 is exact, so this is C's round.
    expected = math.copysign(math.floor(abs(v) + 0.5), v)
    assert float(c_round(np.float32(v))) == expected
    assert float(c_round(torch.tensor(v, dtype=torch.float32))) == expected


# ----------------------------------------------------------------------------------------------
# snap_box (RoI Pool's first quantization)


def test_snap_library_plus_one():
    # A box drawn as [0, 2.9): round(0) = 0, round(2.9) = 3, inclusive indices -> cells 0..3,
    # i.e. 4 cells, the snapped region [0, 4): 1.1 cells gained on the right.
    start, length = snap_box(np.float32(0.0), np.float32(2.9), "library")
    assert (int(start), int(length)) == (0, 4)
    start, length = snap_box(torch.tensor([0.0]), torch.tensor([2.9]), "library")
    assert (start.tolist(), length.tolist()) == ([0], [4])
    assert start.dtype == torch.int64


@pytest.mark.parametrize("u1, u2, expected", [
    (1.25, 7.5, (1, 8)),     # round(1.25)=1, round(7.5)=8 (half away from zero): 8-1+1
    (2.25, 6.25, (2, 5)),    # 2 .. 6 inclusive
    (0.5, 0.5, (1, 1)),      # zero-size box: one cell
    (-0.5, 1.4, (-1, 3)),    # round(-0.5) = -1 (away from zero)
    (3.0, 1.0, (3, 1)),      # reversed: max(1 - 3 + 1, 1) = 1 cell at round(u1)
])
def test_snap_library_values(u1, u2, expected):
    start, length = snap_box(np.array([u1], np.float32), np.array([u2], np.float32), "library")
    assert (int(start[0]), int(length[0])) == expected


@pytest.mark.parametrize("u1, u2, expected", [
    (1.25, 7.5, (1, 6)),     # floor(1.25) = 1, floor(6.25) = 6
    (2.25, 6.25, (2, 4)),    # floor(2.25) = 2, floor(4.0) = 4
    (0.3, 0.9, (0, 1)),      # size 0.6 -> at least one cell
    (2.7, 1.0, (2, 1)),      # reversed: floor(-1.7) = -2 -> 1 cell
    (-1.5, 2.0, (-2, 3)),    # floor(-1.5) = -2, floor(3.5) = 3
])
def test_snap_article_values(u1, u2, expected):
    for xp in (np, torch):
        a = xp.asarray([u1], dtype=xp.float32) if xp is np else torch.tensor([u1])
        b = xp.asarray([u2], dtype=xp.float32) if xp is np else torch.tensor([u2])
        start, length = snap_box(a, b, "article")
        assert (int(start[0]), int(length[0])) == expected


def test_snap_unknown_convention():
    with pytest.raises(ValueError, match="convention"):
        snap_box(np.float32(0), np.float32(1), "caffe")


# ----------------------------------------------------------------------------------------------
# pool_bins (RoI Pool's second quantization)


def test_pool_bins_library_overlap_and_full_cover():
    # 5 cells into 3 bins: bin = 5/3; lo = floor(0, 1.67, 3.33) = 0, 1, 3;
    # hi = ceil(1.67, 3.33, 5) = 2, 4, 5 -> [0,2), [1,4), [3,5): cells 1 and 3 are read twice.
    lo, hi = pool_bins(np.array([10]), np.array([5]), 3, 100, "library")
    assert lo.tolist() == [[10, 11, 13]] and hi.tolist() == [[12, 14, 15]]
    lo, hi = pool_bins(torch.tensor([10]), torch.tensor([5]), 3, 100, "library")
    assert lo.tolist() == [[10, 11, 13]] and hi.tolist() == [[12, 14, 15]]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 20), st.integers(1, 40), st.integers(1, 14))
def test_pool_bins_library_cover_property(start, length, pooled):
    lo, hi = pool_bins(np.array([start]), np.array([length]), pooled, 100, "library")
    lo, hi = lo[0].tolist(), hi[0].tolist()
    cells = [c for a, b in zip(lo, hi) for c in range(a, b)]
    # Nothing dropped. Nothing extra either, except that float32 rounding of p * (length /
    # pooled) can push the last bin's end one cell past the extent (57 cells into 7 bins, 7
    # into 13), as in the kernels: see test_pool_bins_float32_rounding.
    assert set(range(start, start + length)) <= set(cells) <= set(range(start, start + length + 1))
    assert all(b > a for a, b in zip(lo, hi))                 # no empty bin inside the map
    if pooled < length and length % pooled:
        assert len(cells) >= length                           # overlaps only add cells


def test_pool_bins_article_remainder_dropped():
    # 4 cells into 3 bins of 4 // 3 = 1 cell: cells 0, 1, 2 read, cell 3 dropped.
    lo, hi = pool_bins(np.array([0]), np.array([4]), 3, 100, "article")
    assert lo.tolist() == [[0, 1, 2]] and hi.tolist() == [[1, 2, 3]]
    # 6 cells into 3 bins of 2: nothing dropped.
    lo, hi = pool_bins(torch.tensor([1]), torch.tensor([6]), 3, 100, "article")
    assert lo.tolist() == [[1, 3, 5]] and hi.tolist() == [[3, 5, 7]]
    # 2 cells into 3 bins: each bin is max(2 // 3, 1) = 1 cell, the third one past the box.
    lo, hi = pool_bins(np.array([0]), np.array([2]), 3, 100, "article")
    assert lo.tolist() == [[0, 1, 2]] and hi.tolist() == [[1, 2, 3]]


def test_pool_bins_float32_rounding():
    # The kernels compute the bin size in the map's dtype. 57 cells into 7 bins: in float32,
    # 7 * float32(57 / 7) = 57.000004, so the last bin ends at ceil = 58 (one cell past the
    # snapped region), while float64 gives exactly 57. 29 cells into 7 bins goes the other way
    # in float64 (ceil(7 * (29 / 7)) = 30). ONNX MaxRoiPool agrees with float32
    # (tests/test_ops_parity.py::test_pool_float32_bin_edge_matches_ort).
    # (The often quoted ceil(3 * (7/3)) is 7 in both float32 and float64.)
    for length, f32_end, f64_end in ((57, 58, 57), (29, 29, 30), (7, 7, 7)):
        bins = 7 if length != 7 else 3
        _, hi32 = pool_bins(np.array([0]), np.array([length]), bins, 100, "library")
        _, hi64 = pool_bins(np.array([0]), np.array([length]), bins, 100, "library", np.float64)
        _, hi32t = pool_bins(torch.tensor([0]), torch.tensor([length]), bins, 100, "library")
        assert int(hi32[0, -1]) == f32_end == int(hi32t[0, -1])
        assert int(hi64[0, -1]) == f64_end


def test_pool_bins_clipping():
    # start -2, 4 cells, 2 bins of 2: [-2, 0) and [0, 2) -> clipped to [0, 0) (empty), [0, 2).
    lo, hi = pool_bins(np.array([-2]), np.array([4]), 2, 3, "library")
    assert lo.tolist() == [[0, 0]] and hi.tolist() == [[0, 2]]
    # start 2, 4 cells on a 3-wide map: [2, 4) -> [2, 3); [4, 6) -> [3, 3) (empty).
    lo, hi = pool_bins(torch.tensor([2]), torch.tensor([4]), 2, 3, "article")
    assert lo.tolist() == [[2, 3]] and hi.tolist() == [[3, 3]]


def test_pool_bins_unknown_convention():
    with pytest.raises(ValueError, match="convention"):
        pool_bins(np.array([0]), np.array([4]), 2, 3, "nearest")


# ----------------------------------------------------------------------------------------------
# RoI Align mapping, grid and sample positions


def test_align_mapping_aligned_and_unaligned():
    x1, x2 = np.float32(1.3), np.float32(5.0)
    start, length = align_mapping(x1, x2, 1.0, True)
    assert start == pytest.approx(0.8) and length == pytest.approx(3.7)
    start, length = align_mapping(x1, x2, 1.0, False)
    assert start == pytest.approx(1.3) and length == pytest.approx(3.7)
    # stride 4: image 2 -> 0.5 cells; aligned subtracts half a cell.
    start, length = align_mapping(torch.tensor([2.0]), torch.tensor([4.0]), 0.25, True)
    assert start.tolist() == [0.0] and length.tolist() == [0.5]
    # aligned=False raises a thin (or reversed) box to one cell; aligned=True keeps the sign.
    start, length = align_mapping(torch.tensor([2.0]), torch.tensor([4.0]), 0.25, False)
    assert start.tolist() == [0.5] and length.tolist() == [1.0]
    _, length = align_mapping(np.float32(6.0), np.float32(2.0), 1.0, True)
    assert length == -4.0
    _, length = align_mapping(np.float32(6.0), np.float32(2.0), 1.0, False)
    assert length == 1.0


def test_aligned_worked_example():
    # Detectron2's ROIAlign docstring: a box edge at image x = 1.3 with s = 1 lies between the
    # centres of pixels 0 and 1 (drawn at 0.5 and 1.5).
    width = 5
    start, _ = align_mapping(np.float32(1.3), np.float32(4.0), 1.0, True)
    assert start == pytest.approx(0.8)            # library coordinate 0.8 = drawn at 1.3
    low, high, w_low, w_high = linear_weights(np.asarray(start), width)
    assert (int(low), int(high)) == (0, 1)
    assert float(w_low) == pytest.approx(0.2) and float(w_high) == pytest.approx(0.8)
    start, _ = align_mapping(np.float32(1.3), np.float32(4.0), 1.0, False)
    assert start == pytest.approx(1.3)            # drawn at 1.8: half a pixel too far right
    low, high, w_low, w_high = linear_weights(np.asarray(start), width)
    assert (int(low), int(high)) == (1, 2)
    assert float(w_low) == pytest.approx(0.7) and float(w_high) == pytest.approx(0.3)


def test_sampling_grid_fixed_and_adaptive():
    lengths = np.array([5.0, 4.0, 0.5, 0.0, -3.0], dtype=np.float32)
    assert sampling_grid(lengths, 2, 3).tolist() == [3, 3, 3, 3, 3]
    # adaptive: ceil(length / 2) = ceil(2.5, 2, 0.25, 0, -1.5) = 3, 2, 1, 0, -1
    assert sampling_grid(lengths, 2, 0).tolist() == [3, 2, 1, 0, -1]
    assert sampling_grid(torch.from_numpy(lengths), 2, -1).tolist() == [3, 2, 1, 0, -1]
    assert sampling_grid(torch.from_numpy(lengths), 2, 0).dtype == torch.int64


def test_sample_coords():
    # Box [0, 4) (library frame), 2 bins of 2, 2 samples per bin: at 0.5, 1.5 | 2.5, 3.5.
    # Second RoI [1, 4), 1 bin... with grid 1 (one sample at the bin centre), padded to 2.
    start = np.array([0.0, 1.0], np.float32)
    length = np.array([4.0, 3.0], np.float32)
    grid = np.array([2, 1])
    coords, mask = sample_coords(start, length, 2, grid, 2)
    assert coords.shape == (2, 2, 2) and mask.shape == (2, 2, 2)
    np.testing.assert_allclose(coords[0], [[0.5, 1.5], [2.5, 3.5]])
    # bin = 1.5; sample 0 of bin p at 1 + 1.5 p + 0.5 * 1.5 = 1.75, 3.25
    np.testing.assert_allclose(coords[1][:, 0], [1.75, 3.25])
    assert mask[0].all() and mask[1][:, 0].all() and not mask[1][:, 1].any()
    t_coords, t_mask = sample_coords(torch.from_numpy(start), torch.from_numpy(length), 2,
                                     torch.from_numpy(grid), 2)
    np.testing.assert_array_equal(t_coords.numpy(), coords)
    np.testing.assert_array_equal(t_mask.numpy(), mask)
    # grid <= 0: no sample at all.
    _, mask = sample_coords(np.array([0.0], np.float32), np.array([0.0], np.float32), 3,
                            np.array([0]), 1)
    assert not mask.any()


# ----------------------------------------------------------------------------------------------
# normalize_box and rectangles


def test_normalize_box_sorts_corners():
    assert normalize_box((5, 1, 2, 7)) == (2.0, 1.0, 5.0, 7.0)
    assert normalize_box(np.array([1.5, 2.5, 0.5, 0.5])) == (0.5, 0.5, 1.5, 2.5)


@pytest.mark.parametrize("box", [
    (1, 2, 3),
    (1, 2, 3, 4, 5),
    (0, 0, "a", 1),
    (0, 0, None, 1),
    (0, 0, float("nan"), 1),
    (0, float("inf"), 1, 1),
    (0, 0, 1, -float("inf")),
])
def test_normalize_box_errors(box):
    with pytest.raises(ValueError, match="box"):
        normalize_box(box)


def test_rect_helpers():
    assert rect_area((0, 0, 2, 3)) == 6
    assert rect_area((2, 0, 1, 3)) == 0
    assert rect_area(None) == 0
    assert rect_intersection((0, 0, 2, 2), (1, 1, 3, 3)) == (1, 1, 2, 2)
    assert rect_intersection((0, 0, 1, 1), (1, 0, 2, 1)) is None     # touching edges only
    assert rect_intersection(None, (0, 0, 1, 1)) is None
