"""The Box refinement lab page in AppTest: it runs, its table has every method over 100 starts,
its settings come from roiviz.app.params.REFINEMENT, a link's values are applied."""

from __future__ import annotations

from test_page_pyramids import open_page


def test_lab_runs_with_the_table_and_link():
    at = open_page("refinement.py")
    assert not at.exception, [e.value for e in at.exception]
    tables = [t for t in at.table]
    assert len(tables) == 2
    big = tables[1].value
    assert list(big["method"]) == ["start (jittered)", "RoI Pool", "RoI Warp", "RoI Align", "Precise RoI Pooling"]
    # RoI Pool has no box gradient: it never moves, so its IoU is the starts'.
    assert big["median IoU"][1] == big["median IoU"][0] and big["median steps"][1] == "0"
    # The two continuous-in-the-box methods improve (the numbers come from roiviz.lessons.refinement).
    assert float(big["median IoU"][4]) > float(big["median IoU"][0])
    link = next(c.value for c in at.code if "presenter=" in c.value)
    assert set(p.split("=")[0] for p in link.split("?", 1)[1].split("&")) == {"target", "jitter", "start", "presenter"}


def test_link_values_are_applied():
    at = open_page("refinement.py", target="patch", jitter="0.1", start="3")
    assert not at.exception
    assert at.session_state["ref_target"] == "patch" and at.session_state["ref_start"] == 3
