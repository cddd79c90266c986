"""Exports: a trace as JSON, a matplotlib figure as PNG or SVG bytes, a link that reopens a view.

Pure functions, no Streamlit: the pages hand the results to ``st.download_button`` and
``st.code``. Figures are rendered by matplotlib's own Agg and SVG writers, so the server needs
neither a browser nor Kaleido.
"""

from __future__ import annotations

import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from ..records import MethodTrace
from ..resources import STAGE_DIR

__all__ = [
    "EMBED_HEIGHT",
    "MAX_PAGE_BYTES",
    "PNG_DPI",
    "PNG_SIGNATURE",
    "embed_snippet",
    "figure_png",
    "figure_svg",
    "interactive_page",
    "jsonable",
    "share_link",
    "trace_json",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Resolution of exported PNGs (dots per inch; figures are sized in inches).
PNG_DPI = 150
#: Height in CSS pixels of the iframe :func:`embed_snippet` writes.
EMBED_HEIGHT = 900


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
    from .. import __version__

    extra = dict(extra or {})
    if "traces" in extra:
        raise ValueError("extra must not contain the key 'traces'")
    doc = {"roiviz_version": __version__,
           "traces": {name: t.to_dict() for name, t in traces.items()}, **extra}
    return json.dumps(jsonable(doc), indent=1, allow_nan=False)


def _bounds(fig):
    """The part of ``fig`` to save: the bounds its layout was frozen with
    (:func:`roiviz.drawing.render_mpl.freeze_layout`, no extra drawing), else matplotlib's tight crop."""
    return getattr(fig, "roiviz_bbox", None) or "tight"


def figure_png(fig, dpi: float = PNG_DPI, compress_level: int = 6) -> bytes:
    """A matplotlib ``Figure`` as PNG bytes (Agg renderer; no pyplot, no display needed).

    ``compress_level`` is zlib's (0-9): 1 writes a large figure several times faster than the
    default 6, for a file about a tenth larger (the Playground's downloads, made on a click).
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches=_bounds(fig), pad_inches=0.08,
                metadata={"Software": None}, pil_kwargs={"compress_level": int(compress_level)})
    return buf.getvalue()


def figure_svg(fig) -> bytes:
    """A matplotlib ``Figure`` as SVG bytes (UTF-8; text as paths, so no font is needed to view it)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches=_bounds(fig), pad_inches=0.08,
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


def embed_snippet(link: str, title: str, height: int = EMBED_HEIGHT) -> str:
    """An ``<iframe>`` that embeds the live app in a post, showing the view ``link`` opens.

    Streamlit's ``?embed=true`` hides the app's menu, header and sidebar in the frame (the view's
    settings come from the rest of the link). The link and the title are HTML-escaped, so the
    snippet is safe to paste whatever they hold.

    Example: ``embed_snippet("http://host/walkthrough?step=4", "Walkthrough")`` is
    ``'<iframe src="http://host/walkthrough?step=4&amp;embed=true" title="Walkthrough" width="100%"
    height="900" style="border: 0" loading="lazy"></iframe>'``.

    Raises:
        ValueError: ``height`` is not 200 to 4000 pixels.
    """
    if not isinstance(height, int) or not 200 <= height <= 4000:
        raise ValueError(f"height must be an integer from 200 to 4000 pixels, got {height!r}")
    parts = urlsplit(link or "")
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "embed"]
    src = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(pairs + [("embed", "true")]), ""))
    return (f'<iframe src="{html.escape(src, quote=True)}" title="{html.escape(title, quote=True)}" '
            f'width="100%" height="{height}" style="border: 0" loading="lazy"></iframe>')


#: The most an interactive page may weigh for a 64 x 64 map (bytes).
MAX_PAGE_BYTES = 1_500_000


def interactive_page(data: Mapping[str, Any], title: str, notes: Sequence[str] = ()) -> str:
    """One self-contained HTML file in which a reader drags the box and the panels follow.

    The live stage's JavaScript and CSS and its data (:func:`roiviz.app.stage.stage_data`: the map
    channel as base64 float32, the box, the settings, the methods, the photo as a data URI) are
    inlined; the page loads nothing (its Content-Security-Policy forbids any request), needs no
    Python and no server: every number is computed by the stage's browser engine, the same code
    as the app's live stage (whose numbers the browser tests check against roiviz's). The stage's
    line about the server is hidden, since there is none.

    Args:
        data: the stage payload (JSON-ready).
        title: the page's heading (escaped; never parsed as HTML).
        notes: sentences shown under the heading (escaped), e.g. that the panels draw a subset
            of the sampling points at these settings.

    Returns:
        The HTML text (UTF-8).
    """
    from .stage_bundle import stage_module

    script = stage_module(default_as="mountStage")
    css = (STAGE_DIR / "stage.css").read_text(encoding="utf-8")
    # JSON inside <script>: "</" and "<!--" must not appear, nor U+2028/9 break the script.
    payload = (json.dumps(jsonable(dict(data)), allow_nan=False).replace("<", "\\u003c")
               .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    for text in (script, css):
        if "</script" in text.lower() or "</style" in text.lower():
            raise ValueError("the stage's files must not contain a closing script or style tag")
    safe_title = html.escape(title)
    notes_html = "".join(f'<p class="roiviz-about roiviz-note">{html.escape(str(n))}</p>\n' for n in notes)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data: blob:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{safe_title}</title>
<style>
body {{ font-family: "Source Sans Pro", "Source Sans 3", system-ui, sans-serif; margin: 12px 16px; color: #262730; }}
h1 {{ font-size: 22px; margin: 0 0 4px; }}
.roiviz-about {{ margin: 0 0 8px; font-size: 14px; color: #444; }}
</style>
</head>
<body>
<h1>{safe_title}</h1>
<p class="roiviz-about">Drag the box on the image or the feature map: every panel follows. A page
without a server: RoI Pool, RoI Warp, RoI Align and Precise RoI Pooling are computed in your
browser by roiviz's JavaScript engine. Made with roiviz.</p>
{notes_html}<div id="roiviz-host"></div>
<template id="roiviz-css"><style>{css}
.status {{ display: none !important; }}
</style></template>
<script type="application/json" id="roiviz-data">{payload}</script>
<script type="module">
{script}
const host = document.getElementById("roiviz-host");
const shadow = host.attachShadow({{ mode: "open" }});
shadow.appendChild(document.getElementById("roiviz-css").content.cloneNode(true));
const parentElement = document.createElement("div");
shadow.appendChild(parentElement);
const data = JSON.parse(document.getElementById("roiviz-data").textContent);
// No server: a release is kept by the stage itself (nothing to send, nothing to wait for).
mountStage({{ data, parentElement, setStateValue: () => {{}}, setTriggerValue: () => {{}} }});
</script>
</body>
</html>
"""
