"""Gradients with respect to the box (roiviz.box_grad and every op's backward).

- roi_align against autograd through torchvision 0.28.0's own differentiable ``_roi_align``
  (loaded from the wheel's file, tests/torchvision_oracle.py), float64, boxes inside the map,
  both ``aligned``, sampling ratios 1-4 and adaptive, several scales; and where the two differ.
- precise_roi_pool: float64 gradcheck on the boxes (both conventions); the authors' convention
  against a line-by-line port of PreciseRoIPooling's forward and coordinate-backward kernels
  (tests/prroi_reference.py) on 300 random cases; d/dx1 continuous across cell lines (a sweep).
  The same against a port of PaddlePaddle's old CPU ``prroi_pool`` kernels
  (tests/paddle_prroi_reference.py), and where the two differ (a zero-size box).
- roi_warp: MNC's straight-through rounding, checked against roi_align on the snapped box
  (and against a port of MNC's own coordinate backward in tests/test_roi_warp.py).
- roi_pool: zeros, never raises. MultiScaleRoIAlign: each box's level, a zero gradient for an
  unused level. The nn.Module wrappers. Bad input: half-precision boxes, mixed lists, empty and
  off-map boxes give finite gradients. The forward is the same, bit for bit, with box gradients.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from prroi_reference import coordinate_backward as prroi_coordinate_backward
from prroi_reference import forward as prroi_forward
import paddle_prroi_reference
from torchvision_oracle import load_roi_align_module, reference_roi_align

from roiviz.geometry import snap_box
from roiviz.ops import (MultiScaleRoIAlign, PreciseRoIPool, RoIAlign, RoIPool, precise_roi_pool,
                        roi_align, roi_pool, roi_warp)

F64 = torch.float64


@pytest.fixture(scope="module")
def tv_roi_align():
    return reference_roi_align()


def random_boxes(rng, count: int, width: int, height: int, scale: float, images: int = 2,
                 margin: float = 0.0) -> torch.Tensor:
    """``[count, 5]`` float64 boxes (image pixels) whose feature-unit corners lie in
    ``[margin, size - 1 - margin]``, positive size."""
    xs = np.sort(rng.uniform(margin, width - 1 - margin, (count, 2)), 1) / scale
    ys = np.sort(rng.uniform(margin, height - 1 - margin, (count, 2)), 1) / scale
    batch = rng.integers(0, images, count)
    return torch.tensor(np.column_stack([batch, xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]]), dtype=F64)


def grads(op, x: torch.Tensor, boxes: torch.Tensor, weight: torch.Tensor | None = None):
    """``(out, d<out * weight>/d boxes, d/d x)`` with fresh leaves."""
    x = x.detach().clone().requires_grad_()
    b = boxes.detach().clone().requires_grad_()
    out = op(x, b)
    w = torch.randn_like(out, generator=torch.Generator().manual_seed(1)) if weight is None else weight
    (out * w).sum().backward()
    return out.detach(), b.grad, x.grad


# ----------------------------------------------------------------------------------------------
# RoI Align against torchvision's _roi_align


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("ratio", [1, 2, 3, 4, -1])
@pytest.mark.parametrize("scale", [1.0, 0.5, 0.25])
def test_roi_align_box_grad_equals_torchvision_reference(tv_roi_align, aligned, ratio, scale):
    rng = np.random.default_rng(int(scale * 100) + ratio * 7 + aligned)
    x = torch.tensor(rng.standard_normal((2, 3, 11, 13)), dtype=F64)
    boxes = random_boxes(rng, 24, 13, 11, scale)
    weight = torch.tensor(rng.standard_normal((24, 3, 3, 2)), dtype=F64)
    ours = grads(lambda x, b: roi_align(x, b, (3, 2), scale, ratio, aligned), x, boxes, weight)
    ref = grads(lambda x, b: tv_roi_align(x, b, scale, 3, 2, ratio, aligned), x, boxes, weight)
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-10)
    assert torch.all(ours[1][:, 0] == 0) and ours[1][:, 1:].abs().sum() > 0


def test_where_torchvision_reference_differs_from_the_kernel(tv_roi_align):
    """Samples beyond -1 or H: the C++ kernel (and roiviz) read 0, ``_roi_align`` reads the
    border cell (it only clamps). The values differ, and so does the gradient along the other
    axis (the clamped sample still moves with y1, y2 there); along the clamped axis it is 0 in
    both."""
    x = torch.arange(1.0, 1.0 + 30, dtype=F64).reshape(1, 1, 5, 6)
    boxes = torch.tensor([[0, -4.0, 1.0, 3.0, 3.0]], dtype=F64)   # left samples at x < -1
    ours = grads(lambda x, b: roi_align(x, b, (1, 2), 1.0, 1, False), x, boxes)
    ref = grads(lambda x, b: tv_roi_align(x, b, 1.0, 1, 2, 1, False), x, boxes)
    assert ours[0][0, 0, 0, 0] == 0 and ref[0][0, 0, 0, 0] != 0      # the left bin's one sample
    torch.testing.assert_close(ours[1][:, [1, 3]], ref[1][:, [1, 3]], rtol=1e-12, atol=1e-12)
    assert torch.all((ours[1][0, [2, 4]] - ref[1][0, [2, 4]]).abs() > 0.1)


def test_roi_align_box_grad_measured_jump():
    """CONVENTIONS.md's worked number: sr 2, 1 x 1, aligned=True; d out / d x1 jumps from
    -0.308 to +0.172 at x1 = 1.6 (the sample at 0.75 x1 + 0.8 crosses the line 2.0)."""
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.standard_normal((1, 1, 8, 8)), dtype=F64)

    def d_x1(x1):
        b = torch.tensor([[0, x1, 2.0, 5.2, 5.0]], dtype=F64, requires_grad=True)
        roi_align(x, b, 1, 1.0, 2, True).sum().backward()
        return float(b.grad[0, 1])

    before, after = d_x1(1.6 - 1e-6), d_x1(1.6 + 1e-6)
    assert abs(after - before) > 0.01        # a jump where a sample crosses a cell line


# ----------------------------------------------------------------------------------------------
# Precise RoI Pooling


@pytest.mark.parametrize("convention", ["aligned", "authors"])
def test_precise_roi_pool_gradcheck_boxes(convention):
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.standard_normal((2, 2, 9, 10)), dtype=F64)
    boxes = random_boxes(rng, 4, 10, 9, 0.5, margin=0.3)
    index, coords = boxes[:, :1], boxes[:, 1:].clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda c: precise_roi_pool(x, torch.cat([index, c], 1), (3, 2), 0.5, convention=convention), (coords,))
    small = x[:, :1, :6, :7].clone().requires_grad_()                  # features and boxes together
    inside = random_boxes(rng, 2, 7, 6, 0.5, margin=0.3)
    index, coords = inside[:, :1], inside[:, 1:].clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda f, c: precise_roi_pool(f, torch.cat([index, c], 1), 2, 0.5, convention=convention), (small, coords))


def authors_convention_cases(rng, count: int, reversed_share: float):
    """Random ``(data [H, W], roi (x1, y1, x2, y2), output, scale, top_diff, out, boxes.grad)``
    of ``precise_roi_pool(convention="authors")``, float64: corners anywhere from two cells off
    the map to two past it (the kernels read 0 there), a share of them reversed."""
    for _ in range(count):
        height, width = (int(v) for v in rng.integers(1, 9, 2))
        data = rng.standard_normal((height, width))
        scale = float(rng.choice([1.0, 0.5, 0.25]))
        x1, x2 = rng.uniform(-2, width + 2, 2)
        y1, y2 = rng.uniform(-2, height + 2, 2)
        if rng.random() >= reversed_share:
            x1, x2, y1, y2 = min(x1, x2), max(x1, x2), min(y1, y2), max(y1, y2)
        roi = np.array([x1, y1, x2, y2]) / scale
        output = tuple(int(v) for v in rng.integers(1, 4, 2))
        top_diff = rng.standard_normal(output)
        b = torch.tensor([[0, *roi]], dtype=F64, requires_grad=True)
        out = precise_roi_pool(torch.tensor(data)[None, None], b, output, scale, convention="authors")
        (out[0, 0] * torch.tensor(top_diff)).sum().backward()
        yield data, roi, output, scale, top_diff, out[0, 0].detach().numpy(), b.grad[0].numpy()


def test_precise_roi_pool_authors_convention_equals_their_kernels():
    worst_out = worst_grad = 0.0
    # Reversed boxes too (both give 0).
    for data, roi, output, scale, top_diff, out, grad in authors_convention_cases(
            np.random.default_rng(2018), 300, reversed_share=0.1):
        expected = prroi_forward(data, roi, output, scale)
        expected_grad = prroi_coordinate_backward(data, roi, output, scale, top_diff)
        worst_out = max(worst_out, float(np.abs(out - expected).max()))
        worst_grad = max(worst_grad, float(np.abs(grad[1:] - expected_grad).max()))
        assert grad[0] == 0
    assert worst_out < 1e-12 and worst_grad < 1e-10, (worst_out, worst_grad)


def test_precise_roi_pool_authors_convention_equals_paddles_cpu_kernels():
    """PaddlePaddle's CPU kernels compute the authors' integrals and edge terms; their four edge
    partials are stored as float, so the box gradients agree to float32 rounding."""
    worst_out = worst_grad = 0.0
    for data, roi, output, scale, top_diff, out, grad in authors_convention_cases(
            np.random.default_rng(2019), 300, reversed_share=0.0):
        expected = paddle_prroi_reference.forward(data, roi, output, scale)
        expected_grad = paddle_prroi_reference.coordinate_backward(data, roi, output, scale, top_diff)
        worst_out = max(worst_out, float(np.abs(out - expected).max()))
        size = max(1.0, float(np.abs(expected_grad).max()))
        worst_grad = max(worst_grad, float(np.abs(grad[1:] - expected_grad).max()) / size)
    assert worst_out < 1e-12 and worst_grad < 1e-5, (worst_out, worst_grad)


def test_paddles_kernel_gives_nan_for_a_zero_size_box_where_roiviz_gives_zero():
    data = np.arange(12.0).reshape(3, 4)
    roi = np.array([1.0, 1.0, 1.0, 2.5])                   # zero width
    assert np.isnan(paddle_prroi_reference.coordinate_backward(data, roi, (2, 2), 1.0, np.ones((2, 2)))).all()
    b = torch.tensor([[0, *roi]], dtype=F64, requires_grad=True)
    precise_roi_pool(torch.tensor(data)[None, None], b, 2, 1.0, convention="authors").sum().backward()
    assert torch.equal(b.grad, torch.zeros_like(b))


def sweep_x1(op, x: torch.Tensor, x1s: np.ndarray) -> np.ndarray:
    """d(sum of the output)/d x1 for the box (x1, 2.0, 8.0, 6.0) at every x1."""
    out = []
    for x1 in x1s:
        b = torch.tensor([[0, x1, 2.0, 8.0, 6.0]], dtype=F64, requires_grad=True)
        op(x, b).sum().backward()
        out.append(float(b.grad[0, 1]))
    return np.array(out)


def test_precise_roi_pool_d_x1_is_continuous_across_cell_lines():
    """x1 slides across three cells in steps of 0.02: Precise RoI Pooling's d/dx1 changes by
    at most a Lipschitz bound per step, while RoI Align's (sr 2, same box) jumps."""
    rng = np.random.default_rng(7)
    x = torch.tensor(rng.standard_normal((1, 1, 10, 12)), dtype=F64)
    step = 0.02
    x1s = np.arange(1.0, 4.0, step)
    precise = sweep_x1(lambda f, b: precise_roi_pool(f, b, 2), x, x1s)
    align = sweep_x1(lambda f, b: roi_align(f, b, 2, 1.0, 2, True), x, x1s)
    lipschitz = 4 * float(x.abs().max()) * 4       # |d2 out / d x1^2| bound: values / bin widths
    assert np.abs(np.diff(precise)).max() <= lipschitz * step
    assert np.abs(np.diff(align)).max() > 20 * np.abs(np.diff(precise)).max()


