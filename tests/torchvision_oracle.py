"""torchvision's differentiable Python RoI Align, loaded from the installed wheel's own file.

torchvision 0.28.0 (built for torch 2.13.0) does not import beside this CPU torch wheel
(``operator torchvision::nms does not exist``): its ``__init__`` loads compiled operators. The
reference needed here, ``_roi_align`` in ``torchvision/ops/roi_align.py``, is plain torch, so
this module runs that file alone: ``make test`` installs the wheel's files with ``--no-deps``
into ``.oracle/`` (``requirements-oracle.txt``), and only the three names the file imports from
the rest of torchvision are stubbed (``_assert_has_ops``, ``_has_ops``,
``_log_api_usage_once``: used by the compiled op, not by ``_roi_align``). ``ops/_utils.py`` is
loaded from the wheel too. ``_roi_align`` is wrapped in ``lazy_compile`` (``torch.compile`` on
the first call); its ``__wrapped__`` is the eager function, used here.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

ORACLE = Path(__file__).resolve().parent.parent / ".oracle"
VERSION = "0.28.0"


def _module(name: str, path: Path | None = None, **attrs) -> types.ModuleType:
    if path is None:
        module = types.ModuleType(name)
        module.__path__ = []            # a package, so that submodules resolve
        module.__dict__.update(attrs)
    else:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


def load_roi_align_module() -> types.ModuleType:
    """``torchvision/ops/roi_align.py`` of the wheel in ``.oracle/``, as a module.

    Raises:
        RuntimeError: the wheel is not installed (run ``make test`` or the pip line in the
            Makefile's ``.oracle/.installed`` target).
    """
    source = ORACLE / "torchvision" / "ops" / "roi_align.py"
    metadata = ORACLE / f"torchvision-{VERSION}.dist-info" / "METADATA"
    if not source.exists() or not metadata.exists():
        raise RuntimeError(f"torchvision {VERSION}'s files are not in {ORACLE}: run `make test`, or "
                           f"`.venv/bin/python -m pip install --no-deps --target .oracle "
                           f"-r requirements-oracle.txt`")
    saved = {k: v for k, v in sys.modules.items() if k == "torchvision" or k.startswith("torchvision.")}
    try:
        _module("torchvision")
        _module("torchvision.ops")
        _module("torchvision.extension", _assert_has_ops=lambda: None, _has_ops=lambda: False)
        _module("torchvision.utils", _log_api_usage_once=lambda obj: None)
        _module("torchvision.ops._utils", ORACLE / "torchvision" / "ops" / "_utils.py")
        return _module("torchvision.ops.roi_align", source)
    finally:
        for k in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
            del sys.modules[k]
        sys.modules.update(saved)


def reference_roi_align():
    """The eager ``_roi_align(input, rois, spatial_scale, pooled_height, pooled_width,
    sampling_ratio, aligned)`` (differentiable in ``input`` and ``rois``)."""
    fn = load_roi_align_module()._roi_align
    return getattr(fn, "__wrapped__", fn)
