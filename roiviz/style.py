"""One style for every figure, interactive (plotly) or static (matplotlib).

Colours are from the Okabe-Ito palette, which stays distinguishable with the common forms of
colour blindness; lost, gained and outside areas also differ by hatching and are always named
in the legend, so nothing relies on red versus green alone.
"""

from __future__ import annotations

from dataclasses import dataclass

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
#: Areas: colour, plotly fill pattern shape, matplotlib hatch, legend label.
AREA_STYLES = {
    "lost": ("#D55E00", "/", "///", "lost: in the RoI, not read"),
    "gained": ("#009E73", "\\", "\\\\\\", "gained: read, not in the RoI"),
    "outside": ("#7F7F7F", ".", "..", "outside the feature map"),
}
ROI_COLOR = "#000000"       # the true RoI: black dashed, with a white halo
SAMPLE_COLOR = "#0072B2"
WINNER_COLOR = "#F0E442"    # yellow: the winning sample or argmax cell
FEATURE_COLORSCALE = "gray"  # dark = low, light = high: overlays stay readable
OUTPUT_COLORSCALE = "viridis"


@dataclass(frozen=True)
class Style:
    """Sizes for the screen or, with ``presenter=True``, for a projector at the back of a room."""

    presenter: bool = False

    @property
    def font_size(self) -> int:
        return 20 if self.presenter else 13

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
