"""AppTest of the "Why don't my numbers match?" page: the detective, the probe kit, the comparison
view, and bad input (a clear message, the previous result kept, never a traceback)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from roiviz.conventions import DIALECTS

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120


def open_page(**query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "conventions.py"), default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def no_traceback(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def submit(at: AppTest) -> AppTest:
    return next(b for b in at.button if b.proto.label == "Find the convention").click().run()


def test_plain_visit_draws_every_view():
    at = open_page()
    no_traceback(at)
    assert not at.error
    assert [t.label for t in at.tabs] == ["Find your convention", "Compare two dialects", "The catalogue"]
    catalogue = at.table[-1].value
    assert list(catalogue["id"]) == [d.id for d in DIALECTS]
    assert any("max |tv_align - tv_align_legacy|" in m.value for m in at.markdown)


def test_example_is_named_with_card_drawing_and_fix():
    at = open_page()
    at.button(key="why_example").click().run()
    at = submit(at)
    no_traceback(at)
    assert not at.error
    success = at.success[0].value
    assert "tv_align_legacy" in success and "openvino_asymmetric" in success
    assert any("One-line fix" in i.value and "aligned=True" in i.value for i in at.info)
    rules = next(t.value for t in at.table if "source" in t.value.columns)
    assert list(rules["rule"])[:3] == ["box", "offset", "end"]
    assert any("::" in s for s in rules["source"])
    assert any(":green-badge[run here" in m.value for m in at.markdown)


def test_bad_input_keeps_the_previous_result():
    at = open_page()
    at.button(key="why_example").click().run()
    at = submit(at)
    assert "tv_align_legacy" in at.success[0].value
    at.text_area(key="why_in_map").set_value("[[1, 2], [3]]")
    at = submit(at)
    no_traceback(at)
    assert at.error and "equal lengths" in at.error[0].value
    assert "tv_align_legacy" in at.success[0].value           # the last result stays
    assert at.text_area(key="why_in_map").value == "[[1, 2], [3]]"   # the input is kept
    at.text_area(key="why_in_map").set_value("[[1, 2], [3, 4]]")
    at.text_input(key="why_in_box").set_value("1, 2, three")
    at = submit(at)
    no_traceback(at)
    assert "only numbers" in at.error[0].value


def test_nothing_fits_names_the_closest():
    at = open_page()
    at.button(key="why_example").click().run()
    at.text_area(key="why_in_output").set_value("[[100, 200], [300, 400]]")
    at = submit(at)
    no_traceback(at)
    assert at.warning and "No dialect reproduces" in at.warning[0].value
    assert any("The closest convention" in m.value for m in at.markdown)


def test_probe_kit_names_onnx_max():
    at = open_page(src="kit")
    no_traceback(at)
    at.selectbox(key="why_kit_demo").set_value("onnx_align_max").run()
    at = submit(at)
    no_traceback(at)
    assert not at.error
    assert at.success[0].value == "The kit's outputs are onnx_align_max."
    assert any("weighted corner" in " ".join(map(str, t.value.values.ravel())) for t in at.table)


def test_compare_view_bad_box_keeps_the_last_one():
    at = open_page(a="tf_crop_and_resize", b="keras_cv_align")
    no_traceback(at)
    assert any("max |tf_crop_and_resize - keras_cv_align|" in m.value for m in at.markdown)
    at.text_input(key="why_cmp_box").set_value("10, 10, nope, 3").run()
    no_traceback(at)
    assert any("Box not used" in e.value for e in at.error)
    assert any("max |tf_crop_and_resize - keras_cv_align|" in m.value for m in at.markdown)


def test_hostile_link_is_refused_with_a_notice():
    at = open_page(a="<script>", sr="99")
    no_traceback(at)
    notices = " ".join(w.value for w in at.warning)
    assert "<script>" not in notices and "a must be one of" in notices
    assert at.session_state["why_a"] == "tv_align"
