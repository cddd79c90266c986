"""Interactive figures (plotly), drawn from traces only: no geometry is recomputed here.

Every figure is in the drawing frame of :mod:`roiviz.geometry` (feature units, cell ``(i, j)``
spans ``[j, j+1) x [i, i+1)``, y pointing down). The Playground's drag surfaces are the live
stage's (``assets/stage/``); the photo is encoded here for it (:func:`encode_display_image`).

Speed: a new box redraws every figure (the Feature pyramids page), and Streamlit remounts each
changed chart, so each must be cheap to build, to send and to draw.

* Figures are built as plain plotly dicts (``*_spec``) and wrapped by :func:`to_figure`;
  ``validate=False`` skips plotly's property validation (15 ms per figure), which is safe
  because the tests check that every spec validates to the same figure.
* Many outlines (grid lines, bins) are one scatter path each, not one layout shape per
  rectangle; only the RoI and the snapped box are shapes.
* Axes never use automargin (margins are sized for the tick labels here), since an automargin
  makes plotly draw a chart twice.
* The photo is sent as a JPEG at most :data:`DISPLAY_MAX_SIDE` pixels on a side
  (:func:`encode_display_image`; callers cache it per image).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
import plotly.colors
import plotly.graph_objects as go

from .style import (
    AREA_STYLES,
    FEATURE_COLORSCALE,
    OUTPUT_COLORSCALE,
    ROI_COLOR,
    BLACK,
    MUTED,
    SAMPLE_COLOR,
    TRANSPARENT,
    WHITE,
    WINNER_COLOR,
    Style,
    relative_luminance,
    rgba_css,
    text_colors,
)
from .methods import REGISTRY
from .records import MethodTrace, Rect

#: Plotly config for every figure: no zoom or pan, so a user can never get stuck outside
#: select mode; the camera button stays (it saves a PNG in the browser).
PLOTLY_CONFIG = {
    "displaylogo": False,
    "scrollZoom": False,
    "modeBarButtonsToRemove": ["zoom2d", "pan2d", "zoomIn2d", "zoomOut2d", "autoScale2d",
                               "resetScale2d", "lasso2d", "toggleSpikelines",
                               "hoverClosestCartesian", "hoverCompareCartesian"],
}
#: Cell values are written in the cells when the map has at most this many cells.
MAX_ANNOTATED_CELLS = 400
#: The photo shown under the image view is at most this many pixels on its longer side.
DISPLAY_MAX_SIDE = 1024

# Named colour scales resolved once, as plotly's validation would (plotly.js knows other names).
_FEATURE_SCALE = [list(s) for s in plotly.colors.get_colorscale(FEATURE_COLORSCALE)]
_OUTPUT_SCALE = [list(s) for s in plotly.colors.get_colorscale(OUTPUT_COLORSCALE)]
_TICK_LEN = 5


def _scale_rgb(scale: list) -> tuple[np.ndarray, np.ndarray]:
    """A resolved colour scale as positions ``[S]`` and sRGB colours ``[S, 3]`` (0..255)."""
    rgb = [plotly.colors.unlabel_rgb(plotly.colors.convert_colors_to_same_type(c, "rgb")[0][0])
           for _, c in scale]
    return np.array([p for p, _ in scale], dtype=np.float64), np.array(rgb, dtype=np.float64)


_FEATURE_STOPS, _FEATURE_RGB = _scale_rgb(_FEATURE_SCALE)


def to_figure(spec: dict, *, validate: bool = True) -> go.Figure:
    """A plotly figure from a spec built here.

    ``validate=False`` skips plotly's property validation (the app's fast path); the specs are
    checked to validate unchanged in ``tests/test_render_plotly.py``.
    """
    return go.Figure(spec) if validate else go.Figure(spec, _validate=False)


def _rects_path(rects: Sequence[Rect]) -> tuple[list, list]:
    """x and y lists of closed rectangles separated by ``None`` (one scatter, many shapes)."""
    xs, ys = [], []
    for x1, y1, x2, y2 in rects:
        xs += [x1, x2, x2, x1, x1, None]
        ys += [y1, y1, y2, y2, y1, None]
    return xs, ys


def _outline(rect: Rect, color: str, width: float, dash: str = "solid", name: str | None = None,
             legend: bool = False) -> dict:
    shape = dict(type="rect", x0=float(rect[0]), y0=float(rect[1]), x1=float(rect[2]),
                 y1=float(rect[3]), layer="above", line=dict(color=color, width=width, dash=dash),
                 fillcolor=TRANSPARENT)
    if name is not None:
        shape.update(name=name, showlegend=legend)
    return shape


def _roi_shapes(rect: Rect, style: Style) -> list[dict]:
    """The true RoI: a white halo under a black dashed line, visible on dark and light cells.

    Always the last shapes of a figure (the browser benchmarks read the RoI from the last one).
    """
    return [_outline(rect, WHITE, style.line_width + 2),
            _outline(rect, ROI_COLOR, style.line_width, "dash", name="RoI (your box)", legend=True)]


def _feature_heatmap(values: np.ndarray, zrange: tuple[float, float], name: str = "cell",
                     rows: slice = slice(None), cols: slice = slice(None)) -> dict:
    """The map as a heatmap; ``rows``/``cols`` crop it to the cells a zoomed view shows."""
    height, width = values.shape
    r = np.arange(height)[rows]
    c = np.arange(width)[cols]
    cell = np.stack(np.meshgrid(r, c, indexing="ij"), -1).astype(np.int16)
    return dict(
        type="heatmap", z=np.ascontiguousarray(values[rows, cols]), x=c + 0.5, y=r + 0.5,
        zmin=float(zrange[0]), zmax=float(zrange[1]), colorscale=_FEATURE_SCALE, showscale=False,
        hovertemplate="cell (row %{customdata[0]}, col %{customdata[1]})<br>value %{z:.4g}<extra></extra>",
        customdata=cell, name=name, showlegend=False)


def cell_text_colors(values: np.ndarray, zrange: tuple[float, float]) -> np.ndarray:
    """Black or white per cell: the text colour that contrasts most with the cell's colour on
    the feature colour scale (its luminance), so that every written value stays legible."""
    lo, hi = zrange
    t = np.clip((np.asarray(values, dtype=np.float64) - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)
    rgb = np.stack([np.interp(t, _FEATURE_STOPS, _FEATURE_RGB[:, k]) for k in range(3)], axis=-1)
    return text_colors(relative_luminance(rgb))


def _cell_values(values: np.ndarray, zrange: tuple[float, float], rows: slice = slice(None),
                 cols: slice = slice(None)) -> list[dict]:
    """The cells' values written in the cells (small maps only), black or white per cell."""
    height, width = values.shape
    if height * width > MAX_ANNOTATED_CELLS:
        return []
    r, c = np.arange(height)[rows], np.arange(width)[cols]
    shown = values[rows, cols]
    yy, xx = np.meshgrid(r + 0.5, c + 0.5, indexing="ij")
    return [dict(type="scatter", mode="text", x=xx.ravel(), y=yy.ravel(),
                 text=[f"{v:.3g}" for v in shown.ravel()], hoverinfo="skip", showlegend=False,
                 textfont=dict(size=10, color=cell_text_colors(shown, zrange).ravel().tolist()),
                 name="cell values")]


