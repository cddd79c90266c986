"""Tests for roiviz.methods and the trace records (areas, to_dict), and the seed's worked example
(roiviz.lessons.examples)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from roiviz.lessons.examples import (SEED_EXAMPLE_BOX, SEED_EXAMPLE_IMAGE_SHAPE, SEED_EXAMPLE_MAP_SHAPE,
                             SEED_EXAMPLE_OUTPUT, SEED_EXAMPLE_STRIDE, seed_example_settings)
from roiviz import methods, ops, precise_roi_pool, roi_align, roi_pool as roi_pool_module, roi_warp
from roiviz.drawing import style
from roiviz.methods import (METHODS, REGISTRY, SERIES, UNALIGNED, difference_from_precise, trace_all,
                            trace_method)
from roiviz.ops import roi_pool
from roiviz.records import Settings, region_areas

RNG_MAP = np.random.default_rng(0).standard_normal((6, 7)).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# The registry


def test_registry_is_every_method_once_in_teaching_order():
    assert METHODS == ("roi_pool", "roi_warp", "roi_align", "precise_roi_pool")
    assert SERIES == METHODS + (UNALIGNED,) and tuple(REGISTRY) == SERIES
    labels = [m.label for m in REGISTRY.values()]
    assert len(set(labels)) == len(labels)
    for module in (roi_pool_module, roi_warp, roi_align, precise_roi_pool):
        entry = REGISTRY[module.KEY]
        assert entry.label == module.LABEL and entry.op is getattr(ops, module.KEY)
        assert entry.trace is getattr(module, f"trace_{module.KEY}")
        assert entry.reference is getattr(module, f"{module.KEY}_reference")
    # Every method and variant has a colour, line and marker (roiviz.drawing.style), and no two
    # series look alike.
    assert set(style.METHOD_COLORS) == set(style.SERIES_LINES) == set(REGISTRY)
    assert len({(style.METHOD_COLORS[k], *style.SERIES_LINES[k]) for k in REGISTRY}) == len(REGISTRY)


@pytest.mark.parametrize("key", SERIES)
def test_run_passes_the_settings_that_apply(key):
    rng = np.random.default_rng(5)
    x = torch.tensor(rng.standard_normal((1, 2, 6, 7)).astype(np.float32))
    boxes = torch.tensor([[0, 3.5, 2.0, 20.0, 17.5]], dtype=torch.float32)
    settings = Settings(output_size=(2, 3), stride=2.0, sampling_ratio=3, aligned=True, reduce="max",
                        convention="article")
    scale = settings.spatial_scale
    expected = {
        "roi_pool": lambda: ops.roi_pool(x, boxes, (2, 3), scale, convention="article"),
        "roi_warp": lambda: ops.roi_warp(x, boxes, (2, 3), scale, 3, "max", convention="article"),
        "roi_align": lambda: ops.roi_align(x, boxes, (2, 3), scale, 3, True, "max"),
        UNALIGNED: lambda: ops.roi_align(x, boxes, (2, 3), scale, 3, False, "max"),
        "precise_roi_pool": lambda: ops.precise_roi_pool(x, boxes, (2, 3), scale),
    }[key]()
    torch.testing.assert_close(methods.get(key).run(x, boxes, settings), expected)


def test_get_and_label_refuse_unknown_keys():
    assert methods.label("roi_align") == "RoI Align"
    assert methods.label(UNALIGNED) == "RoI Align (aligned=False)"
    with pytest.raises(ValueError, match="method must be one of"):
        methods.get("roi_magic")


@pytest.mark.parametrize("key", METHODS)
def test_reference_source_is_a_readable_screen(key):
    source = REGISTRY[key].reference_source()
    assert source.startswith(f"def {key}_reference(")
    assert len(source.splitlines()) <= 70 and "#" in source   # about one screen, commented


def test_trace_labels_come_from_the_registry():
    for key, trace in trace_all(RNG_MAP, (3, 2, 14, 11)).items():
        assert trace.label == REGISTRY[key].label


# ----------------------------------------------------------------------------------------------
# trace_all / trace_method


def test_trace_all_every_method_in_teaching_order():
    traces = trace_all(RNG_MAP, (3, 2, 14, 11), Settings(output_size=(2, 3), stride=2.0))
    assert list(traces) == list(METHODS) == ["roi_pool", "roi_warp", "roi_align", "precise_roi_pool"]
    for method, t in traces.items():
        assert t.method == method
        assert t.output.shape == (2, 3) and len(t.bins) == 6
        assert not t.output.flags.writeable
        assert t.map_shape == (6, 7)
        assert t.image_box == (3.0, 2.0, 14.0, 11.0)
        assert t.roi == (1.5, 1.0, 7.0, 5.5)


def test_trace_all_subset_and_order():
    traces = trace_all(RNG_MAP, (3, 2, 14, 11), methods=["precise_roi_pool", "roi_pool"])
    assert list(traces) == ["roi_pool", "precise_roi_pool"]   # teaching order, not the request's


def test_trace_method_matches_trace_all():
    settings = Settings(output_size=(3, 2), stride=4.0, sampling_ratio=2, aligned=False)
    every = trace_all(RNG_MAP, (1, 1, 20, 17), settings)
    for method in METHODS:
        one = trace_method(method, RNG_MAP, (1, 1, 20, 17), settings)
        np.testing.assert_array_equal(one.output, every[method].output)


def test_unknown_method():
    with pytest.raises(ValueError, match="method"):
        trace_method("roi_crop", RNG_MAP, (0, 0, 4, 4))
    with pytest.raises(ValueError, match="roi_crop"):
        trace_all(RNG_MAP, (0, 0, 4, 4), methods=["roi_align", "roi_crop"])


def test_difference_from_precise():
    traces = trace_all(RNG_MAP, (0.5, 0.5, 5.5, 4.5), Settings(output_size=(2, 2), stride=1.0))
    diffs = difference_from_precise(traces)
    assert diffs["precise_roi_pool"] == 0.0
    for method in ("roi_pool", "roi_warp", "roi_align"):
        expected = np.mean(np.abs(traces[method].output.astype(np.float64) - traces["precise_roi_pool"].output))
        assert diffs[method] == pytest.approx(expected)
    assert difference_from_precise({"roi_pool": traces["roi_pool"]}) == {}


# ----------------------------------------------------------------------------------------------
# Areas


def test_areas_aligned_false_half_cell_shift():
    # RoI [1, 3]^2 (4 cells); aligned=False reads [1.5, 3.5]^2; overlap [1.5, 3]^2 = 2.25.
    t = trace_method("roi_align", np.zeros((5, 5)), (1, 1, 3, 3), Settings(stride=1.0, aligned=False))
    assert t.read_region == (1.5, 1.5, 3.5, 3.5)
    a = t.areas
    assert (a.roi, a.read, a.overlap) == (4.0, 4.0, 2.25)
    assert a.lost == pytest.approx(1.75) and a.gained == pytest.approx(1.75) and a.outside == 0
    assert a.percent("lost") == pytest.approx(43.75)
    assert a.iou == pytest.approx(2.25 / 5.75)
    # aligned=True reads the RoI itself: nothing lost or gained.
    t = trace_method("roi_align", np.zeros((5, 5)), (1, 1, 3, 3), Settings(stride=1.0))
    assert (t.areas.lost, t.areas.gained, t.areas.iou) == (0.0, 0.0, 1.0)


def test_areas_outside_is_not_lost():
    # Stride 2, box (6, 6, 16, 16) -> RoI [3, 8]^2 (25 cells) on a 5 x 5 map: 4 cells on the map,
    # 21 outside. RoI Align / Precise read the RoI; RoI Pool reads cells 3..4 only (bins clipped
    # to the map): in every case nothing on the map is lost, and the outside part is not "lost".
    feature = np.ones((5, 5))
    for method in METHODS:
        a = trace_method(method, feature, (6, 6, 16, 16), Settings(output_size=(2, 2), stride=2.0)).areas
        assert a.roi == 25.0
        assert a.outside == 21.0
        assert a.lost == 0.0, method
        assert a.percent("outside") == pytest.approx(84.0)
        assert a.pixels("outside") == 21.0 * 4
    # RoI Pool's read region is the union of its (clipped) bins.
    t = trace_method("roi_pool", feature, (6, 6, 16, 16), Settings(output_size=(2, 2), stride=2.0))
    assert t.read_region == (3, 3, 5, 5)
    assert t.areas.gained == 0.0


def test_region_areas_by_hand():
    # RoI [0.5, 2.5] x [0.5, 1.5] (2 cells) read as [0, 2] x [0, 2] (4 cells) on a 1 x 3 map:
    # on the map the RoI is [0.5, 2.5] x [0.5, 1] (1 cell); outside 1 cell; read part on the
    # map [0, 2] x [0, 1]; lost = 1 - [0.5, 2] x [0.5, 1] = 1 - 0.75 = 0.25;
    # gained = 2 - 0.75 = 1.25.
    a = region_areas((0.5, 0.5, 2.5, 1.5), (0, 0, 2, 2), (1, 3), stride=8)
    assert (a.roi, a.read, a.outside) == (2.0, 4.0, 1.0)
    assert a.lost == pytest.approx(0.25) and a.gained == pytest.approx(1.25)
    assert a.pixels("gained") == pytest.approx(1.25 * 64)
    assert a.percent("lost") == pytest.approx(12.5)
    empty = region_areas((1, 1, 2, 2), None, (3, 3), stride=1)
    assert empty.lost == 1.0 and empty.read == 0.0 and empty.iou == 0.0


# ----------------------------------------------------------------------------------------------
# to_dict


def _assert_same_numbers(exported, original):
    if isinstance(original, (list, tuple)):
        assert isinstance(exported, list) and len(exported) == len(original)
        for e, o in zip(exported, original):
            _assert_same_numbers(e, o)
    elif isinstance(original, dict):
        assert exported.keys() == original.keys()
        for k in original:
            _assert_same_numbers(exported[k], original[k])
    elif isinstance(original, (bool, str)) or original is None:
        assert exported == original
    else:
        assert exported == pytest.approx(float(original), rel=1e-12, abs=0)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("reduce", ["avg", "max"])
def test_to_dict_is_json_with_the_traces_numbers(method, reduce):
    t = trace_method(method, RNG_MAP, (-3, 2, 11, 13), Settings(output_size=(2, 2), stride=2.0,
                                                                sampling_ratio=2, reduce=reduce))
    d = json.loads(json.dumps(t.to_dict(), allow_nan=False))
    assert d["method"] == method and d["label"] == t.label
    np.testing.assert_array_equal(np.asarray(d["output"], np.float32), t.output)
    _assert_same_numbers(d["image_box"], t.image_box)
    _assert_same_numbers(d["roi"], t.roi)
    _assert_same_numbers(d["read_region"], t.read_region)
    _assert_same_numbers(d["sampled_box"], t.sampled_box)
    _assert_same_numbers(d["snapped_box"], t.snapped_box)
    for name in ("roi", "read", "lost", "gained", "outside", "overlap"):
        assert d["areas"][name] == getattr(t.areas, name)
    for name in ("lost", "gained", "outside"):
        assert d["areas"][f"{name}_pixels"] == t.areas.pixels(name)
        assert d["areas"][f"{name}_percent"] == t.areas.percent(name)
    assert d["areas"]["iou"] == t.areas.iou
    assert len(d["bins"]) == 4
    for exported, b in zip(d["bins"], t.bins):
        assert (exported["row"], exported["col"], exported["value"]) == (b.row, b.col, b.value)
        assert len(exported["samples"]) == len(b.samples)
        for es, s in zip(exported["samples"], b.samples):
            assert (es["x"], es["y"], es["value"]) == (s.x, s.y, s.value)
            assert es["weights"] == list(s.weights)
        _assert_same_numbers(exported["cell_weights"], b.cell_weights)
    assert d["settings"]["output_size"] == [2, 2] and d["settings"]["reduce"] == reduce


# ----------------------------------------------------------------------------------------------
# The seed's worked example: stride 32 (VGG16), a proposal mapping to a 4 x 6 region, 3 x 3 output


def _cells(rect):
    x1, y1, x2, y2 = (int(v) for v in rect)
    return {(r, c) for r in range(y1, y2) for c in range(x1, x2)}


def _seed_map():
    assert SEED_EXAMPLE_MAP_SHAPE == tuple(s // int(SEED_EXAMPLE_STRIDE) for s in SEED_EXAMPLE_IMAGE_SHAPE)
    return np.random.default_rng(32).standard_normal(SEED_EXAMPLE_MAP_SHAPE).astype(np.float32)


def test_seed_example_constants():
    assert SEED_EXAMPLE_BOX == (40.0, 72.0, 240.0, 200.0)
    assert SEED_EXAMPLE_STRIDE == 32 and SEED_EXAMPLE_OUTPUT == (3, 3)
    s = seed_example_settings()
    assert (s.output_size, s.stride, s.convention) == ((3, 3), 32.0, "article")
    assert seed_example_settings("library", aligned=False).aligned is False


def test_seed_worked_example_article():
    t = trace_method("roi_pool", _seed_map(), SEED_EXAMPLE_BOX, seed_example_settings("article"))
    # Mapping: (40, 72, 240, 200) / 32 = (1.25, 2.25, 7.5, 6.25): 6.25 wide, 4 high.
    assert t.roi == (1.25, 2.25, 7.5, 6.25)
    # First quantization: floor(1.25) = 1, floor(6.25) = 6 wide; floor(2.25) = 2, floor(4) = 4
    # high: the article's 4 x 6 region, columns [1, 7), rows [2, 6).
    assert t.snapped_box == (1, 2, 7, 6)
    snapped = _cells(t.snapped_box)
    assert len(snapped) == 24
    # Bins are 4 // 3 = 1 row by 6 // 3 = 2 columns, and do not overlap.
    for b in t.bins:
        rows = {r for r, _ in b.cells}
        cols = sorted(c for _, c in b.cells)
        assert len(b.cells) == 2 and len(rows) == 1 and cols[1] == cols[0] + 1
        assert rows == {2 + b.row} and cols[0] == 1 + 2 * b.col
    read = set().union(*(set(b.cells) for b in t.bins))
    assert sum(len(b.cells) for b in t.bins) == len(read) == 18
    # Pooling drops the last row of the snapped region: 6 cells, 25% of its 24 cells.
    dropped = snapped - read
    assert dropped == {(5, c) for c in range(1, 7)}
    assert 100 * len(dropped) / len(snapped) == 25.0
    assert t.read_region == (1, 2, 7, 5)
    # First quantization's red and green, RoI [1.25, 7.5] x [2.25, 6.25] (25 cells) vs snapped
    # [1, 7) x [2, 6) (24 cells); they share [1.25, 7] x [2.25, 6] = 5.75 * 3.75 = 21.5625.
    # Lost = 25 - 21.5625 = 3.4375 cells = 3520 px (x 32^2) = 13.75%;
    # gained = 24 - 21.5625 = 2.4375 cells = 2496 px = 9.75%.
    first = region_areas(t.roi, t.snapped_box, t.map_shape, t.settings.stride)
    assert (first.lost, first.pixels("lost"), first.percent("lost")) == (3.4375, 3520.0, 13.75)
    assert (first.gained, first.pixels("gained"), first.percent("gained")) == (2.4375, 2496.0, 9.75)
    # After pooling (read region [1, 7) x [2, 5)): shared [1.25, 7] x [2.25, 5] = 15.8125;
    # lost 25 - 15.8125 = 9.1875 cells = 9408 px = 36.75%: the first quantization's 3.4375
    # plus the dropped row's part of the RoI, [1.25, 7] x [5, 6] = 5.75;
    # gained 18 - 15.8125 = 2.1875 cells = 2240 px = 8.75%.
    a = t.areas
    assert (a.roi, a.read, a.outside) == (25.0, 18.0, 0.0)
    assert (a.lost, a.pixels("lost"), a.percent("lost")) == (9.1875, 9408.0, 36.75)
    assert (a.gained, a.pixels("gained"), a.percent("gained")) == (2.1875, 2240.0, 8.75)
    assert a.lost == first.lost + 5.75
    # RoI Warp keeps the snapped box: exactly the first quantization's areas.
    warp = trace_method("roi_warp", _seed_map(), SEED_EXAMPLE_BOX, seed_example_settings("article"))
    assert warp.read_region == (1, 2, 7, 6)
    assert (warp.areas.lost, warp.areas.gained) == (3.4375, 2.4375)
    # RoI Align (aligned=True) and Precise read the RoI itself: nothing lost or gained.
    for method in ("roi_align", "precise_roi_pool"):
        m = trace_method(method, _seed_map(), SEED_EXAMPLE_BOX, seed_example_settings("article"))
        assert (m.areas.lost, m.areas.gained) == (0.0, 0.0)
    # The trace's output is the batched op's.
    op = roi_pool(torch.tensor(_seed_map())[None, None], torch.tensor([[0.0, *SEED_EXAMPLE_BOX]]),
                  SEED_EXAMPLE_OUTPUT, 1 / SEED_EXAMPLE_STRIDE, convention="article")
    np.testing.assert_array_equal(t.output, op[0, 0].numpy())


def test_seed_worked_example_library():
    t = trace_method("roi_pool", _seed_map(), SEED_EXAMPLE_BOX, seed_example_settings("library"))
    # round(1.25) = 1 .. round(7.5) = 8 (half away from zero) inclusive: 8 columns;
    # round(2.25) = 2 .. round(6.25) = 6 inclusive: 5 rows. Snapped [1, 9) x [2, 7), 5 x 8.
    assert t.snapped_box == (1, 2, 9, 7)
    snapped = _cells(t.snapped_box)
    assert len(snapped) == 40
    bin_cells = [set(b.cells) for b in t.bins]
    read = set().union(*bin_cells)
    assert read == snapped                                    # nothing dropped
    # Bins overlap: rows [0, 2), [1, 4), [3, 5) (bin 5/3) and columns [0, 3), [2, 6), [5, 8)
    # (bin 8/3), offset by (2, 1); e.g. cell (3, 3) lies in bins (0, 0), (0, 1), (1, 0), (1, 1).
    assert sum(len(c) for c in bin_cells) > len(read)
    assert sum((3, 3) in c for c in bin_cells) == 4
    assert sum((4, 1) in c for c in bin_cells) == 1
    assert t.bin(0, 0).rect == (1, 2, 4, 4) and t.bin(2, 2).rect == (6, 5, 9, 7)
    # The RoI (25 cells) is inside the snapped region (40 cells): lost 0, gained 15 cells =
    # 15360 px = 60%.
    a = t.areas
    assert t.read_region == t.snapped_box
    assert (a.lost, a.outside) == (0.0, 0.0)
    assert (a.gained, a.pixels("gained"), a.percent("gained")) == (15.0, 15360.0, 60.0)
    op = roi_pool(torch.tensor(_seed_map())[None, None], torch.tensor([[0.0, *SEED_EXAMPLE_BOX]]),
                  SEED_EXAMPLE_OUTPUT, 1 / SEED_EXAMPLE_STRIDE)
    np.testing.assert_array_equal(t.output, op[0, 0].numpy())


def test_seed_example_fits_the_map():
    # Both conventions' snapped regions lie on the example's map, so nothing is "outside".
    height, width = SEED_EXAMPLE_MAP_SHAPE
    for convention in ("article", "library"):
        t = trace_method("roi_pool", _seed_map(), SEED_EXAMPLE_BOX, seed_example_settings(convention))
        x1, y1, x2, y2 = t.snapped_box
        assert 0 <= x1 and 0 <= y1 and x2 <= width and y2 <= height
        assert math.isclose(t.areas.outside, 0.0)


def _random_trace_cases(count: int):
    rng = np.random.default_rng(20261126)
    for i in range(count):
        h, w = int(rng.integers(1, 24)), int(rng.integers(1, 24))
        values = (rng.standard_normal((h, w)) * rng.choice([1e-3, 1.0, 1e3])).astype(np.float32)
        stride = float(rng.choice([1, 4, 16]))
        x1, y1 = rng.uniform(-3, max(w, 2)) * stride, rng.uniform(-3, max(h, 2)) * stride
        bw, bh = (rng.choice([rng.uniform(0.05, 1), rng.uniform(1, 20)]) * stride for _ in range(2))
        settings = Settings(output_size=(int(rng.integers(1, 8)), int(rng.integers(1, 8))), stride=stride,
                            sampling_ratio=int(rng.choice([-1, 0, 1, 2, 3])), aligned=bool(i % 2),
                            reduce=str(rng.choice(["avg", "max"])), convention=str(rng.choice(["library", "article"])))
        yield values, (x1, y1, x1 + bw, y1 + bh), settings


@pytest.mark.parametrize("method", methods.SAMPLED)
def test_a_trace_without_samples_has_the_same_numbers_bit_for_bit(method):
    """The release path (pages/playground.py) traces without per-sample records; its outputs,
    bins and areas must be the full trace's exactly (the stage compares the browser with them)."""
    checked = 0
    for values, box, settings in _random_trace_cases(300):
        try:
            full = methods.trace_method(method, values, box, settings)
        except ValueError:          # over the sample budget: both refuse
            with pytest.raises(ValueError):
                methods.trace_method(method, values, box, settings, record_samples=False)
            continue
        light = methods.trace_method(method, values, box, settings, record_samples=False)
        assert light.output.dtype == full.output.dtype == np.float32
        assert np.array_equal(light.output, full.output), (box, settings)
        assert [b.rect for b in light.bins] == [b.rect for b in full.bins]
        assert [b.value for b in light.bins] == [b.value for b in full.bins]
        assert light.areas == full.areas and light.grid == full.grid
        assert all(not b.samples and b.winner is None for b in light.bins)
        checked += 1
    assert checked > 200
