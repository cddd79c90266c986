"""Every page's settings in one table per page: URL key, type, allowed values, default, label, help.

The one link system of the app. The URL parsing (:meth:`PageParams.parse`), the widgets
(the pages' ``widget`` helper) and the copy link (:meth:`PageParams.to_query`) of every page read these
tables, so a new setting is one :class:`Param` line (and one widget call on its page).

A URL is user input: a value is kept only if its parameter allows it exactly, and a refused
value is reported with the parameter's own message, which never repeats what was received, so
nothing typed into a URL is echoed into the page (docs/hostile-inputs.md). No Streamlit here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..lessons.evidence import SAMPLING_QUOTE, TABLES
from ..lessons.examples import SEED_EXAMPLE_OUTPUT, SEED_EXAMPLE_STRIDE
from ..features import CHANNEL_NAMES, STRIDES
from ..conventions.catalogue import DIALECTS
from ..geometry import CONVENTIONS, MAX_SAMPLING_RATIO, REDUCES
from ..lessons.walkthrough import EXAMPLE_MAPS, STEP_KEYS
from ..methods import METHODS, REGISTRY, SERIES
from ..samples import sample_image_names

__all__ = [
    "EVIDENCE",
    "GRADIENTS",
    "KINDS",
    "MAX_COORD",
    "MAX_OUTPUT",
    "PAGES",
    "PLAYGROUND",
    "PYRAMIDS",
    "REFINEMENT",
    "REFINEMENT_TARGETS",
    "SENSITIVITY",
    "WHY",
    "WALKTHROUGH",
    "PageParams",
    "Param",
    "parse_box",
]

#: Output sizes the Playground offers (1 to 14 per side).
MAX_OUTPUT = 14
#: Largest coordinate accepted from a URL or a typed box (image pixels).
MAX_COORD = 100_000.0
#: How a parameter's text is read: one of ``options``; ``"0"``/``"1"``; a comma list of
#: options; ``"7x7"`` (or ``"7"``); a box ``"x1,y1,x2,y2"``.
KINDS = ("choice", "flag", "multi", "size", "box")


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``"x1,y1,x2,y2"`` -> a sorted box of finite numbers within ``+-MAX_COORD`` with positive size.

    Raises:
        ValueError: with a message naming what is wrong (never repeating ``text``).
    """
    parts = text.split(",")
    if len(parts) != 4:
        raise ValueError("a box needs 4 comma-separated numbers x1,y1,x2,y2")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError("a box needs numbers") from None
    if not all(math.isfinite(v) and abs(v) <= MAX_COORD for v in values):
        raise ValueError(f"box coordinates must be finite and within +-{MAX_COORD:g} pixels")
    x1, y1, x2, y2 = values
    box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
    if box[2] - box[0] <= 0 or box[3] - box[1] <= 0:
        raise ValueError("a box needs a positive width and height")
    return box


def _swapped_corners(text: str) -> str | None:
    x1, y1, x2, y2 = (float(p) for p in text.split(","))
    if x1 > x2 or y1 > y2:
        return "The link's box had its corners swapped; they were put in order (x1 < x2, y1 < y2)."
    return None


