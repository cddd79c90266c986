"""The live stage's module and CSS as files that Streamlit serves and the browser caches. No Streamlit.

``st.components.v2`` sends a component's inline ``js``/``css`` again with every change of its
data (about 80 kB for the stage). A component declared in the ``pyproject.toml`` of an
*installed* distribution (``[tool.streamlit.component]``, with an ``asset_dir`` inside the
package) may name files of that folder instead; Streamlit then sends only their path and
serves them at ``/_stcore/bidi-components/<component>/<file>``.

Streamlit accepts only files whose real path lies inside the installed package (no ``..``, no
symlink out of it), while the stage's sources live in ``assets/stage/`` beside the package in a
checkout. So the app writes the bundle (:func:`roiviz.app.ui_stage.stage_script`) and the CSS
into :data:`SERVED_DIR` (``roiviz/app/served/``, the manifest's ``asset_dir``) when it starts,
named by content hash so that a browser never keeps an old version.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SERVED_DIR", "StageFiles", "write_stage_files"]

#: The component's ``asset_dir`` (``pyproject.toml``: ``asset_dir = "app/served"``, relative to
#: the package).
SERVED_DIR = Path(__file__).resolve().parent / "served"


@dataclass(frozen=True)
class StageFiles:
    """The served files' names, relative to :data:`SERVED_DIR` (what ``js=``/``css=`` take)."""

    js: str
    css: str


def _content_name(stem: str, text: str, suffix: str) -> str:
    return f"{stem}-{hashlib.blake2b(text.encode('utf-8'), digest_size=6).hexdigest()}{suffix}"


def _write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` unless it is there already (atomically: workers may race)."""
    data = text.encode("utf-8")
    if path.is_file() and path.read_bytes() == data:
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_stage_files(script: str, css: str, directory: Path = SERVED_DIR) -> StageFiles | None:
    """Write the stage's ``script`` and ``css`` into ``directory``; older versions are removed.

    Returns:
        The files' names, or ``None`` if ``directory`` cannot be written (an install in a
        read-only location): the caller then sends the script inline.
    """
    files = StageFiles(js=_content_name("stage", script, ".js"), css=_content_name("stage", css, ".css"))
    try:
        _write_if_changed(directory / files.js, script)
        _write_if_changed(directory / files.css, css)
    except OSError:
        return None
    for old in [*directory.glob("stage-*.js"), *directory.glob("stage-*.css")]:
        if old.name not in (files.js, files.css):
            old.unlink(missing_ok=True)
    return files
