"""What the Mask R-CNN paper measured: RoIPool vs RoIWarp vs RoIAlign, as constants.

Source: He, Gkioxari, Dollar, Girshick, "Mask R-CNN", ICCV 2017 (arXiv:1703.06870), Section 4.2,
Table 2c and Table 2d. All models are trained on COCO ``trainval35k`` and tested on ``minival``.
Table 2 reports **mask AP** unless a column says otherwise: in Table 2d the last three columns
(``AP^bb``) are **box AP**. Figures were checked against two independent transcriptions of the
paper's text (see :data:`VERIFIED_AGAINST`).

No Streamlit and no computation here, only the numbers and a few helpers to lay them out.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ARXIV_URL",
    "CITATION",
    "KEYPOINTS_TABLE_6",
    "METRICS",
    "PAPER_NOTES",
    "TABLES",
    "TABLE_2C",
    "TABLE_2D",
    "TABLE_2D_GAIN",
    "VERIFIED_AGAINST",
    "Row",
    "Table",
    "table_records",
]

CITATION = ('K. He, G. Gkioxari, P. Dollár, R. Girshick, "Mask R-CNN", ICCV 2017, '
            "arXiv:1703.06870, Section 4.2, Table 2c and Table 2d.")
ARXIV_URL = "https://arxiv.org/abs/1703.06870"
#: How the numbers below were checked (reported on the Evidence page).
VERIFIED_AGAINST = (
    "Checked number by number against two independent transcriptions of the paper's "
    "Section 4.2 and Table 2 (a bilingual translation of the full text and a table "
    "extraction of the arXiv version); the paper's own sentences agree with them (about +3 AP "
    "for RoIAlign on C4, +7.3 mask AP and +10.5 mask AP75 on C5).")


@dataclass(frozen=True)
class Row:
    """One line of a table.

    Attributes:
        layer: ``"RoIPool"``, ``"RoIWarp"`` or ``"RoIAlign"`` (the paper's spelling).
        aggregation: ``"max"`` or ``"average"`` over a bin.
        mask: ``(AP, AP50, AP75)`` of the masks, in percent.
        (Table 2d names no aggregation; its RoIAlign row is marked ``average`` because the paper
        says it averages everywhere after Table 2c, and RoIPool is max by definition.)
        box: ``(AP, AP50, AP75)`` of the boxes, in percent, or ``None`` when not reported.
    """

    layer: str
    aggregation: str
    mask: tuple[float, float, float]
    box: tuple[float, float, float] | None = None

    @property
    def label(self) -> str:
        return f"{self.layer} ({self.aggregation})"


@dataclass(frozen=True)
class Table:
    """One of the paper's ablation tables.

    Attributes:
        key: ``"2c"`` or ``"2d"``.
        title: a short title for the page.
        backbone: the backbone and its stride.
        stride: feature stride in pixels.
        caption: what the table shows, in this project's words.
        rows: the rows, in the paper's order.
    """

    key: str
    title: str
    backbone: str
    stride: int
    caption: str
    rows: tuple[Row, ...]

    @property
    def has_box(self) -> bool:
        return any(r.box is not None for r in self.rows)


TABLE_2C = Table(
    key="2c", title="Table 2c: RoI layers on ResNet-50-C4 (stride 16)", backbone="ResNet-50-C4",
    stride=16,
    caption="Mask AP on COCO minival for each RoI layer and each way of aggregating a bin. "
            "Only the layer that keeps the box unrounded (RoIAlign) moves the numbers; max or "
            "average hardly matters.",
    rows=(
        Row("RoIPool", "max", (26.9, 48.8, 26.4)),
        Row("RoIWarp", "max", (27.2, 49.2, 27.1)),
        Row("RoIWarp", "average", (27.1, 48.9, 27.1)),
        Row("RoIAlign", "max", (30.2, 51.0, 31.8)),
        Row("RoIAlign", "average", (30.3, 51.2, 31.5)),
    ))

TABLE_2D = Table(
    key="2d", title="Table 2d: RoIPool vs RoIAlign on ResNet-50-C5 (stride 32)",
    backbone="ResNet-50-C5", stride=32,
    caption="Mask AP and box AP on COCO minival with stride-32 features, the stride of the "
            "article's VGG16 example: the coarser the grid, the more rounding costs.",
    rows=(
        Row("RoIPool", "max", (23.6, 46.5, 21.6), (28.2, 52.7, 26.9)),
        Row("RoIAlign", "average", (30.9, 51.8, 32.1), (34.0, 55.3, 36.4)),
    ))

TABLES = {"2c": TABLE_2C, "2d": TABLE_2D}

#: Table 2d's printed last row, RoIAlign minus RoIPool: mask (AP, AP50, AP75), box (AP, AP50, AP75).
#: Kept as printed so that a test can check it against the rows (a typo would show).
TABLE_2D_GAIN = ((7.3, 5.3, 10.5), (5.8, 2.6, 9.5))

#: Table 6 (keypoint AP, ResNet-50-FPN, minival): RoIPool -> RoIAlign.
KEYPOINTS_TABLE_6 = (("RoIPool", 59.8), ("RoIAlign", 64.2))

#: Facts from the paper's text, reworded, shown under the chart.
PAPER_NOTES = (
    ("On C4 (stride 16) RoIAlign gains about 3 mask AP over RoIPool, most of it at the strict "
     "AP75 threshold."),
    ("RoIWarp samples bilinearly but still rounds the box first, and scores like RoIPool: the "
     "rounding, not the interpolation, is what costs accuracy."),
    ("Max or average pooling inside RoIAlign makes no real difference; the rest of the paper "
     "averages."),
    ("On C5 (stride 32) the gap grows to 7.3 mask AP and 10.5 mask AP75; with RoIAlign the "
     "stride-32 model (30.9) even beats the stride-16 one (30.3)."),
    ("With FPN's finer strides RoIAlign still adds 1.5 mask AP and 0.5 box AP, and 4.4 keypoint "
     f"AP ({KEYPOINTS_TABLE_6[0][1]} to {KEYPOINTS_TABLE_6[1][1]}, Table 6, ResNet-50-FPN), since "
     "keypoints need the finest alignment."),
)

METRICS = ("AP", "AP50", "AP75")


def table_records(table: Table) -> list[dict[str, object]]:
    """The table as a list of flat dicts (one per row), column names saying mask or box.

    Columns: ``layer``, ``aggregation``, ``mask AP``, ``mask AP50``, ``mask AP75`` and, when the
    table reports them, ``box AP``, ``box AP50``, ``box AP75``.
    """
    records = []
    for row in table.rows:
        record: dict[str, object] = {"layer": row.layer, "aggregation": row.aggregation}
        record.update({f"mask {m}": v for m, v in zip(METRICS, row.mask)})
        if table.has_box:
            record.update({f"box {m}": v for m, v in zip(METRICS, row.box or (None,) * 3)})
        records.append(record)
    return records
