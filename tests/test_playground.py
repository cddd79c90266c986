"""The Playground under Streamlit's AppTest: sources, methods, settings, boxes, links.

Numbers shown in the page are read back from the data the page sends its live stage (the
server's reference numbers, which the stage compares its own with) and from the table, and
compared with the batched ops (an independent path from the traces the page draws from).
Setting the stage's state (``at.session_state["stage"]``) stands in for a drag in the browser.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from roiviz.app.stage_parts import unpack
from roiviz.drawing.summary_table import SUMMARY_CLASS, read_summary_html
from roiviz import features, samples
from roiviz.lessons.examples import SEED_EXAMPLE_BOX
from roiviz.lessons.walkthrough import example_map
from roiviz.ops import precise_roi_pool, roi_align, roi_pool, roi_warp
from roiviz.methods import METHODS, label

#: The entry point: its navigation opens the Playground (pages/playground.py) at "/".
APP = str(Path(__file__).resolve().parent.parent / "app.py")


def new_app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    return at


def stage(at: AppTest) -> dict:
    """The data the page sent its live stage (roiviz.app.stage.stage_data), put back together
    from its parts as the stage does (roiviz.app.stage_parts: AppTest reports no held parts, so
    every part comes whole)."""
    found = [e for e in at.main if getattr(e.proto, "component_name", None) == "roiviz.app.stage"]
    assert len(found) == 1, "the page shows one stage"
    data, missing = unpack(json.loads(found[0].proto.json), {})
    assert missing == []
    return data


def stage_map(at: AppTest) -> np.ndarray:
    m = stage(at)["map"]
    return np.frombuffer(base64.b64decode(m["b64"]), dtype="<f4").reshape(m["height"], m["width"])


def shown_outputs(at: AppTest) -> dict[str, np.ndarray]:
    """The server's outputs the stage shows and checks itself against, by method."""
    ref = stage(at)["reference"]
    return {m: np.reshape(ref[m]["output"], ref[m]["shape"]) for m in METHODS if m in ref}


def summary_tables(at: AppTest) -> list[str]:
    """The page's summary tables (HTML, roiviz.drawing.summary_table)."""
    return [e.proto.body for e in at.get("html") if SUMMARY_CLASS in e.proto.body]


def table_rows(at: AppTest) -> dict[str, dict[str, str]]:
    """The server's metrics table, by method label."""
    return read_summary_html(summary_tables(at)[0])


def release(at: AppTest, box, seq: int = 1) -> None:
    """What the stage sends when a dragged box is released, then a rerun."""
    at.session_state["stage"] = {"box": {"box": list(box), "seq": seq}}
    at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def expected_outputs(values: np.ndarray, box, ss) -> dict[str, np.ndarray]:
    """The ops' outputs for the page's settings, on one channel [H, W]."""
    x = torch.tensor(np.array(values, dtype=np.float32))[None, None]
    boxes = torch.tensor([[0.0, *box]], dtype=torch.float32)
    size, scale = (ss["ph"], ss["pw"]), 1.0 / ss["stride"]
    return {
        "roi_pool": roi_pool(x, boxes, size, scale, convention=ss["conv"]),
        "roi_warp": roi_warp(x, boxes, size, scale, ss["sr"], ss["reduce"], convention=ss["conv"]),
        "roi_align": roi_align(x, boxes, size, scale, ss["sr"], ss["aligned"], ss["reduce"]),
        "precise_roi_pool": precise_roi_pool(x, boxes, size, scale),
    }


def test_default_page_shows_all_methods_with_engine_numbers():
    at = new_app()
    at.run()
    assert_clean(at)
    shown = shown_outputs(at)
    assert set(shown) == set(METHODS)
    ss = at.session_state
    image = samples.load_sample_image(ss["img"])
    values = features.image_feature_map(image, ss["stride"]).channel(ss["ch"])
    expected = expected_outputs(values, ss["box"], ss)
    for m in METHODS:
        np.testing.assert_allclose(shown[m], expected[m][0, 0].numpy(), atol=1e-5, err_msg=m)
    assert not at.table and len(summary_tables(at)) == 1     # no Arrow table on the page
    assert list(table_rows(at)) == [label(m) for m in METHODS]
    # The stage draws the map the methods read, and all four methods.
    np.testing.assert_array_equal(stage_map(at), values)
    assert stage(at)["methods"] == list(METHODS) and stage(at)["box"] == list(ss["box"])


