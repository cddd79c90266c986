"""Tests for roiviz.drawing.render_mpl: static figures drawn from traces, results and constants."""

from __future__ import annotations

import io
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox
from PIL import Image

from roiviz.drawing import render_mpl as R
from roiviz.lessons.evidence import TABLE_2C, TABLE_2D
from roiviz.lessons.examples import SEED_EXAMPLE_BOX, seed_example_settings
from roiviz.drawing.export import PNG_DPI, PNG_SIGNATURE
from roiviz.lessons.gradients import gradient_maps
from roiviz.lessons.walkthrough import example_map, walkthrough
from roiviz.drawing.style import AREA_STYLES, Style
from roiviz.methods import SERIES
from roiviz.lessons.sweeps import sweep_offsets
from roiviz.methods import METHODS
from roiviz.methods import trace_all

TOY = example_map("toy")


def _rects(ax) -> set[tuple[float, float, float, float]]:
    out = set()
    for p in ax.patches:
        if isinstance(p, Rectangle):
            x, y = p.get_xy()
            out.add(tuple(round(float(v), 6) for v in (x, y, x + p.get_width(), y + p.get_height())))
        elif p.get_gid() == "roiviz-rects":      # many rectangles drawn as one patch
            out.update(tuple(round(v, 6) for v in r) for r in R.patch_rects(p))
    return out


def _labels(fig) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


@pytest.mark.parametrize("conv", ["article", "library"])
def test_method_panels_draw_the_trace(conv):
    traces = trace_all(TOY, SEED_EXAMPLE_BOX, seed_example_settings(conv, sampling_ratio=2))
    for method, t in traces.items():
        fig = R.method_figure(t, TOY)
        ax = fig.axes[0]
        rects = _rects(ax)
        assert tuple(round(v, 6) for v in t.roi) in rects          # the dashed RoI
        if t.snapped_box is not None:
            assert tuple(float(v) for v in t.snapped_box) in rects
        for name in ("lost", "gained"):
            for r in t.region_rects(name):
                assert tuple(round(v, 6) for v in r) in rects
        labels = _labels(fig)
        assert f"{AREA_STYLES['lost'][3]}: {t.areas.percent('lost'):.1f}% of the RoI" in labels
        if method in ("roi_align", "roi_warp"):
            assert "sampling points (2 x 2 per bin)" in labels
            xs = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections if len(c.get_offsets())])
            assert set(np.round([s.x for b in t.bins for s in b.samples], 6)) <= set(np.round(xs, 6))
        if method == "roi_pool":
            assert "maximum of each bin" in labels
        assert R.figure_png(fig).startswith(PNG_SIGNATURE)


def test_layers_choose_what_is_drawn():
    t = trace_all(TOY, SEED_EXAMPLE_BOX, seed_example_settings("article", sampling_ratio=2), ["roi_align"])["roi_align"]
    fig = R.method_figure(t, TOY, layers={"map"})
    assert _labels(fig) == []
    assert not [c for c in fig.axes[0].collections if isinstance(c, PathCollection) and len(c.get_offsets())]
    with pytest.raises(ValueError, match="layers"):
        R.method_figure(t, TOY, layers={"map", "sparkles"})


def test_focus_sample_zooms_on_its_neighbours():
    t = trace_all(TOY, SEED_EXAMPLE_BOX, seed_example_settings("article", sampling_ratio=2), ["roi_align"])["roi_align"]
    fig = R.method_figure(t, TOY, focus_sample=(0, 0, 0))
    sample = t.bin(0, 0).samples[0]
    cols = [c for _, c in sample.neighbours]
    rows = [r for r, _ in sample.neighbours]
    assert fig.axes[0].get_xlim() == (min(cols) - 1, max(cols) + 2)
    assert fig.axes[0].get_ylim() == (max(rows) + 2, min(rows) - 1)
    texts = {tx.get_text() for tx in fig.axes[0].texts}
    assert {f"{w:.2f}" for w in sample.weights} <= texts


