"""Playground: all four methods side by side on your own box, photo or feature map.

A thin page: widgets and layout only. The settings and their link form are the Playground's
table in :mod:`roiviz.app.params` (:data:`~roiviz.app.params.PLAYGROUND`), the methods come from the
registry in :mod:`roiviz.methods`, the live stage from :mod:`roiviz.app.ui_stage` (drag surfaces
and method panels, computed in the browser while a box is dragged; :mod:`roiviz.app.stage` builds
its data) and the exported figure from :mod:`roiviz.drawing.render_mpl`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import streamlit as st

from roiviz import features, images, samples
from roiviz.app import ui
from roiviz.drawing.animate import animate_gif
from roiviz.lessons.examples import SEED_EXAMPLE_BOX, SEED_EXAMPLE_MAP_SHAPE, SEED_EXAMPLE_STRIDE
from roiviz.drawing.export import figure_png, figure_svg, interactive_page, trace_json
from roiviz.fpn import level_rule, trace_fpn_level
from roiviz.geometry import LIVE_SAMPLE_LIMIT
from roiviz.methods import METHODS, REGISTRY, summary_rows, trace_all
from roiviz.app.params import MAX_COORD, MAX_OUTPUT, PLAYGROUND
from roiviz.records import Settings
from roiviz.drawing.render_mpl import BLOG_DPI, COMPARISON_DPI, blog_figure, comparison_figure
from roiviz.app.stage import MAX_DRAWN_SAMPLES, encode_display_image, stage_data
from roiviz.drawing.summary_table import summary_html
from roiviz.drawing.thinned import drawable_traces, thinning, thinning_line
from roiviz.app.state import (PlaygroundState, box_outside_share, box_problem, default_box,
                          samples_per_method)
from roiviz.drawing.style import Style
from roiviz.app.ui_stage import applied_seq, released_box, show_stage

#: The page's title (also the interactive page's).
PAGE_TITLE = "Playground: four RoI poolings, one box"

#: Session keys of the widgets that mirror PlaygroundState fields (the rest is the box).
WIDGET_KEYS = ("src", "img", "stride", "fpn", "ch", "ph", "pw", "sr", "aligned", "reduce", "conv",
               "methods", "presenter")
BOX_KEYS = ("bx1", "by1", "bx2", "by2")


# ---------------------------------------------------------------------------------------------
# Cached computations (thin wrappers with hashable arguments; "_" arguments are not hashed and
# are identified by the key next to them).
#
# Feature maps and traces are immutable (read-only arrays, frozen dataclasses), so they are
# shared by all sessions as they are (st.cache_resource): no pickling on every rerun, and no
# private copy per session. Every cache is bounded, so a class of students dragging boxes or
# uploading photos cannot grow the server's memory without limit (benchmarks/classroom.py).


@st.cache_resource(max_entries=8, show_spinner=False)
def cached_feature_map(input_key: str, stride: int, _image: np.ndarray) -> features.FeatureMap:
    return features.image_feature_map(_image, stride, name=input_key.split(":", 1)[-1])


@st.cache_data(max_entries=8, show_spinner=False)
def cached_display_image(input_key: str, _image: np.ndarray) -> str:
    """The photo as a JPEG data URI (at most 1024 px a side), encoded once per image."""
    return encode_display_image(_image)


@st.cache_resource(max_entries=32, show_spinner=False)
def cached_traces(map_key: str, channel: int, box: tuple, settings: Settings, methods: tuple,
                  _values: np.ndarray):
    """The traces of a box. A release needs only each method's numbers, boxes and areas (the
    stage draws the samples itself): without the per-sample records a release costs about a
    third less server CPU (benchmarks/hall.py). The exports ask for the samples when clicked."""
    return trace_all(_values, box, settings, methods, record_samples=False)


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_reference_source(method: str) -> str:
    """A method's reference code (read with ``inspect`` once per process, not on every release:
    it was about a fifth of a release's script time, py-spy with benchmarks/hall.py)."""
    return REGISTRY[method].reference_source()


# ---------------------------------------------------------------------------------------------
# State: the link on first load, widgets afterwards.


