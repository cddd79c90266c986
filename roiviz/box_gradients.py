"""Box gradients on one map: ``d output / d (x1, y1, x2, y2)`` for each method (teaching side).

The batched ops (:mod:`roiviz.ops`) give box gradients through autograd; this module computes
the same derivatives for one box on a ``[H, W]`` (or ``[C, H, W]``) map in closed form, in
float64, the way the stage's browser engine (``assets/stage/engine/box_grad.js``) computes them
during a drag. ``tests/test_stage_engine.py`` holds the two engines equal in Chromium, and
``tests/test_box_gradients.py`` holds this module to finite differences of the forward.

Every method the ops run is separable: ``out[p, q] = A_y[p] . F . A_x[q]`` with one matrix per
axis (``[P, N]``: each bin's weight on each cell along the axis). So a box edge moves one axis's
matrix only: ``d out / d x1 = A_y . F . (d A_x / d x1)^T``. Per method:

- **RoI Align** (avg): ``A[p] = mean_i w(c_pi)``, samples ``c_pi = start + (p + (i + 0.5) / g)
  * length / P``. A sample moves with ``d c / d x1 = s (1 - t)`` and ``d c / d x2 = s t``,
  ``t = (p + (i + 0.5) / g) / P``, ``s = 1 / stride``, and the bilinear weight changes at
  slope ``+-1`` per cell between its two neighbours: the slope is the difference of the two
  cells' values, so it **jumps** where a sample crosses a whole-number coordinate (a cell centre in the drawing frame: the interpolation switches neighbours there).
  A sample clamped to a border cell (``[-1, 0)`` or beyond ``H - 1``) or off the map has slope 0.
  At a cell line the derivative is the right-hand one (the neighbours are ``floor(c)`` and
  ``floor(c) + 1``), as autograd through torchvision's ``_roi_align`` gives it. The adaptive
  sample count ``ceil(length / P)`` is piecewise constant (the value jumps where it changes; the
  derivative ignores that jump). With ``aligned=False`` a RoI thinner than one cell is widened
  to one cell, and then its length does not move with the box (``d length = 0``).
  ``max``: the winning sample's derivative (the winner is the trace's).
- **RoI Warp**: RoI Align on the snapped box, with the rounding passed through as if it were the
  identity (``d start / d x1 = s``, ``d length / d x1 = -s``, ``d length / d x2 = s``), as MNC's
  ``ROIWarpingBackwardCoordinate`` does: it differentiates the bilinear sample at its position
  in the snapped box and multiplies by ``spatial_scale``, ignoring the rounding. The derivative
  is therefore a step function of the box, constant between roundings.
- **Precise RoI Pooling**: ``A[q] = (integral of a over [X1, X2]) / (X2 - X1)``. By the Leibniz
  rule ``d A[q] / d X1 = (A[q] - a(X1)) / (X2 - X1)`` and ``d A[q] / d X2 = (a(X2) - A[q]) /
  (X2 - X1)``, with ``a(X)`` the interpolant's weights at the edge: the bin's average minus its
  edge's average, over the bin's width. The edges move with the box (``X1 = start + q L / P``),
  so the derivative is continuous in the box.
- **RoI Pool**: piecewise constant in the box: zero wherever it is differentiable (absent).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bilinear import interpolant_integral, linear_weights
from .geometry import align_mapping, sample_coords, sampling_grid, snap_box
from .methods import METHODS, trace_method
from .records import MethodTrace, Settings, check_trace_args

__all__ = ["BoxGradient", "TARGET_KINDS", "Target", "box_gradient", "box_jacobian", "separable_jacobian",
           "target_weights"]

#: ``all``: the sum of every bin; ``bin``: one bin; ``match``: minus half the squared distance
#: between the output and a reference box's output (of every bin, or of one bin).
TARGET_KINDS = ("all", "bin", "match")
#: Box coordinates, in the order of the Jacobian's last axis.
COORDS = ("x1", "y1", "x2", "y2")


@dataclass(frozen=True)
class Target:
    """What is differentiated with respect to the box.

    Attributes:
        kind: one of :data:`TARGET_KINDS`.
        bin: ``(row, col)`` for ``"bin"`` (and optionally ``"match"``: only that bin's distance).
        reference: ``"match"`` only: the reference box's output, ``[PH, PW]`` (or ``[C, PH, PW]``)
            as nested tuples or an array.
    """

    kind: str = "all"
    bin: tuple[int, int] | None = None
    reference: object = None

    @property
    def label(self) -> str:
        where = "" if self.bin is None else f" (row {self.bin[0]}, col {self.bin[1]})"
        if self.kind == "all":
            return "the sum of all bins"
        if self.kind == "bin":
            return f"bin{where}"
        return f"minus half the squared distance to the reference box's feature{where or ' (all bins)'}"


@dataclass(frozen=True, eq=False)
class BoxGradient:
    """Box gradients of one method on one box.

    Attributes:
        method: the method's key.
        jacobian: float64 ``[PH, PW, 4]`` (or ``[C, PH, PW, 4]``), ``d out[p, q] / d (x1, y1, x2,
            y2)`` in output units per image pixel; all zeros for RoI Pool.
        output: the forward output, float32 ``[PH, PW]`` (or ``[C, PH, PW]``).
        gradient: float64 ``[4]``, ``d target / d (x1, y1, x2, y2)``.
        target: the :class:`Target`.
        box: the box in image pixels (corners sorted).
    """

    method: str
    jacobian: np.ndarray
    output: np.ndarray
    gradient: np.ndarray
    target: Target
    box: tuple[float, float, float, float]

    def to_dict(self) -> dict:
        return {"method": self.method, "jacobian": self.jacobian.tolist(), "gradient": self.gradient.tolist(),
                "target": self.target.label}


# ----------------------------------------------------------------------------------------------
# One axis


def _slopes(coords: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear weights of float32 sample coordinates and their derivative's support.

    Returns ``(low, high, w_low, w_high, moving)``-like arrays: ``moving`` is True where a weight
    changes with the coordinate (on the map, not clamped to a border cell).
    """
    low, high, w_low, w_high = linear_weights(coords, size)
    moving = (coords >= 0.0) & (coords <= size) & (np.floor(coords) < size - 1)
    return low, high, w_low.astype(np.float64), w_high.astype(np.float64), moving


def _sample_axis(start, length, d_start, d_length, pooled: int, grid: int, size: int):
    """Per-sample weights and their derivatives along one axis (RoI Align, RoI Warp).

    Args:
        start, length: float32 mapping (library frame).
        d_start, d_length: ``(d / d low edge, d / d high edge)`` of start and length, in cells
            per image pixel.
        grid: samples per bin (>= 0).

    Returns:
        ``(w, dw1, dw2)``, float64 ``[P, G, N]``: each sample's weight on each cell and the
        weight's derivative with respect to the box's low and high edge (image pixels).
    """
    g = max(grid, 1)
    coords, _ = sample_coords(np.float32(start), np.float32(length), pooled, np.int64(grid), g)  # [P, G]
    coords = coords[:, :grid]
    low, high, w_low, w_high, moving = _slopes(coords, size)
    w = np.zeros((pooled, grid, size))
    slope = np.zeros((pooled, grid, size))
    p_idx, g_idx = np.meshgrid(np.arange(pooled), np.arange(grid), indexing="ij")
    np.add.at(w, (p_idx, g_idx, low), w_low)
    np.add.at(w, (p_idx, g_idx, high), w_high)
    sign = moving.astype(np.float64)
    np.add.at(slope, (p_idx, g_idx, low), -sign)
    np.add.at(slope, (p_idx, g_idx, high), sign)
    t = (np.arange(pooled)[:, None] + (np.arange(grid)[None, :] + 0.5) / g) / pooled   # [P, G]
    dc1 = d_start[0] + d_length[0] * t
    dc2 = d_start[1] + d_length[1] * t
    return w, slope * dc1[..., None], slope * dc2[..., None]


def _precise_axis(u1: float, u2: float, scale: float, pooled: int, size: int):
    """Precise RoI Pooling's normalised bin integrals along one axis and their derivatives.

    Returns ``(A, dA1, dA2)``, float64 ``[P, N]`` (``[P, 1, N]`` after the caller's reshape).
    """
    start = u1 * scale - 0.5
    length = (u2 * scale - 0.5) - start
    bin_size = length / pooled
    q = np.arange(pooled, dtype=np.float64)
    lo = start + q * bin_size
    hi = lo + bin_size
    inverse = 1.0 / bin_size if bin_size > 0 else 0.0
    a = interpolant_integral(lo, hi, size) * inverse                           # [P, N]
    edge_lo, edge_hi = _point_weights(lo, size), _point_weights(hi, size)      # [P, N]
    d_lo = (a - edge_lo) * inverse                                             # d A / d X1
    d_hi = (edge_hi - a) * inverse                                             # d A / d X2
    # X1 = start + q L / P, X2 = start + (q + 1) L / P; start moves with u1, L with u2 - u1.
    f_lo, f_hi = q / pooled, (q + 1) / pooled
    dA1 = d_lo * (scale * (1 - f_lo))[:, None] + d_hi * (scale * (1 - f_hi))[:, None]
    dA2 = d_lo * (scale * f_lo)[:, None] + d_hi * (scale * f_hi)[:, None]
    return a, dA1, dA2


def _point_weights(x: np.ndarray, size: int) -> np.ndarray:
    """Each cell's weight in the interpolant at float64 points ``x`` ``[P]`` -> ``[P, N]``."""
    low, high, w_low, w_high = linear_weights(np.asarray(x, dtype=np.float64), size)
    out = np.zeros((len(x), size))
    rows = np.arange(len(x))
    np.add.at(out, (rows, low), w_low)
    np.add.at(out, (rows, high), w_high)
    return out


def _axis(method: str, u1, u2, settings: Settings, pooled: int, size: int):
    """``(w, dw1, dw2)`` ``[P, G, N]`` for one axis of one method (G = 1 for Precise)."""
    scale = np.float32(settings.spatial_scale)
    s = float(scale)
    if method == "precise_roi_pool":
        a, d1, d2 = _precise_axis(float(np.float32(u1)), float(np.float32(u2)), s, pooled, size)
        return a[:, None], d1[:, None], d2[:, None]
    if method == "roi_align":
        start, length = align_mapping(np.float32(u1), np.float32(u2), scale, settings.aligned)
        offset = np.float32(0.5 if settings.aligned else 0.0)
        raw = np.float32(np.float32(np.float32(u2) * scale) - offset) - start
        moves = settings.aligned or raw >= 1.0          # aligned=False widens a thin RoI to 1 cell
    else:  # roi_warp: snap, passing the rounding through (MNC's coordinate backward)
        v1, v2 = np.float32(np.float32(u1) * scale), np.float32(np.float32(u2) * scale)
        snapped, length = snap_box(v1, v2, settings.convention)
        moves = True   # straight through, even where the length was raised to one cell (as roiviz.roi_warp)
        start, length = np.float32(np.float32(snapped) - np.float32(0.5)), np.float32(length)
    grid = max(int(sampling_grid(length, pooled, settings.sampling_ratio)), 0)
    d_length = (-s, s) if moves else (0.0, 0.0)
    return _sample_axis(start, length, (s, 0.0), d_length, pooled, grid, size)


# ----------------------------------------------------------------------------------------------
# Whole box


def separable_jacobian(method: str, planes: np.ndarray, image_box, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """``avg`` (and Precise RoI Pooling) without a trace: ``(jacobian [C, PH, PW, 4], output
    [C, PH, PW])``, both float64, the output as ``A_y . F . A_x^T``.

    Args:
        planes: ``[C, H, W]``; image_box: sorted ``(x1, y1, x2, y2)`` of positive size.
    """
    pooled_h, pooled_w = settings.output_size
    channels, height, width = planes.shape
    f = planes.astype(np.float64)
    if method == "roi_pool":
        raise ValueError("RoI Pool has no box gradient")
    x1, y1, x2, y2 = image_box
    wy, dy1, dy2 = _axis(method, y1, y2, settings, pooled_h, height)        # [PH, Gy, H]
    wx, dx1, dx2 = _axis(method, x1, x2, settings, pooled_w, width)         # [PW, Gx, W]
    gy, gx = max(wy.shape[1], 1), max(wx.shape[1], 1)
    ay, ax = wy.sum(1) / gy, wx.sum(1) / gx                                  # [PH, H], [PW, W]
    jac = np.empty((channels, pooled_h, pooled_w, 4))
    left = np.einsum("ph,chw->cpw", ay, f)
    jac[..., 0] = np.einsum("cpw,qw->cpq", left, dx1.sum(1) / gx)
    jac[..., 2] = np.einsum("cpw,qw->cpq", left, dx2.sum(1) / gx)
    right = np.einsum("chw,qw->chq", f, ax)
    jac[..., 1] = np.einsum("ph,chq->cpq", dy1.sum(1) / gy, right)
    jac[..., 3] = np.einsum("ph,chq->cpq", dy2.sum(1) / gy, right)
    return jac, np.einsum("cpw,qw->cpq", left, ax)


def box_jacobian(method: str, feature: np.ndarray, box, settings: Settings = Settings(),
                 trace: MethodTrace | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``d out[p, q] / d (x1, y1, x2, y2)`` of one method on one box.

    Args:
        method: a key of :data:`roiviz.methods.METHODS`.
        feature: ``[H, W]`` or ``[C, H, W]`` real values.
        box: ``(x1, y1, x2, y2)`` image pixels, positive size.
        settings: the options (``reduce="max"`` needs a 2-D ``feature``).
        trace: the method's trace of this box (else it is traced here); gives the output and,
            for ``max``, each bin's winning sample.

    Returns:
        ``(jacobian, output)``: float64 ``[..., PH, PW, 4]`` and the traces' float32
        ``[..., PH, PW]``.

    Raises:
        ValueError: bad arguments (the trace's messages).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    values = np.asarray(feature)
    planes = values[None] if values.ndim == 2 else values
    if planes.ndim != 3:
        raise ValueError(f"feature must be [H, W] or [C, H, W], got shape {values.shape}")
    traces = [trace] if trace is not None and planes.shape[0] == 1 else [
        trace_method(method, plane, box, settings, record_samples=settings.reduce == "max") for plane in planes]
    _, image_box = check_trace_args(planes[0], box, settings)
    output = np.stack([np.asarray(t.output, dtype=np.float32) for t in traces])
    pooled_h, pooled_w = settings.output_size
    channels, height, width = planes.shape
    jac = np.zeros((channels, pooled_h, pooled_w, 4))
    if method == "roi_pool":
        pass
    elif settings.reduce == "avg" or method == "precise_roi_pool":
        jac = separable_jacobian(method, planes, image_box, settings)[0]
    else:  # max: the winning sample's derivative
        x1, y1, x2, y2 = image_box
        wy, dy1, dy2 = _axis(method, y1, y2, settings, pooled_h, height)
        wx, dx1, dx2 = _axis(method, x1, x2, settings, pooled_w, width)
        f = planes.astype(np.float64)
        gx = wx.shape[1]
        for c, t in enumerate(traces):
            for b in t.bins:
                if b.winner is None:
                    continue
                iy, ix = divmod(b.winner, gx)
                p, q = b.row, b.col
                jac[c, p, q, 0] = wy[p, iy] @ f[c] @ dx1[q, ix]
                jac[c, p, q, 2] = wy[p, iy] @ f[c] @ dx2[q, ix]
                jac[c, p, q, 1] = dy1[p, iy] @ f[c] @ wx[q, ix]
                jac[c, p, q, 3] = dy2[p, iy] @ f[c] @ wx[q, ix]
    if values.ndim == 2:
        return jac[0], output[0]
    return jac, output


def target_weights(output: np.ndarray, target: Target) -> np.ndarray:
    """``d target / d out``, the shape of ``output``.

    Raises:
        ValueError: unknown kind, a bin outside the output, a reference of another shape.
    """
    output = np.asarray(output, dtype=np.float64)
    if target.kind not in TARGET_KINDS:
        raise ValueError(f"target kind must be one of {TARGET_KINDS}, got {target.kind!r}")
    mask = np.ones(output.shape)
    if target.bin is not None or target.kind == "bin":
        ph, pw = output.shape[-2:]
        if target.bin is None or not (0 <= target.bin[0] < ph and 0 <= target.bin[1] < pw):
            raise ValueError(f"target bin must be a (row, col) inside the {ph} x {pw} output, got {target.bin}")
        mask = np.zeros(output.shape)
        mask[..., target.bin[0], target.bin[1]] = 1.0
    if target.kind != "match":
        return mask
    reference = np.asarray(target.reference, dtype=np.float64)
    if reference.shape != output.shape:
        raise ValueError(f"the reference feature must have the output's shape {output.shape}")
    return -(output - reference) * mask


def box_gradient(method: str, feature: np.ndarray, box, settings: Settings = Settings(),
                 target: Target = Target(), trace: MethodTrace | None = None) -> BoxGradient:
    """``d target / d (x1, y1, x2, y2)`` for one method (see :func:`box_jacobian`).

    Returns:
        A :class:`BoxGradient`.
    """
    jac, output = box_jacobian(method, feature, box, settings, trace)
    weights = target_weights(output, target)
    gradient = (weights[..., None] * jac).reshape(-1, 4).sum(0)
    for a in (jac, gradient):
        a.flags.writeable = False
    _, image_box = check_trace_args(np.asarray(feature).reshape(-1, *np.shape(feature)[-2:])[0], box, settings)
    return BoxGradient(method=method, jacobian=jac, output=output, gradient=gradient, target=target,
                       box=image_box)
