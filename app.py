"""roiviz: the app's entry point. Run with ``streamlit run app.py``, or warm (the modules
imported before the server answers: ``make run``, ``roiviz app``) with ``python -m roiviz.app.warm``.

This file holds only the navigation: the pages are ``pages/*.py`` (the Playground first), listed
once in :data:`roiviz.app.ui.PAGES`, and share the helpers of :mod:`roiviz.app.ui`.
"""

from __future__ import annotations

# Streamlit runs each session's first script run in its own thread. When a class opens the link
# at once on a fresh server, those threads import the heavy modules concurrently, and Python can
# hand one of them a partially initialized module (plotly imports pandas lazily: "partially
# initialized module 'pandas' has no attribute 'Series'", 6 of 8 pages in
# `benchmarks/hall.py --cold --students 8`). Imported first and eagerly, they are complete
# before any figure or table is built, and gc.freeze below covers their objects too.
import pandas  # noqa: F401
import pyarrow  # noqa: F401

from pathlib import Path

import streamlit as st

from roiviz.app import ui  # noqa: F401 - the pages' heavy imports, before gc.freeze
from roiviz.drawing import render_mpl  # noqa: F401 - likewise
from roiviz.app.warm import freeze_once
from roiviz.resources import ASSETS_DIR

ROOT = Path(__file__).resolve().parent
FAVICON = ASSETS_DIR / "favicon.png"   # local: no icon font is fetched from the internet


def main() -> None:
    # Streamlit runs a full garbage collection after every script run (runner.postScriptGC).
    # With torch, pandas and plotly imported, that scans some 300,000 long-lived objects: about
    # 120 ms of CPU per rerun on a 2-core machine, holding the GIL while every other session
    # waits. Once per server process, the objects that exist after the imports are frozen
    # (gc.freeze), so the collector only scans what later runs create (benchmarks/classroom.py).
    # `make run` (roiviz.app.warm) has done it before the server started.
    freeze_once()
    st.set_page_config(page_title="roiviz: RoI Pool vs RoI Align", page_icon=str(FAVICON),
                       layout="wide")
    ui.navigation(ROOT)


main()