def test_every_walkthrough_step_renders():
    lesson = walkthrough("article")
    for step in lesson.steps:
        fig = R.lesson_figure(lesson, step, style=Style(presenter=step.key == "compare"))
        assert fig._suptitle is not None or fig.axes[0].get_title("left")
        assert len(fig.axes) >= 1 + (len(step.outputs) if step.figure == "map" else 0)
        for ax, key in zip(fig.axes[1:], step.outputs if step.figure == "map" else ()):
            np.testing.assert_array_equal(ax.images[0].get_array(), lesson.traces[key].output)
    svg = R.figure_svg(R.lesson_figure(lesson, lesson.step("bins")))
    assert ET.fromstring(svg).tag.endswith("svg")


def test_presenter_style_is_larger():
    t = trace_all(TOY, SEED_EXAMPLE_BOX, seed_example_settings(), ["roi_pool"])["roi_pool"]
    small = R.method_figure(t, TOY, style=Style(False)).axes[0]._left_title.get_fontsize()
    large = R.method_figure(t, TOY, style=Style(True)).axes[0]._left_title.get_fontsize()
    assert large > small


def test_sweep_figure_plots_the_result():
    r = sweep_offsets(TOY, SEED_EXAMPLE_BOX, seed_example_settings(sampling_ratio=2), SERIES, np.linspace(-1, 1, 11))
    fig = R.sweep_figure(r)
    top, bottom = fig.axes[:2]
    for line, s in zip(top.lines[:len(SERIES)], SERIES):
        np.testing.assert_array_equal(line.get_ydata(), r.bin_values[s])
    for line, s in zip(bottom.lines[:len(SERIES)], SERIES):
        np.testing.assert_array_equal(line.get_ydata(), r.mean_abs_change[s])
    # series differ by line style or marker, not only colour
    styles = {(line.get_linestyle(), line.get_marker()) for line in top.lines[:len(SERIES)]}
    assert len(styles) == len(SERIES)


def test_gradient_figure_shows_the_maps():
    settings = seed_example_settings("library", sampling_ratio=2)
    g = gradient_maps(TOY, SEED_EXAMPLE_BOX, settings)
    fig = R.gradient_figure(g, traces=trace_all(TOY, SEED_EXAMPLE_BOX, settings))
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 4
    for ax, m in zip(panels, METHODS):
        np.testing.assert_array_equal(ax.images[0].get_array(), g.maps[m])
        assert ax.get_title("left").endswith(f"{g.cells_reached(m)} cells")


@pytest.mark.parametrize("table", [TABLE_2C, TABLE_2D])
def test_evidence_bars_are_the_papers_numbers(table):
    fig = R.evidence_figure(table)
    mask_ax = fig.axes[0]
    heights = sorted(round(p.get_height(), 3) for p in mask_ax.patches)
    assert heights == sorted(v for r in table.rows for v in r.mask)
    assert mask_ax.get_ylim()[0] == 0                       # bars start at zero
    assert "mask AP" in mask_ax.get_title("left")
    if table.has_box:
        assert "box AP" in fig.axes[1].get_title("left")
        assert sorted(round(p.get_height(), 3) for p in fig.axes[1].patches) == \
            sorted(v for r in table.rows for v in r.box)


