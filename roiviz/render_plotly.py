"""Interactive figures (plotly), drawn from traces only: no geometry is recomputed here.

Every figure is in the drawing frame of :mod:`roiviz.geometry` (feature units, cell ``(i, j)``
spans ``[j, j+1) x [i, i+1)``, y pointing down) except :func:`image_figure`, which is in image
pixels. Outlines are layout shapes (cheap to send); areas that need hatching and points that
need hover text are scatter traces.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .style import (AREA_STYLES, FEATURE_COLORSCALE, METHOD_COLORS, OUTPUT_COLORSCALE, ROI_COLOR,
                    SAMPLE_COLOR, WINNER_COLOR, Style)
from .trace import MethodTrace, Rect

#: Plotly config for every figure: no zoom or pan, so a user can never get stuck outside
#: select mode; the camera button stays (it saves a PNG in the browser).
PLOTLY_CONFIG = {
    "displaylogo": False,
    "scrollZoom": False,
    "modeBarButtonsToRemove": ["zoom2d", "pan2d", "zoomIn2d", "zoomOut2d", "autoScale2d",
                               "resetScale2d", "lasso2d", "toggleSpikelines",
                               "hoverClosestCartesian", "hoverCompareCartesian"],
}
#: Samples beyond this many are not drawn one by one (the panel says so).
MAX_DRAWN_SAMPLES = 1500
#: Cell values are written in the cells when the map has at most this many cells.
MAX_ANNOTATED_CELLS = 400


def _rects_path(rects: Sequence[Rect]) -> tuple[list, list]:
    """x and y lists of closed rectangles separated by ``None`` (one scatter, many shapes)."""
    xs, ys = [], []
    for x1, y1, x2, y2 in rects:
        xs += [x1, x2, x2, x1, x1, None]
        ys += [y1, y1, y2, y2, y1, None]
    return xs, ys


def _outline(rect: Rect, color: str, width: float, dash: str = "solid", name: str | None = None,
             legend: bool = False) -> dict:
    shape = dict(type="rect", x0=rect[0], y0=rect[1], x1=rect[2], y1=rect[3], layer="above",
                 line=dict(color=color, width=width, dash=dash), fillcolor="rgba(0,0,0,0)")
    if name is not None:
        shape.update(name=name, showlegend=legend)
    return shape


def _roi_shapes(rect: Rect, style: Style) -> list[dict]:
    """The true RoI: a white halo under a black dashed line, visible on dark and light cells."""
    return [_outline(rect, "white", style.line_width + 2),
            _outline(rect, ROI_COLOR, style.line_width, "dash", name="RoI (your box)", legend=True)]


def _feature_heatmap(values: np.ndarray, zrange: tuple[float, float], name: str = "cell") -> go.Heatmap:
    height, width = values.shape
    annotate = height * width <= MAX_ANNOTATED_CELLS
    return go.Heatmap(
        z=values, x=np.arange(width) + 0.5, y=np.arange(height) + 0.5,
        zmin=zrange[0], zmax=zrange[1], colorscale=FEATURE_COLORSCALE, showscale=False,
        texttemplate="%{z:.3~g}" if annotate else None, textfont=dict(color="#d62728", size=10),
        hovertemplate="cell (row %{customdata[0]}, col %{customdata[1]})<br>value %{z:.4g}<extra></extra>",
        customdata=np.stack(np.meshgrid(np.arange(height), np.arange(width), indexing="ij"), -1),
        name=name, showlegend=False)


def _frame_layout(fig: go.Figure, extent: Rect, style: Style, title: str, height: int | None = None) -> None:
    x1, y1, x2, y2 = extent
    fig.update_layout(
        title=dict(text=title, font=dict(size=style.font_size + 2)),
        height=height or style.panel_height, margin=dict(l=10, r=10, t=40, b=10),
        font=dict(size=style.font_size), dragmode=False, hovermode="closest",
        legend=dict(orientation="h", yanchor="top", y=-0.02, xanchor="left", x=0,
                    font=dict(size=style.font_size - 2)),
        plot_bgcolor="white", uirevision="keep")
    fig.update_xaxes(range=[x1, x2], showgrid=False, zeroline=False, constrain="domain",
                     title=None, ticks="outside")
    fig.update_yaxes(range=[y2, y1], showgrid=False, zeroline=False, scaleanchor="x",
                     scaleratio=1, constrain="domain", title=None, ticks="outside")


def _view_extent(values_shape: tuple[int, int], rects: Sequence[Rect | None], margin: float = 0.5,
                 whole_map: bool = True) -> Rect:
    """The plotted range: the whole map and the rects, or (``whole_map=False``) the rects only,
    padded by ``margin`` cells and kept inside the map plus the rects."""
    height, width = values_shape
    xs = [v for r in rects if r for v in (r[0], r[2])]
    ys = [v for r in rects if r for v in (r[1], r[3])]
    if whole_map or not xs:
        xs, ys = xs + [0.0, float(width)], ys + [0.0, float(height)]
    x1, y1 = min(xs) - margin, min(ys) - margin
    x2, y2 = max(xs) + margin, max(ys) + margin
    if not whole_map:  # do not pad past the map unless a box already goes there
        x1, y1 = max(x1, min(xs + [0.0]) - 0.5), max(y1, min(ys + [0.0]) - 0.5)
        x2, y2 = min(x2, max(xs + [float(width)]) + 0.5), min(y2, max(ys + [float(height)]) + 0.5)
    return (x1, y1, x2, y2)


def _selectable(fig: go.Figure, points_x, points_y) -> None:
    """Box selection needs data to select: an invisible point at each cell or pixel block."""
    fig.add_trace(go.Scatter(x=points_x, y=points_y, mode="markers", hoverinfo="skip",
                             marker=dict(size=1, opacity=0), showlegend=False, name="select"))
    fig.update_layout(dragmode="select", selectdirection="any",
                      newselection=dict(line=dict(color="#0072B2", width=2, dash="dot")),
                      activeselection=dict(fillcolor="#0072B2", opacity=0.15))


def feature_figure(values: np.ndarray, roi: Rect | None, *, zrange: tuple[float, float],
                   style: Style = Style(), title: str = "Feature map: drag a box") -> go.Figure:
    """The input feature map ``[H, W]`` with the RoI (feature units); box-select to draw a RoI."""
    height, width = values.shape
    fig = go.Figure(_feature_heatmap(values, zrange))
    if roi is not None:
        fig.update_layout(shapes=_roi_shapes(roi, style))
    gy, gx = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
    _selectable(fig, gx.ravel(), gy.ravel())
    _frame_layout(fig, _view_extent((height, width), [roi]), style, title)
    return fig


def encode_png(image: np.ndarray) -> str:
    """An RGB ``uint8 [H, W, 3]`` image as a PNG data URI (callers cache it per image)."""
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def image_figure(image_uri: str, image_shape: tuple[int, int], box: Rect | None, stride: float, *,
                 style: Style = Style(), title: str = "Image: drag a box") -> go.Figure:
    """The image (a PNG data URI of ``image_shape = (H, W)`` pixels) with the RoI and the cell grid.

    Grid lines every ``stride`` pixels show the feature cells the image is cut into.
    """
    height, width = image_shape
    fig = go.Figure()
    fig.add_layout_image(dict(source=image_uri, xref="x", yref="y", x=0, y=0, sizex=width,
                              sizey=height, sizing="stretch", layer="below"))
    shapes = []
    for x in np.arange(stride, width, stride):
        shapes.append(dict(type="line", x0=x, x1=x, y0=0, y1=height, layer="above",
                           line=dict(color="rgba(255,255,255,0.35)", width=1)))
    for y in np.arange(stride, height, stride):
        shapes.append(dict(type="line", y0=y, y1=y, x0=0, x1=width, layer="above",
                           line=dict(color="rgba(255,255,255,0.35)", width=1)))
    if box is not None:
        shapes += _roi_shapes(box, style)
    fig.update_layout(shapes=shapes)
    step = max(stride / 2.0, 1.0)
    gy, gx = np.meshgrid(np.arange(step / 2, height, step), np.arange(step / 2, width, step), indexing="ij")
    _selectable(fig, gx.ravel(), gy.ravel())
    _frame_layout(fig, (0.0, 0.0, float(width), float(height)), style, title)
    return fig


def _sample_hover(s, values_label: str = "value") -> str:
    parts = [f"sample at x={s.x:.3f}, y={s.y:.3f}"]
    if not s.on_map:
        parts.append("off the map (counts as 0)")
    else:
        for (r, c), w in zip(s.neighbours, s.weights):
            parts.append(f"cell ({r},{c}) x {w:.3f}")
    parts.append(f"interpolated {values_label}: {s.value:.4g}")
    return "<br>".join(parts)


def method_figure(trace: MethodTrace, values: np.ndarray, *, zrange: tuple[float, float],
                  style: Style = Style(), show_samples: bool = True, title: str | None = None) -> go.Figure:
    """One method's panel: the map, RoI, snapped box, bins, samples/argmax, lost/gained/outside.

    Args:
        trace: what the method did.
        values: the same ``[H, W]`` channel the trace was computed on.
        zrange: colour range of the map, shared by all panels.
    """
    color = METHOD_COLORS[trace.method]
    fig = go.Figure(_feature_heatmap(values, zrange))
    # Lost / gained / outside: hatched fills, one trace each, always in the legend.
    for name, (area_color, pattern, _, label) in AREA_STYLES.items():
        rects = trace.region_rects(name)
        xs, ys = _rects_path(rects) if rects else ([None], [None])
        area = trace.areas
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines", fill="toself", line=dict(color=area_color, width=style.thin_line),
            fillcolor=_rgba(area_color, 0.28), fillpattern=dict(shape=pattern, fgcolor=area_color, size=8),
            name=f"{label} ({area.percent(name):.1f}%)", hoverinfo="text", hoveron="fills",
            text=f"{label}: {getattr(area, name):.3g} cells = {area.pixels(name):.4g} px² "
                 f"({area.percent(name):.1f}% of the RoI)", legendgroup=name))
    shapes = []
    for b in trace.bins:
        if b.rect is not None:
            shapes.append(_outline(b.rect, color, style.thin_line))
    if trace.snapped_box is not None:
        shapes.append(_outline(trace.snapped_box, color, style.line_width, name="snapped box", legend=True))
    elif trace.sampled_box is not None:
        shapes.append(_outline(trace.sampled_box, color, style.line_width, name="sampled box", legend=True))
    shapes += _roi_shapes(trace.roi, style)
    fig.update_layout(shapes=shapes)
    _add_bin_hover(fig, trace, color, style)
    if trace.method == "roi_pool":
        _add_argmax(fig, trace, style)
    elif show_samples and trace.method in ("roi_align", "roi_warp"):
        _add_samples(fig, trace, style)
    # Zoom on the RoI: the cells around it are what the panel is about.
    rects = [trace.roi, trace.snapped_box, trace.sampled_box, trace.read_region]
    size = max(trace.roi[2] - trace.roi[0], trace.roi[3] - trace.roi[1])
    extent = _view_extent(trace.map_shape, rects, margin=max(1.0, 0.2 * size), whole_map=False)
    _frame_layout(fig, extent, style, title or trace.label, height=style.panel_height + 60)
    return fig


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _bin_hover_text(trace: MethodTrace, b) -> str:
    lines = [f"<b>{trace.label}</b> bin (row {b.row}, col {b.col}) = {b.value:.4g}"]
    if trace.method == "roi_pool":
        if b.argmax is None:
            lines.append("reads no cell on the map: output 0")
        else:
            lines.append(f"reads {len(b.cells)} cells, rows {b.cells[0][0]}..{b.cells[-1][0]}, "
                         f"cols {b.cells[0][1]}..{b.cells[-1][1]}")
            lines.append(f"max at cell {b.argmax}")
    elif trace.method == "precise_roi_pool":
        top = sorted(b.cell_weights, key=lambda cw: -cw[1])[:6]
        lines.append("integral of the interpolant / bin area; largest shares:")
        lines += [f"cell {c}: {w:.3f}" for c, w in top]
    else:
        reduce = trace.settings.reduce
        lines.append(f"{len(b.samples)} samples ({trace.grid[0]} x {trace.grid[1]}), {reduce}")
        if reduce == "max" and b.winner is not None:
            lines.append(f"winner: sample {b.winner} = {b.samples[b.winner].value:.4g}")
    return "<br>".join(lines)


def _add_bin_hover(fig: go.Figure, trace: MethodTrace, color: str, style: Style) -> None:
    bins = [b for b in trace.bins if b.rect is not None]
    if not bins:
        return
    fig.add_trace(go.Scatter(
        x=[(b.rect[0] + b.rect[2]) / 2 for b in bins], y=[(b.rect[1] + b.rect[3]) / 2 for b in bins],
        mode="markers", marker=dict(symbol="square-open", size=style.marker_size + 4, color=color,
                                    line=dict(width=style.thin_line)),
        hovertext=[_bin_hover_text(trace, b) for b in bins], hoverinfo="text",
        name="bin centre (hover for numbers)", showlegend=True))


def _add_argmax(fig: go.Figure, trace: MethodTrace, style: Style) -> None:
    winners = [b for b in trace.bins if b.argmax is not None]
    if not winners:
        return
    fig.add_trace(go.Scatter(
        x=[b.argmax[1] + 0.5 for b in winners], y=[b.argmax[0] + 0.5 for b in winners],
        mode="markers", name="max of each bin",
        marker=dict(symbol="star", size=style.marker_size + 8, color=WINNER_COLOR,
                    line=dict(color="black", width=1)),
        hovertext=[f"max of bin ({b.row},{b.col}): cell {b.argmax} = {b.value:.4g}" for b in winners],
        hoverinfo="text"))


def _add_samples(fig: go.Figure, trace: MethodTrace, style: Style) -> None:
    samples = [(b, i, s) for b in trace.bins for i, s in enumerate(b.samples)]
    if not samples:
        return
    if len(samples) > MAX_DRAWN_SAMPLES:
        fig.add_annotation(text=f"{len(samples)} samples: too many to draw; lower the sampling ratio",
                           xref="paper", yref="paper", x=0, y=1, showarrow=False, xanchor="left",
                           bgcolor="white")
        return
    fig.add_trace(go.Scatter(
        x=[s.x for _, _, s in samples], y=[s.y for _, _, s in samples], mode="markers",
        name="sampling points (hover: neighbours, weights)",
        marker=dict(size=style.marker_size, color=[SAMPLE_COLOR if s.on_map else "#999999" for _, _, s in samples],
                    line=dict(color="white", width=1)),
        hovertext=[_sample_hover(s) for _, _, s in samples], hoverinfo="text"))
    if trace.settings.reduce == "max":
        winners = [b.samples[b.winner] for b in trace.bins if b.winner is not None]
        fig.add_trace(go.Scatter(
            x=[s.x for s in winners], y=[s.y for s in winners], mode="markers", name="winning sample",
            marker=dict(symbol="star", size=style.marker_size + 8, color=WINNER_COLOR,
                        line=dict(color="black", width=1)),
            hovertext=[_sample_hover(s) for s in winners], hoverinfo="text"))


def output_figure(trace: MethodTrace, *, zrange: tuple[float, float], style: Style = Style()) -> go.Figure:
    """The method's output ``[PH, PW]`` as an annotated heatmap on a shared colour scale."""
    out = trace.output
    ph, pw = out.shape
    fig = go.Figure(go.Heatmap(
        z=out, zmin=zrange[0], zmax=zrange[1], colorscale=OUTPUT_COLORSCALE, showscale=False,
        texttemplate="%{z:.3~g}" if ph * pw <= 196 else None,
        textfont=dict(size=max(style.font_size - 2, 8)),
        hovertemplate="output (row %{y}, col %{x}) = %{z:.5g}<extra></extra>"))
    fig.update_layout(height=max(140, min(320, 40 * ph + 60)), margin=dict(l=10, r=10, t=30, b=10),
                      title=dict(text=f"{trace.label}: output {ph} x {pw}", font=dict(size=style.font_size)),
                      font=dict(size=style.font_size), dragmode=False)
    fig.update_xaxes(showgrid=False, zeroline=False, dtick=1, constrain="domain")
    fig.update_yaxes(autorange="reversed", showgrid=False, zeroline=False, dtick=1,
                     scaleanchor="x", constrain="domain")
    return fig
