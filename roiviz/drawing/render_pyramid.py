"""Static figures of a feature pyramid (matplotlib): which level reads the box, and what the level
does to the area RoI Pool and RoI Warp lose or gain.

Drawn from :class:`roiviz.fpn.LevelTrace` and :class:`roiviz.lessons.sweeps.SizeSweepResult` only; no
level or area is recomputed here. Shared pieces (sizes, legend, the RoI outline, series colours)
come from :mod:`roiviz.drawing.render_mpl`, so these figures look like the others.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..fpn import LevelTrace
from .render_mpl import _legend, _lw, _new_figure, _pt, _roi, series_style
from .style import (AXIS_LINE, BLACK, CHART_GRID, FEATURE_COLORSCALE, LEGEND_GRAY,
                    METHOD_COLORS, ROI_COLOR, Style)
from ..methods import label as method_label

__all__ = ["pyramid_figure", "size_sweep_figure"]


def _wrap(line: str, width: int = 44) -> str:
    """Break a step of the level formula at spaces so it fits beside the maps."""
    return "\n".join(textwrap.wrap(line, width, subsequent_indent="  ")) or line

#: The frame around the level a box is pooled from.
CHOSEN_COLOR = METHOD_COLORS["roi_align"]


#: The width (CSS px) the Feature pyramids page gives its picture in presenter mode on a 1280 x 720
#: projector: the window less the sidebar (300 px) and the page's padding. The one-row picture's
#: texts are sized so that at this width each is at least 20 px on screen.
PRESENTER_PICTURE_PX = 940
#: Width (inches) of the one-row picture: its texts, at ``Style(presenter=True)``'s 19.8 pt, are
#: 19.8 pt / 72 * 940 px / 12 in = 21.5 px on that screen.
ONE_ROW_INCHES = 12.0


def _short(value: float) -> str:
    """A size in at most four characters or so: ``18.8``, ``150``, ``0.023``."""
    return f"{value:.3g}" if value >= 1 else f"{value:.2g}"


def _level_title(k: int, values: np.ndarray, level: LevelTrace, one_row: bool) -> str:
    """A level panel's title: its stride, its map's size and the box's size there, in cells."""
    stride = 2 ** k
    h, w = values.shape
    if one_row:         # a fifth of a projector's width: two lines of at most 15 characters
        return f"P{k}, stride {stride}\nbox {_short(level.size / stride)} cells"
    box = level.box
    # Three short lines: a panel is a third of the width.
    return (f"P{k}, stride {stride}" + (": pooled here" if k == level.level else "")
            + f"\nmap {w} x {h} cells\nbox {(box[2] - box[0]) / stride:.3g} x {(box[3] - box[1]) / stride:.3g} cells")


