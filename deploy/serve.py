"""Serve roiviz with every core: W Streamlit processes behind HAProxy, sticky and health checked.

``make serve WORKERS=2`` runs ``deploy/serve.py --workers 2 --port 8501 --bind 0.0.0.0``:

- W workers, each ``streamlit run app.py`` started warm (``python -m roiviz.app.warm``: healthy
  once the pages' modules are imported) on its own port (``--port`` + 1 ... + W) on 127.0.0.1
  (only the proxy talks to them);
- HAProxy on ``--bind``:``--port`` with ``deploy/haproxy.cfg`` (sticky cookie, websockets
  tunnelled with long timeouts, ``/_stcore/health`` checked every second);
- a supervisor: a worker that dies is started again on its port; its students' browsers
  reconnect through the proxy to a live worker meanwhile, and their link restores their view.

One Streamlit process runs its scripts on one core at a time (the GIL), so W workers on W cores
serve up to W times the releases (README, "A lecture hall", for what was measured).
Stop with Ctrl-C. Needs Debian's ``haproxy`` (``make proxy`` installs it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from roiviz.app.hosting import PUBLIC_URL_ENV, public_address  # noqa: E402  (after the path)
CONFIG = Path(__file__).resolve().parent / "haproxy.cfg"


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
    if not found:
        raise SystemExit("haproxy is missing: `make proxy` installs Debian's haproxy")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=timeout) as r:
            return r.status == 200
    except OSError:
        return False


def raise_open_files_limit(wanted: int = 65536) -> int:
    """Raise this process's open-file limit (inherited by the workers it starts) towards ``wanted``.

    Every student holds one websocket: a worker, the proxy and the load generator each need
    a file descriptor per student, and a common soft limit of 1,024 would refuse a hall of
    1,000. The soft limit is raised up to the hard one (no privilege needed); returns it.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def haproxy_config(bind: str, servers: list[tuple[str, str]]) -> str:
    """``deploy/haproxy.cfg`` with ``bind`` ("host:port") and ``servers`` [(name, "host:port")]."""
    lines = "\n".join(f"    server {name} {address} check cookie {name}" for name, address in servers)
    return string.Template(CONFIG.read_text()).substitute(bind=bind, servers=lines)


