"""The stage served once (issue 21), in Chromium against ``streamlit run app.py``.

The stage's script and CSS are files Streamlit serves (the installed component's ``asset_dir``,
roiviz/app/stage_files.py), fetched once per page; a release sends the box's numbers and not
the script, the photo or the map (roiviz/app/stage_parts.py). The bytes are the websocket
frames the page received (Playwright gives them uncompressed) between the release and the
end of the run it caused: no timing is asserted. ``assets/stage/parts.js`` is checked against
Python's :func:`roiviz.app.stage_parts.unpack` in the same browser.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from browser_support import ARTIFACTS
from roiviz.app.stage import stage_data
from roiviz.app.stage_parts import PARTS, pack, unpack
from roiviz.methods import trace_all
from roiviz.records import Settings
from roiviz.resources import STAGE_DIR
from stage_driver import STAGE, held_drag, stage_box, surface, wait_for_server

STRIDE = 16
SERVED = "/_stcore/bidi-components/roiviz.app.stage/stage-"
#: Most bytes (uncompressed ForwardMsgs) a release may bring: before issue 21 about 198 kB, with
#: the script (81 kB) and the photo (80 kB); now about 13.5 kB, 6 kB on the wire compressed.
RELEASE_BYTES = 16_000


def idle(page) -> None:
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]")


def test_the_script_is_fetched_once_and_a_release_sends_neither_script_nor_photo_nor_map(server):
    url, browser = server
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    page.set_default_timeout(60_000)
    fetched, frames, errors = [], [], []
    page.on("request", lambda r: fetched.append(r.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(
        payload if isinstance(payload, bytes) else payload.encode())))
    page.goto(f"{url}/?box=96,128,304,320")
    page.wait_for_selector(f"{STAGE} .panel[data-method=precise_roi_pool] .out rect")
    wait_for_server(page)
    idle(page)
    # The first data brought the photo once (it is shown), as a part.
    assert any(b"data:image/jpeg" in f for f in frames)
    sizes = []
    for i, (start, end) in enumerate([((9, 10), (12, 13)), ((12, 13), (7, 9)), ((7, 9), (10, 6))]):
        before = len(frames)
        surface(page, "map").scroll_into_view_if_needed()
        held_drag(page, "map", start, end, steps=4)
        state = wait_for_server(page)
        idle(page)
        release = frames[before:]
        assert release, "the release brought no update"
        assert state["state"] == "ok"   # the stage's numbers agree with the server's
        assert not [f for f in release if b"data:image" in f or b"export default function" in f]
        sizes.append(sum(map(len, release)))
        if i == 0:
            page.screenshot(path=str(ARTIFACTS / "served-stage-1500.png"))
    assert max(sizes) <= RELEASE_BYTES, sizes
    # The page's table of the server's numbers, styled by its class sheet (no per-cell styles).
    table = page.locator("table.roiviz-summary").first
    table.scroll_into_view_if_needed()
    looks = table.evaluate("""t => {
      const s = (e) => getComputedStyle(e);
      return { head: s(t.querySelector('thead th')).cursor, cell: s(t.querySelector('td')).textAlign,
               row: s(t.querySelector('tbody th')).fontWeight, collapse: s(t).borderCollapse };
    }""")
    assert looks == {"head": "help", "cell": "right", "row": "600", "collapse": "collapse"}, looks
    for width, height in ((1280, 720), (760, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        table.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"served-table-{width}.png"))
    box = stage_box(page)
    assert box != (96.0, 128.0, 304.0, 320.0)
    # The script and the CSS came once, as files, and never inline.
    scripts = [u for u in fetched if SERVED in u and u.endswith(".js")]
    assert len(scripts) == 1 and any(SERVED in u and u.endswith(".css") for u in fetched), fetched
    # A reload is a new session: it gets every part whole again, and the stage draws.
    before = len(frames)
    page.reload()
    page.wait_for_selector(f"{STAGE} .panel[data-method=precise_roi_pool] .out rect")
    wait_for_server(page)
    assert any(b"data:image/jpeg" in f for f in frames[before:])
    assert errors == []
    page.close()


def test_parts_js_puts_the_data_back_together_as_python_does(server):
    """parts.js in Chromium against roiviz.app.stage_parts.unpack: whole parts, parts by hash,
    outputs bit for bit from base64 float32, notes back in place, unknown hashes missing."""
    url, browser = server
    values = np.random.default_rng(5).standard_normal((9, 11)).astype(np.float32)
    settings = Settings(output_size=(3, 4), stride=16.0, sampling_ratio=2, aligned=False)
    box = (17.3, 21.9, 120.4, 101.1)
    traces = trace_all(values, box, settings)
    data = json.loads(json.dumps(stage_data(values, box, settings, list(traces), traces)))
    whole = json.loads(json.dumps(pack(data)))
    by_hash = json.loads(json.dumps(pack(data, {whole[n]["part"] for n in PARTS if whole[n]})))
    stranger = dict(by_hash, map={"part": "0123456789abcdef"})
    page = browser.new_page()
    page.goto(f"{url}/_stcore/health")
    source = (STAGE_DIR / "parts.js").read_text()
    got = page.evaluate("""async ([source, packs]) => {
      const mod = await import("data:text/javascript;base64," + btoa(unescape(encodeURIComponent(source))));
      return packs.map((p) => mod.unpackData(p)).concat([{ held: mod.heldPartHashes() }]);
    }""", [source, [whole, by_hash, stranger, data]])
    expected = unpack(whole, {})[0]
    assert got[0] == {"data": expected, "missing": []}
    assert got[1] == {"data": expected, "missing": []}
    assert got[2]["missing"] == ["0123456789abcdef"]
    assert got[3] == {"data": data, "missing": []}   # a payload without parts (notebook, export)
    assert sorted(got[4]["held"]) == sorted(whole[n]["part"] for n in PARTS if whole[n])
    page.close()
