"""Evidence: what rounding costs, in the Mask R-CNN paper's own ablation (Table 2c and 2d).

A thin page: widgets and layout only. The numbers are :mod:`roiviz.lessons.evidence` (checked against
the paper's text), the chart :func:`roiviz.drawing.render_mpl.evidence_figure`.
Link state: ``?table=2c|2d&presenter=0|1``.
"""

from __future__ import annotations

import streamlit as st

from roiviz.app.ui import (
    figure,
    exports,
    first_visit_tip,
    header_table,
    page_title,
    load_link,
    presenter_toggle,
    presenting,
    show_link_notices,
    sync_query,
    widget,
)
from roiviz.lessons.evidence import (
    ARXIV_URL,
    CITATION,
    METRICS,
    PAPER_NOTES,
    SAMPLING_NOTE,
    SAMPLING_QUOTE,
    TABLE_2D_AGGREGATION_NOTE,
    TABLE_2D_GAIN,
    TABLES,
    VERIFIED_AGAINST,
    table_records,
)
from roiviz.drawing.export import figure_png, figure_svg, trace_json
from roiviz.drawing.legible import for_phone, for_projector
from roiviz.app.params import EVIDENCE
from roiviz.drawing.render_mpl import evidence_figure
from roiviz.drawing.style import Style

#: Plain words for the table's column headers (their tooltips).
_METRIC_WORDS = {"AP": "average precision over overlap (IoU) thresholds 0.5 to 0.95, in %",
                 "AP50": "average precision counting a hit at 50% overlap (IoU 0.5), in %",
                 "AP75": "average precision counting a hit only at 75% overlap (IoU 0.75): it "
                         "rewards precise outlines, in %"}
EVIDENCE_HEADERS = {
    "layer": "The RoI layer the detector was trained and tested with (everything else fixed)",
    "aggregation": "How each bin's values become one number: the largest (max) or their mean (average)",
    **{f"mask {m}": f"Mask {w} (how well the predicted outlines match)" for m, w in _METRIC_WORDS.items()},
    **{f"box {m}": f"Box {w} (how well the predicted boxes match)" for m, w in _METRIC_WORDS.items()},
}


@st.cache_data(max_entries=8, show_spinner=False)
def chart_files(key: str, presenter: bool) -> tuple[bytes, bytes, str, bytes | None]:
    table = TABLES[key]
    fig = for_projector(evidence_figure(table, style=Style(presenter=presenter)), presenter)
    phone = None if presenter else figure_png(for_phone(evidence_figure(table)))
    json_text = trace_json({}, {"page": "evidence", "table": key, "title": table.title,
                                "backbone": table.backbone, "stride": table.stride,
                                "rows": table_records(table), "citation": CITATION})
    return figure_png(fig), figure_svg(fig), json_text, phone


load_link(EVIDENCE)
st.title("Evidence: what the rounding costs")
first_visit_tip("pages/evidence.py")
INTRO = (
    "The Mask R-CNN paper tested the RoI layers against each other with everything else fixed. "
    "These are its numbers: COCO instance segmentation, trained on trainval35k and tested on "
    "minival. **AP** is average precision over IoU thresholds 0.5 to 0.95; **AP50** and "
    "**AP75** use one threshold each, and AP75 rewards precise outlines most.")
# On a projector the chart comes first (the choice of table goes to the sidebar) to fit the screen.
if not presenting():
    st.markdown(INTRO)
show_link_notices(EVIDENCE)

top = (st.sidebar, st.sidebar) if presenting() else st.columns([3, 1], vertical_alignment="center")
widget(EVIDENCE, "table", "radio", container=top[0], persist_state="session")
with top[1]:
    style = presenter_toggle(EVIDENCE)

key = st.session_state.get("ev_table", "2c")
table = TABLES[key]
page_title("Evidence", f"Mask R-CNN Table {key}")
png, svg, json_text, phone_png = chart_files(key, style.presenter)

if style.presenter or table.has_box:   # a projector, or two panels: the chart takes the whole width
    left, right = st.container(), st.container()
else:
    left, right = st.columns([3, 2], gap="large")
with left:
    figure(png, phone_png, "evidence")
    if style.presenter:
        st.markdown(INTRO)
with right:
    st.markdown(f"**{table.title}**")
    st.caption(table.caption)
    records = [{k: f"{v:.1f}" if isinstance(v, float) else "not reported" if v is None else v
                for k, v in r.items()} for r in table_records(table)]
    if key == "2d":
        (mg, bg) = TABLE_2D_GAIN
        records.append({"layer": "gain", "aggregation": "",
                        **{f"mask {m}": f"+{v}" for m, v in zip(METRICS, mg)},
                        **{f"box {m}": f"+{v}" for m, v in zip(METRICS, bg)}})
    header_table(records, EVIDENCE_HEADERS)
    if table.has_box:
        st.markdown("Columns starting with **mask** are mask AP (the segmentation); columns "
                    "starting with **box** are box AP (the detection, AP^bb in the paper).")
    if not all(r.printed for r in table.rows):
        st.caption(TABLE_2D_AGGREGATION_NOTE)
    else:
        st.markdown("Every number in this table is **mask AP** (the paper reports no box AP "
                    "for Table 2c).")

st.subheader("What the paper concludes")
st.markdown("\n".join(f"- {note}" for note in PAPER_NOTES))
st.markdown(f"**Sampling points.** {SAMPLING_QUOTE} {SAMPLING_NOTE}")
st.markdown(f"**Source.** {CITATION} [arXiv:1703.06870]({ARXIV_URL})")
st.caption(VERIFIED_AGAINST)
st.caption("The walkthrough uses stride 32, like Table 2d: there a rounding error of half a cell "
           "is 16 pixels of the image.")

query = EVIDENCE.to_query({"table": key, "presenter": style.presenter})
exports(EVIDENCE, f"roiviz-evidence-table{key}", png, svg, json_text, query)
sync_query(query)