def init_state() -> None:
    """On a session's first run, fill the widgets from the link (a notice per refused part).

    Later runs restore the widgets that Streamlit dropped while they were not shown (the sample
    picker while a toy grid is shown, every widget while another page is open) from the last
    complete state, so that nothing is lost.
    """
    ss = st.session_state
    if ss.get("_initialized"):
        saved = ss.get("_state", PlaygroundState())
        if any(k not in ss for k in WIDGET_KEYS):
            apply_state(replace(saved, box=ss.get("box")))
        for k in WIDGET_KEYS:  # keep widget values alive across runs where they are hidden
            ss[k] = ss[k]
        if ui.PRESENTER in ss:  # presenter mode is shared with the teaching pages
            ss["presenter"] = bool(ss[ui.PRESENTER])
        return
    ui.load_link(PLAYGROUND, apply=apply_link)
    ss["_initialized"] = True


def apply_link(values: dict, given: dict) -> None:
    """The link's state; the toy grid comes with the article's stride unless the link sets one."""
    state = PlaygroundState.from_link(values)
    if state.source == "toy" and "stride" not in given:
        state = replace(state, stride=int(SEED_EXAMPLE_STRIDE))
    apply_state(state)


def apply_state(state: PlaygroundState) -> None:
    ss = st.session_state
    ss["src"], ss["img"], ss["stride"], ss["ch"] = state.source, state.sample, state.stride, state.channel
    ss["fpn"] = state.pyramid
    ss["ph"], ss["pw"] = state.output_size
    ss["sr"], ss["aligned"], ss["reduce"] = state.sampling_ratio, state.aligned, state.reduce
    ss["conv"], ss["methods"], ss["presenter"] = state.convention, list(state.methods), state.presenter
    ss["box"] = state.box
    ss.pop("box_error", None)


def current_state() -> PlaygroundState:
    ss = st.session_state
    return PlaygroundState(
        source=ss["src"], sample=ss["img"], stride=int(ss["stride"]), pyramid=bool(ss["fpn"]),
        channel=int(ss["ch"]),
        box=ss.get("box"), output_size=(int(ss["ph"]), int(ss["pw"])), sampling_ratio=int(ss["sr"]),
        aligned=bool(ss["aligned"]), reduce=ss["reduce"], convention=ss["conv"],
        methods=tuple(m for m in METHODS if m in ss["methods"]), presenter=bool(ss["presenter"]))


def reset() -> None:
    apply_state(PlaygroundState())
    for key in ("upload_image", "upload_npy", "_image", "_npy", "_image_error", "_npy_error"):
        st.session_state.pop(key, None)
    st.query_params.clear()


def share_presenter() -> None:
    st.session_state[ui.PRESENTER] = bool(st.session_state["presenter"])


def set_output(ph: int, pw: int) -> None:
    st.session_state["ph"], st.session_state["pw"] = ph, pw


def on_source() -> None:
    """The toy grid is the article's map: choosing it selects its stride and its proposal."""
    if st.session_state["src"] == "toy":
        st.session_state["stride"] = int(SEED_EXAMPLE_STRIDE)
        set_box(SEED_EXAMPLE_BOX, check=False)


# ---------------------------------------------------------------------------------------------
# Input: a photo (sample or upload) -> feature map, the toy grid, or a .npy map.


def sidebar(container) -> None:
    """The sidebar's widgets, drawn into ``container`` (a placeholder at the sidebar's top)."""
    with container:
        st.header("Input")
        ui.widget(PLAYGROUND, "src", "radio", on_change=on_source)
        source = st.session_state["src"]
        if source == "sample":
            ui.widget(PLAYGROUND, "img")
        elif source == "upload":
            st.file_uploader("Image (PNG, JPEG, GIF, BMP, WebP, TIFF)", key="upload_image",
                             type=["png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff"])
        elif source == "npy":
            st.file_uploader("Feature map (.npy, [H, W] or [C, H, W])", key="upload_npy", type=["npy"])
        photo = source in ("sample", "upload")
        ui.widget(PLAYGROUND, "stride", disabled=photo and bool(st.session_state["fpn"]))
        ui.widget(PLAYGROUND, "fpn", "toggle", disabled=not photo)
        if photo and st.session_state["fpn"]:
            st.caption("The stride above is not used: the box's level picks it (see the box above "
                       "the panels and the feature map's title).")
        st.header("Settings")
        c1, c2 = st.columns(2)
        c1.number_input("Output rows", 1, MAX_OUTPUT, key="ph", step=1)
        c2.number_input("Output cols", 1, MAX_OUTPUT, key="pw", step=1)
        b1, b2 = st.columns(2)
        b1.button("3 x 3", on_click=set_output, args=(3, 3), key="out3", width="stretch")
        b2.button("7 x 7", on_click=set_output, args=(7, 7), key="out7", width="stretch")
        ui.widget(PLAYGROUND, "sr")
        ui.widget(PLAYGROUND, "aligned", "toggle")
        ui.widget(PLAYGROUND, "reduce", "radio", horizontal=True)
        ui.widget(PLAYGROUND, "conv", "radio", horizontal=True)
        ui.widget(PLAYGROUND, "methods", "multiselect")
        ui.widget(PLAYGROUND, "presenter", "toggle", on_change=share_presenter)
        st.header("Share")
        st.caption("The address bar holds the box and settings: copy it to share this view.")
        st.button("Reset everything", on_click=reset, key="reset", width="stretch")


