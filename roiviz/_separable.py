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
- The backward of the separable ops (:func:`separable_backward`, through
  :func:`separable_apply_with_grads`) gives the map's gradient and the box gradient in one pass:
  each RoI's weights are made dense over its own window of cells, and every term is a batched
  matrix product on that window, gathered once.

There is no Python loop over bins or samples. RoIs are grouped by the shape of their bags and
reduced in a few large calls (batches bound the memory), channels in groups that keep the
channels-last copy of the map small, and RoI Pool's RoIs in chunks that stay in cache.
"""

from __future__ import annotations

import math
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


#: Cells per block when :func:`table_to_map` transposes a table back (a plain permuted copy
#: writes with a stride of ``H*W`` elements and is 3 to 7 times slower on this machine).
TRANSPOSE_BLOCK = 64


def table_to_map(table: torch.Tensor, shape: tuple[int, int, int, int]) -> torch.Tensor:
    """The inverse of :func:`cell_table`: ``[N*H*W, C] -> [N, C, H, W]`` (contiguous), copied in
    blocks of ``TRANSPOSE_BLOCK`` cells that stay in cache."""
    n_images, channels, height, width = shape
    cells = table.view(n_images, height * width, channels)
    out = table.new_empty((n_images, channels, height * width))
    for first in range(0, height * width, TRANSPOSE_BLOCK):
        out[:, :, first:first + TRANSPOSE_BLOCK].copy_(cells[:, first:first + TRANSPOSE_BLOCK].transpose(1, 2))
    return out.view(shape)


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


#: Upper bound on the map elements (window cells x channels, padding included) gathered per
#: chunk of :func:`separable_backward` (4 MB of float32).
WINDOW_ELEMENTS = 1 << 20
#: Largest padding of a chunk's windows in :func:`separable_backward`: each RoI's own window
#: holds at least ``1 / WINDOW_PADDING`` of the chunk's padded window. Looser than ``PADDING``:
#: a window holds far fewer cells than a RoI's bags, and every chunk costs a few dozen calls.
WINDOW_PADDING = 2.0


class AxisWindows(NamedTuple):
    """Each RoI's weights along one axis as dense rows over the RoI's own window of cells.

    Attributes:
        start: int64 ``[K]``, the window's first cell; length: int64 ``[K]``, its cells (0 for
            a RoI whose entries are all unused).
        weights: ``[K, P, L]``: ``weights[k, p, l] = Wy[k, p, start[k] + l]`` (``L`` the longest
            window; 0 past a RoI's own length).
        slopes: ``[K, S, P, L]``, the slopes on the same cells (``S`` may be 0).
    """

    start: torch.Tensor
    length: torch.Tensor
    weights: torch.Tensor
    slopes: torch.Tensor


def axis_windows(entries: AxisEntries, size: int, slopes=(), dtype=None) -> AxisWindows:
    """:class:`AxisEntries` (and slopes on their cells) as dense rows over each RoI's window,
    the run of cells from its first used entry to its last (entries on one cell add up).

    Args:
        entries: ``[K, P]`` lists of ``E`` entries; size: the map's size along the axis.
        slopes: a sequence of ``[K, P, E]`` weights on the entries' cells.
        dtype: of the dense rows (default: the entries' weights').
    """
    k_total, p_n, e_n = entries.cells.shape
    dtype = dtype or entries.weights.dtype
    live = torch.arange(e_n, device=entries.cells.device) < entries.used[..., None]    # [K, P, E]
    flat_cells = entries.cells.reshape(k_total, p_n * e_n)
    flat_live = live.reshape(k_total, p_n * e_n)
    start = torch.where(flat_live, flat_cells, size).amin(1, keepdim=True) if p_n * e_n else \
        entries.cells.new_full((k_total, 1), size)
    last = torch.where(flat_live, flat_cells, -1).amax(1, keepdim=True) if p_n * e_n else \
        entries.cells.new_full((k_total, 1), -1)
    length = (last - start + 1).clamp(min=0)[:, 0]
    start = start[:, 0].clamp(max=size - 1)
    longest = max(int(length.max()), 1) if k_total else 1
    slot = (entries.cells - start[:, None, None]).clamp(0, longest - 1)               # [K, P, E]
    values = torch.stack([entries.weights.to(dtype), *(s.to(dtype) for s in slopes)], 1)  # [K, 1+S, P, E]
    values = values * live[:, None].to(dtype)
    dense = torch.zeros((k_total, values.shape[1], p_n, longest), dtype=dtype, device=values.device)
    dense.scatter_add_(-1, slot[:, None].expand_as(values), values)
    return AxisWindows(start, length, dense[:, 0], dense[:, 1:])


def _window_chunks(length_y: torch.Tensor, length_x: torch.Tensor, channels: int):
    """RoIs in chunks of similar windows, as ``(rois, ly, lx)``: int64 ``[k]`` and the chunk's
    longest windows.

    RoIs are sorted by their window's height, in steps of a factor 1.5 (a sort on the exact
    height would cut a chunk at every change of width), then by width; a chunk ends before its
    padded window ``ly * lx`` exceeds ``WINDOW_PADDING`` times its smallest own window, or its
    gathered elements ``WINDOW_ELEMENTS`` (a chunk holds at least one RoI). RoIs with an empty
    window are left out.
    """
    live = ((length_y > 0) & (length_x > 0)).nonzero().flatten()
    ys, xs = length_y[live].tolist(), length_x[live].tolist()
    step = [int(math.log(y) / math.log(1.5)) for y in ys]
    order = sorted(range(len(ys)), key=lambda i: (step[i], xs[i], ys[i]))
    chunks, members, ly, lx, smallest = [], [], 0, 0, 0
    for i in order:
        new_ly, new_lx = max(ly, ys[i]), max(lx, xs[i])
        new_smallest = min(smallest, ys[i] * xs[i]) if members else ys[i] * xs[i]
        if members and ((len(members) + 1) * new_ly * new_lx * channels > WINDOW_ELEMENTS
                        or new_ly * new_lx > WINDOW_PADDING * new_smallest):
            chunks.append((members, ly, lx))
            members, new_ly, new_lx, new_smallest = [], ys[i], xs[i], ys[i] * xs[i]
        members.append(i)
        ly, lx, smallest = new_ly, new_lx, new_smallest
    if members:
        chunks.append((members, ly, lx))
    return [(live[torch.tensor(m, dtype=torch.int64, device=live.device)], y, x) for m, y, x in chunks]


def separable_backward(input: torch.Tensor, batch_idx: torch.Tensor, grad: torch.Tensor,
                       rows: AxisEntries, cols: AxisEntries, row_slopes=(), col_slopes=(),
                       need_input: bool = True):
    """The backward of :func:`separable_apply`: the map's gradient and, in the same pass, how
    the loss moves when either axis's weights move (the box gradient's part).

    With ``out[k, c] = Wy[k] @ F[c] @ Wx[k]^T`` (``F`` the RoI's map) and ``G = dL / d out``:

    - the map receives ``Wy[k]^T @ G[k, c] @ Wx[k]``;
    - a change ``Sy`` of the row weights (e.g. ``dWy / d y1``) changes the loss by
      ``sum_{p,h} Sy[k, p, h] Ay[k, p, h]``, ``Ay[k, p, h] = sum_{c,w} (G[k, c] @ Wx[k])[p, w]
      F[c, h, w]``; a change ``Sx`` of the column weights by ``sum_{q,w} Sx[k, q, w]
      Ax[k, q, w]``, ``Ax[k, q, w] = sum_{c,p} G[k, c, p, q] (Wy[k] @ F[c])[p, w]``.

    Each RoI's weights are made dense over its own window of cells (:func:`axis_windows`), and
    RoIs go in chunks of similar windows (:func:`_window_chunks`). Per chunk the window of the
    map is gathered once, and everything is a batched matrix product on it: ``V = G @ Wx`` serves
    both the map's gradient (``Wy^T @ V``, added into a channels-last table by ``index_add_``)
    and ``Ay`` (``V`` against the window); ``Wy @ F`` against ``G`` gives ``Ax``. A small box
    reads the same cells from many bins, so its window holds far fewer cells than its bags
    (on the head workload of ``benchmarks/bench_ops.py``, 90 cells against 784 entries).

    Args:
        input: ``[N, C, H, W]``; batch_idx: int64 ``[K]``; grad: ``[K, C, P, Q]``.
        rows, cols: the weights as :class:`AxisEntries` (``[K, P]`` and ``[K, Q]`` lists).
        row_slopes: a sequence of ``[K, P, E]`` weights on the cells of ``rows``;
        col_slopes: a sequence of ``[K, Q, E]`` weights on the cells of ``cols``.
        need_input: compute the map's gradient (else it is returned as ``None``).

    Returns:
        ``(grad_input, row_terms, col_terms)``: ``[N, C, H, W]`` in the dtype of ``input`` (or
        ``None``), ``[K, len(row_slopes)]`` and ``[K, len(col_slopes)]`` in the dtype of
        ``input`` (float32 for float16 and bfloat16 maps).
    """
    k_total, p_n = rows.used.shape
    q_n = cols.used.shape[1]
    n_images, channels, height, width = input.shape
    work = input.dtype if input.dtype in (torch.float32, torch.float64) else torch.float32
    device = input.device
    row_terms = torch.zeros((k_total, len(row_slopes)), dtype=work, device=device)
    col_terms = torch.zeros((k_total, len(col_slopes)), dtype=work, device=device)
    grad_table = torch.zeros((n_images * height * width, channels), dtype=work, device=device) \
        if need_input else None
    want_slopes = len(row_slopes) + len(col_slopes) > 0
    if k_total and (need_input or want_slopes):
        with torch.no_grad():
            table = cell_table(input.detach().to(work)) if want_slopes else None      # [N*H*W, C]
            wy = axis_windows(rows, height, row_slopes, work)
            wx = axis_windows(cols, width, col_slopes, work)
            arange = torch.arange(max(int(wy.length.max()), int(wx.length.max()), 1), device=device)
            for rois, ly, lx in _window_chunks(wy.length, wx.length, channels):
                k = rois.numel()
                row_w = wy.weights[rois, :, :ly]                                   # [k, P, ly]
                col_w = wx.weights[rois, :, :lx]                                   # [k, Q, lx]
                g = grad.index_select(0, rois).to(work).permute(0, 2, 3, 1).contiguous()   # [k, P, Q, C]
                # V[k, p, w, c] = sum_q Wx[k, q, w] G[k, c, p, q], as [k, P, lx*C].
                v = torch.matmul(col_w.transpose(1, 2)[:, None], g).view(k, p_n, lx * channels)
                image_rows = batch_idx[rois, None] * height + (wy.start[rois, None] + arange[:ly]).clamp(max=height - 1)
                cols_read = (wx.start[rois, None] + arange[:lx]).clamp(max=width - 1)
                cells = (image_rows[:, :, None] * width + cols_read[:, None]).view(-1)   # [k*ly*lx]
                if need_input:
                    grad_table.index_add_(0, cells, torch.bmm(row_w.transpose(1, 2), v).view(-1, channels))
                if not want_slopes:
                    continue
                window = table.index_select(0, cells).view(k, ly, lx * channels)   # [k, ly, lx*C]
                if row_slopes:
                    along_rows = torch.bmm(v, window.transpose(1, 2))              # [k, P, ly]
                    row_terms[rois] = (wy.slopes[rois, :, :, :ly] * along_rows[:, None]).sum((2, 3))
                if col_slopes:
                    # (Wy @ F)[k, p, w, c] against G: Ax [k, Q, lx].
                    pooled = torch.bmm(row_w, window).view(k, p_n, lx, channels)
                    along_cols = torch.matmul(g, pooled.transpose(2, 3)).sum(1)
                    col_terms[rois] = (wx.slopes[rois, :, :, :lx] * along_cols[:, None]).sum((2, 3))
    grad_input = None
    if need_input:
        grad_input = table_to_map(grad_table, (n_images, channels, height, width)).to(input.dtype)
    return grad_input, row_terms, col_terms


def separable_slopes(input: torch.Tensor, batch_idx: torch.Tensor, grad: torch.Tensor,
                     rows: AxisEntries, cols: AxisEntries, row_slopes, col_slopes) -> tuple[torch.Tensor, torch.Tensor]:
    """How the loss moves when one axis's weights move, without the map's gradient: the
    ``(row_terms, col_terms)`` of :func:`separable_backward`."""
    _, row_terms, col_terms = separable_backward(input, batch_idx, grad, rows, cols, row_slopes,
                                                 col_slopes, need_input=False)
    return row_terms, col_terms


class _SeparableWithGrads(torch.autograd.Function):
    """:func:`separable_apply` whose backward is :func:`separable_backward`: the map's gradient
    and the box gradient from one pass."""

    @staticmethod
    def forward(ctx, input, coords, batch_idx, rows, cols, row_slopes, col_slopes, box_grad):
        ctx.save_for_backward(input)
        ctx.args = (batch_idx, rows, cols, row_slopes, col_slopes, box_grad)
        ctx.coords_dtype = None if coords is None else coords.dtype
        return separable_apply(input, batch_idx, rows, cols)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (input,) = ctx.saved_tensors
        batch_idx, rows, cols, row_slopes, col_slopes, box_grad = ctx.args
        need_input, need_coords = ctx.needs_input_grad[:2]
        grad_input, row_terms, col_terms = separable_backward(
            input, batch_idx, grad, rows, cols, row_slopes if need_coords else (),
            col_slopes if need_coords else (), need_input)
        grad_coords = box_grad(row_terms, col_terms).to(ctx.coords_dtype) if need_coords else None
        return grad_input, grad_coords, None, None, None, None, None, None


def separable_apply_with_grads(input: torch.Tensor, batch_idx: torch.Tensor, rows: AxisEntries,
                               cols: AxisEntries, coords: torch.Tensor | None = None, row_slopes=(),
                               col_slopes=(), box_grad=None) -> torch.Tensor:
    """:func:`separable_apply` (the same numbers), differentiable in ``input`` and, through the
    weights' slopes, in ``coords``, with one backward pass for both (:func:`separable_backward`;
    the backward is not itself differentiable).

    Args:
        input, batch_idx, rows, cols: as :func:`separable_apply`.
        coords: ``[K, 4]`` box coordinates attached to the caller's graph (or ``None``).
        row_slopes, col_slopes: the weights' derivatives, as :func:`separable_backward`'s.
        box_grad: ``(row_terms [K, Sy], col_terms [K, Sx]) -> [K, 4]``, ``dL / d coords``.

    Returns:
        ``[K, C, P, Q]``.
    """
    wants_coords = coords is not None and coords.requires_grad
    if not torch.is_grad_enabled() or not (input.requires_grad or wants_coords):
        return separable_apply(input, batch_idx, rows, cols)
    return _SeparableWithGrads.apply(input, coords if wants_coords else None, batch_idx, rows, cols,
                                     tuple(row_slopes), tuple(col_slopes), box_grad)
