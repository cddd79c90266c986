"""Tests for roiviz.render_mpl: static figures drawn from traces, results and constants."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.patches import Rectangle

from roiviz import render_mpl as R
from roiviz.evidence import TABLE_2C, TABLE_2D
from roiviz.examples import SEED_EXAMPLE_BOX, seed_example_settings
from roiviz.export import PNG_SIGNATURE
from roiviz.gradients import gradient_maps
from roiviz.lessons import example_map, walkthrough
from roiviz.style import AREA_STYLES, Style
from roiviz.methods import SERIES
from roiviz.sweeps import sweep_offsets
from roiviz.methods import METHODS
from roiviz.methods import trace_all

TOY = example_map("toy")


def _rects(ax) -> set[tuple[float, float, float, float]]:
    out = set()
    for p in ax.patches:
        if isinstance(p, Rectangle):
            x, y = p.get_xy()
            out.add(tuple(round(float(v), 6) for v in (x, y, x + p.get_width(), y + p.get_height())))
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
    assert not [c for c in fig.axes[0].collections if len(c.get_offsets())]
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
    code = ("import sys, roiviz.render_mpl, roiviz.lessons, roiviz.sweeps, roiviz.gradients, "
            "roiviz.evidence, roiviz.export; "
            "bad = [m for m in ('matplotlib.pyplot', 'streamlit') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_comparison_figure_has_a_panel_and_an_output_per_method():
    from roiviz.export import figure_png, figure_svg
    from roiviz.features import toy_grid
    from roiviz.render_mpl import comparison_figure
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
