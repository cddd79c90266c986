"""The teaching text against the numbers: every property a page states is checked on the engine.

Issue 13: a claim the app makes to a learner must hold on roiviz's own traces, and a number it
states must be computed, not typed. Each test names the claim (and ``docs/sources.md`` lists
where it is shown and its source). A test here fails when the text and the engine part ways.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from roiviz.lessons.evidence import (
    PAPER_NOTES,
    SAMPLING_QUOTE,
    TABLE_2C,
    TABLE_2C_GAIN,
    TABLE_2D,
    TABLE_2D_GAIN,
    table_records,
)
from roiviz.lessons.examples import SEED_EXAMPLE_BOX, seed_example_settings
from roiviz.lessons.gradients import gradient_maps
from roiviz.lessons.walkthrough import example_map, shared_cells, walkthrough
from roiviz.ops import precise_roi_pool, roi_align, roi_pool, roi_warp
from roiviz.lessons.sweeps import shifted_boxes

ROOT = Path(__file__).resolve().parent.parent
SLIDER_SHIFTS = ("-0.5", "-0.375", "-0.25", "-0.125", "0", "0.125", "0.25", "0.375", "0.5")


def _text(path: str) -> str:
    return (ROOT / path).read_text(encoding="utf-8")


def _fmt(x: float) -> str:
    return f"{float(x):g}"


# ----------------------------------------------------------------------------------------------
# The part of a box outside the map (Playground info box, README).

OUTSIDE_BOX = (-1.0, 0.0, 3.0, 4.0)     # a quarter of it left of the map, stride 1


def _one(op, value: float, box=OUTSIDE_BOX, side: int = 4, **kw) -> float:
    x = torch.full((1, 1, side, side), value, dtype=torch.float32)
    return float(op(x, torch.tensor([[0.0, *box]]), 1, 1.0, **kw)[0, 0, 0, 0])


def outside_numbers() -> dict[str, float]:
    """The worked numbers of the outside-the-map rule, computed by the ops."""
    # The "reads zeros" model: zero columns to the left of the map (the box leaves it on the left
    # only), wide enough that nothing reaches past them; the box moves with the map.
    pad = 4
    padded = torch.zeros(1, 1, 4, 4 + pad)
    padded[..., pad:] = 5.0
    shifted = torch.tensor([[0.0, OUTSIDE_BOX[0] + pad, OUTSIDE_BOX[1], OUTSIDE_BOX[2] + pad,
                             OUTSIDE_BOX[3]]])
    zeros_model = float(roi_align(padded, shifted, 1, 1.0, 2, True)[0, 0, 0, 0])
    return {
        "roi_align": _one(roi_align, 5.0, sampling_ratio=2, aligned=True),
        "roi_warp": _one(roi_warp, 5.0, sampling_ratio=2),
        "precise": _one(precise_roi_pool, 5.0),
        "zeros": zeros_model,
        "zeros_exact": float(precise_roi_pool(padded, shifted, 1, 1.0)[0, 0, 0, 0]),
        "roi_pool_negative": _one(roi_pool, -5.0),
    }


def test_outside_the_map_is_not_read_as_zeros():
    n = outside_numbers()
    # RoI Align: both sample columns (-0.5 and 1.5 in the library frame) lie within one cell of
    # the map, so both take map values: the constant, unlike the zero-padded reading.
    assert n["roi_align"] == pytest.approx(5.0) and n["roi_warp"] == pytest.approx(5.0)
    # Reading zeros outside: a quarter of the box is 0, three quarters are 5.
    assert n["zeros"] == pytest.approx(5.0 * 3 / 4) == pytest.approx(n["zeros_exact"])
    # roiviz's Precise RoI Pooling integrates the kernel's surface: 0 only beyond one cell.
    assert n["zeros"] < n["precise"] < n["roi_align"]
    assert n["precise"] == pytest.approx(5.0 * 3.5 / 4)
    # RoI Pool skips cells off the map instead of reading 0 (which would win the max over -5).
    assert n["roi_pool_negative"] == pytest.approx(-5.0)


def test_outside_rule_one_sample_at_a_time():
    """One sample up to one cell from the edge cell's centre takes the edge value; one further out reads 0."""
    within = _one(roi_align, 5.0, box=(-0.5, 0.0, 0.5, 1.0), sampling_ratio=1, aligned=True)  # x = -0.5
    beyond = _one(roi_align, 5.0, box=(-1.5, 0.0, -0.5, 1.0), sampling_ratio=1, aligned=True)  # x = -1.5
    assert within == pytest.approx(5.0) and beyond == 0.0


def test_readme_quotes_the_computed_outside_numbers():
    n = outside_numbers()
    readme = _text("README.md")
    section = readme[readme.index("The part of a box off the map"):]
    for key in ("roi_align", "zeros", "precise", "roi_pool_negative"):
        assert _fmt(round(n[key], 6)).rstrip("0") in section, key
    assert f"RoI Align gives\n  {n['roi_align']:.1f}" in section or f"{n['roi_align']:.1f}" in section


