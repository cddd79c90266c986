"""Static figures (matplotlib), drawn from traces and results only: no geometry is recomputed.

Every function returns a ``matplotlib.figure.Figure`` built without pyplot (thread-safe, no
display, Agg or SVG writers only), so pages can show it as a PNG and offer it as PNG or SVG
(:func:`figure_png`, :func:`figure_svg`). Maps are drawn in the drawing frame of
:mod:`roiviz.geometry` (feature units, cell ``(i, j)`` spans ``[j, j+1) x [i, i+1)``, y down).
Colours, hatches and sizes come from :mod:`roiviz.style`; lost, gained and outside areas differ
by hatching and legend text as well as colour, so nothing relies on red versus green alone.
"""

from __future__ import annotations

import re

from collections import Counter
from collections.abc import Collection, Mapping, Sequence

import numpy as np
from matplotlib import patheffects
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from .export import figure_png, figure_svg
from .style import (
    AREA_STYLES,
    AXIS_LINE,
    BLACK,
    CHART_GRID,
    FAINT_GRID,
    FEATURE_COLORSCALE,
    GRADIENT_COLORMAP,
    OUTPUT_COLORSCALE,
    GRID_LINE,
    LEGEND_GRAY,
    MUTED,
    ROI_COLOR,
    SAMPLE_COLOR,
    WHITE,
    WINNER_COLOR,
    Style,
    rgb_fraction,
)
from .methods import REGISTRY
from .records import MethodTrace, Rect, feature_rect

#: Display names of every method and variant.
LABELS = {key: method.label for key, method in REGISTRY.items()}

__all__ = [
    "LAYERS",
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
_CELL_INCHES = 0.36
#: Cell values are written in the cells when the map has at most this many cells.
MAX_ANNOTATED_CELLS = 400


def _pt(style: Style) -> float:
    """Font size in points for a style (its ``font_size`` is in CSS pixels)."""
    return style.font_size * 0.9


def _lw(style: Style, thin: bool = False) -> float:
    return (style.thin_line if thin else style.line_width) * 0.9


def _new_figure(width: float, height: float, style: Style) -> Figure:
    """A blank figure; presenter figures are 1.3 times larger, their text 1.5 times (so text
    grows relative to the picture, and the page shows the figure wider)."""
    scale = 1.3 if style.presenter else 1.0
    return Figure(figsize=(width * scale, height * scale), layout="constrained", facecolor=WHITE)


def series_style(series: str) -> tuple[str, str, str]:
    """``(colour, line style, marker)`` of a method or sweep series (from :mod:`roiviz.methods`)."""
    method = REGISTRY[series]
    return method.color, method.line, method.marker


def _text_color(value: float, lo: float, hi: float) -> str:
    """Black on light cells, white on dark ones (both colour maps used here are light for high values)."""
    return BLACK if value >= (lo + hi) / 2 else WHITE


def _draw_values(ax, values: np.ndarray, zrange: tuple[float, float], style: Style,
                 scale: float = 1.0) -> None:
    height, width = values.shape
    if height * width > MAX_ANNOTATED_CELLS:
        return
    size = _pt(style) * (0.95 if max(height, width) <= 12 else 0.7) * scale
    fmt = "{:.3g}"
    for (r, c), v in np.ndenumerate(values):
        color = _text_color(v, *zrange)
        halo = WHITE if color == BLACK else BLACK
        ax.text(c + 0.5, r + 0.5, fmt.format(v), ha="center", va="center", fontsize=size, color=color,
                zorder=7.5, clip_on=True, path_effects=[patheffects.withStroke(linewidth=2.2, foreground=halo)])


def _zrange(values: np.ndarray) -> tuple[float, float]:
    lo, hi = float(np.min(values)), float(np.max(values))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def _rect(rect: Rect, **kw) -> Rectangle:
    return Rectangle((rect[0], rect[1]), rect[2] - rect[0], rect[3] - rect[1], **kw)


def _roi(ax, rect: Rect, style: Style, label: str = "RoI (the proposal)") -> Line2D:
    """The true box: black dashed over a white halo, visible on dark and light cells."""
    ax.add_patch(_rect(rect, fill=False, edgecolor=WHITE, linewidth=_lw(style) + 2.5, zorder=6))
    ax.add_patch(_rect(rect, fill=False, edgecolor=ROI_COLOR, linewidth=_lw(style), linestyle="--", zorder=7))
    return Line2D([], [], color=ROI_COLOR, linestyle="--", linewidth=_lw(style), label=label)


def _extent(map_shape: tuple[int, int], rects: Sequence[Rect | None], margin: float = 0.3) -> Rect:
    """The whole map, widened to show any rectangle that reaches past it."""
    height, width = map_shape
    xs = [0.0, float(width)] + [v for r in rects if r for v in (r[0], r[2])]
    ys = [0.0, float(height)] + [v for r in rects if r for v in (r[1], r[3])]
    return (min(xs) - margin, min(ys) - margin, max(xs) + margin, max(ys) + margin)


def _frame(ax, extent: Rect, map_shape: tuple[int, int], style: Style, title: str | None) -> None:
    x1, y1, x2, y2 = extent
    height, width = map_shape
    step = 1 if max(height, width) <= 16 else (2 if max(height, width) <= 32 else 8)
    xt, yt = np.arange(0, width + 1, step), np.arange(0, height + 1, step)
    ax.set_xticks(xt[(xt >= x1) & (xt <= x2)])   # ticks first: set_xticks widens the limits
    ax.set_yticks(yt[(yt >= y1) & (yt <= y2)])
    ax.set_xlim(x1, x2)
    ax.set_ylim(y2, y1)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=_pt(style) * 0.8, length=2)
    ax.set_xlabel("x (feature cells)", fontsize=_pt(style) * 0.85)
    ax.set_ylabel("y (feature cells)", fontsize=_pt(style) * 0.85)
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title, fontsize=_pt(style) * 1.1, loc="left")


