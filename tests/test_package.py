"""The computing core knows nothing of the UI (STYLE.md item 1): importing roiviz's computing
modules loads neither Streamlit nor a plotting library. Checked in a fresh interpreter, since
this test process may already have imported anything."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import roiviz

REPO = Path(__file__).resolve().parent.parent

#: The engine: numpy and torch only.
COMPUTING_MODULES = [
    "roiviz", "roiviz.geometry", "roiviz.bilinear", "roiviz.records", "roiviz.methods", "roiviz.params",
    "roiviz.roi_pool", "roiviz.roi_align", "roiviz.roi_warp", "roiviz.precise_roi_pool",
    "roiviz.ops", "roiviz._separable", "roiviz._checks", "roiviz.examples",
]
UI_PACKAGES = ("streamlit", "plotly", "matplotlib")


def _loaded_after_import(modules: list[str]) -> list[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_computing_modules_do_not_import_ui_libraries():
    loaded = _loaded_after_import(COMPUTING_MODULES)
    assert "roiviz" in loaded and "torch" in loaded and "numpy" in loaded
    for package in UI_PACKAGES:
        assert package not in loaded, f"importing the roiviz engine loaded {package}"


#: The pages' shared Streamlit glue; nothing else in the package may import it.
UI_GLUE = "roiviz.ui"


def test_no_roiviz_module_imports_streamlit():
    # Rendering modules may use plotly / matplotlib; only app.py, pages/ and their shared glue
    # (roiviz.ui, which no other roiviz module imports) may use Streamlit.
    modules = ["roiviz." + m.name for m in pkgutil.iter_modules(roiviz.__path__)]
    assert set(COMPUTING_MODULES[1:]) <= set(modules)
    assert "streamlit" not in _loaded_after_import([m for m in modules if m != UI_GLUE])
    for path in (REPO / "roiviz").glob("*.py"):
        if path.stem != "ui":
            text = path.read_text()
            assert "import streamlit" not in text and "roiviz.ui" not in text and "from .ui" not in text, path
