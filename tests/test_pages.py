"""AppTest of every teaching page: runs cleanly, the stepper visits every step, links reopen a
state (bad values ignored with a warning that never echoes them), and the exports are valid PNG,
SVG and JSON whose numbers equal the engine's.

Each page file is a runnable script, so ``AppTest.from_file("pages/<page>.py")`` runs it alone.
"""

from __future__ import annotations

import io
import json
import typing
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import streamlit.testing.v1.app_test as app_test_module
from html_tables import html_tables
from PIL import Image
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from roiviz.lessons.evidence import TABLE_2D
from roiviz.lessons.examples import SEED_EXAMPLE_BOX, seed_example_settings
from roiviz.drawing.export import PNG_SIGNATURE
from roiviz.lessons.gradients import gradient_maps
from roiviz.lessons.walkthrough import STEP_KEYS, example_map, walkthrough
from roiviz.methods import SERIES
from roiviz.lessons.sweeps import sweep_offsets
from roiviz.methods import METHODS
from roiviz.methods import trace_method

TIMEOUT = 90
ROOT = Path(__file__).resolve().parent.parent


class _RecordingStorage(MemoryMediaFileStorage):
    """AppTest's in-memory media storage, remembered so that tests can read the downloads."""

    instances: typing.ClassVar[list[MemoryMediaFileStorage]] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _RecordingStorage.instances.append(self)


@pytest.fixture
def media(monkeypatch):
    _RecordingStorage.instances = []
    monkeypatch.setattr(app_test_module, "MemoryMediaFileStorage", _RecordingStorage)

    def read(url: str) -> bytes:
        name = url.rsplit("/", 1)[-1]
        for storage in reversed(_RecordingStorage.instances):
            try:
                return storage.get_file(name).content
            except Exception:
                continue
        raise KeyError(url)
    return read


