"""Gradient flow: what each method sends back to the feature map for one proposal.

A thin page: widgets and layout only. The gradients are :func:`roiviz.lessons.gradients.gradient_maps`
(torch autograd through :mod:`roiviz.ops`), the figure :func:`roiviz.drawing.render_mpl.gradient_figure`.
Link state: ``?target=&shift=&conv=&sr=&reduce=&aligned=&map=&presenter=``.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from roiviz.app.ui import (
    figure,
    exports,
    first_visit_tip,
    header_table,
    link_to,
    page_title,
    load_link,
    next_in_lesson,
    presenter_toggle,
    show_link_notices,
    sync_query,
    widget,
)
from roiviz.lessons.examples import SEED_EXAMPLE_BOX, seed_example_settings
from roiviz.drawing.export import figure_png, figure_svg, trace_json
from roiviz.drawing.legible import for_phone, for_projector
from roiviz.lessons.gradients import box_sweep, gradient_maps
from roiviz.lessons.walkthrough import example_map
from roiviz.methods import METHODS, label, trace_all
from roiviz.app.params import GRADIENTS
from roiviz.drawing.render_box_gradients import PLOTLY_CONFIG, sweep_figure
from roiviz.drawing.render_mpl import gradient_figure
from roiviz.drawing.style import Style
from roiviz.lessons.sweeps import shifted_boxes

#: The picture's settings (everything but the presenter toggle), by link key.
KEYS = tuple(k for k in GRADIENTS.keys() if k != "presenter")
SHIFTS = GRADIENTS["shift"].options
#: Plain words for the table's column headers (their tooltips).
GRADIENT_HEADERS = {
    "method": "The pooling method (its map is in the figure above)",
    "cells reached": "How many feature-map cells get any gradient back: the cells the method read",
    "largest share": "The largest gradient one cell receives: how much the chosen output changes "
                     "when that cell's value grows by 1",
    "total": "The gradient summed over all cells: the output's change if every cell grew by 1",
}


@st.cache_data(max_entries=32, show_spinner=False)
def compute(state: tuple, presenter: bool):
    """Gradients, traces and the figure files for one state (a sorted tuple of items)."""
    s = dict(state)
    settings = seed_example_settings(s["conv"], sampling_ratio=int(s["sr"]), reduce=s["reduce"],
                                     aligned=s["aligned"] == "1")
    values = example_map(s["map"])
    box = tuple(shifted_boxes(SEED_EXAMPLE_BOX, [float(s["shift"])], settings.stride, "x")[0])
    target = None if s["target"] == "all" else (int(s["target"][0]), int(s["target"][2]))
    result = gradient_maps(values, box, settings, METHODS, target=target)
    traces = trace_all(values, box, settings)
    # On a projector the four maps go in one row as wide as the page (it is wider than tall).
    fig = for_projector(gradient_figure(result, style=Style(presenter=presenter), traces=traces,
                                        ncols=len(result.maps) if presenter else None), presenter)
    json_text = trace_json(traces, {"page": "gradients", "map": s["map"], "shift_cells": float(s["shift"]),
                                    **result.to_dict()})
    # On a phone the four maps go in one column, each as wide as the screen.
    phone = None if presenter else figure_png(for_phone(gradient_figure(result, traces=traces, ncols=1),
                                                        keep_height=False))
    return result, figure_png(fig), figure_svg(fig), json_text, phone


@st.cache_data(max_entries=8, show_spinner=False)
def rounding_steps(state: tuple) -> tuple[list[str], list[str]]:
    """Slider shifts at which RoI Warp's gradient map equals the one at shift 0, and the others."""
    s = dict(state)
    settings = seed_example_settings(s["conv"], sampling_ratio=int(s["sr"]), reduce=s["reduce"],
                                     aligned=s["aligned"] == "1")
    values = example_map(s["map"])
    target = None if s["target"] == "all" else (int(s["target"][0]), int(s["target"][2]))
    maps = {shift: gradient_maps(values, tuple(shifted_boxes(SEED_EXAMPLE_BOX, [float(shift)], settings.stride,
                                                             "x")[0]), settings, ["roi_warp"],
                                 target=target).maps["roi_warp"] for shift in SHIFTS}
    same = [shift for shift in SHIFTS if np.array_equal(maps[shift], maps["0"])]
    return same, [shift for shift in SHIFTS if shift not in same]


@st.cache_data(max_entries=16, show_spinner=False)
def sweep(state: tuple):
    """d(target)/d(x1) of every method as the proposal slides right by three cells."""
    s = dict(state)
    settings = seed_example_settings(s["conv"], sampling_ratio=int(s["sr"]), reduce=s["reduce"],
                                     aligned=s["aligned"] == "1")
    target = None if s["target"] == "all" else (int(s["target"][0]), int(s["target"][2]))
    return box_sweep(example_map(s["map"]), SEED_EXAMPLE_BOX, settings, cells=3.0, points=241, target=target)


load_link(GRADIENTS)
st.title("Gradient flow")
first_visit_tip("pages/gradients.py")
st.markdown(
    "During training, the loss reaches the backbone only through the cells a pooling layer "
    "read. Below is the gradient each method sends back to the feature map for the "
    "walkthrough's proposal, computed by PyTorch's autograd through roiviz's batched ops: "
    "how much each cell would change the chosen output.")
show_link_notices(GRADIENTS)

