"""roiviz.fpn: the level rule by hand at its boundaries, and MultiScaleRoIAlign against roi_align
composed per level and against ONNX Runtime's RoiAlign per level (both ``aligned``), gradcheck."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from onnx_reference import ort_roi_align

from roiviz.fpn import (
    DETECTRON2_EPS,
    MultiScaleRoIAlign,
    fpn_levels,
    infer_scale,
    level_rule,
    setup_scales,
    trace_fpn_level,
)
from roiviz.ops import MultiScaleRoIAlign as OpsMultiScaleRoIAlign
from roiviz.ops import fpn_levels as ops_fpn_levels
from roiviz.ops import roi_align


def square(side: float, x: float = 0.0, y: float = 0.0) -> list[float]:
    return [x, y, x + side, y + side]


def levels_of(rows, **kw) -> list[int]:
    return fpn_levels(torch.tensor(rows, dtype=torch.float32), 2, 5, **kw).tolist()


# ----------------------------------------------------------------------------------------------
# The rule, by hand


def test_ops_reexports_the_pyramid():
    assert ops_fpn_levels is fpn_levels and OpsMultiScaleRoIAlign is MultiScaleRoIAlign


@pytest.mark.parametrize("side, level", [(224, 4), (112, 3), (448, 5), (56, 2)])
def test_exact_boundaries_go_up(side, level):
    # sqrt(side^2) = side exactly; log2(side / 224) is exactly -1, 0 or 1.
    assert levels_of([square(side), square(side, 37.0, 11.0)]) == [level, level]


def test_non_square_box_of_the_same_area():
    # 112 x 448: sqrt(50176) = 224 exactly -> level 4; 100 x 500: sqrt(50000) = 223.6 -> 3.
    assert levels_of([[0, 0, 112, 448], [0, 0, 100, 500]]) == [4, 3]


@pytest.mark.parametrize("side, level", [(223.9, 3), (111.9, 2), (447.9, 4)])
def test_just_below_each_boundary(side, level):
    # e.g. 4 + log2(223.9 / 224) = 3.99936 -> floor 3.
    assert levels_of([square(side)]) == [level]


def test_tiny_and_huge_boxes_are_clamped():
    rows = [square(1), square(0.001), [5, 5, 5, 5], square(5000), [0, 0, 30000, 100]]
    assert levels_of(rows) == [2, 2, 2, 5, 5]
    tiny = trace_fpn_level(square(1))
    # floor(4 + log2(1 / 224)) = floor(4 - 7.807) = -4, clamped up to 2.
    assert tiny.unclamped_level == -4 and tiny.level == 2 and tiny.clamped and tiny.stride == 4
    huge = trace_fpn_level(square(5000))
    assert huge.unclamped_level == math.floor(4 + math.log2(5000 / 224)) == 8 and huge.level == 5
    empty = trace_fpn_level([5, 5, 5, 5])
    assert empty.unclamped_level == -math.inf and empty.level == 2


def test_custom_range_and_canonical_values():
    # With k0 = 3, s0 = 100 and levels 0..6: sqrt 100 -> 3, 400 -> 5, 50 -> 2.
    boxes = torch.tensor([square(100), square(400), square(50)])
    assert fpn_levels(boxes, 0, 6, canonical_scale=100, canonical_level=3).tolist() == [3, 5, 2]


def test_eps_at_a_boundary():
    # sqrt(224 * 223.9999) is a few float32 steps below 224, within 1e-6 of a level:
    box = [[0.0, 0.0, 224.0, 223.9999]]
    size = float(torch.sqrt(torch.tensor(224.0) * torch.tensor(223.9999)))
    assert 224 * (1 - 6.9e-7) < size < 224
    # torchvision adds 1e-6 to the level: 4 + log2(size / 224) + 1e-6 >= 4 -> level 4.
    assert levels_of(box) == [4]
    # Without eps it floors to 3, and so does Detectron2's rule: in float32 the ratio plus 1e-8
    # is the ratio itself (the spacing of float32 below 1 is 6e-8).
    assert levels_of(box, eps=0.0) == [3]
    assert levels_of(box, eps=DETECTRON2_EPS, eps_in_log=True) == [3]
    # In float64 Detectron2's 1e-8 does matter: a ratio 5e-9 below 1 goes up.
    side = 224 * (1 - 5e-9)
    boxes64 = torch.tensor([[0.0, 0.0, side, side]], dtype=torch.float64)
    assert fpn_levels(boxes64, 2, 5, eps=0.0).tolist() == [3]
    assert fpn_levels(boxes64, 2, 5, eps=DETECTRON2_EPS, eps_in_log=True).tolist() == [4]


def test_levels_equal_a_python_loop_away_from_boundaries():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 800, (500, 2))
    wh = np.exp(rng.uniform(np.log(2), np.log(1500), (500, 2)))
    boxes = np.hstack([xy, xy + wh])
    expected = [min(max(math.floor(4 + math.log2(math.sqrt(w * h) / 224) + 1e-6), 2), 5) for w, h in wh]
    got = fpn_levels(torch.tensor(boxes, dtype=torch.float64), 2, 5).tolist()
    assert got == expected


def test_trace_matches_the_levels_and_shows_the_numbers():
    t = trace_fpn_level([10, 20, 160, 120])
    assert t.area == 15000 and t.size == pytest.approx(math.sqrt(15000), rel=1e-6)
    assert t.log2_term == pytest.approx(math.log2(math.sqrt(15000) / 224), abs=1e-6)
    assert t.level == 3 and t.stride == 8 and not t.clamped
    steps = "\n".join(t.steps())
    assert "sqrt(150 x 100) = 122.47" in steps and "floor(3.1290) = 3" in steps
    assert "18.75 x 12.50 cells" in steps
    assert t.formula == "k = clamp(floor(4 + log2(sqrt(w*h) / 224) + 1e-06), 2, 5)"
    d = t.to_dict()
    assert d["stride"] == 8 and d["formula"] == t.formula and d["level"] == 3
    d2 = trace_fpn_level([10, 20, 160, 120], **level_rule(True)).to_dict()
    assert d2["formula"] == "k = clamp(floor(4 + log2(sqrt(w*h) / 224 + 1e-08)), 2, 5)"


@pytest.mark.parametrize("bad, match", [
    ([[10, 0, 0, 10]], "negative area"), ([[0, 0, float("nan"), 1]], "finite"),
])
def test_bad_boxes_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        fpn_levels(torch.tensor(bad, dtype=torch.float32), 2, 5)


def test_bad_arguments_are_refused():
    boxes = torch.tensor([square(10)])
    with pytest.raises(ValueError, match="k_min must be <= k_max"):
        fpn_levels(boxes, 5, 2)
    with pytest.raises(ValueError, match="shape"):
        fpn_levels(torch.zeros(3, 5), 2, 5)
    with pytest.raises(ValueError, match="canonical_scale"):
        fpn_levels(boxes, 2, 5, canonical_scale=0)
    with pytest.raises(ValueError, match="4 numbers"):
        trace_fpn_level([1, 2, 3])


# ----------------------------------------------------------------------------------------------
# Scales, as torchvision infers them


def test_infer_scale_rounds_to_a_power_of_two():
    assert infer_scale(torch.zeros(1, 1, 200, 304), (800, 1216)) == 0.25
    assert infer_scale(torch.zeros(1, 1, 25, 38), (800, 1216)) == 1 / 32
    assert infer_scale(torch.zeros(1, 1, 50, 50), (797, 800)) == 1 / 16
    # Only the height counts, as in torchvision.
    assert infer_scale(torch.zeros(1, 1, 50, 7), (800, 1216)) == 1 / 16


def test_setup_scales_uses_the_largest_image_and_checks_halving():
    feats = [torch.zeros(2, 1, 200 // 2 ** i, 304 // 2 ** i) for i in range(4)]
    scales, k_min, k_max = setup_scales(feats, [(800, 1000), (780, 1216)])
    assert scales == [1 / 4, 1 / 8, 1 / 16, 1 / 32] and (k_min, k_max) == (2, 5)
    with pytest.raises(ValueError, match="halve"):
        setup_scales([feats[0], feats[2]], [(800, 1216)])
    with pytest.raises(ValueError, match="image_shapes"):
        setup_scales(feats, [])


# ----------------------------------------------------------------------------------------------
# MultiScaleRoIAlign

IMAGE = (96, 128)          # (height, width) of the pyramid's image
STRIDES = (4, 8, 16, 32)   # P2..P5
NAMES = ("p2", "p3", "p4", "p5")


def pyramid(n: int = 3, c: int = 2, dtype=torch.float32, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {name: torch.randn(n, c, IMAGE[0] // s, IMAGE[1] // s, generator=g, dtype=dtype)
            for name, s in zip(NAMES, STRIDES)}


def box_lists(dtype=torch.float32) -> list[torch.Tensor]:
    """Boxes on three images: sizes on every level but P5 (no box on it), edges off the grid."""
    return [
        torch.tensor([[3.3, 5.1, 20.7, 30.2], [10.5, 2.25, 130.0, 95.0], [40.0, 33.3, 100.1, 90.9]], dtype=dtype),
        torch.tensor([[0.0, 0.0, 112.0, 112.0], [50.0, 20.0, 75.5, 41.0]], dtype=dtype),
        torch.tensor([[60.6, 7.7, 61.9, 8.2]], dtype=dtype),
    ]


def level_by_size(box) -> int:
    """Independent of fpn_levels: compare sqrt(area) with the boundaries 112, 224, 448."""
    s = math.sqrt((box[2] - box[0]) * (box[3] - box[1]))
    return 2 if s < 112 else 3 if s < 224 else 4 if s < 448 else 5


@pytest.mark.parametrize("aligned", [False, True])
def test_equals_roi_align_composed_per_level(aligned):
    x, boxes = pyramid(), box_lists()
    pooler = MultiScaleRoIAlign(list(NAMES), (3, 4), 2, aligned=aligned)
    out = pooler(x, boxes, [IMAGE] * 3)
    flat = [(i, b.tolist()) for i, bs in enumerate(boxes) for b in bs]
    assert out.shape == (len(flat), 2, 3, 4)
    used = set()
    for row, (image, box) in enumerate(flat):
        level = level_by_size(box)
        used.add(level)
        feature, stride = x[NAMES[level - 2]], STRIDES[level - 2]
        expected = roi_align(feature, torch.tensor([[image, *box]]), (3, 4), 1 / stride, 2, aligned)[0]
        torch.testing.assert_close(out[row], expected, rtol=0, atol=0)
    assert used == {2, 3} or used == {2, 3, 4}
    assert 5 not in used  # a level with no box


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("ratio", [2, 0])
def test_equals_onnx_runtime_roi_align_per_level(aligned, ratio):
    x, boxes = pyramid(c=3, seed=1), box_lists()
    pooler = MultiScaleRoIAlign(list(NAMES), 5, ratio, aligned=aligned)
    out = pooler(x, boxes, [IMAGE] * 3).numpy()
    rois = np.array([[i, *b.tolist()] for i, bs in enumerate(boxes) for b in bs], dtype=np.float32)
    levels = np.array([level_by_size(r[1:]) for r in rois])
    expected = np.zeros_like(out)
    for level, (name, stride) in zip(range(2, 6), zip(NAMES, STRIDES)):
        idx = np.nonzero(levels == level)[0]
        if idx.size:
            expected[idx] = ort_roi_align(x[name].numpy(), rois[idx], (5, 5), 1 / stride, ratio, aligned)
    np.testing.assert_allclose(out, expected, rtol=0, atol=2e-6)


@pytest.mark.parametrize("channels, table_elements", [(1, 1 << 22), (3, 1)])
def test_gradcheck_float64(channels, table_elements, monkeypatch):
    # A 32 x 64 image keeps the check quick (P2..P5 of 8 x 16 down to 1 x 2 cells); the boxes are
    # sized for P2, P3 and P4 and reach past the image. table_elements=1 pools one channel at a
    # time, each written in place into its slice of the result.
    monkeypatch.setattr("roiviz._separable.TABLE_ELEMENTS", table_elements)
    g = torch.Generator().manual_seed(2)
    maps = tuple(torch.randn(1, channels, 32 // s, 64 // s, generator=g, dtype=torch.float64,
                             requires_grad=True) for s in STRIDES)
    boxes = [torch.tensor([[3.3, 5.1, 20.7, 30.2], [-10.5, 2.25, 125.0, 95.0],
                           [-20.0, -10.0, 230.5, 221.0], [30.0, 6.0, 44.5, 19.0]], dtype=torch.float64)]
    for aligned in (False, True):
        pooler = MultiScaleRoIAlign(list(NAMES), 2, 2, aligned=aligned)

        def f(*maps):
            return pooler(dict(zip(NAMES, maps)), boxes, [(32, 64)])

        assert sorted(set(f(*maps) is not None and pooler.levels(boxes).tolist())) == [2, 3, 4]
        assert torch.autograd.gradcheck(f, maps, eps=1e-6, atol=1e-5)


def test_gradient_reaches_only_the_levels_that_hold_boxes():
    x = {k: v.requires_grad_(True) for k, v in pyramid().items()}
    out = MultiScaleRoIAlign(list(NAMES), 3, 2)(x, box_lists(), [IMAGE] * 3)
    out.sum().backward()
    assert x["p2"].grad.abs().sum() > 0 and x["p3"].grad.abs().sum() > 0
    assert x["p5"].grad is None or torch.count_nonzero(x["p5"].grad) == 0


def test_unselected_maps_and_single_level():
    x = pyramid()
    x["extra"] = torch.randn(3, 2, 7, 7)   # not in featmap_names: ignored, as in torchvision
    boxes = box_lists()
    single = MultiScaleRoIAlign(["p3"], 2, 2)(x, boxes, [IMAGE] * 3)
    rois = torch.cat([torch.cat([torch.full((len(b), 1), float(i)), b], 1) for i, b in enumerate(boxes)])
    torch.testing.assert_close(single, roi_align(x["p3"], rois, 2, 1 / 8, 2), rtol=0, atol=0)


def test_scales_are_kept_after_the_first_call():
    pooler = MultiScaleRoIAlign(list(NAMES), 2, 2)
    with pytest.raises(ValueError, match="first forward"):
        pooler.levels(box_lists())
    pooler(pyramid(), box_lists(), [IMAGE] * 3)
    assert pooler.scales == [1 / 4, 1 / 8, 1 / 16, 1 / 32] and (pooler.k_min, pooler.k_max) == (2, 5)
    assert pooler.levels(box_lists()).tolist() == [level_by_size(b.tolist()) for bs in box_lists() for b in bs]


def test_aligned_uses_detectron2s_rule():
    boxes = [torch.tensor([[0.0, 0.0, 224.0, 223.9999]])]
    x = {n: torch.zeros(1, 1, 512 // s, 512 // s) for n, s in zip(NAMES, STRIDES)}
    tv, d2 = MultiScaleRoIAlign(list(NAMES), 2, 2), MultiScaleRoIAlign(list(NAMES), 2, 2, aligned=True)
    tv(x, boxes, [(512, 512)])
    d2(x, boxes, [(512, 512)])
    assert tv.levels(boxes).tolist() == [4] and d2.levels(boxes).tolist() == [3]


def test_no_boxes_at_all():
    out = MultiScaleRoIAlign(list(NAMES), 2, 2)(pyramid(), [torch.zeros(0, 4)] * 3, [IMAGE] * 3)
    assert out.shape == (0, 2, 2, 2)


def test_bad_calls_raise_clear_errors():
    pooler = MultiScaleRoIAlign(list(NAMES), 2, 2)
    with pytest.raises(ValueError, match="none of the maps"):
        pooler({"q": torch.zeros(1, 1, 4, 4)}, [torch.zeros(0, 4)], [IMAGE])
    with pytest.raises(ValueError, match="one \\[K_i, 4\\] tensor per image"):
        pooler(pyramid(), box_lists() + [torch.zeros(0, 4)], [IMAGE] * 3)
    with pytest.raises(ValueError, match="negative area"):
        pooler(pyramid(n=1), [torch.tensor([[10.0, 0.0, 0.0, 10.0]])], [IMAGE])
    with pytest.raises(ValueError, match="featmap_names"):
        MultiScaleRoIAlign("p2", 2, 2)


# ----------------------------------------------------------------------------------------------
# The page's claims (pages/pyramids.py)


def test_every_unclamped_box_is_14_to_28_cells_across_on_its_level():
    sizes = np.geomspace(56, 895.9, 400)
    boxes = torch.tensor([square(s) for s in sizes], dtype=torch.float64)
    levels = fpn_levels(boxes, 2, 5).numpy()
    cells = sizes / 2.0 ** levels
    assert cells.min() >= 14 - 1e-9 and cells.max() < 28


def test_mmdetection_finest_scale_56_has_the_same_boundaries_on_p2_to_p5():
    # MMDetection's SingleRoIExtractor.map_roi_levels, written out: floor(log2(s / 56 + 1e-6)),
    # clamped to 0..3 and counted from P2.
    rng = np.random.default_rng(3)
    sizes = np.concatenate([np.exp(rng.uniform(np.log(4), np.log(2000), 300)), [112, 224, 448]])
    mmdet = [2 + min(max(math.floor(math.log2(s / 56 + 1e-6)), 0), 3) for s in sizes]
    boxes = torch.tensor([square(s) for s in sizes], dtype=torch.float64)
    assert fpn_levels(boxes, 2, 5).tolist() == mmdet


def test_trailing_images_without_boxes_may_be_left_out():
    # As in torchvision: two box lists for a batch of three images pools the first two.
    x = pyramid()
    pooler = MultiScaleRoIAlign(list(NAMES), 2, 2)
    two = pooler(x, box_lists()[:2], [IMAGE] * 3)
    three = pooler(x, box_lists()[:2] + [torch.zeros(0, 4)], [IMAGE] * 3)
    torch.testing.assert_close(two, three, rtol=0, atol=0)
