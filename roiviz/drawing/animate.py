"""Animated GIFs for posts: the box slides (or grows) by sub-pixel steps and every method follows.

One frame per box: the box moves from its place across one feature cell in ``steps`` equal steps
and back (``mode="slide"``), or grows by one cell and shrinks back (``mode="grow"``); each frame
shows, side by side, every chosen method's panel (the map around the RoI, the snapped box, the
bins, the sampling points, the lost and gained areas) with its output below, on one fixed view
and one fixed colour scale, so that what changes between frames is what the methods do.
RoI Pool's and RoI Warp's outputs stand still and then jump; RoI Align's and Precise RoI
Pooling's drift with every step.

Every frame is traced by the engine (:func:`roiviz.drawing.thinned.drawable_traces`: thinned past the
sample budget) and drawn by :func:`roiviz.drawing.render_mpl.draw_method`; matplotlib renders it (Agg, no pyplot) and Pillow writes the
GIF with one shared 256-colour palette. No Streamlit here.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from .render_mpl import (
    MIN_BIN_INCHES,
    _draw_output,
    _integral,
    _legend,
    _legend_columns,
    _number,
    _pt,
    _text_color,
    _zrange,
    draw_method,
    view_rect,
)
from ..methods import METHODS, label
from .thinned import drawable_traces, thinning_line
from ..records import MethodTrace, Rect, Settings
from .style import AREA_STYLES, METHOD_COLORS, SAMPLE_COLOR, WHITE, WINNER_COLOR, Style
from ..lessons.sweeps import shifted_boxes

__all__ = ["MAX_GIF_BYTES", "MODES", "Animation", "animate_gif", "animation_offsets"]

#: The most a GIF may weigh (bytes); larger ones are redrawn at a lower resolution.
MAX_GIF_BYTES = 2_000_000
#: ``slide``: move the box across one cell and back; ``grow``: widen it by one cell and back.
MODES = ("slide", "grow")
#: What an animation panel shows (the map's numbers are left out: they would flicker).
_LAYERS = frozenset({"map", "roi", "snapped", "lost", "gained", "outside", "bins", "argmax",
                     "samples", "winner"})


@dataclass(frozen=True)
class Animation:
    """A rendered GIF and what each of its frames shows.

    Attributes:
        gif: the GIF file's bytes (loops forever).
        offsets: ``[F]`` offset of each frame in feature cells (0 = the box as given).
        boxes: ``F`` boxes ``(x1, y1, x2, y2)`` in image pixels, one per frame.
        outputs: per frame, ``{method: output [PH, PW]}`` as drawn (the engine's values).
        size: ``(width, height)`` of a frame in pixels.
        frame_ms: how long each frame is shown (milliseconds).
        thinned: the line every frame shows under its title when sampling points are thinned
            (:func:`roiviz.drawing.thinned.thinning_line`), else ``""``.
    """

    gif: bytes
    offsets: tuple[float, ...]
    boxes: tuple[Rect, ...]
    outputs: tuple[dict[str, np.ndarray], ...]
    size: tuple[int, int]
    frame_ms: int
    thinned: str = ""


def animation_offsets(steps: int) -> np.ndarray:
    """Offsets (cells) of a loop across one cell and back: ``0, 1/steps, ..., 1, ..., 1/steps``.

    Example: ``animation_offsets(4)`` is ``[0, 0.25, 0.5, 0.75, 1, 0.75, 0.5, 0.25]`` (the GIF loops
    back to 0). ``steps`` must be 2 to 64.
    """
    if not isinstance(steps, (int, np.integer)) or not 2 <= steps <= 64:
        raise ValueError(f"steps must be an integer from 2 to 64, got {steps!r}")
    up = np.arange(steps + 1) / steps
    return np.concatenate([up, up[-2:0:-1]])


def _frame_title(mode: str, axis: str, offset: float, stride: float, thinned: str = "") -> str:
    """A frame's title; ``thinned`` (:func:`roiviz.drawing.thinned.thinning_line`) as a second line."""
    verb = "moved" if mode == "slide" else "grown"
    return f"Box {verb} by {offset:.3f} cell ({offset * stride:.1f} px) along {axis}" + (f"\n{thinned}" if thinned else "")


def animate_gif(values: np.ndarray, box, settings: Settings, methods: Sequence[str] = METHODS, *,
                mode: str = "slide", axis: str = "x", steps: int = 8, frame_ms: int = 180,
                dpi: float = 80.0, max_bytes: int = MAX_GIF_BYTES) -> Animation:
    """A looping GIF of the box sliding (or growing) across one cell and back.

    Args:
        values: the ``[H, W]`` map channel.
        box: ``(x1, y1, x2, y2)`` in image pixels, the first frame's box.
        settings: the methods' settings (output size, stride, sampling ratio...).
        methods: which of :data:`roiviz.methods.METHODS` to show, side by side in that order.
        mode: one of :data:`MODES`.
        axis: ``"x"`` or ``"y"``.
        steps: frames from 0 to one cell (the loop has ``2 * steps`` frames).
        frame_ms: time per frame (milliseconds, 20 to 2000).
        dpi: resolution of the frames (pixels per inch of the figure); lowered by 20% at a time
            (at most four times) while the GIF weighs more than ``max_bytes``.
        max_bytes: the most the GIF may weigh.

    Returns:
        An :class:`Animation`.

    Raises:
        ValueError: an unknown mode, axis or method, no method, bad ``steps`` or ``frame_ms``, a
            box the engine rejects, or a GIF that stays above ``max_bytes``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    chosen = [m for m in METHODS if m in methods]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not chosen:
        raise ValueError(f"methods must be one or more of {METHODS}, got {list(methods)!r}")
    if not 20 <= int(frame_ms) <= 2000:
        raise ValueError(f"frame_ms must be 20 to 2000, got {frame_ms!r}")
    offsets = animation_offsets(steps)
    boxes = shifted_boxes(box, offsets, settings.stride, axis=axis, scale=mode == "grow")   # [F, 4]
    # Beyond the sample budget RoI Align and RoI Warp come as thinned traces (every k-th sample
    # recorded, roiviz.drawing.thinned): every method is in every frame, and the frames say so.
    # The loop comes back over the same boxes (offset 1/8 out and back): trace each box once.
    unique: dict[tuple, dict[str, MethodTrace]] = {}
    for b in boxes:
        key = tuple(float(v) for v in b)
        if key not in unique:
            unique[key] = drawable_traces(values, key, settings, chosen)
    frames = [unique[tuple(float(v) for v in b)] for b in boxes]
    for _ in range(5):
        gif, size = _render(values, frames, offsets, settings, mode, axis, frame_ms, dpi)
        if len(gif) <= max_bytes:
            return Animation(gif=gif, offsets=tuple(float(o) for o in offsets),
                             boxes=tuple(tuple(float(v) for v in b) for b in boxes),
                             outputs=tuple({m: t.output for m, t in f.items()} for f in frames),
                             size=size, frame_ms=int(frame_ms), thinned=thinning_line(frames[0]))
        dpi *= 0.8
    raise ValueError(f"the GIF would weigh {len(gif):,} bytes, more than {max_bytes:,}: "
                     "choose fewer methods, fewer steps or a smaller output size")


def _render(values: np.ndarray, frames: list[dict[str, MethodTrace]], offsets: np.ndarray,
            settings: Settings, mode: str, axis: str, frame_ms: int, dpi: float) -> tuple[bytes, tuple[int, int]]:
    """Draw the frames and write the GIF.

    The figure is laid out and drawn once without what moves (the box's overlays, the outputs
    and the frame's title, all ``animated``); each frame restores that background and draws only
    what moves on it (blitting): about a tenth of a full draw per frame.
    """
    style = Style()
    every = [t for f in frames for t in f.values()]
    view = view_rect(every)                                                  # one view for all frames
    side = max(view[2] - view[0], view[3] - view[1])
    cell_in = max(3.4 / side, MIN_BIN_INCHES / min(t.smallest_bin_side for t in every))
    out_range = _zrange(np.concatenate([t.output.ravel() for t in every]))
    zrange = _zrange(values)
    methods = list(frames[0])
    n = len(methods)
    panel_w, panel_h = (view[2] - view[0]) * cell_in + 0.9, (view[3] - view[1]) * cell_in + 0.9
    ph, pw = settings.output_size
    out_cell = max(0.3, min(0.55, 2.2 / max(ph, pw)))
    out_h = ph * out_cell + 0.7
    thinned = thinning_line(frames[0])
    width = max(n * max(panel_w, pw * out_cell + 0.8, 3.0), 6.5)
    fig = Figure(figsize=(width, panel_h + out_h + 1.2 + (0.3 if thinned else 0.0)), dpi=dpi,
                 facecolor=WHITE, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, n, height_ratios=(panel_h, out_h))
    maps = [fig.add_subplot(grid[0, i]) for i in range(n)]
    outs = [fig.add_subplot(grid[1, i]) for i in range(n)]
    for ax, m in zip(maps, methods):
        draw_method(ax, frames[0][m], values, style=style, layers={"map"}, zrange=zrange, view=view,
                    cell_in=cell_in, title=label(m))
    for out_ax, m in zip(outs, methods):
        _draw_output(out_ax, frames[0][m], out_range, style, "output", out_cell)
        for artist in (*out_ax.images, *out_ax.texts):
            artist.set_animated(True)
    integral = {m: _integral(np.concatenate([f[m].output.ravel() for f in frames])) for m in methods}
    static = {ax: set(ax.get_children()) for ax in maps}

    def overlays(traces: dict[str, MethodTrace]) -> dict[str, object]:
        """Draw each panel's moving parts (animated); returns the legend handles by label."""
        handles = {}
        for ax, m in zip(maps, methods):
            for h in draw_method(ax, traces[m], values, style=style, layers=_LAYERS - {"map"}, zrange=zrange,
                                 view=view, cell_in=cell_in, axes_frame=False):
                text = h.get_label().split(": ")[0] if "% of the RoI" in h.get_label() else h.get_label()
                h.set_label(text)
                handles.setdefault(text, h)
            for artist in ax.get_children():
                if artist not in static[ax]:
                    artist.set_animated(True)
        return handles

    # The layout, once, with the first frame's legend and a title as long as any frame's.
    legend = list(overlays(frames[0]).values())
    _legend(fig, legend, style, ncols=_legend_columns(legend, width, style))
    title = fig.suptitle(_frame_title(mode, axis, 0.0, settings.stride, thinned), fontsize=_pt(style),
                         animated=True)
    fig.canvas.draw()                # the layout, and the background: maps, ticks, titles, legend
    fig.set_layout_engine(None)      # freeze the layout: every frame the same
    background = fig.canvas.copy_from_bbox(fig.bbox)
    drawn_outputs: dict[tuple[int, bytes], object] = {}    # an output grid's pixels, by its values
    drawn: dict[tuple[int, float], Image.Image] = {}     # a frame, by its traces and offset
    images: list[Image.Image] = []
    palette = None
    for k, (traces, offset) in enumerate(zip(frames, offsets)):
        key = (id(traces), round(float(offset), 9))
        if key in drawn:                 # the way back shows the way out's frames again
            images.append(drawn[key])
            continue
        if k:
            for ax in maps:
                for artist in [a for a in ax.get_children() if a not in static[ax]]:
                    artist.remove()
            overlays(traces)
        fig.canvas.restore_region(background)
        for ax in maps:
            for artist in sorted((a for a in ax.get_children() if a not in static[ax]),
                                 key=lambda a: a.get_zorder()):
                ax.draw_artist(artist)
        for i, (out_ax, m) in enumerate(zip(outs, methods)):
            out = traces[m].output
            grid_key = (i, np.ascontiguousarray(out).tobytes())
            if grid_key in drawn_outputs:     # RoI Pool's and RoI Warp's outputs stand still
                fig.canvas.restore_region(drawn_outputs[grid_key])
                continue
            out_ax.images[0].set_data(out)
            out_ax.draw_artist(out_ax.images[0])
            for t, v in zip(out_ax.texts, out.ravel()):          # one number per bin, row by row
                t.set_text(_number(v, integral[m]))
                t.set_color(_text_color(v, *out_range))
                out_ax.draw_artist(t)
            drawn_outputs[grid_key] = fig.canvas.copy_from_bbox(out_ax.bbox)
        title.set_text(_frame_title(mode, axis, float(offset), settings.stride, thinned))
        fig.draw_artist(title)
        rgb = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3])
        if palette is None:
            palette = _palette(np.asarray(rgb))
        images.append(drawn.setdefault(key, rgb.quantize(palette=palette, dither=Image.Dither.NONE)))
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=int(frame_ms),
                   loop=0, disposal=1)
    return buf.getvalue(), images[0].size


def _palette(frame: np.ndarray) -> Image.Image:
    """A 255-colour palette for every frame: the first frame's colours, with the style's
    colours (solid and as the light fills of the areas) weighted in so that a small legend swatch
    keeps its own colour instead of a neighbour's (the lost area's red turning orange)."""
    colors = [c for c, *_ in AREA_STYLES.values()] + list(METHOD_COLORS.values()) + [SAMPLE_COLOR, WINNER_COLOR]
    rgb = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colors], dtype=float)   # [n, 3]
    light = 255 - 0.30 * (255 - rgb)                                                         # on white
    swatch = np.repeat(np.concatenate([rgb, light]).astype(np.uint8)[:, None, :], 64, axis=1)  # [2n, 64, 3]
    width = frame.shape[1]
    strip = np.full((swatch.shape[0] * 8, width, 3), 255, np.uint8)
    for i, row in enumerate(swatch):
        strip[i * 8:(i + 1) * 8, :] = np.resize(row, (width, 3))
    both = np.concatenate([frame[..., :3], strip])
    return Image.fromarray(both).quantize(colors=255, method=Image.Quantize.MEDIANCUT)
