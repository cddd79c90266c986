"""A lecture hall at once: N students on Streamlit's own websocket protocol, with no browser.

Each simulated student does what a student's browser does, message for message:

1. opens the lecturer's link: ``GET /<link>`` (which also picks up a proxy's sticky-session
   cookie), ``/_stcore/health`` and ``/_stcore/host-config``, then the websocket
   ``/_stcore/stream`` and the first ``rerun_script`` with the link's query string;
2. then, every ``--interval`` seconds (a student waits for the update of one drag before the
   next one, as in ``classroom.py``), releases a random box: the ``BackMsg`` a real Chromium
   sends after a drag, rebuilt from a template with a new box (:func:`release_message`).

A release is timed from sending it to the server's ``script_finished``. Every update can be
checked against the engine (``--check``): the box the server applied (from the page's new
query string) must be the box sent, and the server's numbers decoded from the ``ForwardMsg``
deltas must be the engine's for that box: each method's summary row and output in the live
stage's data (``reference``, :func:`roiviz.app.stage.stage_data`) and the rows of the page's table
(:func:`numbers_problem`).

The template. A browser's release is not written by hand here: :func:`capture_template` opens
the link once in Debian's Chromium (Playwright), drags one box on the live stage's feature map
(``tests/stage_driver.py``), waits for the server's answer, and keeps the websocket frames
the page sent (``page.on("websocket")`` -> ``framesent``), decoded with
``streamlit.proto.BackMsg_pb2``. The last one is the release: a fragment rerun carrying every
widget's state, the drag's own widget (the stage's component state,
``{"box": {"box": [x1, y1, x2, y2], "seq": n}}``) and the ids of the messages the browser has
cached.
:func:`release_message` replaces, in a copy, the ids that change from run to run (read from the
deltas this student received), the box inputs' values, the query string and the cache list,
and puts a new box into the drag's widget (:func:`put_box`, the one function to switch when
what a browser sends after a drag changes). ``--save-template``/``--template`` keep a capture.

Measured, for each class size ``--students`` (default 30 100 300, one release every 3 s):
releases/s served, p50/p95/p99 latency, errors, the bytes the server sent per release (the
websocket frames as they reached the socket, compressed when the server has permessage-deflate
on, as the app does, and the ForwardMsgs uncompressed; :func:`count_wire_bytes`), the server's CPU per release
(``/proc/<pid>/stat``, user + system, all workers summed), its resident memory (``VmRSS``) at
the start, the peak and after every session has closed and been dropped; ``--ceiling`` steps
the offered release rate up until p95 exceeds 500 ms or the served rate falls behind.

Where the server comes from: by default a fresh ``streamlit run app.py`` (one process);
``--workers W`` starts ``deploy/serve.py``'s recipe instead (W processes behind HAProxy with
sticky sessions) and drives the proxy; ``--url`` drives a server started elsewhere (give
``--pids`` to measure its CPU and memory).

Robustness scenarios (``--chaos``), run next to the class: students who drop their socket in
the middle of a release and open the link again, clients sending garbage bytes, a malformed
protobuf, a text frame, wrongly typed widget states, websockets and raw TCP sockets that never
speak, and (with ``--workers`` >= 2) one worker killed (SIGKILL) while students are connected:
they reconnect through the proxy and their link restores their box.

Run: ``.venv/bin/python benchmarks/hall.py --students 3 --duration 20`` for a quick look, the
defaults for the full table (about 10 minutes). Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import random
import socket
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    QUERY,
    ROOT,
    cpu_seconds,
    expected_outputs,
    expected_rows,
    machine_load,
    percentile,
    random_drag,
    rss_mb,
    streamlit_server,
)
from stage_driver import STAGE, held_drag, surface, wait_for_server  # noqa: E402

from roiviz.app.stage_parts import unpack  # noqa: E402
from roiviz.methods import REGISTRY
from roiviz.drawing.summary_table import SUMMARY_CLASS, read_summary_html  # noqa: E402

STRIDE = 16
MAP_CELLS = 512 // STRIDE  # the astronaut is 512 x 512 px: a 32 x 32-cell feature map
#: The number inputs that mirror the box (the browser sends what they show; the server sets them
#: after each drag). The drag's own widget is found in the template by its value (holds_box).
BOX_KEYS = ("bx1", "by1", "bx2", "by2")
#: script_finished statuses that end a run (FINISHED_EARLY_FOR_RERUN does not: another follows).
DONE = {0: "finished", 1: "compile error", 3: "fragment finished"}
P95_TARGET_MS = 500.0


# ---------------------------------------------------------------------------------------------
# What a browser sends: the template and the release built from it.


def capture_template(url: str, save: Path | None = None) -> dict:
    """Open the link in Chromium, drag one box, and return the frames the page sent.

    Returns:
        ``{"load": bytes, "release": bytes}``: the serialized ``BackMsg`` of the page load and
        of the first rerun the drag caused.
    """
    from playwright.sync_api import sync_playwright
    from streamlit.proto.BackMsg_pb2 import BackMsg

    sent: list[bytes] = []

    def on_websocket(ws) -> None:
        ws.on("framesent", lambda payload: sent.append(
            payload if isinstance(payload, bytes) else payload.encode()))

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.on("websocket", on_websocket)
            page.goto(url.rstrip("/") + "/" + QUERY)
            page.wait_for_selector(f"{STAGE} .surface[data-surface=map]", timeout=180_000)
            wait_for_server(page, 180)
            page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]",
                                   timeout=180_000)
            loaded = len(sent)
            (fx0, fy0), (fx1, fy1) = random_drag(random.Random(0))
            surface(page, "map").scroll_into_view_if_needed()
            held_drag(page, "map", (fx0 * MAP_CELLS, fy0 * MAP_CELLS), (fx1 * MAP_CELLS, fy1 * MAP_CELLS))
            wait_for_server(page, 60)
            if len(sent) == loaded:
                raise RuntimeError("the drag sent nothing")
        finally:
            browser.close()
    reruns = []
    for raw in sent:
        msg = BackMsg()
        msg.ParseFromString(raw)
        if msg.WhichOneof("type") == "rerun_script":
            reruns.append(raw)
    if len(reruns) < 2:
        raise RuntimeError(f"the drag sent no rerun (frames sent: {len(sent)})")
    template = {"load": reruns[0], "release": reruns[1]}
    if save:
        save.write_text(json.dumps({k: base64.b64encode(v).decode() for k, v in template.items()}))
    return template


def load_template(path: Path) -> dict:
    return {k: base64.b64decode(v) for k, v in json.loads(path.read_text()).items()}


def widget_key(widget_id: str) -> str:
    """``"$$ID-<hash>-select_feature"`` -> ``"select_feature"`` (ids without a key: as is)."""
    parts = widget_id.split("-", 2)
    return parts[2] if widget_id.startswith("$$ID-") and len(parts) == 3 else widget_id


def holds_box(widget) -> bool:
    """Whether a widget state is a drag's: a JSON state with a box (the stage's)."""
    kind = widget.WhichOneof("value")
    if kind not in ("string_value", "json_value"):
        return False
    try:
        value = json.loads(getattr(widget, kind))
    except ValueError:
        return False
    return isinstance(value, dict) and _replace_box(value, None)


def put_box(widget, box_px: tuple[float, float, float, float]) -> None:
    """Write ``box_px`` (image pixels) into the drag's widget state, in the browser's format.

    The stage's component state (``{"box": {"box": [x1, y1, x2, y2], "seq": n}}``, image
    pixels; see :mod:`roiviz.app.ui_stage`): the first ``"box"`` of four numbers anywhere in its
    JSON is replaced and the ``"seq"`` next to it (the stage counts its releases) is advanced,
    as the browser does.
    """
    kind = widget.WhichOneof("value")
    value = json.loads(getattr(widget, kind))
    if not _replace_box(value, [float(v) for v in box_px]):
        raise ValueError("the template's drag widget holds no box this script knows how to set")
    setattr(widget, kind, json.dumps(value))


def _replace_box(node, box: list[float] | None) -> bool:
    """Put ``box`` into the first ``"box": [4 numbers]`` of ``node`` (None: only look)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "box" and isinstance(v, list) and len(v) == 4:
                if box is not None:
                    node[k] = box
                    if isinstance(node.get("seq"), int):
                        node["seq"] += 1
                return True
            if _replace_box(v, box):
                return True
    elif isinstance(node, list):
        return any(_replace_box(v, box) for v in node)
    return False