# ----------------------------------------------------------------------------------------------
# RoI Warp, RoI Pool, the pyramid


@pytest.mark.parametrize("convention", ["library", "article"])
def test_roi_warp_box_grad_is_mncs_straight_through(convention):
    """d/d corner = spatial_scale x RoI Align's (aligned=True) gradient on the snapped box's
    corners: the rounding passed straight through, as MNC's coordinate backward."""
    rng = np.random.default_rng(11)
    x = torch.tensor(rng.standard_normal((2, 3, 12, 12)), dtype=F64)
    scale = 0.5
    boxes = random_boxes(rng, 10, 12, 12, scale, margin=0.6)
    _, warp_grad, _ = grads(lambda f, b: roi_warp(f, b, 3, scale, 2, convention=convention), x, boxes,
                            torch.ones(10, 3, 3, 3, dtype=F64))
    sx, lx = snap_box(boxes[:, 1] * scale, boxes[:, 3] * scale, convention)
    sy, ly = snap_box(boxes[:, 2] * scale, boxes[:, 4] * scale, convention)
    snapped = torch.stack([boxes[:, 0], sx, sy, sx + lx, sy + ly], 1).to(F64)
    _, align_grad, _ = grads(lambda f, b: roi_align(f, b, 3, 1.0, 2, True), x, snapped,
                             torch.ones(10, 3, 3, 3, dtype=F64))
    torch.testing.assert_close(warp_grad, scale * align_grad)


