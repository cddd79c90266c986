"""Traces for figures beyond the sample budget: every sample's numbers would be too slow to
record, so a figure gets a trace that records a regular subset of the samples.

A teaching trace records every bilinear sample (its position, four neighbours, weights and
value) in Python, about 0.15 ms a sample, so a trace refuses more than
:data:`roiviz.geometry.SAMPLE_BUDGET` (4096) samples. An export of 14 x 14 bins at sampling
ratio 16 (50,176 samples per method) draws one sample row and column in four or more anyway
(``roiviz.drawing.render_mpl`` thins samples that would cover more than a quarter of a bin). For it,
:func:`thinned_trace` records only every ``k``-th sample row and column of each bin
(:attr:`~roiviz.records.MethodTrace.sample_step`), at the positions of the full grid
(:func:`roiviz.geometry.sample_coords`, the one sampling function) with the neighbours and
weights of :func:`roiviz.roi_align.bin_samples` (the traces' own); the bins, boxes and areas come from the
method's own trace (they do not depend on the sampling ratio), and the output from the batched
op (:meth:`roiviz.methods.Method.run`), so every number in the figure is the method's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace

import numpy as np
import torch

from .. import roi_warp
from ..roi_align import bin_samples
from ..geometry import SAMPLE_BUDGET, align_mapping, sample_coords, sampling_grid
from ..methods import METHODS, REGISTRY, SAMPLED, trace_method
from ..records import MethodTrace, Settings, check_trace_args

__all__ = ["SAMPLED", "drawable_traces", "over_budget", "thinned_trace", "thinning", "thinning_line"]

#: A thinned trace records at most this many sample rows (and columns) per bin.
RECORDED_PER_SIDE = 4


def _mapping(method: str, image_box, settings: Settings):
    """``(mapping_y, mapping_x)``: each ``(start, length)`` float32, library frame, as the
    method's trace computes them (RoI Align: :func:`align_mapping`; RoI Warp: its snapping)."""
    scale = np.float32(settings.spatial_scale)
    x1, y1, x2, y2 = (np.asarray(v, dtype=np.float32) for v in image_box)
    if method == "roi_align":
        return (align_mapping(y1, y2, scale, settings.aligned),
                align_mapping(x1, x2, scale, settings.aligned))
    return (roi_warp._warp_mapping(y1 * scale, y2 * scale, settings.convention, np.float32),
            roi_warp._warp_mapping(x1 * scale, x2 * scale, settings.convention, np.float32))


def _grid(method: str, image_box, settings: Settings):
    """Samples per bin side ``(grid_y, grid_x)`` (int64 scalars), as the method's trace takes."""
    (_, length_y), (_, length_x) = _mapping(method, image_box, settings)
    return (sampling_grid(length_y, settings.output_size[0], settings.sampling_ratio),
            sampling_grid(length_x, settings.output_size[1], settings.sampling_ratio))


def over_budget(method: str, values: np.ndarray, box, settings: Settings) -> bool:
    """Whether ``method``'s trace would record more than :data:`SAMPLE_BUDGET` samples."""
    if method not in SAMPLED:
        return False
    _, image_box = check_trace_args(values, box, settings)
    gy, gx = (max(int(g), 0) for g in _grid(method, image_box, settings))
    return settings.output_size[0] * settings.output_size[1] * gy * gx > SAMPLE_BUDGET