def release_message(template: bytes, page: "PageView", box_px) -> bytes:
    """The ``BackMsg`` this student's browser would send after dragging ``box_px``."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    msg = BackMsg()
    msg.ParseFromString(template)
    state = msg.rerun_script
    state.query_string = page.query_string
    state.context_info.url = page.base_url + "/"
    del state.cached_message_hashes[:]
    state.cached_message_hashes.extend(page.cached_hashes())
    if page.fragment_id:
        state.fragment_id = page.fragment_id
    for widget in state.widget_states.widgets:
        key = widget_key(widget.id)
        widget.id = page.widget_ids.get(key, widget.id)
        if key in page.numbers and widget.WhichOneof("value") == "double_value":
            widget.double_value = page.numbers[key]
        if holds_box(widget):
            put_box(widget, box_px)
    return msg.SerializeToString()


def load_message(template: bytes | None, page: "PageView") -> bytes:
    """The first ``rerun_script`` of a page opened on ``page.query_string``.

    From the captured page load if given; else the same message built here (the browser's
    first message carries only the query string and its context: no widget state yet).
    """
    from streamlit.proto.BackMsg_pb2 import BackMsg

    msg = BackMsg()
    if template:
        msg.ParseFromString(template)
    else:
        info = msg.rerun_script.context_info
        info.timezone, info.timezone_offset, info.locale = "UTC", 0, "en-US"
        info.is_embedded, info.color_scheme = False, "light"
        msg.rerun_script.widget_states.SetInParent()
    msg.rerun_script.query_string = page.query_string
    msg.rerun_script.context_info.url = page.base_url + "/"
    return msg.SerializeToString()


def random_box(rng: random.Random) -> tuple[float, float, float, float]:
    """A box like a drag across the feature map (10% to 60% of a side), in image pixels."""
    (fx0, fy0), (fx1, fy1) = random_drag(rng)
    return tuple(f * MAP_CELLS * STRIDE for f in (fx0, fy0, fx1, fy1))


def applied_box(box_px) -> tuple[float, ...]:
    """The box the Playground stores for a selection: feature cells x stride, 3 decimals."""
    return tuple(round((v / STRIDE) * STRIDE, 3) for v in box_px)


# ---------------------------------------------------------------------------------------------
# One student's page, as the browser keeps it.


@dataclass
class PageView:
    """What a browser knows of its page: link, widget ids and values, cached messages, tables."""

    base_url: str
    query_string: str
    widget_ids: dict[str, str] = field(default_factory=dict)
    numbers: dict[str, float] = field(default_factory=dict)
    fragment_id: str = ""
    cache: dict[str, int] = field(default_factory=dict)  # message hash -> run it arrived in
    runs: int = 0
    #: The server's numbers of the last update, by method: the summary rows in the stage's
    #: data (``reference[m]["row"]``), its outputs (``reference[m]["output"]``), and the rows of
    #: the page's summary table (roiviz.drawing.summary_table; method labels mapped back to the method keys).
    tables: dict[str, dict[str, str]] = field(default_factory=dict)
    outputs: dict[str, list[float]] = field(default_factory=dict)
    table: dict[str, dict[str, str]] = field(default_factory=dict)
    exceptions: list[str] = field(default_factory=list)
    messages: dict[str, object] = field(default_factory=dict)  # hash -> cached ForwardMsg
    #: Bytes of the ForwardMsgs the server has sent this page (protobuf payloads, uncompressed).
    received: int = 0
    #: Bytes that reached this page's socket (websocket frames as sent: compressed when the
    #: server has permessage-deflate on, as it does for the app; see :func:`count_wire_bytes`).
    wire: list[int] = field(default_factory=lambda: [0])

    def cached_hashes(self) -> list[str]:
        # The browser keeps a message for a few runs (global.maxCachedMessageAge, 2).
        return [h for h, run in self.cache.items() if self.runs - run <= 2]

    def shown(self) -> dict:
        """The server's numbers of the last update: ``{"stage", "outputs", "table"}``."""
        return {"stage": dict(self.tables), "outputs": dict(self.outputs), "table": dict(self.table)}

    def forget_numbers(self) -> None:
        self.tables, self.outputs, self.table = {}, {}, {}

    def box(self) -> tuple[float, ...] | None:
        query = urllib.parse.parse_qs(self.query_string)
        return tuple(float(v) for v in query["box"][0].split(",")) if "box" in query else None


