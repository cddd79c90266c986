"""Streamlit glue for the live stage (``assets/stage/``, :mod:`roiviz.app.stage`).

The component is registered once per process with its CSS and JS read from ``assets/stage/``
(the JS is the browser engine and the stage bundled into one module by
:func:`roiviz.drawing.stage_bundle.bundle_modules`), and mounted under the fixed key :data:`STAGE_KEY`,
so Streamlit updates it in place and never remounts it while the page lives. A page other
than the Playground mounts it under its own ``key`` (the Feature pyramids page: ``"pyr_stage"``),
so that each page's releases are counted apart.

What a release sends is kept small (issue 21, "the stage served once"):

- the JS and CSS are files Streamlit serves (:mod:`roiviz.app.stage_files`), fetched once per
  page, when roiviz is installed (``pip install -e .``, as ``make run`` and ``make test`` do)
  so that Streamlit finds the component's ``asset_dir`` in ``pyproject.toml``. Without an
  install (``streamlit run app.py`` with only ``requirements.txt``, e.g. a hosting service
  that does not install the repository) the app still works: the script goes inline with
  every change, as before, and the server log says so once;
- the photo, the map, the style and the notes go whole only until the browser says (with a
  release) that it holds them (:mod:`roiviz.app.stage_parts`); the stage asks again (trigger
  ``missing``) for a part it no longer holds.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

import streamlit as st
from streamlit.errors import StreamlitAPIException

from roiviz.resources import STAGE_DIR
from roiviz.app.stage import StageBox, parse_stage_value
from roiviz.app.stage_files import write_stage_files
from roiviz.app.stage_parts import held_parts, pack
from roiviz.drawing.stage_bundle import stage_module

_LOG = logging.getLogger(__name__)

#: The stage's widget key: its released box is ``st.session_state[STAGE_KEY]["box"]``.
STAGE_KEY = "stage"
#: The last stage value the page has applied (so a value is applied once).
_APPLIED = "_stage_applied"
#: The component's name: ``<project>.<component>`` of ``pyproject.toml``'s
#: ``[[tool.streamlit.component.components]]`` (``name = "app.stage"``).
COMPONENT = "roiviz.app.stage"
#: Stage keys whose browser reported a missing part: their next data goes whole.
_SEND_WHOLE = "_stage_send_whole"
#: How long (s) a session's first run pauses after sending the stage, when a browser is on the
#: other end (see :func:`_let_the_stage_load_first`).
FIRST_RUN_PAUSE_S = 0.25
#: Set once the session's first run has paused.
_PAUSED = "_stage_first_run_paused"


@functools.lru_cache(maxsize=1)
def stage_script() -> str:
    """The engine, the drawing and the stage as one JS module (about 83 kB).

    Served as a file (or, without an install, sent inline with every data change), so comment
    lines and indentation are left out (the files keep them; no line of ours continues a string
    onto the next).
    """
    source = stage_module()
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//")) + "\n"


@functools.lru_cache(maxsize=1)
def _stage_renderer():
    """The component: its JS and CSS served as files if Streamlit knows its ``asset_dir``, else inline."""
    css = (STAGE_DIR / "stage.css").read_text(encoding="utf-8")
    files = write_stage_files(stage_script(), css)
    if files is not None:
        try:
            return st.components.v2.component(COMPONENT, css=files.css, js=files.js)
        except StreamlitAPIException as exc:
            _LOG.warning("roiviz: the stage's script goes inline with every release (about 80 kB): "
                         "install roiviz (pip install -e .) so Streamlit serves it once. (%s)", exc)
    return st.components.v2.component(COMPONENT, css=css, js=stage_script())


def _ignore() -> None:
    """The box is read from the session state in the script (AppTest sets it there too)."""


def _held_parts(key: str) -> frozenset[str]:
    """The parts the browser of stage ``key`` holds, by its last release (none after a ``missing``)."""
    whole = st.session_state.get(_SEND_WHOLE)
    if isinstance(whole, set) and key in whole:
        whole.discard(key)
        return frozenset()
    value = st.session_state.get(key)
    return held_parts(value.get("box")) if isinstance(value, dict) else frozenset()


def _send_whole(key: str) -> None:
    """The stage ``key`` lacks a part its last release said it held: send every part again."""
    st.session_state.setdefault(_SEND_WHOLE, set()).add(key)


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
    """Mount (or update in place) the stage ``key`` with ``data`` (:func:`roiviz.app.stage.stage_data`),
    sending only the parts of it this session's browser does not hold (:func:`roiviz.app.stage_parts.pack`)."""
    result = _stage_renderer()(key=key, data=pack(data, _held_parts(key)), default={"box": None},
                               on_box_change=on_release,
                               on_missing_change=functools.partial(_send_whole, key))
    _let_the_stage_load_first()
    return result


def _let_the_stage_load_first() -> None:
    """On a session's first run, pause briefly once the stage's element is sent.

    A new visitor's browser fetches the code of each kind of element as it first draws one.
    Sent at once, the stage and the forty-odd chunks of the widgets under it and in the sidebar
    (number fields, combo boxes, menus) are drawn in one go: the stage waits for them all, and
    then asks for its own script behind them, six requests at a time. Paused, the browser draws
    the stage alone and fetches its script first; the widgets follow a quarter of a second
    later (measured: the stage usable at 0.84-1.2 s instead of 1.24-1.26 s after navigation,
    ``benchmarks/bench_first_load.py``). Only once per session, and only with a browser on the
    other end (a client without one, such as Streamlit's AppTest, sends no User-Agent).
    """
    ss = st.session_state
    if ss.get(_PAUSED):
        return
    ss[_PAUSED] = True
    try:
        browser = bool(st.context.headers.get("User-Agent"))
    except Exception:  # noqa: BLE001 - no request context (a bare script run): nothing to wait for
        browser = False
    if browser:
        time.sleep(FIRST_RUN_PAUSE_S)
