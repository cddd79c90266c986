"""Plotly charts of box gradients: the Gradient flow page's sweep and the refinement lab.

Dashes as well as colours tell the methods apart (:data:`roiviz.drawing.style.SERIES_LINES`' idea).
"""

from __future__ import annotations

import numpy as np
import plotly.colors
import plotly.graph_objects as go

from ..lessons.gradients import BoxSweep
from ..methods import label
from .style import AXIS_LINE, BLACK, CHART_GRID, FEATURE_COLORSCALE, METHOD_COLORS, MUTED, WHITE, Style

__all__ = ["PLOTLY_CONFIG", "sweep_figure", "refinement_figure", "refinement_path_figure"]

#: Plotly config for these charts: no zoom or pan (a user can never get stuck outside the view);
#: the camera button stays (it saves a PNG in the browser).
PLOTLY_CONFIG = {
    "displaylogo": False,
    "scrollZoom": False,
    "modeBarButtonsToRemove": ["zoom2d", "pan2d", "zoomIn2d", "zoomOut2d", "autoScale2d",
                               "resetScale2d", "lasso2d", "toggleSpikelines",
                               "hoverClosestCartesian", "hoverCompareCartesian"],
}

_DASH = {"roi_pool": "solid", "roi_warp": "dash", "roi_align": "solid", "precise_roi_pool": "dot"}
#: The feature colour scale resolved here (plotly.js does not know every name plotly.py does).
_GRAY = [list(stop) for stop in plotly.colors.get_colorscale(FEATURE_COLORSCALE)]
_WIDTH = {"roi_pool": 3, "roi_warp": 2, "roi_align": 2, "precise_roi_pool": 3.5}


def sweep_figure(sweep: BoxSweep, style: Style = Style()) -> go.Figure:
    """``d target / d x1`` against x1 for every method, RoI Align's crossings and RoI Warp's
    roundings marked by thin vertical lines in their colours."""
    fig = go.Figure()
    for m, d in sweep.derivative.items():
        fig.add_trace(go.Scatter(x=sweep.x1, y=d, mode="lines", name=label(m),
                                 line=dict(color=METHOD_COLORS[m], dash=_DASH[m], width=_WIDTH[m] * (1.4 if style.presenter else 1)),
                                 hovertemplate=f"{label(m)}<br>x1 %{{x:.2f}} px<br>d/dx1 %{{y:.4g}}<extra></extra>"))
    lo = min(float(d.min()) for d in sweep.derivative.values())
    hi = max(float(d.max()) for d in sweep.derivative.values())
    pad = 0.08 * (hi - lo or 1.0)
    for xs, method, text in ((sweep.crossings, "roi_align", "RoI Align: a sample crosses a cell centre"),
                             (sweep.roundings, "roi_warp", "RoI Warp: the rounding flips")):
        if not xs:
            continue
        x, y = [], []
        for v in xs:
            x += [v, v, None]
            y += [lo - pad, hi + pad, None]
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=text, hoverinfo="skip",
                                 line=dict(color=METHOD_COLORS[method], width=1, dash="dot"), opacity=0.6))
    fig.update_layout(
        # On a projector the 20 px legend goes further down, clear of the axis title.
        height=440 if not style.presenter else 640,
        margin=dict(l=70, r=20, t=30, b=60 if not style.presenter else 190),
        font=dict(size=style.font_size), plot_bgcolor=WHITE,
        legend=dict(orientation="h", y=-0.18 if not style.presenter else -0.3,
                    yanchor="auto" if not style.presenter else "top", x=0,
                    font=dict(size=style.font_size)),
        xaxis=dict(title=dict(text="x1, the left edge (image pixels); the box slides right",
                              font=dict(size=style.font_size)),
                   gridcolor=CHART_GRID, zeroline=False, tickfont=dict(size=style.font_size)),
        yaxis=dict(title=dict(text=f"d({sweep.target_label}) / d x1", font=dict(size=style.font_size)), gridcolor=CHART_GRID, zerolinecolor=AXIS_LINE,
                   range=[lo - pad, hi + pad], tickfont=dict(size=style.font_size)),
    )
    return fig


