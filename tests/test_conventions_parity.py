"""Each "run here" dialect of roiviz.conventions equals its real library on 300 random cases.

Libraries (pinned in requirements-test.txt): ONNX Runtime (RoiAlign opset 10 and 16, avg and
max, half_pixel and output_half_pixel; MaxRoiPool), TensorFlow (crop_and_resize), OpenVINO
(ROIAlign-9, CPU plugin), KerasCV (_ROIAligner, TensorFlow backend). Each dialect: 6 settings
(map size, channels, output size, spatial scale, sampling ratio, TF's extrapolation value) x 50
boxes, about a third of them hanging off an edge, one library call per setting.
"""

from __future__ import annotations

import numpy as np
import pytest

from conventions_cases import case_groups
from conventions_reference import ALSO, REFERENCES, run_reference
from roiviz.conventions import BY_ID, RUN_HERE, compute

#: float32 agreement: the libraries sum in a different order (TensorFlow and KerasCV lerp
#: instead of weighting), so a few ulps of the map's values (standard normal here).
TOLERANCE = 2e-5

CASES = [(dialect, False) for dialect in REFERENCES] + [(dialect, True) for dialect in ALSO]


@pytest.mark.parametrize("dialect, also", CASES, ids=[f"{d}{'-also' if a else ''}" for d, a in CASES])
def test_dialect_equals_library(dialect, also):
    count, worst = 0, 0.0
    for seed, group in enumerate(case_groups(dialect, seed=18 + also)):
        expected = run_reference(dialect, group.features, group.boxes, group.output_size,
                                 group.spatial_scale, group.sampling_ratio, group.extra, also=also)
        got = compute(dialect, group.features, group.boxes, group.output_size,
                      spatial_scale=group.spatial_scale, sampling_ratio=group.sampling_ratio,
                      **group.extra).numpy()
        assert got.shape == expected.shape
        worst = max(worst, float(np.abs(got - expected).max()))
        count += len(group.boxes)
    assert count >= 300
    assert worst <= TOLERANCE, f"{dialect}: max |roiviz - library| = {worst}"


def test_every_run_here_dialect_has_a_library():
    run_here = {d.id for d in BY_ID.values() if d.status == RUN_HERE}
    assert run_here == set(REFERENCES)


def test_cases_hang_off_the_map():
    """The random boxes include boxes partly off the map (the off-map rules are exercised)."""
    off = total = 0
    for group in case_groups("tv_align", seed=18):
        height, width = group.features.shape[1:]
        b = group.boxes * group.spatial_scale
        off += int(((b[:, 0] < 0) | (b[:, 1] < 0) | (b[:, 2] > width) | (b[:, 3] > height)).sum())
        total += len(b)
    assert off >= total // 4
