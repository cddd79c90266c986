"""Tests for roiviz.app.params: every page's settings table, the one link system of the app.

Every key of every page round-trips through the URL form; every hostile value is refused with
the table's own message, which never repeats the value.
"""

from __future__ import annotations

import pytest

from roiviz.app.params import KINDS, MAX_COORD, MAX_OUTPUT, PAGES, PLAYGROUND, Param, PageParams, parse_box

PARAMS = [(table, p) for table in PAGES.values() for p in table]
IDS = [f"{table.page}-{p.key}" for table, p in PARAMS]

#: Values a link can hold that no parameter allows (script, markup, paths, huge and odd text).
HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[x](javascript:alert(1))",
           "", " ", "nan", "inf", "-1", "1e9", "99999999999999999999999", "../../etc/passwd",
           "C:\\Windows\\win.ini", "a\x00b", "x" * 500, "1,2,3", "0x10", "yes", "True"]


def samples_of(p: Param) -> list:
    """Typed values of a parameter to round-trip: every option, or typical values."""
    if p.kind == "choice":
        return list(p.in_link or p.options)
    if p.kind == "flag":
        return [False, True]
    if p.kind == "multi":
        return [tuple(p.options), (p.options[0],), tuple(p.options[1:])]
    if p.kind == "size":
        return [(1, 1), (3, 7), (MAX_OUTPUT, MAX_OUTPUT)]
    return [(0.0, 0.0, 1.0, 1.0), (-256.5, 10.25, 768.0, 300.125), (-MAX_COORD, -MAX_COORD, MAX_COORD, MAX_COORD)]


def test_every_page_has_a_table_and_every_param_a_label():
    assert set(PAGES) == {"playground", "walkthrough", "sensitivity", "gradients", "pyramids", "evidence",
                          "conventions", "refinement"}
    for table, p in PARAMS:
        assert p.kind in KINDS and p.label, (table.page, p.key)
        if p.kind in ("choice", "multi"):
            assert p.options and all(o in p.options for o in (p.in_link or ()))
            default = p.default if p.kind == "choice" else p.default[0]
            assert default in p.options, (table.page, p.key)


@pytest.mark.parametrize("table, p", PARAMS, ids=IDS)
def test_every_value_round_trips_through_the_url(table, p):
    for value in samples_of(p):
        text = p.encode(value)
        assert p.decode(text) == value
        given, notices = table.parse({p.key: text})
        assert given == {p.key: value} and notices in ([], [p.note(text)] if p.note else [])


@pytest.mark.parametrize("table", PAGES.values(), ids=list(PAGES))
def test_defaults_and_whole_states_round_trip(table):
    defaults = table.defaults()
    assert table.parse(table.to_query(defaults)) == (defaults, [])
    other = {p.key: samples_of(p)[-1] for p in table}
    given, notices = table.parse(table.to_query(other))
    assert given == other and all("Ignored" not in n for n in notices)
    assert table.values({}) == defaults


@pytest.mark.parametrize("table, p", PARAMS, ids=IDS)
def test_hostile_values_are_refused_with_the_tables_message(table, p):
    for value in HOSTILE:
        given, notices = table.parse({p.key: value})
        assert given == {}, (p.key, value)
        assert len(notices) == 1
        if p.kind == "box":
            with pytest.raises(ValueError) as exc:
                parse_box(value.strip())
            assert notices[0] == f"Ignored the link's '{p.key}': {exc.value}."
        else:
            assert notices[0] == f"Ignored the link's '{p.key}': {p.refusal}."
        if len(value.strip()) > 3:
            assert value.strip() not in notices[0]


def test_refusals_say_what_is_allowed():
    assert PLAYGROUND["sr"].refusal == "sampling ratio must be 0 (adaptive) to 16"
    assert PAGES["walkthrough"]["conv"].refusal == "conv must be one of article, library"
    assert PAGES["walkthrough"]["step"].refusal == "step must be one of 1, 2, ... 13"
    assert PAGES["sensitivity"]["methods"].refusal.startswith("methods must be a comma list of roi_pool")
    assert PAGES["evidence"]["presenter"].refusal == "presenter must be 0 or 1"


def test_unknown_keys_are_counted_never_named():
    given, notices = PLAYGROUND.parse({"<b>x</b>": "1", "nope": "2", "sr": "4"})
    assert given == {"sr": 4}
    assert notices == ["Ignored 2 unknown link parameter(s)."]


def test_repeated_keys_use_the_last_value():
    assert PLAYGROUND.parse({"sr": ["1", "4"]}) == ({"sr": 4}, [])


def test_box_is_sorted_with_a_notice_and_bounded():
    given, notices = PLAYGROUND.parse({"box": "300,250,100,50"})
    assert given == {"box": (100.0, 50.0, 300.0, 250.0)}
    assert notices == ["The link's box had its corners swapped; they were put in order (x1 < x2, y1 < y2)."]
    for text, reason in (("1,2,3", "4 comma-separated"), ("a,b,c,d", "numbers"),
                         ("0,0,1e9,1", r"within \+-100000"), ("5,5,5,9", "positive width")):
        with pytest.raises(ValueError, match=reason):
            parse_box(text)


def test_uploads_never_travel_in_a_link():
    src = PLAYGROUND["src"]
    assert src.encode("upload") == "sample" and src.encode("npy") == "sample"
    assert PLAYGROUND.parse({"src": "upload"})[0] == {}


def test_a_new_setting_is_one_line():
    table = PageParams("demo", "demo_", (Param("speed", "slow", options=("slow", "fast"), label="Speed"),))
    assert table.parse({"speed": "fast"}) == ({"speed": "fast"}, [])
    assert table.to_query({"speed": "fast"}) == {"speed": "fast"}
    assert table.widget_key("speed") == "demo_speed"
    with pytest.raises(ValueError, match="duplicate"):
        PageParams("demo", "demo_", (Param("a", "x", options=("x",)), Param("a", "x", options=("x",))))
    with pytest.raises(ValueError, match="kind"):
        Param("a", 1, "number")
