"""roiviz.notebook.Stage: the app's stage as an anywidget, in the kernel and in a real JupyterLab.

The unit tests drive the widget's model from Python as the browser would (a release is a write
to ``released``). The browser test starts a real JupyterLab server, opens the shipped example
notebook in Chromium, runs it, drags the box on the widget with the mouse, and checks in the
running kernel (a second client on its connection file) that ``stage.box`` is the drawn box.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import traitlets

from browser_support import ARTIFACTS, chromium_browser, free_port, require_chromium
from roiviz.methods import METHODS, trace_all
from roiviz.notebook import Stage, widget_module
from roiviz.drawing.stage_bundle import stage_module

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "examples" / "your_own_feature_map.ipynb"


def _stage(**kwargs) -> Stage:
    torch.manual_seed(0)
    return Stage(torch.randn(3, 20, 30), stride=16, **kwargs)


def test_widget_module_is_the_apps_stage_plus_the_widget_entry():
    module = widget_module()
    # No second copy of the drawing: the app's bundle, its entry renamed, then widget.js.
    assert module.startswith(stage_module(default_as="mountStage"))
    assert module.count("export default") == 1
    assert "function buildStage" in module or "buildStage" in module


def test_release_from_the_browser_sets_box_and_reference():
    stage = _stage()
    stage.released = {"box": [200.0, 150.0, 16.0, 16.0], "seq": 1}    # corners in any order
    assert stage.box == (16.0, 16.0, 200.0, 150.0)
    assert stage.data["box"] == [16.0, 16.0, 200.0, 150.0] and stage.data["seq"] == 1
    # The reference the stage compares its numbers with is roiviz's trace of that box.
    expected = trace_all(stage._values(), stage.box, stage.settings, METHODS, record_samples=False)
    for method, trace in expected.items():
        assert stage.data["reference"][method]["output"] == pytest.approx(trace.output.ravel().tolist())
    assert stage.message == ""


def test_bad_release_keeps_the_box_and_says_why():
    stage = _stage(box=(16, 16, 100, 100))
    for bad in ({"box": [1e9, 1e9, 2e9, 2e9], "seq": 1}, {"box": "x"}, {"box": [1, 2, 3]},
                {"box": [5000.0, 5000.0, 6000.0, 6000.0], "seq": 2}):
        stage.released = bad
        assert stage.box == (16.0, 16.0, 100.0, 100.0)
        assert stage.message.endswith("The previous box is kept.")
        assert stage.data["notices"] == [stage.message]
    stage.released = {"box": [0.0, 0.0, 64.0, 64.0], "seq": 3}
    assert stage.box == (0.0, 0.0, 64.0, 64.0) and stage.message == "" and stage.data["notices"] == []


def test_box_set_in_python_moves_the_drawing_and_channel_switches_the_map():
    stage = _stage()
    stage.box = (0, 0, 64, 48)
    assert stage.data["box"] == [0.0, 0.0, 64.0, 48.0]
    with pytest.raises(ValueError, match="outside|overlap|map"):
        stage.box = (5000, 5000, 6000, 6000)
    assert stage.box == (0.0, 0.0, 64.0, 48.0)
    before = stage.data["map"]["b64"]
    stage.channel = 2
    assert stage.data["map"]["b64"] != before and "channel 2" in stage.data["titles"]["map"]
    stage.channel = 7                      # no such channel: the picker's value is refused
    assert stage.channel == 2
    traces = stage.traces()
    assert set(traces) == set(METHODS)
    assert all(b.samples for b in traces["roi_align"].bins)          # the teaching trace, samples and all


def test_bad_arguments_are_sentences():
    with pytest.raises(ValueError, match=r"\[h, w\] or \[C, h, w\]"):
        Stage(np.zeros((1, 2, 3, 4)))
    with pytest.raises(ValueError, match="NaN"):
        Stage(np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="methods"):
        Stage(np.zeros((4, 4)), methods=["roi_nope"])
    with pytest.raises(ValueError, match="image must be uint8"):
        Stage(np.zeros((4, 4)), image=np.zeros((64, 64, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="channel"):
        Stage(np.zeros((2, 4, 4)), channel=2)
    with pytest.raises(ValueError, match="height"):
        Stage(np.zeros((4, 4)), height=100)


def test_the_stage_height_is_the_widgets_and_stays_in_bounds():
    stage = Stage(np.zeros((8, 8)))
    assert stage.height == 640
    stage.height = 800
    assert stage.height == 800
    with pytest.raises(traitlets.TraitError, match="height"):
        stage.height = 5000
    assert stage.height == 800


# ------------------------------------------------------------------------------------------------
# A real JupyterLab, the shipped example notebook, a mouse drag in Chromium.

_SERVER_CONFIG = """
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.port = {port}
c.ServerApp.port_retries = 0
c.ServerApp.open_browser = False
c.ServerApp.password = ""
c.ServerApp.disable_check_xsrf = True
c.ServerApp.allow_root = True   # CI runs as root
c.IdentityProvider.token = ""
c.ServerApp.root_dir = {root!r}
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabApp.expose_app_in_browser = True
c.LabApp.extension_manager = "readonly"
"""


@contextlib.contextmanager
def jupyterlab(root: Path, home: Path):
    port = free_port()
    dirs = {name: home / name for name in ("config", "data", "runtime", "ipython")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    (dirs["config"] / "jupyter_server_config.py").write_text(_SERVER_CONFIG.format(port=port, root=str(root)))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(dirs["config"]), "JUPYTER_DATA_DIR": str(dirs["data"]),
           "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]), "IPYTHONDIR": str(dirs["ipython"]),
           "JUPYTER_PLATFORM_DIRS": "1", "PYTHONPATH": str(REPO),
           "JUPYTERLAB_SETTINGS_DIR": str(dirs["config"] / "lab-settings")}
    # No "get notified about Jupyter news?" prompt (it would ask to fetch from the internet).
    notification = dirs["config"] / "lab-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True, exist_ok=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    log = open(ARTIFACTS / "jupyterlab.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab"], cwd=root, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{url}/api/status", timeout=2) as r:
                    if r.status == 200:
                        break
            assert proc.poll() is None, (ARTIFACTS / "jupyterlab.log").read_text()
            assert time.monotonic() < deadline, "JupyterLab did not start"
            time.sleep(0.5)
        yield url, dirs["runtime"]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()


def _kernel_value(runtime: Path, expression: str):
    """Evaluate ``expression`` in the notebook's running kernel, as a second client."""
    from jupyter_client import BlockingKernelClient

    (connection,) = runtime.glob("kernel-*.json")
    client = BlockingKernelClient(connection_file=str(connection))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=30)
        collect = _Collector()
        reply = client.execute_interactive(f"import json as _j; print(_j.dumps({expression}))",
                                           timeout=30, output_hook=collect)
        assert reply["content"]["status"] == "ok", reply["content"]
        return json.loads(collect.text)
    finally:
        client.stop_channels()


