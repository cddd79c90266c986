"""The probe kit separates every pair of dialects that are not equal everywhere."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from roiviz.conventions import DIALECTS, EQUAL_EVERYWHERE, identify_kit, probe_inputs, probe_outputs
from roiviz.conventions.detective import tolerance


@pytest.fixture(scope="module")
def outputs():
    return {d.id: probe_outputs(d) for d in DIALECTS}


def _equal_everywhere(a: str, b: str) -> bool:
    return any({a, b} <= group for group in EQUAL_EVERYWHERE)


def _differ(x: np.ndarray, y: np.ndarray, tol: float) -> bool:
    if x.shape != y.shape or (np.isnan(x) != np.isnan(y)).any():
        return True
    both = ~np.isnan(x)
    return bool(both.any() and np.abs(x[both] - y[both]).max() > tol)


def test_kit_has_the_four_kinds_of_probe():
    names = [p.name for p in probe_inputs()]
    assert names[:4] == ["linear ramp", "one-hot impulses", "positive map", "edge-overhanging box"]
    ramp = probe_inputs()[0].features[0]
    assert np.allclose(np.diff(ramp, axis=1), 1.0)
    assert all(p.features.shape[0] == p.output_size[0] * p.output_size[1] for p in probe_inputs())
    assert (probe_inputs()[2].features > 0).all()
    edge = probe_inputs()[3]
    assert edge.box[0] < 0 and edge.box[3] * edge.spatial_scale > edge.features.shape[1]


def test_probes_separate_every_pair_not_equal_everywhere(outputs):
    tol = max(tolerance(p.features) for p in probe_inputs())
    for a, b in itertools.combinations(outputs, 2):
        separated = any(_differ(x, y, tol) for x, y in zip(outputs[a], outputs[b]))
        assert separated != _equal_everywhere(a, b), (a, b)


@pytest.mark.parametrize("dialect", DIALECTS[::3], ids=lambda d: d.id)
def test_kit_names_the_dialect(dialect, outputs):
    diagnosis = identify_kit(outputs[dialect.id])
    expected = next((g for g in EQUAL_EVERYWHERE if dialect.id in g), {dialect.id})
    assert {m.dialect for m in diagnosis.top} == set(expected)


def test_kit_wrong_count_is_a_clear_error(outputs):
    with pytest.raises(ValueError, match="probes"):
        identify_kit(outputs["tv_align"][:2])
