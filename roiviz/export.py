"""Exports: a trace as JSON, a matplotlib figure as PNG or SVG bytes, a link that reopens a view.

Pure functions, no Streamlit: the pages hand the results to ``st.download_button`` and
``st.code``. Figures are rendered by matplotlib's own Agg and SVG writers, so the server needs
neither a browser nor Kaleido.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import numpy as np

from .records import MethodTrace

__all__ = [
    "PNG_DPI",
    "PNG_SIGNATURE",
    "figure_png",
    "figure_svg",
    "jsonable",
    "share_link",
    "trace_json",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Resolution of exported PNGs (dots per inch; figures are sized in inches).
PNG_DPI = 150


def jsonable(value: Any) -> Any:
    """A copy of ``value`` made of JSON types only: dicts, lists, str, int, finite float, None.

    numpy scalars and arrays become Python numbers and lists, tuples become lists, dict keys
    become strings, and non-finite floats (NaN, +-inf) become ``None`` so that the output is
    strict JSON (``json.dumps(..., allow_nan=False)`` accepts it).
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"cannot export a {type(value).__name__} as JSON")


def trace_json(traces: Mapping[str, MethodTrace], extra: Mapping[str, Any] | None = None) -> str:
    """Traces (box, settings, bins with samples, outputs, areas) and page extras as JSON text.

    Args:
        traces: ``{name: MethodTrace}``; each is written with :meth:`MethodTrace.to_dict`.
        extra: more top-level entries (the page, its parameters, sweep or gradient arrays).
            Must not contain the key ``"traces"``.

    Returns:
        Indented JSON: ``{"roiviz_version": ..., "traces": {name: trace dict}, **extra}``. Every
        number is finite (see :func:`jsonable`).

    Raises:
        ValueError: ``extra`` has a ``"traces"`` key.
        TypeError: a value cannot be written as JSON.
    """
    from . import __version__

    extra = dict(extra or {})
    if "traces" in extra:
        raise ValueError("extra must not contain the key 'traces'")
    doc = {"roiviz_version": __version__,
           "traces": {name: t.to_dict() for name, t in traces.items()}, **extra}
    return json.dumps(jsonable(doc), indent=1, allow_nan=False)


def figure_png(fig, dpi: int = PNG_DPI) -> bytes:
    """A matplotlib ``Figure`` as PNG bytes (Agg renderer; no pyplot, no display needed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.08,
                metadata={"Software": None})
    return buf.getvalue()


def figure_svg(fig) -> bytes:
    """A matplotlib ``Figure`` as SVG bytes (UTF-8; text as paths, so no font is needed to view it)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", pad_inches=0.08,
                metadata={"Date": None, "Creator": "roiviz"})
    return buf.getvalue()


def share_link(base_url: str, query: Mapping[str, str]) -> str:
    """``base_url`` with its query string replaced by ``query`` (URL-encoded) and no fragment.

    Example: ``share_link("http://localhost:8501/walkthrough?x=1", {"step": "4", "conv": "article"})``
    is ``"http://localhost:8501/walkthrough?step=4&conv=article"``. An empty ``base_url`` gives a
    relative link (``"?step=4&conv=article"``).
    """
    parts = urlsplit(base_url or "")
    encoded = urlencode([(str(k), str(v)) for k, v in query.items()])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, encoded, ""))