def _draw_map(ax, values: np.ndarray, zrange: tuple[float, float], style: Style, numbers: bool,
              cmap: str = FEATURE_COLORSCALE, text_scale: float = 1.0) -> None:
    height, width = values.shape
    ax.imshow(values, cmap=cmap, vmin=zrange[0], vmax=zrange[1], extent=(0, width, height, 0),
              interpolation="nearest", zorder=0)
    if max(height, width) <= 64:
        for x in range(width + 1):
            ax.axvline(x, color=GRID_LINE, linewidth=0.4, zorder=1)
        for y in range(height + 1):
            ax.axhline(y, color=GRID_LINE, linewidth=0.4, zorder=1)
    if numbers:
        _draw_values(ax, values, zrange, style, scale=text_scale)


def draw_method(ax, trace: MethodTrace, values: np.ndarray, *, style: Style = Style(),
                layers: Collection[str] = LAYERS, zrange: tuple[float, float] | None = None,
                focus_bin: tuple[int, int] | None = None,
                focus_sample: tuple[int, int, int] | None = None,
                guide_bins: Sequence[Rect] = (), regions: MethodTrace | None = None,
                title: str | None = None) -> list:
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
    """
    unknown = set(layers) - LAYERS
    if unknown:
        raise ValueError(f"unknown layers {sorted(unknown)}; choose from {sorted(LAYERS)}")
    zrange = zrange or _zrange(values)
    color = REGISTRY[trace.method].color
    handles: list = []
    extent = _extent(trace.map_shape, [trace.roi, trace.snapped_box, trace.sampled_box, trace.read_region])
    if focus_sample is not None:
        # Zoom on the sample: its four neighbours and one cell around them.
        cells = trace.bin(*focus_sample[:2]).samples[focus_sample[2]].neighbours
        rows, cols = [r for r, _ in cells], [c for _, c in cells]
        extent = (min(cols) - 1.0, min(rows) - 1.0, max(cols) + 2.0, max(rows) + 2.0)
    zoom = min(2.0, max(trace.map_shape) / max(extent[2] - extent[0], extent[3] - extent[1]))
    if "map" in layers:
        _draw_map(ax, values, zrange, style, numbers="values" in layers, text_scale=max(zoom, 1.0))

    for name in ("lost", "gained", "outside"):
        if name not in layers:
            continue
        area_color, _, hatch, label = AREA_STYLES[name]
        source = regions or trace
        rects = source.region_rects(name)
        for r in rects:
            ax.add_patch(_rect(r, facecolor=(*rgb_fraction(area_color), 0.30), edgecolor=area_color,
                               hatch=hatch, hatchcolor=area_color, linewidth=_lw(style, True), zorder=3))
        if rects or name != "outside":
            handles.append(Patch(facecolor=(*rgb_fraction(area_color), 0.30), edgecolor=area_color, hatch=hatch,
                                 label=f"{label}: {source.areas.percent(name):.1f}% of the RoI"))

    if "overlap" in layers:
        counts = Counter(cell for b in trace.bins for cell in b.cells)
        twice = [cell for cell, n in counts.items() if n > 1]
        for r, c in twice:
            ax.add_patch(Rectangle((c, r), 1, 1, fill=False, hatch="xx", edgecolor=BLACK,
                                   hatchcolor=BLACK, linewidth=0, alpha=0.55, zorder=3))
        if twice:
            handles.append(Patch(fill=False, hatch="xx", edgecolor=BLACK,
                                 label=f"read by more than one bin ({len(twice)} cells)"))

    for r in guide_bins:
        ax.add_patch(_rect(r, fill=False, edgecolor=color, linestyle=":", linewidth=_lw(style), zorder=4))
    if guide_bins:
        handles.append(Line2D([], [], color=color, linestyle=":", linewidth=_lw(style),
                              label="exact split (fractions of a cell)"))

    if "bins" in layers:
        drawn = [b for b in trace.bins if b.rect is not None]
        # RoI Pool's bins are whole cells and may overlap: draw each slightly inset so that two
        # bins sharing a cell stay visible as two outlines.
        inset = 0.07 if trace.method == "roi_pool" else 0.0
        for b in drawn:
            x1, y1, x2, y2 = b.rect
            ax.add_patch(_rect((x1 + inset, y1 + inset, x2 - inset, y2 - inset), fill=False, edgecolor=color,
                               linewidth=_lw(style, True) * 1.4, zorder=5))
        if drawn:
            handles.append(Line2D([], [], color=color, linewidth=_lw(style, True) * 1.4,
                                  label=f"bins ({trace.settings.output_size[0]} x {trace.settings.output_size[1]})"))
    if focus_bin is not None:
        b = trace.bin(*focus_bin)
        if b.rect is not None:
            ax.add_patch(_rect(b.rect, fill=False, edgecolor=color, linewidth=_lw(style) * 1.8, zorder=8))
            handles.append(Line2D([], [], color=color, linewidth=_lw(style) * 1.8,
                                  label=f"bin (row {b.row}, col {b.col})"))

    if "snapped" in layers:
        box, label = ((trace.snapped_box, "snapped box (whole cells)") if trace.snapped_box is not None
                      else (trace.sampled_box, "sampled box"))
        if box is not None and not (trace.snapped_box is None and box == trace.roi):
            ax.add_patch(_rect(box, fill=False, edgecolor=color, linewidth=_lw(style) * 1.2, zorder=6))
            handles.append(Line2D([], [], color=color, linewidth=_lw(style) * 1.2, label=label))

    if "roi" in layers:
        handles.insert(0, _roi(ax, trace.roi, style))

    if "argmax" in layers:
        winners = [b for b in trace.bins if b.argmax is not None]
        if winners:
            # A ring around the winning cell and a star in its corner: the number stays readable.
            for cell in {b.argmax for b in winners}:
                ax.add_patch(Rectangle((cell[1] + 0.16, cell[0] + 0.16), 0.68, 0.68, fill=False,
                                       edgecolor=BLACK, linewidth=_lw(style) + 1.6, zorder=8))
                ax.add_patch(Rectangle((cell[1] + 0.16, cell[0] + 0.16), 0.68, 0.68, fill=False,
                                       edgecolor=WINNER_COLOR, linewidth=_lw(style), zorder=8))
            ax.scatter([b.argmax[1] + 0.8 for b in winners], [b.argmax[0] + 0.2 for b in winners],
                       marker="*", s=(style.marker_size * 2.6) ** 2 / 4, c=WINNER_COLOR,
                       edgecolors=BLACK, linewidths=0.8, zorder=9)
            handles.append(Line2D([], [], marker="*", linestyle="none", markersize=style.marker_size * 1.6,
                                  markerfacecolor=WINNER_COLOR, markeredgecolor=BLACK,
                                  label="maximum of each bin"))

    if "samples" in layers:
        samples = [s for b in trace.bins for s in b.samples]
        if samples:
            on = [s for s in samples if s.on_map]
            off = [s for s in samples if not s.on_map]
            ms = (style.marker_size * 1.1) ** 2
            if on:
                ax.scatter([s.x for s in on], [s.y for s in on], s=ms, c=SAMPLE_COLOR,
                           edgecolors=WHITE, linewidths=0.8, zorder=9)
            if off:
                ax.scatter([s.x for s in off], [s.y for s in off], s=ms, c=MUTED, marker="X",
                           edgecolors=WHITE, linewidths=0.8, zorder=9)
            handles.append(Line2D([], [], marker="o", linestyle="none", markersize=style.marker_size,
                                  markerfacecolor=SAMPLE_COLOR, markeredgecolor=WHITE,
                                  label=f"sampling points ({trace.grid[0]} x {trace.grid[1]} per bin)"))
    if "winner" in layers:
        best = [b.samples[b.winner] for b in trace.bins if b.winner is not None]
        if best:
            ax.scatter([s.x for s in best], [s.y for s in best], marker="*",
                       s=(style.marker_size * 3.2) ** 2 / 4, c=WINNER_COLOR, edgecolors=BLACK,
                       linewidths=0.8, zorder=10)
            handles.append(Line2D([], [], marker="*", linestyle="none", markersize=style.marker_size * 1.6,
                                  markerfacecolor=WINNER_COLOR, markeredgecolor=BLACK,
                                  label="largest sample of each bin (max)"))

    if focus_sample is not None:
        handles += _draw_neighbours(ax, trace, focus_sample, style)
    _frame(ax, extent, trace.map_shape, style, trace.label if title is None else title)
    return handles


def _draw_neighbours(ax, trace: MethodTrace, focus: tuple[int, int, int], style: Style) -> list:
    """One sample, lines to its four neighbours' centres, and each weight written by the centre."""
    row, col, index = focus
    sample = trace.bin(row, col).samples[index]
    # Each weight is written in its cell's outer corner (top-left, top-right, bottom-left,
    # bottom-right, the order of Sample.neighbours), away from the sample and the cell's value.
    corners = ((0.22, 0.14), (0.78, 0.14), (0.22, 0.86), (0.78, 0.86))
    for (r, c), w, (dx, dy) in zip(sample.neighbours, sample.weights, corners):
        for edge, width in ((BLACK, _lw(style) * 1.3 + 1.6), (WINNER_COLOR, _lw(style) * 1.3)):
            ax.add_patch(Rectangle((c + 0.04, r + 0.04), 0.92, 0.92, fill=False, edgecolor=edge,
                                   linewidth=width, zorder=8))
        # A line from the sample towards the neighbour's centre, stopping short of its number.
        ax.plot([sample.x, sample.x + 0.7 * (c + 0.5 - sample.x)],
                [sample.y, sample.y + 0.7 * (r + 0.5 - sample.y)], color=BLACK,
                linewidth=_lw(style, True), zorder=8)
        ax.text(c + dx, r + dy, f"{w:.2f}", ha="center", va="center", fontsize=_pt(style) * 1.1,
                color=BLACK, zorder=11, clip_on=True,
                bbox=dict(boxstyle="round,pad=0.1", facecolor=WINNER_COLOR, edgecolor=BLACK,
                          linewidth=0.5))
    ax.scatter([sample.x], [sample.y], s=(style.marker_size * 1.8) ** 2, c=SAMPLE_COLOR, marker="o",
               edgecolors=WINNER_COLOR, linewidths=2.0, zorder=12)
    return [Line2D([], [], color=BLACK, marker="o", markerfacecolor=SAMPLE_COLOR,
                   markeredgecolor=WINNER_COLOR, linewidth=_lw(style, True),
                   label=f"one sample at ({sample.x:.3f}, {sample.y:.3f}); its four neighbours and weights")]


