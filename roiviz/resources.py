"""Where roiviz's files are: the same answer from a checkout and from an installed wheel.

A checkout keeps the design's top-level layout (``app.py``, ``pages/``, ``assets/``,
``deploy/`` beside ``roiviz/``). A wheel cannot put files beside the package, so
``pyproject.toml`` maps those folders into it: ``assets/`` -> ``roiviz/_assets/``, ``app.py``
and ``.streamlit/config.toml`` -> ``roiviz/_webapp/``, ``pages/`` -> ``roiviz/_webapp/pages/``,
``deploy/`` -> ``roiviz/_deploy/``. Each path here is the installed one when it exists, else the
checkout's. No Streamlit, no third-party import.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["APP_DIR", "APP_SCRIPT", "ASSETS_DIR", "DEPLOY_DIR", "STAGE_DIR", "installed"]

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def _located(installed_name: str, checkout_path: Path) -> Path:
    candidate = _PACKAGE / installed_name
    return candidate if candidate.is_dir() else checkout_path


def installed() -> bool:
    """Whether roiviz runs from an installed wheel (its data folders inside the package)."""
    return (_PACKAGE / "_webapp").is_dir()


#: The sample photos, their licence, the favicon and the stage's files.
ASSETS_DIR: Path = _located("_assets", _CHECKOUT / "assets")
#: The live stage's ES modules and CSS (``assets/stage/``).
STAGE_DIR: Path = ASSETS_DIR / "stage"
#: The folder holding ``app.py``, ``pages/`` and ``.streamlit/config.toml``.
APP_DIR: Path = _located("_webapp", _CHECKOUT)
#: The app's entry point (``streamlit run`` it with :data:`APP_DIR` as the working directory,
#: so that Streamlit reads the app's ``.streamlit/config.toml``).
APP_SCRIPT: Path = APP_DIR / "app.py"
#: The lecture-hall deployment (``serve.py``, ``haproxy.cfg``).
DEPLOY_DIR: Path = _located("_deploy", _CHECKOUT / "deploy")