def pyramid_figure(image: np.ndarray, maps: Sequence[np.ndarray], levels: Sequence[int],
                   level: LevelTrace, *, style: Style = Style(), channel_name: str = "",
                   one_row: bool | None = None) -> Figure:
    """The image and each pyramid level with the box on it; the level that pools it is framed.

    Args:
        image: ``uint8 [H, W, 3]``.
        maps: one ``[h_k, w_k]`` channel per level, finest first.
        levels: the level numbers of ``maps`` (e.g. ``(2, 3, 4, 5)``); stride ``2 ** k``.
        level: the box's level decision (its ``box`` is drawn).
        channel_name: shown in the titles.
        one_row: all panels in one row, :data:`ONE_ROW_INCHES` wide, with short titles and
            without the formula (the page shows it as text beside the picture); every text is at
            least the style's font size. ``None``: one row in presenter mode, two rows otherwise.

    Returns:
        A figure with the image, then one panel per level in feature cells with the box (black
        dashed) at its size in cells there. On two rows (a phone's column, a blog post), the
        formula with the box's numbers (:meth:`LevelTrace.steps`) fills the last free panel.
    """
    one_row = style.presenter if one_row is None else one_row
    height, width = image.shape[:2]
    n = len(maps) + 1
    if one_row:
        cols, rows, size = n, 1, _pt(style)
        panel = ONE_ROW_INCHES / n
        # Room for the title, the panels' two-line titles and the legend: 1.7 in at the
        # projector's 19.8 pt, in proportion at the screen's 11.7 pt (no empty band on a screen).
        fig = _new_figure(ONE_ROW_INCHES, panel * height / width + max(1.2, 1.7 * size / 19.8), style, scaled=False)
    else:
        cols, size = 3, _pt(style) * 0.95      # two rows: readable on a phone as on a page
        rows = -(-(n + 1) // cols)
        fig = _new_figure(3.4 * cols, rows * (3.4 * height / width + 1.0) + 0.9, style)
    grid = np.atleast_1d(fig.subplots(rows, cols))
    axes, spare = list(grid.ravel()[:n]), list(grid.ravel()[n:])
    box = level.box
    ax = axes[0]
    ax.imshow(image, extent=(0, width, height, 0), interpolation="antialiased")
    _roi(ax, box, style)
    ax.set_title(f"image\nbox {_short(level.size)} px" if one_row
                 else f"Image {width} x {height} px\nbox sqrt(w*h) = {level.size:.1f} px",
                 fontsize=size, loc="left")
    handles = [Line2D([], [], color=ROI_COLOR, linestyle="--", linewidth=_lw(style),
                      label=f"box ({box[0]:g}, {box[1]:g}) to ({box[2]:g}, {box[3]:g}) px")]
    for ax in spare:                           # the decision, in words, where a panel is free
        ax.axis("off")
    if spare:
        spare[0].text(0.0, 1.0, "\n".join(_wrap(line) for line in level.steps()), va="top", ha="left",
                      family="monospace", fontsize=_pt(style) * 0.72, transform=spare[0].transAxes)
    for ax, values, k in zip(axes[1:], maps, levels):
        stride = 2 ** k
        h, w = values.shape
        ax.imshow(values, cmap=FEATURE_COLORSCALE, extent=(0, w, h, 0), interpolation="nearest")
        _roi(ax, tuple(v / stride for v in box), style)
        chosen = k == level.level
        ax.set_title(_level_title(k, values, level, one_row), fontsize=size, loc="left",
                     color=CHOSEN_COLOR if chosen else BLACK, fontweight="bold" if chosen else "normal")
        for side in ax.spines.values():
            side.set_visible(chosen)
            side.set_color(CHOSEN_COLOR)
            side.set_linewidth(_lw(style) * 2.2)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal")
    frame = "the level that pools it" if one_row else f"the level that pools it: {level.formula}"
    handles.append(Line2D([], [], color=CHOSEN_COLOR, linewidth=_lw(style) * 2.2, label=frame))
    _legend(fig, handles, style, ncols=len(handles) if one_row else 1, size=1.0 if one_row else 0.85)
    what = f" ('{channel_name}')" if channel_name else ""
    title = (f"P{levels[0]}-P{levels[-1]}{what}: this box is pooled from P{level.level}, stride {level.stride} px"
             if one_row else f"Feature pyramid P{levels[0]}-P{levels[-1]}{what}: this box is pooled from "
             f"P{level.level} (stride {level.stride} px)")
    fig.suptitle(title, fontsize=_pt(style) * 1.05)
    return fig


def size_sweep_figure(result, *, style: Style = Style(), mark_size: float | None = None) -> Figure:
    """Lost and gained share against box size, one stride (solid) vs the pyramid level (dashed).

    Args:
        result: a :class:`roiviz.lessons.sweeps.SizeSweepResult`.
        mark_size: a box size (px) to mark with a vertical line (the page's current box).
    """
    fig = _new_figure(10.0, 4.4, style)
    axes = fig.subplots(1, 2, sharex=True)
    handles = []
    # Under the library rounding RoI Pool's bins cover exactly the snapped box RoI Warp samples:
    # one line then stands for both.
    same = len(result.methods) == 2 and all(
        np.array_equal(d[m]["roi_pool"], d[m]["roi_warp"]) for d in (result.lost, result.gained) for m in d)
    methods = result.methods[:1] if same else result.methods
    names = {m: ("RoI Pool = RoI Warp" if same else method_label(m)) for m in result.methods}
    modes = (("fixed", "-", f"one map, stride {result.fixed_stride}"), ("pyramid", "--", "FPN level"))
    for ax, name, data in zip(axes, ("lost", "gained"), (result.lost, result.gained)):
        for mode, dash, mode_label in modes:
            for method in methods:
                color, _, marker = series_style(method)
                (h,) = ax.plot(result.sizes, data[mode][method], color=color, linestyle=dash, marker=marker,
                               markevery=max(1, len(result.sizes) // 10), markersize=style.marker_size * 0.6,
                               linewidth=_lw(style) * (0.9 if method == "roi_pool" else 0.6),
                               label=f"{names[method]}, {mode_label}")
                if ax is axes[0]:
                    handles.append(h)
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.grid(True, color=CHART_GRID, linewidth=0.6)
        ax.tick_params(labelsize=_pt(style) * 0.8)
        ax.set_xlabel("box size sqrt(w*h) (image pixels)", fontsize=_pt(style) * 0.9)
        ax.set_ylabel(f"{name} (% of the box)", fontsize=_pt(style) * 0.9)
        ax.set_title(f"Area {name}", fontsize=_pt(style), loc="left")
        # The level boundaries (112, 224, 448 px by default): where the pyramid switches level.
        lo, hi = float(result.sizes.min()), float(result.sizes.max())
        edges = [e for e in result.boundaries if lo < e < hi]
        for edge in edges:
            ax.axvline(edge, color=LEGEND_GRAY, linewidth=0.8, linestyle=(0, (2, 2)))
        for start in [lo] + edges:
            k = int(result.levels[np.searchsorted(result.sizes, start)])
            ax.annotate(f"P{k}", (start, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(3, -3), textcoords="offset points", va="top",
                        fontsize=_pt(style) * 0.8, color=AXIS_LINE)
        if mark_size is not None:
            ax.axvline(mark_size, color=BLACK, linewidth=_lw(style) * 0.6)
    if mark_size is not None:
        handles.append(Line2D([], [], color=BLACK, linewidth=_lw(style) * 0.6,
                              label=f"your box, {mark_size:.0f} px"))
    _legend(fig, handles, style, ncols=3)
    note = "\n(RoI Pool's bins cover exactly the box RoI Warp samples: one line for both)" if same else ""
    fig.suptitle(f"RoI Pool and RoI Warp ({result.settings.convention} rounding, "
                 f"{result.settings.output_size[0]} x {result.settings.output_size[1]} bins), mean of "
                 f"{result.positions} placements per size{note}", fontsize=_pt(style))
    return fig
