"""Feature pyramids: which level of P2-P5 pools a box, and what that does to quantization.

A thin page: widgets and layout only. The level is :func:`roiviz.fpn.trace_fpn_level` (the same
code as :func:`roiviz.ops.fpn_levels`), the maps :func:`roiviz.features.image_feature_map` at
strides 4, 8, 16 and 32, the four methods the Playground's live stage (:mod:`roiviz.app.ui_stage`,
switched to the box's level: its map and stride), the sweep :func:`roiviz.lessons.sweeps.sweep_box_sizes`,
the figures :mod:`roiviz.drawing.render_pyramid`.
Link state: :data:`roiviz.app.params.PYRAMIDS` (``?img=&box=&ch=&rule=&out=&sr=&conv=&fixed=&presenter=``).
"""

from __future__ import annotations

import math

import numpy as np
import streamlit as st
import torch

from roiviz.drawing.export import figure_png, figure_svg, trace_json
from roiviz.features import CHANNEL_NAMES, image_feature_map
from roiviz.drawing.legible import for_projector
from roiviz.fpn import PYRAMID_LEVELS, MultiScaleRoIAlign, level_rule, trace_fpn_level
from roiviz.methods import METHODS
from roiviz.app.params import MAX_COORD, PYRAMIDS
from roiviz.records import Settings
from roiviz.drawing.render_pyramid import pyramid_figure, size_sweep_figure
from roiviz.samples import load_sample_image
from roiviz.app.stage import encode_display_image, stage_data
from roiviz.drawing.style import Style
from roiviz.lessons.sweeps import PAGE_BOX_SIZES, steady_band, sweep_box_sizes
from roiviz.drawing.thinned import drawable_traces
from roiviz.app.ui import (
    first_visit_tip,
    header_table,
    page_title,
    exports,
    load_link,
    next_in_lesson,
    presenter_toggle,
    presenting,
    show_link_notices,
    sync_query,
    widget,
)
from roiviz.app.ui_stage import applied_seq, released_box, show_stage

STRIDES = tuple(2 ** k for k in PYRAMID_LEVELS)
#: Plain words for the levels table's column headers (their tooltips).
LEVEL_HEADERS = {
    "level": "The pyramid's map: P2 is the finest, P5 the coarsest",
    "stride (px)": "Image pixels per feature cell on this level",
    "sqrt(w*h) from (px)": "The smallest box size (square root of width x height) this level takes",
    "to below (px)": "Boxes this size and larger go to the next level",
    "your box across (cells)": "How many of this level's cells your box is wide (its size over the stride)",
}
NAMES = tuple(f"p{k}" for k in PYRAMID_LEVELS)
RULES = PYRAMIDS["rule"].names
BOX_KEYS = ("pyr_x1", "pyr_y1", "pyr_x2", "pyr_y2")
#: Square sizes either side of each boundary, for the "resize to" buttons.
PRESETS = (111.0, 112.0, 223.0, 224.0, 447.0, 448.0)
#: The page's live stage (its own key: its releases are counted apart from the Playground's).
STAGE = "pyr_stage"
#: The picture's settings, by link key (the box and the presenter toggle are kept apart).
KEYS = tuple(k for k in PYRAMIDS.keys() if k not in ("box", "presenter"))