def load_input(state: PlaygroundState):
    """The feature map (and image, if any) for the chosen source.

    Bad uploads show an error and the previous valid input stays.

    Returns:
        ``(input_key, FeatureMap, image or None)``.
    """
    ss = st.session_state
    if state.source == "sample":
        image = samples.load_sample_image(state.sample)
        key = f"sample:{state.sample}"
        return key, cached_feature_map(key, state.stride, image), image
    if state.source == "toy":   # the Walkthrough's map
        return "toy", features.toy_grid(*SEED_EXAMPLE_MAP_SHAPE, seed=0, stride=state.stride), None
    if state.source == "upload":
        if not read_upload("upload_image", "_image", images.decode_image):
            return ss.get("_last_input", (None, None, None))
        if "_image" in ss:
            file_id, image = ss["_image"]
            key = f"upload:{file_id}"
            st.sidebar.caption(f"Uploaded image: {images.describe_image(image)}")
            return key, cached_feature_map(key, state.stride, image), image
        st.info("Upload an image in the sidebar (or pick a sample image) to start.")
    if state.source == "npy":
        if not read_upload("upload_npy", "_npy", features.load_npy):
            return ss.get("_last_input", (None, None, None))
        if "_npy" in ss:
            file_id, fmap = ss["_npy"]
            # The stride of a user's map is the one chosen in the sidebar.
            return f"npy:{file_id}", replace(fmap, stride=state.stride), None
        st.info("Upload a .npy feature map in the sidebar (or pick another source) to start.")
    return ss.get("_last_input", (None, None, None))


def read_upload(widget_key: str, store_key: str, decode) -> bool:
    """Decode a new upload into ``session_state[store_key] = (file_id, value)``.

    A session keeps one decoded upload per kind (a new one replaces it). A file that fails is
    decoded once: its message is remembered and shown again on later runs, and the previous
    valid input stays. Returns False while the current upload is a bad one.
    """
    ss = st.session_state
    upload = ss.get(widget_key)
    if upload is None or ss.get(store_key, (None,))[0] == upload.file_id:
        return True
    failed = ss.get(f"{store_key}_error")
    if failed is None or failed[0] != upload.file_id:
        try:
            ss[store_key] = (upload.file_id, decode(upload.getvalue()))
            ss.pop(f"{store_key}_error", None)
            return True
        except ValueError as exc:
            failed = ss[f"{store_key}_error"] = (upload.file_id, str(exc))
        except Exception:  # noqa: BLE001 - never a traceback on the page, whatever the file
            failed = ss[f"{store_key}_error"] = (
                upload.file_id, "The file could not be read. Upload another file.")
    st.error(f"{failed[1]} The previous input stays on screen.")
    return False


# ---------------------------------------------------------------------------------------------
# The box: dragged on the stage, or typed.


def on_typed_box() -> None:
    set_box(tuple(float(st.session_state[k]) for k in BOX_KEYS))


def pyramid_level(state: PlaygroundState, box, image):
    """The box's pyramid level (:class:`roiviz.fpn.LevelTrace`) when the pyramid is on and the
    input is a photo, else ``None``. The rule follows ``aligned``: torchvision's when off,
    Detectron2's ``ROIAlignV2`` when on."""
    if not state.pyramid or image is None or box is None:
        return None
    return trace_fpn_level(box, **level_rule(state.aligned))


def set_box(box, check: bool = True) -> None:
    ss = st.session_state
    fmap_shape, stride = ss.get("_map_shape"), ss.get("_stride")
    problem = box_problem(box, fmap_shape, stride) if check and fmap_shape else None
    if problem:
        ss["box_error"] = problem
        previous = ss.get("box")
        if previous is not None:  # the inputs show the box still in use
            for k, v in zip(BOX_KEYS, previous):
                ss[k] = v
        return
    ss.pop("box_error", None)
    ss["box"] = tuple(round(float(v), 3) for v in box)
    for k, v in zip(BOX_KEYS, ss["box"]):
        ss[k] = v


