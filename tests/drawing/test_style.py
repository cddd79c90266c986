"""Tests for roiviz.drawing.style: the one place for colours, and the colours the texts name are the colours drawn."""

from __future__ import annotations

import colorsys
import re
from pathlib import Path

import numpy as np

from roiviz.drawing.style import AREA_STYLES, BLACK, METHOD_COLORS, WHITE, Style, relative_luminance, text_colors

REPO = Path(__file__).resolve().parents[2]
#: A colour written as a literal: hex, rgb()/rgba(), or a CSS / matplotlib colour name in quotes.
COLOUR_LITERAL = re.compile(
    r"""["']#[0-9a-fA-F]{3,8}["']|["']rgba?\(|["'](white|black|red|green|blue|yellow|orange|viridis|magma_r|gray)["']""")


def test_colour_literals_only_in_style():
    files = [*(REPO / "roiviz").rglob("*.py"), *(REPO / "pages").glob("*.py"), REPO / "app.py"]
    found = [f"{path.relative_to(REPO)}:{i}: {line.strip()}"
             for path in files if path.name != "style.py"
             for i, line in enumerate(path.read_text().splitlines(), 1) if COLOUR_LITERAL.search(line)]
    assert not found, "\n".join(found)


def test_relative_luminance_and_text_colours():
    np.testing.assert_allclose(relative_luminance([[0, 0, 0], [255, 255, 255], [255, 0, 0]]),
                               [0.0, 1.0, 0.2126])
    assert list(text_colors([0.0, 0.1, 0.25, 1.0])) == [WHITE, WHITE, BLACK, BLACK]


def _hue(hex_color: str) -> tuple[float, float, float]:
    r, g, b = (int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5))
    h, light, sat = colorsys.rgb_to_hls(r, g, b)
    return h * 360, light, sat


def _named(hue: float) -> str:
    """The everyday name of a saturated hue (degrees)."""
    for name, (lo, hi) in {"red": (-15, 15), "orange": (15, 45), "yellow": (45, 70),
                           "green": (70, 170), "blue": (170, 260), "purple": (260, 345)}.items():
        if lo <= (hue if hue < 345 else hue - 360) < hi:
            return name
    raise AssertionError(hue)


def test_area_colours_are_the_ones_the_texts_name():
    texts = "\n".join(p.read_text() for p in [REPO / "app.py", *sorted((REPO / "pages").glob("*.py")),
                                             REPO / "roiviz" / "lessons" / "walkthrough.py", REPO / "roiviz" / "app" / "params.py"])
    for area, word in (("lost", "red"), ("gained", "green")):
        hue, _, sat = _hue(AREA_STYLES[area][0])
        assert _named(hue) == word and sat > 0.5, (area, hue)
        assert re.search(rf"\b{word}\b", texts, re.IGNORECASE)
    # No text calls an area by the other colour names.
    assert not re.search(r"\b(orange|vermilion)\b[^.\n]{0,30}\bhatch", texts, re.IGNORECASE)


def test_lost_is_not_mistaken_for_roi_pools_colour():
    lost, pool = _hue(AREA_STYLES["lost"][0])[0], _hue(METHOD_COLORS["roi_pool"])[0]
    assert abs(lost - pool) > 25


def test_presenter_sizes_are_larger():
    small, large = Style(False), Style(True)
    assert large.font_size >= 20 > small.font_size
    assert large.line_width > small.line_width and large.marker_size > small.marker_size