def box_problem(box, image_shape: tuple[int, int]) -> str | None:
    """Why a typed box cannot be used on this image (a sentence), or None."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(math.isfinite(v) and abs(v) <= MAX_COORD for v in box):
        return f"The box was not changed: coordinates must be finite and within +-{MAX_COORD:g} px."
    if x2 <= x1 or y2 <= y1:
        return "The box was not changed: it needs x2 > x1 and y2 > y1."
    height, width = image_shape
    if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
        return f"The box was not changed: it must overlap the {width} x {height} image."
    return None


def show_box(box) -> None:
    ss = st.session_state
    ss["pyr_box"] = tuple(float(v) for v in box)
    for key, v in zip(BOX_KEYS, ss["pyr_box"]):
        ss[key] = v


def apply_link(values: dict, given: dict) -> None:
    ss = st.session_state
    for key in KEYS:
        ss[PYRAMIDS.widget_key(key)] = values[key]
    show_box(values["box"])


def set_box(box) -> None:
    """Use ``box`` if it is valid on the current image; otherwise remember why and keep the old one."""
    ss = st.session_state
    image = load_sample_image(ss["pyr_img"])
    problem = box_problem(box, image.shape[:2])
    if problem:
        ss["_pyr_box_error"] = problem
        show_box(ss["pyr_box"])
    else:
        ss.pop("_pyr_box_error", None)
        show_box(tuple(round(float(v), 3) for v in box))


def on_typed_box() -> None:
    set_box(tuple(float(st.session_state[k]) for k in BOX_KEYS))


def resize_to(size: float) -> None:
    """A square box of ``size`` px about the current box's centre."""
    x1, y1, x2, y2 = st.session_state["pyr_box"]
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    set_box((cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2))


@st.cache_resource(max_entries=4, show_spinner="Building P2-P5...")
def pyramid_maps(img: str) -> tuple:
    """P2..P5 of a sample image: ``FeatureMap`` per level (shared by every session)."""
    image = load_sample_image(img)
    return tuple(image_feature_map(image, s, name=img) for s in STRIDES)


@st.cache_data(max_entries=16, show_spinner=False)
def size_sweep(out: int, conv: str, fixed: int, aligned: bool):
    return sweep_box_sizes(PAGE_BOX_SIZES, Settings(output_size=(out, out), convention=conv),
                           fixed_stride=fixed, aligned=aligned)


@st.cache_data(max_entries=4, show_spinner=False)
def display_image(img: str) -> str:
    """The photo the stage draws, as a JPEG data URI (once per image)."""
    return encode_display_image(load_sample_image(img))


@st.cache_data(max_entries=32, show_spinner=False)
def pyramid_files(img: str, box: tuple, ch: int, aligned: bool, presenter: bool) -> tuple[bytes, bytes]:
    """The picture in one row (the image and P2-P5, the box's level framed), PNG and SVG: short,
    so the stage is on the first screen under it; the steps of the rule are page text."""
    level = trace_fpn_level(box, **level_rule(aligned))
    fig = pyramid_figure(load_sample_image(img), [m.channel(ch) for m in pyramid_maps(img)], PYRAMID_LEVELS,
                         level, style=Style(presenter=presenter), channel_name=CHANNEL_NAMES[ch], one_row=True)
    return figure_png(fig), figure_svg(fig)


@st.cache_data(max_entries=16, show_spinner=False)
def sweep_png(out: int, conv: str, fixed: int, aligned: bool, size: float, presenter: bool) -> bytes:
    return figure_png(for_projector(size_sweep_figure(size_sweep(out, conv, fixed, aligned),
                                                      style=Style(presenter=presenter), mark_size=size), presenter))


def pooled_by_the_module(img: str, box, settings: Settings, aligned: bool) -> np.ndarray:
    """``MultiScaleRoIAlign`` on the whole pyramid, all channels: ``[C, PH, PW]``."""
    maps = pyramid_maps(img)
    image = load_sample_image(img)
    x = {n: torch.from_numpy(np.array(m.values))[None] for n, m in zip(NAMES, maps)}
    pooler = MultiScaleRoIAlign(list(NAMES), settings.output_size, settings.sampling_ratio, aligned=aligned)
    with torch.no_grad():
        out = pooler(x, [torch.tensor([box], dtype=torch.float32)], [image.shape[:2]])
    return out[0].numpy()


# ---------------------------------------------------------------------------------------------

