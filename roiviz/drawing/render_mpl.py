"""Static figures (matplotlib), drawn from traces and results only: no geometry is recomputed.

Every function returns a ``matplotlib.figure.Figure`` built without pyplot (thread-safe, no
display, Agg or SVG writers only), so pages can show it as a PNG and offer it as PNG or SVG
(:func:`figure_png`, :func:`figure_svg`). Maps are drawn in the drawing frame of
:mod:`roiviz.geometry` (feature units, cell ``(i, j)`` spans ``[j, j+1) x [i, i+1)``, y down).
Colours, hatches and sizes come from :mod:`roiviz.drawing.style`; lost, gained and outside areas differ
by hatching and legend text as well as colour, so nothing relies on red versus green alone.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch, Rectangle
from matplotlib.path import Path
from matplotlib.ticker import MaxNLocator

from .export import figure_png, figure_svg
from .style import (
    AREA_STYLES,
    AXIS_LINE,
    BLACK,
    CHART_GRID,
    FAINT_GRID,
    FEATURE_COLORSCALE,
    GRADIENT_COLORMAP,
    GRID_LINE,
    LEGEND_GRAY,
    METHOD_COLORS,
    MUTED,
    OUTPUT_COLORSCALE,
    ROI_COLOR,
    SAMPLE_COLOR,
    SERIES_LINES,
    WHITE,
    WINNER_COLOR,
    Style,
    rgb_fraction,
)
from ..methods import REGISTRY
from ..records import MethodTrace, Rect, feature_rect, ordinal

#: Display names of every method and variant.
LABELS = {key: method.label for key, method in REGISTRY.items()}

__all__ = [
    "BLOG_DPI",
    "COMPARISON_DPI",
    "LAYERS",
    "blog_figure",
    "draw_method",
    "evidence_figure",
    "figure_png",
    "figure_svg",
    "gradient_figure",
    "image_figure",
    "lesson_figure",
    "method_figure",
    "output_figure",
    "outputs_figure",
    "series_style",
    "sweep_figure",
]

#: What a method panel can show. ``map`` and ``values`` are the feature map and its numbers;
#: ``roi`` the true box (black dashed); ``snapped`` the snapped or sampled box; ``lost``,
#: ``gained``, ``outside`` the hatched areas; ``bins`` the bin outlines; ``overlap`` cells read by
#: more than one RoI Pool bin; ``argmax`` RoI Pool's winning cells; ``samples`` the sampling
#: points; ``winner`` the winning sample of ``reduce="max"``.
LAYERS = frozenset({"map", "values", "roi", "snapped", "lost", "gained", "outside", "bins",
                    "overlap", "argmax", "samples", "winner"})
# Sizes on paper. A map panel shows the RoI's neighbourhood (a margin of VIEW_MARGIN cells)
# with each feature cell at least MIN_CELL_INCHES and each bin at least MIN_BIN_INCHES wide;
# everything drawn inside (numbers, markers, hatching, lines) is sized from those.
#: Cells of map shown around the union of the RoI, snapped, sampled and read boxes.
VIEW_MARGIN = 1
#: Preferred width of a map panel (inches, before the presenter factor).
PANEL_INCHES = 4.4
#: Smallest size of one feature cell on paper (inches).
MIN_CELL_INCHES = 0.26
#: Smallest size of one bin on paper (inches): at 14 x 14 bins over 7 cells a cell grows.
MIN_BIN_INCHES = 0.14
#: Largest size of one feature cell (a tiny box is not blown up beyond this).
MAX_CELL_INCHES = 1.1
#: Smallest size of one output cell (inches): room for a two-decimal number.
MIN_OUTPUT_CELL_INCHES = 0.34
#: Numbers smaller than this (points) are not printed (map values need a little more).
MIN_NUMBER_PT = 6.0
MIN_MAP_NUMBER_PT = 7.0
#: Largest share of a bin's area the sampling-point markers may cover; beyond it they are thinned.
MAX_SAMPLE_COVER = 0.25
#: Smallest sampling-point marker diameter (points) before thinning.
MIN_MARKER_PT = 3.2
#: Cell values are written in the cells when the view has at most this many cells.
MAX_ANNOTATED_CELLS = 900
#: Group id of the numbers :func:`fit_numbers` checks against their cell.
_NUMBER_GID = "roiviz-number"


def _pt(style: Style) -> float:
    """Font size in points for a style (its ``font_size`` is in CSS pixels)."""
    return style.font_size * 0.9


def _lw(style: Style, thin: bool = False) -> float:
    return (style.thin_line if thin else style.line_width) * 0.9


def _scale(style: Style) -> float:
    """Presenter figures are 1.3 times larger on paper (their text 1.5 times: text grows
    relative to the picture, and the page shows the figure wider)."""
    return 1.3 if style.presenter else 1.0


def _new_figure(width: float, height: float, style: Style, scaled: bool = True) -> Figure:
    """A blank figure of ``width x height`` inches (times the presenter factor if ``scaled``)."""
    k = _scale(style) if scaled else 1.0
    return Figure(figsize=(width * k, height * k), layout="constrained", facecolor=WHITE)


def series_style(series: str) -> tuple[str, str, str]:
    """``(colour, line style, marker)`` of a method or sweep series (:mod:`roiviz.drawing.style`)."""
    return (METHOD_COLORS[series], *SERIES_LINES[series])


def _text_color(value: float, lo: float, hi: float) -> str:
    """Black on light cells, white on dark ones (both colour maps used here are light for high values)."""
    return BLACK if value >= (lo + hi) / 2 else WHITE


def _number(value: float, integral: bool = False) -> str:
    """A cell's or bin's value as short text: two decimals, or a whole number when the array it
    comes from holds whole numbers only (``integral``, see :func:`_integral`)."""
    if integral:
        return str(int(value))
    return f"{value:.2f}" if abs(value) < 100 else f"{value:.3g}"


def _integral(values: np.ndarray) -> bool:
    """Whether every value is a whole number (a toy grid's), written without decimals."""
    return bool(np.all(np.mod(values, 1.0) == 0) and np.all(np.abs(values) < 1e4))


def _number_pt(cell_pt: float, text: str, style: Style) -> float:
    """Font size (points) that fits ``text`` in a square of ``cell_pt`` points, at most the style's."""
    # A digit is about 0.6 em wide; leave 15% of the cell free.
    return min(_pt(style) * 0.9, 0.85 * cell_pt / (0.6 * max(len(text), 2)), 0.6 * cell_pt)


def _cell_number(ax, x: float, y: float, text: str, size: float, color: str, cell: tuple[float, float],
                 zorder: float = 7.5) -> None:
    """A number centred at ``(x, y)`` that :func:`fit_numbers` removes if it overflows ``cell``
    (its ``(width, height)`` in data units)."""
    if size < MIN_NUMBER_PT:
        return
    # No halo (a path effect draws text as paths, ten times slower): the colour follows the cell.
    t = ax.text(x, y, text, ha="center", va="center", fontsize=size, color=color, zorder=zorder,
                clip_on=True)
    t.set_gid(_NUMBER_GID)
    t._roiviz_cell = cell   # the room it has, read by fit_numbers


def fit_numbers(fig: Figure, fill: float = 0.88) -> int:
    """Remove every cell number (from :func:`_cell_number`) whose rendered box overflows its cell.

    The figure is laid out first (constrained layout), then each number's window extent, from the
    Agg renderer, is compared with its cell's size in display units.

    Returns:
        How many numbers were removed.
    """
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    # The layout and each axes' aspect are all a number's place depends on: computing them is
    # much cheaper than drawing every artist (draw_without_rendering).
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
    for ax in fig.axes:
        ax.apply_aspect()
    removed = 0
    for ax in fig.axes:
        for t in [t for t in ax.texts if t.get_gid() == _NUMBER_GID]:
            w, h = t._roiviz_cell
            (x0, y0), (x1, y1) = ax.transData.transform([(0.0, 0.0), (w, h)])
            box = t.get_window_extent(renderer)
            if box.width > fill * abs(x1 - x0) or box.height > fill * abs(y1 - y0):
                t.remove()
                removed += 1
    return removed


def freeze_layout(fig: Figure, pad_inches: float = 0.08) -> Figure:
    """Fix ``fig``'s layout as it is now (after :func:`fit_numbers`) and its saved bounds.

    Saving a constrained-layout figure with a tight crop lays it out and draws it twice more;
    frozen, :func:`roiviz.drawing.export.figure_png` draws it once, inside the bounds stored here
    (``fig.roiviz_bbox``, inches: the figure plus ``pad_inches`` a side).
    """
    # The figure's own bounds: its width and height are computed from what it holds, and the
    # layout fills them (a tight crop measured every text again for a few hundredths of an inch).
    fig.roiviz_bbox = fig.bbox_inches.padded(pad_inches)
    fig.set_layout_engine(None)   # None, not "none": a placeholder engine would draw once more
    return fig


def _zrange(values: np.ndarray) -> tuple[float, float]:
    lo, hi = float(np.min(values)), float(np.max(values))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def _add_patch(ax, patch):
    """Add ``patch`` to ``ax`` without widening the data limits (``Axes.add_patch`` recomputes
    them for every patch, a sixth of a comparison figure's time; every panel sets its limits
    itself)."""
    return ax.add_artist(patch)


def _rects_patch(rects: Sequence[Rect], **kw) -> PathPatch:
    """Many rectangles as one patch (one compound path): drawn, and hatched, in one pass instead
    of one per rectangle (the hatched areas were half of a comparison figure's drawing time).
    Its ``gid`` is ``"roiviz-rects"``; :func:`patch_rects` reads the rectangles back."""
    verts = [v for x1, y1, x2, y2 in rects for v in ((x1, y1), (x2, y1), (x2, y2), (x1, y2), (x1, y1))]
    codes = [Path.MOVETO, Path.LINETO, Path.LINETO, Path.LINETO, Path.CLOSEPOLY] * len(rects)
    return PathPatch(Path(verts, codes), gid="roiviz-rects", **kw)


def patch_rects(patch) -> list[Rect]:
    """The rectangles of a :func:`_rects_patch` patch, ``(x1, y1, x2, y2)`` each."""
    verts = np.asarray(patch.get_path().vertices).reshape(-1, 5, 2)
    return [(float(v[0, 0]), float(v[0, 1]), float(v[2, 0]), float(v[2, 1])) for v in verts]


def _rect(rect: Rect, **kw) -> Rectangle:
    return Rectangle((rect[0], rect[1]), rect[2] - rect[0], rect[3] - rect[1], **kw)


def _roi(ax, rect: Rect, style: Style, label: str = "RoI (the proposal)", width: float | None = None) -> Line2D:
    """The true box: black dashed over a white halo, visible on dark and light cells."""
    lw = width or _lw(style)
    _add_patch(ax, _rect(rect, fill=False, edgecolor=WHITE, linewidth=lw + 2.0, zorder=6))
    _add_patch(ax, _rect(rect, fill=False, edgecolor=ROI_COLOR, linewidth=lw, linestyle="--", zorder=7))
    return Line2D([], [], color=ROI_COLOR, linestyle="--", linewidth=lw, label=label)


def view_rect(traces: Sequence[MethodTrace], margin: int = VIEW_MARGIN) -> Rect:
    """The part of the map a panel shows: every trace's RoI, snapped, sampled and read boxes,
    widened to whole cells plus ``margin`` cells, clipped to the map (but keeping, with 0.3 cell
    to spare, any part of a box that lies outside the map). Feature units ``(x1, y1, x2, y2)``.

    Example: an RoI from x 10.6 to 23.7 on a 32-cell-wide map is shown from x 9 to 25.
    """
    rects = [r for t in traces for r in (t.roi, t.snapped_box, t.sampled_box, t.read_region) if r]
    height, width = traces[0].map_shape
    lo_x, hi_x = min(r[0] for r in rects), max(r[2] for r in rects)
    lo_y, hi_y = min(r[1] for r in rects), max(r[3] for r in rects)
    x1 = max(math.floor(lo_x) - margin, min(0.0, lo_x - 0.3))
    y1 = max(math.floor(lo_y) - margin, min(0.0, lo_y - 0.3))
    x2 = min(math.ceil(hi_x) + margin, max(float(width), hi_x + 0.3))
    y2 = min(math.ceil(hi_y) + margin, max(float(height), hi_y + 0.3))
    return (float(x1), float(y1), float(x2), float(y2))


def cell_inches(view: Rect, traces: Sequence[MethodTrace], style: Style = Style(),
                panel: float = PANEL_INCHES) -> float:
    """Size of one feature cell on paper (inches) for a panel showing ``view``.

    The view fills ``panel`` inches, but a cell never gets smaller than
    :data:`MIN_CELL_INCHES`, nor a bin than :data:`MIN_BIN_INCHES` (so that 14 x 14 bins over a
    few cells stay apart), nor larger than :data:`MAX_CELL_INCHES`. Presenter figures are 1.3 times
    larger.
    """
    side = max(view[2] - view[0], view[3] - view[1])
    smallest = min((t.smallest_bin_side for t in traces), default=1.0)
    lo = max(MIN_CELL_INCHES, MIN_BIN_INCHES / smallest)
    return float(np.clip(panel / side, lo, max(lo, MAX_CELL_INCHES))) * _scale(style)


def _hatch(base: str, cell_in: float) -> str:
    """``base`` ('/', '\\\\', '.', 'x') repeated so that about four lines cross a cell.

    Matplotlib draws a single hatch character as six lines per inch.
    """
    return base * int(np.clip(round(4.0 / (6.0 * cell_in)), 1, 4))


def _draw_map(ax, values: np.ndarray, view: Rect, zrange: tuple[float, float], style: Style,
              numbers: bool, cell_pt: float, cmap: str = FEATURE_COLORSCALE) -> None:
    """The map as an image, its cell grid, and (if ``numbers``) each value that fits its cell."""
    height, width = values.shape
    ax.imshow(values, cmap=cmap, vmin=zrange[0], vmax=zrange[1], extent=(0, width, height, 0),
              interpolation="nearest", zorder=0)
    c1, r1 = max(0, math.floor(view[0])), max(0, math.floor(view[1]))
    c2, r2 = min(width, math.ceil(view[2])), min(height, math.ceil(view[3]))
    grid = [((x, r1), (x, r2)) for x in range(c1, c2 + 1)] + [((c1, y), (c2, y)) for y in range(r1, r2 + 1)]
    ax.add_collection(LineCollection(grid, colors=GRID_LINE, linewidths=min(0.5, cell_pt / 40), zorder=1))
    if not numbers or (c2 - c1) * (r2 - r1) > MAX_ANNOTATED_CELLS:
        return
    # Only cells wholly inside the view: a clipped number would still take room.
    rows = range(max(r1, math.ceil(view[1])), min(r2, math.floor(view[3])))
    cols = range(max(c1, math.ceil(view[0])), min(c2, math.floor(view[2])))
    integral = _integral(values)
    longest = max((_number(values[r, c], integral) for r in rows for c in cols), key=len, default="0")
    size = _number_pt(cell_pt, longest, style)
    if size < MIN_MAP_NUMBER_PT:
        return
    for r in rows:
        for c in cols:
            v = float(values[r, c])
            _cell_number(ax, c + 0.5, r + 0.5, _number(v, integral), size, _text_color(v, *zrange), (1.0, 1.0))


def _frame(ax, extent: Rect, style: Style, title: str | None) -> None:
    x1, y1, x2, y2 = extent
    side = max(x2 - x1, y2 - y1)
    step = 1 if side <= 16 else (2 if side <= 32 else (4 if side <= 64 else 8))
    xt = np.arange(math.ceil(x1 / step) * step, x2 + 1e-9, step)
    yt = np.arange(math.ceil(y1 / step) * step, y2 + 1e-9, step)
    ylabels = [f"{v:g}" for v in yt]
    if len(xt) and len(yt) and math.isclose(xt[0], x1) and math.isclose(yt[-1], y2):
        ylabels[-1] = ""        # the bottom-left corner: x's first label would touch y's last
    ax.set_xticks(xt, [f"{v:g}" for v in xt])   # ticks first: set_xticks widens the limits
    ax.set_yticks(yt, ylabels)
    ax.set_xlim(x1, x2)
    ax.set_ylim(y2, y1)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=_pt(style) * 0.75, length=2, pad=1.5)
    ax.set_xlabel("x (feature cells)", fontsize=_pt(style) * 0.8)
    ax.set_ylabel("y (feature cells)", fontsize=_pt(style) * 0.8)
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title, fontsize=_pt(style) * 1.05, loc="left")