# ---------------------------------------------------------------------------------------------
# The stage: the drag surfaces and the four method panels in one persistent element
# (roiviz.app.ui_stage), in one fragment, so that a release reruns only this part. While a box is
# dragged the browser computes every method itself; on release the stage sends the box here,
# the server traces it with roiviz (the reference for the table, the link and the exports) and
# sends its numbers back, and the stage shows how far its own numbers are from them.


@st.fragment
@ui.timed
def views_and_panels(input_key: str, fmap: features.FeatureMap, image, state: PlaygroundState) -> None:
    ss = st.session_state
    style = Style(presenter=bool(ss["presenter"]))
    stride = state.stride
    values = fmap.channel(state.channel)
    released, refused = released_box(values.shape, stride)
    if released is not None:
        set_box(released.box)
    elif refused:
        set_box(ss["box"])  # the inputs show the box still in use
        ss["box_error"] = refused
    box = ss["box"]
    level = pyramid_level(state, box, image)
    if level is not None and level.stride != stride:
        st.rerun()   # the box crossed a level boundary: the whole page loads that level's map
    feature_box = tuple(v / stride for v in box)
    if ss.get("box_error"):
        st.warning(f"{ss['box_error']} The previous box is kept.")
    methods = state.methods
    if not methods:
        st.info("Choose at least one method in the sidebar.")
    # Every method is traced for every setting the sidebar offers (without per-sample records,
    # roiviz.geometry.LIVE_SAMPLE_LIMIT); only an adaptive ratio on a box far larger than the map
    # goes past it. The exports thin what they draw past the sample budget (roiviz.drawing.thinned).
    n_samples = samples_per_method(box, stride, state.output_size, state.sampling_ratio)
    too_many = [m for m in ("roi_warp", "roi_align") if m in methods] if n_samples > LIVE_SAMPLE_LIMIT else []
    if too_many:
        names, them = " and ".join(REGISTRY[m].label for m in too_many), "they are" if len(too_many) > 1 else "it is"
        st.warning(f"{names} would take up to {n_samples:,} bilinear samples for this box, more than "
                   f"the {LIVE_SAMPLE_LIMIT:,} computed live, so {them} not shown. Choose a sampling "
                   "ratio (not adaptive) or draw a smaller box.")
    checked = tuple(m for m in methods if m not in too_many)
    traces = {}
    if checked:
        try:
            traces = cached_traces(f"{input_key}@{stride}", state.channel, box, state.settings(),
                                   checked, values)
        except ValueError as exc:
            st.error(f"{exc}")
    data = stage_data(
        values, box, state.settings(), checked, traces, style=style,
        image_uri=None if image is None else cached_display_image(input_key, image),
        image_shape=None if image is None else image.shape[:2],
        image_title="" if image is None else f"Image ({image.shape[1]} x {image.shape[0]} px)",
        map_title=f"Feature map {values.shape[1]} x {values.shape[0]} cells (stride {stride}, "
                  f"'{fmap.channel_names[state.channel]}')",
        seq=applied_seq())
    show_stage(data)

    if level is not None:
        with st.container(border=True, key="pyramid_level"):
            st.markdown(f"**Feature pyramid: level P{level.level}, stride {level.stride} px** "
                        f"(`{level.formula}`)")
            st.code("\n".join(level.steps()), language=None, wrap_lines=True)
    cols = st.columns(4)
    step = max(stride / 8.0, 0.25)
    for col, key, label in zip(cols, BOX_KEYS, ("x1 (px)", "y1 (px)", "x2 (px)", "y2 (px)")):
        col.number_input(label, key=key, step=step, format="%.2f", on_change=on_typed_box,
                         min_value=-MAX_COORD, max_value=MAX_COORD)
    st.caption(f"RoI in feature cells: x {feature_box[0]:.3f} to {feature_box[2]:.3f}, "
               f"y {feature_box[1]:.3f} to {feature_box[3]:.3f} "
               f"({feature_box[2] - feature_box[0]:.3f} x {feature_box[3] - feature_box[1]:.3f} cells). "
               f"The +/- buttons nudge the box by {step:g} px.")
    outside = box_outside_share(box, values.shape, stride)
    if outside > 0:
        st.info(f"{100 * outside:.1f}% of the box lies outside the feature map (which covers "
                f"0..{values.shape[1] * stride:g} x 0..{values.shape[0] * stride:g} image pixels): "
                "that part is drawn as 'outside'. RoI Pool skips cells off the map; RoI Align and "
                "roiviz's RoI Warp give a point up to half a cell past the map's border (one cell from "
                "the edge cell's centre) the edge cell's value, and a point further out 0: with "
                "aligned=True a point at x = -0.5 cell (the map starts at x = 0) reads the edge "
                "value, one at x = -0.6 reads 0. roiviz's Precise RoI Pooling integrates that same "
                "surface (the authors' code reads 0 off the map).")
    if not traces:
        return
    st.markdown("**The server's numbers** (the reference the stage checks its own against; "
                "hover a column's name, or open 'What the columns mean', for what it says)")
    st.html(summary_table(traces))
    query = current_state().to_query()
    st.query_params.from_dict(query)
    export_buttons(values, box, state, query, level, data)


