"""Reading what a person pastes or uploads on the "Why don't my numbers match?" page.

Arrays come as JSON (nested lists, or an object with a ``data`` list), CSV (rows of numbers;
2-D only) or ``.npy`` bytes (``allow_pickle=False``). Every error is a ``ValueError`` whose
message says what is wrong without repeating the input.
"""

from __future__ import annotations

import io
import json
import math
import re

import numpy as np

__all__ = ["parse_array", "parse_numbers", "parse_scale", "MAX_ELEMENTS"]

#: The most numbers a pasted or uploaded array may hold (a 64-channel 128 x 128 map).
MAX_ELEMENTS = 64 * 128 * 128


def _finite(a: np.ndarray, what: str) -> np.ndarray:
    if a.size == 0:
        raise ValueError(f"the {what} is empty")
    if a.size > MAX_ELEMENTS:
        raise ValueError(f"the {what} has {a.size} numbers; at most {MAX_ELEMENTS} are accepted")
    if not np.isfinite(a).all():
        raise ValueError(f"the {what} contains NaN or infinite values")
    return a.astype(np.float32)


def parse_array(data: str | bytes, what: str = "array", filename: str = "") -> np.ndarray:
    """A float32 array from JSON, CSV or ``.npy`` (by content; ``filename`` only helps).

    Raises:
        ValueError: unreadable, ragged, empty, too large, or not all finite numbers.
    """
    if isinstance(data, bytes):
        if data.startswith(b"\x93NUMPY") or filename.endswith(".npy"):
            try:
                arr = np.load(io.BytesIO(data), allow_pickle=False)
            except Exception:
                raise ValueError(f"the {what} file is not a readable .npy array") from None
            if not np.issubdtype(arr.dtype, np.number):
                raise ValueError(f"the {what} .npy file does not hold numbers")
            return _finite(np.asarray(arr, dtype=np.float64), what)
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"the {what} file is neither .npy nor text (JSON or CSV)") from None
    text = data.strip()
    if not text:
        raise ValueError(f"the {what} is empty")
    if len(text) > 40 * MAX_ELEMENTS:
        raise ValueError(f"the {what} text is too long")
    if text[0] in "[{":
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"the {what} is not valid JSON (line {err.lineno}, column {err.colno})") from None
        if isinstance(value, dict):
            value = value.get("data", value.get("values"))
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"the {what} must be nested lists of numbers of equal lengths") from None
        return _finite(arr, what)
    rows = [r for r in text.splitlines() if r.strip()]
    try:
        table = [[float(v) for v in re.split(r"[,;\s]+", r.strip()) if v] for r in rows]
    except ValueError:
        raise ValueError(f"the {what} CSV must hold only numbers (separated by commas or spaces)") from None
    if len({len(r) for r in table}) != 1:
        raise ValueError(f"the {what} CSV rows have different lengths")
    return _finite(np.asarray(table, dtype=np.float64), what)


def parse_numbers(text: str, count: tuple[int, ...] = (4, 5), what: str = "box") -> tuple[float, ...]:
    """A few finite numbers, separated by commas, spaces or brackets (a box: 4, or 5 with a batch index)."""
    parts = [p for p in re.split(r"[,;\s\[\]()]+", text.strip()) if p]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise ValueError(f"the {what} must hold only numbers") from None
    if len(values) not in count:
        raise ValueError(f"the {what} needs {' or '.join(map(str, count))} numbers, got {len(values)}")
    if not all(math.isfinite(v) and abs(v) <= 1e7 for v in values):
        raise ValueError(f"the {what} numbers must be finite and within +-1e7")
    return values


def parse_scale(text: str) -> float:
    """``spatial_scale`` as ``0.0625`` or ``1/16``: a positive finite number."""
    t = text.strip()
    try:
        if "/" in t:
            num, den = t.split("/", 1)
            value = float(num) / float(den)
        else:
            value = float(t)
    except (ValueError, ZeroDivisionError):
        raise ValueError("spatial_scale must be a number such as 0.0625 or 1/16") from None
    if not math.isfinite(value) or value <= 0 or value > 1e4:
        raise ValueError("spatial_scale must be a positive number (1 / stride)")
    return value
