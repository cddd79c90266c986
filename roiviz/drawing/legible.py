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

from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

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