def test_playground_info_box_states_the_rule_per_method():
    app = _text("pages/playground.py")
    start = app.index("of the box lies outside the feature map")
    box_text = app[start:app.index(")", app.index("authors' code", start)) + 1]
    assert "as zeros" not in box_text
    for phrase in ("RoI Pool skips cells off the map", "half a cell past the map's border",
                   "further out 0", "authors' code reads 0"):
        assert phrase in box_text


# ----------------------------------------------------------------------------------------------
# RoI Warp's gradient map moves only when the rounding flips (Gradient flow page, docs/lesson.md).


def _unchanged_shifts(convention: str, method: str, kind: str = "toy") -> list[str]:
    settings = seed_example_settings(convention, sampling_ratio=2)
    maps = {}
    for shift in SLIDER_SHIFTS:
        box = tuple(shifted_boxes(SEED_EXAMPLE_BOX, [float(shift)], settings.stride, "x")[0])
        maps[shift] = gradient_maps(example_map(kind), box, settings, [method]).maps[method]
    return [s for s in SLIDER_SHIFTS if np.array_equal(maps[s], maps["0"])]


@pytest.mark.parametrize("kind", ["toy", "photo"])
@pytest.mark.parametrize("method", ["roi_warp", "roi_pool"])
def test_library_rounding_flips_between_0125_and_025(method, kind):
    same = _unchanged_shifts("library", method, kind)
    assert "0.125" in same and "0.25" not in same
    # ... and it flips on the left too, which the caption reports (computed) rather than assumes.
    assert same == ["0", "0.125"]


def test_article_rounding_flips_only_far_left():
    same = _unchanged_shifts("article", "roi_warp")
    assert "0.25" in same and "0.5" in same           # +0.25 is no flip under the article rounding
    assert "-0.375" not in same and "-0.25" in same   # docs/lesson.md: flips at 0.375 cell left
    lesson = _text("docs/lesson.md")
    assert "at +0.125 cell" in lesson and "at +0.25 the rounding" in lesson
    assert "library rounding" in lesson and "moved left by 0.375" in lesson


def test_roi_align_gradient_follows_every_shift():
    """The page's contrast: RoI Align's map changes at every slider shift."""
    assert _unchanged_shifts("library", "roi_align") == ["0"]


def test_gradients_page_caption_is_computed():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "gradients.py"), default_timeout=90)
    at.query_params["conv"] = "library"
    at.run()
    assert not at.exception
    same = _unchanged_shifts("library", "roi_warp")
    captions = [c.value for c in at.caption if "RoI Warp's gradient map" in c.value]
    assert len(captions) == 1
    assert f"for shifts {', '.join(same)} and differs at" in captions[0]
    markdown = " ".join(m.value for m in at.markdown)
    assert "slide continuously" not in markdown and "*snapped* box" in markdown


# ----------------------------------------------------------------------------------------------
# RoI Warp's bins share cells (Walkthrough, RoI Warp step).


def _shared_from_samples(trace) -> tuple[int, int]:
    """Independent count: cells among a bin's samples' neighbours with a positive weight."""
    per_bin = [{cell for s in b.samples for cell, w in zip(s.neighbours, s.weights) if w > 0}
               for b in trace.bins]
    counts = Counter(cell for cells in per_bin for cell in cells)
    return sum(1 for n in counts.values() if n > 1), max(counts.values())


@pytest.mark.parametrize("conv", ["article", "library"])
def test_warp_step_states_the_cells_shared_by_bins(conv):
    lesson = walkthrough(conv)
    warp = lesson.traces["roi_warp"]
    n_shared, most = shared_cells(warp)
    assert (n_shared, most) == _shared_from_samples(warp)
    assert n_shared > 0 and most >= 2          # so "no cell is read twice" would be false
    step = lesson.step("warp")
    assert "read twice" not in step.text
    assert f"{n_shared} cells get weight from more than one bin" in step.text
    assert dict(step.numbers)["cells weighted by more than one bin"] == f"{n_shared} (at most {most} bins per cell)"
    if most > 2:
        assert f"some from {most}" in step.text


def test_library_warp_has_cells_in_four_bins():
    """The issue's observation: under the library rounding some cells serve four bins."""
    assert shared_cells(walkthrough("library").traces["roi_warp"])[1] == 4


# ----------------------------------------------------------------------------------------------
# Numbers a step states are computed.

#: Numbers the lessons may state that are facts from the sources, not results (docs/sources.md).
#: Years, section and opset numbers, MNC's 14 x 14 / 7 x 7 and stride 16, VGG16's 512 channels,
#: and small counts written in words' place ("2 x 2", "+1", "one of 4").
SOURCE_NUMBERS = {"2015", "2016", "2018", "2.1", "10", "16", "14", "7", "512",
                  "0", "1", "2", "3", "4", "5"}
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")


