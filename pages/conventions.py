"""Why don't my numbers match? Every framework's RoI convention, and a detective for your numbers.

A thin page: widgets and layout only. The dialects, the detective and the probe kit are
:mod:`roiviz.conventions`; the drawings :mod:`roiviz.drawing.render_conventions`.
Link state: ``?src=paste|upload|kit&a=<id>&b=<id>&sr=2&presenter=0|1``.
"""

from __future__ import annotations

import json

import numpy as np
import streamlit as st

from roiviz import samples
from roiviz.conventions import BY_ID, DIALECTS, RUN_HERE, compute, identify, identify_kit, probe_inputs, probe_outputs
from roiviz.conventions import native_box, sample_grid
from roiviz.conventions.inputs import parse_array, parse_numbers, parse_scale
from roiviz.conventions.report import card_records, example_texts, kit_json, region_of
from roiviz.features import image_feature_map
from roiviz.app.params import WHY, parse_box
from roiviz.drawing.render_conventions import difference_figure, sampling_figure
from roiviz.app.ui import load_link, presenter_toggle, show_link_notices, sync_query, widget

ss = st.session_state
RATIOS = ("unknown",) + tuple(str(r) for r in range(17))
DEFAULT_BOX = (180.0, 60.0, 330.0, 210.0)   # the Playground's first box on the sample photo


@st.cache_data(max_entries=4, show_spinner=False)
def playground_map(name: str, stride: int) -> np.ndarray:
    return image_feature_map(samples.load_sample_image(name), stride).values


def fill_kit_outputs() -> None:
    """The kit's text areas get a dialect's probe outputs (a callback: before the widgets exist)."""
    demo = ss.get("why_kit_demo")
    if demo:
        for i, out in enumerate(probe_outputs(demo)):
            ss[f"why_kit_{i}"] = json.dumps(np.asarray(out, np.float64).tolist())


def status_badge(status: str) -> str:
    return (":green-badge[run here: equal to the real library on 300 random cases]" if status == RUN_HERE
            else ":orange-badge[ported from source, not run]")


def show_card(dialect_id: str, heading: str) -> None:
    d = BY_ID[dialect_id]
    st.markdown(f"#### {heading}: `{d.id}` {d.name}")
    st.markdown(status_badge(d.status))
    st.markdown("**Produced by:** " + "; ".join(d.produced_by))
    st.table(card_records(d), hide_index=True)


def draw_sampling(features: np.ndarray, region_xyxy, scale: float, output_size, grids_spec, title: str) -> None:
    """grids_spec: [(label, dialect, box as passed, units, layout, ratio)]."""
    grids = {}
    for label, dialect, box, units, layout, ratio in grids_spec:
        grids[label] = sample_grid(dialect, box, features.shape[-2:], output_size, spatial_scale=scale,
                                   sampling_ratio=ratio, units=units, layout=layout)
    cells = tuple(v * scale for v in region_xyxy)
    fig = sampling_figure(features[0], cells, grids, title=title)
    st.pyplot(fig, width="stretch")


# ---------------------------------------------------------------------------------------------

load_link(WHY)
st.title("Why don't my numbers match?")
st.markdown(
    "A detector trained in PyTorch, exported to ONNX, run in OpenVINO, TensorRT or Core ML, or rewritten "
    "in TensorFlow: the pooled features stop matching, because each framework has its own **RoI "
    f"convention**. roiviz knows {len(DIALECTS)} of them (the *dialects*), each with its rules and "
    "sources. Paste what your framework gave and the detective names the convention behind it.")
show_link_notices(WHY)
style = presenter_toggle(WHY)

find, compare, catalogue = st.tabs(["Find your convention", "Compare two dialects", "The catalogue"])