def read_delta(page: PageView, msg, decode_tables: bool) -> None:
    delta = msg.delta
    if delta.WhichOneof("type") != "new_element":
        return
    element = delta.new_element
    etype = element.WhichOneof("type")
    inner = getattr(element, etype)
    if delta.fragment_id:
        page.fragment_id = delta.fragment_id
    element_id = getattr(inner, "id", "") if hasattr(inner, "id") else ""
    if element_id:
        page.widget_ids[widget_key(element_id)] = element_id
    if etype == "number_input":
        page.numbers[widget_key(inner.id)] = inner.value if inner.set_value else inner.default
    elif etype == "exception":
        page.exceptions.append(f"{inner.type}: {inner.message[:200]}")
    elif etype == "bidi_component" and decode_tables and inner.component_name == "roiviz.app.stage":
        # What the stage puts back together (roiviz.app.stage_parts): outputs arrive as float32.
        reference = unpack(json.loads(inner.json), {})[0].get("reference", {})
        page.tables = {m: r["row"] for m, r in reference.items()}
        page.outputs = {m: r["output"] for m, r in reference.items()}
    elif etype == "html" and decode_tables and SUMMARY_CLASS in inner.body:
        method_of = {spec.label: m for m, spec in REGISTRY.items()}
        page.table = {method_of.get(label, label): row for label, row in read_summary_html(inner.body).items()}


