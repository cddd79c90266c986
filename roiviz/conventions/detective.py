"""The detective: which dialects, with which settings, reproduce the numbers a framework gave.

:func:`identify` runs every dialect of the catalogue on the person's map and box, with every
setting they did not state (sampling ratio, box order, normalisation, TensorFlow's
extrapolation value), and keeps the dialects that reproduce their output within float32
tolerance. Dialects that give the same numbers on this input are reported together (the top
group), never one picked at random.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..geometry import MAX_SAMPLING_RATIO
from .catalogue import DIALECTS, Dialect
from .compute import compute, native_box

__all__ = ["Match", "Diagnosis", "identify", "tolerance", "RATIOS"]

#: Sampling ratios tried when the person does not know theirs: adaptive, then 1 .. 16.
RATIOS = (0, *range(1, MAX_SAMPLING_RATIO + 1))
_UNITS_TEXT = {"absolute": "absolute pixels x spatial_scale", "by_size": "normalised, x H",
               "by_size_minus_1": "normalised, x (H - 1)"}


@dataclass(frozen=True)
class Match:
    """One dialect's best fit to the person's output.

    Attributes:
        dialect: the catalogue id. settings: what it needed (``sampling_ratio`` (0 = adaptive),
            ``equivalent_ratios`` (other ratios giving the same numbers here), ``box_order``,
            ``normalisation``, and ``extrapolation_value`` where it takes one).
        max_abs_diff: ``max |dialect - output|`` over every element (``inf`` where one is NaN
            and the other is not).
        explanation: one sentence.
    """

    dialect: str
    settings: dict = field(hash=False, compare=False)
    max_abs_diff: float = 0.0
    explanation: str = ""


@dataclass(frozen=True)
class Diagnosis:
    """What :func:`identify` found.

    Attributes:
        found: some dialect reproduces the output within ``tolerance``.
        top: every dialect that does (best first); empty when nothing fits.
        matches: every applicable dialect, best first (the closest when nothing fits).
        tolerance: the float32 tolerance used.
        message: one sentence for a person.
    """

    found: bool
    top: tuple[Match, ...]
    matches: tuple[Match, ...]
    tolerance: float
    message: str

    @property
    def closest(self) -> tuple[Match, ...]:
        """The three closest dialects (meaningful when nothing fits)."""
        return self.matches[:3]


def tolerance(features: np.ndarray) -> float:
    """Float32 tolerance for outputs of a map: ``1e-4 x max(1, max |map|)``.

    The libraries agree with roiviz to a few 1e-6 on standard-normal maps
    (tests/test_conventions_parity.py); dialects that differ on an input differ by far more.
    """
    finite = features[np.isfinite(features)]
    return 1e-4 * max(1.0, float(np.abs(finite).max()) if finite.size else 1.0)


def _as_map(features) -> np.ndarray:
    f = np.asarray(features, dtype=np.float32)
    if f.ndim == 2:
        f = f[None]
    if f.ndim == 4 and f.shape[0] == 1:
        f = f[0]
    if f.ndim != 3 or min(f.shape) < 1:
        raise ValueError(f"the map must be [H, W] or [C, H, W], got shape {tuple(np.shape(features))}")
    if not np.isfinite(f).all():
        raise ValueError("the map contains NaN or infinite values")
    return f


def _as_output(output, output_size) -> np.ndarray:
    o = np.asarray(output, dtype=np.float32)
    while o.ndim > 3 and o.shape[0] == 1:
        o = o[0]
    if o.ndim == 2:
        o = o[None]
    if o.ndim != 3 or min(o.shape) < 1:
        raise ValueError(f"the output must be [PH, PW] or [C, PH, PW], got shape {tuple(np.shape(output))}")
    if output_size is not None:
        size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
        if tuple(o.shape[-2:]) != tuple(size):
            raise ValueError(f"the output is {o.shape[-2]} x {o.shape[-1]} but output_size says {size[0]} x {size[1]}")
    return o


def _as_box(box) -> np.ndarray:
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.size == 5:    # a torchvision / ONNX row with its batch index first
        b = b[1:]
    if b.size != 4:
        raise ValueError(f"the box must be 4 numbers (as passed to the framework), got {b.size}")
    if not np.isfinite(b).all():
        raise ValueError("the box contains NaN or infinite values")
    return b.astype(np.float32)


def _diff(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``max |pred - target|`` per leading row; NaN equals NaN, NaN against a number is inf."""
    both_nan = np.isnan(pred) & np.isnan(target[None])
    d = np.abs(pred - target[None])
    d = np.where(both_nan, 0.0, np.where(np.isnan(d), np.inf, d))
    return d.reshape(len(pred), -1).max(1)


