"""roiviz.drawing.render_pyramid: the pyramid and size-sweep figures render (PNG and SVG) from the records,
name the chosen level and mark the boundaries the sweep reports."""

from __future__ import annotations

import numpy as np
import pytest

from roiviz.drawing.export import PNG_SIGNATURE, figure_png, figure_svg
from roiviz.fpn import trace_fpn_level
from roiviz.drawing.render_pyramid import CHOSEN_COLOR, pyramid_figure, size_sweep_figure
from roiviz.drawing.style import Style
from roiviz.lessons.sweeps import sweep_box_sizes
from roiviz.records import Settings

IMAGE = np.zeros((64, 96, 3), np.uint8)
MAPS = [np.random.default_rng(0).random((64 // s, 96 // s)).astype(np.float32) for s in (4, 8, 16, 32)]


def test_pyramid_figure_frames_the_chosen_level():
    level = trace_fpn_level((10, 10, 60, 40))          # sqrt(50 x 30) = 38.7 px -> P2
    fig = pyramid_figure(IMAGE, MAPS, (2, 3, 4, 5), level, channel_name="luminance")
    axes = fig.axes
    assert len(axes) == 6              # image, P2..P5, and the steps of the formula
    assert f"log2(38.73 / 224) = {level.log2_term:.4f}" in axes[5].texts[0].get_text()
    titles = [ax.get_title(loc="left") for ax in axes[1:]]
    assert titles[0].startswith("P2, stride 4: pooled here") and "12.5 x 7.5 cells" in titles[0]
    assert all("pooled here" not in t for t in titles[1:])
    assert axes[1].spines["top"].get_visible() and not axes[2].spines["top"].get_visible()
    assert axes[1].spines["top"].get_edgecolor()[:3] == tuple(int(CHOSEN_COLOR[i:i + 2], 16) / 255 for i in (1, 3, 5))
    assert "pooled from P2 (stride 4 px)" in fig._suptitle.get_text()
    assert figure_png(fig).startswith(PNG_SIGNATURE)
    assert figure_svg(fig).lstrip().startswith(b"<?xml")


@pytest.mark.parametrize("presenter", [False, True])
@pytest.mark.parametrize("box", [(10, 10, 60, 40), (2, 2, 94, 62), (40.5, 20.25, 41.5, 21.0)])
def test_pyramid_figure_texts_never_overlap(box, presenter):
    """Titles, the formula's steps, the legend: no two texts' boxes meet (a 512 x 512 photo)."""
    from roiviz.features import image_feature_map
    from roiviz.samples import load_sample_image

    from test_render_mpl import overlapping_texts

    image = load_sample_image("astronaut")
    maps = [image_feature_map(image, 2 ** k).channel(0) for k in (2, 3, 4, 5)]
    scaled = tuple(8 * v for v in box)
    fig = pyramid_figure(image, maps, (2, 3, 4, 5), trace_fpn_level(scaled), style=Style(presenter=presenter),
                         channel_name="luminance")
    assert overlapping_texts(fig) == []


def test_size_sweep_figure_marks_boundaries_and_merges_coinciding_lines():
    result = sweep_box_sizes(np.geomspace(50, 600, 12), Settings(output_size=(3, 3)), positions=4)
    fig = size_sweep_figure(result, style=Style(presenter=True), mark_size=150.0)
    lost = fig.axes[0]
    xs = sorted(line.get_xdata()[0] for line in lost.get_lines() if len(line.get_xdata()) == 2
                and line.get_xdata()[0] == line.get_xdata()[1])
    assert xs == [112.0, 150.0, 224.0, 448.0]      # three boundaries and the box's size
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[0] == "RoI Pool = RoI Warp, one map, stride 16" and "your box, 150 px" in labels
    article = sweep_box_sizes([70.0, 330.0], Settings(output_size=(3, 3), convention="article"), positions=4)
    labels = [t.get_text() for t in size_sweep_figure(article).legends[0].get_texts()]
    assert "RoI Pool, FPN level" in labels and "RoI Warp, FPN level" in labels
    assert figure_png(fig).startswith(PNG_SIGNATURE)


@pytest.mark.parametrize("img, box", [("astronaut", (180, 60, 330, 210)), ("coffee", (200.5, 100.25, 201.5, 101.0)),
                                      ("chelsea", (0, 0, 451, 300)), ("astronaut", (100, 100, 324, 324))])
def test_presenter_picture_is_one_row_readable_at_1280_x_720(img, box):
    """In presenter mode the page shows the picture PRESENTER_PICTURE_PX wide: one row (image,
    P2..P5), every text at least 20 px on that screen (its points / 72 * the PNG's dpi, times the
    displayed width over the PNG's width), short enough for the page's height limit, and no
    formula inside (the page writes it as text)."""
    import io

    from PIL import Image

    from roiviz.drawing.export import PNG_DPI
    from roiviz.features import image_feature_map
    from roiviz.drawing.render_pyramid import PRESENTER_PICTURE_PX
    from roiviz.samples import load_sample_image
    from roiviz.app.ui import PRESENTER_MIN_PX

    from test_render_mpl import _drawn_texts, overlapping_texts

    image = load_sample_image(img)
    maps = [image_feature_map(image, 2 ** k).channel(0) for k in (2, 3, 4, 5)]
    level = trace_fpn_level(box)
    fig = pyramid_figure(image, maps, (2, 3, 4, 5), level, style=Style(presenter=True), channel_name="luminance")
    width_px, height_px = Image.open(io.BytesIO(figure_png(fig))).size
    boxes = [ax.get_position() for ax in fig.axes]
    assert len(boxes) == 5 and max(b.y0 for b in boxes) < min(b.y1 for b in boxes)     # one row
    assert all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:]))                          # left to right
    on_screen = PRESENTER_PICTURE_PX / width_px                     # CSS px per PNG px
    drawn = _drawn_texts(fig)
    from matplotlib.text import Text
    texts = [t for t in fig.findobj(Text) if id(t) in drawn and t.get_visible() and t.get_text().strip()]
    assert len(texts) >= 1 + 5 + 2                     # suptitle, five titles, two legend labels
    smallest = min(t.get_fontsize() / 72 * PNG_DPI * on_screen for t in texts)
    assert smallest >= PRESENTER_MIN_PX, smallest
    assert all("log2(" not in t.get_text() and "floor(" not in t.get_text() for t in texts)
    # The page limits a picture's height to the window less 260 px: it must not need shrinking.
    assert height_px * on_screen <= 720 - 260
    assert overlapping_texts(fig) == []
    # Normal mode keeps two rows with the formula's steps in the free panel (phones, posts).
    two = pyramid_figure(image, maps, (2, 3, 4, 5), level, style=Style(presenter=True), one_row=False)
    assert len(two.axes) == 6 and level.steps()[-1].split(",")[0] in two.axes[5].texts[0].get_text()