def test_roi_pool_box_grad_is_zero_and_never_raises():
    x = torch.randn(1, 2, 6, 7)
    b = torch.tensor([[0, 1.0, 1.0, 4.0, 5.0]], requires_grad=True)
    roi_pool(x, b, 2).sum().backward()
    assert torch.equal(b.grad, torch.zeros_like(b))
    xg = x.clone().requires_grad_()
    b.grad = None
    roi_pool(xg, b, 2).sum().backward()
    assert xg.grad.sum() == 2 * 2 * 2 and torch.equal(b.grad, torch.zeros_like(b))


def test_multiscale_box_grads_follow_each_box_level_and_unused_levels_get_zeros():
    torch.manual_seed(0)
    feats = {"p2": torch.randn(1, 3, 32, 32, dtype=F64), "p3": torch.randn(1, 3, 16, 16, dtype=F64),
             "p4": torch.randn(1, 3, 8, 8, dtype=F64)}
    leaves = {k: v.clone().requires_grad_() for k, v in feats.items()}
    boxes = torch.tensor([[2.0, 3.0, 20.0, 30.0], [10.0, 5.0, 90.0, 100.0]], dtype=F64, requires_grad=True)
    pooler = MultiScaleRoIAlign(["p2", "p3", "p4"], 2, 2, canonical_scale=56)
    out = pooler(leaves, [boxes], [(128, 128)])
    weight = torch.randn_like(out)
    (out * weight).sum().backward()
    levels = pooler.levels([boxes.detach()]).tolist()
    assert levels[0] != levels[1]
    used = {pooler.k_min + i for i in range(3)} - set(levels)
    for j, level in enumerate(levels):
        index = level - pooler.k_min
        b = torch.cat([torch.zeros(1, 1, dtype=F64), boxes[j:j + 1].detach()], 1).requires_grad_()
        (roi_align(list(feats.values())[index], b, 2, pooler.scales[index], 2) * weight[j:j + 1]).sum().backward()
        torch.testing.assert_close(boxes.grad[j], b.grad[0, 1:])
    for level in used:
        grad = list(leaves.values())[level - pooler.k_min].grad
        assert grad is not None and torch.equal(grad, torch.zeros_like(grad))


