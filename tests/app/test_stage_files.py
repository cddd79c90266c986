"""roiviz.app.stage_files: the stage's script and CSS written where Streamlit serves them."""

from __future__ import annotations

import tomllib
from pathlib import Path

from roiviz.app.stage_files import SERVED_DIR, write_stage_files

REPO = Path(__file__).resolve().parents[2]


def test_files_are_named_by_content_and_older_versions_are_removed(tmp_path):
    first = write_stage_files("export default function () {}\n", ".a { color: red }", tmp_path)
    assert first.js.startswith("stage-") and first.js.endswith(".js") and first.css.endswith(".css")
    assert (tmp_path / first.js).read_text() == "export default function () {}\n"
    assert write_stage_files("export default function () {}\n", ".a { color: red }", tmp_path) == first
    second = write_stage_files("export default function () { return 1; }\n", ".a { color: red }", tmp_path)
    assert second.js != first.js and second.css == first.css
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([second.js, second.css])


def test_a_folder_that_cannot_be_written_means_inline(tmp_path):
    # (A file where the folder should be: the same OSError as a read-only install, even as root.)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    assert write_stage_files("x", "y", blocked) is None


def test_the_served_folder_is_the_components_asset_dir_in_pyproject():
    manifest = tomllib.loads((REPO / "pyproject.toml").read_text())
    (component,) = manifest["tool"]["streamlit"]["component"]["components"]
    assert (REPO / "roiviz" / component["asset_dir"]).resolve() == SERVED_DIR
    assert manifest["project"]["name"] + "." + component["name"] == "roiviz.app.stage"
