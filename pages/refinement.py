"""Box refinement lab: IoU-Net's idea (refine a box by gradient ascent through the pooling) live.

A thin page: widgets and layout only. The refinement is :func:`roiviz.lessons.refinement.refine` /
:func:`roiviz.lessons.refinement.refinement_study` (the Python engine's box gradients), the figures
:mod:`roiviz.drawing.render_box_gradients`. Link state: ``?target=&jitter=&start=&presenter=``.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from roiviz.features import image_feature_map
from roiviz.lessons.walkthrough import lesson_image
from roiviz.methods import METHODS, label
from roiviz.app.params import REFINEMENT, REFINEMENT_TARGETS
from roiviz.records import Settings
from roiviz.lessons.refinement import iou, jitter_boxes, refine, refinement_study
from roiviz.drawing.render_box_gradients import PLOTLY_CONFIG, refinement_figure, refinement_path_figure
from roiviz.app.ui import copy_link, load_link, next_in_lesson, presenter_toggle, show_link_notices, sync_query, widget

STRIDE = 16
STARTS = 100
SEED = 0
SETTINGS = Settings(output_size=(7, 7), stride=float(STRIDE), sampling_ratio=2, aligned=True)


@st.cache_resource(show_spinner=False)
def feature_planes() -> np.ndarray:
    """The lesson photo's fixed filter-bank features at stride 16: ``[8, 20, 20]``."""
    return image_feature_map(lesson_image(), STRIDE).values


@st.cache_data(max_entries=16, show_spinner=False)
def one_start(target_key: str, jitter: float, start: int) -> dict:
    """Every method's path from the study's start number ``start`` (the same seeded boxes)."""
    target = REFINEMENT_TARGETS[target_key][1]
    planes = feature_planes()
    box = jitter_boxes(target, STARTS, jitter, SEED, (planes.shape[2] * STRIDE, planes.shape[1] * STRIDE))[start]
    return {m: refine(m, planes, target, box, SETTINGS) for m in METHODS}


@st.cache_data(max_entries=8, show_spinner=False)
def study(target_key: str, jitter: float):
    """All methods from :data:`STARTS` seeded starts (computed once per target and jitter)."""
    return refinement_study(feature_planes(), REFINEMENT_TARGETS[target_key][1], SETTINGS, starts=STARTS,
                            jitter=jitter, seed=SEED)


load_link(REFINEMENT)
st.title("Box refinement lab")
st.markdown(
    "IoU-Net (Jiang et al., ECCV 2018) refines a detected box by **gradient ascent through the "
    "pooling layer**: it moves the box's four coordinates along the gradient of a score computed "
    "from the pooled feature. That only works if the pooled feature changes smoothly with the "
    "box, which is why the paper introduced Precise RoI Pooling. Here each method moves a "
    "jittered box towards a target box, using only its own box gradient. The score is the "
    "negative distance between the box's pooled feature and the target box's pooled feature "
    "(8 fixed filter channels of the photo, stride 16, 7 x 7 bins), so no trained network is "
    "involved.")
show_link_notices(REFINEMENT)

with st.sidebar:
    st.header("The experiment")
    widget(REFINEMENT, "target", persist_state="session")
    widget(REFINEMENT, "jitter", "select_slider", persist_state="session")
    widget(REFINEMENT, "start", persist_state="session")
    style = presenter_toggle(REFINEMENT)

state = {k: st.session_state[REFINEMENT.widget_key(k)] for k in ("target", "jitter", "start")}
target = REFINEMENT_TARGETS[state["target"]][1]
jitter = float(state["jitter"])
runs = one_start(state["target"], jitter, int(state["start"]))

left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader("One start, four methods")
    paths = {m: r.path / STRIDE for m, r in runs.items()}
    fig = refinement_path_figure(feature_planes()[0], paths, np.asarray(target) / STRIDE, style)
    st.plotly_chart(fig, width="stretch", config=PLOTLY_CONFIG, theme=None)
    st.caption("Press play (or drag the step slider): every method starts from the same grey dashed box "
               "and follows its own gradient. The map shown is the luminance channel; the score uses all 8.")
with right:
    st.subheader("This start")
    start_iou = iou(runs["roi_align"].path[0], target)
    st.table([{"method": label(m), "IoU at start": f"{start_iou:.3f}", "IoU at the end": f"{r.final_iou:.3f}",
               "steps": r.steps} for m, r in runs.items()], hide_index=True)
    st.markdown(
        "- **RoI Pool** never moves: its output is a step function of the box, so its gradient "
        "is zero wherever it exists.\n"
        "- **RoI Warp** passes the gradient through its rounding (as MNC's layer does), but its "
        "output only changes when a rounding flips, so its steps stall once a step no longer "
        "improves the score.\n"
        "- **RoI Align**'s gradient jumps as its sampling points cross cell centres; **Precise RoI "
        "Pooling**'s is continuous.")

st.subheader(f"{STARTS} seeded random starts")
with st.spinner(f"Refining {STARTS} seeded starts with each method (once per target and jitter)…"):
    result = study(state["target"], jitter)
rows = result.rows()
for row in rows[1:]:
    row["method"] = label(row["method"])
a, b = st.columns([3, 2], gap="large")
with a:
    st.table(rows, hide_index=True)
    st.caption(f"Starts: the target's corners plus Gaussian noise of {jitter:g} x its sides, seed {SEED}. "
               "A method stops when a step moves no corner by more than 0.01 cell, when no smaller step "
               "raises the score, or after 60 steps. Computed by roiviz when this page runs.")
with b:
    st.plotly_chart(refinement_figure(result.summary(), style), width="stretch", config=PLOTLY_CONFIG)
st.markdown(
    "**What the IoU-Net paper reports.** Its refinement follows the gradient of a *learned* IoU "
    "predictor on COCO detections, not a feature distance, so its numbers are not comparable "
    "with this table. We could not check the paper's text for a side-by-side number of "
    "refinement with Precise RoI Pooling against RoI Align, so none is quoted here.")

query = REFINEMENT.to_query(state | {"presenter": style.presenter})
copy_link(query, title="roiviz-refinement")
next_in_lesson("pages/refinement.py")
sync_query(query)
