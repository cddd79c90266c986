"""The walkthrough: the seed article's worked example as a sequence of steps (data, no UI).

The example (:mod:`roiviz.lessons.examples`): a 320 x 320 image, a stride-32 feature map of 10 x 10
cells (the article's VGG16 after pool5; detectors pool VGG16's conv5_3 at stride 16), the proposal ``SEED_EXAMPLE_BOX`` (``(1.25, 2.25, 7.5, 6.25)`` in cells), a 3 x 3
output. The feature values are :func:`roiviz.features.toy_grid` ``(10, 10, seed=0)``: whole
numbers 0..9 a reader can check by hand, chosen so that the row the article's RoI Pool drops
holds the largest values (9) of the box. They stand in for one feature channel and are not
computed from the photo, which only shows where the proposal and the 32-pixel cells lie.

Every number a step shows is read from the engine's traces (:func:`roiviz.methods.trace_method`),
from their areas and bins, or from :mod:`roiviz.lessons.evidence`; no number is typed into the text.
``tests/lessons/test_walkthrough.py`` checks the article convention's numbers against the values worked out
by hand in :mod:`roiviz.lessons.examples`; ``tests/test_sources.py`` checks that every property a step
states (cells shared by bins, numbers quoted from the paper) holds on the traces. The sources of
every claim are listed in ``docs/sources.md``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from .evidence import SAMPLING_NOTE, SAMPLING_QUOTE, TABLE_2C
from .examples import (
    SEED_EXAMPLE_BOX,
    SEED_EXAMPLE_IMAGE_SHAPE,
    SEED_EXAMPLE_MAP_SHAPE,
    SEED_EXAMPLE_STRIDE,
    seed_example_settings,
)
from ..features import image_feature_map, toy_grid
from ..geometry import CONVENTIONS
from ..samples import load_sample_image
from ..methods import METHODS, UNALIGNED, difference_from_precise, summary_rows, trace_method
from ..records import MethodTrace, Rect, Settings

__all__ = [
    "EXAMPLE_MAPS",
    "FIGURE_KINDS",
    "IMAGE_CREDIT",
    "IMAGE_NAME",
    "STEP_KEYS",
    "Lesson",
    "Step",
    "example_map",
    "lesson_image",
    "walkthrough",
    "walkthrough_steps",
]

#: The photo shown in the first step (resized to the example's 320 x 320 image).
IMAGE_NAME = "astronaut"
IMAGE_CREDIT = "Photo: astronaut Eileen Collins, NASA, public domain (assets/LICENSE.md)."
#: Extra traces the lesson keeps besides the four methods.
ALIGN_MAX = "roi_align_max"
OTHER_POOL = "roi_pool_other_convention"
STEP_KEYS = ("image", "mapping", "snap", "split", "bins", "max", "warp", "align", "bilinear",
             "reduce", "aligned", "precise", "compare")
#: ``image``: the photo and the proposal; ``map``: a method panel (optionally with outputs);
#: ``outputs``: outputs side by side.
FIGURE_KINDS = ("image", "map", "outputs")
_ALL = frozenset({"map", "values"})


@dataclass(frozen=True)
class Step:
    """One stage of the walkthrough.

    Attributes:
        key: a key of :data:`STEP_KEYS` (stable, used in links: ``?step=``).
        title: a short heading.
        figure: one of :data:`FIGURE_KINDS`.
        method: key of the :attr:`Lesson.traces` entry the panel draws (``None`` for ``image``
            and ``outputs``).
        text: the explanation (markdown, this project's own words).
        numbers: ``(label, value)`` pairs, formatted, read from the traces.
        layers: which :data:`roiviz.drawing.render_mpl.LAYERS` the panel shows (the highlight flags).
        differs: where real libraries differ from the article's account (markdown), or ``""``.
        regions: trace whose lost / gained areas the panel hatches (default: ``method``'s).
        guide: trace whose bins are drawn dotted over the panel (the exact split), or ``None``.
        focus_bin: a bin to outline, ``(row, col)``.
        focus_sample: a sample to zoom on, ``(row, col, index)`` in ``method``'s bins.
        outputs: traces whose outputs are shown (next to the panel, or alone for ``outputs``).
    """

    key: str
    title: str
    figure: str
    method: str | None
    text: str
    numbers: tuple[tuple[str, str], ...]
    layers: frozenset[str] = field(default_factory=frozenset)
    differs: str = ""
    regions: str | None = None
    guide: str | None = None
    focus_bin: tuple[int, int] | None = None
    focus_sample: tuple[int, int, int] | None = None
    outputs: tuple[str, ...] = ()

    def trace_keys(self) -> tuple[str, ...]:
        """Every trace the step draws or quotes (for exports), without repeats."""
        keys = [self.method, self.regions, self.guide, *self.outputs]
        return tuple(dict.fromkeys(k for k in keys if k))


@dataclass(frozen=True, eq=False)
class Lesson:
    """The worked example under one RoI Pool convention, and its steps.

    Attributes:
        convention: ``"article"`` or ``"library"`` (RoI Pool's and RoI Warp's rounding).
        box: the proposal in image pixels.
        settings: the options of the four methods (3 x 3, stride 32, 2 x 2 samples, aligned).
        values: the toy feature map, float32 ``[10, 10]``.
        image: the photo, uint8 ``[320, 320, 3]``.
        traces: the four methods (keys of :data:`roiviz.methods.METHODS`), RoI Align with
            ``reduce="max"`` (``"roi_align_max"``), with ``aligned=False``
            (``"roi_align_unaligned"``) and RoI Pool under the other convention
            (``"roi_pool_other_convention"``).
        steps: the steps in teaching order.
    """

    convention: str
    box: Rect
    settings: Settings
    values: np.ndarray
    image: np.ndarray
    traces: dict[str, MethodTrace]
    steps: tuple[Step, ...]

    def step(self, key: str) -> Step:
        for s in self.steps:
            if s.key == key:
                return s
        raise ValueError(f"step must be one of {STEP_KEYS}, got {key!r}")


@lru_cache(maxsize=1)
def lesson_image() -> np.ndarray:
    """The photo of the first step, resized to the example's image size (uint8 ``[320, 320, 3]``)."""
    from PIL import Image

    height, width = SEED_EXAMPLE_IMAGE_SHAPE
    photo = Image.fromarray(np.asarray(load_sample_image(IMAGE_NAME)))
    out = np.asarray(photo.resize((width, height), Image.LANCZOS)).copy()
    out.flags.writeable = False
    return out


#: Feature maps of the example the other teaching pages offer: ``{key: label}``.
EXAMPLE_MAPS = {"toy": "toy numbers 0-9 (the walkthrough's map)",
                "photo": "the photo's luminance, pooled to stride 32"}


@lru_cache(maxsize=len(EXAMPLE_MAPS))
def example_map(kind: str = "toy") -> np.ndarray:
    """A ``[10, 10]`` float32 map of the worked example (read-only).

    Args:
        kind: ``"toy"`` (:func:`roiviz.features.toy_grid`, the walkthrough's numbers) or
            ``"photo"`` (channel ``luminance`` of :func:`roiviz.features.image_feature_map` of
            :func:`lesson_image` at the example's stride, values 0..1).

    Raises:
        ValueError: unknown kind.
    """
    if kind == "toy":
        return toy_grid(*SEED_EXAMPLE_MAP_SHAPE, seed=0).channel(0)
    if kind == "photo":
        return image_feature_map(lesson_image(), int(SEED_EXAMPLE_STRIDE), name=IMAGE_NAME).channel(0)
    raise ValueError(f"kind must be one of {tuple(EXAMPLE_MAPS)}, got {kind!r}")


# ---------------------------------------------------------------------------------------------
# Formatting: numbers as a reader would write them.


def _n(x: float, digits: int = 4) -> str:
    """``1.25`` -> ``"1.25"``, ``2.0833333`` -> ``"2.083"``, ``6.0`` -> ``"6"``."""
    return f"{float(x):.{digits}g}"


def _box(rect: Rect) -> str:
    return f"x {_n(rect[0])} to {_n(rect[2])}, y {_n(rect[1])} to {_n(rect[3])}"


def _size(rect: Rect) -> str:
    """``rows x columns`` of a rectangle in cells."""
    return f"{_n(rect[3] - rect[1])} rows x {_n(rect[2] - rect[0])} columns"


def _area(trace: MethodTrace, name: str) -> str:
    a = trace.areas
    return f"{_n(getattr(a, name))} cells = {_n(a.pixels(name), 6)} px² = {a.percent(name):.2f}% of the RoI"


def _rows(out: np.ndarray) -> tuple[tuple[str, str], ...]:
    return tuple((f"output row {r}", ", ".join(_n(v) for v in out[r])) for r in range(out.shape[0]))


def _spans(los_his: list[tuple[int, int]]) -> str:
    """Cell ranges like ``"2, 3, 4"`` (one cell each) or ``"1-2, 3-4, 5-6"``."""
    return ", ".join(str(lo) if hi - lo == 1 else f"{lo}-{hi - 1}" for lo, hi in los_his)


def _pool_bins(trace: MethodTrace) -> dict[str, object]:
    """Rows and columns of RoI Pool's bins, the cells no bin reads and those read twice."""
    ph, pw = trace.settings.output_size
    rows = [(int(trace.bin(r, 0).rect[1]), int(trace.bin(r, 0).rect[3])) for r in range(ph)]
    cols = [(int(trace.bin(0, c).rect[0]), int(trace.bin(0, c).rect[2])) for c in range(pw)]
    x1, y1, x2, y2 = (int(v) for v in trace.snapped_box)
    h, w = trace.map_shape
    snapped = {(r, c) for r in range(max(y1, 0), min(y2, h)) for c in range(max(x1, 0), min(x2, w))}
    counts = Counter(cell for b in trace.bins for cell in b.cells)
    return {"rows": rows, "cols": cols, "dropped": sorted(snapped - set(counts)),
            "twice": sorted(c for c, n in counts.items() if n > 1),
            "most": max(counts.values(), default=0)}


def shared_cells(trace: MethodTrace) -> tuple[int, int]:
    """How many map cells receive a non-zero weight from more than one bin, and the largest
    number of bins one cell serves (read from each bin's ``cell_weights``)."""
    counts = Counter(cell for b in trace.bins for cell, w in b.cell_weights if w != 0)
    return sum(1 for n in counts.values() if n > 1), max(counts.values(), default=0)


# ---------------------------------------------------------------------------------------------


def walkthrough(convention: str = "article") -> Lesson:
    """The worked example traced under ``convention``, with its steps.

    Args:
        convention: ``"article"`` (the seed's picture: integer parts, equal bins, a row dropped)
            or ``"library"`` (torchvision: rounded corners + 1, overlapping bins).

    Raises:
        ValueError: unknown convention.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    return _walkthrough(convention)


def walkthrough_steps(convention: str = "article") -> tuple[Step, ...]:
    """The steps of :func:`walkthrough` (see :class:`Step`)."""
    return walkthrough(convention).steps


@lru_cache(maxsize=len(CONVENTIONS))
def _walkthrough(convention: str) -> Lesson:
    settings = seed_example_settings(convention, sampling_ratio=2)
    other = "library" if convention == "article" else "article"
    values = example_map("toy")
    box = SEED_EXAMPLE_BOX
    traces = {m: trace_method(m, values, box, settings) for m in METHODS}
    traces[ALIGN_MAX] = trace_method("roi_align", values, box, replace(settings, reduce="max"))
    traces[UNALIGNED] = trace_method("roi_align", values, box, replace(settings, aligned=False))
    traces[OTHER_POOL] = trace_method("roi_pool", values, box, replace(settings, convention=other))
    steps = _steps(convention, settings, values, lesson_image(), traces)
    return Lesson(convention=convention, box=box, settings=settings, values=values,
                  image=lesson_image(), traces=traces, steps=steps)


def _steps(convention: str, settings: Settings, values: np.ndarray, image: np.ndarray,
           traces: dict[str, MethodTrace]) -> tuple[Step, ...]:
    pool, warp, align = traces["roi_pool"], traces["roi_warp"], traces["roi_align"]
    precise, align_max, unaligned = traces["precise_roi_pool"], traces[ALIGN_MAX], traces[UNALIGNED]
    other_pool = traces[OTHER_POOL]
    stride = settings.stride
    ph, pw = settings.output_size
    roi, snapped = pool.roi, pool.snapped_box
    snap_h, snap_w = snapped[3] - snapped[1], snapped[2] - snapped[0]
    article = convention == "article"
    bins = _pool_bins(pool)
    height, width = image.shape[:2]
    ibox = pool.image_box
    steps = []

    steps.append(Step(
        "image", "The proposal on the image", "image", None,
        "A two-stage detector first proposes boxes, then turns each one into a feature of fixed "
        "size that its heads can classify. The proposal comes in **image pixels**. The article's "
        f"VGG16 feature map is {_n(stride)} times coarser than the image, so each of its cells "
        f"summarises a {_n(stride)} x {_n(stride)} pixel patch: the grid on the photo.\n\n"
        "From the next step on, the cells hold a **toy feature map**: whole numbers "
        f"{_n(values.min())} to {_n(values.max())} that "
        "stand in for one channel of that map (they are not computed from this photo), so that "
        "every maximum and every weighted sum can be checked by hand.",
        (("proposal", f"x {_n(ibox[0])} to {_n(ibox[2])} px, y {_n(ibox[1])} to {_n(ibox[3])} px"),
         ("proposal size", f"{_n(ibox[2] - ibox[0])} x {_n(ibox[3] - ibox[1])} px"),
         ("stride", f"{_n(stride)} px per cell (spatial_scale = 1/{_n(stride)})"),
         ("image", f"{width} x {height} px = {pool.map_shape[1]} x {pool.map_shape[0]} cells")),
        differs="**Which VGG16 map?** Stride 32 is VGG16 after its fifth pooling layer, the "
                "article's choice (and the stride of the Mask R-CNN paper's C5 experiment). Fast "
                "and Faster R-CNN pool VGG16's last convolution, conv5_3, one pooling earlier, at "
                "stride 16; everything below works the same with 16 pixels per cell."))

    steps.append(Step(
        "mapping", "From pixels to feature cells", "map", "roi_pool",
        f"Dividing every coordinate by the stride ({_n(stride)}) moves the proposal onto the "
        "feature map. The result need not be a whole number of cells: this box starts a quarter "
        "of a cell into a column and ends half-way through another. The dashed outline is the "
        "proposal's exact position; nothing has been rounded yet.",
        ((f"x1 / {_n(stride)}", _n(roi[0])), (f"y1 / {_n(stride)}", _n(roi[1])),
         (f"x2 / {_n(stride)}", _n(roi[2])), (f"y2 / {_n(stride)}", _n(roi[3])),
         ("RoI size", f"{_size(roi)} ({_n(pool.areas.roi)} cells)")),
        layers=_ALL | {"roi"}))

    if article:
        snap_text = (
            "RoI Pool reads whole cells only, so it rounds the box first. The article keeps the "
            f"integer part of the corner ({_n(roi[0])} → {_n(snapped[0])}, {_n(roi[1])} → "
            f"{_n(snapped[1])}) and of the size ({_n(roi[2] - roi[0])} → {_n(snap_w)} columns, "
            f"{_n(roi[3] - roi[1])} → {_n(snap_h)} rows).")
        snap_differs = (
            "**Libraries round differently.** torchvision, Caffe and ONNX `MaxRoiPool` round each "
            "corner to the nearest cell and then read the corner cells inclusively (a legacy "
            f"+1), so the same proposal snaps to {_size(other_pool.snapped_box)} there "
            "(switch the convention above to see it).")
    else:
        snap_text = (
            "RoI Pool reads whole cells only, so it rounds the box first. torchvision, Caffe and "
            "ONNX `MaxRoiPool` round each corner to the nearest cell, halves away from zero "
            f"({_n(roi[0])} → {_n(snapped[0])}, {_n(roi[2])} → {_n(snapped[2] - 1)}), and read "
            "both corner cells (the box is taken as inclusive cell indices, a legacy +1), so the "
            f"last column is {_n(snapped[2] - 1)} and the region spans {_n(snap_w)} columns.")
        snap_differs = (
            "**The article rounds differently**: it keeps the integer part of the corner and "
            f"of the size, which gives {_size(other_pool.snapped_box)} for this proposal.")
    steps.append(Step(
        "snap", "First rounding: the box snaps to whole cells", "map", "roi_pool",
        snap_text + " Red hatching marks parts of the proposal that will never be read; green "
        "hatching marks cells that will be read although they lie outside it.",
        (("snapped region", f"{_box(snapped)} (cells)"), ("snapped size", _size(snapped)),
         ("lost (red)", _area(warp, "lost")), ("gained (green)", _area(warp, "gained"))),
        layers=_ALL | {"roi", "snapped", "lost", "gained", "outside"}, regions="roi_warp",
        differs=snap_differs))

    steps.append(Step(
        "split", f"Splitting the region into {ph} x {pw} bins", "map", "roi_pool",
        f"The output must have {ph} x {pw} cells whatever the proposal's size, so the snapped "
        f"region is cut into {ph} x {pw} bins. Exactly, each bin would be "
        f"{_n(snap_h)} / {ph} = {_n(snap_h / ph)} rows by {_n(snap_w)} / {pw} = "
        f"{_n(snap_w / pw)} columns (dotted). A maximum over cells cannot take a fraction of a "
        "cell, so any fractional size has to be rounded again.",
        (("snapped region", _size(snapped)), ("exact bin height", f"{_n(snap_h)} / {ph} = {_n(snap_h / ph)} rows"),
         ("exact bin width", f"{_n(snap_w)} / {pw} = {_n(snap_w / pw)} columns")),
        layers=_ALL | {"roi", "snapped"}, guide="roi_warp"))

    dropped, twice = bins["dropped"], bins["twice"]
    if article:
        bins_text = (
            f"The article gives every bin the same whole number of cells, rounding down: "
            f"{_n(snap_h)} // {ph} = {_n(snap_h // ph)} row and {_n(snap_w)} // {pw} = "
            f"{_n(snap_w // pw)} columns. The bins no longer cover the region: "
            f"{len(dropped)} cells are dropped although they lie inside the proposal (red).")
        bins_differs = (
            "**Libraries drop nothing.** torchvision rounds each bin's first row down and its "
            "last row up (`floor(p·h/PH)` to `ceil((p+1)·h/PH)`), so bins overlap and some cells "
            "are read by more than one bin instead (switch the convention to see it).")
    else:
        bins_text = (
            "torchvision rounds each bin's first row down and its end up: bin p covers "
            f"`floor(p·{_n(snap_h)}/{ph})` to `ceil((p+1)·{_n(snap_h)}/{ph})` (counted from the "
            "region's first row), and the same for columns. Nothing is dropped, but neighbouring "
            f"bins overlap: {len(twice)} cells (cross-hatched) are read by more than one bin, some "
            f"by {bins['most']}.")
        bins_differs = (
            "**The article drops the remainder instead**: equal bins of "
            f"`floor(size / {ph})` cells leave the last rows or columns unread.")
    dropped_max = max((float(values[c]) for c in dropped), default=None)
    numbers = [("bin rows", _spans(bins["rows"])), ("bin columns", _spans(bins["cols"])),
               ("cells dropped", str(len(dropped))), ("cells read by more than one bin", str(len(twice)))]
    if dropped_max is not None:
        numbers.append(("largest dropped value", _n(dropped_max)))
    numbers.append(("lost in total (red)", _area(pool, "lost")))
    steps.append(Step(
        "bins", "Second rounding: bins of whole cells", "map", "roi_pool", bins_text,
        tuple(numbers), layers=_ALL | {"roi", "snapped", "bins", "lost", "gained", "overlap"},
        differs=bins_differs))

    max_text = (
        "Each bin passes on its largest cell (ringed, with a star); that is the whole of RoI "
        f"Pool. The {ph} x {pw} table is its output for this channel; a detector does the same "
        "on each of the map's channels (512 for VGG16) independently.")
    if dropped_max is not None and dropped_max > float(pool.output.max()):
        max_text += (f" The dropped cells held a {_n(dropped_max)}, larger than anything the "
                     "output kept: the rounding changed what the detector sees.")
    steps.append(Step(
        "max", "Max pooling: one number per bin", "map", "roi_pool", max_text,
        _rows(pool.output) + (("winning cell of each bin", ", ".join(
            f"({b.row},{b.col})←({b.argmax[0]},{b.argmax[1]})" for b in pool.bins if b.argmax is not None)),),
        layers=_ALL | {"roi", "bins", "argmax", "lost"}, outputs=("roi_pool",),
        differs="**Where RoI Pool comes from.** Fast R-CNN (Section 2.1) describes it as SPP-net's "
                "spatial pyramid pooling with a single pyramid level: one grid of bins, a maximum "
                "in each."))

    gy, gx = warp.grid
    n_shared, most_shared = shared_cells(warp)
    warp_rounding = ("the article's integer parts" if article
                     else "RoI Pool's library rounding, +1 included")
    steps.append(Step(
        "warp", "RoI Warp: round once, then interpolate", "map", "roi_warp",
        "RoI Warp comes from MNC (Multi-task Network Cascades, Dai et al., CVPR 2016), an earlier "
        "instance-segmentation paper that won the COCO 2015 segmentation challenge. MNC is a "
        "cascade: later stages pool features inside boxes that an earlier stage predicted. It "
        "built RoI Warp so that the pooled feature is differentiable with respect to those "
        "boxes, and the whole cascade can be trained end to end.\n\n"
        "RoI Warp keeps the first rounding and drops the second: the snapped region is cut into "
        f"exactly equal bins of {_n(snap_h / ph)} x {_n(snap_w / pw)} cells, each bin is read at "
        f"{gy} x {gx} points by bilinear interpolation, and the points are averaged. No cell is "
        "dropped any more, but neighbouring bins now share cells through their points' "
        f"neighbours: {n_shared} cells get weight from more than one bin"
        + (f", some from {most_shared}" if most_shared > 2 else "") + ". The red and green strips of the first rounding remain: the feature "
        "still describes a slightly different box.",
        (("bin size", f"{_n(snap_h / ph)} x {_n(snap_w / pw)} cells"),
         ("points per bin", f"{gy} x {gx}"),
         ("cells weighted by more than one bin", f"{n_shared} (at most {most_shared} bins per cell)"),
         ("lost (red)", _area(warp, "lost")),
         ("gained (green)", _area(warp, "gained"))) + _rows(warp.output),
        layers=_ALL | {"roi", "snapped", "bins", "samples", "lost", "gained"}, outputs=("roi_warp",),
        differs="**roiviz's RoI Warp is a reconstruction.** The Mask R-CNN paper (Section 3) says "
                "only that MNC implemented RoIWarp \"as quantizing RoI just like RoIPool\". roiviz "
                f"snaps the box with {warp_rounding}, then samples it as RoI Align does "
                "(`aligned=True`). The Caffe layer MNC has used since November 2016 (caffe-mnc "
                "commit d8bf82b7) differs: it rounds the corners without the +1 (width = end − "
                "start, one cell less per axis than the library convention) and takes one bilinear "
                "point per output cell, at the bin's corner. MNC's first release (June 2016, commit "
                "7a28ed65) took the maximum over (⌈bin⌉ + 1) x (⌈bin⌉ + 1) points per cell, bin "
                "edges included. Off the map, both skip a point more than half a cell from the edge "
                "cell's centre, where roiviz, like torchvision, keeps the edge value up to one cell "
                "from it. MNC's released VGG16 model warps conv5_3 (stride 16) to 14 x 14 and "
                "max-pools 2 x 2 to 7 x 7 for the box head; the output size is a parameter of the "
                "layer."))

    first = align.bin(0, 0)
    agy, agx = align.grid
    roi_h, roi_w = roi[3] - roi[1], roi[2] - roi[0]
    steps.append(Step(
        "align", "RoI Align: no rounding at all", "map", "roi_align",
        "RoI Align (Mask R-CNN) rounds nothing. The bins split the proposal itself, "
        f"{_n(roi_h)} / {ph} = {_n(roi_h / ph)} rows by {_n(roi_w)} / {pw} = {_n(roi_w / pw)} "
        f"columns each. In every bin, {agy} x {agx} points sit at the centres of an equal "
        f"{agy} x {agx} split of the bin, and each point's value is interpolated from the four "
        "cells around it. No area is lost or gained.\n\n"
        "The paper samples four regular points per bin, as here, and adds that the exact "
        "positions and number of points hardly matter once nothing is rounded: "
        + SAMPLING_QUOTE.split(": ", 1)[1],
        (("bin size", f"{_n(roi_h / ph)} x {_n(roi_w / pw)} cells"),
         ("points per bin", f"{agy} x {agx}"),
         ("points of bin (0, 0)", "; ".join(f"({_n(s.x)}, {_n(s.y)})" for s in first.samples)),
         ("lost / gained", f"{align.areas.percent('lost'):.2f}% / {align.areas.percent('gained'):.2f}%")),
        layers=_ALL | {"roi", "bins", "samples"}, focus_bin=(0, 0),
        differs="**Where the points sit.** The article steps from the box corner by whole bin "
                "widths (X = x1 + bin width · id), which lands its points on bin edges. "
                "torchvision, Detectron2 and ONNX Runtime use the centres of equal sub-cells, "
                "x = x1 + (j + (i + ½) / g) · bin width, as drawn here.\n\n"
                "**How many points.** " + SAMPLING_NOTE))

    index = next((i for i, s in enumerate(first.samples)
                  if s.on_map and len(set(s.neighbours)) == 4 and min(s.weights) > 0), 0)
    sample = first.samples[index]
    terms = [(cell, w, float(values[cell])) for cell, w in zip(sample.neighbours, sample.weights)]
    steps.append(Step(
        "bilinear", "One sampling point, four neighbours", "map", "roi_align",
        "Zoom on one point of bin (0, 0). A cell's value belongs to its centre, so the point "
        "lies between four centres. Each neighbour's weight is the product of how close the "
        "point is to it along x and along y; the four weights add up to 1, and the point's "
        "value is the weighted sum of the four cell values.",
        (("point", f"x = {_n(sample.x)}, y = {_n(sample.y)} (cells)"),)
        + tuple((f"cell {cell}", f"value {_n(v)} x weight {w:.4f}") for cell, w, v in terms)
        + (("weighted sum", " + ".join(f"{w:.4f}·{_n(v)}" for _, w, v in terms) + f" = {sample.value:.4f}"),),
        layers=_ALL | {"roi", "bins", "samples"}, focus_sample=(0, 0, index)))

    c_max = next(r for r in TABLE_2C.rows if r.layer == "RoIAlign" and r.aggregation == "max")
    c_avg = next(r for r in TABLE_2C.rows if r.layer == "RoIAlign" and r.aggregation == "average")
    gap = float(np.mean(np.abs(align.output.astype(np.float64) - align_max.output)))
    steps.append(Step(
        "reduce", "Average or maximum of the points", "map", ALIGN_MAX,
        f"Each bin now has {agy * agx} interpolated values and must pass on one. The article "
        "takes the largest (stars), as RoI Pool would; torchvision and Detectron2 average them "
        "(it is their only mode). The Mask R-CNN paper tried both and found no real difference: "
        f"mask AP {c_max.mask[0]} with max and {c_avg.mask[0]} with average (Table 2c).",
        (("bin (0, 0), average", _n(first.value)), ("bin (0, 0), maximum", _n(align_max.bin(0, 0).value)),
         ("mean |average − maximum|", _n(gap))),
        layers=_ALL | {"roi", "bins", "samples", "winner"}, outputs=("roi_align", ALIGN_MAX),
        differs="**The article uses max; libraries average.** mmcv and ONNX `RoiAlign` offer max "
                "too, but ONNX's max takes the largest *weighted corner term* of each point rather "
                "than the largest interpolated value, so its numbers differ from both."))

    shift = unaligned.sampled_box[0] - unaligned.roi[0]
    diff = float(np.mean(np.abs(align.output.astype(np.float64) - unaligned.output)))
    steps.append(Step(
        "aligned", "Half a cell: aligned=True and aligned=False", "map", UNALIGNED,
        "Cell j covers [j, j+1), so its value sits at j + ½. The first RoI Align code mapped the "
        f"box by a plain division by {_n(stride)}, as if values sat on cell corners; its whole "
        f"sampling grid is shifted by {_n(shift)} cell ({_n(shift * stride)} px) right and down "
        "(solid box against the dashed proposal). `aligned=True` subtracts that half cell before "
        "sampling (Detectron2's fix).",
        (("shift", f"{_n(shift)} cell = {_n(shift * stride)} px right and down"),
         ("sampled box (aligned=False)", _box(unaligned.sampled_box)),
         ("lost / gained", f"{unaligned.areas.percent('lost'):.2f}% / {unaligned.areas.percent('gained'):.2f}%"),
         ("mean |aligned − not aligned|", _n(diff))),
        layers=_ALL | {"roi", "snapped", "bins", "samples", "lost", "gained", "outside"},
        outputs=("roi_align", UNALIGNED),
        differs="**The article says nothing about this half cell.** torchvision's `roi_align` "
                "still defaults to `aligned=False` for backward compatibility; Detectron2's "
                "`ROIAlign` defaults to `aligned=True`. ONNX `RoiAlign` has the corrected mapping "
                "(`coordinate_transformation_mode=\"half_pixel\"`, the default) only from opset "
                "16; `RoiAlign`-10 has no such attribute and behaves as the legacy mapping. "
                "Detectron2's own note: the difference does not matter to accuracy when RoI "
                "Align feeds convolution layers, so the shift is about where the features come "
                "from, not a claim about AP."))

    diffs = difference_from_precise({k: traces[k] for k in METHODS})
    steps.append(Step(
        "precise", "Precise RoI Pooling: the exact average", "map", "precise_roi_pool",
        "Precise RoI Pooling (Jiang et al., ECCV 2018) replaces the few sampling points by the "
        "exact average: it integrates the interpolated surface over each bin and divides by the "
        "bin's area. There is no sampling ratio to choose and nothing is rounded, so the output "
        "changes smoothly when the box moves. Gradients with respect to the box are not new (MNC's "
        "RoI Warp already sends them to the box, and RoI Align is differentiable in the box only "
        "piecewise: its points move with the box, and the derivative jumps whenever a sampling "
        "point crosses a cell centre); what Precise RoI Pooling adds is a gradient "
        "that is *continuous* in the box coordinates, which IoU-Net uses to refine boxes by "
        f"gradient ascent. RoI Align with {agy} x {agx} points is an estimate of these numbers.",
        _rows(precise.output) + tuple(
            (f"mean |{traces[m].label} − Precise|", _n(diffs[m])) for m in METHODS[:3]),
        layers=_ALL | {"roi", "bins"}, outputs=("precise_roi_pool",),
        differs="The authors' implementation places cell values at integer coordinates (no "
                "half-cell shift) and treats the plane outside the map as zero; roiviz uses the "
                "`aligned=True` frame so that Precise RoI Pooling is exactly the limit of the RoI "
                "Align it is compared with."))

    rows = summary_rows({k: traces[k] for k in METHODS})
    steps.append(Step(
        "compare", "All four, side by side", "outputs", None,
        "One proposal, four answers. Rounding (RoI Pool, RoI Warp) changes *which part* of the "
        "map is described; sampling (RoI Align) estimates the exact average that Precise RoI "
        "Pooling computes. The next pages take it further: **Sub-pixel sensitivity** moves this "
        "box by fractions of a cell, **Gradient flow** shows what each method sends back during "
        "training, and **Evidence** shows what the rounding costs in the Mask R-CNN paper.",
        tuple((traces[m].label, (f"lost {r['lost %']}%, gained {r['gained %']}%, "
                                 f"mean |diff| vs Precise {r['mean |diff| vs Precise']}"))
              for m, r in rows.items()),
        outputs=METHODS))
    return tuple(steps)
