"""roiviz.drawing.tables: HTML tables whose headers carry plain-words tooltips."""

from __future__ import annotations

import pytest
from html_tables import parse_tables

from roiviz.drawing.tables import html_table


def test_headers_carry_their_help_and_everything_is_escaped():
    rows = [{"method": "RoI <Pool>", "cells": 5}, {"method": 'a "b" & c', "cells": 56}]
    text = html_table(rows, {"method": "the method", "cells": 'cells "read"'})
    assert "\n" not in text and "<Pool>" not in text
    (table,) = parse_tables(text)
    assert table["headers"] == ["method", "cells"]
    assert table["help"] == ["the method", 'cells "read"']
    assert table["rows"] == [["RoI <Pool>", "5"], ['a "b" & c', "56"]]


def test_every_column_needs_help_and_rows_must_agree():
    with pytest.raises(KeyError, match="cells"):
        html_table([{"method": "x", "cells": 1}], {"method": "m"})
    with pytest.raises(KeyError):
        html_table([{"method": "x"}], {"method": ""})
    with pytest.raises(ValueError):
        html_table([], {})
    with pytest.raises(ValueError):
        html_table([{"a": 1, "b": 2}, {"b": 2, "a": 1}], {"a": "A", "b": "B"})
