"""Sub-pixel sensitivity: slide or grow a box by fractions of a cell and watch each output.

One batched op call per method (:mod:`roiviz.ops`, boxes as ``Tensor[K, 5]``) evaluates every
shifted box at once. RoI Pool and RoI Warp round the box to whole cells, so their outputs are
step functions of the offset; RoI Align and Precise RoI Pooling never round, so theirs move
continuously. RoI Align with ``aligned=False`` outputs what ``aligned=True`` outputs for the box
moved half a cell right and down, a constant bias
(``tests/lessons/test_sweeps.py::test_unaligned_is_aligned_on_the_box_moved_half_a_cell``).

No Streamlit here: the page passes ``on_progress`` to drive its progress bar.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..fpn import CANONICAL_LEVEL, CANONICAL_SCALE, PYRAMID_LEVELS, fpn_levels, level_rule, steady_sizes
from ..geometry import normalize_box, snap_box
from ..methods import REGISTRY, SERIES
from ..records import Settings, feature_rect, region_areas
from ..roi_pool import pool_geometry

__all__ = [
    "AXES",
    "SIZE_SWEEP_METHODS",
    "SizeSweepResult",
    "SteadyBand",
    "SweepResult",
    "read_regions",
    "shifted_boxes",
    "steady_band",
    "sweep_box_sizes",
    "sweep_offsets",
]

AXES = ("x", "y")
#: Most boxes one sweep evaluates.
MAX_OFFSETS = 2001


def shifted_boxes(box, offsets: Sequence[float], stride: float, axis: str = "x",
                  scale: bool = False) -> np.ndarray:
    """The box moved (or grown) by each offset, in cells.

    Args:
        box: ``(x1, y1, x2, y2)`` in image pixels (corners in any order).
        offsets: ``[K]`` offsets in feature cells.
        stride: image pixels per cell.
        axis: ``"x"`` (move or grow horizontally) or ``"y"``.
        scale: ``False``: translate the box by ``offset`` cells. ``True``: keep its centre and
            change its size along ``axis`` by ``offset`` cells (half on each side).

    Returns:
        float64 ``[K, 4]`` boxes in image pixels.

    Raises:
        ValueError: bad axis, or a grown box that would have no width or height left.
    """
    if axis not in AXES:
        raise ValueError(f"axis must be one of {AXES}, got {axis!r}")
    x1, y1, x2, y2 = normalize_box(box)
    d = np.asarray(offsets, dtype=np.float64) * float(stride)                 # [K] pixels
    boxes = np.tile(np.array([x1, y1, x2, y2]), (d.size, 1))                  # [K, 4]
    lo, hi = (0, 2) if axis == "x" else (1, 3)
    if scale:
        boxes[:, lo] -= d / 2
        boxes[:, hi] += d / 2
        if np.any(boxes[:, hi] - boxes[:, lo] <= 0):
            limit = (boxes[0, hi] - boxes[0, lo] + d[0]) / stride
            raise ValueError(f"growing by {float(np.min(offsets)):g} cells leaves no box: the box is "
                             f"only {limit:g} cells along {axis}; shrink by less than that")
    else:
        boxes[:, lo] += d
        boxes[:, hi] += d
    return boxes


@dataclass(frozen=True, eq=False)
class SweepResult:
    """Each method's output as a function of the box offset.

    Attributes:
        offsets: float64 ``[K]`` offsets in cells.
        axis, scale: how the box was changed (see :func:`shifted_boxes`).
        box: the unchanged box in image pixels; ``boxes`` float64 ``[K, 4]`` the changed ones.
        settings: the options used.
        bin: ``(row, col)`` of the output cell followed in :attr:`bin_values`.
        series: the series swept, in :data:`SERIES` order.
        reference: ``{series: float32 [PH, PW]}`` output of the unchanged box.
        outputs: ``{series: float32 [K, PH, PW]}`` output at each offset.
        bin_values: ``{series: float64 [K]}`` the chosen bin at each offset.
        mean_abs_change: ``{series: float64 [K]}`` mean over all bins of
            ``|output(offset) - reference|``.
    """

    offsets: np.ndarray
    axis: str
    scale: bool
    box: tuple[float, float, float, float]
    boxes: np.ndarray
    settings: Settings
    bin: tuple[int, int]
    series: tuple[str, ...]
    reference: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    bin_values: dict[str, np.ndarray]
    mean_abs_change: dict[str, np.ndarray]

    def distinct_values(self, series: str, decimals: int = 5) -> int:
        """How many different values the chosen bin takes over the sweep (rounded)."""
        return int(np.unique(np.round(self.bin_values[series], decimals)).size)

    def largest_jump(self, series: str) -> float:
        """The largest change of the chosen bin between two neighbouring offsets."""
        v = self.bin_values[series]
        return float(np.max(np.abs(np.diff(v)))) if v.size > 1 else 0.0

    def to_dict(self) -> dict:
        """JSON-ready arrays (lists) for export."""
        return {
            "offsets_cells": self.offsets.tolist(), "axis": self.axis,
            "mode": "grow" if self.scale else "shift", "box": list(self.box),
            "bin": list(self.bin), "series": list(self.series),
            "bin_values": {s: v.tolist() for s, v in self.bin_values.items()},
            "mean_abs_change": {s: v.tolist() for s, v in self.mean_abs_change.items()},
            "reference_output": {s: v.tolist() for s, v in self.reference.items()},
        }


def sweep_offsets(values: np.ndarray, box, settings: Settings, methods: Iterable[str],
                  offsets: Sequence[float], axis: str = "x", scale: bool = False,
                  bin: tuple[int, int] = (0, 0),
                  on_progress: Callable[[float], None] | None = None) -> SweepResult:
    """Evaluate every method on the box moved (or grown) by each offset.

    Args:
        values: the feature map ``[H, W]``, real numbers.
        box: ``(x1, y1, x2, y2)`` in image pixels.
        settings: options of every method (output size, stride, ...).
        methods: keys of :data:`roiviz.methods.SERIES` (the methods and ``UNALIGNED``).
        offsets: ``[K]`` offsets in cells, ``1 <= K <= MAX_OFFSETS``.
        axis, scale: see :func:`shifted_boxes`.
        bin: the output cell ``(row, col)`` to follow.
        on_progress: called with the fraction done (0 to 1) after each method.

    Returns:
        A :class:`SweepResult`; ``outputs[m][k]`` equals the op (and the trace) on ``boxes[k]``.

    Raises:
        ValueError: bad map, box, methods, offsets, axis or bin.
    """
    values = np.asarray(values)
    if values.ndim != 2 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"values must be a finite 2-D array [H, W], got shape {values.shape}")
    chosen = [m for m in SERIES if m in set(methods)]
    unknown = [m for m in methods if m not in SERIES]
    if unknown or not chosen:
        raise ValueError(f"methods must be a non-empty selection of {SERIES}, got {list(methods)}")
    offsets = np.asarray(offsets, dtype=np.float64).ravel()
    if not 1 <= offsets.size <= MAX_OFFSETS or not np.all(np.isfinite(offsets)):
        raise ValueError(f"offsets must be 1..{MAX_OFFSETS} finite numbers, got {offsets.size}")
    ph, pw = settings.output_size
    if not (0 <= bin[0] < ph and 0 <= bin[1] < pw):
        raise ValueError(f"bin must be a (row, col) inside the {ph} x {pw} output, got {bin}")
    image_box = normalize_box(box)
    boxes = shifted_boxes(image_box, offsets, settings.stride, axis, scale)   # [K, 4]
    all_boxes = np.vstack([np.asarray(image_box)[None], boxes])               # [1 + K, 4]
    rois = torch.from_numpy(np.hstack([np.zeros((len(all_boxes), 1)), all_boxes])).float()
    feature = torch.tensor(values, dtype=torch.float32)[None, None]
    reference, outputs, bin_values, change = {}, {}, {}, {}
    if on_progress:
        on_progress(0.0)
    with torch.no_grad():
        for i, series in enumerate(chosen):
            out = REGISTRY[series].run(feature, rois, settings)[:, 0].numpy()  # [1 + K, PH, PW]
            ref, swept = out[0], out[1:]
            reference[series], outputs[series] = ref, swept
            bin_values[series] = swept[:, bin[0], bin[1]].astype(np.float64)
            change[series] = np.abs(swept.astype(np.float64) - ref).mean(axis=(1, 2))
            if on_progress:
                on_progress((i + 1) / len(chosen))
    return SweepResult(offsets=offsets, axis=axis, scale=bool(scale), box=image_box, boxes=boxes,
                       settings=settings, bin=(int(bin[0]), int(bin[1])), series=tuple(chosen),
                       reference=reference, outputs=outputs, bin_values=bin_values,
                       mean_abs_change=change)


# ----------------------------------------------------------------------------------------------
# Lost and gained area against box size: one stride, or the pyramid level the box's size picks.

#: The methods that quantize the box, so lose or gain area (RoI Align and Precise lose none).
SIZE_SWEEP_METHODS = ("roi_pool", "roi_warp")
#: The two ways to pick the stride: one map for every box, or the FPN level of each box.
SIZE_SWEEP_MODES = ("fixed", "pyramid")
#: Most sizes and positions one size sweep evaluates.
MAX_SIZES, MAX_POSITIONS = 201, 256


def read_regions(method: str, boxes: np.ndarray, stride: float, settings: Settings,
                 map_shape: tuple[int, int]) -> np.ndarray:
    """What RoI Pool or RoI Warp reads for many boxes at once, as the traces define it.

    Args:
        method: ``"roi_pool"`` or ``"roi_warp"``.
        boxes: ``[K, 4]`` in image pixels (sorted corners).
        stride: image pixels per cell.
        settings: uses ``output_size`` and ``convention``.
        map_shape: ``(H, W)``; bins are clipped to it as the kernels clip them.

    Returns:
        float64 ``[K, 4]`` read regions in feature units (drawing frame): RoI Pool's union of
        bins (the trace's ``read_region``), RoI Warp's snapped box.
    """
    coords = np.asarray(boxes, dtype=np.float32)
    scale = np.float32(1.0 / stride)
    if method == "roi_pool":
        _, (row_lo, row_hi), (col_lo, col_hi) = pool_geometry(
            coords, scale, settings.output_size, map_shape, settings.convention)
        return np.column_stack([col_lo.min(1), row_lo.min(1), col_hi.max(1), row_hi.max(1)]).astype(np.float64)
    if method == "roi_warp":
        sx, lx = snap_box(coords[:, 0] * scale, coords[:, 2] * scale, settings.convention)
        sy, ly = snap_box(coords[:, 1] * scale, coords[:, 3] * scale, settings.convention)
        return np.column_stack([sx, sy, sx + lx, sy + ly]).astype(np.float64)
    raise ValueError(f"method must be one of {SIZE_SWEEP_METHODS}, got {method!r}")


@dataclass(frozen=True, eq=False)
class SizeSweepResult:
    """Lost and gained shares of the box against its size, on one stride or on its FPN level.

    Attributes:
        sizes: float64 ``[S]``, ``sqrt(w * h)`` of the boxes in image pixels.
        aspect: ``w / h`` of every box.
        boxes: float64 ``[S, P, 4]``, every box swept (image pixels).
        fixed_stride: the stride of the one-map mode.
        levels: int64 ``[S]``, the FPN level of each size (:func:`roiviz.fpn.fpn_levels`).
        strides: int64 ``[S]``, ``2 ** levels``.
        boundaries: the sizes (px) where the level changes, ``224 * 2 ** (k - 4)`` for the levels
            above ``k_min`` (112, 224, 448 for P2-P5).
        positions: boxes per size (the same sub-cell placements for every size and mode).
        settings: output size and convention used.
        aligned: the level rule (``False`` torchvision's, ``True`` Detectron2's).
        methods: the methods swept, of :data:`SIZE_SWEEP_METHODS`.
        lost, gained: ``{mode: {method: float64 [S]}}``, the mean over positions of the area lost
            (gained) as a percentage of the box's area; mode ``"fixed"`` or ``"pyramid"``.
    """

    sizes: np.ndarray
    aspect: float
    boxes: np.ndarray
    fixed_stride: int
    levels: np.ndarray
    strides: np.ndarray
    boundaries: tuple[float, ...]
    positions: int
    settings: Settings
    aligned: bool
    methods: tuple[str, ...]
    lost: dict[str, dict[str, np.ndarray]]
    gained: dict[str, dict[str, np.ndarray]]

    def to_dict(self) -> dict:
        """JSON-ready arrays (lists) for export."""
        return {"sizes_px": self.sizes.tolist(), "aspect": self.aspect, "fixed_stride": self.fixed_stride,
                "levels": self.levels.tolist(), "strides": self.strides.tolist(),
                "level_boundaries_px": list(self.boundaries),
                "positions": self.positions, "output_size": list(self.settings.output_size),
                "convention": self.settings.convention, "aligned_level_rule": self.aligned,
                "methods": list(self.methods),
                "lost_percent": {m: {k: v.tolist() for k, v in d.items()} for m, d in self.lost.items()},
                "gained_percent": {m: {k: v.tolist() for k, v in d.items()} for m, d in self.gained.items()}}


#: The box sizes the pages sweep: ``sqrt(w * h)`` from 24 to 1024 px, 49 steps evenly spaced on a
#: log scale (so every level boundary, 112 / 224 / 448 px, has steps on both sides).
PAGE_BOX_SIZES: tuple[float, ...] = tuple(float(v) for v in np.geomspace(24, 1024, 49))


def sweep_box_sizes(sizes: Sequence[float], settings: Settings, *, fixed_stride: int = 16,
                    methods: Iterable[str] = SIZE_SWEEP_METHODS, positions: int = 32,
                    aspect: float = 1.0, aligned: bool = False,
                    levels: tuple[int, int] = (PYRAMID_LEVELS[0], PYRAMID_LEVELS[-1])) -> SizeSweepResult:
    """How much of the box RoI Pool and RoI Warp lose and gain, against the box's size.

    Every size is placed at ``positions`` sub-cell offsets (a low-discrepancy sequence over 64 px,
    so over every phase of every stride up to 32) and the areas are averaged. In ``"fixed"`` mode
    every box is pooled at ``fixed_stride``; in ``"pyramid"`` mode at ``2 ** k``, ``k`` its FPN level.
    With one stride, small boxes are a few cells wide and rounding to whole cells costs them a
    large share; with the pyramid every box from 56 to 896 px is 14 to 28 cells wide on its level
    (P2 holds 56-112 px, P5 448-896 px), so the share stays in one band (:func:`steady_band`);
    below 56 px boxes are fewer than 14 cells on P2 and the share rises again.

    Args:
        sizes: ``[S]`` values of ``sqrt(w * h)`` in image pixels, each in ``1 .. 4096``.
        settings: ``output_size`` and ``convention`` (the rest is not used).
        fixed_stride: stride of the one-map mode, 1 .. 64.
        methods: among :data:`SIZE_SWEEP_METHODS`.
        positions: placements per size, 1 .. ``MAX_POSITIONS``.
        aspect: ``w / h``, 0.1 .. 10.
        aligned: the level rule: torchvision's (``False``) or Detectron2's (``True``).
        levels: ``(k_min, k_max)`` of the pyramid.

    Returns:
        A :class:`SizeSweepResult`. Each area equals the trace's (``tests/lessons/test_sweeps.py``).

    Raises:
        ValueError: for arguments out of range.
    """
    sizes = np.asarray(sizes, dtype=np.float64).ravel()
    if not 1 <= sizes.size <= MAX_SIZES or not np.all(np.isfinite(sizes)) or \
            sizes.min() < 1 or sizes.max() > 4096:
        raise ValueError(f"sizes must be 1..{MAX_SIZES} numbers in 1..4096 px, got {sizes.size} values")
    chosen = tuple(m for m in SIZE_SWEEP_METHODS if m in set(methods))
    if not chosen or any(m not in SIZE_SWEEP_METHODS for m in methods):
        raise ValueError(f"methods must be a non-empty selection of {SIZE_SWEEP_METHODS}, got {list(methods)}")
    if isinstance(positions, bool) or not isinstance(positions, (int, np.integer)) or \
            not 1 <= positions <= MAX_POSITIONS:
        raise ValueError(f"positions must be an integer in 1..{MAX_POSITIONS}, got {positions!r}")
    if isinstance(fixed_stride, bool) or not isinstance(fixed_stride, (int, np.integer)) or \
            not 1 <= fixed_stride <= 64:
        raise ValueError(f"fixed_stride must be an integer in 1..64, got {fixed_stride!r}")
    if not 0.1 <= float(aspect) <= 10:
        raise ValueError(f"aspect must be in 0.1..10, got {aspect!r}")
    j = np.arange(positions)
    # Sub-cell placements: the additive recurrences of the plastic number (R2), over 64 px.
    offset_x = 64.0 * ((0.5 + j * 0.7548776662466927) % 1.0)
    offset_y = 64.0 * ((0.5 + j * 0.5698402909980532) % 1.0)
    w, h = sizes * np.sqrt(aspect), sizes / np.sqrt(aspect)                   # [S]
    x1 = 64.0 + offset_x[None, :]                                             # [1, P]
    y1 = 64.0 + offset_y[None, :]
    boxes = np.stack(np.broadcast_arrays(x1, y1, x1 + w[:, None], y1 + h[:, None]), -1)  # [S, P, 4]
    flat = boxes.reshape(-1, 4)
    box_levels = fpn_levels(torch.tensor(flat, dtype=torch.float32), *levels,
                            **level_rule(bool(aligned))).numpy()              # [S*P]
    lost = {mode: {} for mode in SIZE_SWEEP_MODES}
    gained = {mode: {} for mode in SIZE_SWEEP_MODES}
    for mode in SIZE_SWEEP_MODES:
        strides = np.full(len(flat), float(fixed_stride)) if mode == "fixed" else 2.0 ** box_levels
        for method in chosen:
            lost_pct, gained_pct = np.zeros(len(flat)), np.zeros(len(flat))
            for stride in np.unique(strides):
                idx = np.nonzero(strides == stride)[0]
                # A map that holds every box with room to spare: nothing is outside or clipped.
                map_shape = (int(np.ceil(flat[idx, 3].max() / stride)) + 4,
                             int(np.ceil(flat[idx, 2].max() / stride)) + 4)
                reads = read_regions(method, flat[idx], stride, settings, map_shape)
                for i, read in zip(idx, reads):
                    areas = region_areas(feature_rect(tuple(flat[i]), stride), tuple(read), map_shape, stride)
                    lost_pct[i], gained_pct[i] = areas.percent("lost"), areas.percent("gained")
            lost[mode][method] = lost_pct.reshape(len(sizes), positions).mean(1)
            gained[mode][method] = gained_pct.reshape(len(sizes), positions).mean(1)
    per_size = box_levels.reshape(len(sizes), positions)[:, 0]
    return SizeSweepResult(sizes=sizes, aspect=float(aspect), boxes=boxes, fixed_stride=int(fixed_stride),
                           levels=per_size.astype(np.int64), strides=(2 ** per_size).astype(np.int64),
                           boundaries=tuple(CANONICAL_SCALE * 2.0 ** (k - CANONICAL_LEVEL)
                                            for k in range(levels[0] + 1, levels[1] + 1)),
                           positions=int(positions), settings=settings, aligned=bool(aligned),
                           methods=chosen, lost=lost, gained=gained)


@dataclass(frozen=True)
class SteadyBand:
    """The band a pyramid keeps one method's lost or gained share in (the sweep's dashed line).

    Attributes:
        sizes_px: ``(low, high)``, the sizes that are 14 to 28 cells across on their level
            (:func:`roiviz.fpn.steady_sizes`; 56 and 896 px for P2-P5).
        share: ``(smallest, largest)`` percentage over the swept sizes in ``[low, high)``.
        below: ``(largest percentage, at size px)`` over the swept sizes below ``low``, or None.
        above: ``(largest percentage, at size px)`` over the swept sizes from ``high`` on, or None.
    """

    sizes_px: tuple[float, float]
    share: tuple[float, float]
    below: tuple[float, float] | None
    above: tuple[float, float] | None


def steady_band(result: SizeSweepResult, method: str = "roi_pool", kind: str = "gained",
                levels: tuple[int, int] = (PYRAMID_LEVELS[0], PYRAMID_LEVELS[-1])) -> SteadyBand:
    """Where and how flat the pyramid keeps ``method``'s ``kind`` share, read off ``result``.

    Raises:
        ValueError: ``method`` not swept, ``kind`` not ``"lost"`` / ``"gained"``, or no swept
            size inside the band.
    """
    if kind not in ("lost", "gained"):
        raise ValueError(f"kind must be 'lost' or 'gained', got {kind!r}")
    if method not in result.methods:
        raise ValueError(f"method {method!r} was not swept (swept: {result.methods})")
    low, high = steady_sizes(*levels)
    share = getattr(result, kind)["pyramid"][method]                          # [S]
    inside = (result.sizes >= low) & (result.sizes < high)
    if not inside.any():
        raise ValueError(f"no swept size lies in {low:g}..{high:g} px")

    def largest(mask: np.ndarray) -> tuple[float, float] | None:
        if not mask.any():
            return None
        i = np.flatnonzero(mask)[np.argmax(share[mask])]
        return float(share[i]), float(result.sizes[i])

    return SteadyBand(sizes_px=(low, high), share=(float(share[inside].min()), float(share[inside].max())),
                      below=largest(result.sizes < low), above=largest(result.sizes >= high))
