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

#: Upper bound on listed cells (over all bins, with padding) per chunk of :func:`separable_apply`.
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


def _chunks(row_len: torch.Tensor, col_len: torch.Tensor) -> Iterator[torch.Tensor]:
    """Chunks of RoIs of at most ``CHUNK_ENTRIES`` padded cells each (or 1 RoI), similar RoIs together.

    A chunk of ``k`` RoIs lists ``k * P * Q * Ly * Lx`` cells before :func:`_bin_cells` drops the
    padding, ``Ly`` and ``Lx`` its longest row and column spans. RoIs are taken in order of
    their ``Ly * Lx`` so that one long thin box (a box clipped at the image border, on a fine
    pyramid level) does not pad a whole chunk of small ones.

    Args:
        row_len: ``[K, P]``; col_len: ``[K, Q]``, the bins' span lengths.

    Yields:
        The RoI indices ``[k]`` of each chunk.
    """
    bins = row_len.shape[1] * col_len.shape[1]
    longest_y, longest_x = row_len.amax(1).clamp(min=1), col_len.amax(1).clamp(min=1)   # [K]
    order = torch.argsort(longest_y * longest_x, stable=True)
    longest_y, longest_x = longest_y[order], longest_x[order]
    start, k_total = 0, order.numel()
    while start < k_total:
        ly, lx = longest_y[start:].cummax(0).values, longest_x[start:].cummax(0).values
        cost = torch.arange(1, k_total - start + 1, device=ly.device) * bins * ly * lx   # rising
        stop = start + max(1, int((cost <= CHUNK_ENTRIES).sum()))
        yield order[start:stop]
        start = stop


def _bin_cells(batch_idx: torch.Tensor, shape: tuple[int, int], wy: torch.Tensor, wx: torch.Tensor,
               row_start: torch.Tensor, row_len: torch.Tensor, col_start: torch.Tensor,
               col_len: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """List the cells and weights of every bin ``(k, p, q)``, row-major inside each bin.

    Every bin is first laid out as a padded ``Ly x Lx`` rectangle (the chunk's longest row and
    column spans), which takes a handful of broadcast operations; the padding is then dropped
    with one mask, which keeps the row-major order. (Listing the cells with
    ``repeat_interleave`` and index division takes four times as many operations on ``[T]``
    tensors, and each one costs a thread-pool round trip with 2 threads on a busy machine.)

    Args:
        batch_idx: int64 ``[k]``; shape: the map's ``(H, W)``.
        wy: ``[k, P, H]``; wx: ``[k, Q, W]``, the weights of this chunk's RoIs.
        row_start, row_len: ``[k, P]``; col_start, col_len: ``[k, Q]`` (lengths >= 0), the
            non-zero spans of ``wy`` and ``wx`` (:func:`weight_spans`).

    Returns:
        ``(cells, weights, offsets)``: ``cells`` int64 ``[T]``, rows of :func:`cell_table`;
        ``weights [T]``, ``wy[k, p, h] * wx[k, q, w]``; ``offsets [k*P*Q]``, where each bin's
        entries start (bins in ``(k, p, q)`` order).
    """
    height, width = shape
    counts = (row_len[:, :, None] * col_len[:, None, :]).reshape(-1)           # [k*P*Q]
    offsets = torch.cumsum(counts, 0) - counts
    ly, lx = max(int(row_len.max()), 1), max(int(col_len.max()), 1)
    i = torch.arange(ly, device=wy.device)
    j = torch.arange(lx, device=wx.device)
    rows = (row_start[:, :, None] + i).clamp(max=height - 1)                   # [k, P, Ly]
    cols = (col_start[:, :, None] + j).clamp(max=width - 1)                    # [k, Q, Lx]
    row_weight = wy.gather(2, rows)                                            # [k, P, Ly]
    col_weight = wx.gather(2, cols)                                            # [k, Q, Lx]
    row_base = (batch_idx[:, None, None] * height + rows) * width              # [k, P, Ly]
    row_used = i < row_len[:, :, None]                                         # [k, P, Ly]
    col_used = j < col_len[:, :, None]                                         # [k, Q, Lx]
    # [k, P, Q, Ly, Lx]: bin (p, q), its row i and column j.
    used = row_used[:, :, None, :, None] & col_used[:, None, :, None, :]
    cells = row_base[:, :, None, :, None] + cols[:, None, :, None, :]
    weights = row_weight[:, :, None, :, None] * col_weight[:, None, :, None, :]
    # One nonzero for both selections (boolean indexing would run it twice, and slower).
    kept = used.reshape(-1).nonzero().squeeze(1)                               # [T]
    return cells.reshape(-1).index_select(0, kept), weights.reshape(-1).index_select(0, kept), offsets


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
    out = input.new_empty((k_total, channels, p_n, q_n))                      # every RoI is written
    for rois in _chunks(row_len, col_len):
        cells, weights, offsets = _bin_cells(batch_idx[rois], (height, width), wy[rois], wx[rois],
                                             row_start[rois], row_len[rois], col_start[rois],
                                             col_len[rois])
        part = F.embedding_bag(cells, table, offsets, mode="sum", per_sample_weights=weights)
        # [k*P*Q, C] -> [k, C, P, Q], chunk by chunk while the part is still in cache.
        out.index_copy_(0, rois, part.view(rois.numel(), p_n, q_n, channels).permute(0, 3, 1, 2))
    return out


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
