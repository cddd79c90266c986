"""roiviz.drawing.thinned: an export's trace past the sample budget records a regular subset of the
samples, at exactly the full trace's positions and numbers, and the op's output."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from roiviz import features
from roiviz.geometry import SAMPLE_BUDGET
from roiviz.methods import METHODS, REGISTRY, trace_method
from roiviz.records import Settings
from roiviz.drawing.thinned import SAMPLED, drawable_traces, over_budget, thinned_trace

VALUES = features.toy_grid(12, 16, seed=3).channel(0)
BOX = (9.0, 6.5, 101.0, 77.0)   # image pixels; stride 8 below: 11.5 x 8.8 cells


@pytest.mark.parametrize("method", SAMPLED)
@pytest.mark.parametrize("settings", [
    Settings(output_size=(3, 3), stride=8.0, sampling_ratio=16),
    Settings(output_size=(2, 3), stride=8.0, sampling_ratio=0, aligned=False, reduce="max", convention="article"),
    Settings(output_size=(3, 2), stride=8.0, sampling_ratio=5, aligned=False),
])
def test_thinned_samples_are_the_full_traces_own(method, settings):
    """Where the full trace fits the budget, the thinned one is its every k-th row and column."""
    full = trace_method(method, VALUES, BOX, settings)
    thin = thinned_trace(VALUES, BOX, settings, method, per_side=2)
    (gy, gx), (ky, kx) = full.grid, thin.sample_step
    assert thin.grid == full.grid and ky == -(-gy // 2) and kx == -(-gx // 2)
    np.testing.assert_allclose(thin.output, full.output, rtol=1e-6, atol=1e-6)   # float32 sums
    for a, b in zip(full.bins, thin.bins):
        assert b.rect == a.rect and (b.row, b.col) == (a.row, a.col)
        want = [a.samples[iy * gx + ix] for iy in range(ky // 2, gy, ky) for ix in range(kx // 2, gx, kx)]
        assert list(b.samples) == want
    for name in ("roi", "snapped_box", "sampled_box", "read_region", "areas"):
        assert getattr(thin, name) == getattr(full, name)


@pytest.mark.parametrize("method", SAMPLED)
def test_past_the_budget_the_output_is_the_ops_and_the_record_is_small(method):
    settings = Settings(output_size=(14, 14), stride=4.0, sampling_ratio=16)
    assert over_budget(method, VALUES, BOX, settings)
    with pytest.raises(ValueError, match="too many to draw"):
        trace_method(method, VALUES, BOX, settings)
    thin = thinned_trace(VALUES, BOX, settings, method)
    op = REGISTRY[method].run(torch.from_numpy(VALUES.copy())[None, None],
                              torch.tensor([[0.0, *BOX]]), settings)[0, 0].numpy()
    np.testing.assert_array_equal(thin.output, op)
    assert thin.grid == (16, 16) and thin.sample_step == (4, 4)
    assert sum(len(b.samples) for b in thin.bins) == 14 * 14 * 16 <= SAMPLE_BUDGET
    assert [b.value for b in thin.bins] == [float(v) for v in op.ravel()]
    assert "records" in thin.notes[-1]
    d = json.loads(json.dumps(thin.to_dict(), allow_nan=False))
    assert d["sample_step"] == [4, 4]


def test_drawable_traces_thin_only_what_is_over_the_budget():
    small = Settings(output_size=(3, 3), stride=8.0, sampling_ratio=2)
    big = Settings(output_size=(14, 14), stride=4.0, sampling_ratio=16)
    assert all(t.sample_step == (1, 1) for t in drawable_traces(VALUES, BOX, small).values())
    traces = drawable_traces(VALUES, BOX, big)
    assert list(traces) == list(METHODS)
    assert {m for m, t in traces.items() if t.sample_step != (1, 1)} == set(SAMPLED)
    assert "sample_step" not in trace_method("roi_align", VALUES, BOX, small).to_dict()
    with pytest.raises(ValueError, match="must be one of"):
        thinned_trace(VALUES, BOX, small, "roi_pool")