def _legend(fig: Figure, handles: list, style: Style, ncols: int = 2) -> None:
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=ncols, fontsize=_pt(style) * 0.85,
                   frameon=False)


def _map_size(map_shape: tuple[int, int], legend_rows: int = 3) -> tuple[float, float]:
    height, width = map_shape
    scale = _CELL_INCHES if max(height, width) <= 16 else 6.0 / max(height, width)
    return max(4.2, width * scale + 1.0), height * scale + 0.9 + 0.25 * legend_rows


def method_figure(trace: MethodTrace, values: np.ndarray, *, style: Style = Style(),
                  layers: Collection[str] = LAYERS, zrange: tuple[float, float] | None = None,
                  focus_bin: tuple[int, int] | None = None,
                  focus_sample: tuple[int, int, int] | None = None,
                  guide_bins: Sequence[Rect] = (), regions: MethodTrace | None = None,
                  title: str | None = None) -> Figure:
    """One method's panel as a figure (see :func:`draw_method` for the arguments)."""
    fig = _new_figure(*_map_size(trace.map_shape), style)
    ax = fig.add_subplot()
    handles = draw_method(ax, trace, values, style=style, layers=layers, zrange=zrange,
                          focus_bin=focus_bin, focus_sample=focus_sample, guide_bins=guide_bins,
                          regions=regions, title=title)
    _legend(fig, handles, style)
    return fig


