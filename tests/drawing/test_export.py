"""Tests for roiviz.drawing.export: trace JSON, PNG/SVG bytes, share links and link parsing."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from roiviz.lessons.examples import SEED_EXAMPLE_BOX, seed_example_settings
from roiviz.drawing.export import (
    PNG_SIGNATURE,
    embed_snippet,
    figure_png,
    figure_svg,
    jsonable,
    share_link,
    trace_json,
)
from roiviz.lessons.walkthrough import example_map
from roiviz.methods import trace_all


def _figure() -> Figure:
    fig = Figure(figsize=(2, 1.5))
    fig.add_subplot().plot([0, 1], [1, 0])
    return fig


def test_trace_json_round_trips_the_engine_numbers():
    traces = trace_all(example_map("toy"), SEED_EXAMPLE_BOX, seed_example_settings("library", sampling_ratio=2))
    doc = json.loads(trace_json(traces, {"page": "test", "offsets": np.array([0.5, 1.0])}))
    assert doc["page"] == "test" and doc["offsets"] == [0.5, 1.0]
    assert list(doc["traces"]) == list(traces)
    for name, t in traces.items():
        d = doc["traces"][name]
        np.testing.assert_array_equal(np.array(d["output"], dtype=np.float32), t.output)
        assert d["image_box"] == list(SEED_EXAMPLE_BOX)
        assert d["settings"]["convention"] == "library" and d["settings"]["sampling_ratio"] == 2
        assert len(d["bins"]) == 9
        assert d["bins"][4]["value"] == pytest.approx(float(t.bin(1, 1).value))
        assert d["areas"]["lost_percent"] == pytest.approx(t.areas.percent("lost"))
    samples = doc["traces"]["roi_align"]["bins"][0]["samples"]
    assert len(samples) == 4 and samples[0]["x"] == pytest.approx(traces["roi_align"].bin(0, 0).samples[0].x)


def test_jsonable_makes_strict_json():
    out = jsonable({"a": float("nan"), "b": (np.float32(1.5), np.int64(3)), 4: np.inf, "c": np.bool_(True)})
    assert out == {"a": None, "b": [1.5, 3], "4": None, "c": True}
    json.dumps(out, allow_nan=False)
    with pytest.raises(TypeError):
        jsonable({"x": object()})


def test_trace_json_refuses_a_traces_extra():
    with pytest.raises(ValueError, match="traces"):
        trace_json({}, {"traces": 1})


def test_png_and_svg_bytes():
    png = figure_png(_figure())
    assert png.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and im.size[0] > 100
    svg = figure_svg(_figure())
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    assert b"<path" in svg


def test_share_link():
    assert share_link("http://localhost:8501/walkthrough?old=1#frag", {"step": "4", "conv": "article"}) == \
        "http://localhost:8501/walkthrough?step=4&conv=article"
    assert share_link("", {"a": "x y", "b": "1,2"}) == "?a=x+y&b=1%2C2"


def test_embed_snippet_is_an_escaped_iframe_of_the_link():
    import html.parser

    snippet = embed_snippet("http://host:8501/walkthrough?step=4&conv=article&embed=false", 'A "quoted" <title>')
    found = []

    class P(html.parser.HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, dict(attrs)))

    P().feed(snippet)
    assert [t for t, _ in found] == ["iframe"]
    attrs = found[0][1]
    assert attrs["src"] == "http://host:8501/walkthrough?step=4&conv=article&embed=true"
    assert attrs["title"] == 'A "quoted" <title>'
    assert "<title>" not in snippet and snippet.endswith("></iframe>")
    assert embed_snippet("", "t").startswith('<iframe src="?embed=true"')
    with pytest.raises(ValueError, match="height"):
        embed_snippet("http://h/", "t", height=10)


def test_playground_json_past_the_sample_budget_holds_every_method_and_says_what_is_thinned():
    from roiviz.features import image_feature_map
    from roiviz.methods import METHODS
    from roiviz.records import Settings
    from roiviz.samples import load_sample_image
    from roiviz.app.state import PlaygroundState, default_box
    from roiviz.drawing.thinned import drawable_traces, thinning

    values = image_feature_map(load_sample_image("astronaut"), 16).channel(0)
    box = default_box(values.shape, 16)
    state = PlaygroundState(output_size=(7, 7), sampling_ratio=16, box=box)
    traces = drawable_traces(values, box, state.settings(), state.methods)
    doc = json.loads(trace_json(traces, {"query": state.to_query(), "thinned": thinning(traces)}))
    assert list(doc["traces"]) == list(METHODS)
    assert doc["query"]["methods"].split(",") == list(METHODS)     # the query and the traces agree
    assert set(doc["thinned"]) == {"roi_warp", "roi_align"}
    for m in ("roi_warp", "roi_align"):
        entry = doc["thinned"][m]
        assert entry["samples_per_bin"] == [16, 16] and entry["samples"] == 16 * 16 * 49
        assert entry["recorded"] < entry["samples"] and "use them all" in entry["note"]
        assert doc["traces"][m]["sample_step"] == entry["recorded_every"]


def test_interactive_page_notes_are_text():
    from roiviz.drawing.export import interactive_page

    page = interactive_page({"methods": []}, "t", notes=['<script>alert(1)</script> & "x"'])
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in page and "<script>alert(1)" not in page


def test_file_stem_and_title_carry_the_settings():
    from roiviz.app.state import PlaygroundState

    state = PlaygroundState(output_size=(7, 7), sampling_ratio=2, sample="astronaut")
    assert state.file_stem() == "roiviz-7x7-ratio2-astronaut"
    assert state.export_title() == "roiviz Playground: 7 x 7 bins, sampling ratio 2, astronaut"
    other = PlaygroundState(source="toy", output_size=(14, 3), sampling_ratio=0, reduce="max",
                            convention="article", aligned=False)
    assert other.file_stem() == "roiviz-14x3-ratio-adaptive-toy-max-article-unaligned"
    assert "adaptive" in other.export_title() and "max" in other.export_title()