class Fleet:
    """W Streamlit workers behind one HAProxy, with a supervisor that restarts dead workers."""

    def __init__(self, workers: int = 2, port: int = 0, bind: str = "127.0.0.1",
                 extra_args=(), log_dir: Path | None = None, app: Path = ROOT / "app.py",
                 restart_delay: float = 0.0):
        if not 1 <= workers <= 64:
            raise ValueError("workers must be 1..64")
        self.workers, self.bind, self.extra_args, self.app = workers, bind, list(extra_args), app
        self.port = port or free_port()
        self.worker_ports = [self.port + 1 + i if port else free_port() for i in range(workers)]
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen | None] = [None] * workers
        self.restarts = [0] * workers
        self.restart_delay = restart_delay  # seconds a dead worker stays down (tests)
        self._dead_since: dict[int, float] = {}
        self.proxy: subprocess.Popen | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="roiviz-serve-")
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.bind in ("0.0.0.0", "") else self.bind
        return f"http://{host}:{self.port}"

    def worker_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.worker_ports[i]}"

    def worker_pids(self) -> list[int]:
        return [p.pid for p in self.procs if p is not None and p.poll() is None]

    def _start_worker(self, i: int) -> None:
        log = open(self.log_dir / f"worker-{i + 1}.log", "a") if self.log_dir else subprocess.DEVNULL
        self.procs[i] = subprocess.Popen(
            [sys.executable, "-m", "roiviz.app.warm", str(self.app), "--server.headless=true",
             f"--server.port={self.worker_ports[i]}", "--server.address=127.0.0.1",
             "--browser.gatherUsageStats=false", *self.extra_args],
            cwd=self.app.parent, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def start(self, timeout: float = 180.0) -> None:
        raise_open_files_limit()   # the workers and the proxy inherit it
        for i in range(self.workers):
            self._start_worker(i)
        config = Path(self._dir.name) / "haproxy.cfg"
        config.write_text(haproxy_config(
            f"{self.bind}:{self.port}",
            [(f"w{i + 1}", f"127.0.0.1:{p}") for i, p in enumerate(self.worker_ports)]))
        check = subprocess.run([haproxy_binary(), "-c", "-f", str(config)],
                               capture_output=True, text=True)
        if check.returncode != 0:
            self.stop()
            raise RuntimeError(f"haproxy rejected the configuration: {check.stderr or check.stdout}")
        log = open(self.log_dir / "haproxy.log", "a") if self.log_dir else subprocess.DEVNULL
        self.proxy = subprocess.Popen([haproxy_binary(), "-db", "-f", str(config)],
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        for i in range(self.workers):
            while not healthy(self.worker_url(i)):
                if time.monotonic() > deadline or self.procs[i].poll() is not None:
                    self.stop()
                    raise RuntimeError(f"worker {i + 1} did not become healthy")
                time.sleep(0.3)
        while not healthy(self.url):
            if time.monotonic() > deadline or self.proxy.poll() is not None:
                self.stop()
                raise RuntimeError("haproxy did not start serving")
            time.sleep(0.2)
        self._supervisor.start()

    def _supervise(self) -> None:
        while not self._halt.wait(0.5):
            with self._lock:
                for i, proc in enumerate(self.procs):
                    if proc is not None and proc.poll() is not None and not self._halt.is_set():
                        since = self._dead_since.setdefault(i, time.monotonic())
                        if time.monotonic() - since < self.restart_delay:
                            continue
                        del self._dead_since[i]
                        print(f"serve: worker {i + 1} exited ({proc.returncode}); starting it "
                              "again", file=sys.stderr, flush=True)
                        self.restarts[i] += 1
                        self._start_worker(i)

    def kill_one(self, i: int = 0) -> int:
        """SIGKILL worker ``i`` (a crash, for tests and benchmarks); the supervisor restarts it."""
        pid = self.procs[i].pid
        os.kill(pid, signal.SIGKILL)
        return pid

    def worker_of(self, cookie_value: str) -> int:
        """The worker index named by the sticky cookie's value ("w1" -> 0)."""
        return int(cookie_value.lstrip("w")) - 1

    def stop(self) -> None:
        self._halt.set()
        with self._lock:
            for proc in [self.proxy, *self.procs]:
                if proc is not None and proc.poll() is None:
                    proc.terminate()
            for proc in [self.proxy, *self.procs]:
                if proc is not None:
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
        self._dir.cleanup()

    def __enter__(self) -> "Fleet":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None, app: Path = ROOT / "app.py") -> None:
    """``serve.py [--workers W] [--port P] [--bind ADDR] [streamlit options...]`` serving ``app``
    (the checkout's ``app.py``; ``roiviz serve`` passes the installed one)."""
    parser = argparse.ArgumentParser(prog="roiviz serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=max(1, os.cpu_count() or 1),
                        help="Streamlit processes (default: one per core)")
    parser.add_argument("--port", type=int, default=8501, help="the proxy's port (workers: +1..+W)")
    parser.add_argument("--bind", default="127.0.0.1",
                        help="the proxy's address (0.0.0.0: every interface, for a classroom)")
    parser.add_argument("--public-url", default=os.environ.get(PUBLIC_URL_ENV, ""),
                        help=f"the address readers reach, for the app's links and iframe snippets "
                             f"(sets {PUBLIC_URL_ENV} for the workers; default: that variable)")
    args, extra = parser.parse_known_args(argv)
    os.environ[PUBLIC_URL_ENV] = args.public_url    # the workers inherit it
    address = public_address()
    if not address.base:
        print(f"serve: {address.problem} Links and iframe snippets show a placeholder until it is "
              f"set: make serve PUBLIC_URL=https://your.host", file=sys.stderr, flush=True)
    fleet = Fleet(args.workers, args.port, args.bind, extra_args=extra, app=app)
    fleet.start()
    print(f"roiviz: {args.workers} workers on ports {fleet.worker_ports} behind HAProxy on "
          f"{args.bind}:{args.port}; open {fleet.url}/ (Ctrl-C stops)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            if fleet.proxy.poll() is not None:
                print("serve: haproxy exited", file=sys.stderr)
                break
    except KeyboardInterrupt:
        pass
    finally:
        fleet.stop()


if __name__ == "__main__":
    main()