def _margins(extent: Rect, style: Style, top: int = 40, bottom_extra: int = 0,
             title_px: float = 0.0) -> dict:
    """Fixed margins with room for the tick labels and a title of ``title_px`` (plotly centres
    it in the top margin; automargin would draw the chart twice)."""
    _, y1, _, y2 = extent
    digits = max(len(f"{v:.0f}") for v in (y1, y2, y1 + 1, y2 - 1))
    tick = style.font_size - 1
    left = 10 + _TICK_LEN + int(0.62 * tick * digits) + 2
    bottom = 10 + _TICK_LEN + int(1.6 * tick) + bottom_extra
    return dict(l=left, r=10, t=max(top, int(1.8 * title_px) + 4), b=bottom, autoexpand=True)


#: The narrowest a page draws a figure of this module (px): a phone's column, 390 px less the
#: page's padding and a bordered container's. The numbers written in cells are laid out to fit
#: at this width, so they fit at every wider one (a half-width panel on a 1280 px projector is
#: about 440 px, on a 1500 px laptop about 480 px).
MIN_FIGURE_WIDTH = 320


def _legend_height(names: Sequence[str], style: Style) -> int:
    """Height (px) of the legend below the plot, one entry a row (``orientation="v"``), so that
    the bottom margin holds it whatever the figure's width and plotly need not redraw the chart
    to make room."""
    if not names:
        return 0
    font = style.font_size - 2
    return int(len(names) * max(1.3 * font + 4, 19) + 10)


