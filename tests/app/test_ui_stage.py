"""roiviz.app.ui_stage: which parts of the stage's data the server believes the browser holds."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _script():
    import streamlit as st

    from roiviz.app import ui_stage

    held = ["0123456789abcdef"]
    st.session_state["probe"] = {"box": {"box": [1.0, 2.0, 3.0, 4.0], "seq": 1, "held": held}}
    first = ui_stage._held_parts("probe")
    ui_stage._send_whole("probe")          # the stage reported a part missing (trigger)
    second = ui_stage._held_parts("probe")
    third = ui_stage._held_parts("probe")
    st.session_state["probe"] = {"box": {"box": [1.0, 2.0, 3.0, 4.0], "seq": 2, "held": "not a list"}}
    fourth = ui_stage._held_parts("probe")
    st.write(repr([sorted(first), sorted(second), sorted(third), sorted(fourth)]))


def test_a_reported_missing_part_sends_every_part_whole_once_and_bad_claims_hold_nothing():
    at = AppTest.from_function(_script).run()
    assert not at.exception
    assert at.markdown[0].value == repr([["0123456789abcdef"], [], ["0123456789abcdef"], []])
