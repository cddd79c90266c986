"""Batched, differentiable RoI ops with torchvision's signatures.

``from roiviz.ops import roi_align`` is a drop-in for ``torchvision.ops.roi_align`` (same
numbers, forward and backward); ``roi_pool`` and ``MultiScaleRoIAlign`` likewise, and
``fpn_levels`` computes torchvision's ``LevelMapper`` levels. ``roi_warp`` and
``precise_roi_pool`` have no torchvision counterpart. Each op lives in its own module with its
teaching trace (the pyramid in :mod:`roiviz.fpn`); ``RoIAlign``, ``RoIPool`` and
``PreciseRoIPool`` are their ``nn.Module`` wrappers (:mod:`roiviz.modules`).

Box gradients: when ``boxes.requires_grad``, every op's backward fills ``boxes.grad`` (``[K,
5]``, zero in the batch-index column): RoI Align's piecewise derivative, Precise RoI Pooling's
exact one, RoI Warp's per MNC (rounding passed straight through), RoI Pool's zeros.
"""

from .fpn import MultiScaleRoIAlign, fpn_levels
from .modules import PreciseRoIPool, RoIAlign, RoIPool
from .precise_roi_pool import precise_roi_pool
from .roi_align import roi_align
from .roi_pool import roi_pool
from .roi_warp import roi_warp

__all__ = ["roi_pool", "roi_align", "roi_warp", "precise_roi_pool", "fpn_levels", "MultiScaleRoIAlign",
           "RoIAlign", "RoIPool", "PreciseRoIPool"]
