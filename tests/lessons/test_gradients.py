"""Tests for roiviz.lessons.gradients: autograd through the ops agrees with the traces' cell weights."""

from __future__ import annotations

import numpy as np
import pytest

from roiviz.lessons.examples import SEED_EXAMPLE_BOX, seed_example_settings
from roiviz.lessons.gradients import gradient_maps
from roiviz.lessons.walkthrough import example_map
from roiviz.methods import UNALIGNED
from roiviz.methods import METHODS
from roiviz.methods import trace_all

TOY = example_map("toy")


def _from_trace(trace, target=None) -> np.ndarray:
    """d(target)/d(cell) summed from the trace's per-bin cell weights (the engine's other path)."""
    g = np.zeros(trace.map_shape)
    for b in trace.bins:
        if target is None or (b.row, b.col) == target:
            for (r, c), w in b.cell_weights:
                g[r, c] += w
    return g


@pytest.mark.parametrize("conv", ["article", "library"])
@pytest.mark.parametrize("reduce", ["avg", "max"])
@pytest.mark.parametrize("target", [None, (1, 2)])
def test_autograd_equals_trace_weights(conv, reduce, target):
    settings = seed_example_settings(conv, sampling_ratio=2, reduce=reduce)
    result = gradient_maps(TOY, SEED_EXAMPLE_BOX, settings, METHODS, target=target)
    traces = trace_all(TOY, SEED_EXAMPLE_BOX, settings)
    for m in METHODS:
        np.testing.assert_allclose(result.maps[m], _from_trace(traces[m], target), atol=1e-5)
        np.testing.assert_allclose(result.outputs[m], traces[m].output, atol=1e-5)
        assert not result.maps[m].flags.writeable


def test_roi_pool_sends_everything_to_the_argmax_cells():
    settings = seed_example_settings("library", sampling_ratio=2)
    result = gradient_maps(TOY, SEED_EXAMPLE_BOX, settings, METHODS)
    pool = trace_all(TOY, SEED_EXAMPLE_BOX, settings, ["roi_pool"])["roi_pool"]
    argmax = {b.argmax for b in pool.bins}
    nonzero = {tuple(rc) for rc in np.argwhere(result.maps["roi_pool"] != 0)}
    assert nonzero == argmax
    assert result.total("roi_pool") == pytest.approx(9.0)     # one unit per bin
    assert result.cells_reached("roi_pool") == len(argmax) < result.cells_reached("roi_align")
    # the bilinear methods spread the same total over many cells
    for m in ("roi_warp", "roi_align", "precise_roi_pool"):
        assert result.total(m) == pytest.approx(9.0, abs=1e-4)
        assert result.maps[m].max() < 1.0


def test_single_bin_target_and_labels():
    settings = seed_example_settings("article", sampling_ratio=2)
    r = gradient_maps(TOY, SEED_EXAMPLE_BOX, settings, ["roi_align", UNALIGNED], target=(0, 0))
    assert r.target_label == "output bin (row 0, col 0)"
    assert r.total("roi_align") == pytest.approx(1.0, abs=1e-5)
    # aligned=False reads half a cell right and down: different cells
    assert not np.allclose(r.maps["roi_align"], r.maps[UNALIGNED])
    assert gradient_maps(TOY, SEED_EXAMPLE_BOX, settings, ["roi_pool"]).target_label == "sum of all output bins"


@pytest.mark.parametrize("kwargs, match", [
    (dict(methods=["nope"]), "methods"),
    (dict(target=(3, 3)), "target"),
    (dict(values=np.zeros((0, 3))), "values"),
])
def test_bad_arguments(kwargs, match):
    args = dict(values=TOY, box=SEED_EXAMPLE_BOX, settings=seed_example_settings(), methods=METHODS)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        gradient_maps(**args)
