"""The package's layers (STYLE.md item 1, issue #21): the library at the top of ``roiviz/``,
then :mod:`roiviz.lessons`, :mod:`roiviz.drawing` and :mod:`roiviz.app`, each importing only the
layers below it; the front doors (:mod:`roiviz.cli`, :mod:`roiviz.notebook`) may use them all.

Two checks: the import statements in the source (every one, also those inside functions), and
what a fresh interpreter has loaded after importing the library (this test process may already
have imported anything)."""

from __future__ import annotations

import ast
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import roiviz

REPO = Path(__file__).resolve().parent.parent
PACKAGE = Path(roiviz.__file__).parent

#: Layers, lowest first; a module may import its own layer and those before it.
LAYERS = ("library", "lessons", "drawing", "app", "front door")
FRONT_DOORS = {"roiviz.cli", "roiviz.notebook"}
#: The only modules that may import Streamlit: the pages' shared widgets, the stage component and
#: the launcher that starts Streamlit's server warm (roiviz.app.warm, inside its main()).
UI_GLUE = {"roiviz.app.ui", "roiviz.app.ui_stage", "roiviz.app.warm"}
UI_PACKAGES = ("streamlit", "plotly", "matplotlib")


def _all_modules() -> dict[str, Path]:
    """Every module of the package by dotted name (packages by their ``__init__``)."""
    found = {"roiviz": PACKAGE / "__init__.py"}
    for info in pkgutil.walk_packages(roiviz.__path__, "roiviz."):
        parts = info.name.split(".")[1:]
        found[info.name] = (PACKAGE.joinpath(*parts, "__init__.py") if info.ispkg
                            else PACKAGE.joinpath(*parts[:-1], parts[-1] + ".py"))
    return found


MODULES = _all_modules()


def layer(module: str) -> str:
    if module in FRONT_DOORS:
        return "front door"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ("lessons", "drawing", "app") else "library"


def imports_of(module: str) -> set[str]:
    """The roiviz modules ``module`` imports anywhere in its source (resolved to dotted names)."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = (package[: len(package) - node.level + 1] if node.level else [])
            target = ".".join(base + (node.module.split(".") if node.module else []))
            if not target.startswith("roiviz"):
                continue
            for alias in node.names:   # `from roiviz import ops` imports the module roiviz.ops
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in MODULES else target)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("roiviz")}
    return {m for m in found if m in MODULES}


def test_every_module_has_a_layer_and_the_layers_exist():
    by_layer = {name: sorted(m for m in MODULES if layer(m) == name) for name in LAYERS}
    assert all(by_layer.values()), by_layer
    for name in ("roiviz.ops", "roiviz.roi_align", "roiviz.precise_roi_pool", "roiviz.geometry"):
        assert layer(name) == "library"
    # The library ends at the top level and conventions/: no lesson, drawing or Streamlit module
    # sits beside the ops.
    top = {m.split(".")[1] for m in MODULES if m.count(".") == 1 and layer(m) == "library"}
    assert not {m for m in top if m.startswith(("render", "ui", "lesson", "animate", "export", "style"))}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_imports_only_its_layer_and_below(module):
    rank = LAYERS.index(layer(module))
    above = sorted(m for m in imports_of(module) if LAYERS.index(layer(m)) > rank)
    assert not above, f"{module} ({layer(module)}) imports {above}"


def test_the_layer_check_sees_relative_and_lazy_imports():
    # The check must catch the forms the code uses: relative, parent-relative, absolute, lazy.
    assert "roiviz.drawing.stage_bundle" in imports_of("roiviz.drawing.export")   # lazy, relative
    assert "roiviz.lessons.evidence" in imports_of("roiviz.drawing.render_mpl")   # `from ..lessons`
    assert {"roiviz.roi_align", "roiviz.roi_warp"} <= imports_of("roiviz.methods")  # `from . import`
    assert "roiviz.app.stage" in imports_of("roiviz.notebook")


def test_no_import_cycle_inside_roiviz():
    """No roiviz module imports one that (directly or not) imports it back."""
    graph = {m: {d for d in imports_of(m) if d != "roiviz"} for m in MODULES}

    def reaches(start, target, seen=()):
        return any(d == target or (d not in seen and reaches(d, target, seen + (d,)))
                   for d in graph.get(start, ()))

    cycles = [m for m in graph if reaches(m, m)]
    assert not cycles, cycles


def _loaded_after_import(modules: list[str]) -> list[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_library_loads_no_layer_above_it_and_no_ui_library():
    library = sorted(m for m in MODULES if layer(m) == "library")
    loaded = _loaded_after_import(library)
    tops = {m.split(".")[0] for m in loaded}
    assert {"roiviz", "torch", "numpy"} <= tops
    for package in UI_PACKAGES:
        assert package not in tops, f"importing the roiviz library loaded {package}"
    assert not [m for m in loaded if m.startswith(("roiviz.lessons", "roiviz.drawing", "roiviz.app"))]


def test_only_the_ui_glue_imports_streamlit():
    # Drawing may use matplotlib and plotly; only app.py, pages/ and their shared glue
    # (roiviz.app.ui, roiviz.app.ui_stage and the launcher roiviz.app.warm) may use Streamlit.
    assert UI_GLUE <= set(MODULES)
    loaded = _loaded_after_import(sorted(m for m in MODULES if m not in UI_GLUE))
    assert "streamlit" not in {m.split(".")[0] for m in loaded}
    for module, path in MODULES.items():
        if module in UI_GLUE:
            continue
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not {n for n in names if n.split(".")[0] == "streamlit"}, module
        assert not (set().union(*[imports_of(module)]) & UI_GLUE), module