def _reserve_legend(layout: dict, data: Sequence[dict], style: Style, later: Sequence[str] = ()) -> None:
    """Add the legend's height to the bottom margin (``later``: entries of traces added after)."""
    names = [d["name"] for d in data if d.get("showlegend", True) and d.get("type") == "scatter"] + list(later)
    names += [s["name"] for s in layout.get("shapes", ()) if s.get("showlegend")]
    layout["margin"]["b"] += _legend_height(names, style)


def _axes(extent: Rect, style: Style) -> tuple[dict, dict]:
    x1, y1, x2, y2 = extent
    common = dict(showgrid=False, zeroline=False, constrain="domain", ticks="outside",
                  ticklen=_TICK_LEN, automargin=False, ticklabeloverflow="allow",
                  tickfont=dict(size=style.font_size - 1))
    return (dict(range=[float(x1), float(x2)], **common),
            dict(range=[float(y2), float(y1)], scaleanchor="x", scaleratio=1, **common))


def _frame_layout(extent: Rect, style: Style, title: str, height: int | None = None) -> dict:
    xaxis, yaxis = _axes(extent, style)
    return dict(
        title=dict(text=title, font=dict(size=style.font_size + 2)),
        height=height or style.panel_height, margin=_margins(extent, style, title_px=style.font_size + 2),
        font=dict(size=style.font_size), dragmode=False, hovermode="closest",
        # At the foot of the figure, under the tick labels, in a margin sized for it.
        # One entry a row: its height does not depend on the figure's width, so the margin
        # below the tick labels (_reserve_legend) holds it on any screen.
        legend=dict(orientation="v", yref="container", yanchor="bottom", y=0, xanchor="left",
                    x=0, font=dict(size=style.font_size - 2), tracegroupgap=0),
        plot_bgcolor=WHITE, uirevision="keep", xaxis=xaxis, yaxis=yaxis)


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


def _crop(extent: Rect, values_shape: tuple[int, int]) -> tuple[slice, slice]:
    """Rows and columns of the cells that intersect ``extent`` (at least one of each)."""
    height, width = values_shape
    x1, y1, x2, y2 = extent
    c1 = min(max(int(np.floor(x1)), 0), width - 1)
    c2 = max(min(int(np.ceil(x2)), width), c1 + 1)
    r1 = min(max(int(np.floor(y1)), 0), height - 1)
    r2 = max(min(int(np.ceil(y2)), height), r1 + 1)
    return slice(r1, r2), slice(c1, c2)