def _fit(d: Dialect, f: np.ndarray, box_for, target: np.ndarray, spatial_scale: float,
         ratios: tuple[int, ...], tol: float) -> Match | None:
    """The best settings of one dialect, or None when it cannot produce an output of this shape.

    ``box_for(dialect, units, layout)`` gives the 4 numbers the framework was passed.
    """
    pooled = target.shape[-2:]
    if d.position_sensitive:
        if f.shape[0] != target.shape[0] * pooled[0] * pooled[1]:
            return None
    elif f.shape[0] != target.shape[0]:
        return None
    tried = ratios if d.takes_ratio else (0,)
    best: tuple | None = None
    for units in d.units:
        for layout in d.layouts:
            boxes = np.repeat(box_for(d, units, layout)[None], len(tried), 0)
            ratio = torch.tensor(tried, dtype=torch.int64)
            pred = compute(d, f, boxes, pooled, spatial_scale=spatial_scale, sampling_ratio=ratio,
                           units=units, layout=layout).numpy().astype(np.float64)
            extrapolation = None
            if getattr(d.engine, "extrapolation", False):
                # Linear in the extrapolation value: fit it from the cells that read it.
                coef = compute(d, f, boxes, pooled, spatial_scale=spatial_scale, sampling_ratio=ratio,
                               units=units, layout=layout, extrapolation_value=1.0).numpy() - pred
                reads = coef > 0.5
                extrapolation = float(np.median((target[None] - pred)[reads])) if reads.any() else 0.0
                pred = pred + extrapolation * coef
            diffs = _diff(pred, target.astype(np.float64))
            i = int(np.argmin(diffs))
            if best is None or diffs[i] < best[0] - 1e-12:
                same = tuple(int(r) for r, dv in zip(tried, diffs) if dv <= tol and r != tried[i])
                best = (float(diffs[i]), int(tried[i]), same, units, layout, extrapolation)
    diff, ratio, same, units, layout, extrapolation = best
    settings = {"box_order": layout, "normalisation": units}
    if d.takes_ratio:
        settings["sampling_ratio"] = ratio
        settings["equivalent_ratios"] = same
    if extrapolation is not None:
        settings["extrapolation_value"] = extrapolation
    return Match(d.id, settings, diff, _explain(d, settings, diff, tol))


def _settings_text(settings: dict) -> str:
    parts = []
    if "sampling_ratio" in settings:
        ratio = settings["sampling_ratio"]
        parts.append("adaptive sampling" if ratio <= 0 else f"sampling_ratio={ratio}")
    parts.append(f"box {settings['box_order']}, {_UNITS_TEXT[settings['normalisation']]}")
    if "extrapolation_value" in settings:
        parts.append(f"extrapolation_value={settings['extrapolation_value']:.4g}")
    return ", ".join(parts)


def _explain(d: Dialect, settings: dict, diff: float, tol: float) -> str:
    if diff <= tol:
        return (f"{d.name} ({_settings_text(settings)}) reproduces your numbers: offset "
                f"{d.rule('offset').text}; reduction {d.rule('reduction').text}.")
    return f"{d.name} ({_settings_text(settings)}) is off by up to {diff:.3g}."


@contextlib.contextmanager
def _one_thread():
    """torch on one thread for the call: identify runs a few hundred tiny ops, where a second
    intra-op thread only adds hand-offs (on a loaded 2-core machine, 4.7 s against 0.36 s wall in
    benchmarks/bench_identify.py). The setting is restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def identify(features, box, output, *, spatial_scale: float, sampling_ratio: int | None = None,
             output_size=None, dialects: tuple[Dialect, ...] = DIALECTS, region=None) -> Diagnosis:
    """Name the dialects whose numbers are the ones a framework gave.

    Args:
        features: the map, ``[H, W]`` or ``[C, H, W]`` (or ``[1, C, H, W]``).
        box: the 4 numbers exactly as passed to the framework (5 with a leading batch index).
        output: what the framework returned, ``[PH, PW]`` or ``[C, PH, PW]`` (leading 1s allowed).
        spatial_scale: ``1 / stride`` the framework was given (ignored by normalised boxes).
        sampling_ratio: if known; ``None`` tries adaptive and 1 .. 16.
        output_size: if known, checked against the output's shape.
        dialects: the candidates (default the whole catalogue).
        region: instead of ``box``, an ``xyxy`` box in image pixels that each dialect receives
            written its own way (:func:`~roiviz.conventions.native_box`): the probe kit's case,
            where the person wrote the probe's box the way their framework takes boxes.

    Returns:
        A :class:`Diagnosis`: ``top`` holds every dialect within float32 tolerance, best first,
        each with the settings it needed and a one-sentence explanation; when nothing fits,
        ``found`` is False and ``closest`` names the nearest dialects with their differences.

    Raises:
        ValueError: with a message naming what is wrong with the inputs.
    """
    f = _as_map(features)
    target = _as_output(output, output_size)
    b = _as_box(box if region is None else region)
    scale = float(spatial_scale)
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"spatial_scale must be a positive number, got {spatial_scale!r}")
    if sampling_ratio is not None and not (0 <= int(sampling_ratio) <= 64):
        raise ValueError("sampling_ratio must be between 0 (adaptive) and 64")
    ratios = RATIOS if sampling_ratio is None else (int(sampling_ratio),)
    tol = tolerance(f)
    if region is None:
        def box_for(d, units, layout):
            return b
    else:
        def box_for(d, units, layout):
            return np.asarray(native_box(d, b, f.shape[1:], scale, units, layout), np.float32)
    with _one_thread():
        matches = [m for d in dialects if (m := _fit(d, f, box_for, target, scale, ratios, tol)) is not None]
    if not matches:
        raise ValueError(
            f"no dialect makes a {target.shape[0]} x {target.shape[1]} x {target.shape[2]} output from a map of "
            f"{f.shape[0]} channels (position-sensitive ops need channels = C_out x PH x PW)")
    order = {d.id: i for i, d in enumerate(dialects)}
    matches.sort(key=lambda m: (m.max_abs_diff, order[m.dialect]))
    top = tuple(m for m in matches if m.max_abs_diff <= tol)
    if top:
        names = ", ".join(m.dialect for m in top)
        message = (f"{len(top)} dialect{'s' if len(top) > 1 else ''} reproduce{'' if len(top) > 1 else 's'} "
                   f"your numbers within {tol:.1g}: {names}.")
    else:
        near = "; ".join(f"{m.dialect} (off by {m.max_abs_diff:.3g})" for m in matches[:3])
        message = f"No dialect reproduces your numbers within {tol:.1g}. Closest: {near}."
    return Diagnosis(bool(top), top, tuple(matches), tol, message)
