"""One style for every figure, interactive (plotly) or static (matplotlib).

Colours are from the Okabe-Ito palette, which stays distinguishable with the common forms of
colour blindness; lost, gained and outside areas also differ by hatching and are always named
in the legend, so nothing relies on red versus green alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: One colour per method (Okabe-Ito).
METHOD_COLORS = {
    "roi_pool": "#E69F00",          # orange
    "roi_warp": "#CC79A7",          # reddish purple
    "roi_align": "#0072B2",         # blue
    "precise_roi_pool": "#56B4E9",  # sky blue
    "roi_align_unaligned": "#0072B2",  # RoI Align's blue; told apart by its line and marker
}
#: Line style and marker per method in line charts (matplotlib), so series differ without colour.
SERIES_LINES = {"roi_pool": ("-", "s"), "roi_warp": ("--", "D"), "roi_align": ("-", "o"),
                "precise_roi_pool": (":", "^"), "roi_align_unaligned": ("-.", "v")}
#: Areas: colour, plotly fill pattern shape, matplotlib hatch, legend label. The texts call lost
#: area "red" and gained area "green": lost is a clear red (not Okabe-Ito's vermilion, which at
#: a light fill reads as orange, RoI Pool's colour), gained Okabe-Ito's bluish green.
AREA_STYLES = {
    "lost": ("#D7191C", "/", "///", "lost: in the RoI, not read"),
    "gained": ("#009E73", "\\", "\\\\\\", "gained: read, not in the RoI"),
    "outside": ("#7F7F7F", ".", "..", "outside the feature map"),
}
ROI_COLOR = "#000000"       # the true RoI: black dashed, with a white halo
SAMPLE_COLOR = "#0072B2"
WINNER_COLOR = "#F0E442"    # yellow: the winning sample or argmax cell
FEATURE_COLORSCALE = "gray"  # dark = low, light = high: overlays stay readable
OUTPUT_COLORSCALE = "viridis"
BLACK, WHITE = "#000000", "#FFFFFF"
HALO = "rgba(255,255,255,0.35)"  # thin white lines over a dark map (the image view's cell grid)
TRANSPARENT = "rgba(0,0,0,0)"
MUTED = "#999999"           # samples off the map
GRID_LINE = "#9a9a9a"       # cell borders on a map
LEGEND_GRAY = "#777777"     # legend lines that stand for "any method's colour"
AXIS_LINE = "#555555"       # the zero line of a chart
CHART_GRID = "#dddddd"      # a chart's background grid
#: The "Why don't my numbers match?" drawings: one colour and marker per dialect drawn (the first
#: is the reference, torchvision aligned=True), Okabe-Ito like every other colour here.
DIALECT_SERIES = (("#0072B2", "o"), ("#D55E00", "X"), ("#009E73", "s"))
BOX_HIGHLIGHT = "#E69F00"   # the person's box, in feature cells
DIFFERENCE_COLORMAP = "RdBu_r"
FAINT_GRID = "#cccccc"      # cell borders on a gradient map


GRADIENT_COLORMAP = "magma_r"  # gradient maps: white = nothing, dark = a large share


def rgb_fraction(hex_color: str) -> tuple[float, float, float]:
    """``"#RRGGBB"`` -> ``(r, g, b)`` in 0..1 (matplotlib's form)."""
    return tuple(int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5))  # type: ignore[return-value]


def rgba_css(hex_color: str, alpha: float) -> str:
    """``"#RRGGBB"`` and an opacity -> CSS ``"rgba(r,g,b,alpha)"`` (plotly's form)."""
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def relative_luminance(rgb) -> np.ndarray:
    """WCAG relative luminance (0 black .. 1 white) of sRGB colours ``[..., 3]`` in 0..255."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def text_colors(luminance) -> np.ndarray:
    """Black or white text for backgrounds of the given luminance, whichever contrasts more
    (WCAG contrast ratio: black wins above a luminance of about 0.18)."""
    lum = np.asarray(luminance, dtype=np.float64)
    black_wins = (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05)
    return np.where(black_wins, BLACK, WHITE)


@dataclass(frozen=True)
class Style:
    """Sizes for the screen or, with ``presenter=True``, for a projector at the back of a room."""

    presenter: bool = False

    @property
    def font_size(self) -> int:
        return 22 if self.presenter else 13

    @property
    def line_width(self) -> float:
        return 4.0 if self.presenter else 2.0

    @property
    def thin_line(self) -> float:
        return 2.0 if self.presenter else 1.0

    @property
    def marker_size(self) -> int:
        return 11 if self.presenter else 7

    @property
    def panel_height(self) -> int:
        return 480 if self.presenter else 380
