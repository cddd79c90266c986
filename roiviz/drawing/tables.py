"""Small HTML tables whose column headers carry a plain-words tooltip (``title``).

Pure text building (no Streamlit): :func:`roiviz.app.ui.header_table` shows the result. Every cell
and header is HTML-escaped, so any text is safe in it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

#: The header style: a dotted underline and a help cursor say "hover me" (a touch screen shows
#: the tooltip on a long press in most browsers; the words are also the table's ``aria``
#: description through ``title``).
HEADER_STYLE = "text-decoration: underline dotted; text-underline-offset: 3px; cursor: help"


def html_table(rows: Sequence[Mapping[str, Any]], header_help: Mapping[str, str],
               css_class: str = "roiviz-table") -> str:
    """An HTML ``<table>`` of ``rows`` whose ``<th>`` each has ``title=header_help[column]``.

    Args:
        rows: one mapping per row; the first row's keys are the columns, in order.
        header_help: plain-words help per column.
        css_class: the table's class.

    Returns:
        The table, in a ``<div>`` that scrolls it sideways when it is wider than the page, as
        one line of HTML (no blank lines, so Markdown keeps it whole).

    Raises:
        ValueError: no rows, or rows with different keys.
        KeyError: a column has no help.
    """
    if not rows:
        raise ValueError("a table needs at least one row")
    columns = list(rows[0])
    if any(list(r) != columns for r in rows):
        raise ValueError("every row must have the same columns, in the same order")
    missing = [c for c in columns if not header_help.get(c)]
    if missing:
        raise KeyError(f"no help for column(s) {missing}")
    esc = lambda v: html.escape(str(v), quote=True)  # noqa: E731
    head = "".join(f'<th title="{esc(header_help[c])}" style="{HEADER_STYLE}">{esc(c)}</th>' for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(r[c])}</td>" for c in columns) + "</tr>" for r in rows)
    return scrolling(f'<table class="{esc(css_class)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')


def scrolling(table: str) -> str:
    """``table`` (HTML) in a ``<div>`` that scrolls it sideways on a phone, instead of the page."""
    return f'<div style="overflow-x: auto; max-width: 100%">{table}</div>'
