"""Immutable records of what each method did with one RoI on one 2-D feature map.

A trace is computed once (``roiviz.roi_pool.trace_roi_pool`` and friends) and every figure,
table and export is drawn from it: renderers never recompute geometry. All rectangles and
points are in the *drawing frame* (feature units, cell ``(i, j)`` is ``[j, j+1) x [i, i+1)``;
see :mod:`roiviz.geometry`). Rectangles are ``(x1, y1, x2, y2)``, cells are ``(row, col)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import _checks
from .geometry import check_box_cells, check_scale, normalize_box, rect_area, rect_difference, rect_intersection

Rect = tuple[float, float, float, float]
Cell = tuple[int, int]

#: Bounds for what a trace will record (the batched ops have no such bound); the samples are
#: bounded by :data:`roiviz.geometry.SAMPLE_BUDGET`.
MAX_TRACE_OUTPUT = 32


@dataclass(frozen=True)
class Settings:
    """Options shared by all methods (each method uses the ones that apply to it).

    Attributes:
        output_size: ``(PH, PW)`` bins per side, each in ``1 .. MAX_TRACE_OUTPUT``.
        stride: image pixels per feature cell (``spatial_scale = 1 / stride``), > 0.
        sampling_ratio: samples per bin side for RoI Align / Warp; ``<= 0`` means adaptive,
            ``ceil(roi_size / output_size)`` per RoI and axis.
        aligned: RoI Align's half-cell offset (``True``: the Detectron2 / torchvision fix).
        reduce: ``"avg"`` or ``"max"`` over the samples of a bin (RoI Align and Warp).
        convention: RoI Pool's quantization, ``"library"`` or ``"article"`` (Warp follows it).
    """

    output_size: tuple[int, int] = (3, 3)
    stride: float = 32.0
    sampling_ratio: int = -1
    aligned: bool = True
    reduce: str = "avg"
    convention: str = "library"

    @property
    def spatial_scale(self) -> float:
        return 1.0 / self.stride


@dataclass(frozen=True)
class Sample:
    """One bilinear sample. ``x, y`` in the drawing frame (feature units).

    ``neighbours`` are the four cells ``(row, col)`` read, in the order top-left, top-right,
    bottom-left, bottom-right, with ``weights`` to match (they sum to 1 on the map, 0 off it).
    """

    x: float
    y: float
    neighbours: tuple[Cell, Cell, Cell, Cell]
    weights: tuple[float, float, float, float]
    value: float
    on_map: bool


@dataclass(frozen=True)
class Bin:
    """One output cell. ``rect`` is the bin as the method sees it (drawing frame).

    Attributes:
        row, col: the output position.
        rect: the bin's rectangle; for RoI Pool the cells it reads, ``None`` if it reads none.
        value: the output value.
        cells: RoI Pool only: every cell ``(row, col)`` the bin reads.
        argmax: RoI Pool: the winning cell (first maximum in row-major order); ``None`` if empty.
        samples: RoI Align / Warp: the bin's samples, row-major.
        winner: ``reduce="max"``: index into ``samples`` of the winning sample.
        cell_weights: ``((row, col), d value / d cell)`` for every cell the value depends on:
            the gradient the bin sends back to the feature map.
    """

    row: int
    col: int
    rect: Rect | None
    value: float
    cells: tuple[Cell, ...] = ()
    argmax: Cell | None = None
    samples: tuple[Sample, ...] = ()
    winner: int | None = None
    cell_weights: tuple[tuple[Cell, float], ...] = ()


@dataclass(frozen=True)
class Areas:
    """How the read region differs from the RoI, in square feature cells.

    ``lost`` is the part of the RoI (on the map) that the output does not depend on (red),
    ``gained`` the part of the read region (on the map) outside the RoI (green), ``outside`` the
    part of the RoI off the map (neither). Pixel areas are these times ``stride ** 2``.
    """

    roi: float
    read: float
    lost: float
    gained: float
    outside: float
    overlap: float
    stride: float

    def pixels(self, name: str) -> float:
        """An area in square image pixels: ``getattr(self, name) * stride ** 2``."""
        return getattr(self, name) * self.stride ** 2

    def percent(self, name: str) -> float:
        """An area as a percentage of the RoI's area (0 for an empty RoI)."""
        return 100.0 * getattr(self, name) / self.roi if self.roi > 0 else 0.0

    @property
    def iou(self) -> float:
        """Intersection over union of the read region and the RoI."""
        union = self.roi + self.read - self.overlap
        return self.overlap / union if union > 0 else 0.0


