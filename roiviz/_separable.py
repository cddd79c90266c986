"""Batched machinery shared by the ops: bins as small rectangles of cells, reduced in bulk.

The map is seen as a table with one row of ``C`` values per cell (channels last), so that
gathering a cell moves one contiguous row.

- RoI Align, RoI Warp and Precise RoI Pooling with ``avg`` are separable: for RoI ``k`` and
  channel ``c``, ``out[k, c] = Wy[k] @ F[n_k, c] @ Wx[k]^T`` with ``Wy [P, H]`` and ``Wx [Q, W]``
  (bilinear weights, or their integrals, per bin). Each row of ``Wy`` is non-zero on a short
  span of rows (a bin's samples and their neighbours), so bin ``(p, q)`` is a weighted sum over
  a small rectangle of cells with weights ``Wy[p, h] * Wx[q, w]``: :func:`separable_apply` lists
  every bin's cells and weights and sums them with ``torch.nn.functional.embedding_bag``.
- RoI Pool's bins are rectangles of cells with a max: :func:`bin_max` takes it separably, first
  across each bin's columns, then down its rows.

There is no Python loop over bins or samples; RoIs are processed in chunks to bound memory.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

#: Upper bound on listed cells (over all bins) per chunk of :func:`separable_apply`.
CHUNK_ENTRIES = 1 << 20
#: Upper bound on gathered elements (cells x channels) per chunk of :func:`bin_max`: 4 MB of
#: float32, so that a chunk's gathered cells stay in a core's L2 cache while they are reduced
#: (1 << 22 is 1.5x slower on benchmarks/bench_ops.py).
CHUNK_ELEMENTS = 1 << 20


def cell_table(input: torch.Tensor) -> torch.Tensor:
    """``[N, C, H, W] -> [N*H*W, C]``: row ``(n*H + h)*W + w`` is cell ``(h, w)`` of image ``n``."""
    n, c, h, w = input.shape
    return input.permute(0, 2, 3, 1).reshape(n * h * w, c)


def weight_spans(weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """First non-zero position and span length of each row of ``[..., L]`` (length 0 if none)."""
    size = weights.shape[-1]
    used = weights.ne(0)
    idx = torch.arange(size, device=weights.device)
    first = torch.where(used, idx, size).amin(-1)
    last = torch.where(used, idx, -1).amax(-1)
    return first.clamp(max=size - 1), (last - first + 1).clamp(min=0)


def _ranges(cost: torch.Tensor) -> Iterator[tuple[int, int]]:
    """Consecutive RoI ranges ``[start, stop)`` of total cost <= ``CHUNK_ENTRIES`` (or 1 RoI)."""
    total = torch.cumsum(cost, 0)
    k_total, start = cost.numel(), 0
    while start < k_total:
        base = int(total[start - 1]) if start else 0
        stop = max(int(torch.searchsorted(total, base + CHUNK_ENTRIES, right=True)), start + 1)
        yield start, stop
        start = stop


def _bin_cells(row_start: torch.Tensor, row_len: torch.Tensor, col_start: torch.Tensor,
               col_len: torch.Tensor):
    """List the cells of every bin ``(k, p, q)``, row-major inside each bin.

    Args:
        row_start, row_len: ``[k, P]``; col_start, col_len: ``[k, Q]`` (lengths >= 0).

    Returns:
        ``(roi, p, q, rows, cols, offsets)``: the first five ``[T]``, one entry per cell of a
        bin, bins in ``(k, p, q)`` order; ``offsets [k*P*Q]``, where each bin's entries start.
    """
    p_n, q_n = row_len.shape[1], col_len.shape[1]
    counts = (row_len[:, :, None] * col_len[:, None, :]).reshape(-1)           # [k*P*Q]
    offsets = torch.cumsum(counts, 0) - counts
    total = int(counts.sum())
    bag = torch.repeat_interleave(torch.arange(counts.numel(), device=counts.device), counts,
                                  output_size=total)                          # [T]
    local = torch.arange(total, device=counts.device) - offsets[bag]
    roi, p, q = bag // (p_n * q_n), bag // q_n % p_n, bag % q_n
    width = col_len[roi, q]
    return roi, p, q, row_start[roi, p] + local // width, col_start[roi, q] + local % width, offsets


def separable_apply(input: torch.Tensor, batch_idx: torch.Tensor, wy: torch.Tensor,
                    wx: torch.Tensor) -> torch.Tensor:
    """``out[k, c] = wy[k] @ input[batch_idx[k], c] @ wx[k]^T``, as weighted sums of bin cells.

    Args:
        input: ``[N, C, H, W]``.
        batch_idx: int64 ``[K]``.
        wy: ``[K, P, H]`` row weights; wx: ``[K, Q, W]`` column weights (dtype of ``input``).

    Returns:
        ``[K, C, P, Q]``; differentiable in ``input``. A bin whose weights are all zero gives 0.
    """
    k_total, p_n = wy.shape[:2]
    q_n = wx.shape[1]
    _, channels, height, width = input.shape
    if k_total == 0:
        return input.new_zeros((0, channels, p_n, q_n))
    row_start, row_len = weight_spans(wy)                                     # [K, P]
    col_start, col_len = weight_spans(wx)                                     # [K, Q]
    table = cell_table(input)                                                 # [N*H*W, C]
    parts = []
    for start, stop in _ranges(row_len.sum(1) * col_len.sum(1)):
        roi, p, q, rows, cols, offsets = _bin_cells(row_start[start:stop], row_len[start:stop],
                                                    col_start[start:stop], col_len[start:stop])
        roi = roi + start
        cells = (batch_idx[roi] * height + rows) * width + cols                 # [T]
        weights = wy[roi, p, rows] * wx[roi, q, cols]                           # [T]
        parts.append(F.embedding_bag(cells, table, offsets, mode="sum", per_sample_weights=weights))
    out = torch.cat(parts) if len(parts) > 1 else parts[0]                    # [K*P*Q, C]
    return out.view(k_total, p_n, q_n, channels).permute(0, 3, 1, 2).contiguous()


def _grouped_chunks(exact: torch.Tensor, padded: torch.Tensor,
                    per_roi: int) -> Iterator[torch.Tensor]:
    """Chunks of RoIs that share ``exact`` and are padded to their chunk's largest ``padded``.

    RoIs are sorted by ``(exact, padded)``; a chunk never mixes two values of ``exact`` and
    holds at most ``CHUNK_ELEMENTS / (exact * max padded * per_roi)`` RoIs (at least one).
    Yields the RoI indices ``[k]`` of each chunk.
    """
    order = torch.argsort(exact * (int(padded.max()) + 1) + padded)
    exact, padded = exact[order], padded[order]
    start, k_total = 0, order.numel()
    while start < k_total:
        group_end = int(torch.searchsorted(exact, exact[start], right=True))
        sizes = padded[start:group_end]
        count = torch.arange(1, sizes.numel() + 1, device=sizes.device)
        cost = count * sizes * (int(exact[start]) * per_roi)
        stop = start + max(1, int((cost <= CHUNK_ELEMENTS).sum()))
        yield order[start:stop]
        start = stop


def bin_max(input: torch.Tensor, batch_idx: torch.Tensor, rows, cols) -> torch.Tensor:
    """Maximum over rectangular bins of cells (RoI Pool), separably: columns, then rows.

    Args:
        input: ``[N, C, H, W]``.
        batch_idx: int64 ``[K]``.
        rows: ``(lo, hi)`` int64 ``[K, P]``, each bin's rows ``lo .. hi - 1``, clipped to the map
            and non-decreasing in ``p`` (as :func:`roiviz.geometry.pool_bins` gives them);
        cols: ``(lo, hi)`` ``[K, Q]`` likewise.

    Returns:
        ``[K, C, P, Q]``: each bin's maximum, 0 for an empty bin. The gradient of a bin goes to
        its first maximum in row-major order: the first maximum of each row across the bin's
        columns, then the first of those rows (``torch.max`` keeps the first maximum; padding
        repeats a bin's last row or column after it, so it never wins a tie). Without autograd
        no index is needed and the faster ``amax`` is used.
    """
    if torch.is_grad_enabled() and input.requires_grad:
        def reduce(t: torch.Tensor, dim: int) -> torch.Tensor:
            return t.max(dim=dim).values
    else:
        def reduce(t: torch.Tensor, dim: int) -> torch.Tensor:
            return t.amax(dim=dim)
    (row_lo, row_hi), (col_lo, col_hi) = rows, cols
    _, channels, height, width = input.shape
    k_total, p_n = row_lo.shape
    q_n = col_lo.shape[1]
    if k_total == 0:
        return input.new_zeros((0, channels, p_n, q_n))
    out = input.new_empty((k_total, channels, p_n, q_n))              # every RoI is written
    table = cell_table(input)                                                         # [N*H*W, C]
    row_len, col_len = (row_hi - row_lo).clamp(min=0), (col_hi - col_lo).clamp(min=0)
    empty = (row_len[:, :, None] == 0) | (col_len[:, None, :] == 0)                   # [K, P, Q]
    first_row = row_lo[:, 0]
    span = (row_hi[:, -1] - first_row).clamp(min=1)                   # rows read per RoI
    max_ly, max_lx = row_len.amax(1).clamp(min=1), col_len.amax(1).clamp(min=1)
    # Chunks share their longest column bin (no padding there) and pad the row span.
    for rois in _grouped_chunks(max_lx, span, q_n * channels):
        k, arange = rois.numel(), lambda n: torch.arange(n, device=rois.device)
        hc, ly, lx = int(span[rois].max()), int(max_ly[rois].max()), int(max_lx[rois].max())
        # 1. Across each bin's columns, for every row the RoI reads (a bin shorter than lx
        #    repeats its last column).
        r = (first_row[rois, None] + arange(hc)).clamp(max=height - 1)                # [k, Hc]
        c = torch.minimum(col_lo[rois, :, None] + arange(lx), col_hi[rois, :, None] - 1)
        c = c.clamp(0, width - 1)                                                     # [k, Q, lx]
        image_rows = batch_idx[rois, None, None, None] * height + r[:, :, None, None]
        cells = image_rows * width + c[:, None]                                     # [k, Hc, Q, lx]
        across = table.index_select(0, cells.reshape(-1)).view(k, hc, q_n, lx, channels)
        across = reduce(across, 3)                                                  # [k, Hc, Q, C]
        # 2. Down each bin's rows (a bin shorter than ly repeats its last row).
        local = torch.minimum(row_lo[rois, :, None] + arange(ly), row_hi[rois, :, None] - 1)
        local = (local - first_row[rois, None, None]).clamp(0, hc - 1)                # [k, P, ly]
        local = local + hc * arange(k)[:, None, None]
        down = across.reshape(k * hc, q_n * channels).index_select(0, local.reshape(-1))
        best = reduce(down.view(k, p_n, ly, q_n, channels), 2)                        # [k, P, Q, C]
        best = best.masked_fill(empty[rois, :, :, None], 0.0)
        out.index_copy_(0, rois, best.permute(0, 3, 1, 2))
    return out
