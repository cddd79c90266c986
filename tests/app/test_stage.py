"""The stage's payload and the validation of what the browser sends back (roiviz/app/stage.py)."""

from __future__ import annotations

import base64
import io
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from roiviz.ops import precise_roi_pool, roi_align, roi_pool, roi_warp
from roiviz import samples
from roiviz.app.stage import (MAX_DRAWN_SAMPLES, encode_display_image, encode_float32,
                          parse_stage_value, stage_data)
from roiviz.app.params import MAX_COORD
from roiviz.drawing.style import METHOD_COLORS, Style
from roiviz.methods import METHODS, summary_rows, trace_all
from roiviz.records import Settings

MAP = np.random.default_rng(0).standard_normal((9, 12)).astype(np.float32)
STRIDE = 16.0
SETTINGS = Settings(output_size=(3, 4), stride=STRIDE, sampling_ratio=2, aligned=True)
BOX = (20.5, 31.25, 150.0, 110.75)


def payload(**kwargs):
    traces = trace_all(MAP, BOX, SETTINGS)
    return stage_data(MAP, BOX, SETTINGS, list(traces), traces, **kwargs), traces


def test_map_is_sent_as_float32_row_major_and_decodes_exactly():
    data, _ = payload()
    raw = base64.b64decode(data["map"]["b64"])
    assert len(raw) == MAP.size * 4
    decoded = np.frombuffer(raw, dtype="<f4").reshape(data["map"]["height"], data["map"]["width"])
    np.testing.assert_array_equal(decoded, MAP)
    assert (data["map"]["min"], data["map"]["max"]) == (float(MAP.min()), float(MAP.max()))


def test_constant_map_gets_a_nonempty_colour_range():
    data = stage_data(np.ones((2, 3), np.float32), BOX, SETTINGS, [], {})
    assert data["map"]["max"] > data["map"]["min"]


def test_reference_numbers_equal_the_batched_ops():
    """The server's reference, checked against the ops (an independent path from the traces)."""
    data, traces = payload()
    x = torch.tensor(MAP)[None, None]
    boxes = torch.tensor([[0.0, *BOX]], dtype=torch.float32)
    size, scale = SETTINGS.output_size, 1 / STRIDE
    ops = {"roi_pool": roi_pool(x, boxes, size, scale), "roi_warp": roi_warp(x, boxes, size, scale, 2),
           "roi_align": roi_align(x, boxes, size, scale, 2, True),
           "precise_roi_pool": precise_roi_pool(x, boxes, size, scale)}
    rows = summary_rows(traces)
    for m in METHODS:
        ref = data["reference"][m]
        assert ref["shape"] == [3, 4]
        np.testing.assert_allclose(np.reshape(ref["output"], (3, 4)), ops[m][0, 0].numpy(), atol=1e-6)
        assert ref["row"] == rows[m]
        assert math.isclose(ref["areas"]["iou"], traces[m].areas.iou)
    # RoI Pool, library convention, by hand: x 20.5/16 = 1.28 -> 1, 150/16 = 9.375 -> 9, +1.
    assert data["reference"]["roi_pool"]["snapped_box"][0::2] == [1.0, 10.0]
    assert data["reference"]["roi_align"]["snapped_box"] is None


def test_payload_is_json_and_carries_style_settings_and_titles():
    data, _ = payload(style=Style(presenter=True), map_title="<b>map</b>", seq=7,
                      image_uri="data:image/jpeg;base64,AAAA", image_shape=(144, 192))
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text) == data
    assert data["style"]["presenter"] and data["style"]["font_size"] == Style(presenter=True).font_size
    assert data["style"]["method_colors"] == METHOD_COLORS
    assert data["settings"]["output_size"] == [3, 4] and data["settings"]["stride"] == STRIDE
    assert data["titles"]["map"] == "<b>map</b>"  # sent as data; the stage sets it as text
    assert data["image"] == {"uri": "data:image/jpeg;base64,AAAA", "height": 144, "width": 192}
    assert data["seq"] == 7 and data["max_drawn_samples"] == MAX_DRAWN_SAMPLES
    assert data["methods"] == list(METHODS) and data["box"] == list(BOX)


def test_map_source_has_no_image():
    data, _ = payload()
    assert data["image"] is None


def test_encode_float32_is_little_endian_row_major():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    assert base64.b64decode(encode_float32(a)) == np.arange(6, dtype="<f4").tobytes()


def test_a_released_box_is_sorted_and_rounded():
    got = parse_stage_value({"box": [150.00049, 110.7512, 20.5, 31.25], "seq": 3}, MAP.shape, STRIDE)
    assert got.box == (20.5, 31.25, 150.0, 110.751) and got.seq == 3


@pytest.mark.parametrize("value, fragment", [
    (None, "not a box"),
    ("10,10,20,20", "not a box"),
    ({"seq": 1}, "four coordinates"),
    ({"box": [1, 2, 3]}, "four coordinates"),
    ({"box": "1234"}, "four coordinates"),
    ({"box": ["1", 2, 3, 4]}, "not numbers"),
    ({"box": [True, 2, 30, 40]}, "not numbers"),
    ({"box": [None, 2, 30, 40]}, "not numbers"),
    ({"box": [float("nan"), 2, 30, 40]}, "finite"),
    ({"box": [0, 0, float("inf"), 40]}, "finite"),
    ({"box": [0, 0, 10 * MAX_COORD, 40]}, "finite"),
    ({"box": [0, 0, 30, 40], "seq": -1}, "counter"),
    ({"box": [0, 0, 30, 40], "seq": 1.5}, "counter"),
    ({"box": [0, 0, 30, 40], "seq": True}, "counter"),
    ({"box": [10, 10, 10, 40]}, "zero width"),
    ({"box": [5000, 10, 6000, 40]}, "entirely off"),
    ({"box": [-90, -90, -10, -10]}, "entirely off"),
])
def test_anything_else_is_refused_with_a_sentence(value, fragment):
    with pytest.raises(ValueError, match=fragment) as info:
        parse_stage_value(value, MAP.shape, STRIDE)
    assert "nan" not in str(info.value).lower() or fragment == "finite"
    assert "6000" not in str(info.value) and "1234" not in str(info.value)


def test_display_image_is_a_bounded_jpeg_of_the_same_picture():
    big = np.zeros((1500, 3000, 3), dtype=np.uint8)
    big[:, :1500] = (255, 0, 0)  # left half red, right half black
    uri = encode_display_image(big)
    assert uri.startswith("data:image/jpeg;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert img.format == "JPEG" and img.size == (1024, 512)
    px = np.asarray(img.convert("RGB"), dtype=int)
    assert px[256, 100, 0] > 200 and px[256, 100, 1] < 60 and px[256, 900].max() < 60
    photo = samples.load_sample_image("astronaut")
    small = encode_display_image(photo)
    assert Image.open(io.BytesIO(base64.b64decode(small.split(",", 1)[1]))).size == (512, 512)
    png = io.BytesIO()
    Image.fromarray(photo).save(png, format="PNG")
    assert len(small) < len(base64.b64encode(png.getvalue())) / 4
