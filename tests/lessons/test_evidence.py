"""Tests for roiviz.lessons.evidence: the Mask R-CNN numbers as transcribed from the paper."""

from __future__ import annotations

import pytest

from roiviz.lessons.evidence import (
    CITATION,
    KEYPOINTS_TABLE_6,
    TABLE_2C,
    TABLE_2D,
    TABLE_2D_GAIN,
    TABLES,
    table_records,
)

# A second transcription of arXiv:1703.06870, Table 2c and 2d (mask AP, AP50, AP75 | box ...).
PAPER_2C = {("RoIPool", "max"): (26.9, 48.8, 26.4), ("RoIWarp", "max"): (27.2, 49.2, 27.1),
            ("RoIWarp", "average"): (27.1, 48.9, 27.1), ("RoIAlign", "max"): (30.2, 51.0, 31.8),
            ("RoIAlign", "average"): (30.3, 51.2, 31.5)}
PAPER_2D = {"RoIPool": ((23.6, 46.5, 21.6), (28.2, 52.7, 26.9)),
            "RoIAlign": ((30.9, 51.8, 32.1), (34.0, 55.3, 36.4))}


def test_table_2c_numbers_are_mask_ap_only():
    assert {(r.layer, r.aggregation): r.mask for r in TABLE_2C.rows} == PAPER_2C
    assert all(r.box is None for r in TABLE_2C.rows) and not TABLE_2C.has_box
    assert (TABLE_2C.backbone, TABLE_2C.stride) == ("ResNet-50-C4", 16)


def test_table_2d_numbers_mask_and_box():
    assert {r.layer: (r.mask, r.box) for r in TABLE_2D.rows} == PAPER_2D
    assert TABLE_2D.has_box and (TABLE_2D.backbone, TABLE_2D.stride) == ("ResNet-50-C5", 32)


def test_table_2d_printed_gain_matches_its_rows():
    pool, align = TABLE_2D.rows
    for got, (a, p) in zip(TABLE_2D_GAIN, ((align.mask, pool.mask), (align.box, pool.box))):
        assert got == pytest.approx(tuple(x - y for x, y in zip(a, p)), abs=0.051)


def test_paper_statements_hold_for_the_numbers():
    rows = {(r.layer, r.aggregation): r.mask for r in TABLE_2C.rows}
    # "RoIAlign improves AP by about 3 points over RoIPool, ... AP75 by about 5 points"
    assert 2.5 <= rows[("RoIAlign", "average")][0] - rows[("RoIPool", "max")][0] <= 3.5
    assert 4.5 <= rows[("RoIAlign", "average")][2] - rows[("RoIPool", "max")][2] <= 5.5
    # "insensitive to max/average pool"
    assert abs(rows[("RoIAlign", "max")][0] - rows[("RoIAlign", "average")][0]) <= 0.2
    # stride-32 RoIAlign (30.9) beats stride-16 RoIAlign (30.3)
    assert TABLE_2D.rows[1].mask[0] > rows[("RoIAlign", "average")][0]
    assert dict(KEYPOINTS_TABLE_6) == {"RoIPool": 59.8, "RoIAlign": 64.2}


def test_records_say_mask_or_box_and_citation():
    rec = table_records(TABLE_2D)
    assert list(rec[0]) == ["layer", "aggregation", "mask AP", "mask AP50", "mask AP75", "box AP",
                            "box AP50", "box AP75"]
    assert list(table_records(TABLE_2C)[0]) == ["layer", "aggregation", "mask AP", "mask AP50", "mask AP75"]
    assert set(TABLES) == {"2c", "2d"}
    for part in ("He", "Gkioxari", "Dollár", "Girshick", "Mask R-CNN", "ICCV 2017", "1703.06870",
                 "Table 2c", "Table 2d"):
        assert part in CITATION
