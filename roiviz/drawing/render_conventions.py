"""Drawings for the "Why don't my numbers match?" page (matplotlib, no Streamlit).

:func:`sampling_figure` draws one map channel around the box, the box as the person meant it,
and for each dialect where it samples (dots) and the extent its bins split (dashed), so the
offset, the ``+1`` and the minimum size show as shifted points and a shifted or grown box.
:func:`difference_figure` draws two dialects' outputs and their difference, cell by cell.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from ..conventions.compute import SampleGrid
from .style import (AXIS_LINE, BLACK, BOX_HIGHLIGHT, DIALECT_SERIES, DIFFERENCE_COLORMAP, OUTPUT_COLORSCALE,
                    WHITE, Style)

__all__ = ["sampling_figure", "difference_figure", "SERIES_COLORS"]

#: Colours and markers of the dialects drawn (the first is the reference, torchvision aligned=True).
SERIES_COLORS = DIALECT_SERIES


def _view(regions, box, shape) -> tuple[float, float, float, float]:
    xs = [box[0], box[2]] + [r[0] for r in regions] + [r[2] for r in regions]
    ys = [box[1], box[3]] + [r[1] for r in regions] + [r[3] for r in regions]
    x0, x1 = np.floor(min(xs)) - 1, np.ceil(max(xs)) + 1
    y0, y1 = np.floor(min(ys)) - 1, np.ceil(max(ys)) + 1
    return (max(x0, -2.0), max(y0, -2.0), min(x1, shape[1] + 2.0), min(y1, shape[0] + 2.0))


def sampling_figure(values: np.ndarray, box_cells: tuple[float, float, float, float],
                    grids: Mapping[str, SampleGrid], *, style: Style = Style(), title: str = "") -> Figure:
    """Where each dialect reads the map for one box.

    Args:
        values: ``[H, W]`` one channel of the map.
        box_cells: the person's box in feature cells, drawing frame (``x * spatial_scale``).
        grids: label -> :class:`~roiviz.conventions.compute.SampleGrid`, at most 3, the reference first.
    """
    height, width = values.shape
    regions = [g.region for g in grids.values() if g.region is not None]
    vx0, vy0, vx1, vy1 = _view(regions, box_cells, values.shape)
    aspect = (vy1 - vy0) / max(vx1 - vx0, 1e-9)
    fig_w = 7.0
    fig = Figure(figsize=(fig_w, min(max(fig_w * aspect, 3.0), 7.0)), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(values, cmap="Greys", extent=(0, width, height, 0), interpolation="nearest", alpha=0.55)
    ax.add_patch(Rectangle((0, 0), width, height, fill=False, lw=1.0, ec=AXIS_LINE))
    bx = box_cells
    ax.add_patch(Rectangle((bx[0], bx[1]), bx[2] - bx[0], bx[3] - bx[1], fill=False, lw=2.6, ec=BOX_HIGHLIGHT))
    handles = [Line2D([], [], color=BOX_HIGHLIGHT, lw=2.6, label="your box (x spatial_scale)")]
    total = max(sum(len(g.xs) * len(g.ys) for g in grids.values()), 1)
    size = float(np.clip(900.0 / np.sqrt(total), 6, 60))
    for (label, grid), (color, marker) in zip(grids.items(), SERIES_COLORS):
        if grid.region is not None:
            r = grid.region
            ax.add_patch(Rectangle((r[0], r[1]), r[2] - r[0], r[3] - r[1], fill=False, lw=1.6, ec=color, ls="--"))
        if len(grid.xs) and len(grid.ys):
            gx, gy = np.meshgrid(grid.xs, grid.ys)
            ax.scatter(gx.ravel(), gy.ravel(), s=size, c=color, marker=marker, edgecolors=WHITE, linewidths=0.5,
                       zorder=3)
        handles.append(Line2D([], [], color=color, marker=marker, ls="--", lw=1.4, label=f"{label}: {grid.note}"))
    ax.set_xlim(vx0, vx1)
    ax.set_ylim(vy1, vy0)
    ax.set_aspect("equal")
    ax.set_xlabel("x (feature cells; cell j spans [j, j+1))")
    ax.set_ylabel("y (feature cells)")
    if title:
        ax.set_title(title, fontsize=11 * (1.4 if style.presenter else 1.0))
    # Under the axes, so that a tight crop (st.pyplot's) leaves no gap between drawing and legend.
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=1,
              fontsize=8.5 * (1.4 if style.presenter else 1.0), frameon=False)
    return fig


def difference_figure(out_a: np.ndarray, out_b: np.ndarray, labels: tuple[str, str], *,
                      style: Style = Style()) -> Figure:
    """Two dialects' ``[PH, PW]`` outputs and ``a - b``, with the numbers in the cells."""
    panels = ((out_a, labels[0], OUTPUT_COLORSCALE), (out_b, labels[1], OUTPUT_COLORSCALE), (out_a - out_b, "difference (first - second)", DIFFERENCE_COLORMAP))
    fig = Figure(figsize=(9.0, 3.2), dpi=110)
    lo = float(np.nanmin([np.nanmin(out_a), np.nanmin(out_b)]))
    hi = float(np.nanmax([np.nanmax(out_a), np.nanmax(out_b)]))
    font = 8.0 * (1.4 if style.presenter else 1.0)
    for i, (grid, label, cmap) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1)
        if i == 2:
            span = float(np.nanmax(np.abs(grid))) or 1.0
            ax.imshow(grid, cmap=cmap, vmin=-span, vmax=span)
        else:
            ax.imshow(grid, cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1)
        if grid.size <= 64:
            for (r, c), v in np.ndenumerate(grid):
                ax.text(c, r, "NaN" if np.isnan(v) else f"{v:.3g}", ha="center", va="center", fontsize=font,
                        color=BLACK, bbox=dict(boxstyle="round,pad=0.15", fc=WHITE, ec="none", alpha=0.7))
        ax.set_title(label, fontsize=font + 1)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig
