"""One inline script from the stage's ES modules (``assets/stage/``), for ``st.components.v2``.

``st.components.v2.component`` takes its JavaScript as one string, so the stage's modules
(kept as separate files so that a reader can put ``engine/roi_align.js`` next to
``roiviz/roi_align.py``) are concatenated here, in dependency order, into one module.

Module-format rule (``notes/STAGE_CONTRACT.md``), checked by :func:`bundle_modules`:

- a module imports its siblings only with one-line ``import { a, b } from "./x.js";``;
- it exports only with ``export function NAME`` / ``export const NAME`` (``export async
  function`` too), and at most one file has an ``export default`` (the component's entry);
- top-level names are unique across the bundled files (they end up in one scope).

Bundling drops the import lines and the ``export`` keywords, keeping ``export default``.
Worked example: ``a.js`` = ``export const A = 1;`` and ``b.js`` = ``import { A } from "./a.js";``
``export default function (c) { return A; }`` bundle to ``const A = 1;`` followed by
``export default function (c) { return A; }`` (``tests/drawing/test_stage_bundle.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from ..resources import STAGE_DIR

__all__ = ["ENGINE_DIR", "ENGINE_MODULES", "engine_paths", "bundle_modules", "engine_source",
           "stage_paths", "stage_module"]

#: The browser engine's modules (one per concern, named like ``roiviz/``'s), in dependency order.
ENGINE_DIR = STAGE_DIR / "engine"
ENGINE_MODULES = ("geometry.js", "bilinear.js", "records.js", "roi_pool.js", "roi_align.js",
                  "roi_warp.js", "precise_roi_pool.js", "engine.js", "box_grad.js")

_IMPORT = re.compile(r'^import\s*\{([^}]*)\}\s*from\s*"\./([\w.-]+\.js)"\s*;?\s*$')
_EXPORT = re.compile(r"^export\s+((?:async\s+)?function\*?\s+|const\s+)([A-Za-z_$][\w$]*)")
_DEFAULT = re.compile(r"^export\s+default\b")
_TOP_LEVEL = re.compile(r"^(?:export\s+)?(?:async\s+)?(?:function\*?|const|let|var|class)\s+([A-Za-z_$][\w$]*)")


def engine_paths() -> list[Path]:
    """The engine's module files, in dependency order."""
    return [ENGINE_DIR / name for name in ENGINE_MODULES]


def _parse(path: Path) -> tuple[dict[str, list[str]], set[str], set[str], list[str]]:
    """One module: ``(imports {file: names}, exports, top-level names, body lines)``."""
    imports: dict[str, list[str]] = {}
    exports: set[str] = set()
    names: set[str] = set()
    body: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        where = f"{path.name}:{number}"
        if line.startswith("import"):
            match = _IMPORT.match(line)
            if match is None:
                raise ValueError(f"{where}: imports must be one-line `import {{ a, b }} from \"./x.js\";` "
                                 f"of a sibling file, got {line.strip()!r}")
            wanted = [n.strip() for n in match.group(1).split(",") if n.strip()]
            imports.setdefault(match.group(2), []).extend(wanted)
            continue
        top = _TOP_LEVEL.match(line)
        if top:
            names.add(top.group(1))
        if line.startswith("export"):
            if _DEFAULT.match(line):
                body.append(line)
                continue
            match = _EXPORT.match(line)
            if match is None:
                raise ValueError(f"{where}: exports must be `export function NAME`, `export const "
                                 f"NAME` or `export default`, got {line.strip()!r}")
            exports.add(match.group(2))
            line = line[len("export"):].lstrip()
        body.append(line)
    return imports, exports, names, body


def bundle_modules(paths: Iterable[str | Path]) -> str:
    """Concatenate ES modules into one module, dependencies first.

    Args:
        paths: the module files. Every sibling a file imports must be among them. Files that
            do not depend on each other keep the order given.

    Returns:
        One script: each module's text without its import lines and without the ``export``
        keyword of named exports (``export default`` is kept), each after a ``// --- name ---``
        line, in an order where every module follows the modules it imports.

    Raises:
        ValueError: a file breaks the module-format rule (module docstring), imports a file or a
            name that is not there, two files declare the same top-level name, two files have an
            ``export default``, two paths share a file name, or the imports form a cycle.
    """
    files = [Path(p) for p in paths]
    modules = {}
    for path in files:
        if path.name in modules:
            raise ValueError(f"two modules are named {path.name!r}: file names must be unique")
        modules[path.name] = _parse(path)
    owner: dict[str, str] = {}
    defaults = [name for name, (_, _, _, body) in modules.items() if any(_DEFAULT.match(l) for l in body)]
    if len(defaults) > 1:
        raise ValueError(f"only one module may have an `export default`, found it in {defaults}")
    for name, (imports, _, top_names, _) in modules.items():
        for declared in top_names:
            if declared in owner:
                raise ValueError(f"{declared!r} is declared at top level in both {owner[declared]} "
                                 f"and {name}: bundled modules share one scope, rename one")
            owner[declared] = name
        for target, wanted in imports.items():
            if target not in modules:
                raise ValueError(f"{name} imports ./{target}, which is not among the bundled files")
            missing = sorted(set(wanted) - modules[target][1])
            if missing:
                raise ValueError(f"{name} imports {missing} from ./{target}, which does not export them")
    ordered: list[str] = []
    pending = list(modules)
    while pending:
        ready = next((n for n in pending if all(t in ordered for t in modules[n][0])), None)
        if ready is None:
            raise ValueError(f"the imports of {pending} form a cycle")
        ordered.append(ready)
        pending.remove(ready)
    return "\n".join(f"// --- {name} ---\n" + "\n".join(modules[name][3]) for name in ordered) + "\n"


def engine_source() -> str:
    """The browser engine alone as one module script (no default export).

    Its top-level functions (``traceMethod``, ``traceAll``, ...) are in the script's scope; the
    parity tests append ``window.roivizEngine = { traceMethod, traceAll };`` to reach them.
    """
    return bundle_modules(engine_paths())


def stage_paths() -> list[Path]:
    """The stage's module files: the engine, the drawing and the stage (its default export)."""
    return [*engine_paths(), STAGE_DIR / "draw.js", STAGE_DIR / "arrows.js", STAGE_DIR / "parts.js",
            STAGE_DIR / "stage.js"]


def stage_module(default_as: str | None = None) -> str:
    """The engine, the drawing and the stage as one JS module (:func:`bundle_modules`).

    Args:
        default_as: ``None`` keeps the stage's ``export default function`` (the Streamlit
            component's entry); a name turns it into ``const <name> = function`` so that a
            host page or the notebook widget (``assets/stage/widget.js``) mounts the stage itself.
    """
    script = bundle_modules(stage_paths())
    if default_as is None:
        return script
    entry = "export default function"
    if script.count(entry) != 1:
        raise ValueError("the stage bundle must have exactly one default export")
    return script.replace(entry, f"const {default_as} = function")