def test_injected_box_gives_engine_numbers_and_areas():
    at = new_app()
    at.run()
    box = (100.5, 130.25, 301.0, 250.75)
    at.session_state["box"] = box
    at.run()
    assert_clean(at)
    ss = at.session_state
    assert tuple(ss["box"]) == box
    image = samples.load_sample_image(ss["img"])
    values = features.image_feature_map(image, ss["stride"]).channel(ss["ch"])
    expected = expected_outputs(values, box, ss)
    shown = shown_outputs(at)
    for m in METHODS:
        np.testing.assert_allclose(shown[m], expected[m][0, 0].numpy(), atol=1e-5, err_msg=m)
    # The typed-coordinate inputs follow the box.
    assert [at.number_input(key=k).value for k in ("bx1", "by1", "bx2", "by2")] == list(box)
    # Areas by hand for RoI Align (aligned): nothing lost or gained; for RoI Pool (library):
    # x 100.5/16 = 6.28 -> 6, 301/16 = 18.81 -> 19, +1 -> cells 6..19 = [6, 20).
    align_row = table_rows(at)["RoI Align"]
    assert align_row["lost %"] == "0.0" and align_row["gained %"] == "0.0" and align_row["IoU"] == "1.000"
    roi = (100.5 / 16, 130.25 / 16, 301.0 / 16, 250.75 / 16)
    read = (6, 8, 20, 17)  # y: 8.14 -> 8, 15.67 -> 16, +1 -> [8, 17)
    inter = (min(roi[2], read[2]) - max(roi[0], read[0])) * (min(roi[3], read[3]) - max(roi[1], read[1]))
    roi_area = (roi[2] - roi[0]) * (roi[3] - roi[1])
    lost = 100 * (roi_area - inter) / roi_area
    gained = 100 * ((read[2] - read[0]) * (read[3] - read[1]) - inter) / roi_area
    pool_row = table_rows(at)["RoI Pool"]
    assert pool_row["lost %"] == f"{lost:.1f}" and pool_row["gained %"] == f"{gained:.1f}"


def test_a_box_released_on_the_stage_gives_engine_numbers_link_and_inputs():
    at = new_app()
    at.run()
    release(at, (301.0, 250.75, 100.50049, 130.25))  # corners as dragged up-left, unrounded
    assert_clean(at)
    box = (100.5, 130.25, 301.0, 250.75)
    ss = at.session_state
    assert tuple(ss["box"]) == box
    assert [at.number_input(key=k).value for k in ("bx1", "by1", "bx2", "by2")] == list(box)
    values = features.image_feature_map(samples.load_sample_image(ss["img"]), ss["stride"]).channel(ss["ch"])
    expected = expected_outputs(values, box, ss)
    for m, out in shown_outputs(at).items():
        np.testing.assert_allclose(out, expected[m][0, 0].numpy(), atol=1e-5, err_msg=m)
    # The stage gets the box and the release it answers, so it can check itself.
    assert stage(at)["box"] == list(box) and stage(at)["seq"] == 1
    assert at.query_params["box"] in (["100.5,130.25,301,250.75"], "100.5,130.25,301,250.75")
    # The same value again (a rerun for another reason) is not applied twice: a typed box stays.
    at.number_input(key="bx2").set_value(400.0).run()
    assert tuple(at.session_state["box"]) == (100.5, 130.25, 400.0, 250.75)
    assert stage(at)["seq"] == 1


#: Values a browser may send as a released box, and a word of the page's warning for each
#: (also used for the Feature pyramids page's stage).
HOSTILE_STAGE_VALUES = [
    ({"box": [1e308, 0, 1e309, 5], "seq": 1}, "finite"),
    ({"box": "<script>alert(1)</script>", "seq": 1}, "four coordinates"),
    ({"box": [5000, 5000, 6000, 6000], "seq": 1}, "entirely off"),
    ("not a dict", "not a box"),
]


@pytest.mark.parametrize("value, fragment", HOSTILE_STAGE_VALUES)
def test_a_hostile_stage_value_is_refused_and_the_box_kept(value, fragment):
    at = new_app()
    at.run()
    box = tuple(at.session_state["box"])
    at.session_state["stage"] = {"box": value}
    at.run()
    assert not at.exception
    assert tuple(at.session_state["box"]) == box and stage(at)["box"] == list(box)
    warnings = " ".join(w.value for w in at.warning)
    assert fragment in warnings and "<script>" not in warnings
    assert set(shown_outputs(at)) == set(METHODS)


@pytest.mark.parametrize("name", samples.sample_image_names())
def test_every_sample_image(name):
    at = new_app({"img": name})
    at.run()
    assert_clean(at)
    assert at.session_state["img"] == name
    assert set(shown_outputs(at)) == set(METHODS)


def test_toy_grid_source_has_no_image_view():
    at = new_app({"src": "toy"})
    at.run()
    assert_clean(at)
    assert stage(at)["image"] is None
    values = example_map("toy")
    expected = expected_outputs(values, at.session_state["box"], at.session_state)
    for m, out in shown_outputs(at).items():
        np.testing.assert_allclose(out, expected[m][0, 0].numpy(), atol=1e-5)


