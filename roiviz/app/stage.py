"""The Playground's live stage: what the server sends it and what it may send back. No Streamlit.

The stage (``assets/stage/``, mounted by :mod:`roiviz.app.ui_stage`) computes every method in the
browser while a box is dragged, from the feature-map channel the server sends here. On release
it sends one box back; the server traces that box with :mod:`roiviz` (the reference) and sends
its numbers in the next payload, so the stage can show how far the browser's numbers are from
the server's.

* :func:`stage_data` builds the payload (JSON-ready; the map as base64 float32, row-major).
* :func:`parse_stage_value` validates what the browser sends back. It is user input: anything
  may arrive, and only a well-formed box over the map is accepted.
* :func:`encode_display_image` makes the photo the stage draws under the image surface.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..methods import REGISTRY, summary_rows
from .params import MAX_COORD
from ..records import MethodTrace, Settings
from .state import box_problem
from ..drawing.style import (AREA_STYLES, METHOD_COLORS, ROI_COLOR, SAMPLE_COLOR, WINNER_COLOR, Style)

#: Largest ``seq`` the stage may send (a counter of releases in one page view).
MAX_SEQ = 2 ** 53
#: Samples a panel draws one by one at most; beyond it the stage draws every k-th (with a note).
MAX_DRAWN_SAMPLES = 1500
#: The photo sent to the stage is at most this many pixels on its longer side.
DISPLAY_MAX_SIDE = 1024


@dataclass(frozen=True)
class StageBox:
    """A box released on the stage.

    Attributes:
        box: ``(x1, y1, x2, y2)`` in image pixels, corners sorted, rounded to 1/1000 px (the
            precision of the link and of the typed box).
        seq: the stage's counter of releases; the server echoes it so the stage knows which
            release the server's numbers belong to.
    """

    box: tuple[float, float, float, float]
    seq: int


def encode_float32(values: np.ndarray) -> str:
    """A 2-D array as base64 of its float32 little-endian bytes, row-major (``[H, W]`` -> str)."""
    return base64.b64encode(np.ascontiguousarray(values, dtype="<f4").tobytes()).decode("ascii")


def encode_display_image(image: np.ndarray, max_side: int = DISPLAY_MAX_SIDE,
                         quality: int = 85) -> str:
    """An RGB ``uint8 [H, W, 3]`` image as a JPEG data URI for display, at most ``max_side``
    pixels on its longer side (the stage stretches it over the full image extent, so
    coordinates stay in the original pixels). The 512 x 512 astronaut is an 80 kB data URI
    instead of 480 kB as PNG; callers cache it per image.
    """
    from PIL import Image
    img = Image.fromarray(np.ascontiguousarray(image))
    if max(img.size) > max_side:
        scale = max_side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                         Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def reference_numbers(traces: Mapping[str, MethodTrace]) -> dict[str, dict]:
    """The server's numbers per method, which the stage compares with its own.

    Per method: ``output`` (``PH * PW`` floats, row-major, as float32 values), ``shape``
    ``[PH, PW]``, the ``snapped_box`` / ``sampled_box`` / ``read_region`` (feature units or
    ``None``), the areas in percent and the IoU, the summary row the page's table shows, and the
    trace's notes.
    """
    rows = summary_rows(dict(traces))
    out = {}
    for method, t in traces.items():
        a = t.areas
        out[method] = {
            "output": [float(v) for v in t.output.ravel()],
            "shape": list(t.output.shape),
            "snapped_box": None if t.snapped_box is None else [float(v) for v in t.snapped_box],
            "sampled_box": None if t.sampled_box is None else [float(v) for v in t.sampled_box],
            "read_region": None if t.read_region is None else [float(v) for v in t.read_region],
            "areas": {"lost_percent": a.percent("lost"), "gained_percent": a.percent("gained"),
                      "outside_percent": a.percent("outside"), "iou": a.iou},
            "row": rows[method],
            "notes": list(t.notes),
        }
    return out


def stage_style(style: Style) -> dict:
    """Colours, labels and sizes from :mod:`roiviz.drawing.style`, so the stage matches every figure."""
    return {
        "presenter": style.presenter,
        "font_size": style.font_size,
        "line_width": style.line_width,
        "thin_line": style.thin_line,
        "marker_size": style.marker_size,
        "method_colors": dict(METHOD_COLORS),
        "method_labels": {key: m.label for key, m in REGISTRY.items()},
        "areas": {name: {"color": color, "label": label}
                  for name, (color, _pattern, _hatch, label) in AREA_STYLES.items()},
        "roi_color": ROI_COLOR,
        "sample_color": SAMPLE_COLOR,
        "winner_color": WINNER_COLOR,
    }


def stage_data(values: np.ndarray, box: Sequence[float], settings: Settings,
               methods: Sequence[str], traces: Mapping[str, MethodTrace], *,
               style: Style = Style(), image_uri: str | None = None,
               image_shape: tuple[int, int] | None = None, map_title: str = "Feature map",
               image_title: str = "Image", seq: int = 0, notices: Sequence[str] = ()) -> dict:
    """The stage's data payload (JSON-ready).

    Args:
        values: the feature-map channel ``[H, W]`` the methods read.
        box: the box in use, image pixels ``(x1, y1, x2, y2)``.
        settings: the methods' options (``stride`` is image pixels per cell).
        methods: the methods to show (keys of :data:`roiviz.methods.METHODS`).
        traces: the server's traces of ``box`` (the reference); may lack methods the server
            did not trace.
        style: sizes (presenter mode) and colours.
        image_uri, image_shape: the photo as a data URI and its ``(H, W)`` in pixels, or
            ``None`` for map sources (the stage then shows the map alone).
        map_title, image_title: captions (set as text, never as HTML).
        seq: the last release the server has applied (echoed back to the stage).
        notices: sentences the stage shows above the panels (plain text).

    Returns:
        ``{"map": {"height", "width", "min", "max", "b64"}, "image": {...} or None, "box",
        "settings", "methods", "reference", "style", "titles", "seq", "notices",
        "max_drawn_samples"}``.
    """
    values = np.asarray(values, dtype=np.float32)
    height, width = values.shape
    lo, hi = float(values.min()), float(values.max())
    data = {
        "map": {"height": int(height), "width": int(width), "min": lo, "max": hi if hi > lo else lo + 1.0,
                "b64": encode_float32(values)},
        "image": None if image_uri is None or image_shape is None else
        {"uri": image_uri, "height": int(image_shape[0]), "width": int(image_shape[1])},
        "box": [float(v) for v in box],
        "settings": {**asdict(settings), "output_size": list(settings.output_size),
                     "stride": float(settings.stride)},
        "methods": list(methods),
        "reference": reference_numbers(traces),
        "style": stage_style(style),
        "titles": {"map": map_title, "image": image_title},
        "seq": int(seq),
        "notices": [str(n) for n in notices],
        "max_drawn_samples": MAX_DRAWN_SAMPLES,
    }
    return data


def parse_stage_value(value, map_shape: tuple[int, int], stride: float) -> StageBox:
    """Validate the value the stage sent back: ``{"box": [x1, y1, x2, y2], "seq": n}``.

    Args:
        value: whatever arrived (never trusted).
        map_shape: ``(H, W)`` of the feature map in cells.
        stride: image pixels per cell.

    Returns:
        The box with sorted corners, rounded to 1/1000 px, and the release counter.

    Raises:
        ValueError: a sentence for the page (it never repeats the value received): not a box
            of four finite numbers within ``+-MAX_COORD``, no area, or entirely off the map.
    """
    if not isinstance(value, Mapping):
        raise ValueError("The stage sent something that is not a box.")
    raw, seq = value.get("box"), value.get("seq", 0)
    if not isinstance(raw, (list, tuple)) or len(raw) != 4:
        raise ValueError("The stage sent a box without four coordinates.")
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in raw):
        raise ValueError("The stage sent a box whose coordinates are not numbers.")
    if not all(math.isfinite(v) and abs(v) <= MAX_COORD for v in raw):
        raise ValueError(f"The box needs finite numbers within +-{MAX_COORD:g} pixels.")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
        raise ValueError("The stage sent a box with an invalid release counter.")
    x1, y1, x2, y2 = (float(v) for v in raw)
    box = (round(min(x1, x2), 3), round(min(y1, y2), 3), round(max(x1, x2), 3), round(max(y1, y2), 3))
    problem = box_problem(box, map_shape, stride)
    if problem:
        raise ValueError(problem)
    return StageBox(box=box, seq=seq)