def _draw_output(ax, trace: MethodTrace, zrange: tuple[float, float], style: Style, title: str) -> None:
    out = trace.output
    ph, pw = out.shape
    ax.imshow(out, cmap=OUTPUT_COLORSCALE, vmin=zrange[0], vmax=zrange[1], extent=(0, pw, ph, 0),
              interpolation="nearest")
    if ph * pw <= 196:
        size = _pt(style) * (1.0 if max(ph, pw) <= 4 else 0.7)
        for (r, c), v in np.ndenumerate(out):
            ax.text(c + 0.5, r + 0.5, f"{v:.3g}", ha="center", va="center", fontsize=size,
                    color=BLACK if v >= sum(zrange) / 2 else WHITE)
    ax.set_xticks(np.arange(pw) + 0.5, [str(i) for i in range(pw)])
    ax.set_yticks(np.arange(ph) + 0.5, [str(i) for i in range(ph)])
    ax.tick_params(labelsize=_pt(style) * 0.75, length=0)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=_pt(style), loc="left")


def output_figure(trace: MethodTrace, *, style: Style = Style(),
                  zrange: tuple[float, float] | None = None, title: str | None = None) -> Figure:
    """A method's output ``[PH, PW]`` as an annotated heatmap (rows and columns numbered from 0)."""
    ph, pw = trace.output.shape
    fig = _new_figure(max(2.6, 0.55 * pw + 1.0), max(2.2, 0.55 * ph + 0.9), style)
    _draw_output(fig.add_subplot(), trace, zrange or _zrange(trace.output), style,
                 title or f"{trace.label}: output {ph} x {pw}")
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
    cell = 0.75 if max(ph, pw) <= 4 else 0.4
    fig = _new_figure(max(3.0, cols * (cell * pw + 0.9)), max(2.4, rows * (cell * ph + 0.9)), style)
    for i, (key, trace) in enumerate(traces.items()):
        title = (titles or {}).get(key, trace.label)
        _draw_output(fig.add_subplot(rows, cols, i + 1), trace, zrange, style, title)
    return fig