@pytest.mark.parametrize("conv", ["article", "library"])
def test_every_number_in_a_step_is_computed_or_a_cited_fact(conv):
    lesson = walkthrough(conv)
    s = lesson.settings
    from_settings = {_fmt(v) for v in (s.stride, *s.output_size, *lesson.traces["roi_align"].grid,
                                       s.stride / 2, 0.5, lesson.values.min(), lesson.values.max())}
    from_table = {_fmt(r.mask[0]) for r in TABLE_2C.rows}
    boxes = [v for t in lesson.traces.values() for b in (t.roi, t.snapped_box, t.sampled_box) if b
             for v in (*b, b[2] - b[0], b[3] - b[1])]
    from_traces = {f"{float(v):.4g}" for v in boxes} | {f"{float(v) - 1:.4g}" for v in boxes}
    every_stated = {n for st in lesson.steps for _, v in st.numbers for n in NUMBER.findall(v)}
    for step in lesson.steps:
        stated = " ".join(v for _, v in step.numbers) + " " + " ".join(label for label, _ in step.numbers)
        stated_numbers = set(NUMBER.findall(stated))
        for text in (step.text, step.differs):
            for token in NUMBER.findall(text.replace("½", "")):
                allowed = stated_numbers | every_stated | from_settings | from_traces | from_table
                assert token in allowed | SOURCE_NUMBERS, \
                    f"step {step.key!r} states {token!r}, which is neither computed nor a cited fact"


def test_reduce_step_quotes_table_2c():
    text = walkthrough("article").step("reduce").text
    rows = {(r.layer, r.aggregation): r for r in TABLE_2C.rows}
    assert f"mask AP {rows[('RoIAlign', 'max')].mask[0]} with max" in text
    assert f"{rows[('RoIAlign', 'average')].mask[0]} with average (Table 2c)" in text


# ----------------------------------------------------------------------------------------------
# The Mask R-CNN numbers the Evidence page and the lessons quote.


def test_c4_gain_is_computed_and_largest_at_ap75():
    pool = next(r for r in TABLE_2C.rows if r.layer == "RoIPool")
    align = next(r for r in TABLE_2C.rows if (r.layer, r.aggregation) == ("RoIAlign", "average"))
    gain = tuple(round(a - p, 1) for a, p in zip(align.mask, pool.mask))
    assert TABLE_2C_GAIN == gain
    assert gain[2] == max(gain)       # "much of the gain coming at high IoU (AP75)"
    note = PAPER_NOTES[0]
    assert all(f"+{g}" in note for g in gain) and "most of it" not in note


def test_c5_note_quotes_table_2d():
    note = PAPER_NOTES[3]
    assert f"{TABLE_2D_GAIN[0][0]} mask AP" in note and f"{TABLE_2D_GAIN[0][2]} mask AP75" in note
    assert _fmt(TABLE_2D.rows[1].mask[0]) in note


def test_table_2d_aggregation_is_not_presented_as_printed():
    assert not any(r.printed for r in TABLE_2D.rows) and all(r.printed for r in TABLE_2C.rows)
    records = table_records(TABLE_2D)
    assert all(rec["aggregation"] not in ("max", "average") for rec in records)
    assert "average" not in " ".join(r.label for r in TABLE_2D.rows)


def test_sampling_quote_is_the_same_everywhere():
    quote = SAMPLING_QUOTE.split(": ", 1)[1].strip('"').rstrip('."')
    assert "as long as no quantization is performed" in quote
    table = re.sub(r'"\s*\n\s*"', "", _text("roiviz/app/params.py"))   # the Playground's help texts
    assert quote in table.replace('\\"', '"')
    assert SAMPLING_QUOTE.split(": ", 1)[1] in walkthrough("article").step("align").text


# ----------------------------------------------------------------------------------------------
# Claims issue 13 found wrong must not come back.

WRONG = {
    "28 x 28": ["roiviz/roi_warp.py", "roiviz/lessons/walkthrough.py", "README.md"],
    "the paper before Mask R-CNN": ["roiviz/lessons/walkthrough.py"],
    "read twice any more": ["roiviz/lessons/walkthrough.py"],
    "slide continuously": ["pages/gradients.py"],
    "small kink": ["pages/sensitivity.py"],
    "read that part as zeros": ["pages/playground.py"],
    "VGG16's last map has stride 32": ["roiviz/app/params.py"],
    "VGG16 conv5 map": ["roiviz/features.py"],
    "most of it at the strict": ["roiviz/lessons/evidence.py"],
    "Every number agrees with": ["README.md"],
    "as the Mask R-CNN ablation does": ["roiviz/roi_warp.py"],
    "Section 3.3": ["roiviz/precise_roi_pool.py"],
}


@pytest.mark.parametrize("phrase", sorted(WRONG))
def test_corrected_claims_stay_corrected(phrase):
    for path in WRONG[phrase]:
        assert phrase not in " ".join(_text(path).split()), f"{path} says {phrase!r} again"


