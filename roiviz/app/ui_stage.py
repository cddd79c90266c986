"""Streamlit glue for the live stage (``assets/stage/``, :mod:`roiviz.app.stage`).

The component is registered once per process with its HTML, CSS and JS read from
``assets/stage/`` (the JS is the browser engine and the stage bundled into one module by
:func:`roiviz.drawing.stage_bundle.bundle_modules`), and mounted under the fixed key :data:`STAGE_KEY`,
so Streamlit updates it in place and never remounts it while the page lives. A page other
than the Playground mounts it under its own ``key`` (the Feature pyramids page: ``"pyr_stage"``),
so that each page's releases are counted apart.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import streamlit as st

from roiviz.resources import STAGE_DIR
from roiviz.app.stage import StageBox, parse_stage_value
from roiviz.drawing.stage_bundle import stage_module

#: The stage's widget key: its released box is ``st.session_state[STAGE_KEY]["box"]``.
STAGE_KEY = "stage"
#: The last stage value the page has applied (so a value is applied once).
_APPLIED = "_stage_applied"


@functools.lru_cache(maxsize=1)
def stage_script() -> str:
    """The engine, the drawing and the stage as one JS module (about 55 kB).

    Streamlit sends the script again with every data change, so comment lines and indentation
    are left out (the files keep them; no line of ours continues a string onto the next).
    """
    source = stage_module()
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//")) + "\n"


@functools.lru_cache(maxsize=1)
def _stage_renderer():
    return st.components.v2.component(
        "roiviz.app.stage", css=(STAGE_DIR / "stage.css").read_text(encoding="utf-8"), js=stage_script())


def _ignore() -> None:
    """The box is read from the session state in the script (AppTest sets it there too)."""


def _applied_key(key: str) -> str:
    return _APPLIED if key == STAGE_KEY else f"{_APPLIED}_{key}"


def released_box(map_shape: tuple[int, int], stride: float,
                 key: str = STAGE_KEY) -> tuple[StageBox | None, str | None]:
    """The box released on the stage ``key`` since the last run, validated, or ``(None, None)``.

    Returns:
        ``(box, None)`` for a new valid release, ``(None, message)`` for a new invalid one (the
        message says why, without repeating the value), ``(None, None)`` if nothing is new.
    """
    ss = st.session_state
    value = (ss.get(key) or {}).get("box") if isinstance(ss.get(key), dict) else None
    if value is None or value == ss.get(_applied_key(key)):
        return None, None
    ss[_applied_key(key)] = value
    try:
        return parse_stage_value(value, map_shape, stride), None
    except ValueError as exc:
        return None, str(exc)


def applied_seq(key: str = STAGE_KEY) -> int:
    """The release counter of the last value of the stage ``key`` the page has read (0 before any)."""
    value = st.session_state.get(_applied_key(key))
    seq = value.get("seq") if isinstance(value, dict) else 0
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0 else 0


def show_stage(data: dict, on_release: Callable[[], None] = _ignore, key: str = STAGE_KEY):
    """Mount (or update in place) the stage ``key`` with ``data`` (:func:`roiviz.app.stage.stage_data`)."""
    return _stage_renderer()(key=key, data=data, default={"box": None},
                             on_box_change=on_release)