@dataclass(frozen=True)
class Param:
    """One setting of one page.

    Attributes:
        key: the URL key (``?sr=2``); the widget's key is the page's prefix plus this key.
        default: the value when the link has none (typed: ``int``, ``str``, ``bool``, tuple).
        kind: one of :data:`KINDS`.
        options: the allowed values (``choice`` and ``multi``), typed, in display order.
        label, help: the widget's label and tooltip.
        names: display name of some options (the widget's ``format_func``); others show as is.
        message: what a link may hold, the end of the notice "Ignored the link's 'key': ...".
            Derived from ``options`` when empty.
        in_link: the options a link may carry (default: all); others are written as the default.
        note: for an accepted value, an optional extra notice (e.g. swapped corners put in order).
    """

    key: str
    default: Any
    kind: str = "choice"
    options: tuple = ()
    label: str = ""
    help: str | None = None
    names: Mapping[Any, str] = field(default_factory=dict)
    message: str = ""
    in_link: tuple | None = None
    note: Callable[[str], str | None] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def refusal(self) -> str:
        """The message of a refused value (never containing the value)."""
        if self.message:
            return self.message
        allowed = [str(o) for o in (self.in_link or self.options)]
        if self.kind == "flag":
            return f"{self.key} must be 0 or 1"
        listed = ", ".join(allowed) if len(allowed) <= 6 else f"{allowed[0]}, {allowed[1]}, ... {allowed[-1]}"
        if self.kind == "multi":
            return f"{self.key} must be a comma list of {listed}"
        return f"{self.key} must be one of {listed}"

    def format(self, value: Any) -> str:
        """The display name of an option (the widget's ``format_func``)."""
        return self.names.get(value, str(value))

    def decode(self, text: str) -> Any:
        """The typed value of a URL text.

        Raises:
            ValueError: the text is not allowed; the message is :attr:`refusal` (for a box, the
                reason), never the text itself.
        """
        text = text.strip()
        if self.kind == "box":
            return parse_box(text)
        if self.kind == "flag":
            if text not in ("0", "1"):
                raise ValueError(self.refusal)
            return text == "1"
        allowed = {str(o): o for o in (self.in_link or self.options)}
        if self.kind == "choice":
            if text not in allowed:
                raise ValueError(self.refusal)
            return allowed[text]
        if self.kind == "multi":
            parts = text.split(",")
            if not text or any(p not in allowed for p in parts):
                raise ValueError(self.refusal)
            return tuple(o for o in self.options if str(o) in parts)
        # size: "PHxPW" or "P", each side 1..MAX_OUTPUT
        sides = text.lower().split("x")
        sides = sides * 2 if len(sides) == 1 else sides
        if len(sides) != 2 or not all(s.isdigit() and 1 <= int(s) <= MAX_OUTPUT for s in sides):
            raise ValueError(self.refusal)
        return (int(sides[0]), int(sides[1]))

    def encode(self, value: Any) -> str:
        """The URL text of a typed value (what :meth:`decode` reads back)."""
        if self.kind == "flag":
            return "1" if value else "0"
        if self.kind == "multi":
            return ",".join(str(o) for o in self.options if o in tuple(value))
        if self.kind == "size":
            return f"{value[0]}x{value[1]}"
        if self.kind == "box":
            return ",".join(f"{v:.6g}" for v in value)
        if self.in_link is not None and value not in self.in_link:
            value = self.default
        return str(value)