def test_no_pyplot_and_no_streamlit_in_roiviz():
    code = ("import sys, roiviz.drawing.render_mpl, roiviz.lessons.walkthrough, roiviz.lessons.sweeps, roiviz.lessons.gradients, "
            "roiviz.lessons.evidence, roiviz.drawing.export; "
            "bad = [m for m in ('matplotlib.pyplot', 'streamlit') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_comparison_figure_has_a_panel_and_an_output_per_method():
    from roiviz.drawing.export import figure_png, figure_svg
    from roiviz.features import toy_grid
    from roiviz.drawing.render_mpl import comparison_figure
    from roiviz.records import Settings
    from roiviz.methods import trace_all
    values = toy_grid().channel(0)
    traces = trace_all(values, (40.0, 72.0, 240.0, 200.0), Settings(output_size=(3, 3), stride=32))
    fig = comparison_figure(traces, values)
    assert len(fig.axes) == 2 * len(traces)
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert "RoI Pool" in titles and "Precise RoI Pooling" in titles
    pool = traces["roi_pool"].areas
    assert f"gained {pool.percent('gained'):.1f}%" in " ".join(titles)
    assert figure_png(fig).startswith(b"\x89PNG") and b"<svg" in figure_svg(fig)


# ---------------------------------------------------------------------------------------------
# Readable at every size: the Playground's export at 3 x 3, 7 x 7 and 14 x 14 (ratio 2 and 16)
# on the astronaut's 32 x 32 map (stride 16), the default box of the Playground.

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _renderer(fig):
    FigureCanvasAgg(fig)
    fig.draw_without_rendering()
    return fig.canvas.get_renderer()


def _drawn_texts(fig) -> set[int]:
    """Ids of the texts a draw of ``fig`` draws (tick labels beyond the limits exist but are not)."""
    drawn: set[int] = set()
    original = Text.draw

    def record(self, renderer):
        drawn.add(id(self))
        return original(self, renderer)

    Text.draw = record
    try:
        fig.draw_without_rendering()
    finally:
        Text.draw = original
    return drawn


def _text_boxes(fig, renderer) -> list[tuple[str, Bbox]]:
    """Every drawn, non-empty text's window extent (clipped texts: the part inside their axes)."""
    out = []
    drawn = _drawn_texts(fig)
    for t in fig.findobj(Text):
        if id(t) not in drawn or not t.get_visible() or not t.get_text().strip():
            continue
        box = t.get_window_extent(renderer)
        clip = t.get_clip_box() if t.get_clip_on() else None   # titles have none: never clipped
        if clip is not None:
            clipped = Bbox.intersection(box, clip)
            if clipped is None or clipped.width <= 0 or clipped.height <= 0:
                continue
        out.append((t.get_text(), box))
    return out


def overlapping_texts(fig) -> list[tuple[str, str]]:
    """Pairs of texts whose rendered boxes intersect (by more than a tenth of a pixel)."""
    boxes = _text_boxes(fig, _renderer(fig))
    a = np.array([b.extents for _, b in boxes])                         # [n, 4] x0 y0 x1 y1
    ix = np.minimum(a[:, None, 2], a[None, :, 2]) - np.maximum(a[:, None, 0], a[None, :, 0])
    iy = np.minimum(a[:, None, 3], a[None, :, 3]) - np.maximum(a[:, None, 1], a[None, :, 1])
    hit = np.triu((ix > 0.1) & (iy > 0.1), k=1)
    return [(boxes[i][0], boxes[j][0]) for i, j in zip(*np.nonzero(hit))]


@pytest.fixture(scope="module")
def astronaut():
    from roiviz.features import image_feature_map
    from roiviz.samples import load_sample_image
    from roiviz.app.state import default_box

    values = image_feature_map(load_sample_image("astronaut"), 16).channel(0)
    return values, default_box(values.shape, 16)


@pytest.mark.parametrize("size, ratio", [(3, 2), (7, 2), (14, 2), (3, 16), (7, 16), (14, 16)])
def test_comparison_export_stays_readable(astronaut, size, ratio):
    from roiviz.geometry import SAMPLE_BUDGET
    from roiviz.records import Settings
    from roiviz.drawing.thinned import drawable_traces

    values, box = astronaut
    settings = Settings(output_size=(size, size), stride=16, sampling_ratio=ratio)
    # Beyond the sample budget RoI Warp and RoI Align are drawn from thinned traces.
    traces = drawable_traces(values, box, settings)
    thinned = size * size * ratio * ratio > SAMPLE_BUDGET
    assert [t.sample_step != (1, 1) for t in traces.values()] == [False, thinned, thinned, False]
    fig = R.comparison_figure(traces, values)
    renderer = _renderer(fig)
    assert overlapping_texts(fig) == []
    maps, outputs = fig.axes[0::2], fig.axes[1::2]
    view = R.view_rect(list(traces.values()))
    for ax, out_ax, t in zip(maps, outputs, traces.values()):
        # Cropped to the RoI's neighbourhood, not the whole 32 x 32 map.
        assert ax.get_xlim() == (view[0], view[2]) and view[2] - view[0] < 20
        assert view[0] <= t.roi[0] - 1 and view[2] >= t.roi[2] + 1
        # A feature cell and a bin are large enough on paper to tell apart.
        (x0, _), (x1, _) = ax.transData.transform([(0, 0), (1, 0)])
        cell_px = abs(x1 - x0)
        assert cell_px >= 0.9 * R.MIN_CELL_INCHES * fig.dpi
        # Every bin line is drawn, in the method's colour, inside the panel.
        rects = _rects(ax)
        inset = 0.07 if t.method == "roi_pool" else 0.0
        for b in t.bins:
            if b.rect is not None:
                x1_, y1_, x2_, y2_ = b.rect
                want = tuple(round(v, 6) for v in (x1_ + inset, y1_ + inset, x2_ - inset, y2_ - inset))
                assert want in rects, (t.method, b.row, b.col)
                assert view[0] <= x1_ and x2_ <= view[2] and view[1] <= y1_ and y2_ <= view[3]
        # Sampling points cover at most 35% of the panel (and are thinned, with a note, if needed).
        area = ax.bbox.width * ax.bbox.height
        covered = 0.0
        for c in ax.collections:
            if c.get_gid() == "roiviz-samples":
                d = (np.sqrt(c.get_sizes()[0]) + c.get_linewidths()[0]) * fig.dpi / 72
                covered += len(c.get_offsets()) * np.pi / 4 * d ** 2
        assert covered <= 0.35 * area, (t.method, covered / area)
        if t.grid[0] * t.grid[1] * len(t.bins) > 0:
            drawn = sum(len(c.get_offsets()) for c in ax.collections if c.get_gid() == "roiviz-samples")
            labels = _labels(fig)
            if drawn < t.grid[0] * t.grid[1] * len(t.bins):
                assert any("row and column shown" in s for s in labels)
            assert drawn > 0
        # The output shows every number that fits, and at 3 x 3 and 7 x 7 they all fit.
        numbers = [tx for tx in out_ax.texts if tx.get_text()]
        if size <= 7:
            assert len(numbers) == size * size
            assert {tx.get_text() for tx in numbers} == {f"{v:.2f}" for v in t.output.ravel()}
    # The legend is its own row: it touches no axes (tick labels included).
    legend = fig.legends[0].get_window_extent(renderer)
    for ax in fig.axes:
        assert not legend.overlaps(ax.get_tightbbox(renderer))

    # Read the PNG back: its size is the figure's, and the map is visible in every panel.
    png = R.figure_png(fig)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"export-playground-{size}x{size}-ratio{ratio}.png").write_bytes(png)
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    # The saved bounds (inches): the figure plus 0.08 in a side (its layout frozen, no tight crop
    # redrawing it), and every text inside them.
    tight = fig.roiviz_bbox
    assert tight.contains(*fig.get_tightbbox(renderer).min) and tight.contains(*fig.get_tightbbox(renderer).max)
    expect = (tight.height * PNG_DPI, tight.width * PNG_DPI)
    # (text is measured at the screen's 100 dpi here, at 150 dpi in the PNG: a few pixels differ)
    assert abs(image.shape[0] - expect[0]) <= 0.01 * expect[0] and abs(image.shape[1] - expect[1]) <= 0.01 * expect[1]
    assert image.shape[1] <= 24 * PNG_DPI + 10
    scale = PNG_DPI / fig.dpi
    for ax in maps:
        b = ax.bbox      # display pixels from the bottom; the PNG's rows go down from the top
        left = int((b.x0 / fig.dpi - tight.x0) * PNG_DPI) + 2
        top = int((tight.y1 - b.y1 / fig.dpi) * PNG_DPI) + 2
        crop = image[top:top + int(b.height * scale) - 4, left:left + int(b.width * scale) - 4]
        grey = crop[(crop[..., 0] == crop[..., 1]) & (crop[..., 1] == crop[..., 2])]
        # the map's grey levels show through: many of them, over a good part of the panel
        assert len(np.unique(grey[:, 0])) >= 12
        assert len(grey) >= 0.15 * crop.shape[0] * crop.shape[1]


