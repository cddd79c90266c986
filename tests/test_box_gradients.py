"""roiviz.box_gradients against independent references.

- RoI Align: autograd through a float64 transcription of torchvision's differentiable Python
  RoI Align (``torchvision/ops/roi_align.py``, ``_roi_align``: samples, clamp at 0, neighbours
  ``floor`` and ``floor + 1``, the last cell when ``floor >= H - 1``), written here in torch, with
  the C++ kernel's zero beyond ``[-1, H]`` that ``_roi_align`` lacks.
- Precise RoI Pooling: autograd through the integral written with torch
  (:func:`roiviz.bilinear.interpolant_integral` on tensors), and central differences of the
  plain-loop :func:`roiviz.precise_roi_pool.precise_roi_pool_reference`; and d/dx1 is continuous
  across cell lines while RoI Align's jumps.
- RoI Pool: zero. RoI Warp: a step function of the box (constant between roundings).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from roiviz.bilinear import interpolant_integral
from roiviz.box_gradients import Target, box_gradient, box_jacobian, target_weights
from roiviz.precise_roi_pool import precise_roi_pool_reference
from roiviz.records import Settings


def _align_torch(feature: torch.Tensor, box: torch.Tensor, pooled, scale, ratio, aligned):
    """float64 RoI Align of one box, differentiable in ``box`` (torchvision ``_roi_align``'s way)."""
    height, width = feature.shape
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = box * scale - offset
    w, h = x2 - x1, y2 - y1
    if not aligned:
        w, h = torch.clamp(w, min=1.0), torch.clamp(h, min=1.0)
    ph, pw = pooled
    gy = ratio if ratio > 0 else math.ceil(float(h.detach()) / ph)
    gx = ratio if ratio > 0 else math.ceil(float(w.detach()) / pw)
    iy = torch.arange(ph, dtype=torch.float64)[:, None] + (torch.arange(gy, dtype=torch.float64) + 0.5) / gy
    ix = torch.arange(pw, dtype=torch.float64)[:, None] + (torch.arange(gx, dtype=torch.float64) + 0.5) / gx
    ys, xs = y1 + iy * h / ph, x1 + ix * w / pw                           # [PH, gy], [PW, gx]

    def weights(c, size):  # [P, g] -> [P, g, size], as _roi_align's bilinear_interpolate
        inside = (c >= -1.0) & (c <= size)
        c = c.clamp(min=0)
        low = c.floor().long()
        edge = low >= size - 1
        low = torch.where(edge, size - 1, low)
        c = torch.where(edge, low.to(c.dtype), c)
        high = torch.where(edge, size - 1, low + 1)
        frac = c - low.to(c.dtype)
        out = torch.zeros(*c.shape, size, dtype=torch.float64)
        out = out.scatter_add(-1, low[..., None], (1 - frac)[..., None])
        out = out.scatter_add(-1, high[..., None], frac[..., None])
        return out * inside[..., None]

    ay, ax = weights(ys, height).mean(1), weights(xs, width).mean(1)     # [PH, H], [PW, W]
    return ay @ feature @ ax.T


def _random_case(rng):
    height, width = (int(v) for v in rng.integers(3, 14, size=2))
    stride = float(rng.choice([1, 2, 4, 8]))
    x1, y1 = rng.uniform(-0.5, width - 2) * stride, rng.uniform(-0.5, height - 2) * stride
    box = [x1, y1, x1 + rng.uniform(0.3, width) * stride, y1 + rng.uniform(0.3, height) * stride]
    feature = rng.standard_normal((height, width)).astype(np.float32)
    return feature, [float(np.float32(v)) for v in box], stride


@pytest.mark.parametrize("aligned", [True, False])
def test_roi_align_equals_autograd(aligned):
    rng = np.random.default_rng(7 + aligned)
    checked = 0
    for _ in range(150):
        feature, box, stride = _random_case(rng)
        ratio = int(rng.choice([-1, 1, 2, 3, 4]))
        pooled = tuple(int(v) for v in rng.integers(1, 5, size=2))
        settings = Settings(output_size=pooled, stride=stride, sampling_ratio=ratio, aligned=aligned)
        jac, _ = box_jacobian("roi_align", feature, box, settings)
        t_box = torch.tensor(box, dtype=torch.float64, requires_grad=True)
        out = _align_torch(torch.tensor(feature, dtype=torch.float64), t_box, pooled, 1 / stride, ratio, aligned)
        for p in range(pooled[0]):
            for q in range(pooled[1]):
                (g,) = torch.autograd.grad(out[p, q], t_box, retain_graph=True)
                assert np.allclose(jac[p, q], g.numpy(), rtol=1e-5, atol=1e-6), (box, settings, p, q)
        checked += 1
    assert checked == 150


def _precise_torch(feature: torch.Tensor, box: torch.Tensor, pooled, scale):
    height, width = feature.shape
    x1, y1, x2, y2 = box * scale - 0.5

    def axis(lo, hi, p, size):
        edges = lo + (hi - lo) * torch.arange(p + 1, dtype=torch.float64) / p
        return interpolant_integral(edges[:-1], edges[1:], size) / ((hi - lo) / p)

    return axis(y1, y2, pooled[0], height) @ feature @ axis(x1, x2, pooled[1], width).T


def test_precise_equals_autograd_and_differences():
    rng = np.random.default_rng(11)
    for _ in range(150):
        feature, box, stride = _random_case(rng)
        pooled = tuple(int(v) for v in rng.integers(1, 5, size=2))
        settings = Settings(output_size=pooled, stride=stride)
        jac, _ = box_jacobian("precise_roi_pool", feature, box, settings)
        t_box = torch.tensor(box, dtype=torch.float64, requires_grad=True)
        out = _precise_torch(torch.tensor(feature, dtype=torch.float64), t_box, pooled, 1 / stride)
        (g,) = torch.autograd.grad(out.sum(), t_box)
        assert np.allclose(jac.sum((0, 1)), g.numpy(), rtol=1e-7, atol=1e-10)
        # Central differences of the plain loop (float64): smooth, so a 1e-3 pixel step is close.
        h = 1e-3
        for k in range(4):
            up, down = list(box), list(box)
            up[k] += h
            down[k] -= h
            fd = (precise_roi_pool_reference(feature, up, pooled, 1 / stride)
                  - precise_roi_pool_reference(feature, down, pooled, 1 / stride)) / (2 * h)
            assert np.allclose(jac[..., k], fd, atol=2e-3 * max(1.0, np.abs(fd).max())), (box, k)


def _sweep(method, feature, settings, xs, y1=1.3, width_cells=2.4, height_cells=2.0):
    stride = settings.stride
    return np.array([box_jacobian(method, feature, (x, y1 * stride, x + width_cells * stride,
                                                    (y1 + height_cells) * stride), settings)[0][..., 0].sum()
                     for x in xs])


def test_precise_is_continuous_and_align_jumps():
    """Sweep x1 over three cells in steps of 0.002 cell: Precise RoI Pooling's d/dx1 changes by
    at most a few step sizes between neighbours (continuous); RoI Align's (sr 2, one bin) jumps
    by more than 0.1 where a sample crosses a cell line."""
    feature = np.random.default_rng(3).standard_normal((6, 9)).astype(np.float32)
    settings = Settings(output_size=(1, 1), stride=1.0, sampling_ratio=2, aligned=True)
    xs = np.arange(1.0, 4.0, 0.002)
    precise = _sweep("precise_roi_pool", feature, settings, xs)
    align = _sweep("roi_align", feature, settings, xs)
    assert np.abs(np.diff(precise)).max() < 0.02
    assert np.abs(np.diff(align)).max() > 0.1
    assert np.count_nonzero(np.abs(np.diff(align)) > 0.05) >= 4   # 2 samples x 3 cells, jumps


def test_roi_pool_has_none_and_warp_is_constant_between_roundings():
    feature = np.random.default_rng(5).standard_normal((6, 9)).astype(np.float32)
    settings = Settings(output_size=(2, 2), stride=1.0, sampling_ratio=2)
    assert not np.any(box_jacobian("roi_pool", feature, (1.2, 1.1, 5.3, 4.2), settings)[0])
    xs = np.arange(1.0, 1.45, 0.01)          # x1 rounds to 1 and x2 = x1 + 2 to 3 throughout
    warp = _sweep("roi_warp", feature, settings, xs, width_cells=2.0)
    assert np.ptp(warp) == 0 and warp[0] != 0


def test_targets():
    feature = np.random.default_rng(9).standard_normal((7, 7)).astype(np.float32)
    settings = Settings(output_size=(2, 2), stride=1.0, sampling_ratio=2)
    box = (1.3, 1.2, 5.1, 4.9)
    jac, out = box_jacobian("roi_align", feature, box, settings)
    assert np.allclose(box_gradient("roi_align", feature, box, settings).gradient, jac.sum((0, 1)))
    assert np.allclose(box_gradient("roi_align", feature, box, settings, Target("bin", (1, 0))).gradient, jac[1, 0])
    ref = np.zeros((2, 2))
    g = box_gradient("roi_align", feature, box, settings, Target("match", None, ref)).gradient
    assert np.allclose(g, -(out[..., None] * jac).sum((0, 1)))
    for bad in (Target("bin", (2, 0)), Target("match", None, np.zeros(3)), Target("nearest")):
        with pytest.raises(ValueError):
            target_weights(out, bad)


def test_channels_are_the_planes():
    feature = np.random.default_rng(2).standard_normal((3, 6, 8)).astype(np.float32)
    settings = Settings(output_size=(3, 3), stride=2.0)
    box = (2.5, 1.0, 11.0, 9.5)
    for method in ("roi_align", "precise_roi_pool", "roi_warp"):
        jac, out = box_jacobian(method, feature, box, settings)
        for c in range(3):
            one, o = box_jacobian(method, feature[c], box, settings)
            assert np.array_equal(o, out[c]) and np.allclose(one, jac[c], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("method", ["roi_align", "roi_warp", "precise_roi_pool", "roi_pool"])
def test_equals_autograd_through_the_ops(method):
    """The closed form (what the stage's engine mirrors) = autograd through roiviz's batched ops
    with ``boxes.requires_grad`` (float32 map and boxes), per bin, on 120 random cases (avg and max)."""
    from roiviz.methods import REGISTRY

    rng = np.random.default_rng(sum(map(ord, method)))
    checked = 0
    for _ in range(120):
        feature, box, stride = _random_case(rng)
        pooled = tuple(int(v) for v in rng.integers(1, 4, size=2))
        settings = Settings(output_size=pooled, stride=stride, sampling_ratio=int(rng.choice([-1, 1, 2, 3])),
                            aligned=bool(rng.random() < 0.5), reduce=str(rng.choice(["avg", "max"])),
                            convention=str(rng.choice(["library", "article"])))
        jac, _ = box_jacobian(method, feature, box, settings)
        # float32, as the stage and the trace: samples exactly on a cell line (common for RoI
        # Warp, whose snapped box is whole cells) take the same one-sided derivative in both.
        rois = torch.tensor([[0.0, *box]], dtype=torch.float32, requires_grad=True)
        out = REGISTRY[method].run(torch.tensor(feature)[None, None], rois, settings)
        for p in range(pooled[0]):
            for q in range(pooled[1]):
                (g,) = torch.autograd.grad(out[0, 0, p, q], rois, retain_graph=True, allow_unused=True)
                g = np.zeros(4) if g is None else g[0, 1:].double().numpy()
                assert np.allclose(jac[p, q], g, rtol=1e-3, atol=1e-4), (box, settings, p, q, jac[p, q], g)
        checked += 1
    assert checked == 120
