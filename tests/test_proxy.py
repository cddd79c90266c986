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
from _common import QUERY, expected_rows, random_drag  # noqa: E402
from serve import Fleet, healthy  # noqa: E402
from stage_driver import STAGE, held_drag, stage_box, surface, table_rows, wait_for_server  # noqa: E402

from roiviz.methods import REGISTRY  # noqa: E402

STRIDE = 16
MAP_CELLS = 512 // STRIDE  # the astronaut: a 32 x 32-cell feature map

# The page once a run has settled: the script stopped, nothing stale, the stage and its table
# drawn. Returns the URL's box and the number of exceptions shown, or false.
SETTLED_JS = """() => {
  const app = document.querySelector('[data-testid=stApp]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-stale=true]')) return false;
  const table = document.querySelector('table.roiviz-summary');
  if (!table || !table.querySelector('tbody tr')) return false;
  if (!document.querySelector('[data-testid^=stBidiComponent]')) return false;
  return {box: new URLSearchParams(location.search).get('box'),
          exceptions: document.querySelectorAll('[data-testid=stException]').length};
}"""


def engine_rows(box) -> dict[str, dict[str, str]]:
    """The engine's summary rows for ``box``, by method label (as the page's table shows them)."""
    return {REGISTRY[m].label: row for m, row in expected_rows(box, STRIDE).items()}


def settled(page) -> dict:
    page.wait_for_function(SETTLED_JS, polling=200, timeout=120_000)
    page.wait_for_selector(f"{STAGE} .surface[data-surface=map]", timeout=120_000)
    return page.wait_for_function(SETTLED_JS, polling=200, timeout=120_000).json_value()


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
    """Drag a box across the stage's feature map; returns the box once the server answered it
    and the page's table shows the engine's numbers for it."""
    import random

    surface(page, "map").scroll_into_view_if_needed()
    old = stage_box(page)
    (fx0, fy0), (fx1, fy1) = random_drag(random.Random(repr(old)))
    held_drag(page, "map", (fx0 * MAP_CELLS, fy0 * MAP_CELLS), (fx1 * MAP_CELLS, fy1 * MAP_CELLS))
    wait_for_server(page, 120)
    box = stage_box(page)
    assert box != old
    deadline = time.monotonic() + 120
    while table_rows(page) != engine_rows(box) and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert table_rows(page) == engine_rows(box)
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
        page = context.new_page()
        page.set_default_timeout(120_000)
        sockets, errors = [], []  # per websocket: script runs finished on it
        page.on("websocket", lambda ws: watch(ws, sockets))
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(fleet.url + "/" + QUERY)
        settled(page)
        wait_for_server(page, 120)
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
        view = settled(page)
        assert view["exceptions"] == 0
        assert tuple(float(v) for v in view["box"].split(",")) == pytest.approx(box, abs=1e-3)
        assert stage_box(page) == pytest.approx(box, abs=1e-3)
        assert table_rows(page) == engine_rows(box)
        # The new session counts releases from 0 again while the stage had counted 1: the stage
        # starts over from the server's count and shows that browser and server agree.
        assert wait_for_server(page, timeout=30)["state"] == "ok"
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
