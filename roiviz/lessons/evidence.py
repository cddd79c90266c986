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
    "SAMPLING_NOTE",
    "SAMPLING_QUOTE",
    "TABLES",
    "TABLE_2C",
    "TABLE_2D",
    "TABLE_2C_GAIN",
    "TABLE_2D_AGGREGATION_NOTE",
    "TABLE_2D_GAIN",
    "VERIFIED_AGAINST",
    "Row",
    "Table",
    "mask_gain",
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
        aggregation: ``"max"`` or ``"average"`` over a bin when the table prints it (Table 2c's
            ``agg.`` column); ``"max"`` for a RoIPool row of a table without that column (RoIPool
            is max pooling by definition, Fast R-CNN Section 2.1), ``""`` when the paper does
            not say (Table 2d's RoIAlign row).
        mask: ``(AP, AP50, AP75)`` of the masks, in percent.
        box: ``(AP, AP50, AP75)`` of the boxes, in percent, or ``None`` when not reported.
        printed: whether the table itself prints ``aggregation`` (Table 2d has no such column).
    """

    layer: str
    aggregation: str
    mask: tuple[float, float, float]
    box: tuple[float, float, float] | None = None
    printed: bool = True

    @property
    def aggregation_text(self) -> str:
        """The aggregation as the page shows it, saying where it is not printed in the table."""
        if self.printed:
            return self.aggregation
        if self.aggregation:
            return f"{self.aggregation} (by definition; not a column of this table)"
        return "not stated in the paper"

    @property
    def label(self) -> str:
        if self.printed:
            return f"{self.layer} ({self.aggregation})"
        return f"{self.layer} ({self.aggregation} by definition)" if self.aggregation else self.layer


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
        Row("RoIPool", "max", (23.6, 46.5, 21.6), (28.2, 52.7, 26.9), printed=False),
        Row("RoIAlign", "", (30.9, 51.8, 32.1), (34.0, 55.3, 36.4), printed=False),
    ))

TABLES = {"2c": TABLE_2C, "2d": TABLE_2D}

#: Table 2d's printed last row, RoIAlign minus RoIPool: mask (AP, AP50, AP75), box (AP, AP50, AP75).
#: Kept as printed so that a test can check it against the rows (a typo would show).
TABLE_2D_GAIN = ((7.3, 5.3, 10.5), (5.8, 2.6, 9.5))

#: Table 6 (keypoint AP, ResNet-50-FPN, minival): RoIPool -> RoIAlign.
KEYPOINTS_TABLE_6 = (("RoIPool", 59.8), ("RoIAlign", 64.2))

def _row(table: Table, layer: str, aggregation: str) -> Row:
    return next(r for r in table.rows if r.layer == layer and r.aggregation == aggregation)


def mask_gain(table: Table, better: tuple[str, str], worse: tuple[str, str]) -> tuple[float, ...]:
    """``better`` minus ``worse`` mask ``(AP, AP50, AP75)`` of two rows ``(layer, aggregation)``,
    rounded to the table's one decimal."""
    a, b = _row(table, *better), _row(table, *worse)
    return tuple(round(x - y, 1) for x, y in zip(a.mask, b.mask))


#: Table 2c: RoIAlign (average) minus RoIPool (max), mask (AP, AP50, AP75).
TABLE_2C_GAIN = mask_gain(TABLE_2C, ("RoIAlign", "average"), ("RoIPool", "max"))

#: Facts from the paper's text (Section 4.2 unless said otherwise), reworded, shown under the chart.
PAPER_NOTES = (
    (f"On C4 (stride 16) RoIAlign (average) beats RoIPool by +{TABLE_2C_GAIN[0]} mask AP, "
     f"+{TABLE_2C_GAIN[1]} AP50 and +{TABLE_2C_GAIN[2]} AP75: the paper says much of the gain "
     "comes at high IoU (AP75)."),
    ("RoIWarp samples bilinearly but still rounds the box first, and scores like RoIPool; the "
     "paper concludes that proper alignment, not the interpolation, is what matters."),
    ("Max or average pooling inside RoIAlign makes little difference in Table 2c "
     f"({_row(TABLE_2C, 'RoIAlign', 'max').mask[0]} against "
     f"{_row(TABLE_2C, 'RoIAlign', 'average').mask[0]} mask AP)."),
    (f"On C5 (stride 32) the gap grows to {TABLE_2D_GAIN[0][0]} mask AP and {TABLE_2D_GAIN[0][2]} "
     f"mask AP75; with RoIAlign the stride-32 model ({TABLE_2D.rows[1].mask[0]}) even beats the "
     f"stride-16 one ({_row(TABLE_2C, 'RoIAlign', 'average').mask[0]})."),
    ("With FPN's finer strides RoIAlign still adds 1.5 mask AP and 0.5 box AP, and "
     f"{KEYPOINTS_TABLE_6[1][1] - KEYPOINTS_TABLE_6[0][1]:.1f} keypoint AP "
     f"({KEYPOINTS_TABLE_6[0][1]} to {KEYPOINTS_TABLE_6[1][1]}, Table 6, ResNet-50-FPN)."),
)

#: Shown with Table 2d: its rows have no aggregation column in the paper.
TABLE_2D_AGGREGATION_NOTE = (
    "Table 2d prints no aggregation column. RoIPool takes the maximum by definition (Fast R-CNN, "
    "Section 2.1); which aggregation the RoIAlign row used the paper does not say, so roiviz "
    "leaves it unlabelled.")

#: Mask R-CNN, Section 3, on RoIAlign's sampling points (quoted, with attribution).
SAMPLING_QUOTE = (
    'Mask R-CNN (Section 3): results "are not sensitive to the exact sampling locations, or how '
    'many points are sampled, as long as no quantization is performed."')

#: The paper's sampling: 4 regular points per bin (Section 3), against the libraries' default.
SAMPLING_NOTE = (
    "The paper samples four regularly spaced points per bin (Section 3). The ops' defaults are "
    "adaptive instead: torchvision's `roi_align` (`sampling_ratio=-1`) and Detectron2's default "
    "box pooler (`ROIAlignV2`, `POOLER_SAMPLING_RATIO = 0`) take ceil(bin size) points per bin "
    "side, so the count changes with the box; torchvision's own Faster R-CNN model passes "
    "`sampling_ratio=2`, which is the paper's 2 x 2.")

METRICS = ("AP", "AP50", "AP75")


def table_records(table: Table) -> list[dict[str, object]]:
    """The table as a list of flat dicts (one per row), column names saying mask or box.

    Columns: ``layer``, ``aggregation``, ``mask AP``, ``mask AP50``, ``mask AP75`` and, when the
    table reports them, ``box AP``, ``box AP50``, ``box AP75``.
    """
    records = []
    for row in table.rows:
        record: dict[str, object] = {"layer": row.layer, "aggregation": row.aggregation_text}
        record.update({f"mask {m}": v for m, v in zip(METRICS, row.mask)})
        if table.has_box:
            record.update({f"box {m}": v for m, v in zip(METRICS, row.box or (None,) * 3)})
        records.append(record)
    return records
