"""Sub-pixel sensitivity: move or grow the worked example's proposal by fractions of a cell.

A thin page: widgets and layout only. The sweep is :func:`roiviz.lessons.sweeps.sweep_offsets` (one
batched op call per method), the chart :func:`roiviz.drawing.render_mpl.sweep_figure`.
Below it, the box-size sweep (:func:`roiviz.lessons.sweeps.sweep_box_sizes`): RoI Pool's and RoI Warp's lost
and gained share against box size, on one stride versus on each box's feature pyramid level.
Link state: ``?mode=&axis=&range=&points=&row=&col=&methods=&conv=&sr=&reduce=&map=&fpn=&presenter=``.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit.errors import StreamlitAPIException

from roiviz.app.ui import (
    figure,
    animation_download,
    exports,
    first_visit_tip,
    header_table,
    page_title,
    load_link,
    next_in_lesson,
    presenter_toggle,
    presenting,
    show_link_notices,
    sync_query,
    widget,
)
from roiviz.drawing.animate import animate_gif
from roiviz.lessons.examples import SEED_EXAMPLE_BOX, SEED_EXAMPLE_STRIDE, seed_example_settings
from roiviz.drawing.export import figure_png, figure_svg, trace_json
from roiviz.drawing.legible import for_phone, for_projector
from roiviz.lessons.walkthrough import example_map
from roiviz.methods import METHODS, SERIES, UNALIGNED, label, trace_all
from roiviz.app.params import SENSITIVITY
from roiviz.drawing.render_mpl import sweep_figure
from roiviz.drawing.style import Style
from roiviz.drawing.render_pyramid import size_sweep_figure
from roiviz.lessons.sweeps import PAGE_BOX_SIZES, steady_band, sweep_box_sizes, sweep_offsets

#: The sweep's settings (everything but the presenter toggle), by link key.
KEYS = tuple(k for k in SENSITIVITY.keys() if k != "presenter")
#: Plain words for the table's column headers (their tooltips).
SWEEP_HEADERS = {
    "method": "The pooling method (its curve is in the chart above)",
    "different values": "How many different values the followed output cell took over all the "
                        "offsets: few means it ignored most moves of the box",
    "largest jump": "The biggest change of that output cell between two neighbouring offsets: a "
                    "large one is a step, where a rounding flipped",
    "mean |change| at the ends": "At the two ends of the sweep, how far all output cells are from "
                                 "their values at offset 0, on average (larger of the two ends)",
}


@st.cache_data(max_entries=32, show_spinner=False)
def chart_files(result_key: tuple, presenter: bool, _result) -> tuple[bytes, bytes, bytes | None]:
    """PNG and SVG of a sweep's chart, and its phone PNG (none in presenter mode); ``result_key``
    identifies ``_result``, which is not hashed."""
    fig = for_projector(sweep_figure(_result, style=Style(presenter=presenter)), presenter)
    phone = None if presenter else figure_png(for_phone(sweep_figure(_result)))
    return figure_png(fig), figure_svg(fig), phone


@st.cache_data(max_entries=16, show_spinner="Sweeping box sizes...")
def size_sweep(output_size: tuple[int, int], conv: str, fixed: int, presenter: bool):
    """The box-size sweep (24 to 1024 px, 32 placements each), its chart as PNG and the chart's
    phone PNG (none in presenter mode)."""
    result = sweep_box_sizes(PAGE_BOX_SIZES, seed_example_settings(conv), fixed_stride=fixed)
    phone = None if presenter else figure_png(for_phone(size_sweep_figure(result)))
    return result, figure_png(for_projector(size_sweep_figure(result, style=Style(presenter=presenter)), presenter)), phone


load_link(SENSITIVITY)
st.title("Sub-pixel sensitivity")
first_visit_tip("pages/sensitivity.py")
INTRO = (
    f"Nudge the walkthrough's proposal by a fraction of a cell (at stride {SEED_EXAMPLE_STRIDE:g} "
    f"one image pixel is 1/{SEED_EXAMPLE_STRIDE:g} of a cell) and watch what each method outputs. "
    "**RoI Pool** and **RoI Warp** round the "
    "box to whole cells first: while the rounding stays the same their output does not move at "
    "all, then it jumps. **RoI Align** and **Precise RoI Pooling** read the box where it is, so "
    "their output follows every pixel. A detector whose features ignore a one-pixel shift cannot "
    "learn to place boxes to the pixel.")
if not presenting():     # on a projector the chart comes first, so that it fits the screen
    st.markdown(INTRO)
show_link_notices(SENSITIVITY)

with st.sidebar:
    st.header("Sweep")
    widget(SENSITIVITY, "mode", "radio", horizontal=True, persist_state="session")
    widget(SENSITIVITY, "axis", "radio", horizontal=True, persist_state="session")
    widget(SENSITIVITY, "range", "select_slider", persist_state="session")
    widget(SENSITIVITY, "points", persist_state="session")
    widget(SENSITIVITY, "methods", "multiselect", persist_state="session")
    st.header("Follow one output cell")
    c1, c2 = st.columns(2)
    widget(SENSITIVITY, "row", container=c1, persist_state="session")
    widget(SENSITIVITY, "col", container=c2, persist_state="session")
    st.header("Settings")
    widget(SENSITIVITY, "conv", "radio", horizontal=True, persist_state="session")
    widget(SENSITIVITY, "sr", persist_state="session")
    widget(SENSITIVITY, "reduce", "radio", horizontal=True, persist_state="session")
    widget(SENSITIVITY, "map", "radio", persist_state="session")
    style = presenter_toggle(SENSITIVITY)

state = {name: st.session_state[SENSITIVITY.widget_key(name)] for name in KEYS}
state["methods"] = ",".join(m for m in SERIES if m in state["methods"])
settings = seed_example_settings(state["conv"], sampling_ratio=int(state["sr"]), reduce=state["reduce"])
values = example_map(state["map"])
reach = float(state["range"])
offsets = np.linspace(-reach, reach, int(state["points"]))
chosen = [m for m in SERIES if m in state["methods"].split(",")] if state["methods"] else []
bin_rc = (int(state["row"]), int(state["col"]))
page_title("Sub-pixel sensitivity", f"{state['mode']} along {state['axis']} by up to {reach:g} cell{'s' * (reach != 1)}, "
                                    f"{state['conv']} rounding, ratio {state['sr']}")

if not chosen:
    st.warning("Choose at least one method in the sidebar; the previous sweep stays on screen.")
else:
    bar = st.progress(0.0, text="Sweeping...")
    try:
        result = sweep_offsets(values, SEED_EXAMPLE_BOX, settings, chosen, offsets, axis=state["axis"],
                               scale=state["mode"] == "grow", bin=bin_rc,
                               on_progress=lambda f: bar.progress(f, text=f"Sweeping... {f:.0%}"))
        st.session_state["_sens_last"] = (tuple(sorted(state.items())), result)
    except ValueError as exc:
        st.error(f"{exc}. The previous sweep stays on screen.")
    bar.empty()

last = st.session_state.get("_sens_last")
if last is None:
    st.stop()
key, result = last
png, svg, phone_png = chart_files(key, style.presenter, result)
figure(png, phone_png, "sweep")
if style.presenter:
    st.markdown(INTRO)
left, right = st.columns([1, 1], gap="large")
with left:
    st.markdown(f"**Bin (row {result.bin[0]}, col {result.bin[1]}) over {len(result.offsets)} offsets**")
    rows = []
    for s in result.series:
        rows.append({"method": label(s), "different values": result.distinct_values(s),
                     "largest jump": f"{result.largest_jump(s):.3g}",
                     "mean |change| at the ends": f"{max(result.mean_abs_change[s][[0, -1]]):.3g}"})
    header_table(rows, SWEEP_HEADERS)
with right:
    st.markdown(
        "- A **step** curve (few different values, a large jump) means the method ignored the "
        "offset until the rounding flipped.\n"
        "- A **smooth** curve means every pixel of movement changes the feature a little.\n"
        "- Precise RoI Pooling is the exact average; RoI Align with a few points follows it "
        "closely. With an adaptive sampling ratio the number of points changes as the box "
        "grows past a whole number of cells per bin, and the output **jumps** there: a "
        "discontinuity, the very thing Precise RoI Pooling's integral removes.")
    if UNALIGNED in result.series:
        st.info("**RoI Align with aligned=False** is smooth too, but offset: it outputs exactly what "
                f"aligned=True outputs for the box moved half a cell right *and* down "
                f"({result.settings.stride / 2:g} px at stride {result.settings.stride:g}). Its curve "
                "is therefore not the aligned curve slid sideways: it describes a different region "
                "at every offset. This is about where the features come from, not accuracy: "
                "Detectron2's `ROIAlign` notes that the half cell makes no difference to the "
                "model's performance when RoI Align feeds conv layers.")

st.subheader("Box size: one stride, or a feature pyramid")
fixed_col, _ = st.columns([1, 2])
widget(SENSITIVITY, "fpn", container=fixed_col, persist_state="session")
state["fpn"] = st.session_state[SENSITIVITY.widget_key("fpn")]
sizes, sizes_png, sizes_phone_png = size_sweep(settings.output_size, state["conv"], int(state["fpn"]), style.presenter)
figure(sizes_png, sizes_phone_png, "sizes")
band = steady_band(sizes)
st.markdown(
    f"The same rounding, now against the box's size. RoI Pool and RoI Warp snap the box to whole "
    f"cells, so on **one map** (solid lines, stride {state['fpn']}) a small box, only a few cells "
    "wide, loses or gains a large share of its area, and the share falls as boxes grow. Detectors "
    "with a **feature pyramid** (dashed) pool each box from the level its size picks, P2 to P5: "
    f"from {band.sizes_px[0]:g} to {band.sizes_px[1]:g} px every box is 14 to 28 cells wide on its "
    f"level, so RoI Pool's gained share stays between {band.share[0]:.1f} and {band.share[1]:.1f} %; "
    f"only smaller boxes (fewer than 14 cells even on P2) gain more, up to {band.below[0]:.1f} % at "
    f"{band.below[1]:.0f} px. Averages over 32 sub-cell placements per size.")
try:
    st.page_link("pages/pyramids.py", label="Which level reads your box: Feature pyramids")
except (StreamlitAPIException, KeyError):   # not registered: the page runs on its own
    pass

traces = trace_all(values, result.box, result.settings, [m for m in result.series if m in METHODS])
json_text = trace_json(traces, {"page": "sensitivity", "map": state["map"], "sweep": result.to_dict(),
                                "size_sweep": sizes.to_dict()})
# The link shows what is on screen (the last sweep's methods while none is chosen).
query = SENSITIVITY.to_query(state | {"methods": tuple(chosen) or result.series,
                                      "presenter": style.presenter})
stem = f"roiviz-sensitivity-{state['mode']}-{state['axis']}"
exports(SENSITIVITY, stem, png, svg, json_text, query)
animated = [m for m in result.series if m in METHODS]
if animated:
    animation_download(SENSITIVITY, stem,
                       lambda: animate_gif(values, SEED_EXAMPLE_BOX, result.settings, animated,
                                           mode="slide" if state["mode"] == "shift" else "grow",
                                           axis=state["axis"]).gif)
next_in_lesson("pages/sensitivity.py")
sync_query(query)
