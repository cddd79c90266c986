"""roiviz as a package (pyproject.toml): the wheel, the library alone, the app and its command.

These tests build the real wheel and install it into a fresh virtual environment, as a user
would (``pip install roiviz`` and ``pip install "roiviz[app]"``), so they take a few minutes: the
library with only numpy and torch, then the app's extra, ``roiviz app`` serving the Playground in
Chromium, and ``roiviz serve`` behind HAProxy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest

from browser_support import ARTIFACTS, chromium_browser, free_port, require_chromium
from roiviz import resources

REPO = Path(__file__).resolve().parent.parent
#: torch's CPU wheel on these machines' disk (the Makefile passes the same find-links).
WHEELS = ["--find-links", "/opt/wheels"] if Path("/opt/wheels").is_dir() else []


def _pip(python: Path, *args: str, timeout: float = 900) -> None:
    result = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                             *WHEELS, *args], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr


def _run(python: Path, code: str, cwd: Path) -> subprocess.CompletedProcess:
    # A neutral working directory and no PYTHONPATH: the checkout must not shadow the install.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(python), "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from this checkout by pip (the standard build backend, isolated)."""
    out = tmp_path_factory.mktemp("wheel")
    # pip builds a local folder in place (build/, *.egg-info): build a copy, not the checkout.
    source = tmp_path_factory.mktemp("source") / "roiviz"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", "*.egg-info", "artifacts", "__pycache__", ".pytest_cache", ".hypothesis"))
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                             "--disable-pip-version-check", "-w", str(out), str(source)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    (found,) = out.glob("roiviz-*.whl")
    return found


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory, wheel) -> Path:
    """A new virtual environment with the wheel installed (numpy and torch only); its python."""
    where = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(where)
    python = where / "bin" / "python"
    _pip(python, "torch==2.13.0")       # the CPU build on disk, before pip resolves the wheel's range
    _pip(python, str(wheel))
    return python


def test_wheel_holds_the_stage_assets_app_and_deployment(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    stage_files = [p.relative_to(REPO / "assets").as_posix()
                   for p in (REPO / "assets" / "stage").rglob("*") if p.is_file()]
    assert stage_files and any(f.endswith("stage.js") for f in stage_files)
    for name in stage_files:
        assert f"roiviz/_assets/{name}" in names, name
    for photo in ("astronaut.jpg", "coffee.jpg", "chelsea.jpg", "LICENSE.md", "favicon.png"):
        assert f"roiviz/_assets/{photo}" in names
    # Every module of the package, subpackages included (an explicit list in pyproject.toml).
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "roiviz").rglob("*.py")
               if "__pycache__" not in p.parts}
    assert modules and modules <= names, sorted(modules - names)
    pages = {p.name for p in (REPO / "pages").glob("*.py")}
    assert pages and {f"roiviz/_webapp/pages/{p}" for p in pages} <= names
    for name in ("roiviz/_webapp/app.py", "roiviz/_webapp/.streamlit/config.toml",
                 "roiviz/_deploy/serve.py", "roiviz/_deploy/haproxy.cfg", "roiviz/ops.py"):
        assert name in names
    # The stage as an installed st.components.v2 component: pyproject.toml travels in the wheel
    # (Streamlit looks for [tool.streamlit.component] among the distribution's files), and its
    # asset_dir (relative to the package) is a folder of the wheel.
    assert "roiviz/_webapp/pyproject.toml" in names
    manifest = tomllib.loads(zipfile.ZipFile(wheel).read("roiviz/_webapp/pyproject.toml").decode())
    (component,) = manifest["tool"]["streamlit"]["component"]["components"]
    assert manifest["project"]["name"] == "roiviz" and component["name"] == "app.stage"
    assert any(n.startswith(f"roiviz/{component['asset_dir']}/") for n in names), component
    # Nothing of the tests, benchmarks or the checkout's tooling goes into the wheel.
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "roiviz/_webapp/tests"))]
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: BSD-3-Clause" in metadata
    assert "Requires-Dist: torch" in metadata and "Provides-Extra: app" in metadata
    assert "roiviz = roiviz.cli:main" in zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("entry_points.txt"))).decode()


