"""The catalogue of roiviz.conventions: ids, rules with sources, facts each dialect claims."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from conventions_cases import random_boxes
from roiviz.conventions import (ASPECTS, BY_ID, DIALECTS, EQUAL_EVERYWHERE, PORTED, RUN_HERE, compute,
                                native_box)
from roiviz.precise_roi_pool import precise_roi_pool
from roiviz.roi_align import roi_align

#: Issue 18's table, spelled exactly (the trt_pyramid_* and coreml_crop_resize_* families expanded).
TABLE_IDS = {
    "tv_align", "tv_align_legacy", "onnx_align_max", "onnx_align_max_legacy", "mmcv_align_max", "tv_pool",
    "tv_ps_align", "tv_ps_pool", "tf_crop_and_resize", "openvino_asymmetric", "openvino_half_pixel_for_nn",
    "openvino_half_pixel", "trt_multilevel_crop_and_resize", "keras_cv_align", "mindspore_align_end1",
    "prroi_authors", "mnc_warp",
}


def test_every_table_id_exists_with_both_families():
    ids = set(BY_ID)
    assert TABLE_IDS <= ids
    assert {i for i in ids if i.startswith("trt_pyramid_")} == {"trt_pyramid_m1", "trt_pyramid_0", "trt_pyramid_1",
                                                                "trt_pyramid_2"}
    assert len({i for i in ids if i.startswith("coreml_crop_resize_")}) == 5
    assert len(ids) == len(DIALECTS)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.id)
def test_every_dialect_states_every_rule_with_a_source(dialect):
    assert tuple(r.aspect for r in dialect.rules) == ASPECTS
    for rule in dialect.rules:
        assert rule.text and "::" in rule.source, (dialect.id, rule.aspect)
    assert dialect.status in (RUN_HERE, PORTED)
    assert dialect.produced_by and dialect.fix


def _random_case(rng, channels=2):
    height, width = (int(v) for v in rng.integers(3, 15, 2))
    scale = float(rng.choice([1.0, 0.5, 0.25]))
    features = rng.normal(size=(channels, height, width)).astype(np.float32)
    return features, random_boxes(rng, 40, height, width, scale), scale


@pytest.mark.parametrize("group", EQUAL_EVERYWHERE, ids=lambda g: "=".join(sorted(g)))
def test_equal_everywhere_groups_are_equal(group):
    rng = np.random.default_rng(7)
    for _ in range(8):
        features, boxes, scale = _random_case(rng)
        size = tuple(int(v) for v in rng.integers(1, 5, 2))
        ratio = int(rng.integers(0, 4))
        outs = [compute(d, features, boxes, size, spatial_scale=scale, sampling_ratio=ratio) for d in sorted(group)]
        for a, b in itertools.combinations(outs, 2):
            assert torch.equal(a, b)


def test_tv_align_is_roivizs_roi_align():
    """The catalogue's torchvision dialects are roiviz's own op (itself tested against ONNX Runtime)."""
    rng = np.random.default_rng(8)
    features, boxes, scale = _random_case(rng, channels=3)
    rois = torch.cat([torch.zeros(len(boxes), 1), torch.from_numpy(boxes)], 1)
    for dialect, aligned in (("tv_align", True), ("tv_align_legacy", False)):
        expected = roi_align(torch.from_numpy(features)[None], rois, (3, 2), scale, 0, aligned)
        got = compute(dialect, features, boxes, (3, 2), spatial_scale=scale, sampling_ratio=0)
        assert torch.allclose(got, expected, atol=2e-6)


def test_ps_roi_pool_never_reads_the_last_row_and_column():
    """CONVENTIONS.md's probe, verified in the kernel: box [0, 0, 4, 4] on a 4 x 4 map whose last row
    and column are 100 gives 0s (bins clipped to H - 1), where roi_pool gives 100s."""
    plane = np.zeros((4, 4), np.float32)
    plane[3, :] = plane[:, 3] = 100.0
    features = np.repeat(plane[None], 4, 0)
    ps = compute("tv_ps_pool", features, (0, 0, 4, 4), (2, 2)).numpy()
    pool = compute("tv_pool", features, (0, 0, 4, 4), (2, 2)).numpy()
    assert ps.max() == 0.0
    assert pool[0, 0, 1, 1] == 100.0


def test_ps_roi_align_reads_one_channel_group_per_bin():
    rng = np.random.default_rng(9)
    features = rng.normal(size=(2 * 4, 6, 6)).astype(np.float32)      # C_out = 2, bins 2 x 2
    box = np.array([[0.7, 1.1, 5.2, 4.9]], np.float32)
    ps = compute("tv_ps_align", features, box, (2, 2), sampling_ratio=2)[0]
    full = compute("tv_align", features, box, (2, 2), sampling_ratio=2)[0]
    for c, ph, pw in itertools.product(range(2), range(2), range(2)):
        assert ps[c, ph, pw] == full[(c * 2 + ph) * 2 + pw, ph, pw]


def test_onnx_max_is_not_the_max_of_values():
    """CONVENTIONS.md's number: with ratio 1 the weighted-corner max can be far below the value."""
    features = np.array([[[1.0, 9.0], [9.0, 9.0]]], np.float32)
    box = (0.0, 0.0, 2.0, 2.0)
    corner = float(compute("onnx_align_max", features, box, 1, sampling_ratio=1)[0, 0, 0, 0])
    value = float(compute("mmcv_align_max", features, box, 1, sampling_ratio=1)[0, 0, 0, 0])
    assert value == pytest.approx(7.0)          # the sample at (0.5, 0.5): (1 + 9 + 9 + 9) / 4
    assert corner == pytest.approx(2.25)        # max w_i * v_i = 0.25 * 9


