"""roiviz.app.stage_parts: a release sends the stage only the parts of its data the browser lacks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from roiviz.app.stage import encode_display_image, stage_data
from roiviz.app.stage_parts import MAX_HELD, PARTS, held_parts, pack, part_hash, unpack
from roiviz.methods import trace_all
from roiviz.records import Settings

MAP = np.random.default_rng(1).standard_normal((12, 10)).astype(np.float32)
SETTINGS = Settings(output_size=(7, 7), stride=16.0, sampling_ratio=2, aligned=True)
BOX = (20.5, 31.25, 150.0, 110.75)
PHOTO = encode_display_image(np.random.default_rng(2).integers(0, 255, (192, 160, 3), dtype=np.uint8))


def payload(box=BOX) -> dict:
    traces = trace_all(MAP, box, SETTINGS)
    return stage_data(MAP, box, SETTINGS, list(traces), traces, image_uri=PHOTO, image_shape=(192, 160))


def wire(data: dict) -> dict:
    """What Streamlit sends: the payload through JSON."""
    return json.loads(json.dumps(data))


def test_a_browser_holding_nothing_gets_every_part_whole_and_the_payload_comes_back_exactly():
    data = payload()
    packed = wire(pack(data))
    assert all("value" in packed[name] for name in PARTS)
    held: dict = {}
    back, missing = unpack(packed, held)
    assert missing == [] and back == wire(data)   # outputs bit for bit, notes back in place
    assert set(held) == {packed[name]["part"] for name in PARTS}


def test_parts_the_browser_holds_go_as_their_hash_alone_and_a_release_is_small():
    first = wire(pack(payload()))
    held: dict = {}
    unpack(first, held)
    data = payload((40.0, 50.0, 120.0, 170.0))   # another box: same photo, map, style, notes
    packed = wire(pack(data, frozenset(held)))
    assert all(packed[name] == {"part": first[name]["part"]} for name in PARTS)
    back, missing = unpack(packed, held)
    assert missing == [] and back == wire(data)
    whole, small = len(json.dumps(first)), len(json.dumps(packed))
    assert whole > len(PHOTO) and small < 4000, (whole, small)   # no photo, no map


def test_a_changed_part_goes_whole_and_a_part_neither_sent_nor_held_is_reported_missing():
    held: dict = {}
    unpack(wire(pack(payload())), held)
    other = MAP + 1
    traces = trace_all(other, BOX, SETTINGS)
    data = stage_data(other, BOX, SETTINGS, list(traces), traces, image_uri=PHOTO, image_shape=(192, 160))
    packed = wire(pack(data, frozenset(held)))
    assert "value" in packed["map"] and "value" not in packed["image"]
    assert unpack(packed, {})[1] == [packed[name]["part"] for name in PARTS if "value" not in packed[name]]


def test_no_photo_is_no_part_and_the_hash_is_of_the_content():
    traces = trace_all(MAP, BOX, SETTINGS)
    data = stage_data(MAP, BOX, SETTINGS, list(traces), traces)
    packed = pack(data)
    assert packed["image"] is None and unpack(wire(packed), {})[0] == wire(data)
    assert part_hash({"a": 1, "b": [2]}) == part_hash({"b": [2], "a": 1}) != part_hash({"a": 2, "b": [2]})


@pytest.mark.parametrize("value", [
    None, [], "x", {"box": [1, 2, 3, 4]}, {"held": "0123456789abcdef"}, {"held": [1]},
    {"held": ["0123456789ABCDEF"]}, {"held": ["0123456789abcde"]}, {"held": ["<script>alert(1)</s"]},
    {"held": ["0123456789abcdef"] * (MAX_HELD + 1)},
])
def test_what_a_release_claims_to_hold_is_user_input(value):
    assert held_parts(value) == frozenset()


def test_held_hashes_are_read_from_a_release():
    assert held_parts({"box": [1, 2, 3, 4], "seq": 3, "held": ["0123456789abcdef"]}) == {"0123456789abcdef"}