def test_library_installs_and_runs_without_the_app_packages(fresh_env, tmp_path):
    code = (
        "import importlib.util, json, torch\n"
        "import roiviz, roiviz.ops as ops\n"
        "from roiviz import resources\n"
        "x = torch.arange(2 * 3 * 12 * 16, dtype=torch.float32).reshape(2, 3, 12, 16)\n"
        "boxes = torch.tensor([[0, 8.0, 16.0, 120.0, 90.0], [1, 0.0, 0.0, 64.0, 64.0]])\n"
        "a = ops.roi_align(x, boxes, 7, spatial_scale=1 / 8, sampling_ratio=2, aligned=True)\n"
        "p = ops.precise_roi_pool(x, boxes, 7, spatial_scale=1 / 8)\n"
        "print(json.dumps({'file': roiviz.__file__, 'align': list(a.shape), 'precise': list(p.shape),\n"
        "  'align_sum': float(a.sum()), 'precise_sum': float(p.sum()), 'installed': resources.installed(),\n"
        "  'stage': (resources.STAGE_DIR / 'stage.js').is_file(),\n"
        "  'missing': [m for m in ('streamlit', 'plotly', 'matplotlib') if importlib.util.find_spec(m) is None]}))\n"
    )
    result = _run(fresh_env, code, tmp_path)
    assert result.returncode == 0, result.stderr
    import json

    import torch

    from roiviz import ops
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert "site-packages" in got["file"] and got["installed"] and got["stage"]
    assert got["missing"] == ["streamlit", "plotly", "matplotlib"]   # none of them was installed
    assert got["align"] == [2, 3, 7, 7] and got["precise"] == [2, 3, 7, 7]
    # The installed ops give this checkout's numbers.
    x = torch.arange(2 * 3 * 12 * 16, dtype=torch.float32).reshape(2, 3, 12, 16)
    boxes = torch.tensor([[0, 8.0, 16.0, 120.0, 90.0], [1, 0.0, 0.0, 64.0, 64.0]])
    assert got["align_sum"] == pytest.approx(float(ops.roi_align(
        x, boxes, 7, spatial_scale=1 / 8, sampling_ratio=2, aligned=True).sum()), rel=1e-6)
    assert got["precise_sum"] == pytest.approx(float(ops.precise_roi_pool(
        x, boxes, 7, spatial_scale=1 / 8).sum()), rel=1e-6)
    # Without the app's extra, the command says what to install instead of a traceback.
    cli = fresh_env.parent / "roiviz"
    result = subprocess.run([str(cli), "app"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode != 0 and 'pip install "roiviz[app]"' in result.stderr
    assert "Traceback" not in result.stderr
    # The speed table lives in a checkout's benchmarks/: the wheel's command says so.
    result = subprocess.run([str(cli), "bench"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode != 0 and "make bench" in result.stderr and "Traceback" not in result.stderr


@contextlib.contextmanager
def _serving(command: list[str], cwd: Path, url: str, log: Path, timeout: float = 120):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            while True:
                with contextlib.suppress(OSError):
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                        if r.status == 200:
                            break
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
            yield proc
        finally:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)


def test_app_extra_and_the_roiviz_command_serve_the_app(fresh_env, wheel, tmp_path):
    require_chromium()
    _pip(fresh_env, f"{wheel}[app]")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cli = str(fresh_env.parent / "roiviz")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # Started from an empty folder: the app, its pages, config and assets come from the install.
    with _serving([cli, "app", f"--server.port={port}", "--server.address=127.0.0.1"],
                  tmp_path, url, ARTIFACTS / "packaging-app.log"), chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(90_000)
        fetched: list[str] = []
        page.on("request", lambda request: fetched.append(request.url))
        page.goto(url + "/")
        page.locator("[data-testid=stSidebarNav]").get_by_text("Walkthrough").wait_for()
        # The live stage (its script is package data) draws the map and the method panels.
        page.locator("[data-testid^=stBidiComponent] svg").first.wait_for()
        # ... from the script Streamlit serves as a file of the installed component's asset_dir
        # (roiviz/app/stage_files.py), not inline.
        served = "/_stcore/bidi-components/roiviz.app.stage/stage-"
        assert any(served in u and u.endswith(".js") for u in fetched), fetched
        assert any(served in u and u.endswith(".css") for u in fetched), fetched
        page.screenshot(path=str(ARTIFACTS / "packaging-roiviz-app.png"))
        assert "Traceback" not in page.content()
    if shutil.which("haproxy") or Path("/usr/sbin/haproxy").exists():
        port = free_port()
        with _serving([cli, "serve", "--workers", "1", "--port", str(port), "--bind", "127.0.0.1"],
                      tmp_path, f"http://127.0.0.1:{port}", ARTIFACTS / "packaging-serve.log"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
                assert r.status == 200


def test_checkout_resources_are_the_top_level_folders():
    # Run from the checkout (as the tests and `make run` do), the files are the repo's own.
    assert resources.ASSETS_DIR == REPO / "assets"
    assert resources.STAGE_DIR == REPO / "assets" / "stage"
    assert resources.APP_SCRIPT == REPO / "app.py"
    assert resources.DEPLOY_DIR == REPO / "deploy"
    assert not resources.installed()


def test_bench_command_runs_the_checkouts_speed_table():
    # From a checkout `roiviz bench` is benchmarks/bench_ops.py (here only its usage: the run
    # itself is a benchmark, never a timed test).
    result = subprocess.run([sys.executable, "-m", "roiviz.cli", "bench", "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "usage: bench_ops.py" in result.stdout and "--box-grad" in result.stdout
