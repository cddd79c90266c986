"""The static figures each page shows in presenter mode at a link's state, rebuilt here from the
package (the same calls as the pages), so that a browser test can read their own font sizes.

A browser test matches each picture on screen with one of these by its PNG's pixel size, then
computes what its texts come to on screen: ``pt * dpi / 72 * shown_width / natural_width``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from roiviz.drawing.export import PNG_DPI, figure_png
from roiviz.drawing.legible import PROJECTOR_SHOWN_PX, for_projector
from roiviz.drawing.style import Style

PRESENTER = Style(presenter=True)


@dataclass(frozen=True)
class PageFigure:
    """One figure: its name, its PNG's size (pixels) and its texts' sizes in points."""

    name: str
    size: tuple[int, int]
    text_pt: tuple[tuple[str, float], ...]

    def smallest_px(self, shown_width: float) -> tuple[str, float]:
        """The smallest text and its size in CSS pixels when the PNG is shown ``shown_width`` wide."""
        text, pt = min(self.text_pt, key=lambda t: t[1])
        return text, pt * PNG_DPI / 72.0 * shown_width / self.size[0]


def _measure(name: str, fig) -> PageFigure:
    from roiviz.drawing.legible import _visible_texts

    texts = tuple((t.get_text()[:40], float(t.get_fontsize())) for t in _visible_texts(fig))
    size = Image.open(io.BytesIO(figure_png(fig))).size
    return PageFigure(name, size, texts)


def _walkthrough(step: int, conv: str) -> list[PageFigure]:
    from roiviz.lessons.walkthrough import walkthrough as lesson_of
    from roiviz.drawing.render_mpl import lesson_figure

    lesson = lesson_of(conv)
    s = lesson.steps[step - 1]
    share = 0.6 if s.figure == "image" else 1.0      # pages/walkthrough.py's PHOTO_SHARE
    fig = for_projector(lesson_figure(lesson, s, style=PRESENTER), True, PROJECTOR_SHOWN_PX * share)
    return [_measure(f"walkthrough step {step}", fig)]


def _sensitivity() -> list[PageFigure]:
    from roiviz.drawing.render_mpl import sweep_figure
    from roiviz.drawing.render_pyramid import size_sweep_figure

    result, sizes = _sensitivity_results()
    return [_measure("offset sweep", for_projector(sweep_figure(result, style=PRESENTER), True)),
            _measure("box-size sweep", for_projector(size_sweep_figure(sizes, style=PRESENTER), True))]


def _gradients() -> list[PageFigure]:
    from roiviz.drawing.render_mpl import gradient_figure
    from roiviz.methods import METHODS

    result, traces = _gradient_results()
    fig = gradient_figure(result, style=PRESENTER, traces=traces, ncols=len(METHODS))
    return [_measure("gradient maps", for_projector(fig, True))]


def _gradient_results():
    """The Gradient flow page's gradients and traces at its default state."""
    from roiviz.lessons.examples import SEED_EXAMPLE_BOX, seed_example_settings
    from roiviz.lessons.gradients import gradient_maps
    from roiviz.lessons.walkthrough import example_map
    from roiviz.methods import METHODS, trace_all
    from roiviz.app.params import GRADIENTS

    d = GRADIENTS.values({})
    settings = seed_example_settings(d["conv"], sampling_ratio=int(d["sr"]), reduce=d["reduce"],
                                     aligned=bool(d["aligned"]))
    values = example_map(d["map"])
    box = tuple(float(v) for v in SEED_EXAMPLE_BOX)
    return gradient_maps(values, box, settings, METHODS), trace_all(values, box, settings)


def _evidence(table: str) -> list[PageFigure]:
    from roiviz.lessons.evidence import TABLES
    from roiviz.drawing.render_mpl import evidence_figure

    return [_measure(f"Table {table}", for_projector(evidence_figure(TABLES[table], style=PRESENTER), True))]


