"""The Playground's shareable state and its URL form. No Streamlit here: pure functions.

A link carries ``src, img, stride, ch, box, out, sr, aligned, reduce, conv, methods, presenter``.
:func:`parse_query` accepts anything (the URL is user input), keeps what is valid and returns
one notice per ignored parameter. Notices never repeat the offending value, so nothing typed in a
URL is ever echoed into the page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from .features import STRIDES
from .samples import sample_image_names
from .geometry import CONVENTIONS
from .trace import METHODS, REDUCES, Settings

#: Input sources: a shipped photo, an uploaded photo, the article's toy grid, an uploaded .npy.
SOURCES = ("sample", "upload", "toy", "npy")
SOURCE_LABELS = {"sample": "Sample image", "upload": "Upload an image",
                 "toy": "Toy grid (the article's)", "npy": "Upload a .npy feature map"}
#: Output sizes the UI offers (1 to 14 per side).
MAX_OUTPUT = 14
#: Largest coordinate accepted from a URL or a typed box (image pixels).
MAX_COORD = 100_000.0
MAX_SAMPLING_RATIO = 16
#: Most bilinear samples RoI Align or RoI Warp may trace per drag in the Playground. Tracing
#: costs about 0.15 ms per sample in Python (14 x 14 bins at ratio 16 take 15 s and 70 MB),
#: so one student's extreme settings would stall the server for the whole class; beyond this
#: bound the page asks for a smaller ratio, output or box instead. 4096 samples take ~0.6 s.
MAX_LIVE_SAMPLES = 4096


@dataclass(frozen=True)
class PlaygroundState:
    """Everything a link reproduces. ``box`` is in image pixels, ``None`` for the default box."""

    source: str = "sample"
    sample: str = sample_image_names()[0]
    stride: int = 16
    channel: int = 0
    box: tuple[float, float, float, float] | None = None
    output_size: tuple[int, int] = (3, 3)
    sampling_ratio: int = 2
    aligned: bool = True
    reduce: str = "avg"
    convention: str = "library"
    methods: tuple[str, ...] = METHODS
    presenter: bool = False

    def settings(self) -> Settings:
        return Settings(output_size=self.output_size, stride=float(self.stride),
                        sampling_ratio=self.sampling_ratio, aligned=self.aligned,
                        reduce=self.reduce, convention=self.convention)


def _first(value) -> str:
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else ""
    return str(value)[:200]


def _int(text: str, lo: int, hi: int) -> int:
    value = int(text.strip())
    if not lo <= value <= hi:
        raise ValueError
    return value


def _int_in(text: str, options: tuple[int, ...]) -> int:
    value = int(text.strip())
    if value not in options:
        raise ValueError
    return value


def _flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError
    return text == "1"


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


def parse_query(params: Mapping[str, object]) -> tuple[PlaygroundState, list[str]]:
    """Read a query string (``{key: value or [values]}``) into a state, ignoring bad parts.

    Returns:
        ``(state, notices)``: the state (defaults where a parameter was missing or bad) and one
        sentence per ignored parameter.
    """
    state, notices = PlaygroundState(), []
    known = {"src", "img", "stride", "ch", "box", "out", "sr", "aligned", "reduce", "conv",
             "methods", "presenter"}
    unknown = [k for k in params if k not in known]
    if unknown:
        notices.append(f"Ignored {len(unknown)} unknown link parameter(s).")

    def take(key: str, parse, message: str):
        nonlocal state
        if key not in params:
            return
        try:
            state = replace(state, **parse(_first(params[key])))
        except (ValueError, TypeError, OverflowError) as exc:
            detail = str(exc) if key == "box" and str(exc) else message
            notices.append(f"Ignored the link's '{key}': {detail}.")

    def choice(options, field):
        def parse(text):
            if text not in options:
                raise ValueError
            return {field: text}
        return parse

    take("src", choice(("sample", "toy"), "source"),
         "the source must be 'sample' or 'toy' (uploads cannot travel in a link)")
    take("img", choice(sample_image_names(), "sample"),
         f"not a sample image name (one of {', '.join(sample_image_names())})")
    take("stride", lambda t: {"stride": _int_in(t, STRIDES)},
         f"stride must be one of {', '.join(map(str, STRIDES))}")
    take("ch", lambda t: {"channel": _int(t, 0, 255)}, "channel must be an integer 0..255")
    take("box", lambda t: {"box": parse_box(t)}, "not a valid box")
    if state.box is not None:
        x1, y1, x2, y2 = (float(p) for p in _first(params["box"]).split(","))
        if x1 > x2 or y1 > y2:
            notices.append("The link's box had its corners swapped; they were put in order "
                           "(x1 < x2, y1 < y2).")

    def parse_out(text):
        parts = text.lower().split("x")
        if len(parts) == 1:
            parts = parts * 2
        if len(parts) != 2:
            raise ValueError
        return {"output_size": (_int(parts[0], 1, MAX_OUTPUT), _int(parts[1], 1, MAX_OUTPUT))}

    take("out", parse_out, f"output size must be 1..{MAX_OUTPUT} per side, like 7x7")
    take("sr", lambda t: {"sampling_ratio": _int(t, 0, MAX_SAMPLING_RATIO)},
         f"sampling ratio must be 0 (adaptive) to {MAX_SAMPLING_RATIO}")
    take("aligned", lambda t: {"aligned": _flag(t)}, "aligned must be 0 or 1")
    take("reduce", choice(REDUCES, "reduce"), f"reduce must be one of {', '.join(REDUCES)}")
    take("conv", choice(CONVENTIONS, "convention"), f"convention must be one of {', '.join(CONVENTIONS)}")

    def parse_methods(text):
        chosen = tuple(m for m in METHODS if m in text.split(","))
        if not chosen or any(m not in METHODS for m in text.split(",")):
            raise ValueError
        return {"methods": chosen}

    take("methods", parse_methods, f"methods must be a comma list of {', '.join(METHODS)}")
    take("presenter", lambda t: {"presenter": _flag(t)}, "presenter must be 0 or 1")
    return state, notices


def to_query(state: PlaygroundState) -> dict[str, str]:
    """The state as query parameters (uploads are not linkable: they become the default sample)."""
    query = {
        "src": state.source if state.source in ("sample", "toy") else "sample",
        "img": state.sample,
        "stride": str(state.stride),
        "ch": str(state.channel),
        "out": f"{state.output_size[0]}x{state.output_size[1]}",
        "sr": str(state.sampling_ratio),
        "aligned": "1" if state.aligned else "0",
        "reduce": state.reduce,
        "conv": state.convention,
        "methods": ",".join(state.methods),
        "presenter": "1" if state.presenter else "0",
    }
    if state.box is not None:
        query["box"] = ",".join(f"{v:.6g}" for v in state.box)
    return query


def default_box(map_shape: tuple[int, int], stride: float) -> tuple[float, float, float, float]:
    """A box in image pixels covering the middle of a map of ``(H, W)`` cells, off the grid.

    It starts and ends a fraction of a cell past a cell edge, so that RoI Pool's snapping visibly
    loses and gains area.
    """
    height, width = map_shape
    x1, x2 = 0.3 * width + 0.3, 0.75 * width - 0.35
    y1, y2 = 0.25 * height + 0.4, 0.7 * height - 0.2
    if x2 - x1 < 1:
        x1, x2 = 0.0, float(width)
    if y2 - y1 < 1:
        y1, y2 = 0.0, float(height)
    return tuple(round(v * stride, 2) for v in (x1, y1, x2, y2))  # type: ignore[return-value]


def box_problem(box, map_shape: tuple[int, int], stride: float) -> str | None:
    """Why a box cannot be traced on this map, or ``None`` if it can.

    A box must have a positive size and overlap the map (in image pixels the map spans
    ``[0, W * stride] x [0, H * stride]``).
    """
    x1, y1, x2, y2 = box
    if not all(math.isfinite(v) for v in box):
        return "The box needs finite numbers."
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        if x2 < x1 or y2 < y1:
            return ("The box has zero width or height: its corners are swapped (x2 must be right "
                    "of x1 and y2 below y1).")
        return "The box has zero width or height: drag a box with some area."
    width, height = map_shape[1] * stride, map_shape[0] * stride
    if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
        return (f"The box lies entirely off the feature map (which covers 0..{width:g} x "
                f"0..{height:g} image pixels): draw it over the map.")
    return None


def samples_per_method(box, stride: float, output_size: tuple[int, int], sampling_ratio: int) -> int:
    """An upper bound on the samples RoI Align or RoI Warp takes for ``box`` (image pixels).

    ``sampling_ratio`` per bin side if > 0, else adaptive ``ceil(size / output)`` per axis, with
    the size in cells counted generously (+2 cells: RoI Warp's snapped box can be one cell
    larger on each side).
    """
    ph, pw = output_size
    if sampling_ratio > 0:
        return ph * pw * sampling_ratio * sampling_ratio
    height = (box[3] - box[1]) / stride + 2
    width = (box[2] - box[0]) / stride + 2
    return ph * pw * math.ceil(height / ph) * math.ceil(width / pw)


def box_outside_share(box, map_shape: tuple[int, int], stride: float) -> float:
    """The fraction (0..1) of the box's area that lies outside the feature map."""
    x1, y1, x2, y2 = box
    area = (x2 - x1) * (y2 - y1)
    if area <= 0:
        return 0.0
    width, height = map_shape[1] * stride, map_shape[0] * stride
    inside = max(0.0, min(x2, width) - max(x1, 0.0)) * max(0.0, min(y2, height) - max(y1, 0.0))
    return max(0.0, 1.0 - inside / area)
