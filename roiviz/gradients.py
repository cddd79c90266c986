"""Where each method sends the gradient: ``d(target) / d(feature map)`` by torch autograd.

The target is the sum of a method's outputs (every bin asks "make me bigger") or one bin. The
gradient is computed through the batched ops of :mod:`roiviz.ops`, the same code a detector
would train with, not from the traces; the traces' ``cell_weights`` say the same thing cell by
cell, which is how ``tests/test_gradients.py`` checks it.

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

from .geometry import normalize_box
from .methods import METHODS, REGISTRY, SERIES
from .records import Settings

__all__ = ["GradientResult", "gradient_maps"]


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


