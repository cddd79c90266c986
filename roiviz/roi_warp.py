"""RoI Warp (Dai, He, Sun, *Instance-aware Semantic Segmentation via Multi-task Network
Cascades*, CVPR 2016): quantize the box once, then sample bilinearly.

MNC built its RoI warping layer to be differentiable with respect to the box, so that its
cascade (later stages pool inside boxes an earlier stage predicted) trains end to end. The
Mask R-CNN paper (Section 3) says only that RoIWarp "was implemented in [MNC] as quantizing RoI
just like RoIPool" (the ablation is Section 4.2, Table 2c); it does not say which rounding.
roiviz's choice, stated here once:

* the box is snapped exactly as RoI Pool snaps it, with the **same convention** argument
  (:func:`roiviz.geometry.snap_box`): ``"library"`` (torchvision / Caffe RoI Pool: rounded
  corners read inclusively, the snapped box is ``(x1q, y1q, x2q + 1, y2q + 1)`` in feature
  units) or ``"article"`` (integer parts of corner and size);
* the snapped box goes through RoI Align with ``aligned=True`` and ``spatial_scale=1``
  (cell values at cell centres, ``sampling_ratio`` points per bin averaged, and torchvision's
  border rule: a point up to one cell from the edge cell's centre, half a cell past the map's
  border, reads the edge value; one further out reads 0).

MNC's own Caffe layer (``daijifeng001/caffe-mnc``, ``src/caffe/layers/roi_warping_layer.cu``,
``ROIWarpingForward``) differs. roiviz's notes describe the version MNC has pinned since
November 2016, caffe-mnc commit d8bf82b7 (its forward is that of 37e896eb, October 2016): it
rounds the corners **without** the ``+ 1`` (``roi_width = max(end - start, 0)``), so its
snapped box is one cell smaller per axis than the library convention's; it takes one bilinear
sample per output cell, at the bin's corner ``start + p * bin_size``, with cell values at
integer coordinates, and has a backward pass to the box coordinates. MNC's first release
(17b56bdc / 7a28ed65, June 2016) took instead the maximum over ``(ceil(bin) + 1) ** 2``
bilinear points per output cell, from one bin edge to the other, both included. Both versions
skip a point beyond ``-0.5`` or ``H - 0.5`` (half a cell from the edge cell's centre; a cell
with no point left outputs 0), not torchvision's ``-1`` / ``H`` that roiviz uses. Its output
size is a layer parameter: MNC's released VGG16 model (``models/VGG16/mnc_5stage/test.prototxt``)
warps conv5_3 (``spatial_scale`` 1/16) to 14 x 14 and max-pools 2 x 2 to 7 x 7 for its box head.
roiviz does not reproduce that layer; it keeps what the ablation compares: rounding first,
bilinear sampling after (``tests/test_sources.py`` checks the border rule on :func:`roi_warp`).
"""

from __future__ import annotations

import numpy as np
import torch

from . import _checks
from .geometry import check_box_cells, snap_box
from .box_grad import attach_box_grad, box_coords, boxes_require_grad, corner_grads
from .roi_align import align_from_mapping, align_trace_from_mapping, mapping_grads, roi_align_reference
from .records import MethodTrace, Settings, check_trace_args

#: The method's key and display name (collected by :mod:`roiviz.methods`).
KEY, LABEL = "roi_warp", "RoI Warp"

__all__ = ["roi_warp", "trace_roi_warp"]


def _warp_mapping(u1, u2, convention: str, dtype):
    """Snap ``[u1, u2]`` (feature units) and map the snapped box as aligned RoI Align does."""
    start, length = snap_box(u1, u2, convention)
    if isinstance(start, torch.Tensor):
        return start.to(dtype) - 0.5, length.to(dtype)
    return start.astype(dtype) - dtype(0.5), length.astype(dtype)


def roi_warp(input: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0,
             sampling_ratio: int = -1, reduce: str = "avg", *,
             convention: str = "library") -> torch.Tensor:
    """Performs RoI Warp: RoI Pool's snapping, then RoI Align's bilinear sampling.

    Args:
        input (Tensor[N, C, H, W]): the feature maps, floating point.
        boxes (Tensor[K, 5] or List[Tensor[L, 4]]): ``(batch index, x1, y1, x2, y2)`` in image
            pixels, or one ``(x1, y1, x2, y2)`` tensor per image. ``x2 < x1`` snaps to a one-cell
            box, as in :func:`roiviz.roi_pool.roi_pool`.
        output_size (int or Tuple[int, int]): ``(PH, PW)``, each >= 1.
        spatial_scale (float): ``1 / stride``, > 0. Default 1.
        sampling_ratio (int): samples per bin side; ``<= 0`` is adaptive. Default -1.
        reduce (str): ``"avg"`` (default) or ``"max"`` over a bin's samples (Table 2c has both).
        convention (str): the snapping, ``"library"`` (default) or ``"article"``.

    Returns:
        Tensor[K, C, PH, PW], differentiable in ``input`` (bilinear scatter) and, when ``boxes``
        requires grad, in the boxes, following MNC's ``ROIWarpingBackwardCoordinate``: the
        derivative of each bilinear sample along the map, times how the sample would move with
        the box **if the box were not rounded** (the rounding is passed straight through: its
        derivative is taken as 1, not as the true 0 almost everywhere). A sample at fraction
        ``t`` of the snapped box moves by ``1 - t`` with ``x1`` and ``t`` with ``x2`` (times
        ``spatial_scale``); MNC writes the same as centre and size terms. Differences from
        MNC's layer: its single sample per bin sits at ``t = p / P`` computed from its argmax
        with a bin size that has the ``+ 1`` its forward lacks, and it returns 0 for a sample in
        the map's last row or column; roiviz uses its own samples' exact ``t`` and the kernels'
        border rules (0 where a sample is clamped to a border cell). ``tests/mnc_reference.py``
        ports MNC's kernels line by line; ``tests/test_roi_warp.py`` checks that MNC's
        per-sample rule on roiviz's samples gives this gradient.

    Raises:
        TypeError, ValueError: for arguments of the wrong type, shape or range.
    """
    _checks.check_input(input)
    size = _checks.check_output_size(output_size)
    scale = _checks.check_spatial_scale(spatial_scale)
    ratio = _checks.check_sampling_ratio(sampling_ratio)
    _checks.check_reduce(reduce)
    _checks.check_convention(convention)
    batch_idx, coords = _checks.convert_boxes(boxes, input)
    check_box_cells(coords, scale)
    mapping_x = _warp_mapping(coords[:, 0] * scale, coords[:, 2] * scale, convention, input.dtype)
    mapping_y = _warp_mapping(coords[:, 1] * scale, coords[:, 3] * scale, convention, input.dtype)
    out = align_from_mapping(input, batch_idx, mapping_y, mapping_x, size, ratio, reduce)
    if not boxes_require_grad(boxes):
        return out

    def box_grad(grad: torch.Tensor) -> torch.Tensor:
        # MNC's straight-through rounding: d(snapped start)/d u1 = 1 and d(snapped length)/d u2
        # = -d(snapped length)/d u1 = 1, even where the length was raised to one cell.
        return corner_grads(mapping_grads(input, batch_idx, mapping_y, mapping_x, size, ratio, reduce,
                                          grad), scale)

    return attach_box_grad(out, box_coords(boxes, input), box_grad)


