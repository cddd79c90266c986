"""The detective names the convention behind real libraries' outputs, settings unknown to it."""

from __future__ import annotations

import numpy as np
import pytest

from conventions_cases import detective_cases
from roiviz.conventions import BY_ID, compute, identify

#: The bar of issue 18: the true dialect is in the top group in at least 98% of >= 500 cases.
CASES = 500


@pytest.fixture(scope="module")
def verdicts():
    rows = []
    for dialect, library, features, box, output, scale in detective_cases(CASES, seed=5):
        diagnosis = identify(features, box, output, spatial_scale=scale)
        rows.append((dialect, library, features, box, output, scale, diagnosis))
    return rows


def test_true_dialect_in_top_group(verdicts):
    hits = [dialect in {m.dialect for m in diagnosis.top} for dialect, *_, diagnosis in verdicts]
    misses = [(v[0], v[1], v[6].message) for v, hit in zip(verdicts, hits) if not hit]
    rate = sum(hits) / len(hits)
    print(f"detective: true dialect in the top group in {sum(hits)}/{len(hits)} = {rate:.1%}")
    assert len(hits) >= 500
    assert rate >= 0.98, misses[:5]


def test_top_group_members_give_the_library_numbers(verdicts):
    """No dialect in a top group gives numbers that differ from the library's on that input."""
    for dialect, library, features, box, output, scale, diagnosis in verdicts[::5]:
        for match in diagnosis.top:
            d = BY_ID[match.dialect]
            s = match.settings
            got = compute(d, features, box, output.shape[-2:], spatial_scale=scale,
                          sampling_ratio=s.get("sampling_ratio", 0), units=s["normalisation"],
                          layout=s["box_order"], extrapolation_value=s.get("extrapolation_value", 0.0)).numpy()[0]
            assert np.abs(got - output).max() <= diagnosis.tolerance, (dialect, match.dialect)


def test_nothing_fits_names_the_closest():
    rng = np.random.default_rng(3)
    features = rng.normal(size=(10, 12)).astype(np.float32)
    output = rng.normal(size=(2, 2)).astype(np.float32) * 10
    diagnosis = identify(features, (1, 1, 8, 7), output, spatial_scale=1.0)
    assert not diagnosis.found and diagnosis.top == ()
    assert len(diagnosis.closest) == 3
    assert "No dialect reproduces" in diagnosis.message and diagnosis.closest[0].dialect in diagnosis.message
    assert all(m.max_abs_diff > diagnosis.tolerance for m in diagnosis.matches)


def test_equally_exact_dialects_are_all_listed():
    """aligned=False numbers: every everywhere-equal dialect is in the top group, with a sentence."""
    rng = np.random.default_rng(4)
    features = rng.normal(size=(3, 16, 16)).astype(np.float32)
    box = np.array([2.5, 3.0, 21.0, 17.5], np.float32)
    output = compute("tv_align_legacy", features, box, (3, 3), spatial_scale=0.5, sampling_ratio=2).numpy()[0]
    diagnosis = identify(features, box, output, spatial_scale=0.5)
    top = {m.dialect for m in diagnosis.top}
    assert {"tv_align_legacy", "openvino_asymmetric"} <= top
    assert "tv_align" not in top and "openvino_half_pixel" not in top   # scale 0.5 tells them apart
    legacy = next(m for m in diagnosis.top if m.dialect == "tv_align_legacy")
    assert legacy.settings["sampling_ratio"] == 2 and legacy.explanation.endswith(".")


@pytest.mark.parametrize("bad, message", [
    (dict(box=(1, 2, 3)), "4 numbers"),
    (dict(box=(1, 2, float("nan"), 4)), "NaN"),
    (dict(features=np.zeros((2, 3, 4, 5))), "map must be"),
    (dict(output=np.zeros((2, 3, 4, 5))), "output must be"),
    (dict(spatial_scale=0.0), "spatial_scale"),
    (dict(output_size=(5, 5)), "output_size"),
])
def test_bad_input_is_a_clear_error(bad, message):
    args = dict(features=np.ones((6, 6), np.float32), box=(0, 0, 4, 4), output=np.ones((2, 2), np.float32),
                spatial_scale=1.0)
    args.update(bad)
    features, box, output = args.pop("features"), args.pop("box"), args.pop("output")
    with pytest.raises(ValueError, match=message):
        identify(features, box, output, **args)