@dataclass(frozen=True)
class PageParams:
    """One page's settings: ``prefix`` names its widgets (``f"{prefix}{key}"``)."""

    page: str
    prefix: str
    params: tuple[Param, ...]

    def __post_init__(self) -> None:
        keys = [p.key for p in self.params]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{self.page}: duplicate keys in {keys}")

    def __getitem__(self, key: str) -> Param:
        for p in self.params:
            if p.key == key:
                return p
        raise KeyError(key)

    def __iter__(self):
        return iter(self.params)

    def keys(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.params)

    def widget_key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def defaults(self) -> dict[str, Any]:
        return {p.key: p.default for p in self.params if p.default is not None}

    def parse(self, query: Mapping[str, object]) -> tuple[dict[str, Any], list[str]]:
        """Read a query string (``{key: value or [values]}``), keeping the allowed values.

        Returns:
            ``(given, notices)``: the typed values the link sets validly, and one sentence per
            refused parameter (unknown keys are counted in one sentence). Notices never repeat
            a received value.
        """
        given: dict[str, Any] = {}
        notices: list[str] = []
        unknown = [k for k in query if k not in self.keys()]
        if unknown:
            notices.append(f"Ignored {len(unknown)} unknown link parameter(s).")
        for p in self.params:
            if p.key not in query:
                continue
            raw = query[p.key]
            if isinstance(raw, (list, tuple)):
                raw = raw[-1] if raw else ""
            text = str(raw)[:200]
            try:
                given[p.key] = p.decode(text)
            except (ValueError, TypeError, OverflowError) as exc:
                detail = str(exc) if p.kind == "box" and str(exc) else p.refusal
                notices.append(f"Ignored the link's '{p.key}': {detail}.")
                continue
            if p.note is not None and (extra := p.note(text.strip())):
                notices.append(extra)
        return given, notices

    def values(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The defaults updated with ``given``."""
        return {**self.defaults(), **{k: v for k, v in given.items() if k in self.keys()}}

    def to_query(self, values: Mapping[str, Any]) -> dict[str, str]:
        """The copy link's query: every parameter in table order (missing or ``None`` skipped)."""
        return {p.key: p.encode(values[p.key]) for p in self.params if values.get(p.key) is not None}


# ---------------------------------------------------------------------------------------------
# The tables. Labels and help texts are the pages' own words, moved here unchanged.

_METHOD_NAMES = {key: method.label for key, method in REGISTRY.items()}
_CONVENTION_NAMES = {"library": "library (torchvision)", "article": "article (blog)"}


def _presenter(label: str = "Presenter mode", help: str | None = (
        "For a projector: larger text and thicker lines in the figures. "
        "The setting follows you to the other pages.")) -> Param:
    return Param("presenter", False, "flag", label=label, help=help)


#: Input sources: a shipped photo, an uploaded photo, the article's toy grid, an uploaded .npy.
SOURCES = ("sample", "upload", "toy", "npy")
SOURCE_LABELS = {"sample": "Sample image", "upload": "Upload an image",
                 "toy": "Toy grid (the article's)", "npy": "Upload a .npy feature map"}

PLAYGROUND = PageParams("playground", "", (
    Param("src", "sample", options=SOURCES, in_link=("sample", "toy"), label="Source",
          names=SOURCE_LABELS,
          message="the source must be 'sample' or 'toy' (uploads cannot travel in a link)"),
    Param("img", sample_image_names()[0], options=sample_image_names(), label="Sample image",
          help="Photos shipped with roiviz; sources and licences in assets/LICENSE.md.",
          message=f"not a sample image name (one of {', '.join(sample_image_names())})"),
    Param("stride", 16, options=STRIDES, label="Stride (image pixels per feature cell)",
          help="Detectors pool VGG16's conv5_3 and ResNet's C4 at stride 16; 32 is "
               "VGG16 after pool5, the article's simplification (and ResNet's C5).",
          message=f"stride must be one of {', '.join(map(str, STRIDES))}"),
    Param("fpn", False, "flag", label="Feature pyramid (P2-P5: the box's size picks the stride)",
          help="As in Mask R-CNN with FPN: the box is pooled from level k = floor(4 + "
               "log2(sqrt(w*h) / 224)), clamped to P2-P5 (strides 4 to 32), torchvision's rule "
               "(Detectron2's with aligned on). Photos only."),
    Param("ch", 0, options=tuple(range(256)), label="Channel",
          message="channel must be an integer 0..255"),
    Param("box", None, "box", label="Box (image pixels)", note=_swapped_corners),
    Param("out", (3, 3), "size", label="Output size",
          message=f"output size must be 1..{MAX_OUTPUT} per side, like 7x7"),
    Param("sr", 2, options=tuple(range(MAX_SAMPLING_RATIO + 1)), label="Sampling ratio (per bin side)",
          names={0: "adaptive: ceil(RoI size / output size)"},
          help="RoI Align and RoI Warp sample each bin at g x g points; the Mask R-CNN "
               "paper uses 2 (four points per bin) and reports, in Section 3, that results "
               "\"are not sensitive to the exact sampling locations, or how many points are "
               "sampled, as long as no quantization is performed.\"",
          message=f"sampling ratio must be 0 (adaptive) to {MAX_SAMPLING_RATIO}"),
    Param("aligned", True, "flag", label="aligned (half-cell offset, RoI Align)",
          help="True: Detectron2's fix. False: the legacy mapping, shifted by half a cell."),
    Param("reduce", "avg", options=REDUCES, label="Reduce samples by"),
    Param("conv", "library", options=CONVENTIONS, label="RoI Pool convention", names=_CONVENTION_NAMES,
          message=f"convention must be one of {', '.join(CONVENTIONS)}",
          help="Library: round the corners, +1 cell, overlapping bins. Article: integer "
               "parts, equal bins, the remainder dropped. RoI Warp snaps the same way."),
    Param("methods", METHODS, "multi", options=METHODS, label="Methods", names=_METHOD_NAMES),
    _presenter("Presenter mode (projector)", "Larger fonts and thicker lines for the back of a classroom."),
))

WALKTHROUGH = PageParams("walkthrough", "walk_", (
    Param("step", 1, options=tuple(range(1, len(STEP_KEYS) + 1)), label="Step"),
    Param("conv", "article", options=CONVENTIONS[::-1], label="RoI Pool rounds the box",
          names={"article": "as in the article", "library": "as in libraries (torchvision)"},
          help="The article's simplified rounding, or what torchvision, Caffe and ONNX do."),
    _presenter(),
))

_RATIOS = ("0", "1", "2", "4")
_SENSITIVITY_RATIO = dict(options=_RATIOS, label="Sampling ratio (points per bin side)",
                          names={"0": "adaptive: ceil(bin size)"})

SENSITIVITY = PageParams("sensitivity", "sens_", (
    Param("mode", "shift", options=("shift", "grow"), label="What changes",
          names={"shift": "move the box", "grow": "grow the box"},
          help="Move: the box slides by the offset. Grow: its width (x) or height (y) changes by "
               "the offset, half on each side."),
    Param("axis", "x", options=("x", "y"), label="Along"),
    Param("range", "1", options=("0.25", "0.5", "1", "2"), label="Offsets from -r to +r cells"),
    Param("points", "81", options=("41", "81", "161"), label="Number of offsets"),
    Param("row", "0", options=tuple(str(i) for i in range(SEED_EXAMPLE_OUTPUT[0])), label="Row"),
    Param("col", "1", options=tuple(str(i) for i in range(SEED_EXAMPLE_OUTPUT[1])), label="Column"),
    Param("methods", SERIES, "multi", options=SERIES, label="Methods", names=_METHOD_NAMES),
    Param("conv", "library", options=CONVENTIONS, label="RoI Pool / Warp rounding"),
    Param("sr", "2", **_SENSITIVITY_RATIO,
          help=SAMPLING_QUOTE + " The paper uses 2 x 2 points per bin; adaptive is the "
               "default of torchvision's roi_align and Detectron2's box pooler."),
    Param("reduce", "avg", options=REDUCES, label="Reduce points by"),
    Param("map", "photo", options=tuple(EXAMPLE_MAPS), label="Feature map", names=EXAMPLE_MAPS),
    Param("fpn", 16, options=STRIDES, label="Box size sweep: one map for every box, stride",
          help="Compared with pooling each box from its feature pyramid level (P2-P5)."),
    _presenter(),
))

_TARGETS = ("all",) + tuple(f"{r},{c}" for r in range(SEED_EXAMPLE_OUTPUT[0])
                            for c in range(SEED_EXAMPLE_OUTPUT[1]))

GRADIENTS = PageParams("gradients", "grad_", (
    Param("target", "all", options=_TARGETS, label="Output",
          names={t: "the sum of all 9 bins" if t == "all" else f"bin (row {t[0]}, col {t[2]})"
                 for t in _TARGETS}),
    Param("shift", "0", options=("-0.5", "-0.375", "-0.25", "-0.125", "0", "0.125", "0.25", "0.375", "0.5"),
          label="Move the box along x by (cells)",
          help=f"At stride {SEED_EXAMPLE_STRIDE:g}, 0.125 cell is {SEED_EXAMPLE_STRIDE / 8:g} pixels."),
    Param("conv", "library", options=CONVENTIONS, label="RoI Pool / Warp rounding"),
    Param("sr", "2", **_SENSITIVITY_RATIO, help=SAMPLING_QUOTE + " The paper uses 2 x 2 points per bin."),
    Param("reduce", "avg", options=REDUCES, label="Reduce points by"),
    Param("aligned", True, "flag", label="aligned (RoI Align's half-cell offset)"),
    Param("map", "toy", options=tuple(EXAMPLE_MAPS), label="Feature map", names=EXAMPLE_MAPS),
    _presenter(),
))

EVIDENCE = PageParams("evidence", "ev_", (
    Param("table", "2c", options=tuple(TABLES), label="Table",
          names={k: t.title for k, t in TABLES.items()}),
    _presenter(),
))

PYRAMIDS = PageParams("pyramids", "pyr_", (
    Param("img", sample_image_names()[0], options=sample_image_names(), label="Sample image",
          help="Photos shipped with roiviz; sources and licences in assets/LICENSE.md.",
          message=f"not a sample image name (one of {', '.join(sample_image_names())})"),
    Param("box", (180.0, 60.0, 330.0, 210.0), "box", label="Box (image pixels)", note=_swapped_corners),
    Param("ch", 0, options=tuple(range(len(CHANNEL_NAMES))), label="Channel",
          names={i: f"{i}: {n}" for i, n in enumerate(CHANNEL_NAMES)},
          message=f"channel must be an integer 0..{len(CHANNEL_NAMES) - 1}"),
    Param("rule", "torchvision", options=("torchvision", "detectron2"), label="Library",
          names={"torchvision": "torchvision (aligned=False)",
                 "detectron2": "Detectron2 ROIAlignV2 (aligned=True)"},
          help="Sets both the level rule and RoI Align's aligned flag, as each library does."),
    Param("out", 7, options=(3, 5, 7), label="Output bins per side"),
    Param("sr", 2, options=(0, 1, 2), label="Sampling ratio (points per bin side)",
          names={0: "adaptive: ceil(bin size)"}),
    Param("conv", "library", options=CONVENTIONS, label="RoI Pool / Warp rounding"),
    Param("fixed", 16, options=STRIDES, label="One map for every box, stride"),
    _presenter(),
))

#: The "Why don't my numbers match?" page: where the numbers come from, and the two dialects
#: its comparison view puts side by side (ids of :mod:`roiviz.conventions`) with its sampling
#: ratio. The box is the Playground's (the page's own box field starts from it).
_DIALECT_IDS = tuple(d.id for d in DIALECTS)
WHY = PageParams("conventions", "why_", (
    Param("src", "paste", options=("paste", "upload", "kit"), label="Your numbers",
          names={"paste": "paste map, box and output", "upload": "upload files (.npy, .json, .csv)",
                 "kit": "the probe kit (for a black-box framework)"}),
    Param("a", "tv_align", options=_DIALECT_IDS, label="First dialect",
          names={d.id: f"{d.id}: {d.name}" for d in DIALECTS}),
    Param("b", "tv_align_legacy", options=_DIALECT_IDS, label="Second dialect",
          names={d.id: f"{d.id}: {d.name}" for d in DIALECTS}),
    Param("sr", 2, options=tuple(range(MAX_SAMPLING_RATIO + 1)), label="Sampling ratio",
          names={0: "adaptive"}, message=f"sampling ratio must be 0 (adaptive) to {MAX_SAMPLING_RATIO}"),
    _presenter(),
))

#: Every page's table, by page name.
#: The refinement lab's target boxes on the lesson photo (320 x 320 pixels), by name.
REFINEMENT_TARGETS = {
    "walkthrough": ("the walkthrough's box", (40.0, 72.0, 240.0, 200.0)),
    "face": ("the face", (96.0, 10.0, 190.0, 100.0)),
    "shuttle": ("the shuttle", (220.0, 0.0, 290.0, 175.0)),
    "patch": ("the mission patch", (82.0, 215.0, 132.0, 265.0)),
    "helmet": ("the helmet", (175.0, 210.0, 320.0, 320.0)),
}

REFINEMENT = PageParams("refinement", "ref_", (
    Param("target", "walkthrough", options=tuple(REFINEMENT_TARGETS), label="Target box",
          names={k: v[0] for k, v in REFINEMENT_TARGETS.items()}),
    Param("jitter", "0.15", options=("0.05", "0.1", "0.15", "0.2", "0.3"), label="Jitter of the starts (x box side)",
          help="Each corner of a start box is the target's corner plus Gaussian noise of this many box sides."),
    Param("start", 0, options=tuple(range(10)), label="Start shown in the animation (seeded)"),
    _presenter(),
))

PAGES = {t.page: t for t in (PLAYGROUND, WALKTHROUGH, SENSITIVITY, GRADIENTS, PYRAMIDS, EVIDENCE, WHY, REFINEMENT)}
