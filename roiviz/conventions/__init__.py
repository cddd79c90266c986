"""Every framework's RoI convention, executable, and a detective that names the one behind numbers.

- :mod:`.catalogue`: the dialects (:data:`DIALECTS`, :data:`BY_ID`), their rules and sources.
- :func:`compute`: a dialect's numbers on one map, batched over boxes (torch).
- :func:`identify`: which dialects, with which settings, reproduce a given output.
- :func:`probe_inputs`: small maps and boxes that tell every pair of dialects apart.
"""

from __future__ import annotations

from .catalogue import ASPECTS, BY_ID, DIALECTS, EQUAL_EVERYWHERE, PORTED, RUN_HERE, Dialect, Rule
from .compute import SampleGrid, compute, native_box, sample_grid
from .detective import Diagnosis, Match, identify
from .probes import Probe, identify_kit, probe_inputs, probe_outputs

__all__ = [
    "ASPECTS", "BY_ID", "DIALECTS", "EQUAL_EVERYWHERE", "PORTED", "RUN_HERE", "Dialect", "Rule",
    "compute", "native_box", "sample_grid", "SampleGrid", "identify", "Match", "Diagnosis", "Probe", "probe_inputs", "probe_outputs", "identify_kit",
]
