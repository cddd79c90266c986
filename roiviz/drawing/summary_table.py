"""The Playground's table of the server's numbers as HTML: one row per method, a plain-words
tooltip on every column header. No Streamlit here.

An HTML table (shown with ``st.html``, which sanitizes it with DOMPurify) instead of ``st.table``:
Streamlit's table element is an Arrow table whose code is a 0.74 MB chunk the browser fetches
before it can draw it (benchmarks/bench_first_load.py), and its headers cannot carry a tooltip.
Every text is escaped (:func:`html.escape`), so nothing a user typed or uploaded reaches the page
as markup. :func:`read_summary_html` reads the table back (tests, benchmarks/hall.py).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from html.parser import HTMLParser

from .tables import HEADER_STYLE, scrolling

__all__ = ["COLUMN_HELP", "SUMMARY_CLASS", "read_summary_html", "summary_html"]

#: The table's class (the browser tests and benchmarks find the table by it).
SUMMARY_CLASS = "roiviz-summary"

#: Each column's tooltip, in plain words (keys: the columns of
#: :func:`roiviz.methods.summary_rows`, and ``method``).
COLUMN_HELP: dict[str, str] = {
    "method": "The RoI pooling method of the panel with the same colour above.",
    "lost %": ("Share of the box (the proposal) that the method never reads: its snapping cut it "
               "off. Drawn with red hatching. 0 is best."),
    "gained %": ("Share of the box's area that the method reads although it lies outside the box: "
                 "its snapping grew the box. Drawn with green hatching. 0 is best."),
    "outside %": "Share of the box that lies off the feature map (there is no feature there).",
    "IoU": ("Intersection over union of the region the method reads and the box: 1 means it "
            "reads exactly the box, lower means it reads something else."),
    "mean |diff| vs Precise": ("How far this method's output is from Precise RoI Pooling's, the "
                               "exact average over each bin: the mean of the absolute differences "
                               "over all bins, in feature values. 0 means the same numbers. "
                               "Blank when Precise RoI Pooling is not chosen."),
}

# One style sheet by class, not a style on every cell: the table goes with every release of the
# stage, and per-cell styles were half of its 6.7 kB (issue 21: at most 10 kB per release).
_T = f".{SUMMARY_CLASS}"
_CSS = (f"<style>{_T}{{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:.25rem 0 .75rem}}"
        f"{_T} th,{_T} td{{padding:.2rem .6rem;border-bottom:1px solid rgba(49,51,63,.15)}}"
        f"{_T} th{{text-align:left}}{_T} td{{text-align:right}}{_T} tbody th{{font-weight:600}}"
        f"{_T} thead th{{{HEADER_STYLE}}}{_T}-words dt{{font-weight:600}}"
        f"{_T}-words dd{{margin:0 0 .3rem 1rem}}</style>")


def summary_html(rows: Mapping[str, Mapping[str, str]]) -> str:
    """The table as one line of HTML.

    Args:
        rows: ``{method label: {column: text}}`` in display order (every row has the same
            columns), e.g. ``{"RoI Pool": {"lost %": "3.1", ...}}`` (labels from
            :data:`roiviz.methods.REGISTRY`, values from :func:`roiviz.methods.summary_rows`).

    Returns:
        ``<table class="roiviz-summary">`` with a header row (``method`` then the columns), each
        header with its :data:`COLUMN_HELP` as ``title``, and one body row per method; then a
        closed ``<details>`` "What the columns mean" with the same words (touch screens have no
        hover), then the ``<style>`` of both (by class). Every text
        is escaped; ``|`` is written as ``&#124;`` so that Markdown never reads a table in it.
    """
    columns = ["method", *next(iter(rows.values()), {}).keys()]

    def text(value: object) -> str:
        return html.escape(str(value), quote=True).replace("|", "&#124;")

    head = "".join(f'<th scope="col" title="{text(COLUMN_HELP.get(c, c))}">{text(c)}</th>' for c in columns)
    body = "".join(
        f'<tr><th scope="row">{text(label)}</th>'
        + "".join(f"<td>{text(row.get(c, ''))}</td>" for c in columns[1:]) + "</tr>"
        for label, row in rows.items())
    # The same words under the table, for a touch screen (no hover there).
    words = "".join(f"<dt>{text(c)}</dt><dd>{text(COLUMN_HELP.get(c, c))}</dd>" for c in columns)
    return (scrolling(f'<table class="{SUMMARY_CLASS}"><thead><tr>{head}</tr></thead>'
                      f"<tbody>{body}</tbody></table>")
            + f'<details class="{SUMMARY_CLASS}-words"><summary>What the columns mean</summary><dl>{words}</dl></details>'
            + _CSS)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("th", "td"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self.cell is not None:
            self.rows[-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def read_summary_html(text: str) -> dict[str, dict[str, str]]:
    """The rows of a :func:`summary_html` table: ``{method label: {column: text}}`` (unescaped)."""
    reader = _Reader()
    reader.feed(text.split("<details", 1)[0])
    if not reader.rows:
        return {}
    header, *body = reader.rows
    return {row[0]: dict(zip(header[1:], row[1:])) for row in body}
