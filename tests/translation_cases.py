"""A shared hypothesis case for the integer-translation property of the bilinear methods."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st


def random_map(data, h: int, w: int) -> np.ndarray:
    """A float32 ``[h, w]`` map from a seed drawn by hypothesis."""
    return np.random.default_rng(data.draw(st.integers(0, 2 ** 16))).standard_normal((h, w)).astype(np.float32)


def translated_case(data, stride: int, dy: int, dx: int, pad_value: float):
    """A map and box, and the same content moved ``(dy, dx)`` cells down-right on a padded map.

    Returns:
        ``(feature, box, shifted, moved)``: maps ``[h, w]`` and ``[h + dy, w + dx]`` and the
        boxes in image pixels.
    """
    h, w = data.draw(st.integers(3, 8)), data.draw(st.integers(3, 8))
    feature = random_map(data, h, w)
    # Keep every sample in [0, size - 1/2] (library frame): away from the clamped strip [-1, 0)
    # that the top/left padding changes, and from the jump to zero at x = W, where one float32
    # ulp (shifted coordinates round differently) decides between on and off the map.
    u1 = data.draw(st.integers(16, 16 * (w - 2))) / 16
    v1 = data.draw(st.integers(16, 16 * (h - 2))) / 16
    u2 = min(u1 + data.draw(st.integers(0, 16 * 4)) / 16, w - 1)
    v2 = min(v1 + data.draw(st.integers(0, 16 * 4)) / 16, h - 1)
    box = np.array([u1, v1, u2, v2]) * stride
    shifted = np.full((h + dy, w + dx), pad_value, np.float32)
    shifted[dy:, dx:] = feature
    moved = box + np.array([dx, dy, dx, dy]) * stride
    return feature, box, shifted, moved
