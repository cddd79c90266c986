"""What a release sends the live stage: only the parts of its data the browser does not have. No Streamlit.

:func:`roiviz.app.stage.stage_data` is the stage's whole payload. Most of it does not change when
a box is released: the photo (about 80 kB as a JPEG data URI), the feature map (base64 float32),
the style and the methods' notes. Streamlit sends a component's whole ``data`` with every
change, so those *parts* go once, and afterwards only their content hash:

- the stage (``assets/stage/parts.js``) keeps every part it receives by hash for the page's
  life, and each release it sends carries the hashes it holds (``{"box": ..., "seq": ...,
  "held": [hash, ...]}``; :func:`held_parts` reads them, as user input);
- :func:`pack` turns a payload into what goes over the websocket: each part (:data:`PARTS`) is
  ``{"part": <hash>}`` alone if the browser said it holds it, else ``{"part": <hash>,
  "value": <the part>}``. The notes leave ``reference[m]["notes"]`` for one part ``"notes"``
  (``{method: [str]}``), and each method's ``output`` (a list of float32 values) travels as
  ``output_f32``, base64 of its little-endian float32 bytes (a quarter of the JSON's length,
  bit for bit the same numbers). :func:`unpack` puts a payload back together (the stage does
  the same in ``parts.js``);
- a part the browser no longer holds though its last release said so (its cache trimmed since)
  is asked for with the trigger ``missing``; the app then sends every part whole once.

Only the browser's word decides, so a client that never reports (AppTest, a first page load, a
stage mounted again after a page switch) gets every part whole. A payload without ``"part"``
markers (the notebook widget, the HTML export) is used as is.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import struct
from collections.abc import Collection

__all__ = ["PARTS", "MAX_HELD", "part_hash", "held_parts", "pack", "unpack"]

#: The payload's parts sent once per content (top-level keys of the stage's data; ``notes`` is
#: gathered from ``reference[m]["notes"]``).
PARTS = ("map", "image", "style", "notes")
#: Most hashes a release may report (``parts.js`` keeps 32 parts); more is not a stage's.
MAX_HELD = 64
_HASH_DIGITS = 16


def part_hash(value) -> str:
    """A part's content hash: 16 hex digits of BLAKE2b over its canonical JSON."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def held_parts(value) -> frozenset[str]:
    """The part hashes a release says the browser holds (``value["held"]``; anything else: none).

    ``value`` is what the stage sent (never trusted): a list of at most :data:`MAX_HELD`
    16-digit hex strings is taken, anything else counts as holding nothing.
    """
    held = value.get("held") if isinstance(value, dict) else None
    if not isinstance(held, list) or len(held) > MAX_HELD:
        return frozenset()
    if not all(isinstance(h, str) and len(h) == _HASH_DIGITS and all(c in "0123456789abcdef" for c in h)
               for h in held):
        return frozenset()
    return frozenset(held)


def pack(data: dict, held: Collection[str] = ()) -> dict:
    """The payload to send: each part whole unless its hash is in ``held``, then the hash alone.

    Args:
        data: the stage's payload (:func:`roiviz.app.stage.stage_data`); not modified.
        held: the hashes the browser holds (:func:`held_parts`).

    Returns:
        A shallow copy of ``data`` with ``map``, ``image`` (unless ``None``: no photo),
        ``style`` and ``notes`` (the methods' notes, taken out of ``reference``) as parts.
    """
    out = dict(data)
    reference = data.get("reference") or {}
    out["reference"] = {m: _packed_reference(r) for m, r in reference.items()}
    out["notes"] = {m: list(r.get("notes", [])) for m, r in reference.items()}
    for name in PARTS:
        value = out.get(name)
        if value is None:
            continue
        digest = part_hash(value)
        out[name] = {"part": digest} if digest in held else {"part": digest, "value": value}
    return out


def _packed_reference(r: dict) -> dict:
    """One method's reference without its notes, its output as base64 float32 (``output_f32``)."""
    out = {k: v for k, v in r.items() if k not in ("notes", "output")}
    values = r.get("output", [])
    out["output_f32"] = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")
    return out


def _unpacked_output(b64: str) -> list[float]:
    raw = base64.b64decode(b64)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def unpack(packed: dict, held: dict[str, dict]) -> tuple[dict, list[str]]:
    """The payload back from :func:`pack`'s output and the parts already ``held`` (by hash).

    Returns:
        ``(data, missing)``: ``data`` as :func:`roiviz.app.stage.stage_data` made it (``held``
        gains the parts that came whole), and the hashes of parts neither sent nor held (then
        ``data`` is incomplete).
    """
    data = copy.deepcopy(packed)
    missing = []
    for name in PARTS:
        value = data.get(name)
        if not isinstance(value, dict) or "part" not in value:
            continue
        digest = value["part"]
        if "value" in value:
            held[digest] = copy.deepcopy(value["value"])
            data[name] = value["value"]
        elif digest in held:
            data[name] = copy.deepcopy(held[digest])
        else:
            missing.append(digest)
    for r in (data.get("reference") or {}).values():
        if "output_f32" in r:
            r["output"] = _unpacked_output(r.pop("output_f32"))
    notes = data.pop("notes", None)
    if isinstance(notes, dict):
        for m, r in (data.get("reference") or {}).items():
            r["notes"] = list(notes.get(m, []))
    return data, missing