# --------------------------------------------------------------------------- Find your convention
with find:
    widget(WHY, "src", "radio", horizontal=True)
    source = ss.get(WHY.widget_key("src"), "paste")
    if source == "paste" and st.button("Fill in an example (ONNX opset 10 numbers)", key="why_example"):
        for k, v in example_texts().items():
            ss[f"why_in_{k}"] = v
    kit = probe_inputs()
    if source == "kit":
        c1, c2 = st.columns([2, 3])
        c1.download_button("Download the probe kit (JSON)", kit_json(), file_name="roiviz-probe-kit.json",
                           mime="application/json", on_click="ignore")
        c2.selectbox("Or try it: fill the outputs with a dialect's answers", ("",) + tuple(BY_ID),
                     key="why_kit_demo", format_func=lambda i: "choose a dialect" if not i else i,
                     on_change=fill_kit_outputs)
    with st.form("why_form"):
        if source == "kit":
            st.markdown(
                "For a framework you cannot look inside: run these small maps and boxes through it (write each "
                "box the way your framework takes boxes: order, normalisation) with the settings shown, then "
                "paste the five outputs. Each probe separates dialects the others cannot.")
            st.table([{"probe": p.name, "what it reveals": p.purpose, "map": "x".join(map(str, p.features.shape)),
                       "box (x1, y1, x2, y2), image px": ", ".join(f"{v:g}" for v in p.box),
                       "spatial_scale": f"{p.spatial_scale:g}", "output": "x".join(map(str, p.output_size)),
                       "sampling_ratio": p.sampling_ratio} for p in kit], hide_index=True)
            for i, p in enumerate(kit):
                st.text_area(f"Output of '{p.name}' ({p.features.shape[0]} x {p.output_size[0]} x "
                             f"{p.output_size[1]}, JSON or CSV)", key=f"why_kit_{i}", height=80)
        else:
            if source == "paste":
                st.text_area("Feature map: [H, W] or [C, H, W] as JSON, or [H, W] as CSV rows", key="why_in_map",
                             height=120)
                st.text_area("Output your framework gave: [PH, PW] or [C, PH, PW], JSON or CSV", key="why_in_output",
                             height=80)
            else:
                st.file_uploader("Feature map (.npy, .json or .csv)", type=["npy", "json", "csv", "txt"],
                                 key="why_up_map")
                st.file_uploader("Output (.npy, .json or .csv)", type=["npy", "json", "csv", "txt"],
                                 key="why_up_output")
            left, mid, right = st.columns(3)
            left.text_input("Box, the 4 numbers exactly as you passed them", key="why_in_box",
                            placeholder="e.g. 2, 1, 11, 9")
            mid.text_input("spatial_scale (1 / stride)", key="why_in_scale", placeholder="e.g. 0.0625 or 1/16")
            right.selectbox("Sampling ratio", RATIOS, key="why_in_ratio",
                            format_func=lambda r: "I don't know" if r == "unknown" else ("0 (adaptive)" if r == "0" else r))
        submitted = st.form_submit_button("Find the convention", type="primary")
    if submitted:
        try:
            if source == "kit":
                outputs = [parse_array(ss.get(f"why_kit_{i}", ""), f"output of '{p.name}'") for i, p in enumerate(kit)]
                diagnosis = identify_kit(outputs)
                probe = kit[0]
                first = diagnosis.matches[0] if diagnosis.matches else None
                case = dict(features=probe.features, scale=probe.spatial_scale, output_size=probe.output_size,
                            region=probe.box, kit=True)
            else:
                if source == "paste":
                    features = parse_array(ss.get("why_in_map", ""), "map")
                    output = parse_array(ss.get("why_in_output", ""), "output")
                else:
                    up_map, up_out = ss.get("why_up_map"), ss.get("why_up_output")
                    if up_map is None or up_out is None:
                        raise ValueError("upload both the map and the output")
                    features = parse_array(up_map.getvalue(), "map", up_map.name)
                    output = parse_array(up_out.getvalue(), "output", up_out.name)
                box = parse_numbers(ss.get("why_in_box", ""))
                scale = parse_scale(ss.get("why_in_scale", "") or "1")
                ratio = ss.get("why_in_ratio", "unknown")
                diagnosis = identify(features, box, output, spatial_scale=scale,
                                     sampling_ratio=None if ratio == "unknown" else int(ratio))
                f3 = features if features.ndim == 3 else features[None]
                case = dict(features=f3, scale=scale, output_size=tuple(np.asarray(output).shape[-2:]),
                            box=box[-4:], kit=False)
            ss["why_result"] = (diagnosis, case)
        except ValueError as err:
            st.error(f"Could not check these numbers: {err}. Your inputs are kept; the last result stays below.")

    result = ss.get("why_result")
    if result is None:
        st.info("Paste or upload your numbers (or fill in the example), then press **Find the convention**.")
    else:
        diagnosis, case = result
        (st.success if diagnosis.found else st.warning)(diagnosis.message)
        rows = diagnosis.top if diagnosis.found else diagnosis.closest
        st.table([{"dialect": m.dialect, "produced by": BY_ID[m.dialect].produced_by[0],
                   "settings it needed": ", ".join(f"{k}={v}" for k, v in m.settings.items() if v != ()),
                   "max |difference|": f"{m.max_abs_diff:.3g}", "status": BY_ID[m.dialect].status}
                  for m in rows], hide_index=True)
        best = rows[0]
        st.markdown(best.explanation)
        st.info(f"**One-line fix:** {BY_ID[best.dialect].fix}")
        show_card(best.dialect, "Your framework's convention" if diagnosis.found else "The closest convention")
        s = best.settings
        features = case["features"]
        if case["kit"]:
            region = case["region"]
            theirs = native_box(best.dialect, region, features.shape[-2:], case["scale"], s["normalisation"],
                                s["box_order"])
        else:
            theirs = case["box"]
            region = region_of(theirs, features.shape[-2:], case["scale"], s["normalisation"], s["box_order"])
        ratio = int(s.get("sampling_ratio", 0))
        st.markdown("**Where it sampled, against torchvision `roi_align(aligned=True)`** (same box, same "
                    "output size and sampling ratio; the dashed boxes are the extents the bins split):")
        draw_sampling(features, region, case["scale"], case["output_size"],
                      [("torchvision aligned=True", "tv_align", region, "absolute", "xyxy", ratio),
                       (best.dialect, best.dialect, theirs, s["normalisation"], s["box_order"], ratio)],
                      f"{best.dialect} against torchvision aligned=True")