def _pyramids() -> list[PageFigure]:
    from roiviz.fpn import level_rule, trace_fpn_level
    from roiviz.app.params import PYRAMIDS
    from roiviz.records import Settings
    from roiviz.drawing.render_pyramid import size_sweep_figure
    from roiviz.lessons.sweeps import PAGE_BOX_SIZES, sweep_box_sizes

    d = PYRAMIDS.values({})
    aligned = d["rule"] == "detectron2"
    out = int(d["out"])
    sweep = sweep_box_sizes(PAGE_BOX_SIZES, Settings(output_size=(out, out), convention=d["conv"]),
                            fixed_stride=int(d["fixed"]), aligned=aligned)
    level = trace_fpn_level(d["box"], **level_rule(aligned))
    fig = size_sweep_figure(sweep, style=PRESENTER, mark_size=level.size)
    return [_measure("box-size sweep", for_projector(fig, True))]


#: Page (as in test_browser_presenter.PAGES) -> its figures at that link's state.
RECIPES = {
    "walkthrough": lambda: _walkthrough(6, "article"),
    "walkthrough-bilinear": lambda: _walkthrough(9, "library"),
    "walkthrough-photo": lambda: _walkthrough(1, "article"),
    "sensitivity": _sensitivity,
    "gradients": _gradients,
    "evidence": lambda: _evidence("2d"),
    "pyramids": _pyramids,
}


# ----------------------------------------------------------------------------------------------
# The same pages' phone variants (roiviz.drawing.legible.for_phone), at their default state.


def _phone_sensitivity() -> list[PageFigure]:
    from roiviz.drawing.legible import for_phone
    from roiviz.drawing.render_mpl import sweep_figure
    from roiviz.drawing.render_pyramid import size_sweep_figure

    result, sizes = _sensitivity_results()
    return [_measure("offset sweep (phone)", for_phone(sweep_figure(result))),
            _measure("box-size sweep (phone)", for_phone(size_sweep_figure(sizes)))]


def _sensitivity_results():
    """The Sensitivity page's offset sweep and box-size sweep at its default state."""
    from roiviz.lessons.examples import SEED_EXAMPLE_BOX, seed_example_settings
    from roiviz.lessons.walkthrough import example_map
    from roiviz.methods import SERIES
    from roiviz.app.params import SENSITIVITY
    from roiviz.lessons.sweeps import PAGE_BOX_SIZES, sweep_box_sizes, sweep_offsets

    d = SENSITIVITY.values({})
    settings = seed_example_settings(d["conv"], sampling_ratio=int(d["sr"]), reduce=d["reduce"])
    offsets = np.linspace(-float(d["range"]), float(d["range"]), int(d["points"]))
    result = sweep_offsets(example_map(d["map"]), SEED_EXAMPLE_BOX, settings,
                           [m for m in SERIES if m in d["methods"]], offsets, axis=d["axis"],
                           scale=d["mode"] == "grow", bin=(int(d["row"]), int(d["col"])))
    return result, sweep_box_sizes(PAGE_BOX_SIZES, seed_example_settings(d["conv"]), fixed_stride=int(d["fpn"]))


def _phone_gradients() -> list[PageFigure]:
    from roiviz.drawing.legible import for_phone
    from roiviz.drawing.render_mpl import gradient_figure

    result, traces = _gradient_results()
    fig = gradient_figure(result, traces=traces, ncols=1)
    return [_measure("gradient maps (phone)", for_phone(fig, keep_height=False))]


def _phone_evidence(table: str) -> list[PageFigure]:
    from roiviz.drawing.legible import for_phone
    from roiviz.drawing.render_mpl import evidence_figure
    from roiviz.lessons.evidence import TABLES

    return [_measure(f"Table {table} (phone)", for_phone(evidence_figure(TABLES[table])))]


#: Page -> its phone figures at the default state (Evidence: Table 2d, two panels).
PHONE_RECIPES = {
    "sensitivity": _phone_sensitivity,
    "gradients": _phone_gradients,
    "evidence": lambda: _phone_evidence("2d"),
}