def encode_display_image(image: np.ndarray, max_side: int = DISPLAY_MAX_SIDE,
                         quality: int = 85) -> str:
    """An RGB ``uint8 [H, W, 3]`` image as a JPEG data URI for display, at most ``max_side``
    pixels on its longer side (the figure stretches it over the full image extent, so
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


def _sample_hover(s, values_label: str = "value") -> str:
    parts = [f"sample at x={s.x:.3f}, y={s.y:.3f}"]
    if not s.on_map:
        parts.append("off the map (counts as 0)")
    else:
        for (r, c), w in zip(s.neighbours, s.weights):
            parts.append(f"cell ({r},{c}) x {w:.3f}")
    parts.append(f"interpolated {values_label}: {s.value:.4g}")
    return "<br>".join(parts)


def method_spec(trace: MethodTrace, values: np.ndarray, *, zrange: tuple[float, float],
                style: Style = Style(), show_samples: bool = True, title: str | None = None) -> dict:
    """One method's panel: the map, RoI, snapped box, bins, samples/argmax, lost/gained/outside.

    Args:
        trace: what the method did.
        values: the same ``[H, W]`` channel the trace was computed on.
        zrange: colour range of the map, shared by all panels.
    """
    color = REGISTRY[trace.method].color
    # Zoom on the RoI: the cells around it are what the panel is about (and all that is sent).
    rects = [trace.roi, trace.snapped_box, trace.sampled_box, trace.read_region]
    size = max(trace.roi[2] - trace.roi[0], trace.roi[3] - trace.roi[1])
    extent = _view_extent(trace.map_shape, rects, margin=max(1.0, 0.2 * size), whole_map=False)
    rows, cols = _crop(extent, values.shape)
    data = [_feature_heatmap(values, zrange, rows=rows, cols=cols),
            *_cell_values(values, zrange, rows=rows, cols=cols)]
    # Lost / gained / outside: hatched fills, one trace each, always in the legend.
    area = trace.areas
    for name, (area_color, pattern, _, label) in AREA_STYLES.items():
        region = trace.region_rects(name)
        xs, ys = _rects_path(region) if region else ([None], [None])
        data.append(dict(
            type="scatter", x=xs, y=ys, mode="lines", fill="toself",
            line=dict(color=area_color, width=style.thin_line),
            fillcolor=rgba_css(area_color, 0.28), fillpattern=dict(shape=pattern, fgcolor=area_color, size=8),
            name=f"{label} ({area.percent(name):.1f}%)", hoverinfo="text", hoveron="fills",
            text=f"{label}: {getattr(area, name):.3g} cells = {area.pixels(name):.4g} px² "
                 f"({area.percent(name):.1f}% of the RoI)", legendgroup=name))
    bins = [b.rect for b in trace.bins if b.rect is not None]
    bin_lines = []
    if bins:
        xs, ys = _rects_path([tuple(float(v) for v in r) for r in bins])
        bin_lines.append(dict(type="scatter", x=xs, y=ys, mode="lines", hoverinfo="skip",
                              line=dict(color=color, width=style.thin_line), showlegend=False, name="bins"))
    data += bin_lines
    shapes = []
    if trace.snapped_box is not None:
        shapes.append(_outline(trace.snapped_box, color, style.line_width, name="snapped box", legend=True))
    elif trace.sampled_box is not None:
        shapes.append(_outline(trace.sampled_box, color, style.line_width, name="sampled box", legend=True))
    shapes += _roi_shapes(trace.roi, style)
    centres = _bin_centres(trace, color, style)
    rings = _argmax_rings(trace) if trace.method == "roi_pool" else []
    data += centres + rings
    sampled = show_samples and trace.method in ("roi_align", "roi_warp") and any(b.samples for b in trace.bins)
    later = (SAMPLES_NAME, *(("winning sample",) if trace.settings.reduce == "max" else ())) if sampled else ()
    layout = _frame_layout(extent, style, title or trace.label, height=style.panel_height + 60)
    layout["shapes"] = shapes
    _reserve_legend(layout, data, style, later=later)
    # Marks sized from the cells and bins on screen, now that the margins are known.
    cell_px = smallest_cell_px(extent, layout)
    if sampled:
        data += _sample_traces(trace, style, trace.smallest_bin_side / max(trace.grid) * cell_px)
    bin_px = trace.smallest_bin_side * cell_px
    for lines in bin_lines:                  # thinner where bins are small: the map shows through
        lines["line"]["width"] = min(style.thin_line, max(1.0, 0.06 * bin_px))
    for centre in centres:
        size = bin_marker_px(bin_px, style)
        centre["marker"].update(size=size, line=dict(width=min(style.thin_line, max(1.0, size / 6))))
    if rings:
        _size_rings(rings, cell_px, style)
    return {"data": data, "layout": layout}


def method_figure(trace: MethodTrace, values: np.ndarray, *, zrange: tuple[float, float],
                  style: Style = Style(), show_samples: bool = True, title: str | None = None,
                  validate: bool = True) -> go.Figure:
    """:func:`method_spec` as a figure."""
    return to_figure(method_spec(trace, values, zrange=zrange, style=style,
                                 show_samples=show_samples, title=title), validate=validate)


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
        gy, gx = trace.grid
        lines.append(f"{gy * gx} samples ({gy} x {gx}), {reduce}"
                     + ("" if len(b.samples) == gy * gx else f"; {len(b.samples)} of them drawn"))
        if reduce == "max" and b.winner is not None:
            lines.append(f"winner: sample {b.winner} = {b.samples[b.winner].value:.4g}")
    return "<br>".join(lines)


def bin_marker_px(bin_px: float, style: Style) -> float:
    """Size (px) of the open square at a bin's centre, for bins ``bin_px`` wide on screen: the
    style's size, but at most 40% of a bin (4 px at least), so that 7 x 7 or 14 x 14 bins leave
    the map visible between their marks."""
    return float(min(style.marker_size + 4, max(0.4 * bin_px, 4.0)))


def _bin_centres(trace: MethodTrace, color: str, style: Style) -> list[dict]:
    """An open square at each bin's centre that shows the bin's numbers on hover (its size is
    set by :func:`method_spec` with :func:`bin_marker_px`)."""
    bins = [b for b in trace.bins if b.rect is not None]
    if not bins:
        return []
    return [dict(
        type="scatter",
        x=[float(b.rect[0] + b.rect[2]) / 2 for b in bins], y=[float(b.rect[1] + b.rect[3]) / 2 for b in bins],
        mode="markers", marker=dict(symbol="square-open", size=style.marker_size + 4, color=color,
                                    line=dict(width=style.thin_line)),
        hovertext=[_bin_hover_text(trace, b) for b in bins], hoverinfo="text",
        name="bin centre (hover for numbers)", showlegend=True)]


def smallest_cell_px(extent: Rect, layout: dict) -> float:
    """Pixels a feature cell gets in a map panel with this layout, at the narrowest a page draws
    it (:data:`MIN_FIGURE_WIDTH`) or at its height, whichever is tighter (equal axis scales)."""
    margin = layout["margin"]
    plot_w = MIN_FIGURE_WIDTH - margin["l"] - margin["r"]
    plot_h = layout["height"] - margin["t"] - margin["b"]
    return max(min(plot_w / (extent[2] - extent[0]), plot_h / (extent[3] - extent[1])), 1.0)


#: Inset of the ring drawn inside a winning cell (cells; the live stage's ``argmax-cell``).
RING_INSET = 0.12


def _argmax_rings(trace: MethodTrace) -> list[dict]:
    """RoI Pool's winning cells, each ringed inside in yellow over a black halo, and an invisible
    marker at each cell's centre for its hover text.

    The rings are drawn in feature units, so they scale with the chart and never spill out of
    their cell, however many bins there are (49 at 7 x 7, 196 at 14 x 14): the cell's colour and
    value stay visible. Their line widths are set by :func:`_size_rings`.
    """
    by_cell: dict[tuple[int, int], list] = {}
    for b in trace.bins:
        if b.argmax is not None:
            by_cell.setdefault(tuple(b.argmax), []).append(b)
    if not by_cell:
        return []
    a, z = RING_INSET, 1.0 - RING_INSET
    xs, ys = _rects_path([(c + a, r + a, c + z, r + z) for r, c in by_cell])
    rings = dict(type="scatter", x=xs, y=ys, mode="lines", hoverinfo="skip", legendgroup="argmax")
    return [
        dict(rings, name="max of each bin: halo", showlegend=False, line=dict(color=BLACK, width=1)),
        dict(rings, name="max of each bin: ring", showlegend=False, line=dict(color=WINNER_COLOR, width=1)),
        dict(type="scatter", mode="markers", x=[c + 0.5 for _, c in by_cell], y=[r + 0.5 for r, _ in by_cell],
             marker=dict(symbol="square", size=1, opacity=0), showlegend=False, name="max of each bin: hover",
             legendgroup="argmax", hoverinfo="text",
             hovertext=["<br>".join(f"max of bin ({b.row},{b.col}): cell {cell} = {b.value:.4g}" for b in bins)
                        for cell, bins in by_cell.items()]),
        # The legend's entry only (no point): a yellow ring, as on the map.
        dict(type="scatter", mode="markers", x=[None], y=[None], name="max of each bin (ringed cell)",
             legendgroup="argmax", hoverinfo="skip",
             marker=dict(symbol="square-open", size=12, color=WINNER_COLOR, line=dict(width=3)))]


def _size_rings(rings: list[dict], cell_px: float, style: Style) -> None:
    """Line widths of :func:`_argmax_rings` for cells of ``cell_px`` on screen: 8% of a cell,
    1 px to the style's line width (as the live stage draws them), the halo up to a pixel more
    each side (less in small cells, where it would darken the cell)."""
    width = min(max(0.08 * cell_px, 1.0), style.line_width)
    halo, ring, hover, _ = rings
    ring["line"]["width"] = width
    halo["line"]["width"] = width + min(2.0, 0.12 * cell_px)
    hover["marker"]["size"] = max(cell_px * (1 - 2 * RING_INSET), 4.0)


#: The sampling points' legend entry (a note on thinning is added to it).
SAMPLES_NAME = "sampling points (hover: neighbours, weights)"
#: Sampling points closer than this on screen (px) blur into a texture: draw fewer (the live
#: stage's ``sampleStep``).
MIN_SAMPLE_PITCH_PX = 6.0


def sample_step(pitch_px: float) -> int:
    """Draw every ``k``-th sample row and column of a bin, so that the points drawn are at least
    :data:`MIN_SAMPLE_PITCH_PX` apart when samples are ``pitch_px`` apart on screen."""
    k = 1
    while pitch_px * k < MIN_SAMPLE_PITCH_PX and k < 64:
        k += 1
    return k


def sample_marker_px(pitch_px: float, k: int, style: Style) -> float:
    """Diameter (px) of a sampling point drawn every ``k``-th of samples ``pitch_px`` apart: 60% of
    the spacing drawn, 3 px at least, the style's size at most (as the live stage's radius)."""
    return 2 * min(max(0.3 * pitch_px * k, 1.5), style.marker_size / 2 + (1 if style.presenter else 0))


def _sample_traces(trace: MethodTrace, style: Style, pitch_px: float) -> list[dict]:
    """The sampling points (every ``k``-th row and column of each bin's grid, :func:`sample_step`,
    with a note in the legend when thinned), sized from their spacing on screen, and with
    ``reduce="max"`` each bin's winning sample as a star."""
    gw = max(trace.recorded_grid[1], 1)
    sy, sx = trace.sample_step           # a thinned trace recorded every (sy, sx)-th already
    pitch_px *= min(sy, sx)
    k = sample_step(pitch_px)
    samples = [s for b in trace.bins for i, s in enumerate(b.samples) if (i // gw) % k == 0 and (i % gw) % k == 0]
    total = trace.grid[0] * trace.grid[1] * len(trace.bins)
    size = sample_marker_px(pitch_px, k, style)
    drawn = k * sy * k * sx
    traces = [dict(
        type="scatter",
        x=[float(s.x) for s in samples], y=[float(s.y) for s in samples], mode="markers",
        name=SAMPLES_NAME if drawn == 1 else f"sampling points, 1 in {drawn} of {total:,} drawn (hover)",
        # One colour for all unless some samples fall off the map (per-point styles cost).
        marker=dict(size=size, line=dict(color=WHITE, width=1 if size >= 6 else 0.5),
                    color=SAMPLE_COLOR if all(s.on_map for s in samples)
                    else [SAMPLE_COLOR if s.on_map else MUTED for s in samples]),
        hovertext=[_sample_hover(s) for s in samples], hoverinfo="text")]
    if trace.settings.reduce == "max":
        winners = [b.samples[b.winner] for b in trace.bins if b.winner is not None]
        traces.append(dict(
            type="scatter",
            x=[float(s.x) for s in winners], y=[float(s.y) for s in winners], mode="markers",
            name="winning sample",
            marker=dict(symbol="star", size=min(style.marker_size + 8, max(2.2 * size, 8.0)), color=WINNER_COLOR,
                        line=dict(color=BLACK, width=1)),
            hovertext=[_sample_hover(s) for s in winners], hoverinfo="text"))
    return traces


#: Number formats for the output's cells, most precise first: plotly's (d3) text template and
#: Python's format of the same text (d3's ``~`` trims zeros as Python's ``g`` does).
OUTPUT_FORMATS = (("%{z:.3~g}", ".3g"), ("%{z:.2f}", ".2f"))


def output_number_format(output: np.ndarray, cell_px: float, font_px: float) -> str | None:
    """The first of :data:`OUTPUT_FORMATS` whose longest number fits a cell ``cell_px`` wide
    and high at ``font_px`` (its text template), or ``None``: no numbers, hover only.

    A number fits when, at about 0.58 em a character plus 8 px of room, it is no wider than
    the cell, and the cell is at least 1.4 em high (as the stage and the exports decide).
    """
    if cell_px < 1.4 * font_px:
        return None
    flat = np.asarray(output, dtype=np.float64).ravel()
    for template, python in OUTPUT_FORMATS:
        longest = max(len(format(v, python)) for v in flat)
        if 0.58 * font_px * longest + 8 <= cell_px:
            return template
    return None


def output_spec(trace: MethodTrace, *, zrange: tuple[float, float], style: Style = Style()) -> dict:
    """The method's output ``[PH, PW]`` as a heatmap on a shared colour scale, its numbers
    written in the cells where they fit (:func:`output_number_format`) at the smallest cells the
    figure gets: its height, or :data:`MIN_FIGURE_WIDTH` if that is narrower (hover always)."""
    out = trace.output
    ph, pw = out.shape
    font = max(style.font_size - 2, 8)
    heatmap = dict(
        type="heatmap", z=out, zmin=float(zrange[0]), zmax=float(zrange[1]),
        colorscale=_OUTPUT_SCALE, showscale=False, textfont=dict(size=font),
        hovertemplate="output (row %{y}, col %{x}) = %{z:.5g}<extra></extra>")
    tick = dict(showgrid=False, zeroline=False, dtick=1, constrain="domain", automargin=False,
                ticks="outside", ticklabeloverflow="allow", ticklen=_TICK_LEN, tickfont=dict(size=style.font_size - 1))
    extent = (-0.5, -0.5, pw - 0.5, ph - 0.5)
    margin = _margins(extent, style, top=30, title_px=style.font_size)
    # Cells tall enough for three digits at this font when the output is small (3 x 3).
    per_cell = 3.3 * font if style.presenter else 40
    height = int(max(140, min(320, per_cell * ph + margin["t"] + margin["b"])))
    cell = min((height - margin["t"] - margin["b"]) / ph, (MIN_FIGURE_WIDTH - margin["l"] - margin["r"]) / pw)
    if template := output_number_format(out, cell, font):
        heatmap["texttemplate"] = template
    layout = dict(
        height=height, margin=margin,
        title=dict(text=f"{trace.label}: output {ph} x {pw}", font=dict(size=style.font_size)),
        font=dict(size=style.font_size), dragmode=False,
        xaxis=dict(tick), yaxis=dict(tick, autorange="reversed", scaleanchor="x"))
    return {"data": [heatmap], "layout": layout}


def output_figure(trace: MethodTrace, *, zrange: tuple[float, float], style: Style = Style(),
                  validate: bool = True) -> go.Figure:
    """:func:`output_spec` as a figure."""
    return to_figure(output_spec(trace, zrange=zrange, style=style), validate=validate)
