"""Start the app's server warm: its first visitor does not wait for the imports.

``python -m roiviz.app.warm [APP_SCRIPT] [streamlit options]`` is ``streamlit run APP_SCRIPT
[options]`` (default: :data:`roiviz.resources.APP_SCRIPT`) after :func:`warm_up`: the modules
``app.py`` and every page import (torch, matplotlib, plotly, pandas, pyarrow: about 3 s of CPU),
the default Playground's input, feature map and traces once (torch's first convolution), and the
import-time objects frozen out of the garbage collector's scans (:func:`freeze_once`). Streamlit
runs a page's script only when a visitor's browser asks for it, so with a plain ``streamlit run``
the first visitor of a new server waited for all of that; here the server answers its health
check (and HAProxy sends it visitors, ``deploy/serve.py``) once it is done. ``make run``,
``roiviz app`` and ``make serve`` start the app this way (benchmarks/bench_first_load.py
measures both).

:func:`freeze_once` is also what ``app.py`` calls on every run.
"""

from __future__ import annotations

import ast
import gc
import importlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ..resources import APP_SCRIPT

_frozen = False


def freeze_once() -> None:
    """Once per server process: collect, then freeze every object alive (``gc.freeze``).

    Streamlit's runs and Python's collector would otherwise scan the some 300,000 long-lived
    objects of torch, pandas and plotly again and again (benchmarks/classroom.py). A module flag
    says it is done, not ``gc.get_freeze_count()``: in CPython 3.11 that counts the frozen
    objects one by one, 40-60 ms on every script run of a warm server.
    """
    global _frozen
    if not _frozen:
        gc.collect()
        gc.freeze()
        _frozen = True


def script_imports(path: Path) -> list[str]:
    """The modules a script imports at its top level (``import a.b``, ``from a import b``: ``a``
    and, where ``b`` is a submodule, ``a.b``), in order; relative imports are left out.

    Args:
        path: a Python file (``app.py``, a page).
    """
    names: list[str] = []
    for node in ast.parse(Path(path).read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*"]
    return list(dict.fromkeys(names))


def import_all(names: Sequence[str]) -> list[str]:
    """Import each module name that is a module (``a.b`` of ``from a import b`` may be a function
    or a class: skipped). Returns the names that failed for another reason than not being a
    module (the page will show its own error)."""
    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:     # a module it needs is missing, not "name is not a module"
                failed.append(name)
        except Exception:  # noqa: BLE001 - warming must never keep the server from starting
            failed.append(name)
    return failed


def warm_default_playground() -> None:
    """The default Playground's data, once: its sample photo (cached by :mod:`roiviz.samples`),
    the feature map and the traces of the default box (their first torch calls), and the photo's
    JPEG for the stage. The page computes them again in its own caches: about 50 ms."""
    from .. import features, samples
    from ..methods import trace_all
    from .stage import encode_display_image
    from .state import PlaygroundState, default_box

    state = PlaygroundState()
    image = samples.load_sample_image(state.sample)
    fmap = features.image_feature_map(image, state.stride, name=state.sample)
    values = fmap.channel(state.channel)
    trace_all(values, default_box(values.shape, state.stride), state.settings(), state.methods,
              record_samples=False)
    encode_display_image(image)


def warm_up(app_script: Path = APP_SCRIPT) -> dict[str, float]:
    """Import what ``app_script`` and the pages import, compute the default Playground once and
    :func:`freeze_once`. Never raises: a step that fails is reported on stderr and skipped.

    Returns:
        Seconds per step: ``{"imports", "playground", "freeze"}``.
    """
    app_script = Path(app_script).resolve()
    if str(app_script.parent) not in sys.path:   # as `streamlit run` does: pages import roiviz
        sys.path.insert(0, str(app_script.parent))
    seconds = {}
    start = time.perf_counter()
    failed = import_all(script_imports(app_script))
    try:
        from .ui import PAGES
        for page, _title, _url in PAGES:
            if (app_script.parent / page).is_file():
                failed += import_all(script_imports(app_script.parent / page))
    except Exception as exc:  # noqa: BLE001
        failed.append(f"the pages ({type(exc).__name__})")
    seconds["imports"] = time.perf_counter() - start
    start = time.perf_counter()
    try:
        warm_default_playground()
    except Exception as exc:  # noqa: BLE001 - the page reports its own errors
        failed.append(f"the default Playground ({type(exc).__name__}: {exc})")
    seconds["playground"] = time.perf_counter() - start
    start = time.perf_counter()
    freeze_once()
    seconds["freeze"] = time.perf_counter() - start
    if failed:
        print(f"roiviz: could not warm {', '.join(failed)}", file=sys.stderr, flush=True)
    return seconds


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m roiviz.app.warm [APP_SCRIPT] [streamlit options]``: :func:`warm_up`, then
    Streamlit's ``run`` in this process (the modules stay imported)."""
    args = list(sys.argv[1:] if argv is None else argv)
    script = Path(args.pop(0)) if args and args[0].endswith(".py") else APP_SCRIPT
    seconds = warm_up(script)
    print("roiviz: warmed up in " + ", ".join(f"{k} {v:.2f} s" for k, v in seconds.items()),
          file=sys.stderr, flush=True)
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(script), *args]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    # Run as `python -m`, this file is `__main__`; app.py imports roiviz.app.warm (the same file
    # as another module), whose freeze flag must be the one warm_up sets: run that module's main.
    importlib.import_module(__spec__.name).main()
