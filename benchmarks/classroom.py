"""A class at once: N students on the Playground, each dragging a box every 2 seconds.

For each N: a fresh ``streamlit run app.py`` on 127.0.0.1 and one headless Debian Chromium
(``/usr/bin/chromium``, Playwright) holding N browser contexts, i.e. N independent sessions.
Every session opens the issue's Playground link (astronaut 512 x 512, stride 16, 7 x 7, all
four methods), then, for ``--duration`` seconds, drags a random box across the feature map
on the live stage every ``--interval`` seconds (a session waits for its update before its next drag, so a slow
update delays that student's next drag, as it would a real student's).

Recorded per interaction: the time from mouse-up to the server's answer, timed in the page
(the stage shows the server's numbers for its release, the script has stopped, nothing is
stale, the table is drawn), and the table's rows, checked afterwards against the engine. Errors: timeouts (``--timeout``), page errors, tables that differ from the
engine, pages that fail to open.

The server's resident memory (``VmRSS`` of the streamlit process) is sampled every 0.5 s:
cold (just started), at the start (after one warm-up visit, so imports and the caches of the
shared link are in), the peak while the class works, and after every session has closed and
Streamlit has dropped the sessions (``server.disconnectedSessionTTL``, lowered to ``--ttl``
seconds for this run only, so the run stays short; the default keeps a closed tab's session
120 s for a reconnect). The server's CPU time per interaction is reported too: on this
machine the N browsers share the 2 cores with the server, so the page latency at large N
measures the browsers' own rendering as much as the server.

Run: ``.venv/bin/python benchmarks/classroom.py`` (N = 10 and 30, about 8 minutes), or
``--sessions 5 --duration 20`` for a quick look. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import (
    CHROMIUM,
    CHROMIUM_ARGS,
    MOUSEUP_STAMP_JS,
    STAGE_ANSWERED_JS,
    STAGE_MAP_JS,
    QUERY,
    ROOT,
    cpu_seconds,
    descendants_cpu_seconds,
    drag_points,
    expected_rows,
    machine_load,
    percentile,
    rss_mb,
    server_alive,
    streamlit_server,
)

from roiviz.methods import REGISTRY  # noqa: E402

STRIDE = 16
MAX_SESSIONS = 60  # a load test on this machine, bounded


class RssSampler(threading.Thread):
    """Samples a process's VmRSS every ``period`` seconds into ``samples`` (time, MB)."""

    def __init__(self, pid: int, period: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.samples: list[tuple[float, float]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.samples.append((time.monotonic(), rss_mb(self.pid)))
            except (OSError, RuntimeError):
                return
            self._halt.wait(self.period)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def peak(self, since: float = 0.0) -> float:
        return max((mb for t, mb in self.samples if t >= since), default=float("nan"))


async def open_session(browser, url: str, errors: list, index: int, load_timeout: float):
    context = await browser.new_context(viewport={"width": 1500, "height": 1000})
    await context.add_init_script(MOUSEUP_STAMP_JS)
    page = await context.new_page()
    page.set_default_timeout(load_timeout * 1000)
    page.on("pageerror", lambda exc: errors.append(f"session {index}: page error: {exc}"))
    await page.goto(url + "/" + QUERY)
    await page.wait_for_selector("table.roiviz-summary")
    await page.wait_for_function(STAGE_ANSWERED_JS, arg=-1, polling=200)
    await page.locator(".roiviz-stage .surface[data-surface=map]").scroll_into_view_if_needed()
    return context, page


async def student(index: int, page, t_end: float, interval: float, timeout: float,
                  results: list, errors: list, seed: int) -> None:
    """Drag every ``interval`` s until ``t_end`` (event-loop time); record each interaction."""
    loop = asyncio.get_running_loop()
    rng = random.Random(seed * 1000 + index)
    await asyncio.sleep(rng.uniform(0, interval))  # students do not drag in lockstep
    next_at = loop.time()
    while loop.time() < t_end:
        try:
            before = await page.evaluate(STAGE_MAP_JS)
            points = drag_points(before["bb"], rng)
            await page.mouse.move(*points[0])
            await page.mouse.down()
            for p in points[1:]:
                await page.mouse.move(*p)
            await page.mouse.up()
            handle = await page.wait_for_function(STAGE_ANSWERED_JS, arg=before["seq"],
                                                  polling="raf", timeout=timeout * 1000)
            done = await handle.json_value()
            results.append((index, float(done["ms"]), done["box"], done["rows"]))
        except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
            errors.append(f"session {index}: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - loop.time()))


async def run_class(url: str, n: int, duration: float, interval: float, timeout: float,
                    seed: int, on_phase) -> dict:
    from playwright.async_api import async_playwright

    results, errors = [], []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            opened = await asyncio.gather(
                *(open_session(browser, url, errors, i, load_timeout=180) for i in range(n)),
                return_exceptions=True)
            sessions = []
            for i, o in enumerate(opened):
                if isinstance(o, BaseException):
                    errors.append(f"session {i}: did not open: {type(o).__name__}: {str(o)[:120]}")
                else:
                    sessions.append((i, o))
            on_phase("drag")
            loop = asyncio.get_running_loop()
            t_end = loop.time() + duration
            await asyncio.gather(*(student(i, page, t_end, interval, timeout, results, errors, seed)
                                   for i, (_, page) in sessions))
            on_phase("close")
            for _, (context, _) in sessions:
                await context.close()
        finally:
            await browser.close()
    return {"results": results, "errors": errors}


def check_tables(results) -> list[str]:
    bad = []
    for index, _ms, box, rows in results:
        values = tuple(float(v) for v in box.split(","))
        want = {REGISTRY[m].label: row for m, row in expected_rows(values, STRIDE).items()}
        if rows != want:
            bad.append(f"session {index}: tables differ from the engine for box {box}")
    return bad


def warm_up(url: str) -> None:
    """One visit (then closed): imports, the shared link's feature map and traces are cached."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.goto(url + "/" + QUERY)
            page.wait_for_function(STAGE_ANSWERED_JS, arg=-1, polling=200, timeout=120_000)
        finally:
            browser.close()


def one_class(n: int, args) -> dict:
    """``args.rounds`` classes of ``n`` students, one after the other, on one fresh server."""
    log = ROOT / "benchmarks" / f"classroom-server-{n}.log"
    extra = [f"--server.disconnectedSessionTTL={args.ttl}"]
    results, errors, afters = [], [], []
    phases: dict[str, float] = {}
    cpu: dict[str, float] = {}
    browsers: dict[str, float] = {}
    busy = {"server": 0.0, "browsers": 0.0, "seconds": 0.0}

    def on_phase(name: str) -> None:
        phases[name] = time.monotonic()
        cpu[name] = cpu_seconds(pid)
        browsers[name] = descendants_cpu_seconds(os.getpid())
        if name == "close":
            busy["server"] += cpu["close"] - cpu["drag"]
            busy["browsers"] += browsers["close"] - browsers["drag"]
            busy["seconds"] += phases["close"] - phases["drag"]

    with streamlit_server(log, extra_args=extra) as (url, pid):
        cold = rss_mb(pid)
        warm_up(url)
        time.sleep(args.ttl + 5)  # the warm-up visit's session is dropped too
        start = rss_mb(pid)
        sampler = RssSampler(pid)
        sampler.start()
        load_before = machine_load()
        for _ in range(args.rounds):
            out = asyncio.run(run_class(url, n, args.duration, args.interval, args.timeout,
                                        args.seed + len(afters), on_phase))
            results += out["results"]
            errors += out["errors"]
            # Wait for Streamlit to drop the closed sessions, then for the memory to settle.
            deadline = time.monotonic() + args.ttl + 60
            time.sleep(args.ttl + 5)
            after = rss_mb(pid)
            while time.monotonic() < deadline:
                time.sleep(2)
                now = rss_mb(pid)
                if abs(now - after) < 1:
                    break
                after = now
            afters.append(after)
        sampler.stop()
        peak = sampler.peak()
        alive = server_alive(url)
    errors += check_tables(results)
    if not alive:
        errors.append("the server stopped answering /_stcore/health")
    times = [ms for _, ms, _, _ in results]
    seconds = busy["seconds"] or float("nan")
    return {
        "n": n, "interactions": len(times), "errors": errors, "times": times,
        "cold": cold, "start": start, "peak": peak, "after": afters[-1], "afters": afters,
        "server_cpu_ms": 1000 * busy["server"] / max(len(times), 1),
        "server_cpu_share": busy["server"] / seconds,
        "browser_cpu_ms": 1000 * busy["browsers"] / max(len(times), 1),
        "browser_cpu_share": busy["browsers"] / seconds,
        "load": load_before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[10, 30],
                        help="class sizes N to run, one after the other (default 10 30)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of dragging")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between drags")
    parser.add_argument("--timeout", type=float, default=30.0, help="an update slower than this is an error")
    parser.add_argument("--ttl", type=int, default=20, help="server.disconnectedSessionTTL for the run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=1,
                        help="classes one after the other on the same server (a leak grows per round)")
    args = parser.parse_args()
    if any(not 1 <= n <= MAX_SESSIONS for n in args.sessions):
        parser.error(f"--sessions must be 1..{MAX_SESSIONS}")
    if not 1 <= args.rounds <= 5:
        parser.error("--rounds must be 1..5")
    if not 5 <= args.duration <= 600:
        parser.error("--duration must be 5..600 seconds")

    print(f"Classroom: {args.rounds} x {args.duration:g} s of dragging, one drag every "
          f"{args.interval:g} s per session; {os.cpu_count()} CPUs shared by the server and all "
          "the browsers")
    rows = []
    for n in args.sessions:
        r = one_class(n, args)
        rows.append(r)
        t = r["times"]
        print(f"N={n}: {r['interactions']} interactions, {len(r['errors'])} errors, "
              f"p50 {percentile(t, 50):.0f} ms, p95 {percentile(t, 95):.0f} ms, max "
              f"{max(t, default=float('nan')):.0f} ms; RSS cold {r['cold']:.0f} MB, start "
              f"{r['start']:.0f}, peak {r['peak']:.0f}, after each round "
              f"{', '.join(f'{a:.0f}' for a in r['afters'])} MB; server CPU "
              f"{r['server_cpu_ms']:.0f} ms per interaction ({100 * r['server_cpu_share']:.0f}% of "
              f"one core); the N browsers' CPU {r['browser_cpu_ms']:.0f} ms per interaction "
              f"({100 * r['browser_cpu_share']:.0f}% of one core); planned "
              f"{int(n * args.duration / args.interval) * args.rounds} interactions; load average before "
              f"{r['load']}", flush=True)
        for e in r["errors"][:20]:
            print("    error:", e)
        if len(r["errors"]) > 20:
            print(f"    ... and {len(r['errors']) - 20} more")
    print()
    print("| N | interactions (planned) | errors | p50 (ms) | p95 (ms) | server RSS start (MB) "
          "| peak (MB) | after close (MB) | after - start (MB) | server CPU / interaction (ms) "
          "| CPU busy: server / browsers (cores) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        t = r["times"]
        planned = int(r["n"] * args.duration / args.interval) * args.rounds
        print(f"| {r['n']} | {r['interactions']} ({planned}) | {len(r['errors'])} "
              f"| {percentile(t, 50):.0f} | {percentile(t, 95):.0f} | {r['start']:.0f} "
              f"| {r['peak']:.0f} | {r['after']:.0f} | {r['after'] - r['start']:+.0f} "
              f"| {r['server_cpu_ms']:.0f} | {r['server_cpu_share']:.2f} / {r['browser_cpu_share']:.2f} |")


if __name__ == "__main__":
    main()
