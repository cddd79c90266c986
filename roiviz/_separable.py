"""Batched machinery shared by the ops: cut each RoI's crop out of the map, in chunks.

RoI Align, RoI Warp and Precise RoI Pooling with ``avg`` are all separable: for RoI ``k`` and
channel ``c``, ``out[k, c] = Wy[k] @ F[n_k, c] @ Wx[k]^T`` with ``Wy [P, H]`` and ``Wx [Q, W]``
(bilinear weights, or their integrals, per bin). Only a small band of rows and columns has
non-zero weight, so we gather that crop (``[Hc, Wc]`` per RoI) and multiply small matrices.
RoIs are sorted by crop size and processed in chunks padded to the chunk's largest crop, so
there is no Python loop over bins or samples and memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

#: Upper bound on gathered elements (RoIs x channels x crop) per chunk.
CHUNK_ELEMENTS = 1 << 22


def _span(used: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """First used index and span length per row of a bool ``[K, L]`` (span 0 if none used)."""
    size = used.shape[1]
    idx = torch.arange(size, device=used.device)
    first = torch.where(used, idx, size).amin(dim=1)
    last = torch.where(used, idx, -1).amax(dim=1)
    span = (last - first + 1).clamp(min=0)
    return first.clamp(max=size - 1), span


def crop_chunks(row_used: torch.Tensor, col_used: torch.Tensor, channels: int
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Plan the crops.

    Args:
        row_used: bool ``[K, H]``, the rows each RoI's output depends on.
        col_used: bool ``[K, W]``, the columns.
        channels: ``C``, to size the chunks.

    Yields:
        ``(rois, rows, cols)``: the RoI indices of one chunk ``[k]``, and the map rows
        ``[k, Hc]`` and columns ``[k, Wc]`` of each crop, clamped to the map (callers must zero
        the weights of positions past a RoI's own span; :func:`crop_weights` does).
    """
    height, width = row_used.shape[1], col_used.shape[1]
    y0, hspan = _span(row_used)
    x0, wspan = _span(col_used)
    hspan, wspan = hspan.clamp(min=1), wspan.clamp(min=1)
    order = torch.argsort(hspan * wspan)
    k_total = order.numel()
    start = 0
    while start < k_total:
        # Largest chunk whose padded crops (chunk's max height x max width) fit the budget;
        # the cost only grows with the chunk, so count the prefixes that fit.
        rest = order[start:]
        hmax = torch.cummax(hspan[rest], 0).values
        wmax = torch.cummax(wspan[rest], 0).values
        cost = hmax * wmax * channels * torch.arange(1, rest.numel() + 1, device=rest.device)
        stop = start + max(1, int((cost <= CHUNK_ELEMENTS).sum()))
        rois = order[start:stop]
        hc, wc = int(hspan[rois].max()), int(wspan[rois].max())
        rows = y0[rois, None] + torch.arange(hc, device=row_used.device)
        cols = x0[rois, None] + torch.arange(wc, device=col_used.device)
        yield rois, rows.clamp(max=height - 1), cols.clamp(max=width - 1)
        start = stop


def crop_weights(weights: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Gather the columns ``positions`` of per-RoI weight matrices, zeroing repeated ones.

    Args:
        weights: ``[k, P, L]`` (a chunk's rows of ``Wy`` or ``Wx``).
        positions: ``[k, Lc]`` from :func:`crop_chunks` (clamped, so the tail may repeat ``L-1``).

    Returns:
        ``[k, P, Lc]``.
    """
    gathered = weights.gather(2, positions[:, None, :].expand(-1, weights.shape[1], -1))
    # A clamped tail repeats the last index; keep only the first occurrence of each position.
    first = torch.ones_like(positions, dtype=torch.bool)
    first[:, 1:] = positions[:, 1:] != positions[:, :-1]
    return gathered * first[:, None, :].to(weights.dtype)


def gather_crops(input: torch.Tensor, batch_idx: torch.Tensor, rows: torch.Tensor,
                 cols: torch.Tensor) -> torch.Tensor:
    """``input[batch_idx[k], :, rows[k], cols[k]]`` as ``[k, C, Hc, Wc]`` (differentiable)."""
    crops = input[batch_idx[:, None, None], :, rows[:, :, None], cols[:, None, :]]  # [k, Hc, Wc, C]
    return crops.permute(0, 3, 1, 2)


def map_chunks(row_used: torch.Tensor, col_used: torch.Tensor, budget_channels: int,
               fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Run ``fn(rois, rows, cols) -> [k, ...]`` on every chunk and put the RoIs back in order.

    Args:
        row_used, col_used, budget_channels: as in :func:`crop_chunks` (``budget_channels`` is
            ``C`` times any extra factor the chunk's intermediates are larger by).

    Returns:
        ``[K, ...]``: the chunks' results, concatenated in the original RoI order.
    """
    parts, order = [], []
    for rois, rows, cols in crop_chunks(row_used, col_used, budget_channels):
        parts.append(fn(rois, rows, cols))
        order.append(rois)
    order_all = torch.cat(order)
    inverse = torch.empty_like(order_all)
    inverse[order_all] = torch.arange(order_all.numel(), device=order_all.device)
    return torch.cat(parts)[inverse]


def separable_apply(input: torch.Tensor, batch_idx: torch.Tensor, wy: torch.Tensor,
                    wx: torch.Tensor) -> torch.Tensor:
    """``out[k, c] = wy[k] @ input[batch_idx[k], c] @ wx[k]^T``, crop by crop.

    Args:
        input: ``[N, C, H, W]``.
        batch_idx: int64 ``[K]``.
        wy: ``[K, P, H]`` row weights; wx: ``[K, Q, W]`` column weights (dtype of ``input``).

    Returns:
        ``[K, C, P, Q]``; differentiable in ``input``.
    """
    if wy.shape[0] == 0:
        return input.new_zeros((0, input.shape[1], wy.shape[1], wx.shape[1]))

    def one_chunk(rois, rows, cols):
        crops = gather_crops(input, batch_idx[rois], rows, cols)        # [k, C, Hc, Wc]
        wy_c = crop_weights(wy[rois], rows)                               # [k, P, Hc]
        wx_c = crop_weights(wx[rois], cols)                               # [k, Q, Wc]
        return torch.matmul(torch.matmul(wy_c[:, None], crops), wx_c.transpose(1, 2)[:, None])

    return map_chunks(wy.ne(0).any(1), wx.ne(0).any(1), input.shape[1], one_chunk)