def trace_roi_warp(feature: np.ndarray, box, settings: Settings = Settings(), *,
                   record_samples: bool = True) -> MethodTrace:
    """Trace RoI Warp on one 2-D map: snapped box, then RoI Align's bins and samples on it.

    Args:
        feature: ``[H, W]`` real values (one channel).
        box: ``(x1, y1, x2, y2)`` in image pixels, corners in any order, positive size.
        settings: uses ``output_size``, ``stride``, ``sampling_ratio``, ``reduce``, ``convention``
            (``aligned`` does not apply: the snapped box is sampled with ``aligned=True``).
        record_samples: ``False``: no per-sample records
            (see :func:`roiviz.roi_align.align_trace_from_mapping`).

    Returns:
        A :class:`~roiviz.records.MethodTrace` whose ``output`` equals :func:`roi_warp`'s; its
        ``snapped_box``, ``sampled_box`` and ``read_region`` are the snapped box.
    """
    values, image_box = check_trace_args(feature, box, settings)
    scale = np.float32(settings.spatial_scale)
    x1, y1, x2, y2 = (np.asarray(v, dtype=np.float32) * scale for v in image_box)
    mapping_x = _warp_mapping(x1, x2, settings.convention, np.float32)
    mapping_y = _warp_mapping(y1, y2, settings.convention, np.float32)
    left, top = float(mapping_x[0]) + 0.5, float(mapping_y[0]) + 0.5
    snapped = (left, top, left + float(mapping_x[1]), top + float(mapping_y[1]))
    notes = ("RoI Warp snaps the box like RoI Pool (same convention), then samples the snapped "
             "box bilinearly like RoI Align (aligned=True), reading the edge value up to one "
             "cell from the edge cell's centre. The layer MNC has pinned since November 2016 "
             "(caffe-mnc d8bf82b7) rounds without the +1, takes one sample per output cell (its "
             "first release, 7a28ed65, the maximum over (ceil(bin) + 1)^2 points) and skips "
             "points over half a cell from the edge cell's centre; MNC's released VGG16 model "
             "warps to 14 x 14 and max-pools 2 x 2 to 7 x 7.",)
    return align_trace_from_mapping(KEY, LABEL, values, image_box, settings, mapping_y,
                                    mapping_x, sampled_box=snapped, snapped_box=snapped, notes=notes,
                                    record_samples=record_samples)


# ---------------------------------------------------------------------------------------------
# Readable reference


def roi_warp_reference(feature: np.ndarray, box, output_size: tuple[int, int],
                       spatial_scale: float = 1.0, sampling_ratio: int = -1, reduce: str = "avg",
                       convention: str = "library") -> np.ndarray:
    """RoI Warp of one box on one map: snap the box like RoI Pool, then sample it like RoI Align.

    ``tests/test_roi_warp.py`` checks it against the batched :func:`roi_warp`.

    Args:
        feature: ``[H, W]`` real values.
        box: ``(x1, y1, x2, y2)`` in image pixels.
        output_size: ``(PH, PW)`` bins.
        spatial_scale: feature cells per image pixel (``1 / stride``).
        sampling_ratio: samples per bin side; ``<= 0``: ``ceil(bin size)`` (adaptive).
        reduce: ``"avg"`` or ``"max"`` over a bin's samples.
        convention: how the box snaps, ``"library"`` or ``"article"``.

    Returns:
        float32 ``[PH, PW]``.
    """
    f32 = np.float32
    x1, y1, x2, y2 = (f32(v) * f32(spatial_scale) for v in box)     # the box in feature cells
    # The one quantization: whole cells [col, col + cols) x [row, row + rows).
    col, cols = (int(v) for v in snap_box(x1, x2, convention))
    row, rows = (int(v) for v in snap_box(y1, y2, convention))
    snapped = (col, row, col + cols, row + rows)                     # in cells: spatial_scale 1
    # Then bilinear samples on the snapped box, with RoI Align's half-cell alignment.
    return roi_align_reference(feature, snapped, output_size, 1.0, sampling_ratio, True, reduce)
