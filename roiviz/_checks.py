"""Argument checks for the batched ops (torchvision's ``check_roi_boxes_shape`` and friends).

Every error a caller can reach is a ``ValueError`` or ``TypeError`` that names the argument,
what it got and what is allowed.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import torch

from .geometry import CONVENTIONS, REDUCES


def check_input(input: torch.Tensor) -> None:
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"input must be a torch.Tensor [N, C, H, W], got {type(input).__name__}")
    if input.dim() != 4:
        raise ValueError(f"input must be 4-D [N, C, H, W], got shape {tuple(input.shape)}")
    if not input.is_floating_point():
        raise ValueError(f"input must be a floating-point tensor, got dtype {input.dtype}")
    if min(input.shape[2:]) < 1:
        raise ValueError(f"input must have H >= 1 and W >= 1, got shape {tuple(input.shape)}")


def convert_boxes(boxes, input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Accept ``Tensor[K, 5]`` (batch index, x1, y1, x2, y2) or a list of ``Tensor[L, 4]``.

    Returns:
        ``(batch_idx, coords)``: int64 ``[K]`` and ``[K, 4]`` in ``input``'s dtype.
    """
    if isinstance(boxes, (list, tuple)):
        for i, b in enumerate(boxes):
            if not isinstance(b, torch.Tensor):
                raise TypeError(f"boxes[{i}] must be a torch.Tensor [L, 4], got {type(b).__name__}")
            if b.dim() != 2 or b.shape[1] != 4:
                raise ValueError(f"boxes[{i}] must have shape [L, 4], got {tuple(b.shape)}")
        if len(boxes) != input.shape[0]:
            raise ValueError(f"boxes is a list of {len(boxes)} tensors but input has batch size "
                             f"{input.shape[0]}: give one [L, 4] tensor per image")
        coords = torch.cat([b.to(input.dtype) for b in boxes]) if boxes else input.new_zeros((0, 4))
        batch_idx = torch.cat([torch.full((b.shape[0],), i, dtype=torch.int64)
                               for i, b in enumerate(boxes)]) if boxes else torch.zeros(0, dtype=torch.int64)
    elif isinstance(boxes, torch.Tensor):
        if boxes.dim() != 2 or boxes.shape[1] != 5:
            raise ValueError(f"boxes must be a Tensor[K, 5] (batch index, x1, y1, x2, y2) or a "
                             f"list of Tensor[L, 4], got shape {tuple(boxes.shape)}")
        first = boxes[:, 0].detach().double()
        if not torch.all(first == first.floor()):
            raise ValueError("boxes[:, 0] must hold integer batch indices")
        batch_idx = first.to(torch.int64)
        coords = boxes[:, 1:].to(input.dtype)
    else:
        raise TypeError(f"boxes must be a Tensor[K, 5] or a list of Tensor[L, 4], got {type(boxes).__name__}")
    coords = coords.detach().to(input.device)
    if not torch.all(torch.isfinite(coords)):
        raise ValueError("boxes must hold finite coordinates (found NaN or inf)")
    if batch_idx.numel() and (batch_idx.min() < 0 or batch_idx.max() >= input.shape[0]):
        raise ValueError(f"box batch indices must be in 0..{input.shape[0] - 1}, got "
                         f"{int(batch_idx.min())}..{int(batch_idx.max())}")
    return batch_idx.to(input.device), coords


def check_output_size(output_size) -> tuple[int, int]:
    if isinstance(output_size, Integral) and not isinstance(output_size, bool):
        size = (int(output_size), int(output_size))
    elif isinstance(output_size, (list, tuple)) and len(output_size) == 2 and all(
            isinstance(v, Integral) and not isinstance(v, bool) for v in output_size):
        size = (int(output_size[0]), int(output_size[1]))
    else:
        raise ValueError(f"output_size must be an int or a pair of ints (h, w), got {output_size!r}")
    if min(size) < 1:
        raise ValueError(f"output_size must be >= 1 on each side, got {size}")
    return size


def check_spatial_scale(spatial_scale) -> float:
    if isinstance(spatial_scale, bool) or not isinstance(spatial_scale, Real) or \
            not math.isfinite(spatial_scale) or spatial_scale <= 0:
        raise ValueError(f"spatial_scale must be a finite number > 0, got {spatial_scale!r}")
    return float(spatial_scale)


def check_sampling_ratio(sampling_ratio) -> int:
    if isinstance(sampling_ratio, bool) or not isinstance(sampling_ratio, Integral):
        raise ValueError(f"sampling_ratio must be an integer (<= 0 for adaptive), got {sampling_ratio!r}")
    return int(sampling_ratio)


def check_reduce(reduce) -> str:
    if reduce not in REDUCES:
        raise ValueError(f"reduce must be one of {REDUCES}, got {reduce!r}")
    return reduce


def check_convention(convention) -> str:
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    return convention

