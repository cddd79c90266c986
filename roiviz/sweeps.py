"""Sub-pixel sensitivity: slide or grow a box by fractions of a cell and watch each output.

One batched op call per method (:mod:`roiviz.ops`, boxes as ``Tensor[K, 5]``) evaluates every
shifted box at once. RoI Pool and RoI Warp round the box to whole cells, so their outputs are
step functions of the offset; RoI Align and Precise RoI Pooling never round, so theirs move
continuously. RoI Align with ``aligned=False`` outputs what ``aligned=True`` outputs for the box
moved half a cell right and down, a constant bias
(``tests/test_sweeps.py::test_unaligned_is_aligned_on_the_box_moved_half_a_cell``).

No Streamlit here: the page passes ``on_progress`` to drive its progress bar.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .geometry import normalize_box
from .methods import REGISTRY, SERIES
from .records import Settings

__all__ = [
    "AXES",
    "SweepResult",
    "shifted_boxes",
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

