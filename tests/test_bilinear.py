"""Tests for roiviz.bilinear: the kernels' 1-D interpolation rules and their exact integral."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from roiviz.bilinear import interpolant_integral, linear_weights


def _weights_dict(coord: float, size: int) -> dict[int, float]:
    low, high, w_low, w_high = linear_weights(np.asarray(coord, dtype=np.float64), size)
    out: dict[int, float] = {}
    for cell, w in ((int(low), float(w_low)), (int(high), float(w_high))):
        if w:
            out[cell] = out.get(cell, 0.0) + w
    return out


def test_worked_numbers():
    # Width 5 (cells 0..4, values at library coordinates 0..4).
    # x = 1.3: neighbours floor(1.3) = 1 and 2, weights 1 - 0.3 = 0.7 and 0.3.
    low, high, w_low, w_high = linear_weights(np.float32(1.3), 5)
    assert (int(low), int(high)) == (1, 2)
    assert float(w_low) == pytest.approx(0.7) and float(w_high) == pytest.approx(0.3)
    # x = -0.4 is in [-1, 0): clamped to 0, reads cell 0 alone.
    assert _weights_dict(-0.4, 5) == {0: 1.0}
    # x = 5.2 > W = 5: off the map, weight 0 everywhere.
    low, high, w_low, w_high = linear_weights(np.float32(5.2), 5)
    assert float(w_low) == 0.0 and float(w_high) == 0.0
    assert _weights_dict(5.2, 5) == {}


@pytest.mark.parametrize("coord, expected", [
    (-1.0, {0: 1.0}),        # exactly -1 is still on the map (the kernels test x < -1)
    (-1.0001, {}),
    (0.0, {0: 1.0}),
    (3.5, {3: 0.5, 4: 0.5}),
    (4.0, {4: 1.0}),         # floor(x) >= W - 1: row W - 1 for both neighbours
    (4.7, {4: 1.0}),
    (5.0, {4: 1.0}),         # exactly W is on the map
])
def test_edges(coord, expected):
    got = _weights_dict(coord, 5)
    assert got.keys() == expected.keys()
    for k in expected:
        assert got[k] == pytest.approx(expected[k])


def test_size_one():
    assert _weights_dict(0.6, 1) == {0: 1.0}
    assert _weights_dict(-0.9, 1) == {0: 1.0}
    assert _weights_dict(1.2, 1) == {}


def test_indices_always_valid_and_weights_sum():
    coords = np.linspace(-3, 9, 1001, dtype=np.float32)
    low, high, w_low, w_high = linear_weights(coords, 6)
    assert low.min() >= 0 and high.max() <= 5
    on_map = (coords >= -1) & (coords <= 6)
    np.testing.assert_allclose((w_low + w_high)[on_map], 1.0, atol=1e-6)
    assert np.all((w_low + w_high)[~on_map] == 0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-3, 12, width=32), min_size=1, max_size=40), st.integers(1, 9),
       st.sampled_from([np.float32, np.float64]))
def test_numpy_and_torch_identical(coords, size, dtype):
    a = np.asarray(coords, dtype=dtype)
    out_np = linear_weights(a, size)
    out_t = linear_weights(torch.from_numpy(a), size)
    for n, t in zip(out_np, out_t):
        np.testing.assert_array_equal(n, t.numpy())
        assert n.dtype == t.numpy().dtype
    lo = a - np.asarray(0.7, dtype=dtype)
    np.testing.assert_allclose(interpolant_integral(lo, a, size),
                               interpolant_integral(torch.from_numpy(lo), torch.from_numpy(a), size).numpy(),
                               rtol=0, atol=1e-6)


def _quadrature(lo: float, hi: float, size: int, n: int = 20000) -> np.ndarray:
    """Midpoint sum of each cell's 1-D weight (from linear_weights) over [lo, hi]."""
    if hi <= lo:
        return np.zeros(size)
    h = (hi - lo) / n
    x = lo + (np.arange(n) + 0.5) * h
    low, high, w_low, w_high = linear_weights(x, size)
    out = np.zeros(size)
    np.add.at(out, low, w_low * h)
    np.add.at(out, high, w_high * h)
    return out


@pytest.mark.parametrize("lo, hi, size", [
    (0.0, 4.0, 5),      # the middle
    (0.3, 2.8, 5),
    (-1.5, 0.7, 5),     # crosses the left edge (-1) where the interpolant jumps to 0
    (-0.8, -0.2, 5),    # inside the clamped strip [-1, 0]: cell 0 with weight 1
    (3.6, 5.9, 5),      # crosses the right clamped strip [4, 5] and the jump at 5
    (-2.0, 7.0, 5),     # covers everything: each cell integrates to 1, the edge cells to 1.5
    (-1.5, 1.5, 1),     # size 1: cell 0 over [-1, 1]
    (0.2, 0.4, 1),
    (6.0, 8.0, 5),      # entirely off the map
    (2.0, 2.0, 5),      # empty
    (3.0, 1.0, 5),      # reversed: zeros
])
def test_interpolant_integral_equals_quadrature(lo, hi, size):
    exact = interpolant_integral(np.float64(lo), np.float64(hi), size)
    assert exact.shape == (size,)
    np.testing.assert_allclose(exact, _quadrature(lo, hi, size), atol=2e-4)


def test_interpolant_integral_full_line():
    # Over [-1, W] each interior cell's hat integrates to 1; an edge cell gets half a hat
    # ([0, 1] for cell 0) plus its clamped strip of weight 1 ([-1, 0]): 1.5. With W = 1 cell 0
    # has weight 1 on all of [-1, 1]: 2.
    exact = interpolant_integral(np.float64(-1.0), np.float64(5.0), 5)
    np.testing.assert_allclose(exact, [1.5, 1, 1, 1, 1.5])
    np.testing.assert_allclose(interpolant_integral(np.float64(-1.0), np.float64(1.0), 1), [2.0])


@settings(max_examples=60, deadline=None)
@given(st.floats(-2.5, 8.5), st.floats(0, 6), st.integers(1, 7))
def test_interpolant_integral_quadrature_property(lo, width, size):
    hi = lo + width
    np.testing.assert_allclose(interpolant_integral(np.float64(lo), np.float64(hi), size),
                               _quadrature(lo, hi, size, n=8000), atol=2e-3)