def test_modules_match_torchvisions_signatures_and_repr():
    module = load_roi_align_module()
    assert repr(RoIAlign(7, 0.25, 2)) == repr(module.RoIAlign(7, 0.25, 2))
    assert repr(RoIAlign((7, 5), 1 / 16, -1, True)) == repr(module.RoIAlign((7, 5), 1 / 16, -1, True))
    assert repr(RoIPool((7, 7), 0.0625)) == "RoIPool(output_size=(7, 7), spatial_scale=0.0625)"
    assert repr(PreciseRoIPool(7, 0.5)) == "PreciseRoIPool(output_size=7, spatial_scale=0.5, convention='aligned')"
    x = torch.randn(1, 2, 8, 8)
    b = torch.tensor([[0, 1.0, 1.0, 6.0, 5.0]])
    assert torch.equal(RoIAlign(3, 1.0, 2, True)(x, b), roi_align(x, b, 3, 1.0, 2, True))
    assert torch.equal(RoIPool(3, 1.0)(x, b), roi_pool(x, b, 3, 1.0))
    assert torch.equal(PreciseRoIPool(3, 1.0, convention="authors")(x, b),
                       precise_roi_pool(x, b, 3, 1.0, convention="authors"))


# ----------------------------------------------------------------------------------------------
# Bad input, and the forward unchanged

