"""Gradients with respect to the box: the autograd glue shared by the ops.

An op computes its output as before (differentiable in ``input`` through its own graph) and,
only when the caller's boxes require a gradient, passes it through :func:`attach_box_grad`: an
identity in the forward pass whose backward asks the op for ``dL / d(x1, y1, x2, y2)`` of every
box. Without box gradients nothing is added, so the forward numbers and speed are unchanged.

The chain rule from a mapped axis ``(start, length)`` back to the box's corners is stated once
here (:func:`corner_grads`), for RoI Align's mapping (:func:`roiviz.geometry.align_mapping`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["boxes_require_grad", "box_coords", "attach_box_grad", "corner_grads", "link_unused"]

#: Box dtypes whose gradient roiviz computes in the map's dtype and casts back.
LOW_PRECISION = (torch.float16, torch.bfloat16)


def boxes_require_grad(boxes) -> bool:
    """True when autograd is on and ``boxes`` (a ``Tensor[K, 5]`` or a list of ``Tensor[L, 4]``)
    requires a gradient (any tensor of a list)."""
    if not torch.is_grad_enabled():
        return False
    if isinstance(boxes, torch.Tensor):
        return boxes.requires_grad
    if isinstance(boxes, (list, tuple)):
        return any(isinstance(b, torch.Tensor) and b.requires_grad for b in boxes)
    return False


def box_coords(boxes, input: torch.Tensor) -> torch.Tensor:
    """The boxes' ``(x1, y1, x2, y2)`` ``[K, 4]`` in ``input``'s dtype, still attached to the
    caller's graph (the batch-index column of a ``Tensor[K, 5]`` gets a zero gradient).

    Call after :func:`roiviz._checks.convert_boxes` has checked ``boxes``.
    """
    if isinstance(boxes, torch.Tensor):
        return boxes[:, 1:].to(device=input.device, dtype=input.dtype)
    if not boxes:
        return input.new_zeros((0, 4))
    return torch.cat([b.to(device=input.device, dtype=input.dtype) for b in boxes])


class _BoxGradient(torch.autograd.Function):
    """``out`` unchanged; backward: ``grad_out`` to ``out`` and ``box_grad(grad_out)`` to the
    coordinates."""

    @staticmethod
    def forward(ctx, out: torch.Tensor, coords: torch.Tensor, box_grad: Callable) -> torch.Tensor:
        ctx.box_grad = box_grad
        ctx.coords_dtype = coords.dtype
        return out.view_as(out)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        grad_coords = None
        if ctx.needs_input_grad[1]:
            grad_coords = ctx.box_grad(grad_out.detach()).to(ctx.coords_dtype)
        return grad_out, grad_coords, None


def attach_box_grad(out: torch.Tensor, coords: torch.Tensor,
                    box_grad: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Route a box gradient to ``coords``.

    Args:
        out: the op's output ``[K, C, PH, PW]``.
        coords: ``[K, 4]`` from :func:`box_coords` (requires grad).
        box_grad: ``grad_out [K, C, PH, PW] -> [K, 4]``, ``dL / d(x1, y1, x2, y2)``.

    Returns:
        ``out`` (a view), whose backward also fills the boxes' gradient.
    """
    return _BoxGradient.apply(out, coords, box_grad)


class _ZeroLink(torch.autograd.Function):
    """``out`` unchanged; backward: ``grad_out`` to ``out`` and zeros to ``unused``."""

    @staticmethod
    def forward(ctx, out: torch.Tensor, unused: torch.Tensor) -> torch.Tensor:
        ctx.unused_shape = unused.shape
        ctx.unused_meta = (unused.dtype, unused.device)
        return out.view_as(out)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        dtype, device = ctx.unused_meta
        return grad_out, torch.zeros(ctx.unused_shape, dtype=dtype, device=device)


def link_unused(out: torch.Tensor, unused: torch.Tensor) -> torch.Tensor:
    """``out``, with ``unused`` in its graph so that ``unused.grad`` becomes zeros, not None
    (a pyramid level that no box reads, as in torchvision's ``MultiScaleRoIAlign``)."""
    return _ZeroLink.apply(out, unused)


def corner_grads(d_mapping: torch.Tensor, spatial_scale: float, free_y: torch.Tensor | None = None,
                 free_x: torch.Tensor | None = None) -> torch.Tensor:
    """``dL / d(x1, y1, x2, y2)`` from ``dL / d(start_y, length_y, start_x, length_x)``, for each
    axis' ``start = u1 * s - offset`` and ``length = (u2 - u1) * s``.

    Args:
        d_mapping: ``[K, 4]``, ``dL / d(start_y, length_y, start_x, length_x)``.
        spatial_scale: ``s``.
        free_y, free_x: bool ``[K]``, False where that axis' ``length`` was clamped to a constant
            (RoI Align's ``aligned=False`` minimum of one cell: ``torch.clamp``'s gradient, which
            passes at equality). Default: never clamped.

    Returns:
        ``[K, 4]`` in the boxes' column order ``(x1, y1, x2, y2)``.
    """
    dy1, dy2 = _axis_corner_grads(d_mapping[:, 0], d_mapping[:, 1], spatial_scale, free_y)
    dx1, dx2 = _axis_corner_grads(d_mapping[:, 2], d_mapping[:, 3], spatial_scale, free_x)
    return torch.stack((dx1, dy1, dx2, dy2), 1)


def _axis_corner_grads(d_start: torch.Tensor, d_length: torch.Tensor, spatial_scale: float,
                       length_free: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(dL/du1, dL/du2)`` of one axis, ``[K]`` each."""
    if length_free is not None:
        d_length = d_length * length_free.to(d_length.dtype)
    return spatial_scale * (d_start - d_length), spatial_scale * d_length
