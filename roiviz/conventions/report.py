"""What the "Why don't my numbers match?" page shows, as plain data (no Streamlit).

- :func:`card_records`: a dialect's rules as table rows (aspect, rule, source);
- :func:`region_of`: the person's box (as passed) back to an ``xyxy`` box in image pixels;
- :func:`example_texts`: a worked example to paste (a map, a box, and what ONNX opset 10 gives);
- :func:`kit_json`: the probe kit as one JSON file to run through a framework.
"""

from __future__ import annotations

import json

import numpy as np

from .catalogue import Dialect
from .compute import _dialect, compute
from .probes import probe_inputs

__all__ = ["card_records", "region_of", "example_texts", "kit_json"]


def card_records(dialect: str | Dialect) -> list[dict[str, str]]:
    """One row per rule: ``{"rule": aspect, "what it does": text, "source": file::function}``."""
    d = _dialect(dialect)
    return [{"rule": r.aspect, "what it does": r.text, "source": r.source} for r in d.rules]


def region_of(box, map_shape: tuple[int, int], spatial_scale: float, units: str,
              layout: str) -> tuple[float, float, float, float]:
    """The inverse of :func:`~roiviz.conventions.native_box`: 4 numbers as passed -> xyxy image pixels."""
    a, b, c, e = (float(v) for v in box)
    x1, y1, x2, y2 = (a, b, c, e) if layout == "xyxy" else (b, a, e, c)
    if units != "absolute":
        height, width = map_shape
        wx = width - (units == "by_size_minus_1")
        wy = height - (units == "by_size_minus_1")
        x1, x2 = x1 * wx / spatial_scale, x2 * wx / spatial_scale
        y1, y2 = y1 * wy / spatial_scale, y2 * wy / spatial_scale
    return (x1, y1, x2, y2)


def _fmt(a: np.ndarray) -> str:
    return json.dumps(np.round(np.asarray(a, np.float64), 4).tolist())


def example_texts() -> dict[str, str]:
    """A worked example: a 6 x 8 map, a box, and the 2 x 2 output of ONNX ``RoiAlign`` opset 10.

    The output is roiviz's ``tv_align_legacy`` (equal to ONNX Runtime's opset 10 on 300 random
    cases, tests/test_conventions_parity.py), sampling ratio 2, spatial_scale 0.5.
    """
    ys, xs = np.mgrid[0:6, 0:8]
    features = (xs + 10.0 * ys + 0.5 * np.sin(xs * ys)).astype(np.float32)
    box = (2.0, 1.0, 11.0, 9.0)
    output = compute("tv_align_legacy", features, box, (2, 2), spatial_scale=0.5, sampling_ratio=2).numpy()[0, 0]
    return {"map": _fmt(features), "box": ", ".join(f"{v:g}" for v in box), "output": _fmt(output),
            "scale": "0.5"}


def kit_json() -> str:
    """The probe kit: per probe its map ``[C, H, W]``, box (xyxy image pixels) and settings."""
    return json.dumps({"about": "roiviz probe kit: run each map and box through your framework (write the box "
                                "the way your framework takes boxes) with these settings, and paste the outputs.",
                       "probes": [{"name": p.name, "purpose": p.purpose, "map": np.asarray(p.features).tolist(),
                                   "box_xyxy": list(p.box), "spatial_scale": p.spatial_scale,
                                   "output_size": list(p.output_size), "sampling_ratio": p.sampling_ratio}
                                  for p in probe_inputs()]})