# ----------------------------------------------------------------------------------------------
# Adaptive sampling makes RoI Align jump as the box grows (Sensitivity page).


def test_adaptive_sampling_is_a_jump_not_a_kink():
    """Growing the box across a whole number of cells per bin changes the point count: the output
    jumps by far more than Precise RoI Pooling's change over the same tiny step."""
    from roiviz.lessons.sweeps import sweep_offsets

    settings = seed_example_settings("library", sampling_ratio=0)
    pw = settings.output_size[1]
    width = (SEED_EXAMPLE_BOX[2] - SEED_EXAMPLE_BOX[0]) / settings.stride         # cells
    threshold = (np.floor(width / pw) * pw - width)      # growth where the bin width is whole
    eps = 1e-4
    result = sweep_offsets(example_map("photo"), SEED_EXAMPLE_BOX, settings,
                           ["roi_align", "precise_roi_pool"], [threshold - eps, threshold + eps],
                           axis="x", scale=True, bin=(0, 1))
    align_step = abs(np.diff(result.bin_values["roi_align"])[0])
    precise_step = abs(np.diff(result.bin_values["precise_roi_pool"])[0])
    assert align_step > 100 * max(precise_step, 1e-7)
    text = _text("pages/sensitivity.py")
    assert "**jumps**" in text and "kink" not in text


# ----------------------------------------------------------------------------------------------
# Box gradients (Gradient flow's sweep, the refinement lab, the stage's arrows): G8-G12, L2-L3.


@pytest.fixture(scope="module")
def box_sweep_default():
    from roiviz.lessons.gradients import box_sweep
    settings = seed_example_settings("library", sampling_ratio=2)
    return box_sweep(example_map("toy"), SEED_EXAMPLE_BOX, settings, cells=3.0, points=241)


def test_box_sweep_align_jumps_at_the_marked_crossings(box_sweep_default):
    """G8: every jump of RoI Align's derivative lies at a marked crossing, and there are jumps."""
    sw = box_sweep_default
    d = sw.derivative["roi_align"]
    jumps = np.flatnonzero(np.abs(np.diff(d)) > 1e-9)
    assert len(jumps) >= 3 and sw.crossings
    step = sw.x1[1] - sw.x1[0]
    for j in jumps:
        lo, hi = sw.x1[j], sw.x1[j + 1]
        assert any(lo - 1e-6 <= c <= hi + 1e-6 for c in sw.crossings), (lo, hi)
    assert step < 0.5


def test_box_sweep_precise_is_continuous(box_sweep_default):
    """G9: Precise RoI Pooling's derivative changes by far less between neighbours than Align's."""
    sw = box_sweep_default
    assert sw.largest_jump("precise_roi_pool") < 0.05 * sw.largest_jump("roi_align")
    assert np.ptp(sw.derivative["precise_roi_pool"]) > 0


def test_box_sweep_warp_steps_only_at_roundings(box_sweep_default):
    """G10: RoI Warp's derivative is constant between the marked rounding flips."""
    sw = box_sweep_default
    d = sw.derivative["roi_warp"]
    for j in np.flatnonzero(np.abs(np.diff(d)) > 1e-12):
        lo, hi = sw.x1[j], sw.x1[j + 1]
        assert any(lo - 1e-6 <= r <= hi + 1e-6 for r in sw.roundings), (lo, hi)
    assert len(set(np.round(d, 12))) >= 2


def test_box_sweep_roi_pool_is_zero(box_sweep_default):
    """G11."""
    assert not np.any(box_sweep_default.derivative["roi_pool"])


