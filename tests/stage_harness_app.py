"""A small page that mounts the live stage alone (browser tests of the stage, benchmarks).

``streamlit run tests/stage_harness_app.py`` shows the astronaut at stride 16 (``?src=toy`` the
toy grid; ``?out=7`` a 7 x 7 output; ``sr``, ``reduce``, ``aligned``, ``conv`` as in the
Playground's link; ``?presenter=1``), the stage, and below it the server's
table and box. The Playground mounts the stage the same way (``roiviz.ui_stage``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st  # noqa: E402

from roiviz import features, samples  # noqa: E402
from roiviz.render_plotly import encode_display_image  # noqa: E402
from roiviz.stage import stage_data  # noqa: E402
from roiviz.state import PlaygroundState, default_box  # noqa: E402
from roiviz.style import Style  # noqa: E402
from roiviz.methods import label, summary_rows, trace_all  # noqa: E402
from roiviz.ui_stage import applied_seq, released_box, show_stage  # noqa: E402

st.set_page_config(layout="wide", page_title="roiviz stage harness")
query = st.query_params.to_dict()
out = int(query.get("out", "3").split("x")[0])
state = PlaygroundState(output_size=(out, out), sampling_ratio=int(query.get("sr", "2")),
                        reduce=query.get("reduce", "avg"), aligned=query.get("aligned", "1") == "1",
                        convention=query.get("conv", "library"))
stride = state.stride
if query.get("src") == "toy":
    fmap, image, uri = features.toy_grid(stride=stride), None, None
else:
    image = samples.load_sample_image("astronaut")
    fmap, uri = features.image_feature_map(image, stride), encode_display_image(image)
values = fmap.channel(0)
ss = st.session_state
if "box" not in ss:
    ss["box"] = default_box(values.shape, stride)
box, problem = released_box(values.shape, stride)
if box is not None:
    ss["box"] = box.box
if problem:
    st.warning(f"{problem} The previous box is kept.")
settings = state.settings()
traces = trace_all(values, ss["box"], settings)
show_stage(stage_data(values, ss["box"], settings, list(traces), traces,
                      style=Style(presenter=query.get("presenter") == "1"),
                      image_uri=uri, image_shape=None if image is None else image.shape[:2],
                      map_title=f"Feature map {values.shape[1]} x {values.shape[0]} cells",
                      image_title="Image 512 x 512 px", seq=applied_seq()))
st.table([{"method": label(m), **row} for m, row in summary_rows(traces).items()])
st.text(f"server box: {','.join(f'{v:g}' for v in ss['box'])}")