def export_buttons(values, box, state: PlaygroundState, query, level, data) -> None:
    """The downloads: every chosen method in every file (RoI Warp and RoI Align past the sample
    budget as thinned traces, roiviz.drawing.thinned, and the file says so), named after the settings."""
    # The methods the stage shows (all chosen ones, but past LIVE_SAMPLE_LIMIT: see the warning).
    settings, methods, stem, title = state.settings(), tuple(data["methods"]), state.file_stem(), state.export_title()

    def figure_traces():
        return drawable_traces(values, box, settings, methods)

    def json_text():
        traces = figure_traces()
        return trace_json(traces, {"query": query, "pooled_at_stride": state.stride, "thinned": thinning(traces),
                                   **({"pyramid_level": level.to_dict(),
                                       "level_formula": level.formula} if level else {})})

    def blog_png():
        traces = figure_traces()
        return figure_png(blog_figure(traces, values, thinned=thinning_line(traces)), dpi=BLOG_DPI,
                          compress_level=1)

    def interactive_html():
        dense = samples_per_method(box, state.stride, state.output_size, state.sampling_ratio) > MAX_DRAWN_SAMPLES
        notes = ([f"With these settings a panel can have more sampling points than it draws one by one "
                  f"({MAX_DRAWN_SAMPLES:,}): it then draws a regular subset and says so; every number "
                  "uses all the samples."] if dense else [])
        return interactive_page(data, title, notes=notes).encode("utf-8")

    style = Style(presenter=state.presenter)
    ui.exports(PLAYGROUND, stem,
               lambda: figure_png(comparison_figure(figure_traces(), values, style=style),
                                  dpi=COMPARISON_DPI, compress_level=1),
               lambda: figure_svg(comparison_figure(figure_traces(), values, style=style)),
               json_text, query, title=title,
               link_caption="Copy link (reopens this view; the copy button is at the right):",
               blog_png=blog_png, share_toggle=True)
    ui.animation_download(PLAYGROUND, stem,
                          lambda: animate_gif(values, box, settings, methods).gif)
    ui.interactive_download(PLAYGROUND, stem, interactive_html)


def summary_table(traces) -> str:
    """The server's numbers as the page's table: one row per method, the summary's strings,
    each column's meaning in its header's tooltip (HTML, escaped, shown with ``st.html``: no
    Arrow table, whose code is a 0.74 MB download before the first paint, and no Markdown with
    raw HTML, whose parser is another 0.19 MB; benchmarks/bench_first_load.py)."""
    return summary_html({REGISTRY[m].label: row for m, row in summary_rows(traces).items()})


def show_the_code(methods) -> None:
    """Each chosen method's readable reference, under the stage (outside its fragment: the
    code does not change with the box, so a release does not send it again).

    A toggle, not an expander: an expander's content is sent and drawn while it is closed, and
    ``st.code`` makes the browser fetch Streamlit's syntax highlighter (a 1.56 MB chunk) before
    the page is usable. Off, the page sends no code at all."""
    methods = [m for m in METHODS if m in methods]   # teaching order, like the panels
    if not methods:
        return
    if not st.toggle("Show the code", key="show_code",
                     help="Each method's readable reference in Python: the loop the numbers "
                          "above follow."):
        return
    for tab, method in zip(st.tabs([REGISTRY[m].label for m in methods]), methods):
        tab.code(cached_reference_source(method), language="python")


# ---------------------------------------------------------------------------------------------


def playground_title(state: PlaygroundState) -> str:
    """The settings in the tab's title, e.g. ``"7x7, ratio 2, astronaut"``."""
    ratio = f"ratio {state.sampling_ratio}" if state.sampling_ratio else "adaptive ratio"
    source = state.sample if state.source == "sample" else state.source
    return f"{state.output_size[0]}x{state.output_size[1]}, {ratio}, {source}"