def test_walkthrough_exports_have_no_overlapping_text():
    lesson = walkthrough("article")
    for step in lesson.steps:
        for presenter in (False, True):
            fig = R.lesson_figure(lesson, step, style=Style(presenter=presenter))
            assert overlapping_texts(fig) == [], (step.key, presenter)


def test_a_number_is_printed_only_where_it_fits():
    t = trace_all(TOY, SEED_EXAMPLE_BOX, seed_example_settings("library"), ["roi_align"])["roi_align"]
    fig = R.output_figure(t)
    assert len([tx for tx in fig.axes[0].texts if tx.get_text()]) == t.output.size
    # Shrink the figure after the fact: numbers that no longer fit their bins are removed.
    fig.set_size_inches(1.0, 1.0)
    assert R.fit_numbers(fig) == t.output.size
    assert not [tx for tx in fig.axes[0].texts if tx.get_text()]


@pytest.mark.parametrize("presenter", [False, True])
def test_other_pages_exports_have_no_overlapping_text(presenter):
    style = Style(presenter=presenter)
    settings = seed_example_settings("library", sampling_ratio=2)
    figures = [R.gradient_figure(gradient_maps(TOY, SEED_EXAMPLE_BOX, settings), style=style,
                                 traces=trace_all(TOY, SEED_EXAMPLE_BOX, settings)),
               R.sweep_figure(sweep_offsets(TOY, SEED_EXAMPLE_BOX, settings, SERIES, np.linspace(-1, 1, 21)),
                              style=style),
               R.evidence_figure(TABLE_2C, style=style), R.evidence_figure(TABLE_2D, style=style)]
    for fig in figures:
        assert overlapping_texts(fig) == []


