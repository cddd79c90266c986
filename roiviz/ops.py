"""Batched, differentiable RoI ops with torchvision's signatures.

``from roiviz.ops import roi_align`` is a drop-in for ``torchvision.ops.roi_align`` (same
numbers, forward and backward); ``roi_pool`` and ``MultiScaleRoIAlign`` likewise, and
``fpn_levels`` computes torchvision's ``LevelMapper`` levels. ``roi_warp`` and
``precise_roi_pool`` have no torchvision counterpart. Each op lives in its own module with its
teaching trace (the pyramid in :mod:`roiviz.fpn`).
"""

from .fpn import MultiScaleRoIAlign, fpn_levels
from .precise_roi_pool import precise_roi_pool
from .roi_align import roi_align
from .roi_pool import roi_pool
from .roi_warp import roi_warp

__all__ = ["roi_pool", "roi_align", "roi_warp", "precise_roi_pool", "fpn_levels", "MultiScaleRoIAlign"]