with st.sidebar:
    st.header("What to differentiate")
    widget(GRADIENTS, "target", persist_state="session")
    widget(GRADIENTS, "shift", "select_slider", persist_state="session")
    st.header("Settings")
    widget(GRADIENTS, "conv", "radio", horizontal=True, persist_state="session")
    widget(GRADIENTS, "sr", persist_state="session")
    widget(GRADIENTS, "reduce", "radio", horizontal=True, persist_state="session")
    widget(GRADIENTS, "aligned", "toggle", persist_state="session")
    widget(GRADIENTS, "map", "radio", persist_state="session")
    style = presenter_toggle(GRADIENTS)

state = {name: st.session_state[GRADIENTS.widget_key(name)] for name in KEYS}
state["aligned"] = "1" if state["aligned"] else "0"
page_title("Gradient flow", f"{GRADIENTS['target'].format(state['target'])}, shift {state['shift']} cells, "
                            f"{state['conv']} rounding, ratio {state['sr']}")
try:
    result, png, svg, json_text, phone_png = compute(tuple(sorted(state.items())), style.presenter)
    st.session_state["_grad_last"] = (state, result, png, svg, json_text)
except ValueError as exc:
    st.error(f"{exc}. The previous picture stays on screen.")
if "_grad_last" not in st.session_state:
    st.stop()
state, result, png, svg, json_text = st.session_state["_grad_last"]

figure(png, phone_png, "gradients")
left, right = st.columns([1, 1], gap="large")
with left:
    st.markdown(f"**d({result.target_label}) / d(cell)**")
    header_table([{"method": label(m), "cells reached": result.cells_reached(m),
                   "largest share": f"{float(result.maps[m].max()):.3g}",
                   "total": f"{result.total(m):.3g}"} for m in result.maps], GRADIENT_HEADERS)
with right:
    st.markdown(
        "**RoI Pool** hands each bin's whole gradient to one cell, the bin's maximum; every "
        "other cell gets nothing. **RoI Warp** spreads each bin's gradient over the cells near "
        "its points with the bilinear weights, but its points sit in the *snapped* box: like RoI "
        "Pool's, its picture stays exactly the same until the rounding flips, then jumps. **RoI "
        "Align and Precise RoI Pooling** spread the gradient over the box itself, so their "
        "weights follow every move of the box.")
    same, changed = rounding_steps(tuple(sorted(state.items())))
    st.caption(f"Computed for these settings ({state['conv']} rounding): RoI Warp's gradient map "
               f"equals the one at shift 0 for shifts {', '.join(same)} and differs at "
               f"{', '.join(changed) or 'no shift on the slider'}.")
    pool_peak = float(result.maps["roi_pool"].max())
    if result.target is None and pool_peak > 1:
        st.caption(f"One cell is the maximum of {pool_peak:g} bins at once (bins can share cells under "
                   "the library rounding), so it collects all of their gradients.")

st.subheader("Why this matters for learning box positions")
st.markdown(
    "- A feature that only changes when a rounding flips carries no signal about where, inside a "
    "cell, the object's edge lies. With RoI Pool the mask and box heads see the same input for "
    "every box position between two flips, so nothing pushes them to be precise to the pixel; "
    "the Evidence page shows the price in the Mask R-CNN paper, largest at stride 32 and at the "
    "strict AP75 threshold.\n"
    "- With RoI Align and Precise RoI Pooling the output follows the box as it moves, so the "
    "gradient is informative everywhere: the backbone learns from all the cells that shaped a "
    "bin, in proportion to how much each contributed. RoI Warp spreads the gradient too, but "
    "over the snapped box, so it moves in steps like RoI Pool's.\n"
    "- Gradients can also flow to the box coordinates. MNC's RoI Warp layer was written with a "
    "backward pass for the box, so that its cascade trains end to end; Faster and Mask R-CNN "
    "treat proposals as constants (their box regressor learns from its own loss). RoI Align is "
    "differentiable in the box only piecewise: the derivative jumps whenever a sampling point "
    "crosses a cell centre, and with adaptive sampling the output itself jumps when the point "
    "count changes. Precise RoI Pooling's integral "
    "has a derivative that is continuous in the box, and IoU-Net (ECCV 2018) introduced it to "
    "refine boxes by following it.")

st.subheader("Gradients with respect to the box")
st.markdown(
    "The same output can also be differentiated with respect to the box's coordinates: how it "
    "changes when the box's left edge x1 moves by one pixel. Below, the proposal slides right "
    "across three cells (its width kept) and each method's d(output)/d(x1) is computed by roiviz "
    "at every position (the closed form in `roiviz/box_gradients.py`, equal to autograd through "
    "the ops).")
swept = sweep(tuple(sorted(state.items())))
st.plotly_chart(sweep_figure(swept, style), width="stretch", config=PLOTLY_CONFIG)
st.caption(
    f"Computed for these settings: RoI Align's derivative jumps by up to {swept.largest_jump('roi_align'):.3g} "
    f"between neighbouring positions, at the {len(swept.crossings)} places (dotted blue) where one of its "
    f"sampling points crosses a cell centre (where it switches neighbours); Precise RoI Pooling's changes by at most "
    f"{swept.largest_jump('precise_roi_pool'):.2g} (continuous); RoI Warp's is constant between the "
    f"{len(swept.roundings)} rounding flips (dotted purple), as MNC's layer passes the gradient through "
    "its rounding; RoI Pool's is 0 (its output is a step function of the box).")
link_to("pages/refinement.py", "Use these gradients to move a box: the Box refinement lab")

query = GRADIENTS.to_query(state | {"aligned": state["aligned"] == "1", "presenter": style.presenter})
exports(GRADIENTS, f"roiviz-gradients-{state['target'].replace(',', '-')}", png, svg, json_text, query)
next_in_lesson("pages/gradients.py")
sync_query(query)