def test_uploaded_image_and_npy_sources():
    """A decoded upload (as the uploader callback stores it) is used for the panels."""
    rng = np.random.default_rng(3)
    at = new_app()
    at.run()
    at.session_state["src"] = "upload"
    at.session_state["_image"] = ("file-1", rng.integers(0, 255, (200, 300, 3), dtype=np.uint8))
    at.run()
    assert_clean(at)
    assert stage(at)["image"]["width"] == 300 and set(shown_outputs(at)) == set(METHODS)
    fmap = features.load_npy(_npy_bytes(rng.standard_normal((2, 12, 20)).astype(np.float32)))
    at.session_state["src"] = "npy"
    at.session_state["_npy"] = ("file-2", fmap)
    at.run()
    assert_clean(at)
    assert stage(at)["image"] is None
    assert set(shown_outputs(at)) == set(METHODS)


def test_upload_source_without_file_explains_what_to_do():
    at = new_app()
    at.run()
    at.session_state["src"] = "npy"
    at.run()
    assert not at.exception
    # Nothing uploaded yet: the previous input stays and the page says what to do.
    assert any("Upload a .npy" in i.value for i in at.info)
    assert set(shown_outputs(at)) == set(METHODS)


def _npy_bytes(arr):
    import io
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


@pytest.mark.parametrize("method", METHODS)
def test_each_method_alone(method):
    at = new_app({"methods": method})
    at.run()
    assert_clean(at)
    assert list(shown_outputs(at)) == [method]


@pytest.mark.parametrize("key, value, changes", [
    ("sr", 1, ["roi_align", "roi_warp"]),
    ("aligned", False, ["roi_align"]),
    ("reduce", "max", ["roi_align", "roi_warp"]),
    ("conv", "article", ["roi_pool", "roi_warp"]),
    ("stride", 32, list(METHODS)),
    ("ch", 3, list(METHODS)),
])
def test_each_setting_changes_the_output(key, value, changes):
    at = new_app()
    at.run()
    before = shown_outputs(at)
    at.session_state[key] = value
    at.run()
    assert_clean(at)
    after = shown_outputs(at)
    for m in METHODS:
        moved = before[m].shape != after[m].shape or not np.allclose(before[m], after[m])
        assert moved == (m in changes), (key, m)


def test_output_size_buttons_and_inputs():
    at = new_app()
    at.run()
    at.button(key="out7").click().run()
    assert_clean(at)
    assert all(o.shape == (7, 7) for o in shown_outputs(at).values())
    at.number_input(key="pw").set_value(5).run()
    assert all(o.shape == (7, 5) for o in shown_outputs(at).values())


def test_typed_box_and_bad_typed_box_keeps_previous():
    at = new_app()
    at.run()
    at.number_input(key="bx2").set_value(400.0).run()
    assert_clean(at)
    box = at.session_state["box"]
    assert box[2] == 400.0
    # x1 beyond x2: zero/negative width -> message, previous box kept.
    at.number_input(key="bx1").set_value(450.0).run()
    assert not at.exception
    assert tuple(at.session_state["box"]) == tuple(box)
    assert any("zero width" in w.value for w in at.warning)
    # Entirely off the map.
    at.number_input(key="bx1").set_value(5000.0).run()
    assert tuple(at.session_state["box"]) == tuple(box)


@pytest.mark.parametrize("query, fragment", [
    ({"box": "abc"}, "box"),
    ({"box": "nan,1,2,3"}, "finite"),
    ({"box": "1e300,0,1e301,5"}, "finite"),
    ({"box": "10,10,10,50"}, "positive width"),
    ({"out": "-3"}, "output size"),
    ({"out": "99x2"}, "output size"),
    ({"methods": "roi_pool,bogus"}, "methods"),
    ({"img": "../../etc/passwd"}, "sample image"),
    ({"img": "/etc/passwd"}, "sample image"),
    ({"stride": "7"}, "stride"),
    ({"sr": "1.5"}, "sampling ratio"),
    ({"reduce": "<script>alert(1)</script>"}, "reduce"),
    ({"conv": "**bold**"}, "convention"),
    ({"src": "upload"}, "source"),
    ({"<b>x</b>": "1"}, "unknown"),
])
def test_hostile_links_give_a_notice_not_an_exception(query, fragment):
    at = new_app(query)
    at.run()
    assert_clean(at)
    notices = " ".join(w.value for w in at.warning)
    assert fragment in notices
    for key, value in query.items():  # the link's values (and unknown names) are never echoed
        if any(ch in value for ch in "<>*/,(."):
            assert value not in notices
        if key.startswith("<"):
            assert key not in notices
    assert set(shown_outputs(at)) == set(METHODS)  # the page still works


