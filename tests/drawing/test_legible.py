"""roiviz.drawing.legible: a static figure's texts at the size a page shows it (presenter mode's 20 px)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from roiviz.lessons.evidence import TABLES
from roiviz.drawing.export import PNG_DPI, figure_png
from roiviz.drawing.legible import make_legible, natural_width_px, text_sizes
from roiviz.lessons.walkthrough import walkthrough
from roiviz.drawing.render_mpl import evidence_figure, lesson_figure
from roiviz.drawing.style import Style


def _png_width(fig) -> int:
    return Image.open(io.BytesIO(figure_png(fig))).size[0]


def test_sizes_follow_the_shown_width_and_the_png():
    fig = evidence_figure(TABLES["2c"], style=Style(presenter=True))
    assert natural_width_px(fig) == pytest.approx(_png_width(fig), abs=1)   # the PNG truncates
    big, small = text_sizes(fig, 1200), text_sizes(fig, 600)
    assert [s.text for s in big] == [s.text for s in small] and len(big) >= 10
    assert big[0].px == pytest.approx(2 * small[0].px)
    # One text by hand: points * dpi / 72 * shown / natural.
    assert small[0].px == pytest.approx(small[0].pt * PNG_DPI / 72 * 600 / _png_width(fig), rel=1e-3)
    assert {"mask AP", "mask AP50"} <= {s.text for s in big}         # tick labels are counted


@pytest.mark.parametrize("conv, step, shown", [("article", 6, 700), ("article", 6, 1200), ("library", 9, 1200)])
def test_make_legible_raises_every_text_and_drops_numbers_that_cannot_be_read(conv, step, shown):
    lesson = walkthrough(conv)
    fig = lesson_figure(lesson, lesson.steps[step - 1], style=Style(presenter=True))
    before = text_sizes(fig, shown)
    make_legible(fig, shown, 20)
    after = text_sizes(fig, shown)
    assert min(s.px for s in after) >= 20, after[:3]
    # Labels, titles and legends are kept (grown); only in-cell numbers may go.
    words = lambda sizes: {s.text for s in sizes if any(c.isalpha() for c in s.text)}  # noqa: E731
    assert words(after) == words(before)
    if min(s.px for s in before) >= 20:
        assert len(after) == len(before)


def test_a_figure_already_legible_is_left_alone_and_bad_sizes_are_refused():
    fig = evidence_figure(TABLES["2c"], style=Style(presenter=True))
    before = [(s.text, s.pt) for s in text_sizes(fig, 1200)]
    make_legible(fig, 1200, 10)
    assert [(s.text, s.pt) for s in text_sizes(fig, 1200)] == before
    with pytest.raises(ValueError):
        make_legible(fig, 0, 20)
    with pytest.raises(ValueError):
        make_legible(fig, 1200, -1)
