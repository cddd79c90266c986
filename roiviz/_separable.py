"""Batched machinery shared by the ops: bins as small rectangles of cells, reduced in bulk.

The map is seen as a table with one row of ``C`` values per cell (channels last), so that
gathering a cell moves one contiguous row.

- RoI Align, RoI Warp and Precise RoI Pooling with ``avg`` are separable: for RoI ``k`` and
  channel ``c``, ``out[k, c] = Wy[k] @ F[n_k, c] @ Wx[k]^T`` with ``Wy [P, H]`` and ``Wx [Q, W]``
  (bilinear weights, or their integrals, per bin). Each row of ``Wy`` is non-zero on a few rows
  only (a bin's samples and their neighbours), so an axis is given as :class:`AxisEntries`,
  each bin's short list of ``(cell, weight)``, and bin ``(p, q)`` is a weighted sum over the
  cells ``(h, w)`` of its row and column lists with weights ``Wy[p, h] * Wx[q, w]``:
  :func:`separable_apply` lays every bin out as one bag of cells and weights and sums the bags
  with ``torch.nn.functional.embedding_bag``.
- RoI Pool's bins are rectangles of cells with a max: :func:`bin_max` takes it separably, first
  across each bin's columns, then down its rows.

There is no Python loop over bins or samples. RoIs are grouped by the shape of their bags and
reduced in a few large calls (batches bound the memory), channels in groups that keep the
channels-last copy of the map small, and RoI Pool's RoIs in chunks that stay in cache.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch
import torch.nn.functional as F

#: Upper bound on the bags' entries (padding included) per batch of :func:`separable_apply`
#: (48 MB of cells and weights). Each batch is reduced in one ``embedding_bag`` call per group of
#: channels: few large calls, because with 2 threads every call waits for both, and on a busy
#: machine hundreds of small calls cost more than they save in cache misses.
BATCH_ENTRIES = 1 << 22
#: Largest padding of a group's bags: every RoI of a group has at least ``1 / PADDING`` of its
#: bags' entries in use (the rest are weight-0 entries).
PADDING = 1.5
#: Upper bound on the elements of one channel group's table in :func:`separable_apply` (16 MB
#: of float32; the channels are split in equal groups under it). The channels-last copy of a
#: whole P2 map is 124 MB of fresh memory on every call, whose page faults cost as much as the
#: copy; tables of at most 16 MB are served again by the allocator from one group and call to
#: the next. On the FPN benchmark (one thread) this is about 20 % faster than one table per
#: map, and 1 << 23 is as slow as one table.
TABLE_ELEMENTS = 1 << 22
#: Upper bound on gathered elements (cells x channels) per chunk of :func:`bin_max`: 4 MB of
#: float32, so that a chunk's gathered cells stay in a core's L2 cache while they are reduced
#: (1 << 22 is 1.5x slower on benchmarks/bench_ops.py).
CHUNK_ELEMENTS = 1 << 20


class AxisEntries(NamedTuple):
    """Each bin's weights along one axis, as a short list of ``(cell, weight)`` entries.

    ``Wy[k, p, h]`` is the sum of ``weights[k, p, e]`` over the entries ``e`` with
    ``cells[k, p, e] == h``.

    Attributes:
        cells: int64 ``[K, P, E]``, indices along the axis (``0 .. size - 1``; repeats allowed).
        weights: ``[K, P, E]`` (dtype of the map); 0 on unused entries.
        used: int64 ``[K, P]``, how many leading entries of the list are used (weights at
            ``e >= used`` are 0).
    """

    cells: torch.Tensor
    weights: torch.Tensor
    used: torch.Tensor


def cell_table(input: torch.Tensor) -> torch.Tensor:
    """``[N, C, H, W] -> [N*H*W, C]``: row ``(n*H + h)*W + w`` is cell ``(h, w)`` of image ``n``.

    A view when ``input`` is already channels-last, else one channels-last copy (torch's
    ``channels_last`` conversion).
    """
    n, c, h, w = input.shape
    return input.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1).reshape(n * h * w, c)


def entries_from_dense(weights: torch.Tensor, *others: torch.Tensor):
    """:class:`AxisEntries` of dense weights ``[K, P, size]``: each row's run of cells from its
    first to its last non-zero weight (no entry for a row of zeros).

    With ``others`` (dense ``[K, P, size]`` each, e.g. the weights' derivatives), the run covers
    the non-zeros of all of them, and ``(entries, [other's weights on the same cells, ...])``
    is returned.
    """
    size = weights.shape[-1]
    used = weights.ne(0)
    for other in others:
        used = used | other.ne(0)
    idx = torch.arange(size, device=weights.device)
    first = torch.where(used, idx, size).amin(-1)                              # [K, P]
    last = torch.where(used, idx, -1).amax(-1)
    length = (last - first + 1).clamp(min=0)
    longest = max(int(length.max()), 1) if length.numel() else 1
    cells = (first.clamp(max=size - 1)[..., None] + idx[:longest]).clamp(max=size - 1)   # [K, P, L]
    inside = idx[:longest] < length[..., None]
    entries = AxisEntries(cells, weights.gather(-1, cells) * inside, length)
    if not others:
        return entries
    return entries, [other.gather(-1, cells) * inside for other in others]


def _batches(row_used: torch.Tensor, col_used: torch.Tensor) -> Iterator[list[torch.Tensor]]:
    """RoIs in groups whose bags have similar shapes, and groups in batches of bounded size.

    RoI ``k``'s bags have ``Ly * Lx`` entries, its longest row and column lists; a group pads
    every bag to the group's longest lists. RoIs are taken in order of ``(Ly, Lx)``, and a group
    ends before its padded ``Ly * Lx`` exceeds ``PADDING`` times the smallest own ``Ly * Lx`` of
    its RoIs, so that one long thin box (a box clipped at the image border, a wide flat box on
    a fine pyramid level) does not pad a group of small ones. A batch holds at most
    ``BATCH_ENTRIES`` padded entries (or one RoI).

    Args:
        row_used: ``[K, P]``; col_used: ``[K, Q]``, the bins' used entries
            (:attr:`AxisEntries.used`).

    Yields:
        Each batch as a list of groups, each group the RoI indices ``[k]``.
    """
    bins = row_used.shape[1] * col_used.shape[1]
    own_y, own_x = row_used.amax(1).clamp(min=1), col_used.amax(1).clamp(min=1)       # [K]
    order = torch.argsort(own_y * (int(own_x.max()) + 1) + own_x, stable=True)
    own_y, own_x = own_y[order], own_x[order]
    batch, batch_entries, start, k_total = [], 0, 0, order.numel()
    while start < k_total:
        padded = own_y[start:].cummax(0).values * own_x[start:].cummax(0).values      # rising
        entries = torch.arange(1, k_total - start + 1, device=padded.device) * bins * padded
        fits = (entries <= BATCH_ENTRIES) & \
            (padded <= PADDING * (own_y[start:] * own_x[start:]).cummin(0).values)
        stop = start + max(1, int(fits.sum()))
        group_entries = int(entries[stop - start - 1])
        if batch and batch_entries + group_entries > BATCH_ENTRIES:
            yield batch
            batch, batch_entries = [], 0
        batch.append(order[start:stop])
        batch_entries += group_entries
        start = stop
    if batch:
        yield batch


def _bags(batch_idx: torch.Tensor, shape: tuple[int, int], rows: AxisEntries,
          cols: AxisEntries) -> tuple[torch.Tensor, torch.Tensor]:
    """Every bin ``(k, p, q)`` as one bag of ``Ly * Lx`` cells and weights, row-major.

    ``Ly`` and ``Lx`` are the longest lists of these RoIs; shorter lists are padded with
    weight-0 entries, which add nothing (dropping them costs more than summing them).

    Args:
        batch_idx: int64 ``[k]``; shape: the map's ``(H, W)``.
        rows: ``[k, P]`` lists; cols: ``[k, Q]`` lists (:class:`AxisEntries`).

    Returns:
        ``(cells, weights)``, both ``[k*P*Q, Ly*Lx]`` (bins in ``(k, p, q)`` order): ``cells``
        int64 rows of :func:`cell_table`, ``weights`` ``wy[k, p, i] * wx[k, q, j]``.
    """
    height, width = shape
    k, p_n = rows.used.shape
    q_n = cols.used.shape[1]
    ly, lx = max(int(rows.used.max()), 1), max(int(cols.used.max()), 1)
    row_base = (batch_idx[:, None, None] * height + rows.cells[:, :, :ly]) * width      # [k, P, Ly]
    # [k, P, Q, Ly, Lx]: bin (p, q), its row entry i and column entry j.
    cells = row_base[:, :, None, :, None] + cols.cells[:, None, :, None, :lx]
    weights = rows.weights[:, :, None, :ly, None] * cols.weights[:, None, :, None, :lx]
    return cells.reshape(k * p_n * q_n, ly * lx), weights.reshape(k * p_n * q_n, ly * lx)


def separable_apply(input: torch.Tensor, batch_idx: torch.Tensor, rows: AxisEntries, cols: AxisEntries,
                    out: torch.Tensor | None = None, out_rows: torch.Tensor | None = None) -> torch.Tensor:
    """``out[k, c] = Wy[k] @ input[batch_idx[k], c] @ Wx[k]^T``, as weighted sums of bin cells.

    Args:
        input: ``[N, C, H, W]``.
        batch_idx: int64 ``[K]``.
        rows: the row weights ``Wy`` as ``[K, P]`` lists; cols: ``Wx`` as ``[K, Q]`` lists
            (:class:`AxisEntries`, weights in the dtype of ``input``).
        out: a ``[M, C, P, Q]`` tensor (dtype of ``input``) to write RoI ``k`` into at row
            ``out_rows[k]`` (int64 ``[K]``), in place, so that a caller that pools several maps
            into one result (:class:`roiviz.fpn.MultiScaleRoIAlign`) writes each RoI once.
            Default: a new ``[K, C, P, Q]`` tensor, row ``k`` for RoI ``k``.

    Returns:
        ``out``; differentiable in ``input``. A bin whose weights are all zero gives 0.
    """
    k_total, p_n = rows.used.shape
    q_n = cols.used.shape[1]
    n_images, channels, height, width = input.shape
    if out is None:
        out = input.new_empty((k_total, channels, p_n, q_n))                  # every RoI is written
        out_rows = torch.arange(k_total, device=input.device)
    if k_total == 0:
        return out
    tables = -(-channels * n_images * height * width // TABLE_ELEMENTS)        # ceil: how many
    group = -(-channels // tables)                                            # channels per table
    for batch in _batches(rows.used, cols.used):
        # One bag per bin, each group of RoIs padded to its own longest lists: [T] entries.
        bags = [_bags(batch_idx[rois], (height, width), AxisEntries(*(t[rois] for t in rows)),
                      AxisEntries(*(t[rois] for t in cols))) for rois in batch]
        cells = torch.cat([c.reshape(-1) for c, _ in bags])                   # [T]
        weights = torch.cat([w.reshape(-1) for _, w in bags])                 # [T]
        sizes = torch.cat([torch.full(c.shape[:1], c.shape[1], device=c.device) for c, _ in bags])
        offsets = torch.cumsum(sizes, 0) - sizes                              # [B], where bags start
        where = out_rows[torch.cat(batch)]                                    # [k]
        for first in range(0, channels, group):
            # The group's table ([N*H*W, c]) lives only for this call, so that the allocator
            # serves the next group's from the same memory.
            part = F.embedding_bag(cells, cell_table(input[:, first:first + group]), offsets,
                                   mode="sum", per_sample_weights=weights)               # [k*P*Q, c]
            # [k*P*Q, c] -> [k, c, P, Q], into the result's rows and channels (not through a
            # view when there is one group: autograd copies the whole result for a view).
            target = out if group >= channels else out[:, first:first + group]
            target.index_copy_(0, where, part.view(where.numel(), p_n, q_n, -1).permute(0, 3, 1, 2))
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


#: Upper bound on the gathered elements (entries x channels) per chunk of
#: :func:`separable_slopes` (16 MB of float32): a chunk's gathered cells stay in cache while
#: they are contracted with the output gradient.
SLOPE_ELEMENTS = 1 << 22


def separable_slopes(input: torch.Tensor, batch_idx: torch.Tensor, grad: torch.Tensor,
                     rows: AxisEntries, cols: AxisEntries, row_slopes, col_slopes) -> tuple[torch.Tensor, torch.Tensor]:
    """How the loss moves when one axis's weights move: the box-gradient half of
    :func:`separable_apply`.

    With ``out[k, c] = Wy[k] @ F @ Wx[k]^T`` and an output gradient ``G = dL/d out``, a change of
    the row weights by ``Sy`` (same cells as ``rows``, e.g. ``dWy / d y1``) changes the loss by
    ``sum_{c,p,q} G[k, c, p, q] * (Sy[k] @ F @ Wx[k]^T)[p, q]``; likewise for the columns. Every
    bin's cells are gathered once (chunks of at most ``SLOPE_ELEMENTS``) and contracted with
    ``G`` over the channels; the slopes are then cheap sums over the bins' entries.

    Args:
        input: ``[N, C, H, W]``; batch_idx: int64 ``[K]``; grad: ``[K, C, P, Q]``.
        rows, cols: the weights as :class:`AxisEntries` (``[K, P]`` and ``[K, Q]`` lists).
        row_slopes: a sequence of ``[K, P, E]`` weights on the cells of ``rows``;
        col_slopes: a sequence of ``[K, Q, E]`` weights on the cells of ``cols``.

    Returns:
        ``(row_terms, col_terms)``: ``[K, len(row_slopes)]`` and ``[K, len(col_slopes)]`` in the
        dtype of ``input`` (float32 for float16 and bfloat16 maps).
    """
    k_total, p_n = rows.used.shape
    q_n = cols.used.shape[1]
    n_images, channels, height, width = input.shape
    work = input.dtype if input.dtype in (torch.float32, torch.float64) else torch.float32
    row_terms = torch.zeros((k_total, len(row_slopes)), dtype=work, device=input.device)
    col_terms = torch.zeros((k_total, len(col_slopes)), dtype=work, device=input.device)
    if k_total == 0:
        return row_terms, col_terms
    table = cell_table(input.detach()).to(work)                               # [N*H*W, C]
    g = grad.to(work).permute(0, 2, 3, 1)                                     # [K, P, Q, C]
    for batch in _batches(rows.used, cols.used):
        for group in batch:
            ly = max(int(rows.used[group].max()), 1)
            lx = max(int(cols.used[group].max()), 1)
            per_roi = p_n * q_n * ly * lx * channels
            step = max(1, SLOPE_ELEMENTS // per_roi)
            for first in range(0, group.numel(), step):
                rois = group[first:first + step]
                k = rois.numel()
                row_cells = (batch_idx[rois, None, None] * height + rows.cells[rois, :, :ly]) * width
                cells = row_cells[:, :, None, :, None] + cols.cells[rois, None, :, None, :lx]
                gathered = table.index_select(0, cells.reshape(-1)).view(k * p_n * q_n, ly * lx, channels)
                gv = torch.bmm(gathered, g[rois].reshape(k * p_n * q_n, channels, 1))
                gv = gv.view(k, p_n, q_n, ly, lx)                             # [k, P, Q, Ly, Lx]
                if row_slopes:
                    along_rows = torch.einsum("kpqij,kqj->kpi", gv, cols.weights[rois, :, :lx].to(work))
                    for s, slope in enumerate(row_slopes):
                        row_terms[rois, s] = (along_rows * slope[rois, :, :ly].to(work)).sum((1, 2))
                if col_slopes:
                    along_cols = torch.einsum("kpqij,kpi->kqj", gv, rows.weights[rois, :, :ly].to(work))
                    for s, slope in enumerate(col_slopes):
                        col_terms[rois, s] = (along_cols * slope[rois, :, :lx].to(work)).sum((1, 2))
    return row_terms, col_terms