def test_link_reproduces_state_and_box():
    query = {"img": "coffee", "stride": "8", "ch": "2", "box": "50,40,200.5,150", "out": "7x5",
             "sr": "0", "aligned": "0", "reduce": "max", "conv": "article",
             "methods": "roi_pool,roi_align", "presenter": "1"}
    at = new_app(query)
    at.run()
    assert_clean(at)
    ss = at.session_state
    assert (ss["img"], ss["stride"], ss["ch"], ss["ph"], ss["pw"], ss["sr"]) == ("coffee", 8, 2, 7, 5, 0)
    assert (ss["aligned"], ss["reduce"], ss["conv"], ss["presenter"]) == (False, "max", "article", True)
    assert tuple(ss["box"]) == (50.0, 40.0, 200.5, 150.0)
    assert list(shown_outputs(at)) == ["roi_pool", "roi_align"]
    # The page writes the state back into the URL.
    assert at.query_params["box"] == ["50,40,200.5,150"] or at.query_params["box"] == "50,40,200.5,150"


def test_reset_restores_defaults():
    at = new_app({"stride": "32", "out": "5x5", "box": "10,10,100,100"})
    at.run()
    at.button(key="reset").click().run()
    assert_clean(at)
    ss = at.session_state
    assert ss["stride"] == 16 and (ss["ph"], ss["pw"]) == (3, 3)
    assert tuple(ss["box"]) != (10.0, 10.0, 100.0, 100.0)


def test_toy_grid_opens_on_the_seed_example():
    from roiviz.lessons.examples import SEED_EXAMPLE_BOX
    at = new_app({"src": "toy", "stride": "32"})
    at.run()
    assert_clean(at)
    assert tuple(at.session_state["box"]) == tuple(map(float, SEED_EXAMPLE_BOX))


def test_playground_offers_exports_and_a_link():
    at = new_app({"img": "chelsea"})
    at.run()
    assert_clean(at)
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Figure as PNG", "PNG for a blog column", "Figure as SVG", "Trace as JSON",
                      "Animation as GIF", "Download interactive page"]
    assert not at.code                  # no code block on the first paint (syntax highlighter)
    at.toggle(key="share_view").set_value(True).run()
    link = [c.value for c in at.code if "img=chelsea" in c.value]
    assert link and "box=" in link[0]
    # The iframe snippet embeds the same view (roiviz.drawing.export.embed_snippet is tested on its own).
    assert link[1].startswith("<iframe") and "embed=true" in link[1] and "img=chelsea" in link[1]


@pytest.mark.parametrize("query", [{"src": "toy"}, {}])
def test_toy_grid_is_the_walkthrough_map_at_stride_32_with_the_seed_box(query):
    """From a link or from the source radio, the toy grid is the article's map: the walkthrough's
    10 x 10 numbers at stride 32, opened on the worked example's proposal."""
    at = new_app(query)
    at.run()
    if not query:
        at.radio(key="src").set_value("toy").run()
    assert_clean(at)
    assert not at.warning, [w.value for w in at.warning]
    ss = at.session_state
    assert ss["stride"] == 32 and tuple(ss["box"]) == SEED_EXAMPLE_BOX
    np.testing.assert_array_equal(stage_map(at), example_map("toy"))


def test_show_the_code_is_each_methods_readable_reference():
    at = new_app()
    at.run()
    # Off by default: the page sends no code (the browser would fetch the syntax highlighter).
    assert not [c for c in at.code if "def " in c.value]
    at.toggle(key="show_code").set_value(True).run()
    codes = [c.value for c in at.code if "def " in c.value]
    assert len(codes) == len(METHODS)
    for method, code in zip(METHODS, codes):
        assert code.startswith(f"def {method}_reference(")
        assert len(code.splitlines()) <= 70    # about a screen


@pytest.mark.parametrize("out", ["7x7", "14x14"])
def test_ratio_16_keeps_every_method_with_the_ops_numbers(out):
    """Issue 20: at ratio 16 (12,544 and 50,176 samples per method, past the sample budget) the
    page still traces all four methods for the stage, with no warning, numbers equal to the ops."""
    at = new_app({"out": out, "sr": "16"})
    at.run()
    assert_clean(at)
    assert not at.warning, [w.value for w in at.warning]
    shown = shown_outputs(at)
    assert stage(at)["methods"] == list(METHODS) and set(shown) == set(METHODS)
    ss = at.session_state
    values = features.image_feature_map(samples.load_sample_image(ss["img"]), ss["stride"]).channel(ss["ch"])
    expected = expected_outputs(values, ss["box"], ss)
    for m in METHODS:
        np.testing.assert_allclose(shown[m], expected[m][0, 0].numpy(), atol=1e-5, err_msg=m)
    assert list(table_rows(at)) == [label(m) for m in METHODS]

