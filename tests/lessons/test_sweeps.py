"""Tests for roiviz.lessons.sweeps: every swept output equals the engine's trace of that box."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from roiviz.lessons.examples import SEED_EXAMPLE_BOX, seed_example_settings
from roiviz.lessons.walkthrough import example_map
from roiviz.methods import SERIES, UNALIGNED
from roiviz.lessons.sweeps import shifted_boxes, sweep_box_sizes, sweep_offsets
from roiviz.methods import METHODS
from roiviz.methods import trace_method
from roiviz.records import Settings

TOY = example_map("toy")
PHOTO = example_map("photo")
SETTINGS = seed_example_settings("library", sampling_ratio=2)


def test_outputs_equal_the_traces_at_every_checked_offset():
    offsets = np.linspace(-1, 1, 9)
    r = sweep_offsets(TOY, SEED_EXAMPLE_BOX, SETTINGS, SERIES, offsets, bin=(1, 2))
    assert r.series == SERIES
    for k in (0, 3, 4, 8):
        box = tuple(r.boxes[k])
        assert box[0] == pytest.approx(SEED_EXAMPLE_BOX[0] + 32 * offsets[k])
        for m in METHODS:
            t = trace_method(m, TOY, box, SETTINGS)
            np.testing.assert_allclose(r.outputs[m][k], t.output, atol=1e-5)
            assert r.bin_values[m][k] == pytest.approx(float(t.bin(1, 2).value), abs=1e-5)
    for m in METHODS:   # the reference is the unmoved box
        np.testing.assert_allclose(r.reference[m], trace_method(m, TOY, SEED_EXAMPLE_BOX, SETTINGS).output,
                                   atol=1e-5)
        np.testing.assert_allclose(r.mean_abs_change[m],
                                   np.abs(r.outputs[m] - r.reference[m]).mean(axis=(1, 2)), atol=1e-6)
        assert r.mean_abs_change[m][4] == pytest.approx(0.0, abs=1e-6)   # offset 0


def test_rounding_methods_step_bilinear_ones_glide():
    # 1/32 cell = 1 image pixel per offset.
    offsets = np.arange(-32, 33) / 32
    r = sweep_offsets(PHOTO, SEED_EXAMPLE_BOX, SETTINGS, METHODS, offsets, bin=(0, 1))
    # RoI Pool: a handful of values (constant between two flips of the rounding).
    assert r.distinct_values("roi_pool") <= 4
    # Precise RoI Pooling changes at every pixel, by little.
    assert r.distinct_values("precise_roi_pool") == len(offsets)
    assert r.largest_jump("precise_roi_pool") < 0.02
    # RoI Warp's steps are where its snapped box changes: between flips it is exactly constant.
    assert r.distinct_values("roi_warp") <= 6
    assert r.largest_jump("roi_pool") > 5 * r.largest_jump("precise_roi_pool")


def test_unaligned_is_aligned_on_the_box_moved_half_a_cell():
    offsets = np.linspace(-0.5, 0.5, 5)
    r = sweep_offsets(TOY, SEED_EXAMPLE_BOX, SETTINGS, ["roi_align", UNALIGNED], offsets)
    moved = tuple(v + 16 for v in SEED_EXAMPLE_BOX)   # half a cell right and down, in pixels
    r2 = sweep_offsets(TOY, moved, SETTINGS, ["roi_align"], offsets)
    np.testing.assert_allclose(r.outputs[UNALIGNED], r2.outputs["roi_align"], atol=1e-5)
    assert np.abs(r.outputs[UNALIGNED] - r.outputs["roi_align"]).max() > 0.1
    # the series ignores Settings.aligned: it is always aligned=False
    r3 = sweep_offsets(TOY, SEED_EXAMPLE_BOX, replace(SETTINGS, aligned=False), ["roi_align"], offsets)
    np.testing.assert_allclose(r3.outputs["roi_align"], r.outputs[UNALIGNED])


def test_grow_keeps_the_centre():
    boxes = shifted_boxes((10, 20, 30, 60), [-0.5, 0, 1], 8, axis="y", scale=True)
    np.testing.assert_allclose(boxes, [[10, 22, 30, 58], [10, 20, 30, 60], [10, 16, 30, 64]])
    assert np.allclose((boxes[:, 1] + boxes[:, 3]) / 2, 40)
    moved = shifted_boxes((30, 20, 10, 60), [0.25], 8, axis="x")   # corners get sorted
    np.testing.assert_allclose(moved, [[12, 20, 32, 60]])


def test_progress_is_reported_per_method():
    seen = []
    sweep_offsets(TOY, SEED_EXAMPLE_BOX, SETTINGS, ["roi_pool", "roi_align"], [0, 0.5], on_progress=seen.append)
    assert seen == [0.0, 0.5, 1.0]


@pytest.mark.parametrize("kwargs, match", [
    (dict(methods=["roi_crop"]), "methods"),
    (dict(methods=[]), "methods"),
    (dict(axis="z"), "axis"),
    (dict(bin=(3, 0)), "bin"),
    (dict(offsets=[]), "offsets"),
    (dict(offsets=[np.nan]), "offsets"),
    (dict(offsets=[-4.5], scale=True, axis="y"), "no box"),
])
def test_bad_arguments(kwargs, match):
    args = dict(values=TOY, box=SEED_EXAMPLE_BOX, settings=SETTINGS, methods=METHODS, offsets=[0.0])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sweep_offsets(**args)


def test_to_dict_is_plain_lists():
    r = sweep_offsets(TOY, SEED_EXAMPLE_BOX, SETTINGS, ["roi_pool"], [0.0, 0.25], scale=True)
    d = r.to_dict()
    assert d["mode"] == "grow" and d["offsets_cells"] == [0.0, 0.25]
    assert d["bin_values"]["roi_pool"] == r.bin_values["roi_pool"].tolist()


# ----------------------------------------------------------------------------------------------
# Lost and gained share against box size, one stride vs the pyramid level


@pytest.mark.parametrize("convention", ["library", "article"])
def test_size_sweep_areas_equal_the_traces(convention):
    settings = Settings(output_size=(3, 3), convention=convention)
    r = sweep_box_sizes([40.0, 150.0, 300.0], settings, fixed_stride=16, positions=3, aspect=1.5)
    assert r.levels.tolist() == [2, 3, 4] and r.strides.tolist() == [4, 8, 16]
    blank = np.zeros((120, 160), np.float32)   # holds every box at every stride
    for mode in ("fixed", "pyramid"):
        for method in ("roi_pool", "roi_warp"):
            for s in range(3):
                stride = 16 if mode == "fixed" else int(r.strides[s])
                areas = [trace_method(method, blank, tuple(b), replace(settings, stride=stride)).areas
                         for b in r.boxes[s]]
                assert r.lost[mode][method][s] == pytest.approx(np.mean([a.percent("lost") for a in areas]))
                assert r.gained[mode][method][s] == pytest.approx(np.mean([a.percent("gained") for a in areas]))


def test_size_sweep_one_stride_hurts_small_boxes_the_pyramid_keeps_it_flat():
    sizes = np.geomspace(57, 880, 14)    # 56-896 px: every box 14 to 28 cells wide on its level
    r = sweep_box_sizes(sizes, Settings(output_size=(7, 7)), fixed_stride=16, positions=32)
    fixed, pyramid = r.gained["fixed"]["roi_pool"], r.gained["pyramid"]["roi_pool"]
    assert fixed[0] > 4 * fixed[-1]                     # falls like 1 / size on one map
    assert pyramid.max() < 2.5 * pyramid.min()          # about flat with level assignment, P2 to P5
    assert np.all(np.diff(r.levels) >= 0) and r.levels[0] == 2 and r.levels[-1] == 5
    assert set(r.to_dict()) >= {"sizes_px", "levels", "strides", "lost_percent", "gained_percent"}


def test_size_sweep_rejects_bad_arguments():
    with pytest.raises(ValueError, match="sizes"):
        sweep_box_sizes([0.5], Settings())
    with pytest.raises(ValueError, match="methods"):
        sweep_box_sizes([50.0], Settings(), methods=["roi_align"])
    with pytest.raises(ValueError, match="positions"):
        sweep_box_sizes([50.0], Settings(), positions=0)
