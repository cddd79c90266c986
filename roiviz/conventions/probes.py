"""A probe kit for frameworks that are black boxes: small maps and boxes that tell dialects apart.

Run each probe through your framework (its map, its box written the way your framework takes
boxes, its output size, spatial scale and sampling ratio) and paste the outputs: the detective
names the dialect. "Tell apart" is defined by tests/test_conventions_probes.py: over the whole
catalogue, two dialects give different probe outputs unless they are equal everywhere
(:data:`~roiviz.conventions.EQUAL_EVERYWHERE`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .catalogue import DIALECTS, Dialect
from .compute import _dialect, compute, native_box

__all__ = ["Probe", "probe_inputs", "probe_outputs", "identify_kit"]


@dataclass(frozen=True)
class Probe:
    """One probe.

    Attributes:
        name, purpose: what it is and what it pins down.
        features: float32 ``[C, H, W]`` with ``C = PH * PW`` (so that position-sensitive ops
            can run it too).
        box: ``(x1, y1, x2, y2)`` in image pixels (:func:`~roiviz.conventions.native_box`
            writes it in another framework's order and units).
        spatial_scale, output_size, sampling_ratio: the settings to run it with.
    """

    name: str
    purpose: str
    features: np.ndarray
    box: tuple[float, float, float, float]
    spatial_scale: float
    output_size: tuple[int, int]
    sampling_ratio: int


def _channels(planes: list[np.ndarray]) -> np.ndarray:
    return np.stack(planes).astype(np.float32)


def probe_inputs() -> tuple[Probe, ...]:
    """The kit: a linear ramp, one-hot impulses, a positive map, an edge-overhanging box, a tiny box."""
    ys, xs = np.mgrid[0:12, 0:12].astype(np.float64)
    ramp = _channels([xs, ys, xs + 10 * ys, 0.1 * xs * ys])
    impulses = np.zeros((9, 9, 9))
    for c in range(9):
        impulses[c, (2 * c + 1) % 9, (5 * c + 2) % 9] = 1.0
        impulses[c, (c + 4) % 9, (3 * c) % 9] = 2.0
    rng = np.random.default_rng(18)
    positive = rng.uniform(1.0, 9.0, size=(3, 8, 8))
    edge = rng.uniform(0.0, 1.0, size=(4, 10, 10)) + np.arange(10)[None, :, None] * 0.5
    tiny = rng.uniform(-1.0, 1.0, size=(4, 7, 7))
    return (
        Probe("linear ramp", "pins the offset (-0.5 or not), the +1 on the end and the normalisation: "
              "on a ramp every sample's value is its coordinate", ramp, (3.0, 4.0, 15.0, 13.0), 0.5, (2, 2), 2),
        Probe("one-hot impulses", "reveal the sampling grid: each impulse is seen only by the samples "
              "within one cell of it", _channels(list(impulses)), (1.2, 0.7, 7.9, 8.3), 1.0, (3, 3), 0),
        Probe("positive map", "separates ONNX's weighted-corner max from the max of interpolated values; "
              "its single row of bins separates Core ML's two align-corners modes (one point: start or centre)",
              _channels(list(positive)), (0.6, 1.1, 6.3, 5.8), 1.0, (1, 3), 2),
        Probe("edge-overhanging box", "reveals the rule off the map: zero, clamp, extrapolation value or "
              "linear extrapolation", _channels(list(edge)), (-3.3, -2.6, 6.1, 12.9), 1.0, (2, 2), 2),
        Probe("tiny box", "reveals the minimum-size clamp and rounding: the box is smaller than a cell",
              _channels(list(tiny)), (2.2, 3.1, 2.6, 3.4), 1.0, (2, 2), 0),
    )


def probe_outputs(dialect: str | Dialect, probes: tuple[Probe, ...] | None = None) -> tuple[np.ndarray, ...]:
    """What ``dialect`` gives on each probe, ``[C_out, PH, PW]`` each (its default box order and units)."""
    d = _dialect(dialect)
    outs = []
    for p in probes or probe_inputs():
        box = native_box(d, p.box, p.features.shape[1:], p.spatial_scale)
        outs.append(compute(d, p.features, np.asarray(box, np.float32), p.output_size,
                            spatial_scale=p.spatial_scale, sampling_ratio=p.sampling_ratio).numpy()[0])
    return tuple(outs)


def all_probe_outputs() -> dict[str, tuple[np.ndarray, ...]]:
    """:func:`probe_outputs` of every dialect of the catalogue."""
    probes = probe_inputs()
    return {d.id: probe_outputs(d, probes) for d in DIALECTS}


def identify_kit(outputs, probes: tuple[Probe, ...] | None = None):
    """The detective on the whole kit: the dialects that reproduce every probe's output.

    Args:
        outputs: one array per probe (``[C_out, PH, PW]`` or ``[PH, PW]``), in :func:`probe_inputs`'
            order, as the person's framework returned them for the probe's box written its way.

    Returns:
        A :class:`~roiviz.conventions.Diagnosis` whose ``max_abs_diff`` is the largest over the
        probes and whose settings are those of the first probe.

    Raises:
        ValueError: wrong number of outputs, or a bad output (the message names the probe).
    """
    from .detective import Diagnosis, Match, identify, tolerance

    probes = probes or probe_inputs()
    if len(outputs) != len(probes):
        raise ValueError(f"the kit has {len(probes)} probes; got {len(outputs)} outputs")
    per_probe = []
    for probe, out in zip(probes, outputs):
        try:
            diagnosis = identify(probe.features, None, out, spatial_scale=probe.spatial_scale,
                                 sampling_ratio=probe.sampling_ratio, region=probe.box)
        except ValueError as err:
            raise ValueError(f"probe '{probe.name}': {err}") from None
        per_probe.append({m.dialect: m for m in diagnosis.matches})
    tol = max(tolerance(p.features) for p in probes)
    combined = []
    for dialect_id, first in per_probe[0].items():
        if all(dialect_id in found for found in per_probe):
            worst = max(found[dialect_id].max_abs_diff for found in per_probe)
            combined.append(Match(dialect_id, first.settings, worst, first.explanation if worst <= tol else
                                  f"{first.explanation.split(' (')[0]} is off by up to {worst:.3g} on the kit."))
    order = {d.id: i for i, d in enumerate(DIALECTS)}
    combined.sort(key=lambda m: (m.max_abs_diff, order[m.dialect]))
    top = tuple(m for m in combined if m.max_abs_diff <= tol)
    if top:
        message = f"The kit's outputs are {', '.join(m.dialect for m in top)}."
    else:
        near = "; ".join(f"{m.dialect} (off by {m.max_abs_diff:.3g})" for m in combined[:3])
        message = f"No dialect reproduces every probe. Closest: {near}."
    return Diagnosis(bool(top), top, tuple(combined), tol, message)

