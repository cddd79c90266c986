"""Read the pages' header-tooltip tables (:func:`roiviz.app.ui.header_table`) back from an AppTest."""

from __future__ import annotations

from html.parser import HTMLParser

import pandas as pd


class _TableParser(HTMLParser):
    """Collects each ``<table class="roiviz-table">``: header texts, header titles, cell texts."""

    def __init__(self):
        super().__init__()
        self.tables: list[dict] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "roiviz-table" in (a.get("class") or ""):
            self.tables.append({"headers": [], "help": [], "rows": []})
        elif not self.tables:
            return
        elif tag == "tr":
            self.tables[-1]["rows"].append([])
        elif tag in ("th", "td"):
            self._cell = []
            if tag == "th":
                self.tables[-1]["help"].append(a.get("title", ""))

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self._cell is not None and self.tables:
            text = "".join(self._cell)
            if tag == "th":
                self.tables[-1]["headers"].append(text)
            else:
                self.tables[-1]["rows"][-1].append(text)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse_tables(html: str) -> list[dict]:
    """``[{"headers": [...], "help": [...], "rows": [[...], ...]}]`` of every roiviz table in ``html``."""
    parser = _TableParser()
    parser.feed(html)
    for t in parser.tables:
        t["rows"] = [r for r in t["rows"] if r]
    return parser.tables


def html_tables(at) -> list[pd.DataFrame]:
    """The page's header-tooltip tables, in page order, as DataFrames of strings; each has
    ``.attrs["help"]``, the header tooltips by column."""
    out = []
    for md in at.markdown:
        for t in parse_tables(md.value):
            df = pd.DataFrame(t["rows"], columns=t["headers"])
            df.attrs["help"] = dict(zip(t["headers"], t["help"]))
            out.append(df)
    return out
