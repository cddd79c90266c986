"""The ``roiviz`` command (installed by ``pip install "roiviz[app]"``; see ``pyproject.toml``).

``roiviz app [streamlit options]``
    Serve the app on http://localhost:8501 (``streamlit run`` of the installed ``app.py``, with the
    app's own ``.streamlit/config.toml``, started warm by :mod:`roiviz.app.warm`). Options after ``app`` go to Streamlit, e.g.
    ``roiviz app --server.port 8600``.
``roiviz bench [bench_ops options]``
    The README's speed table of the ops (``benchmarks/bench_ops.py`` of a checkout, with its
    test packages: ONNX Runtime is the comparison).
``roiviz serve [--workers N] [--port P] [--bind ADDR]``
    The lecture-hall deployment: N Streamlit processes behind HAProxy (README, "A lecture hall";
    needs Debian's ``haproxy``).

Only ``app`` and ``serve`` need the ``[app]`` extra; the command says so when it is missing.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from collections.abc import Sequence

from .resources import APP_DIR, APP_SCRIPT, BENCHMARKS_DIR, DEPLOY_DIR

__all__ = ["main"]

_APP_EXTRA = ('roiviz {command} needs the app\'s packages (Streamlit, plotly, matplotlib, pillow): '
              'pip install "roiviz[app]"')


def _require_app(command: str) -> None:
    missing = [m for m in ("streamlit", "plotly", "matplotlib", "PIL") if importlib.util.find_spec(m) is None]
    if missing:
        raise SystemExit(_APP_EXTRA.format(command=command) + f" (missing: {', '.join(missing)})")


def run_app(streamlit_args: Sequence[str]) -> int:
    """Run the app in this terminal until Ctrl-C; returns Streamlit's exit code."""
    _require_app("app")
    # The working directory is the app's folder, so Streamlit reads the app's config.toml.
    # roiviz.app.warm: `streamlit run` once the pages' modules are imported (the first visitor
    # does not wait for torch and matplotlib).
    command = [sys.executable, "-m", "roiviz.app.warm", str(APP_SCRIPT), *streamlit_args]
    try:
        return subprocess.call(command, cwd=APP_DIR)
    except KeyboardInterrupt:
        return 0


def run_serve(argv: Sequence[str]) -> int:
    _require_app("serve")
    spec = importlib.util.spec_from_file_location("roiviz_serve", DEPLOY_DIR / "serve.py")
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    serve.main(list(argv), app=APP_SCRIPT)
    return 0


def run_bench(argv: Sequence[str]) -> int:
    """The speed table: ``benchmarks/bench_ops.py`` of the checkout roiviz runs from."""
    script = BENCHMARKS_DIR / "bench_ops.py"
    if not script.is_file():
        raise SystemExit("roiviz bench runs the checkout's benchmarks/bench_ops.py (it compares with "
                         "ONNX Runtime, a test dependency), which an installed wheel does not hold: "
                         "in a clone of roiviz, run `make bench` or `roiviz bench`")
    return subprocess.call([sys.executable, str(script), *argv])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="roiviz", description="See how RoI Pool, RoI Warp, RoI Align and Precise RoI Pooling "
                                   "turn a box into a fixed-size feature.")
    parser.add_argument("--version", action="version", version=f"roiviz {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{app,serve,bench}")
    sub.add_parser("app", help="serve the app on http://localhost:8501 (options go to Streamlit)",
                   add_help=False)
    sub.add_parser("serve", help="N workers behind HAProxy for a lecture hall (--workers N)",
                   add_help=False)
    sub.add_parser("bench", help="the ops' speed table (a checkout's benchmarks/bench_ops.py)",
                   add_help=False)
    args, rest = parser.parse_known_args(argv)
    runner = {"app": run_app, "serve": run_serve, "bench": run_bench}[args.command]
    return runner(rest)


def _version() -> str:
    from . import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
