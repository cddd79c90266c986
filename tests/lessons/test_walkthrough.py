"""Tests for roiviz.lessons.walkthrough: the walkthrough's steps and the numbers they quote.

The article convention's numbers are those worked out by hand in roiviz.lessons.examples (and checked
on the traces in tests/test_methods.py); here they must reach the steps unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from roiviz.lessons.examples import SEED_EXAMPLE_BOX
from roiviz.lessons.walkthrough import (
    STEP_KEYS,
    example_map,
    lesson_image,
    walkthrough,
    walkthrough_steps,
)
from roiviz.drawing.render_mpl import LAYERS
from roiviz.methods import METHODS

SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "roi-pooling-vs-align-vs-warping.txt"


def numbers(step) -> dict[str, str]:
    return dict(step.numbers)


@pytest.mark.parametrize("conv", ["article", "library"])
def test_steps_are_complete(conv):
    lesson = walkthrough(conv)
    assert tuple(s.key for s in lesson.steps) == STEP_KEYS == tuple(s.key for s in walkthrough_steps(conv))
    for s in lesson.steps:
        assert s.title and len(s.text) > 80 and s.numbers
        assert all(isinstance(label, str) and isinstance(value, str) and value for label, value in s.numbers)
        assert set(s.layers) <= LAYERS
        assert all(k in lesson.traces for k in s.trace_keys())
        assert (s.method is None) == (s.figure in ("image", "outputs"))
    # the article / library differences are spelled out where they arise
    for key in ("snap", "bins", "warp", "align", "reduce", "aligned", "precise"):
        assert lesson.step(key).differs
    with pytest.raises(ValueError, match="step"):
        lesson.step("nope")


def test_article_example_numbers():
    lesson = walkthrough("article")
    assert numbers(lesson.step("image"))["proposal"] == "x 40 to 240 px, y 72 to 200 px"
    mapping = numbers(lesson.step("mapping"))
    assert [mapping[k] for k in ("x1 / 32", "y1 / 32", "x2 / 32", "y2 / 32")] == ["1.25", "2.25", "7.5", "6.25"]
    assert mapping["RoI size"] == "4 rows x 6.25 columns (25 cells)"
    snap = numbers(lesson.step("snap"))
    assert snap["snapped region"] == "x 1 to 7, y 2 to 6 (cells)"
    assert snap["snapped size"] == "4 rows x 6 columns"          # the article's 4 x 6
    assert snap["lost (red)"] == "3.438 cells = 3520 px² = 13.75% of the RoI"
    assert snap["gained (green)"] == "2.438 cells = 2496 px² = 9.75% of the RoI"
    split = numbers(lesson.step("split"))
    assert split["exact bin height"] == "4 / 3 = 1.333 rows" and split["exact bin width"] == "6 / 3 = 2 columns"
    bins = numbers(lesson.step("bins"))
    assert bins["bin rows"] == "2, 3, 4"                        # one row each; row 5 dropped
    assert bins["bin columns"] == "1-2, 3-4, 5-6"
    assert bins["cells dropped"] == "6" and bins["cells read by more than one bin"] == "0"
    assert bins["largest dropped value"] == "9"
    assert bins["lost in total (red)"] == "9.188 cells = 9408 px² = 36.75% of the RoI"
    maxed = numbers(lesson.step("max"))
    out = lesson.traces["roi_pool"].output
    assert maxed["output row 0"] == ", ".join(f"{v:.4g}" for v in out[0])
    assert out.max() < 9          # the 9s of the dropped row never reach the output
    assert "larger than anything the output kept" in lesson.step("max").text


def test_library_example_numbers():
    lesson = walkthrough("library")
    snap = numbers(lesson.step("snap"))
    assert snap["snapped size"] == "5 rows x 8 columns"
    assert snap["lost (red)"].startswith("0 cells")
    bins = numbers(lesson.step("bins"))
    assert bins["bin rows"] == "2-3, 3-5, 5-6" and bins["bin columns"] == "1-3, 3-6, 6-8"
    assert bins["cells dropped"] == "0"
    # rows 3 and 5 and columns 3 and 6 are shared by two bins: 2 x 8 + 2 x 5 - 4 crossings
    assert bins["cells read by more than one bin"] == "22"
    assert "largest dropped value" not in bins


def test_bilinear_step_by_hand():
    step = walkthrough("article").step("bilinear")
    n = numbers(step)
    # Bin (0, 0) of the RoI (1.25, 2.25)-(7.5, 6.25) is 2.0833 x 1.3333 cells; its first point
    # sits a quarter of the bin in: x = 1.25 + 2.0833 / 4, y = 2.25 + 1.3333 / 4.
    assert n["point"] == "x = 1.771, y = 2.583 (cells)"
    # Library frame (value of cell j at j): x - 0.5 = 1.2708, y - 0.5 = 2.0833, so columns 1, 2
    # with weights 0.7292, 0.2708 and rows 2, 3 with 0.9167, 0.0833.
    values = example_map("toy")
    expected = {(2, 1): 0.9167 * 0.7292, (2, 2): 0.9167 * 0.2708, (3, 1): 0.0833 * 0.7292, (3, 2): 0.0833 * 0.2708}
    total = 0.0
    for cell, w in expected.items():
        value, weight = re.fullmatch(r"value (\S+) x weight (\S+)", n[f"cell {cell}"]).groups()
        assert float(value) == values[cell]
        assert float(weight) == pytest.approx(w, abs=2e-4)
        total += w * values[cell]
    assert float(n["weighted sum"].rsplit("= ", 1)[1]) == pytest.approx(total, abs=1e-3)


def test_reduce_and_aligned_steps_quote_the_traces():
    lesson = walkthrough("article")
    r = numbers(lesson.step("reduce"))
    assert float(r["bin (0, 0), average"]) == pytest.approx(lesson.traces["roi_align"].bin(0, 0).value, abs=1e-3)
    assert float(r["bin (0, 0), maximum"]) == pytest.approx(lesson.traces["roi_align_max"].bin(0, 0).value, abs=1e-3)
    assert "30.2" in lesson.step("reduce").text and "30.3" in lesson.step("reduce").text
    a = numbers(lesson.step("aligned"))
    assert a["shift"] == "0.5 cell = 16 px right and down"
    assert a["sampled box (aligned=False)"] == "x 1.75 to 8, y 2.75 to 6.75"


def test_compare_step_and_image():
    lesson = walkthrough("article")
    rows = numbers(lesson.step("compare"))
    assert list(rows) == [lesson.traces[m].label for m in METHODS]
    assert rows["RoI Pool"].startswith("lost 36.8%, gained 8.8%")
    assert rows["Precise RoI Pooling"].endswith("mean |diff| vs Precise 0.0000")
    image = lesson_image()
    assert image.shape == (320, 320, 3) and image.dtype == np.uint8
    assert lesson.box == SEED_EXAMPLE_BOX
    with pytest.raises(ValueError, match="convention"):
        walkthrough("torch")
    with pytest.raises(ValueError, match="kind"):
        example_map("nope")


@pytest.mark.skipif(not SEED.exists(), reason="the seed article lives in ../shared/seed")
def test_no_sentence_is_copied_from_the_seed_article():
    def words(text):
        return re.findall(r"[a-z0-9]+", text.lower())
    seed = words(SEED.read_text(encoding="utf-8"))
    windows = {tuple(seed[i:i + 7]) for i in range(len(seed) - 6)}
    for conv in ("article", "library"):
        for s in walkthrough(conv).steps:
            ours = words(s.text + " " + s.differs)
            copied = [" ".join(ours[i:i + 7]) for i in range(len(ours) - 6) if tuple(ours[i:i + 7]) in windows]
            assert not copied, f"step {s.key} repeats the article: {copied[:3]}"
