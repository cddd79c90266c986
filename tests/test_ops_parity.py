"""Parity of roiviz.ops with ONNX Runtime, an independent implementation of the same kernels.

ORT's ``RoiAlign`` (opset 16) and ``MaxRoiPool`` follow the C++ logic of torchvision's CPU
kernels (SEMANTICS.md, "References to check against"). Every case below compares the forward
pass within 1e-5 absolute on random float32 maps.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from onnx_reference import ort_max_roi_pool, ort_roi_align
from roiviz.ops import precise_roi_pool, roi_align, roi_pool, roi_warp

STRIDES = [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 20, 24, 32]   # powers of two and not
N_CASES = 240
TOLERANCE = 1e-5


def random_boxes(rng: np.random.Generator, h: int, w: int, stride: float, n_images: int,
                 allow_reversed: bool = True) -> np.ndarray:
    """A mix of boxes in image pixels, as roiviz's ``[K, 5]``: inside the map, partly outside,
    tiny (less than a cell), degenerate (zero width or height) and reversed corners."""
    width, height = w * stride, h * stride
    boxes = []
    # inside
    x1, y1 = rng.uniform(0, width), rng.uniform(0, height)
    boxes.append([x1, y1, rng.uniform(x1, width), rng.uniform(y1, height)])
    # partly outside
    x1, y1 = rng.uniform(-0.5 * width, width), rng.uniform(-0.5 * height, height)
    boxes.append([x1, y1, x1 + rng.uniform(0.2, 1.0) * width, y1 + rng.uniform(0.2, 1.0) * height])
    # tiny: less than one cell
    x1, y1 = rng.uniform(-stride, width), rng.uniform(-stride, height)
    boxes.append([x1, y1, x1 + rng.uniform(0, stride), y1 + rng.uniform(0, stride)])
    # degenerate: zero width, zero height
    x1, y1 = rng.uniform(0, width), rng.uniform(0, height)
    boxes.append([x1, y1, x1, y1 + rng.uniform(0, height)])
    boxes.append([x1, y1, x1 + rng.uniform(0, width), y1])
    # on cell boundaries and half cells (C's round at .5, exact bin edges)
    q = rng.integers(-2, 2 * max(h, w) + 2, 4) / 2 * stride
    boxes.append([min(q[0], q[2]), min(q[1], q[3]), max(q[0], q[2]), max(q[1], q[3])])
    # far outside
    boxes.append([width + 3 * stride, -4 * stride, width + 9 * stride, -stride * 1.5])
    if allow_reversed:
        x1, y1 = rng.uniform(0, width), rng.uniform(0, height)
        boxes.append([x1, y1, x1 - rng.uniform(0, width), y1 - rng.uniform(0, height)])
        boxes.append([x1, y1, x1 + rng.uniform(0, width), y1 - rng.uniform(0, height)])
    boxes = np.asarray(boxes, dtype=np.float64)
    batch = rng.integers(0, n_images, len(boxes))
    return np.column_stack([batch, boxes]).astype(np.float32)


def random_case(rng: np.random.Generator):
    n, c = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    h, w = int(rng.integers(1, 25)), int(rng.integers(1, 25))
    stride = float(rng.choice(STRIDES))
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    output_size = (int(rng.integers(1, 15)), int(rng.integers(1, 15)))
    return x, n, h, w, stride, output_size


def test_roi_align_matches_onnxruntime():
    rng = np.random.default_rng(2024)
    worst, configs = 0.0, set()
    for case in range(N_CASES):
        x, n, h, w, stride, output_size = random_case(rng)
        sampling_ratio = int(rng.choice([0, 0, 1, 2, 3, 4]))
        aligned = bool(case % 2)
        # ORT aborts ("Integer overflow") on reversed boxes with half_pixel and adaptive sampling.
        rois = random_boxes(rng, h, w, stride, n, allow_reversed=not (aligned and sampling_ratio == 0))
        expected = ort_roi_align(x, rois, output_size, 1 / stride, sampling_ratio, aligned)
        out = roi_align(torch.from_numpy(x), torch.from_numpy(rois), output_size, 1 / stride,
                        sampling_ratio, aligned).numpy()
        err = float(np.abs(out - expected).max())
        worst = max(worst, err)
        assert err <= TOLERANCE, (f"case {case}: max abs error {err:.3g}, stride {stride}, aligned "
                                  f"{aligned}, sampling_ratio {sampling_ratio}, output {output_size}")
        configs.add((aligned, sampling_ratio))
    assert len(configs) == 10                    # both modes x adaptive and 1..4 were exercised
    print(f"roi_align vs ORT RoiAlign: {N_CASES} cases, max abs error {worst:.3g}")


def test_roi_pool_matches_onnxruntime():
    rng = np.random.default_rng(2025)
    worst = 0.0
    for case in range(N_CASES):
        x, n, h, w, stride, output_size = random_case(rng)
        rois = random_boxes(rng, h, w, stride, n)
        expected = ort_max_roi_pool(x, rois, output_size, 1 / stride)
        out = roi_pool(torch.from_numpy(x), torch.from_numpy(rois), output_size, 1 / stride).numpy()
        err = float(np.abs(out - expected).max())
        worst = max(worst, err)
        assert err <= TOLERANCE, f"case {case}: max abs error {err:.3g}, stride {stride}, output {output_size}"
    print(f"roi_pool vs ORT MaxRoiPool: {N_CASES} cases, max abs error {worst:.3g}")


def test_pool_float32_bin_edge_matches_ort():
    # 57 cells into 7 bins: in float32 the last bin ends at ceil(7 * float32(57/7)) = 58, one
    # cell past the snapped region (test_geometry.py::test_pool_bins_float32_rounding).
    # Column 57 holds the largest value, so the last bin's output shows whether it was read.
    x = np.zeros((1, 1, 1, 60), np.float32)
    x[0, 0, 0, 57] = 5.0
    rois = np.array([[0, 0, 0, 56, 0]], np.float32)      # columns 0..56 inclusive: 57 cells
    expected = ort_max_roi_pool(x, rois, (1, 7), 1.0)
    out = roi_pool(torch.from_numpy(x), torch.from_numpy(rois), (1, 7), 1.0).numpy()
    assert expected[0, 0, 0, -1] == 5.0
    np.testing.assert_array_equal(out, expected)


def test_pool_round_just_below_half_matches_ort():
    # Image x = 16 - 2**-20 at stride 32 is float32 0.49999997 cells: C's round gives 0.
    x = np.arange(16, dtype=np.float32)[::-1].reshape(1, 1, 4, 4).copy()
    rois = np.array([[0, 16 - 2 ** -20, 0, 100, 100]], np.float32)
    expected = ort_max_roi_pool(x, rois, (1, 1), 1 / 32)
    out = roi_pool(torch.from_numpy(x), torch.from_numpy(rois), (1, 1), 1 / 32).numpy()
    np.testing.assert_array_equal(out, expected)
    assert out.item() == 15.0                            # column 0 is read


@pytest.mark.parametrize("op, kwargs", [
    (roi_align, dict(spatial_scale=0.25, sampling_ratio=2, aligned=True)),
    (roi_align, dict(spatial_scale=0.5, sampling_ratio=-1, aligned=False, reduce="max")),
    (roi_pool, dict(spatial_scale=0.25)),
    (roi_pool, dict(spatial_scale=0.25, convention="article")),
    (roi_warp, dict(spatial_scale=0.25, sampling_ratio=0)),
    (precise_roi_pool, dict(spatial_scale=0.25)),
])
def test_list_of_tensors_equals_tensor_k5(op, kwargs):
    rng = np.random.default_rng(5)
    x = torch.tensor(rng.standard_normal((3, 2, 9, 11)).astype(np.float32))
    def boxes(k):
        corner = rng.uniform(-4, 36, (k, 2))
        return torch.tensor(np.hstack([corner, corner + rng.uniform(2, 20, (k, 2))]).astype(np.float32))
    per_image = [boxes(k) for k in (2, 0, 3)]
    k5 = torch.cat([torch.cat([torch.full((len(b), 1), float(i)), b], 1) for i, b in enumerate(per_image)])
    out_list = op(x, per_image, (3, 4), **kwargs)
    out_k5 = op(x, k5, (3, 4), **kwargs)
    assert out_list.shape == (5, 2, 3, 4)
    torch.testing.assert_close(out_list, out_k5, rtol=0, atol=0)
    # The batch index is honoured: image 2's boxes read image 2.
    out_wrong = op(x, torch.cat([torch.zeros(len(k5), 1), k5[:, 1:]], 1), (3, 4), **kwargs)
    assert not torch.equal(out_wrong[2:], out_k5[2:])


def test_onnx_max_mode_differs_from_ours():
    # ONNX's RoiAlign mode="max" takes, for each sample, the max of the four *weighted corner
    # terms* w_i * v_i, then the max over samples; roiviz (the Mask R-CNN paper, mmcv) takes the
    # max over samples of the interpolated value sum_i w_i * v_i. On a constant map of ones, a
    # single sample in the middle of four cells (weights 1/4 each) interpolates to 1, while the
    # largest weighted corner term is 1/4.
    x = np.ones((1, 1, 4, 4), np.float32)
    rois = np.array([[0, 0, 0, 1, 1]], np.float32)     # aligned=False: sample at (0.5, 0.5)
    ours = roi_align(torch.from_numpy(x), torch.from_numpy(rois), 1, 1.0, 1, False, "max").item()
    onnx_max = ort_roi_align(x, rois, (1, 1), 1.0, 1, False, mode="max").item()
    assert ours == pytest.approx(1.0)
    assert onnx_max == pytest.approx(0.25)
    # avg mode agrees, as everywhere else.
    assert ort_roi_align(x, rois, (1, 1), 1.0, 1, False).item() == pytest.approx(ours)