load_link(PYRAMIDS, apply_link)
st.title("Feature pyramids")
first_visit_tip("pages/pyramids.py")
# On a screen the introduction is under the title; on a projector it waits in an expander, so
# that the pyramid and the stage are on the screen without scrolling.
with st.expander("What a feature pyramid does") if presenting() else st.container():
    st.markdown(
        "Detectors with a Feature Pyramid Network (Mask R-CNN, torchvision's and Detectron2's Faster "
        "R-CNN) do not pool every box from one map. The backbone gives maps **P2 to P5** with strides "
        "4, 8, 16 and 32 pixels, and each box is pooled from **one** of them, chosen by its size: small "
        "boxes from the fine P2, large ones from the coarse P5. Since the level sets the stride, it "
        "also sets how many cells wide the box is, and so how much rounding to whole cells costs it.")
show_link_notices(PYRAMIDS)

with st.sidebar:
    st.header("Image")
    widget(PYRAMIDS, "img", persist_state="session")
    widget(PYRAMIDS, "ch", persist_state="session")
    st.header("Pooling")
    widget(PYRAMIDS, "rule", "radio", persist_state="session")
    widget(PYRAMIDS, "out", "select_slider", persist_state="session")
    widget(PYRAMIDS, "sr", persist_state="session")
    widget(PYRAMIDS, "conv", "radio", horizontal=True, persist_state="session")
    style = presenter_toggle(PYRAMIDS)

ss = st.session_state
state = {key: ss[PYRAMIDS.widget_key(key)] for key in KEYS}
image = load_sample_image(state["img"])
if box_problem(ss["pyr_box"], image.shape[:2]):           # a link's box, or a smaller image
    st.warning(f"The box does not overlap the {image.shape[1]} x {image.shape[0]} image; the default "
               "box is shown instead.")
    show_box(PYRAMIDS["box"].default)
aligned = state["rule"] == "detectron2"
maps = pyramid_maps(state["img"])
# A box released on the stage (dragged on the photo or on the level's map) is user input: checked
# against the map it was drawn on, then like a typed box. Its level is decided below, so a release
# across a boundary switches the stage to the new level's map.
shown = trace_fpn_level(ss["pyr_box"], **level_rule(aligned))
released, refused = released_box(maps[PYRAMID_LEVELS.index(shown.level)].shape[1:], shown.stride, key=STAGE)
if released is not None:
    set_box(released.box)
elif refused:
    ss["_pyr_box_error"] = f"{refused} The previous box is kept."
box = ss["pyr_box"]
level = trace_fpn_level(box, **level_rule(aligned))
page_title("Feature pyramids", f"{state['img']}, box {level.size:.0f} px on P{level.level}, {state['out']}x{state['out']}")
fmap = maps[PYRAMID_LEVELS.index(level.level)]
channel = int(state["ch"])
values = fmap.channel(channel)

# First the pyramid (the box on every level, its level framed), then the four methods on that level.
png, svg = pyramid_files(state["img"], box, channel, aligned, style.presenter)
with st.container(key="pyr_picture"):
    st.image(png, width="stretch")
# On a phone the one-row picture would be a strip with 5 px texts: there it keeps 960 px and
# scrolls sideways inside its frame (the page itself does not).
st.html("<style>@media (max-width: 640px) { .st-key-pyr_picture { overflow-x: auto; } "
        ".st-key-pyr_picture [data-testid=stFullScreenFrame] > div { justify-content: flex-start; } "
        ".st-key-pyr_picture [data-testid=stImage], .st-key-pyr_picture img "
        "{ min-width: 960px; max-width: none; } }</style>")
if style.presenter:
    # On a projector the formula with the box's numbers is page text under the picture (20 px or
    # more at 1280 x 720), not tiny inside it.
    st.code("\n".join((level.formula, *level.steps())), language=None, wrap_lines=True)

with st.container(border=True, key="pyr_level"):
    st.markdown(f"### Level P{level.level}: stride {level.stride} px")
    st.caption("Drag the box on the stage below (when you let go of a box that has crossed a boundary, "
               "the stage moves to its new level), or resize it to a square of sqrt(w*h) = ... px about "
               "its centre (each pair straddles a boundary):")
    for col, size in zip(st.columns(len(PRESETS)), PRESETS):
        col.button(f"{size:g} px", key=f"pyr_size_{size:g}", on_click=resize_to, args=(size,), width="stretch")
    if ss.get("_pyr_box_error"):
        st.warning(ss["_pyr_box_error"])
    if level.clamped:
        st.info(f"Your box is too {'small' if level.unclamped_level < level.level else 'large'} for the "
                f"pyramid: the formula asks for level {level.unclamped_level:g}, and P{level.level} is the "
                f"{'finest' if level.level == PYRAMID_LEVELS[0] else 'coarsest'} there is.")

