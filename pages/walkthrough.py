"""Walkthrough: the seed article's worked example, one step at a time.

A thin page: widgets and layout only. The steps (text, numbers, what to highlight) come from
:func:`roiviz.lessons.walkthrough.walkthrough`, the figure from :func:`roiviz.drawing.render_mpl.lesson_figure`.
Link state: ``?step=1..13&conv=article|library&presenter=0|1``.
"""

from __future__ import annotations

import streamlit as st

from roiviz.app.ui import (
    exports,
    page_title,
    load_link,
    next_in_lesson,
    presenter_toggle,
    presenting,
    show_link_notices,
    sync_query,
    widget,
)
from roiviz.drawing.export import figure_png, figure_svg, trace_json
from roiviz.drawing.legible import PROJECTOR_SHOWN_PX, for_projector
from roiviz.lessons.walkthrough import IMAGE_CREDIT, STEP_KEYS, walkthrough
from roiviz.app.params import WALKTHROUGH
from roiviz.drawing.render_mpl import lesson_figure
from roiviz.drawing.style import Style

N_STEPS = len(STEP_KEYS)
#: On a projector a photo step (a tall picture) keeps its explanation beside it, in this share
#: of the page's width (a little under the 5 : 3 column's, for the gap); the other steps' figures
#: take the whole width.
PHOTO_SHARE = 0.6


@st.cache_data(max_entries=64, show_spinner=False)
def step_files(convention: str, step_key: str, presenter: bool) -> tuple[bytes, bytes, str]:
    """PNG, SVG and JSON of one step (cached: each is drawn once per style)."""
    lesson = walkthrough(convention)
    step = lesson.step(step_key)
    fig = for_projector(lesson_figure(lesson, step, style=Style(presenter=presenter)), presenter,
                        PROJECTOR_SHOWN_PX * (PHOTO_SHARE if step.figure == "image" else 1.0))
    extra = {"page": "walkthrough", "step": STEP_KEYS.index(step_key) + 1, "step_key": step_key,
             "title": step.title, "convention": convention, "numbers": [list(n) for n in step.numbers]}
    traces = {k: lesson.traces[k] for k in step.trace_keys()}
    return figure_png(fig), figure_svg(fig), trace_json(traces, extra)


def move(delta: int) -> None:
    st.session_state["walk_step"] = min(max(st.session_state["walk_step"] + delta, 1), N_STEPS)


load_link(WALKTHROUGH)
st.title("Walkthrough: one proposal, four ways to pool it")
show_link_notices(WALKTHROUGH)

# On a projector the settings go to the sidebar, so that the step's figure fits under the stepper.
on_projector = presenting()
top = (st.sidebar, st.sidebar) if on_projector else st.columns([3, 1], vertical_alignment="center")
with top[0]:
    widget(WALKTHROUGH, "conv", "radio", horizontal=True, persist_state="session")
with top[1]:
    style = presenter_toggle(WALKTHROUGH)

conv = st.session_state["walk_conv"]
index = st.session_state.setdefault("walk_step", 1)
nav = st.columns([2.3, 3.4, 2.3] if on_projector else [1.4, 5, 1.4], vertical_alignment="bottom")
nav[0].button("Previous", key="walk_prev", on_click=move, args=(-1,), disabled=index <= 1,
              width="stretch", shortcut="PageUp",
              help="Previous step (PageUp, or a presentation clicker's back button)")
nav[1].slider(WALKTHROUGH["step"].label, 1, N_STEPS, key="walk_step", persist_state="session")
nav[2].button("Next", key="walk_next", on_click=move, args=(1,), disabled=index >= N_STEPS,
              width="stretch",
              shortcut="PageDown", help="Next step (PageDown, or a presentation clicker)")

index = st.session_state["walk_step"]
lesson = walkthrough(conv)
step = lesson.steps[index - 1]
png, svg, json_text = step_files(conv, step.key, style.presenter)

page_title("Walkthrough", f"step {index} of {N_STEPS}, {conv} rounding")
st.subheader(f"Step {index} of {N_STEPS}: {step.title}")
# On a projector the figure takes the page's width (its texts sized for it), the explanation
# under it; elsewhere the explanation is beside the figure.
if style.presenter and step.figure != "image":
    picture = st.container()
    text, numbers = st.columns([5, 3], gap="medium")
else:
    picture, text = st.columns([5, 3], gap="medium")
    numbers = text
with picture:
    st.image(png, width="stretch")
    if step.figure == "image":
        st.caption(IMAGE_CREDIT)
with text:
    st.markdown(step.text)
with numbers:
    st.table({"quantity": [label for label, _ in step.numbers], "value": [value for _, value in step.numbers]},
             hide_index=True, hide_header=True)
    if step.differs:
        st.info(step.differs)
    if index == N_STEPS:
        next_in_lesson("pages/walkthrough.py")

query = WALKTHROUGH.to_query({"step": index, "conv": conv, "presenter": style.presenter})
exports(WALKTHROUGH, f"roiviz-walkthrough-step{index}-{conv}", png, svg, json_text, query)
sync_query(query)