def refinement_figure(summary: dict, style: Style = Style()) -> go.Figure:
    """Final IoU with the target per method over the seeded starts (box plot with the points),
    the starts' IoU as a grey reference."""
    fig = go.Figure()
    fig.add_trace(go.Box(y=summary["start_iou"], name="start (jittered)", marker_color=MUTED,
                         boxpoints="all", jitter=0.4, pointpos=0, marker=dict(size=4)))
    for m, ious in summary["final_iou"].items():
        fig.add_trace(go.Box(y=ious, name=label(m), marker_color=METHOD_COLORS[m], boxpoints="all",
                             jitter=0.4, pointpos=0, marker=dict(size=4)))
    fig.update_layout(height=380, margin=dict(l=60, r=20, t=30, b=40), showlegend=False, plot_bgcolor=WHITE,
                      font=dict(size=style.font_size),
                      yaxis=dict(title="IoU with the target box", range=[0, 1.02], gridcolor=CHART_GRID))
    return fig


def refinement_path_figure(values, paths: dict, target, style: Style = Style()) -> go.Figure:
    """The map with the target box (black), the start box (grey, dashed) and each method's box
    step by step: a plotly animation (play button and step slider), one frame per step.

    Args:
        values: ``[H, W]`` map shown in grey.
        paths: ``{method: float [S_m + 1, 4]}`` boxes in feature cells (drawing frame); a method
            that stopped early keeps its last box in the later frames.
        target: the target box in feature cells.
    """
    def outline(b):
        return [b[0], b[2], b[2], b[0], b[0]], [b[1], b[1], b[3], b[3], b[1]]

    height, width = values.shape
    methods = list(paths)
    frames_total = max(len(p) for p in paths.values())
    fixed = [go.Heatmap(z=np.asarray(values, dtype=float).tolist(), colorscale=_GRAY, showscale=False, hoverinfo="skip", x0=0.5, y0=0.5)]
    tx, ty = outline(target)
    fixed.append(go.Scatter(x=tx, y=ty, mode="lines", name="target box", line=dict(color=BLACK, width=5)))
    sx, sy = outline(paths[methods[0]][0])
    fixed.append(go.Scatter(x=sx, y=sy, mode="lines", name="start box", line=dict(color=AXIS_LINE, width=2, dash="dash")))

    def boxes(k):
        out = []
        for m in methods:
            b = paths[m][min(k, len(paths[m]) - 1)]
            x, y = outline(b)
            out.append(go.Scatter(x=x, y=y, mode="lines", name=label(m),
                                  line=dict(color=METHOD_COLORS[m], width=3, dash=_DASH[m])))
        return out

    fig = go.Figure(data=fixed + boxes(0),
                    frames=[go.Frame(data=boxes(k), traces=list(range(3, 3 + len(methods))), name=str(k))
                            for k in range(frames_total)])
    slider = dict(active=0, currentvalue=dict(prefix="step "), pad=dict(t=30),
                  steps=[dict(label=str(k), method="animate",
                              args=[[str(k)], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                                   transition=dict(duration=0))]) for k in range(frames_total)])
    fig.update_layout(
        height=520 if not style.presenter else 600, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor=WHITE,
        font=dict(size=style.font_size), legend=dict(orientation="h", y=1.02, x=0, yanchor="bottom"),
        xaxis=dict(range=[0, width], showgrid=False, visible=False, constrain="domain"),
        yaxis=dict(range=[height, 0], showgrid=False, visible=False, scaleanchor="x"),
        sliders=[slider],
        updatemenus=[dict(type="buttons", showactive=False, x=0, y=0, xanchor="left", yanchor="top", pad=dict(t=40),
                          buttons=[dict(label="▶ play", method="animate",
                                        # redraw and no transition: an animated transition drops
                                        # the heatmap (plotly.js), a redraw keeps it.
                                        args=[None, dict(frame=dict(duration=200, redraw=True), fromcurrent=True,
                                                         transition=dict(duration=0))])])],
    )
    return fig