def comparison_figure(traces: Mapping[str, MethodTrace], values: np.ndarray, *,
                      style: Style = Style()) -> Figure:
    """The Playground as a static figure: one panel per method (top row) and its output below.

    Args:
        traces: the methods to show, in order (all on the same map and box).
        values: the ``[H, W]`` channel the traces were computed on.
    """
    if not traces:
        raise ValueError("comparison_figure needs at least one trace")
    n = len(traces)
    first = next(iter(traces.values()))
    zrange = _zrange(values)
    outs = np.concatenate([t.output.ravel() for t in traces.values()])
    out_range = _zrange(outs)
    fig = _new_figure(4.2 * n, 7.6, style)
    grid = fig.add_gridspec(2, n, height_ratios=(3, 2))
    handles: dict[str, object] = {}
    for i, trace in enumerate(traces.values()):
        for h in draw_method(fig.add_subplot(grid[0, i]), trace, values, style=style, zrange=zrange):
            # Percentages differ per method: they go in the output titles, not the shared legend.
            label = re.sub(r": [\d.]+% of the RoI$", "", h.get_label())
            if label not in handles:
                h.set_label(label)
                handles[label] = h
        a = trace.areas
        _draw_output(fig.add_subplot(grid[1, i]), trace, out_range, style,
                     f"lost {a.percent('lost'):.1f}%, gained {a.percent('gained'):.1f}%")
    _legend(fig, list(handles.values()), style, ncols=min(4, max(2, n)))
    fig.suptitle(f"Box {tuple(round(v, 2) for v in first.image_box)} px, stride {first.settings.stride:g}",
                 fontsize=_pt(style))
    return fig


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
        result: a :class:`roiviz.sweeps.SweepResult`.
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
    top.set_ylabel(f"bin (row {result.bin[0]}, col {result.bin[1]})", fontsize=_pt(style) * 0.9)
    bottom.set_ylabel("mean |change| of the output", fontsize=_pt(style) * 0.9)
    bottom.set_xlabel(f"box {action} along {result.axis} by (feature cells)", fontsize=_pt(style) * 0.9)
    pixels = top.secondary_xaxis("top", functions=(lambda c: c * stride, lambda p: p / stride))
    pixels.set_xlabel("image pixels", fontsize=_pt(style) * 0.8)
    pixels.tick_params(labelsize=_pt(style) * 0.75)
    top.set_title(f"Output as the box is {action} by fractions of a cell (stride {stride:g} px)",
                  fontsize=_pt(style) * 1.05, loc="left")
    _legend(fig, handles, style, ncols=min(3, len(handles)))
    return fig