def test_the_overlap_check_sees_overlaps():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, "0.7730.608")
    ax.text(0.52, 0.5, "0.805")
    ax.set_xticks([0.0, 0.5, 1.0])
    ax.set_xlim(0.1, 0.9)                 # the ticks at 0 and 1 exist but are not drawn
    assert overlapping_texts(fig) == [("0.7730.608", "0.805")]


def _text_px_at(fig, width_px: float) -> list[tuple[str, float]]:
    """Every drawn text's font size in CSS pixels when the figure is shown ``width_px`` wide."""
    drawn = _drawn_texts(fig)
    scale = width_px / (fig.get_size_inches()[0] * 72.0)          # CSS px per point
    return [(t.get_text(), t.get_fontsize() * scale) for t in fig.findobj(Text)
            if id(t) in drawn and t.get_visible() and t.get_text().strip()]


@pytest.mark.parametrize("size, ratio", [(3, 2), (7, 2), (14, 2), (7, 16)])
def test_blog_figure_reads_at_700_px(astronaut, size, ratio):
    from roiviz.records import Settings
    from roiviz.drawing.thinned import drawable_traces, thinning_line

    values, box = astronaut
    traces = drawable_traces(values, box, Settings(output_size=(size, size), stride=16, sampling_ratio=ratio))
    line = thinning_line(traces)
    assert bool(line) == (ratio == 16)
    fig = R.blog_figure(traces, values, thinned=line)
    # Laid out for the column: 2 x 2 methods (a map above each output), the whole width used.
    assert fig.get_size_inches()[0] == R.BLOG_WIDTH_INCHES and len(fig.axes) == 8
    maps = fig.axes[0::2]
    lefts = sorted({round(ax.get_position().x0, 2) for ax in maps})
    assert len(lefts) == 2 and len({round(ax.get_position().y0, 2) for ax in maps}) == 2
    sizes = _text_px_at(fig, R.BLOG_WIDTH_PX)
    assert sizes and min(px for _, px in sizes) >= R.BLOG_MIN_TEXT_PX - 1e-6, \
        sorted(sizes, key=lambda s: s[1])[:3]
    assert overlapping_texts(fig) == []
    # Texts stay inside the figure (nothing cut at the column's edges).
    renderer = _renderer(fig)
    frame = fig.bbox
    for text, bb in _text_boxes(fig, renderer):
        assert bb.x0 >= frame.x0 - 1 and bb.x1 <= frame.x1 + 1, text
    for legend in fig.legends:
        bb = legend.get_window_extent(renderer)
        assert bb.x0 >= frame.x0 - 1 and bb.x1 <= frame.x1 + 1
    # Where the numbers fit (3 x 3 and 7 x 7) every output number is printed.
    if size <= 7:
        for out_ax, t in zip(fig.axes[1::2], traces.values()):
            assert {tx.get_text() for tx in out_ax.texts if tx.get_text()} == {f"{v:.2f}" for v in t.output.ravel()}
    if line:
        assert line in fig._suptitle.get_text()
    png = R.figure_png(fig, dpi=R.BLOG_DPI)
    assert png.startswith(PNG_SIGNATURE)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"blog-{size}x{size}-ratio{ratio}.png").write_bytes(png)
