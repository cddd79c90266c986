"""Where each method sends the gradient: ``d(target) / d(feature map)`` by torch autograd.

The target is the sum of a method's outputs (every bin asks "make me bigger") or one bin. The
gradient is computed through the batched ops of :mod:`roiviz.ops`, the same code a detector
would train with, not from the traces; the traces' ``cell_weights`` say the same thing cell by
cell, which is how ``tests/lessons/test_gradients.py`` checks it.

- RoI Pool: each bin's whole gradient lands on its argmax cell (1 per bin, 0 elsewhere).
- RoI Warp and RoI Align: each sample spreads its share over its four neighbours with the
  bilinear weights (``avg``: ``1 / samples`` per sample; ``max``: the winning sample only).
- Precise RoI Pooling: every cell the bin overlaps gets its integrated bilinear weight.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from ..geometry import normalize_box
from ..methods import METHODS, REGISTRY, SERIES
from ..records import Settings

__all__ = ["BoxSweep", "GradientResult", "box_sweep", "gradient_maps"]


@dataclass(frozen=True, eq=False)
class GradientResult:
    """Gradient maps of several methods for one box.

    Attributes:
        maps: ``{series: float64 [H, W]}`` ``d(target) / d(cell)``, read-only.
        outputs: ``{series: float32 [PH, PW]}`` the forward outputs.
        box: the box in image pixels (corners sorted).
        settings: the options used.
        target: ``None`` for the sum of all bins, else the ``(row, col)`` bin differentiated.
    """

    maps: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    box: tuple[float, float, float, float]
    settings: Settings
    target: tuple[int, int] | None

    @property
    def target_label(self) -> str:
        if self.target is None:
            return "sum of all output bins"
        return f"output bin (row {self.target[0]}, col {self.target[1]})"

    def cells_reached(self, series: str, tol: float = 1e-12) -> int:
        """How many cells receive a non-zero gradient."""
        return int(np.count_nonzero(np.abs(self.maps[series]) > tol))

    def total(self, series: str) -> float:
        """The sum of the gradient over the map (= bins read on the map, for the sum target)."""
        return float(self.maps[series].sum())

    def to_dict(self) -> dict:
        """JSON-ready form for export."""
        return {"target": self.target_label, "box": list(self.box),
                "gradients": {s: g.tolist() for s, g in self.maps.items()},
                "outputs": {s: o.tolist() for s, o in self.outputs.items()}}


def gradient_maps(values: np.ndarray, box, settings: Settings = Settings(),
                  methods: Iterable[str] = METHODS, target: tuple[int, int] | None = None) -> GradientResult:
    """The gradient each method sends back to the feature map, by autograd through the ops.

    Args:
        values: the feature map ``[H, W]``, finite real numbers.
        box: ``(x1, y1, x2, y2)`` in image pixels.
        settings: options of every method.
        methods: keys of :data:`roiviz.methods.SERIES`.
        target: ``None`` to differentiate the sum of all output bins, or a ``(row, col)`` bin.

    Returns:
        A :class:`GradientResult` with one ``[H, W]`` map per method.

    Raises:
        ValueError: bad map, methods or target.
    """
    values = np.asarray(values)
    if values.ndim != 2 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"values must be a finite 2-D array [H, W], got shape {values.shape}")
    methods = list(methods)
    chosen = [m for m in SERIES if m in methods]
    if not chosen or len(chosen) != len(set(methods)):
        raise ValueError(f"methods must be a non-empty selection of {SERIES}, got {methods}")
    ph, pw = settings.output_size
    if target is not None and not (0 <= target[0] < ph and 0 <= target[1] < pw):
        raise ValueError(f"target must be None or a (row, col) inside the {ph} x {pw} output, got {target}")
    image_box = normalize_box(box)
    rois = torch.tensor([[0.0, *image_box]], dtype=torch.float32)             # [1, 5]
    maps, outputs = {}, {}
    for series in chosen:
        feature = torch.tensor(values, dtype=torch.float32)[None, None].requires_grad_(True)
        out = REGISTRY[series].run(feature, rois, settings)                # [1, 1, PH, PW]
        objective = out.sum() if target is None else out[0, 0, target[0], target[1]]
        (grad,) = torch.autograd.grad(objective, feature, allow_unused=True)
        g = np.zeros(values.shape) if grad is None else grad[0, 0].double().numpy().copy()
        g.flags.writeable = False
        maps[series] = g
        o = out.detach()[0, 0].numpy().copy()
        o.flags.writeable = False
        outputs[series] = o
    return GradientResult(maps=maps, outputs=outputs, box=image_box, settings=settings,
                          target=None if target is None else (int(target[0]), int(target[1])))




# ----------------------------------------------------------------------------------------------
# Box gradients as the box slides (the Gradient flow page's sweep)


@dataclass(frozen=True, eq=False)
class BoxSweep:
    """``d target / d x1`` of each method as the box slides along x (width kept).

    Attributes:
        x1: float64 ``[S]``, the box's left edge in image pixels.
        derivative: ``{method: float64 [S]}``, ``d target / d x1`` (per image pixel), from
            :func:`roiviz.box_gradients.box_gradient` (RoI Pool: zeros).
        crossings: x1 values where one of RoI Align's sampling points crosses a cell line (or
            enters / leaves the border cells), where its derivative jumps.
        roundings: x1 values where RoI Warp's snapped box changes (its derivative jumps).
        target_label: what is differentiated.
    """

    x1: np.ndarray
    derivative: dict[str, np.ndarray]
    crossings: tuple[float, ...]
    roundings: tuple[float, ...]
    box: tuple[float, float, float, float]
    settings: Settings
    target_label: str

    def largest_jump(self, method: str) -> float:
        """The largest change of the derivative between two neighbouring x1 values."""
        return float(np.abs(np.diff(self.derivative[method])).max(initial=0.0))


def box_sweep(values: np.ndarray, box, settings: Settings = Settings(), cells: float = 3.0,
              points: int = 301, target: tuple[int, int] | None = None,
              methods: Iterable[str] = METHODS) -> BoxSweep:
    """Slide ``box`` right by ``cells`` feature cells in ``points`` steps; each method's
    ``d target / d x1`` at every position (the Python engine, :mod:`roiviz.box_gradients`).

    Args:
        values: ``[H, W]`` map; box: the first position (image pixels).
        target: ``None`` for the sum of all bins, or a ``(row, col)`` bin.

    Returns:
        A :class:`BoxSweep`; the crossings and roundings lie inside the swept range.

    Raises:
        ValueError: bad map, box or settings.
    """
    from ..box_gradients import Target, box_gradient
    from ..geometry import align_mapping, sample_coords, sampling_grid

    image_box = normalize_box(box)
    stride = settings.stride
    shifts = np.linspace(0.0, cells * stride, points)
    chosen = Target() if target is None else Target("bin", (int(target[0]), int(target[1])))
    derivative = {m: np.array([box_gradient(m, values, (image_box[0] + d, image_box[1], image_box[2] + d,
                                                        image_box[3]), settings, chosen).gradient[0]
                               for d in shifts]) for m in methods}
    width = np.asarray(values).shape[1]
    scale = 1.0 / stride
    # RoI Align's samples move with x1 at 1 / stride cells per pixel (the width is fixed): each
    # crosses the whole-number coordinates (cell lines in the library frame) on its way.
    start, length = align_mapping(np.float64(image_box[0]), np.float64(image_box[2]), scale, settings.aligned)
    grid = sampling_grid(np.float64(length), settings.output_size[1], settings.sampling_ratio)
    coords, _ = sample_coords(np.float64(start), np.float64(length), settings.output_size[1], np.int64(grid),
                              max(int(grid), 1))
    crossings = sorted({round(float((k - c) * stride), 9) for c in coords.ravel()
                        for k in range(int(np.floor(c)) + 1, int(np.floor(c + cells)) + 1) if -1 <= k <= width})
    # RoI Warp: the snapped corners change where x * scale passes a half (library: C round)
    # or a whole number (article: floor).
    half = 0.5 if settings.convention == "library" else 0.0
    roundings = set()
    for edge in (image_box[0], image_box[2]) if settings.convention == "library" else (image_box[0],):
        u = edge * scale
        for k in range(int(np.floor(u - half)) + 1, int(np.floor(u - half + cells)) + 1):
            roundings.add(round(float((k + half - u) * stride), 9))
    return BoxSweep(x1=image_box[0] + shifts, derivative=derivative,
                    crossings=tuple(image_box[0] + c for c in crossings if 0 < c <= cells * stride),
                    roundings=tuple(sorted(image_box[0] + r for r in roundings if 0 < r <= cells * stride)),
                    box=image_box, settings=settings, target_label=chosen.label)