def page(name: str, **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def downloads(at: AppTest, media) -> dict[str, bytes]:
    """The files of the page's download buttons (deferred ones, drawn on click, are left out)."""
    out = {}
    for button in at.get("download_button"):
        if not button.proto.HasField("deferred_file_id"):
            out[button.proto.label] = media(button.proto.url)
    return out


def check_files(files: dict[str, bytes]) -> dict:
    assert set(files) == {"Figure as PNG", "Figure as SVG", "Trace as JSON"}
    png = files["Figure as PNG"]
    assert png.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and min(im.size) > 200
    assert ET.fromstring(files["Figure as SVG"]).tag.endswith("svg")
    return json.loads(files["Trace as JSON"])


def table_dict(at: AppTest, index: int = 0) -> dict[str, str]:
    df = at.table[index].value
    return dict(zip(df.iloc[:, 0], df.iloc[:, 1]))


def no_problems(at: AppTest) -> None:
    assert not at.exception
    assert not at.error


# ----------------------------------------------------------------------------------------------
# Walkthrough


def test_walkthrough_stepper_visits_every_step():
    at = page("walkthrough")
    lesson = walkthrough("article")
    assert at.button(key="walk_prev").disabled
    for i, step in enumerate(lesson.steps, start=1):
        no_problems(at)
        assert at.subheader[0].value == f"Step {i} of {len(STEP_KEYS)}: {step.title}"
        assert at.slider(key="walk_step").value == i
        assert table_dict(at) == dict(step.numbers)
        assert step.text.split(".")[0] in " ".join(m.value for m in at.markdown)
        assert at.query_params["step"] == str(i) and at.query_params["conv"] == "article"
        assert len(at.image) == 1
        if i < len(lesson.steps):
            at.button(key="walk_next").click().run()
    assert at.button(key="walk_next").disabled
    at.button(key="walk_prev").click().run()
    assert at.slider(key="walk_step").value == len(STEP_KEYS) - 1


def test_walkthrough_slider_and_convention():
    at = page("walkthrough")
    at.slider(key="walk_step").set_value(3).run()
    assert table_dict(at)["snapped size"] == "4 rows x 6 columns"
    at.radio(key="walk_conv").set_value("library").run()
    no_problems(at)
    assert table_dict(at)["snapped size"] == "5 rows x 8 columns"
    assert "The article rounds differently" in at.info[0].value
    assert at.query_params["conv"] == "library"


def test_walkthrough_link_reopens_the_state():
    at = page("walkthrough", step="9", conv="library", presenter="1")
    no_problems(at)
    assert at.subheader[0].value.startswith("Step 9 of 13")
    assert at.radio(key="walk_conv").value == "library"
    assert at.session_state["presenter_mode"] is True and at.toggle(key="walk_presenter").value
    assert not at.warning
    code = at.code[0].value
    assert "step=9" in code and "conv=library" in code and "presenter=1" in code


def test_walkthrough_bad_link_is_ignored_with_a_warning():
    at = page("walkthrough", step="99", conv="<b>evil</b>", extra="1")
    no_problems(at)
    assert at.subheader[0].value.startswith("Step 1 of 13")
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 3
    assert not any("evil" in w or "99" in w for w in warnings)


def test_walkthrough_presenter_toggle_is_shared(media):
    at = page("walkthrough")
    small = downloads(at, media)["Figure as PNG"]
    at.toggle(key="walk_presenter").set_value(True).run()
    no_problems(at)
    assert at.session_state["presenter_mode"] is True
    assert at.query_params["presenter"] == "1"
    large = downloads(at, media)["Figure as PNG"]
    assert large != small


def test_walkthrough_exports_equal_the_engine(media):
    at = page("walkthrough", step="10", conv="article")
    doc = check_files(downloads(at, media))
    assert doc["page"] == "walkthrough" and doc["step"] == 10 and doc["step_key"] == "reduce"
    settings = seed_example_settings("article", sampling_ratio=2)
    values = example_map("toy")
    for name, reduce in (("roi_align", "avg"), ("roi_align_max", "max")):
        expected = trace_method("roi_align", values, SEED_EXAMPLE_BOX, replace(settings, reduce=reduce))
        got = doc["traces"][name]
        np.testing.assert_allclose(got["output"], expected.output, atol=1e-6)
        assert got["image_box"] == list(SEED_EXAMPLE_BOX)
        assert got["bins"][0]["samples"][0]["weights"] == pytest.approx(list(expected.bin(0, 0).samples[0].weights))
    assert [tuple(n) for n in doc["numbers"]] == list(walkthrough("article").step("reduce").numbers)


# ----------------------------------------------------------------------------------------------
# Sensitivity


def test_sensitivity_runs_and_exports_the_sweep(media):
    at = page("sensitivity")
    no_problems(at)
    assert len(at.image) == 4   # the offset sweep and the box-size sweep, each with its phone variant
    assert [r for r in html_tables(at)[0]["method"]] == [
        "RoI Pool", "RoI Warp", "RoI Align", "Precise RoI Pooling", "RoI Align (aligned=False)"]
    doc = check_files(downloads(at, media))
    sweep = doc["sweep"]
    assert sweep["mode"] == "shift" and sweep["axis"] == "x" and sweep["bin"] == [0, 1]
    settings = seed_example_settings("library", sampling_ratio=2)
    expected = sweep_offsets(example_map("photo"), SEED_EXAMPLE_BOX, settings, SERIES,
                             np.linspace(-1, 1, 81), bin=(0, 1))
    for s in SERIES:
        np.testing.assert_allclose(sweep["bin_values"][s], expected.bin_values[s], atol=1e-6)
    for m in METHODS:
        np.testing.assert_allclose(doc["traces"][m]["output"], expected.reference[m], atol=1e-5)
    # The animated GIF is drawn only when clicked (roiviz.drawing.animate is tested in test_animate.py).
    gif = [b for b in at.get("download_button") if b.proto.label == "Animation as GIF"]
    assert len(gif) == 1 and gif[0].proto.HasField("deferred_file_id")
    # The copy link comes with an iframe snippet that embeds the same view.
    link = next(c.value for c in at.code if c.value.startswith("http") or c.value.startswith("?"))
    assert any(c.value.startswith("<iframe") and "embed=true" in c.value for c in at.code)
    assert "mode=shift" in link


def test_sensitivity_widgets_link_and_empty_selection():
    at = page("sensitivity", mode="grow", axis="y", range="0.5", points="41", row="2", col="2",
              methods="roi_pool,precise_roi_pool", map="toy", sr="0", conv="article", reduce="max")
    no_problems(at)
    assert not at.warning
    assert list(html_tables(at)[0]["method"]) == ["RoI Pool", "Precise RoI Pooling"]
    assert html_tables(at)[0]["different values"].iloc[1] == "41"   # smooth: a new value per offset
    at.multiselect(key="sens_methods").set_value([]).run()
    no_problems(at)
    assert "Choose at least one method" in at.warning[0].value
    assert len(at.image) == 4          # the previous sweep stays on screen (and the size sweep; phone variants)
    at.radio(key="sens_axis").set_value("x").run()
    assert at.query_params["axis"] == "x"


def test_sensitivity_bad_link():
    at = page("sensitivity", methods="roi_pool,<i>x</i>", range="1e9")
    no_problems(at)
    warnings = " ".join(w.value for w in at.warning)
    assert "'methods'" in warnings and "'range'" in warnings and "<i>" not in warnings and "1e9" not in warnings
    assert len(html_tables(at)[0]) == len(SERIES)


# ----------------------------------------------------------------------------------------------
# Gradients


def test_gradients_runs_and_exports_autograd_maps(media):
    at = page("gradients", target="1,1", shift="0.25", conv="article")
    no_problems(at)
    doc = check_files(downloads(at, media))
    box = tuple(v + (8 if i % 2 == 0 else 0) for i, v in enumerate(SEED_EXAMPLE_BOX))  # 0.25 cell = 8 px in x
    assert doc["box"] == list(box)
    settings = seed_example_settings("article", sampling_ratio=2)
    expected = gradient_maps(example_map("toy"), box, settings, METHODS, target=(1, 1))
    for m in METHODS:
        np.testing.assert_allclose(doc["gradients"][m], expected.maps[m], atol=1e-6)
    df = html_tables(at)[0]
    assert list(df["cells reached"]) == [str(expected.cells_reached(m)) for m in METHODS]
    at.selectbox(key="grad_target").set_value("all").run()
    no_problems(at)
    assert at.query_params["target"] == "all"
    assert [float(v) for v in html_tables(at)[0]["total"]] == pytest.approx([9, 9, 9, 9], abs=1e-3)


# ----------------------------------------------------------------------------------------------
# Evidence


def test_evidence_tables_and_exports(media):
    at = page("evidence")
    no_problems(at)
    assert list(html_tables(at)[0]["mask AP"]) == ["26.9", "27.2", "27.1", "30.2", "30.3"]
    at.radio(key="ev_table").set_value("2d").run()
    no_problems(at)
    df = html_tables(at)[0]
    assert list(df["layer"]) == ["RoIPool", "RoIAlign", "gain"]
    assert list(df["box AP"]) == ["28.2", "34.0", "+5.8"]
    assert any("box AP" in m.value and "mask AP" in m.value for m in at.markdown)
    doc = check_files(downloads(at, media))
    assert doc["table"] == "2d" and doc["rows"][1]["mask AP"] == TABLE_2D.rows[1].mask[0]
    assert "1703.06870" in doc["citation"]
    assert at.query_params["table"] == "2d"


def test_every_page_has_a_copy_link_and_keyboard_controls():
    for name, prefix in (("walkthrough", "walk"), ("sensitivity", "sens"), ("gradients", "grad"),
                         ("evidence", "ev")):
        at = page(name)
        no_problems(at)
        assert at.code and at.code[0].value.startswith("?")      # no server URL under AppTest
        assert at.toggle(key=f"{prefix}_presenter") is not None
        assert len(at.get("download_button")) == (4 if name == "sensitivity" else 3)   # + the GIF
        assert any(c.value.startswith("<iframe") for c in at.code)                     # embed snippet


def test_pages_run_under_the_apps_navigation():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    for name, title in (("walkthrough", "Walkthrough"), ("sensitivity", "Sub-pixel sensitivity"),
                        ("gradients", "Gradient flow"), ("evidence", "Evidence")):
        at.switch_page(f"pages/{name}.py").run()
        no_problems(at)
        assert at.title[0].value.startswith(title)
        assert len(at.get("download_button")) == (4 if name == "sensitivity" else 3)   # + the GIF
        assert any(c.value.startswith("<iframe") for c in at.code)                     # embed snippet



#: Parameters a page shows with widgets of its own (not one widget per table entry): the
#: Playground's box (drawn or typed in four inputs) and output size (rows and columns).
OWN_WIDGETS = {("playground", "box"), ("playground", "out"), ("pyramids", "box")}


@pytest.mark.parametrize("page", ["playground", "walkthrough", "sensitivity", "gradients", "pyramids",
                                  "evidence"])
def test_every_widget_comes_from_the_pages_table(page):
    """Each setting of the page's table is a widget with the table's label, help and key, set to
    the table's default on a plain visit; and the page's copy link holds exactly the table's keys."""
    from roiviz.app.params import PAGES

    table = PAGES[page]
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    widgets = {}
    for kind in ("selectbox", "radio", "select_slider", "multiselect", "toggle", "slider"):
        for w in at.get(kind):
            widgets[w.proto.id.rsplit("-", 1)[-1]] = w
    for p in table:
        if (page, p.key) in OWN_WIDGETS:
            continue
        w = widgets[table.widget_key(p.key)]
        assert w.proto.label == p.label, p.key
        assert (w.proto.help or None) == p.help, p.key
        value = at.session_state[table.widget_key(p.key)]
        assert (tuple(value) if p.kind == "multi" else value) == p.default, p.key
    if page == "playground":      # its link waits behind "Share this view" (a lighter first load)
        at.toggle(key="share_view").set_value(True).run()
    link = next(c.value for c in at.code if "presenter=" in c.value)
    assert set(part.split("=")[0] for part in link.split("?", 1)[1].split("&")) == set(table.keys())


# ----------------------------------------------------------------------------------------------
# Hosting for a blog, titles, the first-visit tip and header tooltips


def _snippet(at: AppTest) -> str:
    return next(c.value for c in at.code if c.value.startswith("<iframe"))


def test_embed_snippet_uses_the_public_address_and_names_the_page(monkeypatch):
    from roiviz.app.hosting import PUBLIC_URL_ENV

    monkeypatch.setenv(PUBLIC_URL_ENV, "https://roiviz.example.org/course/")
    at = page("walkthrough", step="6", conv="library")
    no_problems(at)
    snippet = _snippet(at)
    assert 'src="https://roiviz.example.org/course/?step=6&amp;conv=library' in snippet
    assert "embed=true" in snippet and "localhost" not in snippet
    assert 'title="Walkthrough: step 6 of 13, library rounding · roiviz"' in snippet
    assert at.code[0].value.startswith("https://roiviz.example.org/course/?step=6")   # the copy link too
    assert not any("not set" in m.value for m in at.markdown)


@pytest.mark.parametrize("value", ["", "http://localhost:8501"])
def test_embed_snippet_without_a_usable_address_says_how_to_set_it(monkeypatch, value):
    from roiviz.app.hosting import PLACEHOLDER, PUBLIC_URL_ENV

    monkeypatch.setenv(PUBLIC_URL_ENV, value)
    at = page("evidence", table="2d")
    no_problems(at)
    snippet = _snippet(at)
    assert f'src="{PLACEHOLDER}/?table=2d' in snippet and "localhost" not in snippet
    assert 'title="Evidence: Mask R-CNN Table 2d · roiviz"' in snippet
    note = " ".join(m.value for m in at.markdown if PUBLIC_URL_ENV in m.value)
    assert "make serve" in note and PUBLIC_URL_ENV in note


def test_first_visit_tip_until_dismissed_and_not_on_a_projector():
    from roiviz.app.ui import TIP_TEXT

    def tip_shown(at):
        shown = any(TIP_TEXT in m.value for m in at.markdown)       # a page alone: the text
        assert shown == any(b.key == "roiviz_tip_dismiss" for b in at.button)   # with its button
        return shown

    at = page("gradients")
    no_problems(at)
    assert tip_shown(at)
    at.button(key="roiviz_tip_dismiss").click().run()
    no_problems(at)
    assert not tip_shown(at)
    at.run()                                    # stays dismissed in the session
    assert not tip_shown(at)
    assert not tip_shown(page("gradients", presenter="1"))   # a projector: no tip
    assert not tip_shown(page("walkthrough"))                 # the Walkthrough itself: no tip


def test_tip_stays_dismissed_across_the_apps_pages():
    from roiviz.app.ui import TIP_TEXT

    def tip_link(at):     # under the app's navigation the tip is a link to the Walkthrough
        return [p for p in at.get("page_link") if p.proto.label == TIP_TEXT]

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("pages/evidence.py").run()
    assert len(tip_link(at)) == 1 and tip_link(at)[0].proto.page.endswith("walkthrough")
    at.button(key="roiviz_tip_dismiss").click().run()
    at.switch_page("pages/sensitivity.py").run()
    no_problems(at)
    assert not tip_link(at)


@pytest.mark.parametrize("name, columns", [
    ("gradients", 4), ("sensitivity", 4), ("evidence", 5), ("pyramids", 5)])
def test_every_table_header_has_a_plain_words_tooltip(name, columns):
    at = page(name)
    no_problems(at)
    tables = html_tables(at)
    assert tables and len(tables[0].columns) == columns
    for table in tables:
        helps = table.attrs["help"]
        assert set(helps) == set(table.columns)
        assert all(len(words.split()) >= 4 for words in helps.values()), helps
    if name != "pyramids":        # (the pyramids page's method panels are moving to the stage)
        assert not at.table       # no table without tooltips is left on these pages