def gradient_figure(result, *, style: Style = Style(), traces: Mapping[str, MethodTrace] | None = None,
                    labels: Mapping[str, str] | None = None) -> Figure:
    """One heatmap per method of ``d(target) / d(cell)`` with the proposal drawn on it.

    Args:
        result: a :class:`roiviz.gradients.GradientResult`.
        traces: optional traces of the same box; each panel then also shows that method's
            snapped (or sampled) box.
        labels: display names (default: the registry's, :mod:`roiviz.methods`).
    """
    labels = labels or LABELS
    keys = list(result.maps)
    vmax = max(float(np.max(np.abs(g))) for g in result.maps.values()) or 1.0
    height, width = next(iter(result.maps.values())).shape
    ncols = 2 if len(keys) > 1 else 1
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
    fig = _new_figure(ncols * (view_w * cell + 0.9) + 1.0, nrows * (view_h * cell + 0.8) + 0.6, style)
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
        if height * width <= 200:
            for (r, c), v in np.ndenumerate(g):
                if abs(v) > 5e-3:
                    dark = v > 0.3 * vmax
                    ax.text(c + 0.5, r + 0.5, f"{v:.2g}", ha="center", va="center", clip_on=True, zorder=8,
                            fontsize=_pt(style) * 0.62, color=WHITE if dark else BLACK,
                            path_effects=[patheffects.withStroke(linewidth=1.8,
                                                                 foreground=BLACK if dark else WHITE)])
        trace = (traces or {}).get(key)
        if trace is not None:
            box = trace.snapped_box or (trace.sampled_box if trace.sampled_box != trace.roi else None)
            if box is not None:
                ax.add_patch(_rect(box, fill=False, edgecolor=REGISTRY[trace.method].color,
                                   linewidth=_lw(style)))
        _roi(ax, roi, style)
        reached = result.cells_reached(key)
        _frame(ax, view, (height, width), style, f"{labels.get(key, key)}: {reached} cell{'s' if reached != 1 else ''}")
    for ax in axes[len(keys):]:
        ax.set_visible(False)
    if image is not None:
        bar = fig.colorbar(image, ax=axes[:len(keys)].tolist(), shrink=0.8)
        bar.set_label(f"d({result.target_label}) / d(cell)  (square-root colour scale)",
                      fontsize=_pt(style) * 0.8)
        bar.ax.tick_params(labelsize=_pt(style) * 0.7)
    handles = [Line2D([], [], color=ROI_COLOR, linestyle="--", linewidth=_lw(style), label="RoI (the proposal)")]
    if traces:
        handles.append(Line2D([], [], color=LEGEND_GRAY, linewidth=_lw(style),
                              label="snapped / sampled box (method colour)"))
    _legend(fig, handles, style)
    return fig