class _Collector:
    def __init__(self):
        self.text = ""

    def __call__(self, msg):
        if msg["msg_type"] == "stream":
            self.text += msg["content"]["text"]


def _panel_texts(page) -> list[str]:
    """Each method panel's drawing (its markup: the snapped box, bins, samples, output grid)."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return page.locator(".roiviz-stage .panel").evaluate_all("ps => ps.map(p => p.innerHTML)")


def test_example_notebook_runs_in_jupyterlab_and_the_stage_is_live(tmp_path):
    require_chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    root = tmp_path / "notebooks"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    with jupyterlab(root, tmp_path / "jupyter") as (url, runtime), chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        outside = []
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(
            (url, "data:", "blob:", "about:")) else None)
        page.goto(f"{url}/lab/tree/{NOTEBOOK.name}")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                               " && window.jupyterapp.shell.currentWidget.sessionContext"
                               " && window.jupyterapp.shell.currentWidget.sessionContext.session")
        page.wait_for_function("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                               ".connectionStatus === 'connected'")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        panels = page.locator(".roiviz-stage .panel")
        panels.nth(3).wait_for()
        assert panels.count() == 4
        # The agreement is a badge ("checked"), its sentence in its title.
        page.locator(".roiviz-stage .status.ok[title*='agree']").first.wait_for()
        page.screenshot(path=str(ARTIFACTS / "notebook-stage.png"))
        # The stage is as high as the widget says (640 px), not the 1000-px window: its surfaces
        # and four panels fit a cell.
        stage_h = page.locator(".roiviz-stage").first.evaluate("r => r.getBoundingClientRect().height")
        assert 600 <= stage_h <= 700, stage_h

        start_box = _kernel_value(runtime, "stage.box")
        surface = page.locator(".roiviz-stage .surface-svg").last   # the feature map
        surface.scroll_into_view_if_needed()
        before = _panel_texts(page)
        # Grab the box in its middle (the map's box is drawn in cells, 16 px each).
        shown = surface.evaluate("""s => { const r = s.querySelector('.roi').getBoundingClientRect();
                                   return [r.x + r.width / 2, r.y + r.height / 2]; }""")
        page.mouse.move(*shown)
        page.mouse.down()
        for step in range(1, 9):
            page.mouse.move(shown[0] + 4 * step, shown[1] + 3 * step)
        during = _panel_texts(page)
        page.screenshot(path=str(ARTIFACTS / "notebook-stage-drag.png"))
        page.mouse.up()
        # Every panel changed during the drag (computed in the browser, before any release).
        assert all(b != d for b, d in zip(before, during)), (before, during)
        drawn = page.locator(".roiviz-stage").first.evaluate("r => r.__stage.box")
        # The kernel answers the release (its payload echoes the release's counter).
        deadline = time.monotonic() + 60
        while page.locator(".roiviz-stage").first.evaluate("r => r.__stage.serverSeq") < 1:
            assert time.monotonic() < deadline, "the kernel never answered the release"
            time.sleep(0.2)
        kernel_box = _kernel_value(runtime, "stage.box")
        assert kernel_box != start_box
        assert kernel_box == pytest.approx([round(v, 3) for v in drawn], abs=1e-3)
        page.locator(".roiviz-stage .status.ok[title*='agree']").first.wait_for()
        page.screenshot(path=str(ARTIFACTS / "notebook-stage-released.png"))
        assert not outside, f"requests left the machine: {outside[:5]}"
