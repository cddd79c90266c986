"""Sub-pixel sensitivity: move or grow the worked example's proposal by fractions of a cell.

A thin page: widgets and layout only. The sweep is :func:`roiviz.sweeps.sweep_offsets` (one
batched op call per method), the chart :func:`roiviz.render_mpl.sweep_figure`.
Link state: ``?mode=&axis=&range=&points=&row=&col=&methods=&conv=&sr=&reduce=&map=&presenter=``.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from roiviz.ui import (
    exports,
    load_link,
    next_in_lesson,
    presenter_toggle,
    show_link_notices,
    sync_query,
)
from roiviz.examples import SEED_EXAMPLE_BOX, SEED_EXAMPLE_OUTPUT, SEED_EXAMPLE_STRIDE, seed_example_settings
from roiviz.evidence import SAMPLING_QUOTE
from roiviz.export import figure_png, figure_svg, trace_json
from roiviz.geometry import CONVENTIONS
from roiviz.lessons import EXAMPLE_MAPS, example_map
from roiviz.render_mpl import sweep_figure
from roiviz.style import Style
from roiviz.sweeps import AXES, SERIES, SERIES_LABELS, UNALIGNED, sweep_offsets
from roiviz.trace import METHODS, REDUCES
from roiviz.traces import trace_all

MODES = {"shift": "move the box", "grow": "grow the box"}
RANGES = ("0.25", "0.5", "1", "2")
POINTS = ("41", "81", "161")
RATIOS = ("0", "1", "2", "4")
ROWS, COLS = (tuple(str(i) for i in range(n)) for n in SEED_EXAMPLE_OUTPUT)
DEFAULTS = {"mode": "shift", "axis": "x", "range": "1", "points": "81", "row": "0", "col": "1",
            "methods": ",".join(SERIES), "conv": "library", "sr": "2", "reduce": "avg", "map": "photo"}


def _methods_ok(text: str) -> bool:
    chosen = text.split(",")
    return bool(text) and all(m in SERIES for m in chosen)


SPEC = {"mode": tuple(MODES), "axis": AXES, "range": RANGES, "points": POINTS, "row": ROWS,
        "col": COLS, "methods": (_methods_ok, "a comma list of " + ", ".join(SERIES)),
        "conv": CONVENTIONS, "sr": RATIOS, "reduce": REDUCES, "map": tuple(EXAMPLE_MAPS),
        "presenter": ("0", "1")}
WIDGETS = {k: f"sens_{k}" for k in DEFAULTS}


def apply_link(values: dict[str, str]) -> None:
    for name, key in WIDGETS.items():
        value = values.get(name, DEFAULTS[name])
        st.session_state[key] = value.split(",") if name == "methods" else value


@st.cache_data(max_entries=32, show_spinner=False)
def chart_files(result_key: tuple, presenter: bool, _result) -> tuple[bytes, bytes]:
    """PNG and SVG of a sweep's chart (``result_key`` identifies ``_result``, which is not hashed)."""
    fig = sweep_figure(_result, style=Style(presenter=presenter))
    return figure_png(fig), figure_svg(fig)


load_link("sens", SPEC, apply_link)
st.title("Sub-pixel sensitivity")
st.markdown(
    f"Nudge the walkthrough's proposal by a fraction of a cell (at stride {SEED_EXAMPLE_STRIDE:g} "
    f"one image pixel is 1/{SEED_EXAMPLE_STRIDE:g} of a cell) and watch what each method outputs. "
    "**RoI Pool** and **RoI Warp** round the "
    "box to whole cells first: while the rounding stays the same their output does not move at "
    "all, then it jumps. **RoI Align** and **Precise RoI Pooling** read the box where it is, so "
    "their output follows every pixel. A detector whose features ignore a one-pixel shift cannot "
    "learn to place boxes to the pixel.")
show_link_notices("sens")

with st.sidebar:
    st.header("Sweep")
    st.radio("What changes", tuple(MODES), format_func=MODES.get, key="sens_mode", horizontal=True,
             persist_state="session",
             help="Move: the box slides by the offset. Grow: its width (x) or height (y) changes by "
                  "the offset, half on each side.")
    st.radio("Along", AXES, key="sens_axis", horizontal=True, persist_state="session")
    st.select_slider("Offsets from -r to +r cells", RANGES, key="sens_range", persist_state="session")
    st.selectbox("Number of offsets", POINTS, key="sens_points", persist_state="session")
    st.multiselect("Methods", SERIES, format_func=SERIES_LABELS.get, key="sens_methods",
                   persist_state="session")
    st.header("Follow one output cell")
    c1, c2 = st.columns(2)
    c1.selectbox("Row", ROWS, key="sens_row", persist_state="session")
    c2.selectbox("Column", COLS, key="sens_col", persist_state="session")
    st.header("Settings")
    st.radio("RoI Pool / Warp rounding", CONVENTIONS, key="sens_conv", horizontal=True,
             persist_state="session")
    st.selectbox("Sampling ratio (points per bin side)", RATIOS, key="sens_sr", persist_state="session",
                 format_func=lambda v: "adaptive: ceil(bin size)" if v == "0" else v,
                 help=SAMPLING_QUOTE + " The paper uses 2 x 2 points per bin; adaptive is the "
                      "default of torchvision's roi_align and Detectron2's box pooler.")
    st.radio("Reduce points by", REDUCES, key="sens_reduce", horizontal=True, persist_state="session")
    st.radio("Feature map", tuple(EXAMPLE_MAPS), format_func=EXAMPLE_MAPS.get, key="sens_map",
             persist_state="session")
    style = presenter_toggle("sens")

state = {name: st.session_state[key] for name, key in WIDGETS.items()}
state["methods"] = ",".join(m for m in SERIES if m in state["methods"])
settings = seed_example_settings(state["conv"], sampling_ratio=int(state["sr"]), reduce=state["reduce"])
values = example_map(state["map"])
reach = float(state["range"])
offsets = np.linspace(-reach, reach, int(state["points"]))
chosen = [m for m in SERIES if m in state["methods"].split(",")] if state["methods"] else []
bin_rc = (int(state["row"]), int(state["col"]))

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
png, svg = chart_files(key, style.presenter, result)
st.image(png, width="stretch")
left, right = st.columns([1, 1], gap="large")
with left:
    st.markdown(f"**Bin (row {result.bin[0]}, col {result.bin[1]}) over {len(result.offsets)} offsets**")
    rows = []
    for s in result.series:
        rows.append({"method": SERIES_LABELS[s], "different values": result.distinct_values(s),
                     "largest jump": f"{result.largest_jump(s):.3g}",
                     "mean |change| at the ends": f"{max(result.mean_abs_change[s][[0, -1]]):.3g}"})
    st.table(rows, hide_index=True)
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
                "model's performance when RoI Align feeds conv layers.",
                icon=":material/straighten:")

traces = trace_all(values, result.box, result.settings, [m for m in result.series if m in METHODS])
json_text = trace_json(traces, {"page": "sensitivity", "map": state["map"], "sweep": result.to_dict()})
query = {k: str(v) for k, v in state.items()} | {"presenter": "1" if style.presenter else "0"}
query["methods"] = query["methods"] or ",".join(result.series)  # the link shows what is on screen
exports("sens", f"roiviz-sensitivity-{state['mode']}-{state['axis']}", png, svg, json_text, query)
next_in_lesson("pages/sensitivity.py")
sync_query(query)
