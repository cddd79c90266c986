"""AppTest of the Feature pyramids page: the level shown follows the box across the 112 / 224 /
448 px boundaries, bad boxes and links keep the previous state with a message, and the exports
(PNG, SVG, JSON with the stride and the level formula) equal the engine's numbers."""

from __future__ import annotations

from html_tables import html_tables
import numpy as np
import pytest
from test_pages import ROOT, TIMEOUT, check_files, downloads, media, no_problems  # noqa: F401
from test_playground import HOSTILE_STAGE_VALUES, stage, stage_map
from streamlit.testing.v1 import AppTest

from roiviz.features import image_feature_map
from roiviz.fpn import level_rule, trace_fpn_level
from roiviz.samples import load_sample_image
from roiviz.lessons.sweeps import PAGE_BOX_SIZES, sweep_box_sizes
from roiviz.methods import METHODS, trace_all
from roiviz.records import Settings


def open_page(file: str, **query) -> AppTest:
    """``pages/<file>`` run once in AppTest with ``query`` as its link's parameters."""
    at = AppTest.from_file(str(ROOT / "pages" / file), default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def page(**query) -> AppTest:
    return open_page("pyramids.py", **query)


def level_shown(at: AppTest) -> str:
    heads = [m.value for m in at.markdown if m.value.startswith("### Level ")]
    assert len(heads) == 1
    return heads[0]


def test_default_box_level_steps_and_exports(media):
    at = page()
    no_problems(at)
    assert level_shown(at) == "### Level P3: stride 8 px"
    steps = at.code[0].value
    assert "sqrt(w*h) = sqrt(150 x 150) = 150.00 px" in steps
    assert "floor(4 + (-0.5785) + 1e-06) = floor(3.4215) = 3" in steps
    # The four methods are the Playground's stage, on P3's map and stride, with the server's numbers.
    data = stage(at)
    values = image_feature_map(load_sample_image("astronaut"), 8).channel(0)
    np.testing.assert_array_equal(stage_map(at), values)
    assert data["methods"] == list(METHODS) and data["settings"]["stride"] == 8.0
    assert data["box"] == [180.0, 60.0, 330.0, 210.0] and data["image"]["width"] == 512
    assert data["titles"]["map"] == "P3, stride 8: 64 x 64 cells ('luminance')"
    bounds = html_tables(at)[0]
    assert list(bounds["level"]) == ["P2", "P3 (yours)", "P4", "P5"]
    assert list(bounds["sqrt(w*h) from (px)"]) == ["0", "112", "224", "448"]
    assert list(bounds["to below (px)"]) == ["112", "224", "448", "no limit"]
    assert list(bounds["your box across (cells)"]) == ["37.50", "18.75", "9.38", "4.69"]
    doc = check_files(downloads(at, media))
    box = (180.0, 60.0, 330.0, 210.0)
    assert doc["pooled_at_stride"] == 8 and doc["level"]["stride"] == 8 and doc["level"]["level"] == 3
    assert doc["level_formula"] == "k = clamp(floor(4 + log2(sqrt(w*h) / 224) + 1e-06), 2, 5)"
    assert doc["level"] == {k: v for k, v in trace_fpn_level(box).to_dict().items()} | {"box": list(box)}
    values = image_feature_map(load_sample_image("astronaut"), 8).channel(0)
    expected = trace_all(values, box, Settings(output_size=(7, 7), stride=8.0, sampling_ratio=2,
                                               aligned=False, convention="library"))
    for m in METHODS:
        np.testing.assert_allclose(doc["traces"][m]["output"], expected[m].output, atol=1e-6)
        assert doc["traces"][m]["settings"]["stride"] == 8
    sweep = sweep_box_sizes(PAGE_BOX_SIZES, Settings(output_size=(7, 7)), fixed_stride=16,
                            positions=32)
    np.testing.assert_allclose(doc["size_sweep"]["gained_percent"]["pyramid"]["roi_pool"],
                               sweep.gained["pyramid"]["roi_pool"])
    assert doc["size_sweep"]["levels"] == sweep.levels.tolist()
    assert "box=180%2C60%2C330%2C210" in at.code[-1].value or "box=180,60,330,210" in at.code[-1].value


def release(at: AppTest, box, seq: int = 1) -> None:
    """What the page's stage sends when a dragged box is released, then a rerun."""
    at.session_state["pyr_stage"] = {"box": {"box": list(box), "seq": seq}}
    at.run()


def test_a_release_on_the_stage_across_224_px_switches_the_stage_to_p4():
    at = page(box="100,100,323.9,323.9")
    no_problems(at)
    assert level_shown(at) == "### Level P3: stride 8 px" and stage(at)["settings"]["stride"] == 8.0
    release(at, (100, 100, 324, 323.9))                     # 224 x 223.9: still P3
    no_problems(at)
    assert level_shown(at) == "### Level P3: stride 8 px" and stage(at)["seq"] == 1
    release(at, (324, 324, 100, 100), seq=2)               # dragged up-left: 224 x 224, P4
    no_problems(at)
    assert at.session_state["pyr_box"] == (100, 100, 324, 324)
    assert level_shown(at) == "### Level P4: stride 16 px"
    data = stage(at)
    assert data["seq"] == 2 and data["box"] == [100.0, 100.0, 324.0, 324.0]
    assert data["settings"]["stride"] == 16.0 and data["titles"]["map"].startswith("P4, stride 16: 32 x 32 cells")
    values = image_feature_map(load_sample_image("astronaut"), 16).channel(0)
    np.testing.assert_array_equal(stage_map(at), values)
    settings = Settings(output_size=(7, 7), stride=16.0, sampling_ratio=2, aligned=False)
    expected = trace_all(values, (100, 100, 324, 324), settings)
    for m in METHODS:                                      # the reference the stage checks itself against
        np.testing.assert_allclose(np.reshape(data["reference"][m]["output"], (7, 7)), expected[m].output,
                                   atol=1e-6)
    assert at.number_input(key="pyr_y2").value == 324.0 and at.query_params["box"] == "100,100,324,324"


@pytest.mark.parametrize("value, fragment", HOSTILE_STAGE_VALUES)
def test_a_hostile_stage_value_is_refused_and_the_box_kept(value, fragment):
    at = page()
    at.session_state["pyr_stage"] = {"box": value}
    at.run()
    no_problems(at)
    assert at.session_state["pyr_box"] == (180, 60, 330, 210) and stage(at)["box"] == [180, 60, 330, 210]
    warnings = " ".join(w.value for w in at.warning)
    assert fragment in warnings and "The previous box is kept." in warnings and "<script>" not in warnings
    assert level_shown(at) == "### Level P3: stride 8 px"


def test_typing_a_box_across_224_px_switches_the_level():
    at = page(box="100,100,323.9,323.9")
    no_problems(at)
    assert not at.warning
    assert level_shown(at) == "### Level P3: stride 8 px"   # sqrt = 223.9: floor(3.99936)
    at.number_input(key="pyr_x2").set_value(324.0).run()   # 224 x 223.9: still below 224
    assert level_shown(at) == "### Level P3: stride 8 px"
    at.number_input(key="pyr_y2").set_value(324.0).run()   # 224 x 224: exactly 224
    no_problems(at)
    assert level_shown(at) == "### Level P4: stride 16 px"
    assert at.query_params["box"] == "100,100,324,324"
    assert "16 px, so the box is 14.00 x 14.00 cells" in at.code[0].value


@pytest.mark.parametrize("size, level", [(111, 2), (112, 3), (447, 4), (448, 5)])
def test_resize_buttons_straddle_the_boundaries(size, level):
    at = page()
    at.button(key=f"pyr_size_{size}").click().run()
    no_problems(at)
    x1, y1, x2, y2 = at.session_state["pyr_box"]
    assert (x2 - x1, y2 - y1) == (size, size) and (x1 + x2, y1 + y2) == (510, 270)   # same centre
    assert level_shown(at).startswith(f"### Level P{level}:")


def test_bad_typed_box_keeps_the_previous_one():
    at = page()
    at.number_input(key="pyr_x2").set_value(100.0).run()   # x2 < x1
    no_problems(at)
    assert "x2 > x1" in at.warning[0].value
    assert at.session_state["pyr_box"] == (180, 60, 330, 210)
    assert at.number_input(key="pyr_x2").value == 330
    assert level_shown(at).startswith("### Level P3:")
    at.number_input(key="pyr_x2").set_value(900.0).run()
    at.number_input(key="pyr_x1").set_value(600.0).run()   # right of the image
    assert "must overlap the 512 x 512 image" in at.warning[0].value
    assert at.session_state["pyr_box"] == (180, 60, 900, 210)


def test_a_link_box_off_the_image_falls_back_to_the_default():
    at = page(box="600,600,700,700", img="chelsea")
    no_problems(at)
    assert "does not overlap the 451 x 300 image" in at.warning[0].value
    assert at.session_state["pyr_box"] == (180, 60, 330, 210)


def test_bad_link_is_ignored_without_echo():
    at = page(box="1,2,<b>x</b>", rule="caffe", img="../etc/passwd")
    no_problems(at)
    warnings = " ".join(w.value for w in at.warning)
    assert "'box'" in warnings and "'rule'" in warnings and "'img'" in warnings
    assert "<b>" not in warnings and "passwd" not in warnings
    assert level_shown(at).startswith("### Level P3:")


def test_detectron2_rule_and_a_clamped_tiny_box(media):
    at = page(rule="detectron2", box="40,40,50,50", out="3", sr="0", conv="article")
    no_problems(at)
    assert level_shown(at) == "### Level P2: stride 4 px"
    assert "too small for the pyramid" in at.info[0].value
    doc = check_files(downloads(at, media))
    assert doc["level_formula"] == "k = clamp(floor(4 + log2(sqrt(w*h) / 224 + 1e-08)), 2, 5)"
    assert doc["level"] == trace_fpn_level((40, 40, 50, 50), **level_rule(True)).to_dict() | {
        "box": [40.0, 40.0, 50.0, 50.0]}
    assert doc["traces"]["roi_align"]["settings"]["aligned"] is True
    assert doc["traces"]["roi_pool"]["settings"]["convention"] == "article"
    assert doc["size_sweep"]["aligned_level_rule"] is True


def test_page_runs_under_the_apps_navigation():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    at.switch_page("pages/pyramids.py").run()
    no_problems(at)
    assert at.title[0].value == "Feature pyramids"
    assert len(at.get("download_button")) == 3


def test_sensitivity_page_shows_the_box_size_sweep(media):
    at = AppTest.from_file(str(ROOT / "pages" / "sensitivity.py"), default_timeout=TIMEOUT)
    at.query_params["fpn"] = "8"
    at.query_params["conv"] = "article"
    at.run()
    no_problems(at)
    assert at.selectbox(key="sens_fpn").value == 8
    assert len(at.image) == 4      # both sweeps, each with its phone variant
    assert any("feature pyramid" in m.value for m in at.markdown)
    doc = check_files(downloads(at, media))
    expected = sweep_box_sizes(PAGE_BOX_SIZES, Settings(output_size=(3, 3), convention="article"),
                               fixed_stride=8, positions=32)
    got = doc["size_sweep"]
    assert got["fixed_stride"] == 8 and got["convention"] == "article" and got["levels"] == expected.levels.tolist()
    for mode in ("fixed", "pyramid"):
        np.testing.assert_allclose(got["lost_percent"][mode]["roi_pool"], expected.lost[mode]["roi_pool"])
        np.testing.assert_allclose(got["gained_percent"][mode]["roi_warp"], expected.gained[mode]["roi_warp"])
    assert at.query_params["fpn"] == "8"


# ----------------------------------------------------------------------------------------------
# The Playground's "Feature pyramid" option


def playground(**query) -> AppTest:
    return open_page("playground.py", **query)


def playground_level(at: AppTest) -> str:
    shown = [m.value for m in at.markdown if m.value.startswith("**Feature pyramid: level")]
    assert len(shown) == 1
    return shown[0]


def test_playground_pyramid_pools_the_box_on_its_level():
    at = playground(fpn="1", box="100,100,323.9,323.9", aligned="0", out="7x7")
    no_problems(at)
    assert playground_level(at).startswith("**Feature pyramid: level P3, stride 8 px**")
    assert "+ 1e-06), 2, 5)" in playground_level(at)          # torchvision's rule with aligned off
    assert at.selectbox(key="stride").disabled          # the level sets the stride
    at.number_input(key="bx2").set_value(324.0).run()
    assert playground_level(at).startswith("**Feature pyramid: level P3")   # 224 x 223.9
    at.number_input(key="by2").set_value(324.0).run()
    no_problems(at)
    assert playground_level(at).startswith("**Feature pyramid: level P4, stride 16 px**")
    assert any("14.000 x 14.000 cells" in c.value for c in at.caption)
    assert at.query_params["fpn"] == "1" and at.query_params["box"] == "100,100,324,324"
    # The stage and its panels are on P4 now: the stage holds the stride-16 map.
    values = image_feature_map(load_sample_image("astronaut"), 16).channel(0)
    np.testing.assert_array_equal(stage_map(at), values)
    assert stage(at)["settings"]["stride"] == 16.0
    assert "stride 16" in stage(at)["titles"]["map"]


def test_playground_pyramid_needs_a_photo():
    at = playground(fpn="1", src="toy")
    no_problems(at)
    assert "needs a photo" in at.info[0].value
    assert not [m for m in at.markdown if m.value.startswith("**Feature pyramid: level")]
    assert at.toggle(key="fpn").disabled