OPS = {
    "roi_align": lambda x, b: roi_align(x, b, 2, 1.0, 2, True),
    "roi_align_adaptive_legacy": lambda x, b: roi_align(x, b, 2, 1.0, -1, False),
    "roi_align_max": lambda x, b: roi_align(x, b, 2, 1.0, 2, True, "max"),
    "precise_roi_pool": lambda x, b: precise_roi_pool(x, b, 2),
    "precise_roi_pool_authors": lambda x, b: precise_roi_pool(x, b, 2, convention="authors"),
    "roi_warp": lambda x, b: roi_warp(x, b, 2),
    "roi_pool": lambda x, b: roi_pool(x, b, 2),
}
BAD_BOXES = [[0, 1.0, 1.0, 4.0, 5.0], [0, 2, 2, 2, 2], [0, -30, -30, -20, -20], [0, 3, 3, 1, 1],
             [0, -3, -2, 40, 50], [0, 6.5, 5.5, 9.0, 8.0]]


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("box_dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("map_dtype", [torch.float32, "same"])
def test_bad_boxes_give_finite_gradients(name, box_dtype, map_dtype):
    """Zero-size, off-map, reversed and partly-off boxes, in half precision too: finite."""
    x = torch.randn(1, 2, 6, 7, generator=torch.Generator().manual_seed(0))
    x = x.to(box_dtype if map_dtype == "same" else map_dtype)
    b = torch.tensor(BAD_BOXES, dtype=box_dtype, requires_grad=True)
    OPS[name](x, b).float().sum().backward()
    assert b.grad.dtype == box_dtype and torch.isfinite(b.grad.float()).all()
    assert torch.all(b.grad[:, 0] == 0)
    assert torch.all(b.grad[2].float() == 0)          # wholly off the map: nothing moves


@pytest.mark.parametrize("name", ["roi_align", "precise_roi_pool", "roi_warp", "roi_pool"])
def test_list_of_boxes_with_and_without_grad(name):
    x = torch.randn(2, 2, 8, 8)
    with_grad = torch.tensor([[1.0, 1.0, 5.0, 6.0]], requires_grad=True)
    without = torch.tensor([[2.0, 0.5, 6.0, 4.0], [0.0, 0.0, 3.0, 3.0]])
    op = OPS[name]
    out = op(x, [with_grad, without])
    out.sum().backward()
    assert with_grad.grad.shape == (1, 4) and torch.isfinite(with_grad.grad).all()
    b = torch.cat([torch.zeros(1, 1), with_grad.detach()], 1).requires_grad_()
    op(x[:1], b).sum().backward()
    torch.testing.assert_close(with_grad.grad, b.grad[:, 1:])


@pytest.mark.parametrize("name", list(OPS))
def test_forward_is_bit_identical_with_box_gradients(name):
    x = torch.randn(2, 4, 9, 11, generator=torch.Generator().manual_seed(5))
    b = random_boxes(np.random.default_rng(5), 16, 11, 9, 1.0).float()
    assert torch.equal(OPS[name](x, b), OPS[name](x, b.clone().requires_grad_()).detach())


FIXED_RATIO_OPS = {
    "roi_align": lambda x, b: roi_align(x, b, 1, 1.0, 2, True),
    "precise_roi_pool": lambda x, b: precise_roi_pool(x, b, 1),
    "roi_warp": lambda x, b: roi_warp(x, b, 1, 1.0, 2),
    "roi_pool": lambda x, b: roi_pool(x, b, 1),
}


@pytest.mark.parametrize("name", list(FIXED_RATIO_OPS))
def test_ops_refuse_boxes_past_the_cell_bound(name):
    """roi_pool on (0, 0, 1e19, 1) over [[1, 2, 3, 4]] returned 0 (the int64 casts wrapped);
    now every op refuses it with the traces' message; 2^24 cells still computes."""
    x = torch.tensor([[[[1.0, 2.0, 3.0, 4.0]]]], dtype=F64)
    op = FIXED_RATIO_OPS[name]
    with pytest.raises(ValueError, match="feature cells"):
        op(x, torch.tensor([[0, 0, 0, 1e19, 1]], dtype=F64))
    assert torch.isfinite(op(x, torch.tensor([[0, 0, 0, 2.0 ** 24, 1]], dtype=F64))).all()
    if name == "roi_pool":
        assert float(roi_pool(x, torch.tensor([[0, 0, 0, 2.0 ** 24, 1]], dtype=F64), 1)) == 4.0
