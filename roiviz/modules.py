"""``nn.Module`` wrappers of the ops, with torchvision's constructor signatures and ``__repr__``.

``RoIAlign(output_size, spatial_scale, sampling_ratio, aligned=False)`` and
``RoIPool(output_size, spatial_scale)`` are torchvision's (``torchvision/ops/roi_align.py`` and
``roi_pool.py``); ``PreciseRoIPool(output_size, spatial_scale=1.0)`` is mmcv's ``PrRoIPool``
signature, plus roiviz's ``convention``. Each forward is the op's function, box gradients
included.
"""

from __future__ import annotations

from torch import Tensor, nn

from .precise_roi_pool import precise_roi_pool
from .roi_align import roi_align
from .roi_pool import roi_pool

__all__ = ["RoIAlign", "RoIPool", "PreciseRoIPool"]


class RoIAlign(nn.Module):
    """See :func:`roiviz.roi_align.roi_align`."""

    def __init__(self, output_size, spatial_scale: float, sampling_ratio: int, aligned: bool = False):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    def forward(self, input: Tensor, rois) -> Tensor:
        return roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(output_size={self.output_size}, "
                f"spatial_scale={self.spatial_scale}, sampling_ratio={self.sampling_ratio}, "
                f"aligned={self.aligned})")


class RoIPool(nn.Module):
    """See :func:`roiviz.roi_pool.roi_pool`."""

    def __init__(self, output_size, spatial_scale: float):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale

    def forward(self, input: Tensor, rois) -> Tensor:
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(output_size={self.output_size}, spatial_scale={self.spatial_scale})"


class PreciseRoIPool(nn.Module):
    """See :func:`roiviz.precise_roi_pool.precise_roi_pool`."""

    def __init__(self, output_size, spatial_scale: float = 1.0, *, convention: str = "aligned"):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.convention = convention

    def forward(self, input: Tensor, rois) -> Tensor:
        return precise_roi_pool(input, rois, self.output_size, self.spatial_scale, convention=self.convention)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(output_size={self.output_size}, "
                f"spatial_scale={self.spatial_scale}, convention={self.convention!r})")
