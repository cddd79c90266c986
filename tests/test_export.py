"""Tests for roiviz.export: trace JSON, PNG/SVG bytes, share links and link parsing."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from roiviz.examples import SEED_EXAMPLE_BOX, seed_example_settings
from roiviz.export import (
    PNG_SIGNATURE,
    figure_png,
    figure_svg,
    jsonable,
    share_link,
    trace_json,
)
from roiviz.lessons import example_map
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