settings = Settings(output_size=(int(state["out"]),) * 2, stride=float(level.stride),
                    sampling_ratio=int(state["sr"]), aligned=aligned, convention=state["conv"])
# Past the sample budget (an adaptive ratio on a large box) the traces for the JSON record every
# k-th sample row and column (roiviz.drawing.thinned), their numbers the op's; the stage draws its own.
traces = drawable_traces(values, box, settings)
for t in (t for t in traces.values() if t.sample_step != (1, 1)):
    st.info(f"{t.label} takes {t.grid[0]} x {t.grid[1]} samples per bin here "
            f"({t.grid[0] * t.grid[1] * len(t.bins):,} in all), more than a panel can show one by one: the "
            f"stage draws a regular subset of them, the JSON export records one in every "
            f"{t.sample_step[0]} sample rows and columns, and every number is the op's.")
# The four methods live, on the level's map and stride: the Playground's stage.
height, width = values.shape
data = stage_data(values, box, settings, METHODS, traces, style=style,
                  image_uri=display_image(state["img"]), image_shape=image.shape[:2],
                  image_title=f"Image ({image.shape[1]} x {image.shape[0]} px)",
                  map_title=f"P{level.level}, stride {level.stride}: {width} x {height} cells "
                            f"('{CHANNEL_NAMES[channel]}')",
                  seq=applied_seq(STAGE))
show_stage(data, key=STAGE)
# The rule, in words and numbers, where a teacher looks for it: under the stage, opened on demand.
with st.expander(f"How the rule picks P{level.level}, and how torchvision, Detectron2 and MMDetection write it"):
    yours, every_level, libraries = st.tabs(["Your box", "Every level", "torchvision, Detectron2, MMDetection"])
    with yours:
        st.markdown(f"The rule ({RULES[state['rule']]}): `{level.formula}`. With your box:")
        st.code("\n".join(level.steps()), language=None, wrap_lines=True)
        module_out = pooled_by_the_module(state["img"], box, settings, aligned)
        diff = float(np.abs(module_out[channel] - traces["roi_align"].output).max())
        st.caption(f"`roiviz.ops.MultiScaleRoIAlign(aligned={aligned})` on all of P2-P5 pools this box from "
                   f"P{level.level} too: its output for this channel differs from the RoI Align panel by at most "
                   f"{diff:.1g}.")
    with every_level:
        # Level k (unclamped) holds sqrt(w*h) in [s0 * 2^(k - k0), s0 * 2^(k - k0 + 1)).
        bounds = [(k, 2 ** k, level.canonical_scale * 2.0 ** (k - level.canonical_level),
                   level.canonical_scale * 2.0 ** (k - level.canonical_level + 1)) for k in PYRAMID_LEVELS]
        header_table([{"level": f"P{k}" + (" (yours)" if k == level.level else ""), "stride (px)": s,
                       "sqrt(w*h) from (px)": "0" if k == PYRAMID_LEVELS[0] else f"{lo:g}",
                       "to below (px)": "no limit" if k == PYRAMID_LEVELS[-1] else f"{hi:g}",
                       "your box across (cells)": f"{level.size / s:.2f}"} for k, s, lo, hi in bounds],
                     LEVEL_HEADERS)
    with libraries:
        st.markdown(
            "- **torchvision** (`MultiScaleRoIAlign`, `LevelMapper`): `floor(4 + log2(sqrt(w*h) / 224) + 1e-6)`, "
            "then RoI Align with **aligned=False**, the legacy half-cell shift. The `1e-6` is added to the level, "
            "so a box whose size computes a few float32 steps below a boundary (224 x 223.9999 px) still goes up.\n"
            "- **Detectron2** (`ROIPooler` with `ROIAlignV2`): `floor(4 + log2(sqrt(w*h) / 224 + 1e-8))` with the "
            "same canonical 224 px and level 4, then RoI Align with **aligned=True**. Its `1e-8` sits inside the "
            "logarithm, where in float32 it changes nothing: that 224 x 223.9999 px box reads P3. Switch the "
            "library in the sidebar to compare.\n"
            "- **MMDetection** (`SingleRoIExtractor`): `floor(log2(sqrt(w*h) / 56 + 1e-6))` counted from P2, "
            "with `finest_scale=56`: on P2-P5 the boundaries are the same 112, 224 and 448 px. Its `1e-6` is "
            "inside the logarithm too, but large enough to count in float32 (about 4 float32 steps of the "
            "ratio just below 4): the 224 x 223.9999 px box reads P4, as in torchvision.\n"
            "- From 56 to 896 px every box is 14 to 28 cells across on its level, P2 and P5 included (try the "
            "buttons above): that is the point of the rule.")