def test_prroi_authors_zero_off_the_map_and_integer_cells():
    """Inside the map (away from its border) the authors' pooling is roiviz's precise_roi_pool shifted
    by half a cell; off the map it integrates zeros."""
    rng = np.random.default_rng(10)
    features = rng.normal(size=(1, 12, 12)).astype(np.float32)
    box = np.array([[3.2, 2.7, 8.9, 9.1]], np.float32)
    authors = compute("prroi_authors", features, box, (2, 3))
    shifted = precise_roi_pool(torch.from_numpy(features)[None],
                               torch.tensor([[0.0, *(box[0] + 0.5)]]), (2, 3))
    assert torch.allclose(authors, shifted, atol=1e-5)
    ones = np.ones((1, 4, 4), np.float32)
    outside = compute("prroi_authors", ones, (-4.0, 0.0, 0.0, 3.0), 1)    # entirely left of the map
    assert float(outside.max()) < 0.2 and float(compute("tv_align", ones, (-4.0, 0.0, 0.0, 3.0), 1).max()) > 0


def test_mindspore_adds_one_to_the_end_and_floors_the_grid():
    features = np.arange(36, dtype=np.float32).reshape(1, 6, 6)
    ms = compute("mindspore_align_end1", features, (1.0, 1.0, 3.0, 3.0), 1, sampling_ratio=1)
    # end = (3 + 1) * 1: the one sample sits at the centre of [1, 4], (2.5, 2.5), value 2.5 * 6 + 2.5
    assert float(ms[0, 0, 0, 0]) == pytest.approx(17.5)
    tiny = compute("mindspore_align_end1", features, (1.0, 1.0, 1.5, 1.5), 2, sampling_ratio=0)
    assert torch.isnan(tiny).all()          # floor(1.5 / 2) = 0 samples: 0 / 0


def test_native_box_round_trips_the_region():
    """A region written as each dialect takes it reaches the same cells (TF: normalised yxyx x (H - 1))."""
    box = native_box("tf_crop_and_resize", (2.0, 4.0, 6.0, 8.0), (9, 5), spatial_scale=1.0)
    assert box == pytest.approx((4 / 8, 2 / 4, 8 / 8, 6 / 4))
    assert native_box("tv_align", (2.0, 4.0, 6.0, 8.0), (9, 5)) == (2.0, 4.0, 6.0, 8.0)


def test_unknown_dialect_and_units_are_clear_errors():
    with pytest.raises(ValueError, match="unknown dialect"):
        compute("nope", np.ones((4, 4)), (0, 0, 2, 2), 1)
    with pytest.raises(ValueError, match="takes boxes in"):
        compute("tv_align", np.ones((4, 4)), (0, 0, 2, 2), 1, units="by_size")
    with pytest.raises(ValueError, match="divisible"):
        compute("tv_ps_align", np.ones((3, 4, 4)), (0, 0, 2, 2), 2)


def test_sources_doc_lists_every_dialect_and_source():
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "sources.md").read_text()
    for d in DIALECTS:
        assert f"`{d.id}`" in text, d.id
        for rule in d.rules:
            assert rule.source in text, (d.id, rule.source)


def test_region_of_inverts_native_box():
    from roiviz.conventions.report import region_of

    for d in DIALECTS:
        for units in d.units:
            for layout in d.layouts:
                box = native_box(d, (2.0, 4.0, 6.0, 8.5), (9, 12), 0.5, units, layout)
                assert region_of(box, (9, 12), 0.5, units, layout) == pytest.approx((2.0, 4.0, 6.0, 8.5))