async def run_page(ws, page: PageView, timeout: float, decode_tables: bool = False) -> str:
    """Read ForwardMsgs until the run ends; returns how it ended (see ``DONE``)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    page.runs += 1
    while True:
        raw = await asyncio.wait_for(ws.recv(), max(0.01, deadline - loop.time()))
        if isinstance(raw, str):
            raise RuntimeError("the server sent a text frame")
        page.received += len(raw)
        msg = ForwardMsg()
        msg.ParseFromString(raw)
        kind = msg.WhichOneof("type")
        if kind == "ref_hash":  # the server referred to a message this page has cached
            cached = page.messages.get(msg.ref_hash)
            if cached is None:
                raise RuntimeError("the server referred to a message the page never cached")
            cached.metadata.CopyFrom(msg.metadata)
            page.cache[msg.ref_hash] = page.runs  # the browser's cache counts a hit as a use
            msg, kind = cached, "delta"
        if kind == "delta":
            read_delta(page, msg, decode_tables)
            if msg.metadata.cacheable and msg.hash:
                page.cache[msg.hash] = page.runs
                page.messages[msg.hash] = msg
        elif kind == "page_info_changed":
            page.query_string = msg.page_info_changed.query_string
        elif kind == "session_event" and msg.session_event.WhichOneof("type") == \
                "script_compilation_exception":
            page.exceptions.append("script compilation exception")
        elif kind == "script_finished" and msg.script_finished in DONE:
            for h in [h for h, run in page.cache.items() if page.runs - run > 2]:
                page.cache.pop(h)
                page.messages.pop(h, None)
            return DONE[msg.script_finished]


# ---------------------------------------------------------------------------------------------
# HTTP and websocket openings (127.0.0.1 only).


def http_get(url: str, cookies: dict, timeout: float = 60.0) -> bytes:
    request = urllib.request.Request(url, headers={
        "Accept-Encoding": "gzip", "User-Agent": "roiviz-hall",
        **({"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {})})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            cookies[name.strip()] = rest.split(";", 1)[0]
        return response.read()


def check_local(url: str) -> None:
    host = urllib.parse.urlparse(url).hostname or ""
    if not (host == "localhost" or host.startswith("127.") or host == "::1"):
        raise SystemExit(f"hall.py only talks to this machine (127.0.0.1), not {host!r}")


def count_wire_bytes(ws, total: list[int]) -> None:
    """Add every byte that reaches ``ws``'s socket to ``total[0]`` (frames with their headers,
    compressed as sent: the client offers permessage-deflate, as browsers do)."""
    received = ws.data_received

    def data_received(data: bytes) -> None:
        total[0] += len(data)
        received(data)

    ws.data_received = data_received


async def open_page(base_url: str, query_string: str, template: dict, timeout: float,
                    decode_tables: bool = False, assets: bool = False):
    """Open the link like a browser: the page, health, host-config, then the websocket.

    Returns ``(websocket, PageView, seconds to the first script_finished)``.
    """
    from websockets.asyncio.client import connect

    cookies: dict[str, str] = {}
    t0 = time.perf_counter()
    html = await asyncio.to_thread(http_get, f"{base_url}/?{query_string}", cookies)
    if assets:  # the page's own scripts and styles, as a browser with an empty cache fetches them
        import re
        for src in re.findall(rb'(?:src|href)="\./?(static/[^"]+)"', html):
            await asyncio.to_thread(http_get, f"{base_url}/{src.decode()}", cookies)
    await asyncio.to_thread(http_get, f"{base_url}/_stcore/health", cookies)
    await asyncio.to_thread(http_get, f"{base_url}/_stcore/host-config", cookies)
    ws_url = base_url.replace("http://", "ws://", 1) + "/_stcore/stream"
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}
    ws = await connect(ws_url, subprotocols=["streamlit"], additional_headers=headers,
                       max_size=2**26, open_timeout=timeout, ping_interval=None,
                       origin=base_url)
    page = PageView(base_url=base_url, query_string=query_string)
    count_wire_bytes(ws, page.wire)
    try:
        await ws.send(load_message((template or {}).get("load"), page))
        status = await run_page(ws, page, timeout, decode_tables)
    except BaseException:
        await ws.close()
        raise
    if status == "compile error" or page.exceptions:
        await ws.close()
        raise RuntimeError(f"exception on the page ({'; '.join(page.exceptions)[:160]})")
    return ws, page, time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------
# A student.


@dataclass
class Release:
    student: int
    sent: float  # time.time() when sent
    ms: float
    box: tuple
    applied: tuple | None
    tables: dict | None
    #: Bytes of the ForwardMsgs the server sent for this release (from the release to its
    #: script_finished), and the bytes of the websocket frames that carried them (compressed).
    bytes: int = 0
    wire: int = 0


async def student(index: int, base_url: str, template: dict, schedule: list, t_start: float,
                  opened, timeout: float, check: bool, seed: int, out: dict) -> None:
    """Release a random box every step's interval from ``t_start``; reconnect if dropped."""
    rng = random.Random(seed * 100_003 + index)
    ws, page, _ = opened
    query_link = page.query_string
    t_end = t_start + sum(d for _, d in schedule)

    async def reopen(reason: str) -> None:
        nonlocal ws, page
        before = page.box()
        out["errors"].append(f"student {index}: {reason}")
        for attempt in range(30):
            try:
                ws, fresh, seconds = await open_page(base_url, page.query_string or query_link,
                                                     template, timeout, check)
                break
            except Exception:  # noqa: BLE001 - the server may still be restarting
                await asyncio.sleep(1.0)
        else:
            raise RuntimeError("could not reopen the link")
        out["reconnects"].append((index, seconds, before, fresh.box()))
        page = fresh

    step_start = t_start
    for interval, duration in schedule:
        step_end = step_start + duration
        next_at = step_start + rng.uniform(0, interval)
        while True:
            now = time.time()
            if next_at >= step_end or now >= t_end:
                break
            await asyncio.sleep(max(0.0, next_at - now))
            box = random_box(rng)
            sent = time.time()
            try:
                await ws.send(release_message(template["release"], page, box))
                page.forget_numbers()
                received, wire = page.received, page.wire[0]
                status = await run_page(ws, page, timeout, check)
                ms = 1000 * (time.time() - sent)
                if page.exceptions:
                    out["errors"].append(f"student {index}: exception on the page "
                                         f"({page.exceptions[-1]})")
                    page.exceptions.clear()
                out["releases"].append(Release(index, sent, ms, box, page.box(),
                                               page.shown() if check else None,
                                               page.received - received, page.wire[0] - wire))
            except asyncio.TimeoutError:
                # Too slow counts as an error; the student's page keeps waiting for its update
                # (a student does not reload the page), and the wait is recorded.
                out["errors"].append(f"student {index}: no update within {timeout:g} s")
                try:
                    await run_page(ws, page, 600, check)
                    out["releases"].append(Release(index, sent, 1000 * (time.time() - sent), box,
                                                   page.box(), page.shown() if check else None))
                except Exception as exc:  # noqa: BLE001
                    await reopen(f"connection lost ({type(exc).__name__}); reopened")
            except Exception as exc:  # noqa: BLE001 - counted, then the student reconnects
                await reopen(f"connection lost ({type(exc).__name__}: {str(exc)[:80]}); reopened")
            next_at = max(next_at + interval, time.time())
        step_start = step_end
    out["open"].append((index, ws))


# ---------------------------------------------------------------------------------------------
# Chaos: clients that misbehave next to the class.


