"""roiviz.app.warm: what a warm start imports and computes before Streamlit's server answers.

The warm-up runs in a fresh interpreter (this test process has imported much already), on the
real app.py and pages; the server itself is started warm by tests/test_browser_first_load.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from roiviz.app.warm import import_all, script_imports

REPO = Path(__file__).resolve().parents[2]


def test_script_imports_lists_top_level_absolute_imports_in_order(tmp_path):
    script = tmp_path / "page.py"
    script.write_text(
        "from __future__ import annotations\n"
        "import json, os.path\n"
        "from roiviz.drawing import render_mpl\n"
        "from roiviz.methods import METHODS as M\n"
        "from . import sibling\n"
        "def later():\n"
        "    import torch\n")
    assert script_imports(script) == ["json", "os.path", "roiviz.drawing", "roiviz.drawing.render_mpl",
                                      "roiviz.methods", "roiviz.methods.METHODS"]


def test_import_all_skips_names_that_are_not_modules_and_reports_broken_ones():
    # METHODS is a constant of roiviz.methods (not a module): skipped, not a failure; a module
    # that does not exist at all is a failure to report.
    assert import_all(["json", "roiviz.methods", "roiviz.methods.METHODS"]) == []
    assert import_all(["roiviz_no_such_module_xyz"]) == []          # itself missing: not a module
    assert import_all(["roiviz.drawing.no_such_module"]) == []
    assert import_all(["email.mime.text.MIMEText.not_a_module"]) == ["email.mime.text.MIMEText.not_a_module"]


def test_warm_up_imports_what_the_pages_need_computes_the_playground_and_freezes_once():
    code = (
        "import gc, json, sys\n"
        "from roiviz.app import warm\n"
        "heavy = ('torch', 'matplotlib', 'plotly', 'pandas', 'pyarrow', 'streamlit', 'roiviz.app.ui',\n"
        "         'roiviz.drawing.animate', 'roiviz.drawing.render_mpl')\n"
        "before = [m for m in heavy if m in sys.modules]\n"
        "seconds = warm.warm_up()\n"
        "frozen = gc.get_freeze_count()\n"
        "warm.freeze_once()\n"
        "print(json.dumps({'before': before, 'after': [m for m in heavy if m in sys.modules],\n"
        "                  'seconds': seconds, 'frozen': frozen, 'again': gc.get_freeze_count(),\n"
        "                  'flag': warm._frozen}))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    assert "could not warm" not in result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["before"] == []
    assert out["after"] == ["torch", "matplotlib", "plotly", "pandas", "pyarrow", "streamlit", "roiviz.app.ui",
                            "roiviz.drawing.animate", "roiviz.drawing.render_mpl"]
    assert set(out["seconds"]) == {"imports", "playground", "freeze"}
    assert out["flag"] is True
    assert out["frozen"] > 100_000             # torch's, pandas', plotly's objects
    assert out["again"] == out["frozen"]       # freeze_once did not collect and freeze again