# --------------------------------------------------------------------------- Compare two dialects
with compare:
    st.markdown("Pick any two dialects and see where each samples and how their numbers differ on the "
                "Playground's box and map (the sample photo's first feature channel).")
    c1, c2 = st.columns(2)
    widget(WHY, "a", container=c1)
    widget(WHY, "b", container=c2)
    c3, c4, c5 = st.columns(3)
    image_name = ss.get("img") or samples.sample_image_names()[0]
    stride = int(ss.get("stride") or 16)
    default_box = ss.get("box") or DEFAULT_BOX
    box_text = c3.text_input("Box x1, y1, x2, y2 (image pixels; the Playground's)", key="why_cmp_box",
                             value=", ".join(f"{v:g}" for v in default_box))
    size_text = c4.selectbox("Output size", ("1x1", "2x2", "3x3", "5x5", "7x7"), index=2, key="why_cmp_out")
    widget(WHY, "sr", container=c5)
    try:
        cmp_box = parse_box(box_text.replace(" ", ""))
        ss["_why_cmp_last"] = cmp_box
    except ValueError as err:
        st.error(f"Box not used: {err}. Showing the last valid box.")
        cmp_box = ss.get("_why_cmp_last", DEFAULT_BOX)
    ph, pw = (int(v) for v in size_text.split("x"))
    a_id, b_id = ss.get(WHY.widget_key("a"), "tv_align"), ss.get(WHY.widget_key("b"), "tv_align_legacy")
    ratio = int(ss.get(WHY.widget_key("sr"), 2))
    values = playground_map(image_name, stride)[:1]
    if ph * pw > 1:   # position-sensitive dialects read one channel group per bin: repeat the channel
        values = np.repeat(values, ph * pw, 0)
    scale = 1.0 / stride
    outs, specs = {}, []
    for did in (a_id, b_id):
        d = BY_ID[did]
        box = native_box(d, cmp_box, values.shape[-2:], scale)
        outs[did] = compute(d, values, np.asarray(box, np.float32), (ph, pw), spatial_scale=scale,
                            sampling_ratio=ratio).numpy()[0, 0]
        specs.append((did, did, box, d.units[0], d.layouts[0], ratio))
    diff = np.abs(outs[a_id] - outs[b_id])
    worst = float(np.nanmax(diff)) if not np.isnan(diff).all() else float("nan")
    st.markdown(f"**max |{a_id} - {b_id}| = {worst:.4g}** on this box "
                f"({image_name}, stride {stride}, {ph} x {pw} bins, sampling ratio {ratio or 'adaptive'}).")
    draw_sampling(values, cmp_box, scale, (ph, pw), specs, f"{a_id} against {b_id}")
    st.pyplot(difference_figure(outs[a_id], outs[b_id], (a_id, b_id)), width="stretch")
    left, right = st.columns(2)
    with left:
        show_card(a_id, "First")
    with right:
        show_card(b_id, "Second")

# --------------------------------------------------------------------------- The catalogue
with catalogue:
    st.markdown("Every dialect, who produces it, and whether roiviz checked it against the real library here "
                "(**run here**) or ported its kernel line by line (**ported from source, not run**). "
                "Dialects on one line of *equal everywhere* give the same numbers on every input.")
    st.table([{"id": d.id, "name": d.name, "produced by": "; ".join(d.produced_by), "status": d.status}
              for d in DIALECTS], hide_index=True)

query = WHY.to_query({"src": ss.get(WHY.widget_key("src"), "paste"), "a": ss.get(WHY.widget_key("a"), "tv_align"),
                      "b": ss.get(WHY.widget_key("b"), "tv_align_legacy"), "sr": ratio,
                      "presenter": style.presenter})
sync_query(query)
