"""Tests for roiviz.style: the one place for colours."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from roiviz.style import BLACK, WHITE, relative_luminance, text_colors

REPO = Path(__file__).resolve().parent.parent
#: A colour written as a literal: hex, rgb()/rgba(), or a CSS / matplotlib colour name in quotes.
COLOUR_LITERAL = re.compile(
    r"""["']#[0-9a-fA-F]{3,8}["']|["']rgba?\(|["'](white|black|red|green|blue|yellow|orange|viridis|magma_r|gray)["']""")


def test_colour_literals_only_in_style():
    files = [*(REPO / "roiviz").glob("*.py"), *(REPO / "pages").glob("*.py"), REPO / "app.py"]
    found = [f"{path.relative_to(REPO)}:{i}: {line.strip()}"
             for path in files if path.name != "style.py"
             for i, line in enumerate(path.read_text().splitlines(), 1) if COLOUR_LITERAL.search(line)]
    assert not found, "\n".join(found)


def test_relative_luminance_and_text_colours():
    np.testing.assert_allclose(relative_luminance([[0, 0, 0], [255, 255, 255], [255, 0, 0]]),
                               [0.0, 1.0, 0.2126])
    assert list(text_colors([0.0, 0.1, 0.25, 1.0])) == [WHITE, WHITE, BLACK, BLACK]