def test_gradients_page_box_caption_is_computed():
    """G12: the page's caption states the sweep's own numbers."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(ROOT / "pages" / "gradients.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    caption = next(c.value for c in at.caption if "sampling points crosses a cell centre" in c.value)
    from roiviz.lessons.gradients import box_sweep
    settings = seed_example_settings("library", sampling_ratio=2)
    sw = box_sweep(example_map("toy"), SEED_EXAMPLE_BOX, settings, cells=3.0, points=241)
    assert f"{sw.largest_jump('roi_align'):.3g}" in caption and f"the {len(sw.crossings)} places" in caption
    assert f"{len(sw.roundings)} rounding flips" in caption


def test_refinement_pool_never_moves_and_precise_improves():
    """L2, L3: on 20 seeded starts RoI Pool stays put, RoI Warp and the continuous methods move,
    and Precise RoI Pooling's median IoU rises above the starts'."""
    from roiviz.features import image_feature_map
    from roiviz.lessons.walkthrough import lesson_image
    from roiviz.records import Settings
    from roiviz.lessons.refinement import refinement_study
    planes = image_feature_map(lesson_image(), 16).values
    settings = Settings(output_size=(7, 7), stride=16.0, sampling_ratio=2)
    study = refinement_study(planes, (40.0, 72.0, 240.0, 200.0), settings, starts=20, seed=3)
    assert np.all(study.steps("roi_pool") == 0)
    assert np.array_equal(study.final_iou("roi_pool"), study.start_iou)
    assert np.median(study.steps("roi_warp")) > 0
    assert np.median(study.final_iou("precise_roi_pool")) > np.median(study.start_iou) + 0.1
    assert np.median(study.final_iou("roi_align")) > np.median(study.start_iou) + 0.1


# ----------------------------------------------------------------------------------------------
# Issue 19: the second review's corrections, each tied to the engine.


def _markdown(at) -> str:
    return " ".join(m.value for m in at.markdown)


def _app(page: str, **query):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=180)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception
    return at


def test_fpn_docstring_formula_gives_14_to_28_cells_on_every_level():
    """fpn.py's formula for a level's smallest box, in cells, evaluated as written: 14 on P2-P5."""
    import roiviz.fpn as fpn
    from roiviz.fpn import fpn_levels, steady_sizes

    doc = " ".join(fpn.__doc__.split())
    lhs, middle, value = re.search(r"``(224 \* 2\*\*\(k - k0\) / 2\*\*k) = (224 / 2\*\*k0) = (\d+)``",
                                   doc).groups()
    k0 = fpn.CANONICAL_LEVEL
    for k in fpn.PYRAMID_LEVELS:
        assert eval(lhs, {"k": k, "k0": k0}) == eval(middle, {"k0": k0}) == float(value) == 14
    assert "2**(k0 - k) * 224" not in doc
    # ... and the engine: on its level a box is 14 cells at the bottom of the band, under 28 at the top.
    low, high = steady_sizes()
    assert f"P2 holds {low:g}-{2 * low:g} px, P5 {high / 2:g}-{high:g} px" in doc
    assert f"between {low:g} and {high:g} px" in doc
    sides = np.array([low, 2 * low - 1e-3, high / 2, high - 1e-3])
    levels = fpn_levels(torch.tensor([[0, 0, s, s] for s in sides], dtype=torch.float64), 2, 5).numpy()
    assert levels.tolist() == [2, 2, 5, 5]
    cells = sides / 2.0 ** levels
    assert cells[0] == 14 and cells[2] == 14 and 27.99 < cells[1] < 28 and 27.99 < cells[3] < 28


def _steady_numbers(result, kind="gained", method="roi_pool"):
    """Independent of steady_band: sizes 14 to 28 cells wide on their (clamped) level."""
    cells = result.sizes / result.strides
    inside = (cells >= 14) & (cells < 28)
    share = getattr(result, kind)["pyramid"][method]
    below = result.sizes < result.sizes[inside].min()
    return inside, share, below


def test_pyramid_keeps_the_share_in_one_band_from_56_to_896_px():
    from roiviz.records import Settings
    from roiviz.lessons.sweeps import PAGE_BOX_SIZES, steady_band, sweep_box_sizes

    r = sweep_box_sizes(PAGE_BOX_SIZES, Settings(output_size=(7, 7)))
    inside, share, below = _steady_numbers(r)
    assert r.sizes[inside].min() > 56 > r.sizes[~inside & below].max()
    assert r.sizes[inside].max() < 896 < r.sizes[~inside & ~below].min()
    band = steady_band(r)
    assert band.sizes_px == (56.0, 896.0)
    assert band.share == (share[inside].min(), share[inside].max())
    # The issue's numbers: P2 and P5 are inside the band, like P3 and P4.
    p2, p5 = inside & (r.levels == 2), inside & (r.levels == 5)
    assert (round(share[p2][0], 1), round(share[p2][-1], 1)) == (16.4, 9.2)
    assert (round(share[p5][0], 1), round(share[p5][-1], 1)) == (15.2, 8.2)
    for level in (2, 3, 4, 5):
        on = inside & (r.levels == level)
        assert band.share[0] <= share[on].min() and share[on].max() <= band.share[1]
    assert band.share[1] < 2.5 * band.share[0]                      # about flat
    assert share[below].max() == band.below[0] == pytest.approx(39.7, abs=0.05) and band.below[1] == 24
    assert share[below].max() > 2 * band.share[1]                   # it leaves the band below 56 px
    assert share[~inside & ~below].max() < band.share[0]            # and falls under it above 896
    f8 = next(line for line in _text("docs/sources.md").splitlines() if line.startswith("| F8 |"))
    assert (f"gained {band.share[0]:.1f}-{band.share[1]:.1f} %; P2 {share[p2][0]:.1f} -> {share[p2][-1]:.1f} % "
            f"at {r.sizes[p2][0]:.1f}-{r.sizes[p2][-1]:.0f} px, P5 {share[p5][0]:.1f} -> {share[p5][-1]:.1f} % "
            f"at {r.sizes[p5][0]:.0f}-{r.sizes[p5][-1]:.0f} px); below 56 px it rises "
            f"({band.below[0]:.1f} % at 24 px)") in f8


def test_pyramids_page_states_the_band_and_the_half_cell_shift():
    from roiviz.methods import trace_method
    from roiviz.app.params import PYRAMIDS
    from roiviz.records import Settings
    from roiviz.fpn import steady_sizes
    from roiviz.lessons.sweeps import PAGE_BOX_SIZES, sweep_box_sizes

    text = _markdown(_app("pyramids.py"))
    r = sweep_box_sizes(PAGE_BOX_SIZES, Settings(output_size=(7, 7)))
    inside, share, below = _steady_numbers(r)
    assert (f"every box from 56 to 896 px is 14 to 28 cells wide on its level (on P2 that is 56-112 px, "
            f"on P5 448-896 px), so RoI Pool's gained share stays between {share[inside].min():.1f} and "
            f"{share[inside].max():.1f} %") in text
    assert f"(to {share[below].max():.1f} % at 24 px)" in text
    assert "lose nothing at any size" not in text and "between 112 and 448" not in text
    # The default (torchvision, aligned=False): RoI Align loses and gains the half-cell strips.
    box = PYRAMIDS["box"].default
    trace = trace_method("roi_align", np.zeros((80, 80), np.float32), box,
                         Settings(output_size=(7, 7), stride=8.0, sampling_ratio=2, aligned=False))
    lost, gained = trace.areas.percent("lost"), trace.areas.percent("gained")
    assert round(lost, 2) == round(gained, 2) == 5.26
    assert f"your box loses {lost:.2f} % and gains {gained:.2f} % to it" in text
    assert "and neither does RoI Align with `aligned=True` (Detectron2); torchvision's `aligned=False`" in text
    low, high = steady_sizes()
    assert f"From {low:g} to {high:g} px every box is 14 to 28 cells across on its level, P2 and P5 " in text


def test_sensitivity_page_states_the_band():
    from roiviz.lessons.examples import seed_example_settings
    from roiviz.lessons.sweeps import PAGE_BOX_SIZES, sweep_box_sizes

    text = _markdown(_app("sensitivity.py"))
    r = sweep_box_sizes(PAGE_BOX_SIZES, seed_example_settings("library"), fixed_stride=16)
    inside, share, below = _steady_numbers(r)
    assert (f"from 56 to 896 px every box is 14 to 28 cells wide on its level, so RoI Pool's gained "
            f"share stays between {share[inside].min():.1f} and {share[inside].max():.1f} %") in text
    assert f"up to {share[below].max():.1f} % at 24 px" in text


def test_mmdetection_eps_sends_the_boundary_box_to_p4_like_torchvision():
    import roiviz.fpn as fpn
    from roiviz.fpn import DETECTRON2_EPS, fpn_levels

    box = torch.tensor([[0.0, 0.0, 224.0, 223.9999]])          # float32, as a detector's boxes
    scale = torch.sqrt((box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1]))
    # MMDetection's SingleRoIExtractor.map_roi_levels, written out, counted from P2.
    mmdet = int(torch.floor(torch.log2(scale / 56 + 1e-6)).clamp(0, 3).long()) + 2
    torchvision = int(fpn_levels(box, 2, 5))
    detectron2 = int(fpn_levels(box, 2, 5, eps=DETECTRON2_EPS, eps_in_log=True))
    assert (mmdet, torchvision, detectron2) == (4, 4, 3)
    four = torch.tensor(4.0)
    step_below = float(four - torch.nextafter(four, torch.tensor(0.0)))
    step_above = float(torch.nextafter(four, torch.tensor(8.0)) - four)
    steps_short = float((four - scale / 56) / step_below)
    doc = " ".join(fpn.__doc__.split())
    def sci(v):
        return f"{v:.1e}".replace("e-0", "e-")

    assert (f"the float32 steps are {sci(step_below)} below 4 and {sci(step_above)} above, so ``1e-6`` is "
            f"{1e-6 / step_below:.1f} steps below and {1e-6 / step_above:.1f} above") in doc
    assert f"(its ratio {steps_short:g} steps below 4) goes up to P{mmdet}, as in torchvision, not to " \
           f"P{detectron2} as in Detectron2" in doc
    page = " ".join(_text("pages/pyramids.py").split())
    assert f"about {round(1e-6 / step_below)} float32 steps of the ratio just below 4" in page.replace('" "', "")
    assert f"the 224 x 223.9999 px box reads P{mmdet}, as in torchvision" in page.replace('" "', "")


def test_stage_tags_roi_align_by_its_samples_and_the_half_cell_shift():
    """panelTag (assets/stage/stage.js) run as written in Chromium; the shift's sign is the engine's."""
    from browser_support import chromium_browser, require_chromium

    from roiviz.methods import trace_method
    from roiviz.records import Settings

    source = _text("assets/stage/stage.js")
    tag_fn = re.search(r"^function panelTag\(t\) \{\n.*?^\}\n", source, re.S | re.M).group(0)
    require_chromium()
    with chromium_browser() as browser:
        page = browser.new_page()
        tags = page.evaluate(f"""() => {{ {tag_fn}
          const t = (aligned) => ({{method: "roi_align", grid: [2, 3], settings: {{aligned}}}});
          return [panelTag(t(true)), panelTag(t(false)), panelTag({{method: "precise_roi_pool"}})]; }}""")
    assert tags == ["2 x 3 samples", "2 x 3 samples, ½-cell shift", "exact integral"]
    # The shift is aligned=False's, and it is +½ cell (the region read moves right and down).
    traces = {al: trace_method("roi_align", np.zeros((20, 20), np.float32), (16.0, 16.0, 48.0, 48.0),
                               Settings(output_size=(2, 2), stride=8.0, sampling_ratio=1, aligned=al))
              for al in (False, True)}
    assert traces[True].sampled_box == traces[True].roi
    assert np.subtract(traces[False].sampled_box, traces[False].roi).tolist() == [0.5] * 4


def test_outside_rule_is_half_a_cell_past_the_border():
    """The Playground's numbers: with aligned=True a point at x = -0.5 cell reads the edge value,
    one at -0.6 reads 0 (the map starts at x = 0; the edge cell's centre is at 0.5)."""
    box_text = " ".join(_text("pages/playground.py").split()).replace('" "', "")
    within, beyond = (float(v) for v in re.search(
        r"a point at x = (-[\d.]+) cell \(the map starts at x = 0\) reads the edge value, one at "
        r"x = (-[\d.]+) reads 0", box_text).groups())
    assert (within, beyond) == (-0.5, -0.6)
    for x, want in ((within, 5.0), (beyond, 0.0)):
        # One sample (1 x 1 bin, ratio 1) at the box's centre x, drawing frame, stride 1.
        got = _one(roi_align, 5.0, box=(x - 0.5, 0.0, x + 0.5, 1.0), sampling_ratio=1, aligned=True)
        assert got == pytest.approx(want), x
    # The same line on the right: half a cell past the border (x = 4.5 on a 4-cell map).
    assert _one(roi_align, 5.0, box=(4.0, 0.0, 5.0, 1.0), sampling_ratio=1, aligned=True) == 5.0
    assert _one(roi_align, 5.0, box=(4.1, 0.0, 5.1, 1.0), sampling_ratio=1, aligned=True) == 0.0
    # roiviz's RoI Warp follows it (MNC's layer would skip the point at -0.5: it stops half a cell
    # from the edge cell's centre). Snapped to the cell column [-1, 0): one point at -0.5 reads 5;
    # two points, -0.75 (0) and -0.25 (5), average 2.5; the column [-2, -1) reads 0.
    assert _one(roi_warp, 5.0, box=(-1.0, 0.0, -1.0, 0.0), sampling_ratio=1) == 5.0
    assert _one(roi_warp, 5.0, box=(-1.0, 0.0, -1.0, 0.0), sampling_ratio=2) == 2.5
    assert _one(roi_warp, 5.0, box=(-2.0, 0.0, -2.0, 0.0), sampling_ratio=1) == 0.0


MNC_PINNED, MNC_FIRST = "d8bf82b7", "7a28ed65"
MASK_RCNN_WARP_QUOTE = "as quantizing RoI just like RoIPool"


def test_roi_warp_text_names_mncs_commits_and_the_paper_section():
    lesson = walkthrough("library").step("warp").differs
    for name, text in (("lesson", lesson), ("README", _text("README.md")),
                       ("roi_warp.py", _text("roiviz/roi_warp.py")), ("sources", _text("docs/sources.md"))):
        flat = " ".join(text.split())
        assert MNC_PINNED in flat and MNC_FIRST in flat, name
        assert "Section 3" in flat and MASK_RCNN_WARP_QUOTE in flat, name
    flat = " ".join(_text("README.md").split())
    assert "37e896eb" in flat and "17b56bdc" in flat and "-0.5 / H - 0.5" in flat
    assert "roiviz's reconstruction, not MNC's" in flat
    # roiviz's RoI Warp: aligned=True RoI Align on the snapped box (what the texts say it does).
    from roiviz.lessons.examples import SEED_EXAMPLE_BOX
    from roiviz.geometry import snap_box

    x = torch.rand(1, 1, 12, 16, generator=torch.Generator().manual_seed(19))
    box = torch.tensor([[0.0, *SEED_EXAMPLE_BOX]]) / 32
    box[0, 0] = 0
    (sx, lx), (sy, ly) = ((float(v) for v in snap_box(box[0, i].item(), box[0, i + 2].item(), "library"))
                          for i in (1, 2))
    snapped = torch.tensor([[0.0, sx, sy, sx + lx, sy + ly]], dtype=torch.float32)
    torch.testing.assert_close(roi_warp(x, box, 3, 1.0, 2), roi_align(x, snapped, 3, 1.0, 2, True),
                               rtol=0, atol=0)


def test_roi_align_is_continuous_its_derivative_jumps_at_cell_centres():
    """Precise step and Gradient flow page: with a fixed ratio RoI Align moves continuously with the
    box; its slope changes where a sampling point crosses a cell centre."""
    phrase = "the derivative jumps whenever a sampling point crosses a cell centre"
    assert phrase in " ".join(walkthrough("article").step("precise").text.split())
    assert phrase in " ".join(_text("pages/gradients.py").split()).replace('" "', "")
    values = torch.tensor([[[[1.0, 4.0, 2.0, 7.0]]]])          # one row, aligned=True
    def at(x):                                                 # one sample at drawing-frame x
        return float(roi_align(values, torch.tensor([[0.0, x - 0.5, 0.0, x + 0.5, 1.0]]), 1, 1.0, 1, True))
    eps = 1e-3
    for centre in (1.5, 2.5):                                  # cell centres in the drawing frame
        assert abs(at(centre + eps) - at(centre - eps)) < 0.02         # continuous
        left = (at(centre) - at(centre - 0.25)) / 0.25
        right = (at(centre + 0.25) - at(centre)) / 0.25
        assert abs(left - right) > 1                                   # the slope jumps


def test_w23_onnx_max_is_the_largest_weighted_corner_term():
    """W23, on the engine: roiviz's trace gives each corner's weight; ONNX Runtime's max equals
    the largest w_i * v_i, not the interpolated value."""
    ort = pytest.importorskip("onnxruntime")
    del ort
    from onnx_reference import ort_roi_align

    from roiviz.methods import trace_method
    from roiviz.records import Settings

    rng = np.random.default_rng(19)
    feature = rng.uniform(0.5, 2.0, (6, 6)).astype(np.float32)
    box = (1.3, 0.7, 4.1, 3.9)
    trace = trace_method("roi_align", feature, box, Settings(output_size=(1, 1), stride=1.0,
                                                              sampling_ratio=2, aligned=True))
    corner_max = max(w * feature[r, c] for s in trace.bins[0].samples
                     for (r, c), w in zip(s.neighbours, s.weights))
    onnx_max = ort_roi_align(feature[None, None], np.array([[0, *box]], np.float32), (1, 1), 1.0, 2,
                             True, mode="max").item()
    assert onnx_max == pytest.approx(float(corner_max), rel=1e-6)
    assert onnx_max < max(s.value for s in trace.bins[0].samples)


def test_issue_19_claims_stay_corrected():
    gone = {
        "roiviz/fpn.py": ["2**(k0 - k) * 224"],
        "pages/pyramids.py": ["112 and 448 px is 14 to 28", "lose nothing at any size"],
        "pages/sensitivity.py": ["between 112 and 448 px"],
        "assets/stage/stage.js": [", exact`", "-½ cell"],
        "pages/playground.py": ["within one cell of the edge"],
        "README.md": ["within one cell of the edge", "quantizes the RoI just like RoIPool"],
        "docs/sources.md": ["within one cell of the edge", "quantizes the RoI just like RoIPool",
                            "112 and 896"],
        "docs/hostile-inputs.md": ["read that part as zeros"],
        "roiviz/lessons/walkthrough.py": ["between the jumps of its sampling points"],
        "roiviz/roi_warp.py": ["MNC's original layer", "quantizes the RoI just like RoIPool"],
    }
    for path, phrases in gone.items():
        text = " ".join(_text(path).split())
        for phrase in phrases:
            assert " ".join(phrase.split()) not in text, f"{path} says {phrase!r} again"
# Box gradients (README *Gradients with respect to the box*; docs/sources.md B4)


def _d_x1(op, x1: float) -> float:
    """d out / d x1 on the README's map (columns 0, 1, 4, 9, 16, 25) and box (x1, 0, 5.2, 4)."""
    x = (torch.arange(6.0, dtype=torch.float64) ** 2).repeat(4, 1)[None, None]
    b = torch.tensor([[0, x1, 0.0, 5.2, 4.0]], dtype=torch.float64, requires_grad=True)
    op(x, b).sum().backward()
    return float(b.grad[0, 1])


def test_readme_box_gradient_worked_number():
    def align(f, b):
        return roi_align(f, b, 1, 1.0, 2, True)

    def precise(f, b):
        return precise_roi_pool(f, b, 1)

    eps = 1e-9
    before, after = _d_x1(align, 1.6 - eps), _d_x1(align, 1.6 + eps)
    p_before, p_after = _d_x1(precise, 1.6 - eps), _d_x1(precise, 1.6 + eps)
    assert abs(p_before - p_after) < 1e-6                       # continuous
    readme = _text("README.md")
    for value in (f"**{before:.2f}**", f"**{after:.2f}**", f"**{p_before:.3f}**"):
        assert value in readme, value
    # The first sample column sits at 0.75 x1 + 0.8 (aligned, 2 samples, right edge 5.2).
    assert 0.75 * 1.6 + 0.8 == pytest.approx(2.0)
