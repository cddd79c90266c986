"""The Playground's state: what a link reproduces, and the box rules. No Streamlit here.

The link's parameters (keys, types, allowed values, defaults, messages) are the Playground's
table in :mod:`roiviz.app.params`; :class:`PlaygroundState` is that table's values as one record,
with the box in image pixels.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..geometry import samples_per_roi
from .params import PLAYGROUND
from ..records import Settings

_DEFAULTS = PLAYGROUND.defaults()


@dataclass(frozen=True)
class PlaygroundState:
    """Everything a link reproduces. ``box`` is in image pixels, ``None`` for the default box.

    Field defaults are the table's (:data:`roiviz.app.params.PLAYGROUND`).
    """

    source: str = _DEFAULTS["src"]
    sample: str = _DEFAULTS["img"]
    stride: int = _DEFAULTS["stride"]
    pyramid: bool = _DEFAULTS["fpn"]
    channel: int = _DEFAULTS["ch"]
    box: tuple[float, float, float, float] | None = None
    output_size: tuple[int, int] = _DEFAULTS["out"]
    sampling_ratio: int = _DEFAULTS["sr"]
    aligned: bool = _DEFAULTS["aligned"]
    reduce: str = _DEFAULTS["reduce"]
    convention: str = _DEFAULTS["conv"]
    methods: tuple[str, ...] = _DEFAULTS["methods"]
    presenter: bool = _DEFAULTS["presenter"]

    #: Link key -> field name.
    FIELDS = {"src": "source", "img": "sample", "stride": "stride", "fpn": "pyramid", "ch": "channel", "box": "box",
              "out": "output_size", "sr": "sampling_ratio", "aligned": "aligned", "reduce": "reduce",
              "conv": "convention", "methods": "methods", "presenter": "presenter"}

    @classmethod
    def from_link(cls, values: Mapping[str, Any]) -> "PlaygroundState":
        """The state of link values ``{key: typed value}`` (:meth:`roiviz.app.params.PageParams.parse`)."""
        return cls(**{field: values[key] for key, field in cls.FIELDS.items() if key in values})

    def link_values(self) -> dict[str, Any]:
        """``{link key: typed value}``, the inverse of :meth:`from_link`."""
        return {key: getattr(self, field) for key, field in self.FIELDS.items()}

    def to_query(self) -> dict[str, str]:
        """The state as query parameters (uploads are not linkable: they become the default sample)."""
        return PLAYGROUND.to_query(self.link_values())

    def input_name(self) -> str:
        """The input in a few words: the sample's name, ``upload``, ``toy`` or ``npy``."""
        return self.sample if self.source == "sample" else self.source

    def file_stem(self) -> str:
        """The exports' file name (without extension): the app, the output size, the sampling
        ratio and the input, then the choices that differ from the defaults.

        Example: the default view at 7 x 7 is ``"roiviz-7x7-ratio2-astronaut"``; sampling ratio
        0 (adaptive) is ``ratio-adaptive``; ``max``, the article's convention, ``aligned=False``
        and the pyramid add ``-max``, ``-article``, ``-unaligned``, ``-fpn``. Only ``[a-z0-9-]``.
        """
        ph, pw = self.output_size
        ratio = "ratio-adaptive" if self.sampling_ratio == 0 else f"ratio{self.sampling_ratio}"
        parts = ["roiviz", f"{ph}x{pw}", ratio, self.input_name()]
        parts += [flag for flag, on in (("max", self.reduce == "max"),
                                        ("article", self.convention == "article"),
                                        ("unaligned", not self.aligned),
                                        ("fpn", self.pyramid)) if on]
        return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")

    def export_title(self) -> str:
        """The exports' title (an interactive page's, the embed snippet's): the page and the
        settings in words, e.g. ``"roiviz Playground: 7 x 7 bins, sampling ratio 2, astronaut"``."""
        ph, pw = self.output_size
        ratio = "adaptive" if self.sampling_ratio == 0 else str(self.sampling_ratio)
        extra = "".join(f", {t}" for t, on in (("max", self.reduce == "max"),
                                               ("the article's convention", self.convention == "article"),
                                               ("aligned=False", not self.aligned),
                                               ("feature pyramid", self.pyramid)) if on)
        return f"roiviz Playground: {ph} x {pw} bins, sampling ratio {ratio}, {self.input_name()}{extra}"

    def settings(self) -> Settings:
        return Settings(output_size=self.output_size, stride=float(self.stride),
                        sampling_ratio=self.sampling_ratio, aligned=self.aligned,
                        reduce=self.reduce, convention=self.convention)


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

    :func:`roiviz.geometry.samples_per_roi` on the box in cells, counted generously (+2 cells a
    side: RoI Warp's snapped box can be one cell larger on each side).
    """
    size = ((box[3] - box[1]) / stride + 2, (box[2] - box[0]) / stride + 2)
    return samples_per_roi(size, output_size, sampling_ratio)


def box_outside_share(box, map_shape: tuple[int, int], stride: float) -> float:
    """The fraction (0..1) of the box's area that lies outside the feature map."""
    x1, y1, x2, y2 = box
    area = (x2 - x1) * (y2 - y1)
    if area <= 0:
        return 0.0
    width, height = map_shape[1] * stride, map_shape[0] * stride
    inside = max(0.0, min(x2, width) - max(x1, 0.0)) * max(0.0, min(y2, height) - max(y1, 0.0))
    return max(0.0, 1.0 - inside / area)
