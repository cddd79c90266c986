"""The methods' readable references (``roiviz.<method>.<method>_reference``, one map and one box)
applied to every RoI and channel of a batch, to compare with the batched ops."""

from __future__ import annotations

import numpy as np


def batched(reference, x: np.ndarray, rois: np.ndarray, output_size, spatial_scale: float,
            **options) -> np.ndarray:
    """``reference`` on each RoI ``(batch index, x1, y1, x2, y2)`` and channel of ``x`` [N, C, H, W].

    Returns:
        ``[K, C, PH, PW]``.
    """
    return np.stack([np.stack([reference(x[int(roi[0]), c], roi[1:], output_size, spatial_scale, **options)
                               for c in range(x.shape[1])]) for roi in np.asarray(rois, np.float32)])