with st.expander("Type the box's corners (image pixels)"):
    cols = st.columns(4)
    for col, key, label in zip(cols, BOX_KEYS, ("x1 (px)", "y1 (px)", "x2 (px)", "y2 (px)")):
        col.number_input(label, key=key, step=1.0, format="%.2f", on_change=on_typed_box,
                         min_value=-MAX_COORD, max_value=MAX_COORD)

st.subheader("What the level does to rounding")
fixed_col, _ = st.columns([1, 3])
widget(PYRAMIDS, "fixed", container=fixed_col, persist_state="session")
state["fixed"] = ss[PYRAMIDS.widget_key("fixed")]
sweep = size_sweep(int(state["out"]), state["conv"], int(state["fixed"]), aligned)
st.image(sweep_png(int(state["out"]), state["conv"], int(state["fixed"]), aligned, level.size, style.presenter),
         width="stretch")
band = steady_band(sweep)
(low, high), align_areas = band.sizes_px, traces["roi_align"].areas
st.markdown(
    f"RoI Pool and RoI Warp round the box to whole cells. **On one map** (solid lines, stride "
    f"{state['fixed']}) a small box is only a few cells wide, so the rounding loses or gains a large "
    "share of it; the share falls as boxes grow. **With level assignment** (dashed) every box from "
    f"{low:g} to {high:g} px is 14 to 28 cells wide on its level (on P2 that is {low:g}-{2 * low:g} px, on P5 "
    f"{high / 2:g}-{high:g} px), so RoI Pool's gained share stays between {band.share[0]:.1f} and "
    f"{band.share[1]:.1f} %. Below {low:g} px a box is fewer than 14 cells wide even on P2 and the "
    f"share rises (to {band.below[0]:.1f} % at {band.below[1]:.0f} px); above {high:g} px it is more "
    "than 28 cells wide on P5 and the share falls below the band. Precise RoI Pooling rounds nothing "
    "and loses nothing at any size, and neither does RoI Align with `aligned=True` (Detectron2)"
    + ("." if aligned else
       "; torchvision's `aligned=False` reads the box shifted by half a cell: your box loses "
       f"{align_areas.percent('lost'):.2f} % and gains {align_areas.percent('gained'):.2f} % to it."))

doc = {"page": "pyramids", "image": state["img"], "channel": CHANNEL_NAMES[channel],
       "level": level.to_dict(), "pooled_at_stride": level.stride, "level_formula": level.formula,
       "library": state["rule"], "size_sweep": sweep.to_dict()}
json_text = trace_json(traces, doc)
query = PYRAMIDS.to_query({**state, "box": box, "presenter": style.presenter})
exports(PYRAMIDS, f"roiviz-pyramid-P{level.level}", png, svg, json_text, query)
next_in_lesson("pages/pyramids.py")
sync_query(query)