def thinned_trace(values: np.ndarray, box, settings: Settings, method: str,
                  per_side: int = RECORDED_PER_SIDE) -> MethodTrace:
    """RoI Align's or RoI Warp's trace with every ``k``-th sample row and column recorded.

    ``k = ceil(g / per_side)`` for a grid of ``g`` samples per bin side; the recorded rows are
    ``k // 2, k // 2 + k, ...`` of the full grid (centred in the bin), at the full grid's
    positions. ``grid`` stays the full grid and ``sample_step`` says ``(ky, kx)``. The bins'
    ``winner`` and ``cell_weights`` are left empty (they need every sample).

    Args:
        values: ``[H, W]`` real values (one channel).
        box: ``(x1, y1, x2, y2)`` in image pixels.
        settings: the method's settings (any sampling ratio).
        method: ``"roi_align"`` or ``"roi_warp"``.
        per_side: most sample rows (and columns) recorded per bin, >= 1.

    Returns:
        A :class:`~roiviz.records.MethodTrace` whose ``output`` is the batched op's.

    Raises:
        ValueError: another method, or what the method's trace refuses.
    """
    if method not in SAMPLED:
        raise ValueError(f"method must be one of {SAMPLED}, got {method!r}")
    values, image_box = check_trace_args(values, box, settings)
    # Bins, boxes, areas and notes do not depend on the sampling ratio: one sample per bin.
    base = trace_method(method, values, image_box, replace(settings, sampling_ratio=1))
    (start_y, length_y), (start_x, length_x) = _mapping(method, image_box, settings)
    pooled_h, pooled_w = settings.output_size
    grid_y, grid_x = _grid(method, image_box, settings)
    gy, gx = max(int(grid_y), 0), max(int(grid_x), 0)
    ky, kx = max(1, math.ceil(gy / per_side)), max(1, math.ceil(gx / per_side))
    rows, cols = np.arange(ky // 2, gy, ky), np.arange(kx // 2, gx, kx)
    cy, _ = sample_coords(start_y, length_y, pooled_h, grid_y, max(gy, 1))   # [PH, Gy]
    cx, _ = sample_coords(start_x, length_x, pooled_w, grid_x, max(gx, 1))   # [PW, Gx]
    cy, cx = cy[:, rows], cx[:, cols]                                        # [PH, ry], [PW, rx]
    op = REGISTRY[method].run(torch.from_numpy(np.ascontiguousarray(values))[None, None],
                              torch.tensor([[0.0, *image_box]], dtype=torch.float32), settings)
    output = op[0, 0].detach().numpy().astype(np.float32)
    output.flags.writeable = False
    bins = []
    for b in base.bins:
        ph, pw = b.row, b.col
        samples = bin_samples(values, cy[ph], cx[pw])
        bins.append(replace(b, value=float(output[ph, pw]), samples=tuple(samples), winner=None,
                            cell_weights=()))
    recorded = len(rows) * len(cols) * len(bins)
    note = (f"{gy * gx * len(bins):,} samples in all; this figure's trace records {recorded:,} of "
            f"them (every {ky} x {kx}), and its numbers are the op's.")
    return replace(base, grid=(gy, gx), bins=tuple(bins), output=output, sample_step=(ky, kx),
                   notes=base.notes + (note,))


def drawable_traces(values: np.ndarray, box, settings: Settings,
                  methods: Iterable[str] = METHODS) -> dict[str, MethodTrace]:
    """The traces a figure draws (the exports, the Feature pyramids page's panels): each
    method's own trace, or for RoI Align and RoI Warp beyond
    :data:`~roiviz.geometry.SAMPLE_BUDGET`, :func:`thinned_trace`.

    Args:
        values: ``[H, W]``; box: image pixels; settings: as for :func:`roiviz.methods.trace_all`.
        methods: keys of :data:`~roiviz.methods.METHODS`.

    Returns:
        ``{method: MethodTrace}`` in teaching order.
    """
    chosen = set(methods)
    return {m: (thinned_trace(values, box, settings, m) if over_budget(m, values, box, settings)
                else trace_method(m, values, box, settings))
            for m in METHODS if m in chosen}


def thinning(traces: Mapping[str, MethodTrace]) -> dict[str, dict]:
    """What an export leaves out: for each thinned trace (:func:`thinned_trace`), how many
    samples the method takes and which it recorded (JSON-ready; empty when nothing is thinned).

    Returns:
        ``{method: {"samples_per_bin": [gy, gx], "samples": total, "recorded_every": [ky, kx],
        "recorded": count, "note": sentence}}``.
    """
    out = {}
    for m, t in traces.items():
        if t.sample_step == (1, 1):
            continue
        (gy, gx), (ry, rx) = t.grid, t.recorded_grid
        out[m] = {"samples_per_bin": [gy, gx], "samples": gy * gx * len(t.bins),
                  "recorded_every": list(t.sample_step), "recorded": ry * rx * len(t.bins),
                  "note": (f"{t.label} takes {gy} x {gx} samples per bin ({gy * gx * len(t.bins):,} in "
                           f"all); this file records every {t.sample_step[0]} x {t.sample_step[1]}-th "
                           "of them, and its numbers (outputs, areas) use them all.")}
    return out


def thinning_line(traces: Mapping[str, MethodTrace]) -> str:
    """One line for a figure or a frame: which methods' sampling points are thinned, or ``""``.

    The figure's legend says which rows and columns it draws (``roiviz.drawing.render_mpl`` may thin a
    thinned trace further to keep the points apart), so the line does not repeat a step.

    Example: ``"Sampling points thinned: RoI Warp and RoI Align take 16 x 16 per bin; a regular
    subset is drawn (the legend says which) and their outputs use them all."``
    """
    thin = {m: traces[m] for m in thinning(traces)}
    if not thin:
        return ""
    groups: dict[tuple, list[str]] = {}
    for t in thin.values():
        groups.setdefault(t.grid, []).append(t.label)
    parts = [f"{' and '.join(labels)} {'take' if len(labels) > 1 else 'takes'} {gy} x {gx} per bin"
             for (gy, gx), labels in groups.items()]
    their = "their outputs use" if len(thin) > 1 else "its output uses"
    return (f"Sampling points thinned: {'; '.join(parts)}; a regular subset is drawn (the legend "
            f"says which) and {their} them all.")
