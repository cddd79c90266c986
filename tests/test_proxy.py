"""All cores serving: the proxy recipe (deploy/serve.py: two workers behind HAProxy) in a browser.

A Chromium session opens the link through the proxy and drags a box; the worker that holds its
session is killed (SIGKILL) in the middle of the session. The page must reconnect through the
proxy to the other worker, show the same box (its link restores it), with the engine's
numbers and no exception, and the next drag must work; the supervisor starts the killed worker
again.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import urllib.request

import pytest

from browser_support import ARTIFACTS, ROOT, box_from_url, chromium_browser, require_chromium

sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "deploy"))
from _common import (  # noqa: E402
    MOUSEUP_STAMP_JS,
    PANELS,
    PANELS_UPDATED_JS,
    QUERY,
    drag_points,
    expected_rows,
    panel_rows,
)
from serve import Fleet, healthy  # noqa: E402

STRIDE = 16

# The page once it has settled: the script stopped, nothing stale, every panel's table drawn.
# Returns the URL's box and each panel's metrics row (headers and cells), or false.
SETTLED_JS = """(panels) => {
  const app = document.querySelector('[data-testid=stApp]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-stale=true]')) return false;
  const rows = {};
  for (const m of panels) {
    const table = document.querySelector(`.st-key-panel_${m} [data-testid=stTable] table`);
    if (!table || !table.querySelector('tbody tr')) return false;
    rows[m] = {
      headers: [...table.querySelectorAll('thead th')].map(t => t.innerText.trim()),
      cells: [...table.querySelector('tbody tr').querySelectorAll('td, th')].map(t => t.innerText.trim()),
    };
  }
  return {box: new URLSearchParams(location.search).get('box'), rows: rows,
          exceptions: document.querySelectorAll('[data-testid=stException]').length};
}"""


def require_haproxy() -> None:
    if not (shutil.which("haproxy") or os.path.exists("/usr/sbin/haproxy")):
        message = "haproxy is missing: `make test` installs Debian's haproxy"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def watch(ws, sockets: list) -> None:
    """Count the script runs that finish on websocket ``ws`` (``sockets[i]``: a list of them)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    finished: list[int] = []
    sockets.append(finished)

    def on_frame(payload) -> None:
        msg = ForwardMsg()
        msg.ParseFromString(payload if isinstance(payload, bytes) else payload.encode())
        if msg.WhichOneof("type") == "script_finished":
            finished.append(msg.script_finished)

    ws.on("framereceived", on_frame)


def drag(page) -> tuple[float, ...]:
    """Drag a box across the feature map; returns the new box once every panel shows it."""
    import random

    target = page.locator(".st-key-select_feature .nsewdrag").first
    target.scroll_into_view_if_needed()
    old = page.evaluate("() => new URLSearchParams(location.search).get('box')")
    points = drag_points(target.bounding_box(), random.Random(old))
    page.mouse.move(*points[0])
    page.mouse.down()
    for p in points[1:]:
        page.mouse.move(*p)
    page.mouse.up()
    done = page.wait_for_function(PANELS_UPDATED_JS, arg=[old, STRIDE], polling=200,
                                  timeout=120_000).json_value()
    box = tuple(float(v) for v in done["box"].split(","))
    assert panel_rows(done["rows"]) == expected_rows(box, STRIDE)
    return box


def test_two_workers_behind_haproxy_a_killed_worker_and_the_session_recovers():
    require_chromium()
    require_haproxy()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # The killed worker stays down for 30 s, so the page must recover on the other one (with
    # no delay, a fast restart may bring the page back to the same worker, also fine).
    with Fleet(workers=2, log_dir=ARTIFACTS, restart_delay=30.0) as fleet, \
            chromium_browser() as browser:
        context = browser.new_context(viewport={"width": 1500, "height": 1000})
        context.add_init_script(MOUSEUP_STAMP_JS)
        page = context.new_page()
        page.set_default_timeout(120_000)
        sockets, errors = [], []  # per websocket: script runs finished on it
        page.on("websocket", lambda ws: watch(ws, sockets))
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(fleet.url + "/" + QUERY)
        page.wait_for_function(SETTLED_JS, arg=list(PANELS), polling=200)
        box = drag(page)

        # The sticky cookie names the worker that holds this session: kill that one.
        cookie = {c["name"]: c["value"] for c in context.cookies()}["roiviz_worker"]
        victim = fleet.worker_of(cookie)
        fleet.kill_one(victim)
        killed_at = time.monotonic()
        # The page notices, reconnects through the proxy to the live worker, and its link
        # (the URL holds the box) restores the view in the new session.
        # (A drag sent before the new session's first run has finished is dropped by Streamlit:
        # the fragment is not registered yet; so wait for that run, as a student would.)
        deadline = time.monotonic() + 120
        while (len(sockets) < 2 or not sockets[-1]) and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        assert len(sockets) >= 2, "the page did not reconnect"
        assert sockets[-1], "the reconnected page's first run did not finish"
        assert time.monotonic() - killed_at < 30, "the page waited for the killed worker"
        settled = page.wait_for_function(SETTLED_JS, arg=list(PANELS), polling=200).json_value()
        assert settled["exceptions"] == 0
        assert tuple(float(v) for v in settled["box"].split(",")) == pytest.approx(box, abs=1e-3)
        assert panel_rows(settled["rows"]) == expected_rows(box, STRIDE)
        assert box_from_url(page.url) == pytest.approx(box, abs=1e-3)
        page.screenshot(path=str(ARTIFACTS / "proxy-recovered.png"))

        # The session now lives on the other worker, and the next drag works there.
        new_cookie = {c["name"]: c["value"] for c in context.cookies()}["roiviz_worker"]
        assert fleet.worker_of(new_cookie) != victim
        second = drag(page)
        assert second != box
        assert page.locator("[data-testid=stException]").count() == 0
        assert errors == []

        # The supervisor started the killed worker again, and the proxy sees it healthy.
        deadline = time.monotonic() + 180
        while not healthy(fleet.worker_url(victim)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert fleet.restarts[victim] == 1
        assert healthy(fleet.worker_url(victim))
        with urllib.request.urlopen(f"{fleet.url}/_stcore/health", timeout=5) as r:
            assert r.status == 200
