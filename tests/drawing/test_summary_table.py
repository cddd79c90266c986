"""roiviz.drawing.summary_table: the Playground's table of the server's numbers as escaped HTML."""

from __future__ import annotations

import html

from roiviz.methods import REGISTRY, summary_rows, trace_all
from roiviz.lessons.examples import SEED_EXAMPLE_BOX, seed_example_settings
from roiviz.lessons.walkthrough import example_map
from roiviz.drawing.summary_table import COLUMN_HELP, SUMMARY_CLASS, read_summary_html, summary_html


def test_every_column_has_plain_words_and_the_rows_read_back():
    traces = trace_all(example_map("toy"), SEED_EXAMPLE_BOX, seed_example_settings("library"))
    rows = {REGISTRY[m].label: row for m, row in summary_rows(traces).items()}
    text = summary_html(rows)
    assert text.startswith('<div style="overflow-x: auto') and f'<table class="{SUMMARY_CLASS}"' in text and "\n" not in text
    assert read_summary_html(text) == rows
    for column in ["method", *next(iter(rows.values()))]:
        assert f'title="{html.escape(COLUMN_HELP[column], quote=True)}"' in text, column
        assert html.escape(COLUMN_HELP[column]) in text.split("<details", 1)[1]   # for touch screens
    # "|" never reaches Markdown (a pipe would start a Markdown table).
    assert "|" not in text and "mean &#124;diff&#124; vs Precise" in text


def test_no_user_string_reaches_the_page_as_markup():
    hostile = '<img src=x onerror="alert(1)"> | **bold** `code` & "quotes"'
    text = summary_html({hostile: {hostile: hostile}})
    assert "<img" not in text and 'onerror="' not in text
    assert read_summary_html(text) == {hostile: {hostile: hostile}}
