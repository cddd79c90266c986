"""A real Streamlit server and a real headless Chromium for browser tests.

Chromium is Debian's ``/usr/bin/chromium`` driven by Playwright (never ``playwright install``).
Without it, browser tests fail under CI (``CI`` set) and are skipped elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_process(log_path: Path | None = None, timeout: float = 90.0, extra_args=(),
                      script: Path = ROOT / "app.py", warm: bool = False):
    """Run ``streamlit run <script>`` (the app by default) headless on a free port; yield
    ``(base_url, pid)``.

    Shared by the browser tests and ``benchmarks/`` (which read the server's memory via ``pid``).
    ``warm``: start it as ``make run`` and ``make serve`` do, ``python -m roiviz.app.warm``
    (healthy once the pages' modules are imported); by default a plain ``streamlit run``.
    """
    port = free_port()
    log = open(log_path, "w") if log_path else subprocess.DEVNULL
    run = ["-m", "roiviz.app.warm"] if warm else ["-m", "streamlit", "run"]
    proc = subprocess.Popen(
        [sys.executable, *run, str(script), "--server.headless=true",
         f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
         *extra_args],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not become healthy (exit code {proc.poll()})")
            time.sleep(0.3)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log is not subprocess.DEVNULL:
            log.close()


@contextlib.contextmanager
def streamlit_server(timeout: float = 90.0, script: Path = ROOT / "app.py"):
    """Run ``streamlit run <script>`` (the app by default) headless on a free port; yield its
    base URL."""
    log = ARTIFACTS / f"server-{time.time_ns()}.log" if ARTIFACTS.exists() else None
    with streamlit_process(log, timeout, script=script) as (url, _pid):
        yield url


def box_from_url(url: str) -> tuple[float, ...] | None:
    """The Playground's box ``(x1, y1, x2, y2)`` from the ``box=`` query parameter of ``url``."""
    query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    return tuple(float(v) for v in query["box"][0].split(",")) if "box" in query else None


@contextlib.contextmanager
def chromium_browser():
    """A headless Debian Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def app_page(width: int, height: int, timeout_ms: int = 60_000):
    """A Chromium page of a fresh app server (:func:`streamlit_server`), ``width`` x ``height``,
    downloads accepted, opened at "/" once app.py's navigation (its "Playground" entry) is drawn;
    ``page.url_base`` is the server's URL. (A deep link as a fresh server's first request works
    too: test_browser_first_visit.py.)"""
    require_chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as url, chromium_browser() as browser:
        context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
        try:
            page = context.new_page()
            page.set_default_timeout(timeout_ms)
            page.goto(url + "/")
            page.locator("[data-testid=stSidebarNav]").get_by_text("Playground").wait_for()
            page.url_base = url  # type: ignore[attr-defined]
            yield page
        finally:
            context.close()


def save_download(page, button: str, timeout_ms: int = 30_000) -> Path:
    """Click the element ``button`` (a selector), wait for its download and save it under
    tests/artifacts by its suggested name; returns the saved file's path."""
    with page.expect_download(timeout=timeout_ms) as info:
        page.locator(button).click()
    download = info.value
    path = ARTIFACTS / download.suggested_filename
    download.save_as(str(path))
    return path