def playground() -> None:
    init_state()
    # A short title, so that the stage and all four panels fit under it on a projector.
    st.title(PAGE_TITLE)
    # The tip is drawn after the stage too, into this placeholder under the title (its link and
    # button, with their icons, made the stage wait: about a tenth of its first load in
    # interleaved runs, benchmarks/bench_first_load.py's visits).
    tip = st.container() if ui.first_visit_tip_due("pages/playground.py") else None
    if st.session_state["presenter"]:
        # A projector: the stage takes the whole width (the sidebar opens from its arrow) and
        # the caption one line, so the photo, the map and all four panels fit on the screen.
        st.set_page_config(initial_sidebar_state="collapsed")
        st.caption("Drag the box (or use the arrow keys). Red hatching: area a method ignores; "
                   "green: area it reads by mistake.")
    else:
        st.set_page_config(initial_sidebar_state="auto")
        st.caption("Drag the box on the photo or the feature map (or use the arrow keys) and watch RoI "
                   "Pool, RoI Warp, RoI Align and Precise RoI Pooling follow it: where each snaps the "
                   "box, how it cuts it into bins, where it samples and which value wins. Red "
                   "hatching is area a method ignores, green is area it reads by mistake.")
    ui.show_link_notices(PLAYGROUND)
    # The sidebar's widgets are drawn after the stage, into this placeholder at the sidebar's
    # top: their values are in the session state already (the link's on a first run, the
    # browser's afterwards), and sent first they made the browser fetch and render some twenty
    # widgets (their code: combo boxes, menus, number fields) before the stage's component
    # (benchmarks/bench_first_load.py).
    side = st.sidebar.container()
    fmap = input_and_stage(current_state())
    if tip is not None:
        with tip:
            ui.first_visit_tip("pages/playground.py")
    sidebar(side)
    if fmap is not None:
        ui.widget(PLAYGROUND, "ch", container=st.sidebar, options=range(fmap.shape[0]),
                  format_func=lambda i: f"{i}: {fmap.channel_names[i]}")


def input_and_stage(state: PlaygroundState) -> features.FeatureMap | None:
    """The input, the box and the stage with everything under it; returns the feature map
    shown (``None`` while there is none: an upload is awaited, or it failed)."""
    ui.page_title("Playground", playground_title(state))
    if state.presenter:
        ui.presenter_css()
    if state.pyramid and state.source not in ("sample", "upload"):
        st.info("The feature pyramid needs a photo (a sample or an upload): this input has one stride.")
    input_key, fmap, image = load_input(state)
    if fmap is None:
        return None
    if (level := pyramid_level(state, st.session_state.get("box"), image)) is not None:
        # With the pyramid on, the box's level sets the stride (the sidebar's stride is unused).
        state = replace(state, stride=level.stride)
        input_key, fmap, image = load_input(state)
    if state.channel >= fmap.shape[0]:
        st.session_state["ch"] = 0
        state = replace(state, channel=0)
    ss = st.session_state
    map_shape = fmap.shape[1:]
    # Keep the box across inputs and strides while it still overlaps the map.
    if ss.get("box") is not None and (problem := box_problem(ss["box"], map_shape, state.stride)):
        st.warning(f"{problem} The default box is shown instead.")
        ss["box"] = None
    if ss.get("box") is None:
        # The toy grid opens on the article's worked example; other inputs on a central box.
        toy_box = input_key == "toy" and not box_problem(SEED_EXAMPLE_BOX, map_shape, state.stride)
        ss["box"] = tuple(map(float, SEED_EXAMPLE_BOX)) if toy_box else default_box(map_shape, state.stride)
    if (level := pyramid_level(state, ss["box"], image)) is not None and level.stride != state.stride:
        # The default box (drawn for the sidebar's stride) reads another level: load that one.
        state = replace(state, stride=level.stride)
        input_key, fmap, image = load_input(state)
        map_shape = fmap.shape[1:]
    for k, v in zip(BOX_KEYS, ss["box"]):
        ss[k] = v
    ss["_map_shape"], ss["_stride"] = map_shape, state.stride
    ss["_state"] = replace(state, box=ss["box"])
    ss["_last_input"] = (input_key, fmap, image)
    views_and_panels(input_key, fmap, image, replace(state, box=ss["box"]))
    show_the_code(state.methods)
    return fmap


playground()