async def chaos(base_url: str, template: dict, t_start: float, t_end: float, out: dict,
                idle: int = 5) -> None:
    """Garbage frames, idle sockets and mid-run drops, from ``t_start`` to ``t_end``."""
    from websockets.asyncio.client import connect
    from streamlit.proto.BackMsg_pb2 import BackMsg

    host, port = urllib.parse.urlparse(base_url).hostname, urllib.parse.urlparse(base_url).port
    ws_url = base_url.replace("http://", "ws://", 1) + "/_stcore/stream"
    await asyncio.sleep(max(0.0, t_start - time.time()))
    held = []
    # Sockets that never speak: websockets that never send a BackMsg, TCP connections that
    # never finish (or never start) their HTTP request.
    for _ in range(idle):
        held.append(await connect(ws_url, subprotocols=["streamlit"], ping_interval=None))
        raw = socket.create_connection((host, port))
        held.append(raw)
        half = socket.create_connection((host, port))
        half.sendall(b"GET /_stcore/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        held.append(half)
    out["chaos"].append(f"holding {idle} silent websockets and {2 * idle} silent TCP sockets")

    wrong_types = BackMsg()
    wrong_types.ParseFromString(template["release"])
    for w in wrong_types.rerun_script.widget_states.widgets:
        w.string_value = "\u202e<script>alert(1)</script>" if w.WhichOneof("value") != "string_value" \
            else "not json {"
    garbage = [
        ("random bytes", bytes(random.Random(1).getrandbits(8) for _ in range(4096))),
        ("truncated protobuf", template["release"][: len(template["release"]) // 2]),
        ("text frame", "hello"),
        ("empty frame", b""),
        ("wrongly typed widget states", wrong_types.SerializeToString()),
        ("unknown widget ids", _unknown_ids(template["release"])),
        ("oversized frame (26 MB)", b"\x00" * (26 * 1024 * 1024)),
    ]
    rounds = 0
    while time.time() < t_end:
        for name, payload in garbage:
            try:
                ws = await connect(ws_url, subprotocols=["streamlit"], ping_interval=None,
                                   max_size=2**26)
                if name in ("wrongly typed widget states", "unknown widget ids"):
                    page = PageView(base_url=base_url, query_string=QUERY[1:])
                    await ws.send(load_message(template["load"], page))
                    await run_page(ws, page, 120)
                    await ws.send(payload)
                    try:
                        ended = await run_page(ws, page, 10)
                    except asyncio.TimeoutError:
                        ended = "no run"
                    # Streamlit checks widget values before the script runs: a forged value of
                    # the wrong type ends that client's own run with Streamlit's error box.
                    outcome = "error box on its own page" if page.exceptions else ended
                    out["chaos"].append(f"{name}: {outcome}")
                else:
                    await ws.send(payload)
                    try:
                        await asyncio.wait_for(ws.recv(), 5)
                        out["chaos"].append(f"{name}: answered")
                    except Exception as exc:  # noqa: BLE001 - the server closes such a socket
                        out["chaos"].append(f"{name}: closed ({type(exc).__name__})")
                await ws.close()
            except Exception as exc:  # noqa: BLE001 - what matters is that others are unaffected
                out["chaos"].append(f"{name}: {type(exc).__name__}")
        rounds += 1
        # A student who closes the laptop in the middle of an update.
        try:
            ws, page, _ = await open_page(base_url, QUERY[1:], template, 120)
            await ws.send(release_message(template["release"], page, random_box(random.Random(rounds))))
            ws.transport.abort()
        except Exception as exc:  # noqa: BLE001
            out["errors"].append(f"chaos drop: could not open the link: {type(exc).__name__}")
        await asyncio.sleep(2.0)
    out["chaos"].append(f"{rounds} rounds of {len(garbage)} bad clients and one dropped update")
    for h in held:
        if isinstance(h, socket.socket):
            h.close()
        else:
            await h.close()


def _unknown_ids(release: bytes) -> bytes:
    from streamlit.proto.BackMsg_pb2 import BackMsg

    msg = BackMsg()
    msg.ParseFromString(release)
    for i, w in enumerate(msg.rerun_script.widget_states.widgets):
        w.id = f"$$ID-{i:032x}-nothing"
    msg.rerun_script.fragment_id = "0" * 32
    return msg.SerializeToString()


# ---------------------------------------------------------------------------------------------
# A load-generator process: its share of the students.


def client_process(share: list[int], args: dict, template: dict, barrier, t_start_value,
                   results) -> None:
    asyncio.run(_client_process(share, args, template, barrier, t_start_value, results))


async def _client_process(share, args, template, barrier, t_start_value, results) -> None:
    out = {"releases": [], "errors": [], "reconnects": [], "open": [], "chaos": [], "loads": []}
    sem = asyncio.Semaphore(args["open_concurrency"])

    async def opened(i):
        async with sem:
            try:
                r = await open_page(args["url"], QUERY[1:], template, args["load_timeout"],
                                    args["check"], args["assets"])
                out["loads"].append(r[2])
                return r
            except Exception as exc:  # noqa: BLE001
                out["errors"].append(f"student {i}: the link did not open: {type(exc).__name__}: "
                                     f"{str(exc)[:100]}")
                return None

    pages = await asyncio.gather(*(opened(i) for i in share))
    await asyncio.to_thread(barrier.wait)  # every process has opened its students
    await asyncio.to_thread(barrier.wait)  # the parent has written the start time
    t_start = t_start_value.value
    tasks = [student(i, args["url"], template, args["schedule"], t_start, p, args["timeout"],
                     args["check"], args["seed"], out)
             for i, p in zip(share, pages) if p is not None]
    if args["chaos"] and share and share[0] == 0:
        tasks.append(chaos(args["url"], template, t_start,
                           t_start + sum(d for _, d in args["schedule"]), out))
    done = await asyncio.gather(*tasks, return_exceptions=True)
    for d in done:
        if isinstance(d, BaseException):
            out["errors"].append(f"a student stopped: {type(d).__name__}: {str(d)[:120]}")
    for _, ws in out.pop("open"):
        await ws.close()
    out["releases"] = [r.__dict__ for r in out["releases"]]
    results.put(out)


# ---------------------------------------------------------------------------------------------
# Measuring the server.


class Sampler(threading.Thread):
    """Samples the server processes every ``period`` s: summed VmRSS, and each one's CPU time.

    A worker that dies (``--kill-worker``) keeps the CPU time it had at its last sample, so the
    CPU used by the whole fleet never goes backwards.
    """

    def __init__(self, pids, period: float = 0.5):
        super().__init__(daemon=True)
        self.pids, self.period, self.samples = pids, period, []
        self.cpu_by_pid: dict[int, float] = {}
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self.cpu()

    def cpu(self) -> float:
        """CPU seconds used so far by every server process seen."""
        with self._lock:
            for pid in self.pids():
                try:
                    self.cpu_by_pid[pid] = cpu_seconds(pid)
                except (OSError, IndexError):
                    pass
            return sum(self.cpu_by_pid.values())

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append(total_rss(self.pids()))
            self.cpu()
            self._halt.wait(self.period)

    def stop(self) -> float:
        self._halt.set()
        self.join()
        return max(self.samples, default=float("nan"))


def total_rss(pids) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += rss_mb(pid)
        except (OSError, RuntimeError):
            pass
    return total


class Server:
    """Where the students go: one streamlit, the proxy recipe, or a given URL."""

    def __init__(self, args):
        self.args = args
        self._ctx = None
        self.url, self._pids, self.fleet = args.url, list(args.pids or []), None

    def __enter__(self):
        extra = [f"--server.disconnectedSessionTTL={self.args.ttl}", *self.args.server_option]
        if self.args.url:
            check_local(self.args.url)
        elif self.args.workers:
            from serve import Fleet
            self.fleet = Fleet(workers=self.args.workers, port=self.args.port or 0,
                               extra_args=extra, log_dir=ROOT / "benchmarks")
            self.fleet.start()
            self.url = self.fleet.url
        else:
            log = ROOT / "benchmarks" / "hall-server.log"
            self._ctx = streamlit_server(log, extra_args=extra)
            self.url, pid = self._ctx.__enter__()
            self._pids = [pid]
        return self

    def pids(self) -> list[int]:
        return self.fleet.worker_pids() if self.fleet else self._pids

    def backends(self) -> list[str]:
        """The URLs of the server processes themselves (for the warm-up visits)."""
        if self.fleet:
            return [self.fleet.worker_url(i) for i in range(self.fleet.workers)]
        return [self.url]

    def __exit__(self, *exc):
        if self.fleet:
            self.fleet.stop()
        if self._ctx:
            self._ctx.__exit__(*exc)


def run_class(server: Server, template: dict, n: int, schedule: list, args) -> dict:
    """``n`` students on ``server`` following ``schedule`` [(interval s, duration s)]."""
    procs_n = max(1, min(args.procs, n))
    shares = [list(range(n))[i::procs_n] for i in range(procs_n)]
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(procs_n + 1)
    t_start_value = ctx.Value("d", 0.0)
    results = ctx.Queue()
    settings = {"url": server.url, "schedule": schedule, "timeout": args.timeout,
                "load_timeout": args.load_timeout, "check": args.check, "seed": args.seed,
                "chaos": args.chaos, "assets": args.assets,
                "open_concurrency": args.open_concurrency}
    pids = server.pids
    sampler = Sampler(pids)
    rss_start, cpu_open0 = total_rss(pids()), sampler.cpu()
    sampler.start()
    t_open = time.time()
    procs = [ctx.Process(target=client_process,
                         args=(share, settings, template, barrier, t_start_value, results))
             for share in shares]
    for p in procs:
        p.start()
    barrier.wait()
    opened_s = time.time() - t_open
    cpu_open = sampler.cpu() - cpu_open0
    t_start = time.time() + 1.0
    t_start_value.value = t_start
    barrier.wait()
    # The server's CPU time at each step's boundaries.
    bounds, cpu_at, t = [t_start], [], t_start
    for _, d in schedule:
        t += d
        bounds.append(t)
    killer = None
    if args.kill_worker and server.fleet:
        killer = threading.Timer(max(0.0, t_start + schedule[0][1] / 2 - time.time()),
                                 server.fleet.kill_one)
        killer.start()
    for b in bounds:
        time.sleep(max(0.0, b - time.time()))
        cpu_at.append(sampler.cpu())
    # In-flight releases may still finish after the last step (a late one waits up to 600 s).
    outs = [results.get(timeout=args.load_timeout + 900) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    if killer:
        killer.join()
    peak = sampler.stop()
    merged = {k: [x for o in outs for x in o[k]] for k in outs[0]}
    # After every session has closed: Streamlit drops them after disconnectedSessionTTL.
    rss_after = float("nan")
    if pids() and not args.url:
        time.sleep(args.ttl + 5)
        rss_after = total_rss(pids())
    steps = []
    for k, (interval, duration) in enumerate(schedule):
        rel = [r for r in merged["releases"] if bounds[k] <= r["sent"] < bounds[k + 1]]
        ms = [r["ms"] for r in rel]
        cpu = cpu_at[k + 1] - cpu_at[k]
        steps.append({"interval": interval, "duration": duration, "offered": n / interval,
                      "served": len(rel) / duration, "n": len(rel), "times": ms,
                      "bytes": [r["bytes"] for r in rel if r["bytes"]],
                      "wire": [r["wire"] for r in rel if r["bytes"]],
                      "cpu_ms": 1000 * cpu / max(len(rel), 1), "cores": cpu / duration})
    errors = merged["errors"] + (check_releases(merged["releases"]) if args.check else [])
    return {"n": n, "steps": steps, "errors": errors, "reconnects": merged["reconnects"],
            "chaos": merged["chaos"], "loads": merged["loads"], "opened_s": opened_s,
            "cpu_open_ms": 1000 * cpu_open / max(len(merged["loads"]), 1),
            "rss_start": rss_start, "rss_peak": peak, "rss_after": rss_after,
            "releases": merged["releases"]}


async def warm_up(urls: list[str], template: dict) -> None:
    """One visit per server process, one after the other, closed: imports and caches are in."""
    for url in urls:
        ws, _, _ = await open_page(url, QUERY[1:], template, 300)
        await ws.close()


def numbers_problem(shown: dict, box) -> str | None:
    """What differs between the numbers a page received (:meth:`PageView.shown`) and the
    engine's for ``box`` on the astronaut (stride 16, 7 x 7, all four methods), or ``None``."""
    import numpy as np

    rows = expected_rows(box, STRIDE, (7, 7))
    if shown["stage"] != rows:
        return "the stage's reference rows differ from the engine"
    if shown["table"] != rows:
        return "the table differs from the engine"
    outputs = expected_outputs(box, STRIDE, (7, 7))
    if set(shown["outputs"]) != set(outputs) or not all(
            np.allclose(shown["outputs"][m], outputs[m], rtol=0, atol=1e-6) for m in outputs):
        return "the stage's reference outputs differ from the engine"
    return None


def check_releases(releases: list[dict]) -> list[str]:
    """Each update against the engine: the box applied is the box sent; the summary rows and
    outputs in the stage's data and the rows of the page's table are the engine's for it."""
    bad = []
    for r in releases:
        want = applied_box(r["box"])
        if r["applied"] is None or max(abs(a - b) for a, b in zip(r["applied"], want)) > 2e-3:
            bad.append(f"student {r['student']}: sent box {want}, the page shows {r['applied']}")
            continue
        problem = numbers_problem(r["tables"], r["applied"])
        if problem:
            bad.append(f"student {r['student']}: {problem} for {r['applied']}")
    return bad


# ---------------------------------------------------------------------------------------------


def kb(sizes: list[int], q: float) -> str:
    """The ``q``-th percentile of byte counts in kB (1000 bytes), one decimal."""
    return f"{percentile(sizes, q) / 1000:.1f}" if sizes else "-"


def describe(r: dict, label: str) -> str:
    s = r["steps"][0]
    t = s["times"]
    errs = Counter(e.split(": ", 1)[1].split(" (")[0][:60] if ": " in e else e for e in r["errors"])
    lines = [f"{label}: N={r['n']} opened in {r['opened_s']:.1f} s (page load p50 "
             f"{1000 * percentile(r['loads'], 50):.0f} ms, p95 {1000 * percentile(r['loads'], 95):.0f}"
             f" ms; server CPU {r['cpu_open_ms']:.0f} ms per page load); {s['n']} releases, "
             f"{s['served']:.2f}/s served of {s['offered']:.2f}/s offered, p50 "
             f"{percentile(t, 50):.0f} ms, p95 {percentile(t, 95):.0f} ms, p99 "
             f"{percentile(t, 99):.0f} ms, max {max(t, default=float('nan')):.0f} ms; "
             f"{len(r['errors'])} errors; sent per release {kb(s['wire'], 50)} kB on the wire "
             f"(p50; max {kb(s['wire'], 100)}), {kb(s['bytes'], 50)} kB of messages uncompressed "
             f"(max {kb(s['bytes'], 100)}); server CPU {s['cpu_ms']:.0f} ms per release "
             f"({s['cores']:.2f} cores busy); RSS start {r['rss_start']:.0f} MB, peak "
             f"{r['rss_peak']:.0f}, after close {r['rss_after']:.0f}"]
    for e, c in errs.most_common(8):
        lines.append(f"    error x{c}: {e}")
    for c, k in Counter(r["chaos"]).most_common():
        lines.append(f"    chaos x{k}: {c}")
    if r["reconnects"]:
        restored = sum(1 for _, _, before, after in r["reconnects"] if before == after)
        lines.append(f"    {len(r['reconnects'])} reconnections, {restored} with the student's box "
                     f"restored by the link; slowest {max(x[1] for x in r['reconnects']):.1f} s")
    for i, seconds, before, after in r["reconnects"][:3]:
        lines.append(f"    student {i} reconnected in {seconds:.1f} s; box before {before}, "
                     f"restored {after}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[30, 100, 300],
                        help="class sizes N (default 30 100 300)")
    parser.add_argument("--interval", type=float, default=3.0,
                        help="seconds between one student's releases (default 3)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of releasing")
    parser.add_argument("--ceiling", action="store_true",
                        help="step the offered rate up (--rates) until p95 > 500 ms")
    parser.add_argument("--rates", type=float, nargs="+", default=[2, 4, 6, 8, 10, 13, 16, 20],
                        help="offered releases/s for --ceiling (students: --students[0])")
    parser.add_argument("--step", type=float, default=20.0, help="seconds per --ceiling step")
    parser.add_argument("--workers", type=int, default=0,
                        help="start deploy/serve.py's W workers behind HAProxy (default: one "
                             "plain streamlit process)")
    parser.add_argument("--port", type=int, default=0, help="proxy port for --workers")
    parser.add_argument("--url", help="drive a server already running here (127.0.0.1)")
    parser.add_argument("--pids", type=int, nargs="*", help="its process ids (CPU, memory)")
    parser.add_argument("--procs", type=int, default=2, help="load-generator processes")
    parser.add_argument("--open-concurrency", type=int, default=1000,
                        help="pages a load-generator process opens at once")
    parser.add_argument("--timeout", type=float, default=30.0, help="an update slower than this is an error")
    parser.add_argument("--load-timeout", type=float, default=300.0)
    parser.add_argument("--ttl", type=int, default=20, help="server.disconnectedSessionTTL")
    parser.add_argument("--server-option", action="append", default=[], metavar="OPTION",
                        help="another `streamlit run` option for the servers started here, e.g. "
                             "--server-option=--server.enableWebsocketCompression=false")
    parser.add_argument("--check", action="store_true", help="check every update against the engine")
    parser.add_argument("--chaos", action="store_true", help="misbehaving clients next to the class")
    parser.add_argument("--kill-worker", action="store_true",
                        help="with --workers >= 2: SIGKILL one worker half-way (it is restarted)")
    parser.add_argument("--assets", action="store_true",
                        help="page loads also fetch the page's scripts and styles")
    parser.add_argument("--template", type=Path, help="a saved capture (else: capture now)")
    parser.add_argument("--save-template", type=Path, help="save the capture here")
    parser.add_argument("--cold", action="store_true",
                        help="no warm-up visit: the class opens the link on a fresh server")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if any(not 1 <= n <= 1000 for n in args.students):
        parser.error("--students must be 1..1000")
    if not 1 <= args.duration <= 900:
        parser.error("--duration must be 1..900 s")

    sys.path.insert(0, str(ROOT / "deploy"))
    from serve import raise_open_files_limit
    # One socket per student here and in the server (which inherits the limit).
    open_files = raise_open_files_limit()
    print(f"Lecture hall: {os.cpu_count()} CPUs; load average before {machine_load()}; "
          f"open files limit {open_files}", flush=True)
    with Server(args) as server:
        template = load_template(args.template) if args.template else \
            capture_template(server.url, args.save_template)
        print(f"server {server.url} (pids {server.pids()}); release template "
              f"{len(template['release'])} bytes", flush=True)
        if not args.cold:
            asyncio.run(warm_up(server.backends(), template))
        rows = []
        if args.ceiling:
            n = args.students[0]
            schedule = [(n / rate, args.step) for rate in args.rates]
            r = run_class(server, template, n, schedule, args)
            print(f"Ceiling, {n} students, {args.step:g} s per step; {len(r['errors'])} errors")
            print("| offered (releases/s) | served (releases/s) | p50 (ms) | p95 (ms) | p99 (ms) "
                  "| server CPU / release (ms) | server busy (cores) |")
            print("|---|---|---|---|---|---|---|")
            passed = []
            for s in r["steps"]:
                t = s["times"]
                if percentile(t, 95) <= P95_TARGET_MS and s["served"] >= 0.9 * s["offered"]:
                    passed.append(s["offered"])
                print(f"| {s['offered']:.1f} | {s['served']:.1f} | {percentile(t, 50):.0f} "
                      f"| {percentile(t, 95):.0f} | {percentile(t, 99):.0f} | {s['cpu_ms']:.0f} "
                      f"| {s['cores']:.2f} |", flush=True)
            ceiling = f"{max(passed):g}" if passed else "below the first step"
            print(f"ceiling: {ceiling} "
                  f"releases/s with p95 <= {P95_TARGET_MS:.0f} ms; load average after {machine_load()}")
            for e, c in Counter(e[:100] for e in r["errors"]).most_common(5):
                print(f"    error x{c}: {e}")
            return
        for n in args.students:
            r = run_class(server, template, n, [(args.interval, args.duration)], args)
            rows.append(r)
            print(describe(r, f"{n} students"), flush=True)
    print(f"load average after {machine_load()}")
    print()
    print("| N | releases | served (/s) | p50 (ms) | p95 (ms) | p99 (ms) | errors | server CPU / "
          "release (ms) | server busy (cores) | sent / release: wire p50 / max (kB) | uncompressed "
          "p50 (kB) | page load p95 (s) "
          "| RSS start / peak / after close (MB) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        s = r["steps"][0]
        t = s["times"]
        print(f"| {r['n']} | {s['n']} | {s['served']:.1f} | {percentile(t, 50):.0f} "
              f"| {percentile(t, 95):.0f} | {percentile(t, 99):.0f} | {len(r['errors'])} "
              f"| {s['cpu_ms']:.0f} | {s['cores']:.2f} | {kb(s['wire'], 50)} / {kb(s['wire'], 100)} "
              f"| {kb(s['bytes'], 50)} "
              f"| {percentile(r['loads'], 95):.1f} "
              f"| {r['rss_start']:.0f} / {r['rss_peak']:.0f} / {r['rss_after']:.0f} |")


if __name__ == "__main__":
    main()
