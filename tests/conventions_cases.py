"""Random cases for the conventions' parity and detective tests (a plain module, not tests).

A case group is one library call: one map, many boxes (some partly off the map), one setting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from roiviz.conventions import BY_ID, native_box

__all__ = ["CaseGroup", "case_groups", "random_boxes"]


@dataclass(frozen=True)
class CaseGroup:
    dialect: str
    features: np.ndarray           # [C, H, W] float32
    boxes: np.ndarray              # [K, 4] as the framework takes them
    output_size: tuple[int, int]
    spatial_scale: float
    sampling_ratio: int            # 0 adaptive; ignored by dialects without a ratio
    extra: dict = field(default_factory=dict)


def random_boxes(rng: np.random.Generator, count: int, height: int, width: int, scale: float) -> np.ndarray:
    """``[count, 4]`` xyxy image-pixel boxes; about a third hang off an edge of the map."""
    image_w, image_h = width / scale, height / scale
    cx = rng.uniform(-0.15, 1.15, count) * image_w
    cy = rng.uniform(-0.15, 1.15, count) * image_h
    bw = rng.uniform(0.05, 0.9, count) * image_w
    bh = rng.uniform(0.05, 0.9, count) * image_h
    return np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1).astype(np.float32)


def case_groups(dialect: str, seed: int, groups: int = 6, boxes_per_group: int = 50) -> list[CaseGroup]:
    """``groups`` random settings of ``dialect`` with ``boxes_per_group`` boxes each."""
    d = BY_ID[dialect]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(groups):
        height, width = (int(v) for v in rng.integers(3, 17, 2))
        pooled = int(rng.integers(1, 5))
        output_size = (pooled, pooled) if dialect == "keras_cv_align" else (pooled, int(rng.integers(1, 5)))
        channels = int(rng.integers(1, 3))
        if d.position_sensitive:
            channels *= output_size[0] * output_size[1]
        if dialect == "keras_cv_align":
            scale = float(2.0 ** -int(rng.integers(0, 3)))
        else:
            scale = float(rng.choice([1.0, 0.5, 0.25, 1 / 3]))
        ratio = int(rng.integers(0, 4))
        features = rng.normal(size=(channels, height, width)).astype(np.float32)
        xyxy = random_boxes(rng, boxes_per_group, height, width, scale)
        units, layout = d.units[0], d.layouts[0]
        boxes = np.asarray([native_box(d, b, (height, width), scale, units, layout) for b in xyxy], np.float32)
        extra = {"extrapolation_value": float(rng.choice([0.0, -1.5, 2.0]))} if dialect == "tf_crop_and_resize" else {}
        out.append(CaseGroup(dialect, features, boxes, output_size, scale, ratio, extra))
    return out


def detective_cases(total: int, seed: int, boxes_per_call: int = 10):
    """``total`` real-library outputs, each ``(true dialect, library, features, box, output, scale)``.

    Dialects cycle over every library setting of tests/conventions_reference.py; settings
    (map, output size, scale, sampling ratio, extrapolation value) are random and are not passed
    to the detective (only ``spatial_scale`` is, as a person knows it).
    """
    from conventions_reference import ALSO, REFERENCES, run_reference

    sources = [(d, False) for d in REFERENCES] + [(d, True) for d in ALSO]
    out, call = [], 0
    while len(out) < total:
        dialect, also = sources[call % len(sources)]
        group = case_groups(dialect, seed=seed * 1000 + call, groups=1, boxes_per_group=boxes_per_call)[0]
        library = (ALSO if also else REFERENCES)[dialect][0]
        result = run_reference(dialect, group.features, group.boxes, group.output_size, group.spatial_scale,
                               group.sampling_ratio, group.extra, also=also)
        for box, output in zip(group.boxes, result):
            out.append((dialect, library, group.features, box, output, group.spatial_scale))
        call += 1
    return out[:total]