def evidence_figure(table, *, style: Style = Style()) -> Figure:
    """Grouped bars of a :class:`roiviz.evidence.Table`: one group per metric, one bar per row.

    Mask AP and box AP are drawn in separate panels, titled as such. Bars start at 0 so that
    their lengths compare honestly; each bar is labelled with its value. The layer is coded by
    colour and by the bar's label; ``average`` aggregation by hatching.
    """
    from .evidence import METRICS

    layer_color = {"RoIPool": REGISTRY["roi_pool"].color, "RoIWarp": REGISTRY["roi_warp"].color,
                   "RoIAlign": REGISTRY["roi_align"].color}
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
            ax.bar_label(bars, labels=[f"{v:.1f}" for v in vals], fontsize=_pt(style) * 0.62, padding=1,
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
    """The figure of one walkthrough step (:class:`roiviz.lessons.Step` of a ``Lesson``).

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
    width, height = _map_size(trace.map_shape)
    n_out = len(step.outputs)
    fig = _new_figure(width + (1.8 if n_out else 0.0), height, style)
    grid = fig.add_gridspec(max(n_out, 1) + (1 if n_out == 1 else 0), 2 if n_out else 1,
                            width_ratios=[width, 1.8] if n_out else None)
    ax = fig.add_subplot(grid[:, 0])
    handles = draw_method(ax, trace, lesson.values, style=style, layers=step.layers,
                          focus_bin=step.focus_bin, focus_sample=step.focus_sample, guide_bins=guide,
                          regions=traces[step.regions] if step.regions else None,
                          title="")
    fig.suptitle(f"Step {number}: {step.title} · {_TRACE_TITLES.get(step.method, trace.label)}",
                 fontsize=_pt(style) * 1.1, x=0.02, ha="left")
    if n_out:
        outs = [traces[k].output for k in step.outputs]
        zrange = _zrange(np.concatenate([o.ravel() for o in outs]))
        for i, key in enumerate(step.outputs):
            _draw_output(fig.add_subplot(grid[i, 1]), traces[key], zrange, style, f"{titles[key]}: output")
    _legend(fig, handles, style)
    return fig


#: Titles of traces that are not one of the four methods' defaults.
_TRACE_TITLES = {"roi_align": "RoI Align (average)", "roi_align_max": "RoI Align (max)",
                 "roi_align_unaligned": "RoI Align (aligned=False)"}
