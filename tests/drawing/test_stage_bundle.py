"""roiviz.drawing.stage_bundle: ES modules -> one inline script, and the module-format rule it checks."""

from __future__ import annotations

import re

import pytest

from roiviz.drawing.stage_bundle import ENGINE_DIR, ENGINE_MODULES, bundle_modules, engine_paths, engine_source


def write(tmp_path, files: dict[str, str]):
    paths = []
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text)
        paths.append(path)
    return paths


def test_worked_example_from_the_docstring(tmp_path):
    # Given in the "wrong" order: the dependency still comes first.
    paths = write(tmp_path, {
        "b.js": 'import { A } from "./a.js";\nexport default function (c) { return A; }\n',
        "a.js": "export const A = 1;\n",
    })
    assert bundle_modules(paths) == ("// --- a.js ---\nconst A = 1;\n"
                                     "// --- b.js ---\nexport default function (c) { return A; }\n")


def test_independent_modules_keep_their_order(tmp_path):
    paths = write(tmp_path, {"z.js": "export function z() {}\n", "y.js": "export function y() {}\n",
                             "x.js": 'import { y, z } from "./y.js";\n'})
    with pytest.raises(ValueError, match=r"does not export them"):
        bundle_modules(paths)  # z is not y.js's
    paths[2].write_text('import { y } from "./y.js";\nimport { z } from "./z.js";\nx();\n')
    names = re.findall(r"// --- (\S+) ---", bundle_modules(paths))
    assert names == ["z.js", "y.js", "x.js"]


@pytest.mark.parametrize("files, message", [
    ({"a.js": 'import {\n  A,\n} from "./b.js";\n', "b.js": "export const A = 1;\n"}, "one-line"),
    ({"a.js": 'import * as b from "./b.js";\n', "b.js": "export const A = 1;\n"}, "one-line"),
    ({"a.js": 'import { A } from "three";\n'}, "one-line"),
    ({"a.js": 'import { A } from "./c.js";\n'}, "not among the bundled files"),
    ({"a.js": "const A = 1;\nexport { A };\n"}, "exports must be"),
    ({"a.js": "export let A = 1;\n"}, "exports must be"),
    ({"a.js": "export function f() {}\n", "b.js": "function f() {}\n"}, "declared at top level in both"),
    ({"a.js": 'import { B } from "./b.js";\nexport const A = 1;\n',
      "b.js": 'import { A } from "./a.js";\nexport const B = 2;\n'}, "form a cycle"),
    ({"a.js": "export default function () {}\n", "b.js": "export default function () {}\n"},
     "only one module"),
])
def test_module_format_rule_is_enforced(tmp_path, files, message):
    with pytest.raises(ValueError, match=message):
        bundle_modules(write(tmp_path, files))


def test_same_file_name_twice_is_refused(tmp_path):
    (tmp_path / "x").mkdir()
    first, second = tmp_path / "a.js", tmp_path / "x" / "a.js"
    first.write_text("export const A = 1;\n")
    second.write_text("export const B = 1;\n")
    with pytest.raises(ValueError, match="unique"):
        bundle_modules([first, second])


def test_engine_modules_are_all_bundled_in_dependency_order():
    on_disk = {p.name for p in ENGINE_DIR.glob("*.js")}
    assert on_disk == set(ENGINE_MODULES)
    assert [p.name for p in engine_paths()] == list(ENGINE_MODULES)
    source = engine_source()
    order = re.findall(r"// --- (\S+) ---", source)
    assert sorted(order) == sorted(ENGINE_MODULES)
    for path in engine_paths():  # every module comes after the siblings it imports
        for sibling in re.findall(r'from "\./([\w.]+)"', path.read_text()):
            assert order.index(sibling) < order.index(path.name), (path.name, sibling)
    # Nothing of the module syntax is left: no imports, no exports, no default export.
    assert not re.search(r"^\s*(import|export)\b", source, re.M)
    for name in ("traceMethod", "traceAll", "regionRects", "traceRoiAlign", "linearWeights"):
        assert re.search(rf"^function {name}\(", source, re.M), name


def test_engine_is_small_enough_to_send_inline():
    # The whole engine travels inside the component's `js` string on every page load.
    assert len(engine_source().encode("utf-8")) < 40_000
