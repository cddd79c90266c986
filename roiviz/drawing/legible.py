"""Texts of a static figure legible at the size a page shows it (presenter mode's 20 px rule).

A matplotlib figure saved as PNG at ``dpi`` and shown ``shown_px`` CSS pixels wide draws a
text of ``pt`` points at ``pt * dpi / 72 * shown_px / natural_px`` CSS pixels, where
``natural_px`` is the PNG's width (the figure's tight bounding box at ``dpi``, measured). On a projector
that must be at least 20 px for every text, so :func:`make_legible` raises every label, title,
tick and legend text below the matching point size to it, and removes the cell numbers that
would be smaller (they do not fit their cells at a readable size; the page's tables carry them).
:func:`text_sizes` measures what a figure's texts come to at a given width (tests, benchmarks).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import AutoLocator, MaxNLocator

from .export import PNG_DPI

#: ``figure_png``'s margin around the tight bounding box (inches, each side).
PAD_INCHES = 0.08
#: Group id of the in-cell numbers of :mod:`roiviz.drawing.render_mpl` (they are removed, not grown).
NUMBER_GID = "roiviz-number"


@dataclass(frozen=True)
class TextSize:
    """One visible text of a figure: its ``text`` (first 40 characters), its size in points
    and in CSS pixels when the figure is shown ``shown_px`` wide."""

    text: str
    pt: float
    px: float


def _visible_texts(fig: Figure) -> list[Text]:
    """Every text the saved figure draws: non-empty and visible, tick labels only for the ticks
    drawn (those inside the axis' view limits), nothing in a hidden axes."""
    FigureCanvasAgg(fig)
    fig.draw_without_rendering()
    tick_texts, drawn = set(), []
    for ax in fig.axes:
        for axis in ax._axis_map.values():
            for tick in axis.majorTicks + axis.minorTicks:
                tick_texts.update((tick.label1, tick.label2))
            if ax.get_visible() and axis.get_visible():
                for tick in axis._update_ticks():
                    drawn += [lab for lab in (tick.label1, tick.label2) if lab.get_visible()]
    texts = [t for t in fig.findobj(Text) if t not in tick_texts] + drawn
    return [t for t in texts if t.get_visible() and t.get_text().strip() and t.get_alpha() != 0
            and (t.axes is None or t.axes.get_visible())]


def natural_width_px(fig: Figure, dpi: float = PNG_DPI) -> float:
    """Width (pixels) of ``figure_png(fig, dpi)``: the tight bounding box, laid out at ``dpi``
    (text extents depend on it), plus ``figure_png``'s margins (:data:`PAD_INCHES` each side).
    Measured as ``savefig`` measures it, without drawing the pixels."""
    FigureCanvasAgg(fig)
    old = fig.dpi
    fig.dpi = dpi
    try:
        fig.draw_without_rendering()
        box = fig.get_tightbbox(fig.canvas.get_renderer())
    finally:
        fig.dpi = old
    return (box.width + 2 * PAD_INCHES) * dpi


def text_sizes(fig: Figure, shown_px: float, dpi: float = PNG_DPI) -> list[TextSize]:
    """Every visible text of ``fig`` with its size at ``shown_px`` CSS pixels wide (saved at ``dpi``).

    Args:
        fig: the figure (laid out here if it was not).
        shown_px: the width the page shows the PNG at (CSS pixels).
        dpi: the PNG's resolution.

    Returns:
        One :class:`TextSize` per text, smallest first.
    """
    scale = dpi / 72.0 * shown_px / natural_width_px(fig, dpi)
    sizes = [TextSize(t.get_text()[:40], float(t.get_fontsize()), float(t.get_fontsize()) * scale)
             for t in _visible_texts(fig)]
    return sorted(sizes, key=lambda s: s.px)


def make_legible(fig: Figure, shown_px: float, min_px: float, dpi: float = PNG_DPI) -> Figure:
    """Raise ``fig``'s texts to ``min_px`` CSS pixels at ``shown_px`` wide; drop smaller cell numbers.

    Growing a text can widen the figure's tight box (a longer label), which shrinks every text
    on screen a little, so this repeats until every text is at least ``min_px`` (three passes
    at most are needed in practice; five are allowed).

    Args:
        fig: a figure of :mod:`roiviz.drawing.render_mpl` or :mod:`roiviz.drawing.render_pyramid` (changed in place).
        shown_px: the width the page shows the PNG at (CSS pixels), e.g. 1200 for a
            1280-px-wide projector page.
        min_px: the smallest text size wanted (CSS pixels), e.g. 20.
        dpi: the PNG's resolution (``figure_png``'s).

    Returns:
        ``fig``.

    Raises:
        ValueError: ``shown_px`` or ``min_px`` is not positive.
    """
    if not shown_px > 0 or not min_px > 0:
        raise ValueError(f"shown_px and min_px must be positive, got {shown_px!r} and {min_px!r}")
    from .render_mpl import fit_numbers

    for _ in range(5):
        # A hair above the bound, so that rounding in the layout never leaves a text at 19.99 px.
        need_pt = 1.005 * min_px * 72.0 / dpi * natural_width_px(fig, dpi) / shown_px
        small = [t for t in _visible_texts(fig) if t.get_fontsize() < need_pt]
        if not small:
            break
        for ax in fig.axes:                    # tick labels are re-made at each draw: set them here
            for which, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
                labels = [lab for lab in axis.get_ticklabels(which="both") if lab.get_text()]
                if labels and min(lab.get_fontsize() for lab in labels) < need_pt:
                    ax.tick_params(axis=which, which="both", labelsize=need_pt)
        for t in small:
            if t.get_gid() == NUMBER_GID:
                t.remove()
            else:
                t.set_fontsize(need_pt)
    fit_numbers(fig)
    return fig


#: Presenter mode's smallest text (CSS pixels) at a 1280 x 720 projector.
PROJECTOR_MIN_PX = 20
#: The width presenter mode shows a page-wide figure at on a 1280-px-wide window: the window
#: less the page's side padding (2 x 1.2 rem) and a scroll bar, rounded down.
PROJECTOR_SHOWN_PX = 1200


def for_projector(fig: Figure, presenter: bool, shown_px: float = PROJECTOR_SHOWN_PX) -> Figure:
    """``fig`` made legible for presenter mode (:func:`make_legible` at :data:`PROJECTOR_MIN_PX`
    and ``shown_px``), or ``fig`` unchanged when ``presenter`` is false."""
    return make_legible(fig, shown_px, PROJECTOR_MIN_PX) if presenter else fig


#: A phone's smallest figure text (CSS pixels): 11 px, the smallest text style of Apple's Human
#: Interface Guidelines (Caption 2, 11 pt, 1 pt = 1 CSS px on an iPhone) and a little above the
#: 10 px floor the phone tests hold every figure to.
PHONE_MIN_PX = 11
#: The width a page-wide figure is shown at on a 390-px-wide phone: the window less Streamlit's
#: 1 rem side padding on narrow screens, rounded down.
PHONE_SHOWN_PX = 358
#: A phone figure's width on paper (inches): at :data:`PHONE_SHOWN_PX` one point is then
#: 358 / (4.8 * 72) ~ 1.04 CSS px, so the charts' usual 10-12 pt texts stay their size.
PHONE_WIDTH_IN = 4.8
#: The page's CSS breakpoint for the phone variant (Streamlit's own narrow-layout width).
PHONE_MAX_WIDTH_PX = 640


def _wrap(text: str, width_pt: float, size_pt: float) -> str:
    """``text`` broken into lines of at most ``width_pt`` points (a character is taken as 0.6 of
    the font size wide), its own line breaks kept."""
    chars = max(8, int(width_pt / (0.6 * size_pt)))
    return "\n".join(textwrap.fill(line, chars) if len(line) > chars else line for line in text.split("\n"))


def _wrap_texts(fig: Figure) -> None:
    """Break the horizontal texts wider than where they stand into lines: an axes' title and
    x label to its width, figure texts (titles, legends) to the figure's."""
    fig_pt = fig.get_size_inches()[0] * 72.0
    FigureCanvasAgg(fig)
    fig.draw_without_rendering()
    ticks = {lab for ax in fig.axes for axis in ax._axis_map.values() for lab in axis.get_ticklabels(which="both")}
    owner = {label: ax for ax in fig.axes for label in (ax.xaxis.label, ax.yaxis.label)}
    for t in _visible_texts(fig):
        if t in ticks or t.get_rotation() not in (0.0, 360.0):
            continue
        width_pt = fig_pt
        ax = t.axes or owner.get(t)         # an axis label's own `axes` is None
        if ax is not None and ax.get_visible():
            width_pt = max(fig_pt * ax.get_position().width, 0.4 * fig_pt)
        wrapped = _wrap(t.get_text(), width_pt, t.get_fontsize())
        if wrapped != t.get_text():
            t.set_text(wrapped)


def for_phone(fig: Figure, shown_px: float = PHONE_SHOWN_PX, min_px: float = PHONE_MIN_PX,
              width_in: float = PHONE_WIDTH_IN, keep_height: bool = True) -> Figure:
    """``fig`` laid out for a phone: at most ``width_in`` inches wide (its height kept, so charts
    get taller relative to their width), about four numbers per linear axis, legends in one
    column, texts legible at ``shown_px`` (:func:`make_legible` at ``min_px``) and broken into
    lines where they would be wider than their place.

    Args:
        fig: a figure of :mod:`roiviz.drawing.render_mpl` or :mod:`roiviz.drawing.render_pyramid`
            (changed in place).

    Returns:
        ``fig``.
    """
    w, h = fig.get_size_inches()
    if w > width_in:
        fig.set_size_inches(width_in, h if keep_height else h * width_in / w)
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "linear" and isinstance(axis.get_major_locator(), (AutoLocator, MaxNLocator)):
                axis.set_major_locator(MaxNLocator(4))
    for legend in list(fig.legends):       # one column: its entries are wrapped to the width
        handles, labels = legend.legend_handles, [t.get_text() for t in legend.get_texts()]
        size = legend.get_texts()[0].get_fontsize() if labels else None
        legend.remove()
        fig.legend(handles=handles, labels=labels, loc="outside lower center", ncols=1, fontsize=size,
                   frameon=False)
    # The texts at the size they will need (the figure's width on screen is known: its paper
    # width), broken into lines that fit, then measured and corrected: grown first, a long title
    # or legend would widen the figure's box, shrink everything on screen and grow again.
    need_pt = min_px * 72.0 / PNG_DPI * (min(w, width_in) + 2 * PAD_INCHES) * PNG_DPI / shown_px
    for ax in fig.axes:
        ax.tick_params(which="both", labelsize=max(need_pt, min(
            [lab.get_fontsize() for axis in (ax.xaxis, ax.yaxis) for lab in axis.get_ticklabels()] or [need_pt])))
    for t in _visible_texts(fig):
        if t.get_fontsize() < need_pt and t.get_gid() != NUMBER_GID:
            t.set_fontsize(need_pt)
    _wrap_texts(fig)
    make_legible(fig, shown_px, min_px)
    _declutter_ticks(fig)
    return make_legible(fig, shown_px, min_px)


def _crowded(boxes, vertical: bool) -> bool:
    """Whether two of the labels' boxes (display units) overlap or nearly touch along the axis."""
    spans = sorted((b.y0, b.y1) if vertical else (b.x0, b.x1) for b in boxes)
    gap = 0.25 * min((b.height for b in boxes), default=0.0)
    return any(a[1] + gap > b[0] for a, b in zip(spans, spans[1:]))


def _declutter_ticks(fig: Figure) -> None:
    """Where two tick labels of an axis would overlap: keep every other number (every third...)
    on a numeric axis, tilt the names of an x axis of categories by 40 degrees."""
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        for axis, vertical in ((ax.xaxis, False), (ax.yaxis, True)):
            ticks = [t for t in axis._update_ticks() if t.label1.get_visible() and t.label1.get_text()]
            if not _crowded([t.label1.get_window_extent(renderer) for t in ticks], vertical):
                continue
            texts = [t.label1.get_text().replace("\u2212", "-") for t in ticks]
            try:
                [float(x) for x in texts]
            except ValueError:
                if not vertical:
                    ax.tick_params(axis="x", labelrotation=40)
                    for lab in axis.get_ticklabels():
                        lab.set_horizontalalignment("right")
                        lab.set_rotation_mode("anchor")
                continue
            locs, names = [t.get_loc() for t in ticks], [t.label1.get_text() for t in ticks]
            for step in (2, 3, 4, 5):
                axis.set_ticks(locs[::step], names[::step])
                fig.draw_without_rendering()
                kept = [lab for lab in axis.get_ticklabels() if lab.get_text()]
                if not _crowded([lab.get_window_extent(renderer) for lab in kept], vertical):
                    break