def _thinning(trace: MethodTrace, bin_pt: tuple[float, float], style: Style) -> tuple[float, int]:
    """``(marker diameter in points, k)``: draw every ``k``-th recorded sample row and column
    of a bin (of a thinned trace, :mod:`roiviz.drawing.thinned`, every ``k``-th of those it recorded).

    The marker is at most the style's size and half the spacing of the samples; when even
    :data:`MIN_MARKER_PT` markers would cover more than :data:`MAX_SAMPLE_COVER` of a bin, only
    every ``k``-th row and column is drawn.
    """
    gy, gx = trace.recorded_grid
    sy, sx = trace.sample_step
    bw, bh = bin_pt
    spacing = min(bw * sx / max(trace.grid[1], 1), bh * sy / max(trace.grid[0], 1))
    diameter = float(np.clip(0.5 * spacing, MIN_MARKER_PT, style.marker_size * 1.1))
    def covers(d: float, k: int) -> float:   # share of the bin covered (with the white edge)
        shown = len(range(k // 2, gy, k)) * len(range(k // 2, gx, k))
        return shown * math.pi / 4 * (d + 0.8) ** 2 / (bw * bh)

    k = 1
    while covers(diameter, k) > MAX_SAMPLE_COVER and k < max(gy, gx):
        k += 1
    if k > 1:   # thinned: the points drawn may be as large as their own spacing allows
        bigger = float(np.clip(0.5 * spacing * k, diameter, style.marker_size * 1.1))
        while bigger > diameter and covers(bigger, k) > MAX_SAMPLE_COVER:
            bigger -= 0.25
        diameter = max(diameter, bigger)
    return diameter, k


def draw_method(ax, trace: MethodTrace, values: np.ndarray, *, style: Style = Style(),
                layers: Collection[str] = LAYERS, zrange: tuple[float, float] | None = None,
                focus_bin: tuple[int, int] | None = None,
                focus_sample: tuple[int, int, int] | None = None,
                guide_bins: Sequence[Rect] = (), regions: MethodTrace | None = None,
                title: str | None = None, view: Rect | None = None,
                cell_in: float | None = None, axes_frame: bool = True) -> list:
    """Draw one method's panel on ``ax``; returns the legend handles.

    Args:
        trace: what the method did.
        values: the ``[H, W]`` map the trace was computed on.
        layers: which of :data:`LAYERS` to draw.
        zrange: colour range of the map (default: its min and max).
        focus_bin: ``(row, col)`` of a bin to outline thickly.
        focus_sample: ``(row, col, index)`` of a sample whose four neighbours and weights are drawn.
        guide_bins: extra rectangles drawn thin and dotted (e.g. the exact split of a box that
            RoI Pool is about to round), taken from another trace.
        regions: the trace whose lost / gained / outside areas are hatched (default ``trace``;
            e.g. RoI Warp's, whose read region is the snapped box, to show the first rounding alone).
        title: the axes title (default: the method's name).
        view: the part of the map shown (feature units; default :func:`view_rect` of the trace,
            or the focused sample's neighbours and one cell around them).
        cell_in: one cell's size on paper in inches (default :func:`cell_inches`); markers,
            numbers, hatching and lines are sized from it.
        axes_frame: set the limits, ticks, axis labels and title (``False`` when redrawing the
            overlays on axes already framed, as the animation's frames do).
    """
    unknown = set(layers) - LAYERS
    if unknown:
        raise ValueError(f"unknown layers {sorted(unknown)}; choose from {sorted(LAYERS)}")
    zrange = zrange or _zrange(values)
    color = METHOD_COLORS[trace.method]
    handles: list = []
    if focus_sample is not None:
        # Zoom on the sample: its four neighbours and one cell around them.
        cells = trace.bin(*focus_sample[:2]).samples[focus_sample[2]].neighbours
        rows, cols = [r for r, _ in cells], [c for _, c in cells]
        view = (min(cols) - 1.0, min(rows) - 1.0, max(cols) + 2.0, max(rows) + 2.0)
    view = view or view_rect([trace])
    cell_in = cell_in or cell_inches(view, [trace], style)
    cell_pt = cell_in * 72.0
    bin_lw = float(np.clip(trace.smallest_bin_side * cell_pt * 0.06, 0.6, _lw(style, True) * 1.4))
    line = min(_lw(style), max(1.0, cell_pt * 0.08))
    if "map" in layers:
        _draw_map(ax, values, view, zrange, style, "values" in layers, cell_pt)

    for name in ("lost", "gained", "outside"):
        if name not in layers:
            continue
        area_color, _, hatch, label = AREA_STYLES[name]
        hatch = _hatch(hatch[0], cell_in)
        source = regions or trace
        rects = source.region_rects(name)
        if rects:
            _add_patch(ax, _rects_patch(rects, facecolor=(*rgb_fraction(area_color), 0.30), edgecolor=area_color,
                                        hatch=hatch, hatchcolor=area_color, linewidth=_lw(style, True), zorder=3))
        if rects or name != "outside":
            handles.append(Patch(facecolor=(*rgb_fraction(area_color), 0.30), edgecolor=area_color, hatch=hatch,
                                 label=f"{label}: {source.areas.percent(name):.1f}% of the RoI"))

    if "overlap" in layers:
        counts = Counter(cell for b in trace.bins for cell in b.cells)
        twice = [cell for cell, n in counts.items() if n > 1]
        cross = _hatch("x", cell_in)
        for r, c in twice:
            _add_patch(ax, Rectangle((c, r), 1, 1, fill=False, hatch=cross, edgecolor=BLACK,
                                   hatchcolor=BLACK, linewidth=0, alpha=0.45, zorder=3))
        if twice:
            handles.append(Patch(fill=False, hatch=cross, edgecolor=BLACK,
                                 label=f"read by more than one bin ({len(twice)} cells)"))

    for r in guide_bins:
        _add_patch(ax, _rect(r, fill=False, edgecolor=color, linestyle=":", linewidth=line, zorder=4))
    if guide_bins:
        handles.append(Line2D([], [], color=color, linestyle=":", linewidth=line,
                              label="exact split (fractions of a cell)"))

    if "bins" in layers:
        drawn = [b for b in trace.bins if b.rect is not None]
        # RoI Pool's bins are whole cells and may overlap: draw each slightly inset so that two
        # bins sharing a cell stay visible as two outlines.
        inset = 0.07 if trace.method == "roi_pool" else 0.0
        if drawn:
            _add_patch(ax, _rects_patch([(x1 + inset, y1 + inset, x2 - inset, y2 - inset)
                                         for x1, y1, x2, y2 in (b.rect for b in drawn)],
                                        fill=False, edgecolor=color, linewidth=bin_lw, zorder=5))
        if drawn:
            handles.append(Line2D([], [], color=color, linewidth=max(bin_lw, 1.5),
                                  label=f"bins ({trace.settings.output_size[0]} x {trace.settings.output_size[1]})"))
    if focus_bin is not None:
        b = trace.bin(*focus_bin)
        if b.rect is not None:
            _add_patch(ax, _rect(b.rect, fill=False, edgecolor=color, linewidth=line * 1.8, zorder=8))
            handles.append(Line2D([], [], color=color, linewidth=line * 1.8,
                                  label=f"bin (row {b.row}, col {b.col})"))

    if "snapped" in layers:
        box, label = ((trace.snapped_box, "snapped box (whole cells)") if trace.snapped_box is not None
                      else (trace.sampled_box, "sampled box"))
        if box is not None and not (trace.snapped_box is None and box == trace.roi):
            _add_patch(ax, _rect(box, fill=False, edgecolor=color, linewidth=line * 1.2, zorder=6))
            handles.append(Line2D([], [], color=color, linewidth=line * 1.2, label=label))

    if "roi" in layers:
        handles.insert(0, _roi(ax, trace.roi, style, width=line))

    if "argmax" in layers:
        winners = [b for b in trace.bins if b.argmax is not None]
        if winners:
            # A ring around the winning cell and a star in its corner: the number stays readable.
            ring = min(_lw(style), cell_pt * 0.05)
            for cell in {b.argmax for b in winners}:
                for edge, width in ((BLACK, ring + 1.2), (WINNER_COLOR, ring)):
                    _add_patch(ax, Rectangle((cell[1] + 0.14, cell[0] + 0.14), 0.72, 0.72, fill=False,
                                           edgecolor=edge, linewidth=width, zorder=8))
            star = min(style.marker_size * 1.3, cell_pt * 0.3)
            ax.scatter([b.argmax[1] + 0.82 for b in winners], [b.argmax[0] + 0.18 for b in winners],
                       marker="*", s=star ** 2, c=WINNER_COLOR, edgecolors=BLACK, linewidths=0.6, zorder=9)
            handles.append(Line2D([], [], marker="*", linestyle="none", markersize=style.marker_size * 1.6,
                                  markerfacecolor=WINNER_COLOR, markeredgecolor=BLACK,
                                  label="maximum of each bin"))

    if "samples" in layers:
        bins = [b for b in trace.bins if b.samples]
        if bins:
            gy, gx = trace.grid
            ry, rx = trace.recorded_grid
            bw = min((b.rect[2] - b.rect[0]) for b in bins if b.rect) if any(b.rect for b in bins) else 1.0
            bh = min((b.rect[3] - b.rect[1]) for b in bins if b.rect) if any(b.rect for b in bins) else 1.0
            diameter, k = _thinning(trace, (bw * cell_pt, bh * cell_pt), style)
            keep = {iy * rx + ix for iy in range(k // 2, ry, k) for ix in range(k // 2, rx, k)}
            samples = [s for b in bins for i, s in enumerate(b.samples) if i in keep]
            on = [s for s in samples if s.on_map]
            off = [s for s in samples if not s.on_map]
            ms = diameter ** 2
            edge = min(0.8, diameter / 6)
            if on:
                ax.scatter([s.x for s in on], [s.y for s in on], s=ms, c=SAMPLE_COLOR,
                           edgecolors=WHITE, linewidths=edge, zorder=9, gid="roiviz-samples")
            if off:
                ax.scatter([s.x for s in off], [s.y for s in off], s=ms, c=MUTED, marker="X",
                           edgecolors=WHITE, linewidths=edge, zorder=9, gid="roiviz-samples")
            step_y, step_x = k * trace.sample_step[0], k * trace.sample_step[1]
            shown = ("" if step_y == step_x == 1
                     else f"; every {ordinal(step_y)} row and column shown" if step_y == step_x
                     else f"; every {ordinal(step_y)} row and {ordinal(step_x)} column shown")
            handles.append(Line2D([], [], marker="o", linestyle="none", markersize=style.marker_size,
                                  markerfacecolor=SAMPLE_COLOR, markeredgecolor=WHITE,
                                  label=f"sampling points ({gy} x {gx} per bin{shown})"))
    if "winner" in layers:
        best = [b.samples[b.winner] for b in trace.bins if b.winner is not None]
        if best:
            star = min(style.marker_size * 1.6, trace.smallest_bin_side * cell_pt * 0.4)
            ax.scatter([s.x for s in best], [s.y for s in best], marker="*",
                       s=star ** 2, c=WINNER_COLOR, edgecolors=BLACK, linewidths=0.6, zorder=10)
            handles.append(Line2D([], [], marker="*", linestyle="none", markersize=style.marker_size * 1.6,
                                  markerfacecolor=WINNER_COLOR, markeredgecolor=BLACK,
                                  label="largest sample of each bin (max)"))

    if focus_sample is not None:
        handles += _draw_neighbours(ax, trace, focus_sample, style, cell_pt)
    if axes_frame:
        _frame(ax, view, style, trace.label if title is None else title)
    return handles


def _draw_neighbours(ax, trace: MethodTrace, focus: tuple[int, int, int], style: Style,
                     cell_pt: float) -> list:
    """One sample, lines to its four neighbours' centres, and each weight written by the centre."""
    row, col, index = focus
    sample = trace.bin(row, col).samples[index]
    # Each weight is written in its cell's outer corner (top-left, top-right, bottom-left,
    # bottom-right, the order of Sample.neighbours), away from the sample and the cell's value.
    corners = ((0.22, 0.14), (0.78, 0.14), (0.22, 0.86), (0.78, 0.86))
    size = min(_pt(style) * 1.1, cell_pt * 0.16)
    for (r, c), w, (dx, dy) in zip(sample.neighbours, sample.weights, corners):
        for edge, width in ((BLACK, _lw(style) * 1.3 + 1.6), (WINNER_COLOR, _lw(style) * 1.3)):
            _add_patch(ax, Rectangle((c + 0.04, r + 0.04), 0.92, 0.92, fill=False, edgecolor=edge,
                                   linewidth=width, zorder=8))
        # A line from the sample towards the neighbour's centre, stopping short of its number.
        ax.plot([sample.x, sample.x + 0.7 * (c + 0.5 - sample.x)],
                [sample.y, sample.y + 0.7 * (r + 0.5 - sample.y)], color=BLACK,
                linewidth=_lw(style, True), zorder=8)
        ax.text(c + dx, r + dy, f"{w:.2f}", ha="center", va="center", fontsize=size,
                color=BLACK, zorder=11, clip_on=True,
                bbox=dict(boxstyle="round,pad=0.1", facecolor=WINNER_COLOR, edgecolor=BLACK,
                          linewidth=0.5))
    ax.scatter([sample.x], [sample.y], s=(style.marker_size * 1.8) ** 2, c=SAMPLE_COLOR, marker="o",
               edgecolors=WINNER_COLOR, linewidths=2.0, zorder=12)
    return [Line2D([], [], color=BLACK, marker="o", markerfacecolor=SAMPLE_COLOR,
                   markeredgecolor=WINNER_COLOR, linewidth=_lw(style, True),
                   label=f"one sample at ({sample.x:.3f}, {sample.y:.3f}); its four neighbours and weights")]


def _legend(fig: Figure, handles: list, style: Style, ncols: int = 2, size: float = 0.85) -> None:
    """The legend in its own row below every axes (constrained layout keeps it off them), its
    text ``size`` times the style's font size."""
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=ncols, fontsize=_pt(style) * size,
                   frameon=False)


def _legend_columns(handles: list, width_in: float, style: Style) -> int:
    """As many legend columns as fit in ``width_in`` inches (the longest label sets the width)."""
    longest = max((len(h.get_label()) for h in handles), default=10)
    column_in = (longest * 0.55 * _pt(style) * 0.85 + 30) / 72
    return int(max(1, min(len(handles), width_in // column_in)))


def _panel_size(view: Rect, cell_in: float) -> tuple[float, float]:
    """Inches taken by a map panel showing ``view``, with its tick labels, axis labels and title."""
    return (view[2] - view[0]) * cell_in + 0.9, (view[3] - view[1]) * cell_in + 0.9


def method_figure(trace: MethodTrace, values: np.ndarray, *, style: Style = Style(),
                  layers: Collection[str] = LAYERS, zrange: tuple[float, float] | None = None,
                  focus_bin: tuple[int, int] | None = None,
                  focus_sample: tuple[int, int, int] | None = None,
                  guide_bins: Sequence[Rect] = (), regions: MethodTrace | None = None,
                  title: str | None = None) -> Figure:
    """One method's panel as a figure (see :func:`draw_method` for the arguments)."""
    view = view_rect([trace])
    cell_in = cell_inches(view, [trace], style)
    width, height = _panel_size(view, cell_in)
    fig = _new_figure(max(width, 4.0 * _scale(style)), height + 1.0, style, scaled=False)
    ax = fig.add_subplot()
    handles = draw_method(ax, trace, values, style=style, layers=layers, zrange=zrange,
                          focus_bin=focus_bin, focus_sample=focus_sample, guide_bins=guide_bins,
                          regions=regions, title=title, view=None if focus_sample else view,
                          cell_in=None if focus_sample else cell_in)
    _legend(fig, handles, style, ncols=_legend_columns(handles, max(width, 4.0), style))
    fit_numbers(fig)
    return fig


def _draw_output(ax, trace: MethodTrace, zrange: tuple[float, float], style: Style, title: str,
                 cell_in: float) -> None:
    """A method's output as a heatmap, each number printed if it fits its bin (``cell_in`` inches)."""
    out = trace.output
    ph, pw = out.shape
    ax.imshow(out, cmap=OUTPUT_COLORSCALE, vmin=zrange[0], vmax=zrange[1], extent=(0, pw, ph, 0),
              interpolation="nearest")
    integral = _integral(out)
    longest = max((_number(v, integral) for v in out.ravel()), key=len, default="0")
    size = _number_pt(cell_in * 72.0, longest, style)
    for (r, c), v in np.ndenumerate(out):
        _cell_number(ax, c + 0.5, r + 0.5, _number(v, integral), size, _text_color(v, *zrange), (1.0, 1.0))
    step = 1 if max(ph, pw) <= 8 else 2
    ax.set_xticks(np.arange(0, pw, step) + 0.5, [str(i) for i in range(0, pw, step)])
    ax.set_yticks(np.arange(0, ph, step) + 0.5, [str(i) for i in range(0, ph, step)])
    ax.tick_params(labelsize=_pt(style) * 0.75, length=0, pad=1.5)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=_pt(style) * 0.95, loc="left")


def _output_cell(shape: tuple[int, int], style: Style, room: float = 3.2) -> float:
    """Inches per output bin: ``room`` inches for the grid, but at least :data:`MIN_OUTPUT_CELL_INCHES`."""
    return max(MIN_OUTPUT_CELL_INCHES, min(0.8, room / max(shape))) * _scale(style)


def output_figure(trace: MethodTrace, *, style: Style = Style(),
                  zrange: tuple[float, float] | None = None, title: str | None = None) -> Figure:
    """A method's output ``[PH, PW]`` as an annotated heatmap (rows and columns numbered from 0)."""
    ph, pw = trace.output.shape
    cell = _output_cell((ph, pw), style, room=2.4)
    fig = _new_figure(max(2.6, cell * pw + 0.8), max(2.2, cell * ph + 0.8), style, scaled=False)
    _draw_output(fig.add_subplot(), trace, zrange or _zrange(trace.output), style,
                 title or f"{trace.label}: output {ph} x {pw}", cell)
    fit_numbers(fig)
    return fig


def outputs_figure(traces: Mapping[str, MethodTrace], *, style: Style = Style(),
                   titles: Mapping[str, str] | None = None) -> Figure:
    """Several outputs side by side on one shared colour scale."""
    if not traces:
        raise ValueError("outputs_figure needs at least one trace")
    outs = [t.output for t in traces.values()]
    zrange = _zrange(np.concatenate([o.ravel() for o in outs]))
    ph, pw = outs[0].shape
    n = len(traces)
    cols = 2 if n == 4 else n          # four outputs as a 2 x 2 grid, larger than a row
    rows = -(-n // cols)
    cell = _output_cell((ph, pw), style, room=3.0)
    fig = _new_figure(max(3.0, cols * (cell * pw + 1.0)), max(2.4, rows * (cell * ph + 0.9)), style,
                      scaled=False)
    for i, (key, trace) in enumerate(traces.items()):
        title = (titles or {}).get(key, trace.label)
        _draw_output(fig.add_subplot(rows, cols, i + 1), trace, zrange, style, title, cell)
    fit_numbers(fig)
    return fig


#: Resolution of the Playground's downloaded comparison figure (dots per inch): its smallest
#: text (tick labels, 8.8 pt) is 15 px, and it draws in about two thirds of the time of 150 dpi
#: (benchmarks/bench_exports.py).
COMPARISON_DPI = 120


def comparison_figure(traces: Mapping[str, MethodTrace], values: np.ndarray, *,
                      style: Style = Style()) -> Figure:
    """The Playground as a static figure: one panel per method and its output below it.

    Every panel shows the same part of the map (:func:`view_rect` of all traces) at the same
    cell size (:func:`cell_inches`); up to four panels sit in a row unless that row would be
    wider than about 20 inches, then two per row. The legend is one row below everything.

    Args:
        traces: the methods to show, in order (all on the same map and box).
        values: the ``[H, W]`` channel the traces were computed on.
    """
    if not traces:
        raise ValueError("comparison_figure needs at least one trace")
    items = list(traces.values())
    n = len(items)
    first = items[0]
    zrange = _zrange(values)
    out_range = _zrange(np.concatenate([t.output.ravel() for t in items]))
    view = view_rect(items)
    cell_in = cell_inches(view, items, style)
    panel_w, panel_h = _panel_size(view, cell_in)
    out_cell = _output_cell(first.output.shape, style, room=2.6)
    out_w = first.output.shape[1] * out_cell + 0.8
    out_h = first.output.shape[0] * out_cell + 0.8
    column_w = max(panel_w, out_w, 3.2 * _scale(style))
    cols = n if n * column_w <= 24.0 * _scale(style) else min(n, 2)
    rows = -(-n // cols)
    width = cols * column_w
    fig = _new_figure(width, rows * (panel_h + out_h) + 1.6 * _scale(style), style, scaled=False)
    grid = fig.add_gridspec(2 * rows, cols, height_ratios=[panel_h, out_h] * rows)
    handles: dict[str, object] = {}
    for i, trace in enumerate(items):
        r, c = divmod(i, cols)
        for h in draw_method(fig.add_subplot(grid[2 * r, c]), trace, values, style=style, zrange=zrange,
                             view=view, cell_in=cell_in):
            # Percentages differ per method: they go in the output titles, not the shared legend.
            label = re.sub(r": [\d.]+% of the RoI$", "", h.get_label())
            if label not in handles:
                h.set_label(label)
                handles[label] = h
        a = trace.areas
        _draw_output(fig.add_subplot(grid[2 * r + 1, c]), trace, out_range, style,
                     f"output; lost {a.percent('lost'):.1f}%, gained {a.percent('gained'):.1f}%", out_cell)
    legend = list(handles.values())
    _legend(fig, legend, style, ncols=_legend_columns(legend, width, style))
    fig.suptitle(f"Box {tuple(round(v, 2) for v in first.image_box)} px, stride {first.settings.stride:g}",
                 fontsize=_pt(style))
    fit_numbers(fig)
    return freeze_layout(fig)


#: The blog-column figure: its width in CSS pixels as shown in a post, and the least size of
#: any of its texts there (CSS pixels).
BLOG_WIDTH_PX = 700
BLOG_MIN_TEXT_PX = 12.0
#: Its width on paper (inches); saved at :data:`BLOG_DPI` it is twice as sharp as the column.
BLOG_WIDTH_INCHES = 7.0
BLOG_DPI = 2 * BLOG_WIDTH_PX / BLOG_WIDTH_INCHES


def blog_min_pt(width_in: float = BLOG_WIDTH_INCHES) -> float:
    """The least font size (points) that stays :data:`BLOG_MIN_TEXT_PX` when a figure
    ``width_in`` inches wide is shown :data:`BLOG_WIDTH_PX` CSS pixels wide."""
    return BLOG_MIN_TEXT_PX * 72.0 * width_in / BLOG_WIDTH_PX


def blog_figure(traces: Mapping[str, MethodTrace], values: np.ndarray, *, thinned: str = "") -> Figure:
    """The Playground for a blog's 700-px column: the methods as a 2 x 2 grid of panels, each
    method's map panel above its output, every text at least 12 px at 700 px wide.

    The figure is :data:`BLOG_WIDTH_INCHES` wide; every text is at least :func:`blog_min_pt`
    points (the style's sizes are chosen so), and a cell's number is printed only if it fits its
    cell at that size (at 14 x 14 bins the outputs are colours alone: their numbers are in the
    JSON export). The legend is below, in two columns.

    Args:
        traces: the methods to show, in order (one to four, on the same map and box).
        values: the ``[H, W]`` channel the traces were computed on.
        thinned: a line saying which sampling points are thinned (:func:`roiviz.drawing.thinned.thinning_line`).
    """
    if not traces:
        raise ValueError("blog_figure needs at least one trace")
    items = list(traces.values())
    style = Style()
    min_pt = blog_min_pt()
    cols = 1 if len(items) == 1 else 2
    rows = -(-len(items) // cols)
    zrange = _zrange(values)
    out_range = _zrange(np.concatenate([t.output.ravel() for t in items]))
    view = view_rect(items)
    column_in = BLOG_WIDTH_INCHES / cols
    side = max(view[2] - view[0], view[3] - view[1])
    cell_in = (column_in - 0.75) / side                   # the map panel fills its column
    ph, pw = items[0].output.shape
    out_cell = min((column_in - 0.6) / max(ph, pw), max(0.37, 2.4 / max(ph, pw)))   # a grid >= 2.4 in
    panel_h = (view[3] - view[1]) * cell_in + 0.75
    out_h = ph * out_cell + 0.55
    fig = Figure(figsize=(BLOG_WIDTH_INCHES, rows * (panel_h + out_h) + 1.5 + (0.3 if thinned else 0.0)),
                 layout="constrained", facecolor=WHITE)
    grid = fig.add_gridspec(2 * rows, cols, height_ratios=[panel_h, out_h] * rows)
    handles: dict[str, object] = {}
    for i, trace in enumerate(items):
        r, c = divmod(i, cols)
        ax = fig.add_subplot(grid[2 * r, c])
        for h in draw_method(ax, trace, values, style=style, zrange=zrange, view=view, cell_in=cell_in,
                             layers=LAYERS - {"values"}):
            label = re.sub(r": [\d.]+% of the RoI$", "", h.get_label())
            if label not in handles:
                h.set_label(label)
                handles[label] = h
        ax.set_xlabel("")
        ax.set_ylabel("")
        a = trace.areas
        _draw_output(fig.add_subplot(grid[2 * r + 1, c]), trace, out_range, style,
                     f"output; lost {a.percent('lost'):.1f}%, gained {a.percent('gained'):.1f}%", out_cell)
    legend = list(handles.values())
    # Two columns where the longest label fits half the width, else one.
    longest = max((len(h.get_label()) for h in legend), default=10)
    two = (longest * 0.52 * min_pt + 40) * 2 / 72 <= BLOG_WIDTH_INCHES
    _legend(fig, legend, style, ncols=2 if two else 1, size=min_pt / _pt(style))
    first = items[0]
    title = (f"Box {tuple(round(v, 1) for v in first.image_box)} px, stride {first.settings.stride:g}; "
             "axes in feature cells")
    fig.suptitle(title + (f"\n{thinned}" if thinned else ""), fontsize=min_pt, wrap=True)
    for text in fig.findobj(lambda a: hasattr(a, "get_fontsize") and hasattr(a, "set_fontsize")):
        if text.get_gid() == _NUMBER_GID:
            if text.get_fontsize() < min_pt:
                text.remove()
        elif text.get_fontsize() < min_pt:
            text.set_fontsize(min_pt)
    fit_numbers(fig)
    return freeze_layout(fig)


def image_figure(image: np.ndarray, box: Rect, stride: float, *, style: Style = Style(),
                 title: str | None = None) -> Figure:
    """An RGB image ``uint8 [H, W, 3]`` with the proposal (image pixels) and a line every ``stride`` px.

    The grid shows the patches the backbone turns into feature cells.
    """
    height, width = image.shape[:2]
    fig = _new_figure(5.0, 5.0 * height / width + 1.0, style)
    ax = fig.add_subplot()
    ax.imshow(image, extent=(0, width, height, 0), interpolation="antialiased")
    for x in np.arange(stride, width, stride):
        ax.axvline(x, color=WHITE, alpha=0.55, linewidth=0.7)
    for y in np.arange(stride, height, stride):
        ax.axhline(y, color=WHITE, alpha=0.55, linewidth=0.7)
    handle = _roi(ax, box, style, label=f"proposal: x {box[0]:g} to {box[2]:g}, y {box[1]:g} to {box[3]:g} px")
    grid = Line2D([], [], color=LEGEND_GRAY, linewidth=0.7, label=f"one feature cell = {stride:g} x {stride:g} px")
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_xticks(np.arange(0, width + 1, stride * (2 if width / stride > 12 else 1)))
    ax.set_yticks(np.arange(0, height + 1, stride * (2 if height / stride > 12 else 1)))
    ax.tick_params(labelsize=_pt(style) * 0.7, length=2)
    ax.set_xlabel("x (image pixels)", fontsize=_pt(style) * 0.85)
    ax.set_ylabel("y (image pixels)", fontsize=_pt(style) * 0.85)
    ax.set_title(title or f"Image {width} x {height} px", fontsize=_pt(style) * 1.1, loc="left")
    _legend(fig, [handle, grid], style, ncols=1)
    return fig


def sweep_figure(result, *, style: Style = Style(), labels: Mapping[str, str] | None = None) -> Figure:
    """Two stacked charts against the offset: the chosen bin, and the mean change of the output.

    Args:
        result: a :class:`roiviz.lessons.sweeps.SweepResult`.
        labels: display names of the series (default: the registry's, :mod:`roiviz.methods`).
    """
    labels = labels or LABELS
    fig = _new_figure(9.0, 6.0, style)
    top, bottom = fig.subplots(2, 1, sharex=True)
    mark_every = max(1, len(result.offsets) // 12)
    handles = []
    for series in result.series:
        color, line, marker = series_style(series)
        kw = dict(color=color, linestyle=line, marker=marker, markevery=mark_every,
                  markersize=style.marker_size * 0.7, linewidth=_lw(style) * 0.9)
        (h,) = top.plot(result.offsets, result.bin_values[series], label=labels.get(series, series), **kw)
        bottom.plot(result.offsets, result.mean_abs_change[series], **kw)
        handles.append(h)
    action = "grown" if result.scale else "moved"
    stride = result.settings.stride
    for ax in (top, bottom):
        ax.axvline(0, color=AXIS_LINE, linewidth=0.8, linestyle=(0, (2, 2)))
        ax.grid(True, color=CHART_GRID, linewidth=0.6)
        ax.tick_params(labelsize=_pt(style) * 0.8)
    # Two lines each: at a projector's size one line is taller than its chart and meets the other.
    top.set_ylabel(f"output bin\n(row {result.bin[0]}, col {result.bin[1]})", fontsize=_pt(style) * 0.9)
    bottom.set_ylabel("mean |change|\nof the output", fontsize=_pt(style) * 0.9)
    bottom.set_xlabel(f"box {action} along {result.axis} by (feature cells)", fontsize=_pt(style) * 0.9)
    pixels = top.secondary_xaxis("top", functions=(lambda c: c * stride, lambda p: p / stride))
    pixels.set_xlabel("image pixels", fontsize=_pt(style) * 0.8)
    pixels.tick_params(labelsize=_pt(style) * 0.75)
    top.set_title(f"Output as the box is {action} by fractions of a cell (stride {stride:g} px)",
                  fontsize=_pt(style) * 1.05, loc="left")
    _legend(fig, handles, style, ncols=min(3, len(handles)))
    return fig


def gradient_figure(result, *, style: Style = Style(), traces: Mapping[str, MethodTrace] | None = None,
                    labels: Mapping[str, str] | None = None, ncols: int | None = None) -> Figure:
    """One heatmap per method of ``d(target) / d(cell)`` with the proposal drawn on it.

    Args:
        result: a :class:`roiviz.lessons.gradients.GradientResult`.
        traces: optional traces of the same box; each panel then also shows that method's
            snapped (or sampled) box.
        labels: display names (default: the registry's, :mod:`roiviz.methods`).
        ncols: panels per row (default two; a projector's wide screen takes them in one row).
    """
    labels = labels or LABELS
    keys = list(result.maps)
    vmax = max(float(np.max(np.abs(g))) for g in result.maps.values()) or 1.0
    height, width = next(iter(result.maps.values())).shape
    ncols = max(1, min(ncols or 2, len(keys)))
    nrows = -(-len(keys) // ncols)
    stride = result.settings.stride
    roi = feature_rect(result.box, stride)
    # One view for all panels: every cell that receives a gradient and the RoI, plus a margin.
    cells = np.argwhere(np.any([np.abs(g) > 1e-12 for g in result.maps.values()], axis=0))   # [n, 2]
    rects = [roi] + ([(float(cells[:, 1].min()), float(cells[:, 0].min()),
                       float(cells[:, 1].max() + 1), float(cells[:, 0].max() + 1))] if len(cells) else [])
    xs, ys = [v for r in rects for v in (r[0], r[2])], [v for r in rects for v in (r[1], r[3])]
    view = (max(min(xs) - 0.6, -0.3), max(min(ys) - 0.6, -0.3), min(max(xs) + 0.6, width + 0.3),
            min(max(ys) + 0.6, height + 0.3))
    view_w, view_h = view[2] - view[0], view[3] - view[1]
    cell = min(0.5, 5.0 / max(view_w, 1))
    # One row (a projector): room under the maps for the colour scale and the legend.
    fig = _new_figure(ncols * (view_w * cell + 0.9) + 1.0,
                      nrows * (view_h * cell + 0.8) + (0.6 if nrows > 1 else 2.6), style)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    image = None
    for ax, key in zip(axes, keys):
        g = result.maps[key]
        image = ax.imshow(g, cmap=GRADIENT_COLORMAP, norm=PowerNorm(0.5, vmin=0.0, vmax=vmax),
                          extent=(0, width, height, 0), interpolation="nearest")
        for x in range(width + 1):
            ax.axvline(x, color=FAINT_GRID, linewidth=0.3)
        for y in range(height + 1):
            ax.axhline(y, color=FAINT_GRID, linewidth=0.3)
        if height * width <= 400:
            size = _number_pt(cell * _scale(style) * 72.0, "0.000", style)   # "0.017": 2 digits, 5 characters
            for (r, c), v in np.ndenumerate(g):
                inside = view[0] <= c and c + 1 <= view[2] and view[1] <= r and r + 1 <= view[3]
                if abs(v) > 5e-3 and inside:
                    _cell_number(ax, c + 0.5, r + 0.5, f"{v:.2g}", size,
                                 WHITE if v > 0.3 * vmax else BLACK, (1.0, 1.0), zorder=8)
        trace = (traces or {}).get(key)
        if trace is not None:
            box = trace.snapped_box or (trace.sampled_box if trace.sampled_box != trace.roi else None)
            if box is not None:
                _add_patch(ax, _rect(box, fill=False, edgecolor=METHOD_COLORS[trace.method],
                                   linewidth=_lw(style)))
        _roi(ax, roi, style)
        reached = result.cells_reached(key)
        _frame(ax, view, style, f"{labels.get(key, key)}: {reached} cell{'s' if reached != 1 else ''}")
        if nrows == 1 and ncols > 2:     # narrow panels: every other cell number on the axes
            for axis in (ax.xaxis, ax.yaxis):
                ticks = axis.get_ticklocs()
                axis.set_ticks(ticks[::2], [f"{v:g}" for v in ticks[::2]])
    for ax in axes[len(keys):]:
        ax.set_visible(False)
    if image is not None:
        # One row (a projector): the scale goes under the maps, its long label then fits its width.
        bar = fig.colorbar(image, ax=axes[:len(keys)].tolist(), shrink=0.8 if nrows > 1 else 0.5,
                           location="right" if nrows > 1 else "bottom")
        bar.set_label(f"d({result.target_label}) / d(cell)  (square-root colour scale)",
                      fontsize=_pt(style) * 0.8)
        bar.ax.tick_params(labelsize=_pt(style) * 0.7)
        if nrows == 1:                   # under the maps, on a square-root scale: few labels, apart
            bar.set_ticks([t for t in MaxNLocator(4).tick_values(0.0, vmax) if 0.0 <= t <= vmax])
    handles = [Line2D([], [], color=ROI_COLOR, linestyle="--", linewidth=_lw(style), label="RoI (the proposal)")]
    if traces:
        handles.append(Line2D([], [], color=LEGEND_GRAY, linewidth=_lw(style),
                              label="snapped / sampled box (method colour)"))
    _legend(fig, handles, style)
    fit_numbers(fig)
    return fig


def evidence_figure(table, *, style: Style = Style()) -> Figure:
    """Grouped bars of a :class:`roiviz.lessons.evidence.Table`: one group per metric, one bar per row.

    Mask AP and box AP are drawn in separate panels, titled as such. Bars start at 0 so that
    their lengths compare honestly; each bar is labelled with its value. The layer is coded by
    colour and by the bar's label; ``average`` aggregation by hatching.
    """
    from ..lessons.evidence import METRICS

    layer_color = {"RoIPool": METHOD_COLORS["roi_pool"], "RoIWarp": METHOD_COLORS["roi_warp"],
                   "RoIAlign": METHOD_COLORS["roi_align"]}
    panels = [("mask AP", [r.mask for r in table.rows])]
    if table.has_box:
        panels.append(("box AP", [r.box for r in table.rows]))
    fig = _new_figure(4.6 * len(panels) + 1.0, 4.6, style)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    n = len(table.rows)
    width = 0.8 / n
    top = max(v for _, rows in panels for row in rows if row for v in row)
    handles = []
    for ax, (name, rows) in zip(axes, panels):
        for i, (row, vals) in enumerate(zip(table.rows, rows)):
            if vals is None:
                continue
            xs = np.arange(len(METRICS)) + (i - (n - 1) / 2) * width
            bars = ax.bar(xs, vals, width * 0.92, color=layer_color[row.layer], edgecolor=BLACK,
                          linewidth=0.6, hatch="//" if row.aggregation == "average" else None,
                          label=row.label)
            ax.bar_label(bars, labels=[f"{v:.1f}" for v in vals], fontsize=_pt(style) * 0.8, padding=1,
                         rotation=90 if n > 3 else 0)
            if ax is axes[0]:
                handles.append(bars)
        ax.set_xticks(np.arange(len(METRICS)), [f"{name.split()[0]} {m}" for m in METRICS])
        ax.set_ylim(0, top * 1.18)
        ax.set_ylabel(f"{name} on COCO minival (%)", fontsize=_pt(style) * 0.85)
        ax.set_title(f"{name}, {table.backbone} (stride {table.stride})", fontsize=_pt(style), loc="left")
        ax.tick_params(labelsize=_pt(style) * 0.8)
        ax.grid(True, axis="y", color=CHART_GRID, linewidth=0.6)
        ax.set_axisbelow(True)
    _legend(fig, handles, style, ncols=min(3, n))
    fig.suptitle(f"Mask R-CNN (He et al., ICCV 2017), Table {table.key}", fontsize=_pt(style) * 1.05)
    return fig


def lesson_figure(lesson, step, *, style: Style = Style()) -> Figure:
    """The figure of one walkthrough step (:class:`roiviz.lessons.walkthrough.Step` of a ``Lesson``).

    ``image`` steps show the photo; ``map`` steps a method panel with, on its right, the outputs
    the step quotes (one shared colour scale); ``outputs`` steps the outputs side by side.
    """
    traces = lesson.traces
    number = lesson.steps.index(step) + 1
    if step.figure == "image":
        return image_figure(lesson.image, lesson.box, lesson.settings.stride, style=style,
                            title=f"Step {number}: {step.title}")
    titles = {k: _TRACE_TITLES.get(k, traces[k].label) for k in step.outputs}
    if step.figure == "outputs":
        fig = outputs_figure({k: traces[k] for k in step.outputs}, style=style, titles=titles)
        fig.suptitle(f"Step {number}: {step.title}", fontsize=_pt(style) * 1.1, x=0.02, ha="left")
        return fig
    trace = traces[step.method]
    guide = [b.rect for b in traces[step.guide].bins if b.rect is not None] if step.guide else ()
    view = view_rect([trace])
    cell_in = cell_inches(view, [trace], style)
    width, height = _panel_size(view, cell_in)
    n_out = len(step.outputs)
    out_cell = _output_cell(trace.output.shape, style, room=1.6)
    out_w = trace.output.shape[1] * out_cell + 0.8
    fig = _new_figure(width + (out_w if n_out else 0.0), max(height, n_out * (trace.output.shape[0] * out_cell + 0.8))
                      + 1.4 * _scale(style), style, scaled=False)
    grid = fig.add_gridspec(max(n_out, 1) + (1 if n_out == 1 else 0), 2 if n_out else 1,
                            width_ratios=[width, out_w] if n_out else None)
    ax = fig.add_subplot(grid[:, 0])
    handles = draw_method(ax, trace, lesson.values, style=style, layers=step.layers,
                          focus_bin=step.focus_bin, focus_sample=step.focus_sample, guide_bins=guide,
                          regions=traces[step.regions] if step.regions else None,
                          title="", view=None if step.focus_sample else view,
                          cell_in=None if step.focus_sample else cell_in)
    fig.suptitle(f"Step {number}: {step.title} · {_TRACE_TITLES.get(step.method, trace.label)}",
                 fontsize=_pt(style) * 1.1, x=0.02, ha="left")
    if n_out:
        outs = [traces[k].output for k in step.outputs]
        zrange = _zrange(np.concatenate([o.ravel() for o in outs]))
        for i, key in enumerate(step.outputs):
            _draw_output(fig.add_subplot(grid[i, 1]), traces[key], zrange, style, f"{titles[key]}: output",
                         out_cell)
    _legend(fig, handles, style, ncols=_legend_columns(handles, width + out_w, style))
    fit_numbers(fig)
    return fig


#: Titles of traces that are not one of the four methods' defaults.
_TRACE_TITLES = {"roi_align": "RoI Align (average)", "roi_align_max": "RoI Align (max)",
                 "roi_align_unaligned": "RoI Align (aligned=False)"}