def region_areas(roi: Rect, read: Rect | None, map_shape: tuple[int, int], stride: float) -> Areas:
    """Lost, gained and outside areas of a read region against a RoI (SEMANTICS.md).

    Args:
        roi: the RoI in feature units (drawing frame).
        read: the read region, or ``None`` if the method reads nothing.
        map_shape: ``(H, W)`` of the feature map, whose extent is ``[0, W] x [0, H]``.
        stride: image pixels per cell.
    """
    feature_map = (0.0, 0.0, float(map_shape[1]), float(map_shape[0]))
    roi_on_map = rect_intersection(roi, feature_map)
    read_on_map = rect_intersection(read, feature_map)
    overlap = rect_area(rect_intersection(roi, read))
    return Areas(
        roi=rect_area(roi),
        read=rect_area(read),
        lost=rect_area(roi_on_map) - rect_area(rect_intersection(roi_on_map, read)),
        gained=rect_area(read_on_map) - rect_area(rect_intersection(read_on_map, roi)),
        outside=rect_area(roi) - rect_area(roi_on_map),
        overlap=overlap,
        stride=stride,
    )


@dataclass(frozen=True, eq=False)
class MethodTrace:
    """Everything one method did with one RoI.

    Attributes:
        method: a key of :data:`roiviz.methods.METHODS`.
        label: the method's display name (``"RoI Align"``).
        settings: the options used.
        image_box: the RoI in image pixels, corners sorted.
        roi: the RoI in feature units (``image_box / stride``), drawing frame.
        snapped_box: RoI Pool / Warp: the box after the first quantization; else ``None``.
        sampled_box: RoI Align / Warp / Precise: the box whose bins are sampled (drawing frame):
            the RoI, the snapped box (Warp), or the RoI shifted by half a cell (``aligned=False``).
        read_region: the part of the plane the output depends on (SEMANTICS.md), or ``None``.
        grid: samples per bin side ``(gh, gw)`` (RoI Align / Warp), else ``(0, 0)``.
        bins: ``PH * PW`` bins, row-major.
        output: ``float32 [PH, PW]``, read-only; equals the batched op's output.
        map_shape: ``(H, W)`` of the feature map.
        areas: lost / gained / outside areas.
        notes: sentences about conventions worth showing next to the figure.
        sample_step: ``(ky, kx)``: the bins' ``samples`` are every ``ky``-th row and ``kx``-th
            column of the ``grid`` (from row ``ky // 2``, column ``kx // 2``), row-major;
            ``(1, 1)`` (every trace but an export's :func:`roiviz.thinned.thinned_trace`): all.
    """

    method: str
    label: str
    settings: Settings
    image_box: Rect
    roi: Rect
    snapped_box: Rect | None
    sampled_box: Rect | None
    read_region: Rect | None
    grid: tuple[int, int]
    bins: tuple[Bin, ...]
    output: np.ndarray
    map_shape: tuple[int, int]
    areas: Areas
    notes: tuple[str, ...] = field(default=())
    sample_step: tuple[int, int] = (1, 1)

    def bin(self, row: int, col: int) -> Bin:
        return self.bins[row * self.settings.output_size[1] + col]

    @property
    def recorded_grid(self) -> tuple[int, int]:
        """Sample rows and columns recorded per bin: ``grid``, or for a thinned trace every
        ``sample_step``-th of them (:mod:`roiviz.thinned`), which is what ``Bin.samples`` holds."""
        (gy, gx), (sy, sx) = self.grid, self.sample_step
        return len(range(sy // 2, gy, sy)), len(range(sx // 2, gx, sx))

    @property
    def smallest_bin_side(self) -> float:
        """The smallest side of a bin, in feature cells (RoI Pool's may be 0: then one cell)."""
        sides = [min(b.rect[2] - b.rect[0], b.rect[3] - b.rect[1]) for b in self.bins if b.rect is not None]
        sides = [s for s in sides if s > 1e-9]
        return min(sides) if sides else 1.0

    @property
    def map_rect(self) -> Rect:
        """The feature map's extent ``(0, 0, W, H)``."""
        return (0.0, 0.0, float(self.map_shape[1]), float(self.map_shape[0]))

    def region_rects(self, name: str) -> list[Rect]:
        """The ``"lost"``, ``"gained"`` or ``"outside"`` region as disjoint rectangles.

        Same definitions as :func:`region_areas`: lost = (RoI on the map) - read region,
        gained = (read region on the map) - RoI, outside = RoI - map.
        """
        if name == "lost":
            return rect_difference(rect_intersection(self.roi, self.map_rect), self.read_region)
        if name == "gained":
            return rect_difference(rect_intersection(self.read_region, self.map_rect), self.roi)
        if name == "outside":
            return rect_difference(self.roi, self.map_rect)
        raise ValueError(f"region must be 'lost', 'gained' or 'outside', got {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: box, settings, bins (with samples), output and areas."""
        areas = asdict(self.areas)
        areas.update({f"{k}_pixels": self.areas.pixels(k) for k in ("lost", "gained", "outside")})
        areas.update({f"{k}_percent": self.areas.percent(k) for k in ("lost", "gained", "outside")})
        areas["iou"] = self.areas.iou
        return {
            "method": self.method,
            "label": self.label,
            "settings": asdict(self.settings),
            "image_box": list(self.image_box),
            "roi": list(self.roi),
            "snapped_box": None if self.snapped_box is None else list(self.snapped_box),
            "sampled_box": None if self.sampled_box is None else list(self.sampled_box),
            "read_region": None if self.read_region is None else list(self.read_region),
            "grid": list(self.grid),
            "map_shape": list(self.map_shape),
            "output": self.output.astype(float).tolist(),
            "areas": areas,
            "bins": [asdict(b) for b in self.bins],
            "notes": list(self.notes),
            **({"sample_step": list(self.sample_step)} if self.sample_step != (1, 1) else {}),
        }


def check_trace_args(feature: np.ndarray, box, settings: Settings) -> tuple[np.ndarray, Rect]:
    """Validate a trace's inputs; returns the map as float32 ``[H, W]`` and the sorted box.

    Raises:
        TypeError: ``feature`` is not a numpy array or ``settings`` not a :class:`Settings`.
        ValueError: naming the argument, what it got and what is allowed.
    """
    if not isinstance(feature, np.ndarray):
        raise TypeError(f"feature must be a numpy array [H, W], got {type(feature).__name__}")
    if feature.ndim != 2 or feature.size == 0:
        raise ValueError(f"feature must be a non-empty 2-D array [H, W], got shape {feature.shape}")
    if not (np.issubdtype(feature.dtype, np.number) or feature.dtype == bool) or np.iscomplexobj(feature):
        raise ValueError(f"feature must hold real numbers, got dtype {feature.dtype}")
    if not isinstance(settings, Settings):
        raise TypeError(f"settings must be a roiviz.records.Settings, got {type(settings).__name__}")
    ph, pw = settings.output_size
    for name, v in (("output height", ph), ("output width", pw)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= MAX_TRACE_OUTPUT:
            raise ValueError(f"{name} must be an integer in 1..{MAX_TRACE_OUTPUT}, got {v!r}")
    if isinstance(settings.stride, bool) or not isinstance(settings.stride, (int, float)) or \
            not math.isfinite(settings.stride) or settings.stride <= 0:
        raise ValueError(f"stride must be a finite number > 0, got {settings.stride!r}")
    _checks.check_sampling_ratio(settings.sampling_ratio)
    _checks.check_reduce(settings.reduce)
    _checks.check_convention(settings.convention)
    scale = check_scale(settings.stride)
    image_box = normalize_box(box)
    check_box_cells(image_box, scale)
    if image_box[2] - image_box[0] <= 0 or image_box[3] - image_box[1] <= 0:
        w, h = image_box[2] - image_box[0], image_box[3] - image_box[1]
        raise ValueError(f"box must have a positive width and height, got {w:g} x {h:g} pixels")
    values = feature.astype(np.float32)
    if not np.all(np.isfinite(values)):
        raise ValueError("feature contains NaN or infinite values")
    return values, image_box


def feature_rect(image_box: Rect, stride: float) -> Rect:
    """The RoI in feature units (drawing frame): image pixels divided by the stride."""
    return tuple(float(np.float32(v)) / stride for v in image_box)  # type: ignore[return-value]


def freeze(a: np.ndarray) -> np.ndarray:
    """A read-only float32 copy, for trace outputs."""
    out = np.array(a, dtype=np.float32)
    out.flags.writeable = False
    return out


def ordinal(k: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ..., ``11th``, ``21st`` (the figures' "every 4th row")."""
    suffix = "th" if k % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"
