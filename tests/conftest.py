"""Fixtures shared by the browser tests (helpers in tests/browser_support.py)."""

from __future__ import annotations

import pytest
from browser_support import ARTIFACTS, chromium_browser, require_chromium, streamlit_server


@pytest.fixture(scope="module")
def server():
    """``(base_url, browser)``: the app served headless (``streamlit run app.py``) and a headless
    Debian Chromium, one of each per test module."""
    require_chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as url, chromium_browser() as browser:
        yield url, browser
