"""Feature pyramids: which level reads a box (Lin et al., *Feature Pyramid Networks*, CVPR 2017).

A detector with an FPN pools each box from one pyramid level ``P_k`` (stride ``2**k`` image
pixels), chosen by the box's size, Eqn. (1) of the paper::

    k = floor(k0 + log2(sqrt(w * h) / 224))      clamped to k_min .. k_max

with ``k0 = 4`` (the level an ImageNet-sized 224 x 224 box maps to). Boundaries fall at
``sqrt(w * h) = 112, 224, 448`` px: a box of 223.9 px reads P3 (stride 8), one of 224 px reads
P4 (stride 16). Level ``k`` holds boxes from ``224 * 2**(k - k0)`` px up to twice that, so on its
own map (stride ``2**k``) a box is ``224 * 2**(k - k0) / 2**k = 224 / 2**k0 = 14`` cells across
up to (not including) 28, whatever ``k``: P2 holds 56-112 px, P5 448-896 px. That is the point:
the quantization a box suffers, measured in cells, stays about the same between 56 and 896 px
(``tests/test_fpn.py``, ``tests/test_sources.py``); only boxes below 56 px (fewer than 14 cells on
P2) and above 896 px (more than 28 on P5) leave that band.

Three libraries, three small differences (roiviz follows each exactly):

* torchvision (``torchvision/ops/poolers.py``, ``LevelMapper``): the ``eps`` is added to the
  *level*, ``floor(k0 + log2(s / s0) + 1e-6)``; :func:`fpn_levels` with its defaults.
  ``MultiScaleRoIAlign`` then runs ``roi_align`` with ``aligned=False``.
* Detectron2 (``detectron2/modeling/poolers.py``, ``assign_boxes_to_levels``): the ``eps`` is
  added to the *ratio* inside the logarithm, ``floor(k0 + log2(s / s0 + 1e-8))``, with the same
  ``canonical_box_size=224`` and ``canonical_level=4``; its ``ROIAlignV2`` pooler runs RoI
  Align with ``aligned=True``. :func:`fpn_levels` with ``eps=1e-8, eps_in_log=True``. In
  float32, ``1 + 1e-8`` rounds to 1, so Detectron2's ``eps`` does nothing there, whereas
  torchvision's ``1e-6`` moves a box whose ``sqrt(area)`` computes a few float32 steps below a
  boundary (e.g. 223.99985 px) up to the next level. Detectron2 is also given the scales
  (``1 / stride``) by the backbone, where torchvision infers them from the map and image sizes.
* MMDetection (``SingleRoIExtractor.map_roi_levels``): ``floor(log2(s / finest_scale + 1e-6))``
  counted from the finest level, ``finest_scale=56``; on P2-P5 that is the same boundaries
  (112, 224, 448 px). Its ``eps`` sits inside the logarithm as Detectron2's does, but it is not
  lost in float32: near a ratio ``s / 56`` of 4 the float32 steps are 2.4e-7 below 4 and 4.8e-7
  above, so ``1e-6`` is 4.2 steps below and 2.1 above, and the 224 x 223.9999 px box (its ratio
  3 steps below 4) goes up to P4, as in torchvision, not to P3 as in Detectron2.

No Streamlit here. :func:`trace_fpn_level` records the decision for one box, with every
intermediate number, for the pictures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral

import torch
from torch import nn

from . import _checks
from .box_grad import attach_box_grad, box_coords, boxes_require_grad, link_unused
from .roi_align import align_box_grad, align_boxes

__all__ = [
    "CANONICAL_LEVEL",
    "CANONICAL_SCALE",
    "DETECTRON2_EPS",
    "PYRAMID_LEVELS",
    "TORCHVISION_EPS",
    "LevelTrace",
    "MultiScaleRoIAlign",
    "fpn_levels",
    "infer_scale",
    "level_rule",
    "setup_scales",
    "steady_sizes",
    "trace_fpn_level",
]

#: The FPN paper's canonical ImageNet box size (px) and the level it maps to.
CANONICAL_SCALE = 224
CANONICAL_LEVEL = 4
#: Faster / Mask R-CNN's box-head levels P2..P5 (strides 4, 8, 16, 32).
PYRAMID_LEVELS = (2, 3, 4, 5)
TORCHVISION_EPS = 1e-6
DETECTRON2_EPS = 1e-8


def level_rule(aligned: bool) -> dict:
    """The level rule that goes with a RoI Align mode in the libraries.

    ``aligned=False`` is torchvision's ``MultiScaleRoIAlign`` (``eps=1e-6`` added to the level);
    ``aligned=True`` is Detectron2's ``ROIAlignV2`` pooler (``eps=1e-8`` inside the logarithm).

    Returns:
        ``{"eps": float, "eps_in_log": bool}``, keyword arguments of :func:`fpn_levels`.
    """
    return {"eps": DETECTRON2_EPS, "eps_in_log": True} if aligned else \
        {"eps": TORCHVISION_EPS, "eps_in_log": False}


def steady_sizes(k_min: int = PYRAMID_LEVELS[0], k_max: int = PYRAMID_LEVELS[-1],
                 canonical_scale: float = CANONICAL_SCALE, canonical_level: int = CANONICAL_LEVEL
                 ) -> tuple[float, float]:
    """The box sizes ``sqrt(w * h)`` (px) that are 14 to 28 cells across on their level.

    Level ``k`` holds ``[s0 * 2**(k - k0), s0 * 2**(k - k0 + 1))`` px, which on its stride
    ``2**k`` is ``[s0 / 2**k0, 2 * s0 / 2**k0)`` = 14 to 28 cells for every ``k``; the clamp
    keeps smaller boxes on ``k_min`` and larger ones on ``k_max``, so the band runs from the
    bottom of ``k_min``'s range to the top of ``k_max``'s: 56 to 896 px for P2-P5.

    Returns:
        ``(low, high)`` in image pixels, ``low`` included, ``high`` not.
    """
    return (canonical_scale * 2.0 ** (k_min - canonical_level),
            canonical_scale * 2.0 ** (k_max - canonical_level + 1))


def _check_level_args(k_min, k_max, canonical_scale, canonical_level, eps) -> None:
    for name, v in (("k_min", k_min), ("k_max", k_max), ("canonical_level", canonical_level)):
        if isinstance(v, bool) or not isinstance(v, Integral):
            raise ValueError(f"{name} must be an integer, got {v!r}")
    if k_min > k_max:
        raise ValueError(f"k_min must be <= k_max, got k_min={k_min}, k_max={k_max}")
    if isinstance(canonical_scale, bool) or not isinstance(canonical_scale, (int, float)) or \
            not math.isfinite(canonical_scale) or canonical_scale <= 0:
        raise ValueError(f"canonical_scale must be a finite number > 0, got {canonical_scale!r}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")


def _level_terms(boxes: torch.Tensor, canonical_scale: float, canonical_level: int, eps: float,
                 eps_in_log: bool) -> tuple[torch.Tensor, ...]:
    """Eqn. (1) step by step, in the boxes' dtype as the libraries compute it.

    Returns:
        ``(area, size, log2_term, unclamped)``, each ``[K]``: ``area = (x2-x1)(y2-y1)``,
        ``size = sqrt(area)``, ``log2_term = log2(size / s0)`` (``log2(size / s0 + eps)`` when
        ``eps_in_log``) and ``unclamped = floor(k0 + log2_term (+ eps))``, a float.
    """
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])          # [K]
    size = torch.sqrt(area)                                                   # [K]
    if eps_in_log:      # Detectron2 / MMDetection
        log2_term = torch.log2(size / canonical_scale + eps)
        unclamped = torch.floor(canonical_level + log2_term)
    else:               # torchvision's LevelMapper
        log2_term = torch.log2(size / canonical_scale)
        unclamped = torch.floor(canonical_level + log2_term + torch.tensor(eps, dtype=size.dtype))
    return area, size, log2_term, unclamped


def _check_boxes(boxes) -> torch.Tensor:
    if not isinstance(boxes, torch.Tensor):
        raise TypeError(f"boxes must be a torch.Tensor [K, 4], got {type(boxes).__name__}")
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape [K, 4] (x1, y1, x2, y2), got {tuple(boxes.shape)}")
    if not boxes.is_floating_point():
        boxes = boxes.to(torch.float32)   # torch.sqrt of an integer tensor is float32 too
    boxes = boxes.detach()
    if not torch.all(torch.isfinite(boxes)):
        raise ValueError("boxes must hold finite coordinates (found NaN or inf)")
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    if torch.any(area < 0):
        bad = int(torch.nonzero(area < 0)[0, 0])
        raise ValueError(
            f"box {bad} has a negative area (one side reversed), so sqrt(area) is NaN and it has no "
            "level: give (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1 (torchvision silently leaves "
            "such a box out of every level, which gives zeros)")
    return boxes


def fpn_levels(boxes: torch.Tensor, k_min: int, k_max: int, canonical_scale: float = CANONICAL_SCALE,
               canonical_level: int = CANONICAL_LEVEL, eps: float = TORCHVISION_EPS, *,
               eps_in_log: bool = False) -> torch.Tensor:
    """The pyramid level each box is pooled from: the FPN paper's Eqn. (1).

    ``k = clamp(floor(canonical_level + log2(sqrt(area) / canonical_scale) + eps), k_min, k_max)``,
    computed in the boxes' dtype exactly as torchvision's ``LevelMapper``, except that this returns
    the level itself (``k_min .. k_max``) where ``LevelMapper`` returns ``k - k_min``.
    Worked numbers (``tests/test_fpn.py``): a 224 x 224 box gives ``4 + log2(1) = 4``; 112 x 112
    gives 3; 448 x 448 gives 5; 223 x 224 (``sqrt = 223.50``) gives ``floor(3.9968) = 3``; a 10 x 10
    box gives ``floor(4 - 4.4854) = -1``, clamped up to ``k_min``.

    Args:
        boxes (Tensor[K, 4]): ``(x1, y1, x2, y2)`` in image pixels (``x2 >= x1``, ``y2 >= y1``;
            a zero-area box gets ``k_min``). Integer tensors are computed in float32.
        k_min, k_max (int): the finest and coarsest levels available (P2..P5: 2 and 5).
        canonical_scale (float): ``s0``, the box size in pixels that maps to ``canonical_level``.
            Default 224.
        canonical_level (int): ``k0``. Default 4.
        eps (float): torchvision's ``1e-6`` (default), added to the level before the floor, so a
            box a rounding error below a boundary still goes up (``sqrt(area) = 224 * (1 - 5e-7)``
            gives 4, not 3).
        eps_in_log (bool): ``True`` adds ``eps`` to the ratio inside ``log2`` instead, as
            Detectron2's ``assign_boxes_to_levels`` (with ``eps=1e-8``) and MMDetection do. See the
            module docstring, and :func:`level_rule`.

    Returns:
        Tensor[K] int64: levels in ``k_min .. k_max``.

    Raises:
        TypeError, ValueError: bad boxes (shape, non-finite, a negative area) or arguments.
    """
    _check_level_args(k_min, k_max, canonical_scale, canonical_level, eps)
    boxes = _check_boxes(boxes)
    *_, unclamped = _level_terms(boxes, canonical_scale, canonical_level, eps, bool(eps_in_log))
    return torch.clamp(unclamped, min=k_min, max=k_max).to(torch.int64)


# ----------------------------------------------------------------------------------------------
# The per-box record for the pictures


@dataclass(frozen=True)
class LevelTrace:
    """How one box's level was chosen, with every number of Eqn. (1).

    Attributes:
        box: ``(x1, y1, x2, y2)`` in image pixels, as given.
        area: ``(x2 - x1) * (y2 - y1)``, square pixels.
        size: ``sqrt(area)``, pixels.
        log2_term: ``log2(size / canonical_scale)`` (with ``eps`` inside when ``eps_in_log``).
        unclamped_level: ``floor(canonical_level + log2_term (+ eps))``; a whole number, or
            ``-inf`` for a zero-area box.
        level: the level used, ``unclamped_level`` clamped to ``k_min .. k_max``.
        stride: ``2 ** level`` image pixels per cell on that level.
        k_min, k_max, canonical_scale, canonical_level, eps, eps_in_log: the rule's parameters.
    """

    box: tuple[float, float, float, float]
    area: float
    size: float
    log2_term: float
    unclamped_level: float
    level: int
    stride: int
    k_min: int
    k_max: int
    canonical_scale: float
    canonical_level: int
    eps: float
    eps_in_log: bool

    @property
    def clamped(self) -> bool:
        """True when the box is too small or too large for the available levels."""
        return self.unclamped_level != self.level

    @property
    def formula(self) -> str:
        """The rule with its constants, e.g. ``k = clamp(floor(4 + log2(sqrt(w*h) / 224) + 1e-06), 2, 5)``."""
        s0, k0 = f"{self.canonical_scale:g}", self.canonical_level
        inner = (f"{k0} + log2(sqrt(w*h) / {s0} + {self.eps:g})" if self.eps_in_log
                 else f"{k0} + log2(sqrt(w*h) / {s0}) + {self.eps:g}")
        return f"k = clamp(floor({inner}), {self.k_min}, {self.k_max})"

    def steps(self) -> tuple[str, ...]:
        """The formula with this box's numbers, one line per step."""
        x1, y1, x2, y2 = self.box
        w, h = x2 - x1, y2 - y1
        s0, k0 = f"{self.canonical_scale:g}", self.canonical_level
        ratio = f"{self.size:.2f} / {s0}" + (f" + {self.eps:g}" if self.eps_in_log else "")
        inside = k0 + self.log2_term + (0.0 if self.eps_in_log else self.eps)
        floor_arg = (f"{k0} + ({self.log2_term:.4f})" if self.eps_in_log
                     else f"{k0} + ({self.log2_term:.4f}) + {self.eps:g}")
        unclamped = "-inf" if math.isinf(self.unclamped_level) else f"{self.unclamped_level:.0f}"
        lines = [
            f"sqrt(w*h) = sqrt({w:g} x {h:g}) = {self.size:.2f} px",
            f"log2({ratio}) = {self.log2_term:.4f}",
            f"floor({floor_arg}) = floor({inside:.4f}) = {unclamped}",
        ]
        if self.clamped:
            lines.append(f"clamp({unclamped}, {self.k_min}, {self.k_max}) = {self.level}: the box is too "
                         f"{'small' if self.unclamped_level < self.level else 'large'} for the pyramid")
        else:
            lines.append(f"{self.k_min} <= {self.level} <= {self.k_max}: no clamping")
        lines.append(f"level P{self.level}: stride {self.stride} px, so the box is "
                     f"{w / self.stride:.2f} x {h / self.stride:.2f} cells there")
        return tuple(lines)

    def to_dict(self) -> dict:
        """JSON-ready: the numbers, the stride, the formula and its steps."""
        return {"box": list(self.box), "area": self.area, "sqrt_area": self.size,
                "log2_term": self.log2_term, "unclamped_level": self.unclamped_level,
                "level": self.level, "stride": self.stride, "k_min": self.k_min, "k_max": self.k_max,
                "canonical_scale": self.canonical_scale, "canonical_level": self.canonical_level,
                "eps": self.eps, "eps_in_log": self.eps_in_log, "formula": self.formula,
                "steps": list(self.steps())}


def trace_fpn_level(box, k_min: int = PYRAMID_LEVELS[0], k_max: int = PYRAMID_LEVELS[-1],
                    canonical_scale: float = CANONICAL_SCALE, canonical_level: int = CANONICAL_LEVEL,
                    eps: float = TORCHVISION_EPS, *, eps_in_log: bool = False,
                    dtype: torch.dtype = torch.float32) -> LevelTrace:
    """Record :func:`fpn_levels`'s decision for one box (same code, same dtype).

    Args:
        box: ``(x1, y1, x2, y2)`` in image pixels, ``x2 >= x1`` and ``y2 >= y1``.
        k_min, k_max, canonical_scale, canonical_level, eps, eps_in_log: as :func:`fpn_levels`;
            the levels default to P2..P5.
        dtype: the boxes' dtype the level is computed in (float32, as a detector's boxes).

    Returns:
        A :class:`LevelTrace`; its ``level`` equals ``fpn_levels`` on the same box.

    Raises:
        ValueError: a box that is not 4 finite numbers with a non-negative area, or bad arguments.
    """
    try:
        coords = tuple(float(v) for v in box)
    except (TypeError, ValueError):
        raise ValueError(f"box must be 4 numbers (x1, y1, x2, y2), got {box!r}") from None
    if len(coords) != 4:
        raise ValueError(f"box must be 4 numbers (x1, y1, x2, y2), got {len(coords)}")
    boxes = torch.tensor([coords], dtype=dtype)
    level = int(fpn_levels(boxes, k_min, k_max, canonical_scale, canonical_level, eps,
                           eps_in_log=eps_in_log)[0])
    area, size, log2_term, unclamped = (float(t[0]) for t in _level_terms(
        boxes, canonical_scale, canonical_level, eps, bool(eps_in_log)))
    return LevelTrace(box=coords, area=area, size=size, log2_term=log2_term, unclamped_level=unclamped,
                      level=level, stride=2 ** level, k_min=int(k_min), k_max=int(k_max),
                      canonical_scale=float(canonical_scale), canonical_level=int(canonical_level),
                      eps=float(eps), eps_in_log=bool(eps_in_log))


# ----------------------------------------------------------------------------------------------
# torchvision's MultiScaleRoIAlign


def infer_scale(feature: torch.Tensor, original_size: Sequence[int]) -> float:
    """A map's ``spatial_scale`` from its size and the image's, rounded to a power of two.

    As torchvision's ``_infer_scale``: ``2 ** round(log2(map height / image height))`` (in
    float32, halves to even). Only the height decides, as in torchvision. A 200-row map of an
    800-row image gives ``1/4``; a 25-row map of an 800-row image ``1/32`` (800/32 = 25); a
    50-row map of a 797-row image still ``1/16``.
    """
    approx = float(feature.shape[-2]) / float(original_size[0])
    return 2 ** float(torch.tensor(approx).log2().round())


def setup_scales(features: Sequence[torch.Tensor], image_shapes: Sequence[tuple[int, int]]
                 ) -> tuple[list[float], int, int]:
    """Each level's scale and the level range, as torchvision's ``_setup_scales``.

    The image size is the largest height and the largest width over ``image_shapes`` (the batch
    is padded to it); ``k_min = -log2(scale of the first map)``, ``k_max = -log2(scale of the
    last)``.

    Returns:
        ``(scales, k_min, k_max)``.

    Raises:
        ValueError: no image shapes, or maps that are not consecutive powers of two in order.
    """
    if not image_shapes:
        raise ValueError("image_shapes must list each image's (height, width); got an empty list")
    original = (max(int(s[0]) for s in image_shapes), max(int(s[1]) for s in image_shapes))
    scales = [infer_scale(f, original) for f in features]
    k_min = int(-torch.log2(torch.tensor(scales[0], dtype=torch.float32)).item())
    k_max = int(-torch.log2(torch.tensor(scales[-1], dtype=torch.float32)).item())
    expected = [2.0 ** -k for k in range(k_min, k_max + 1)]
    if scales != expected:
        strides = [round(1 / s) for s in scales]
        raise ValueError(f"the feature maps must halve from one level to the next, finest first "
                         f"(strides like 4, 8, 16, 32); their sizes against the image "
                         f"{original[0]} x {original[1]} give strides {strides}")
    return scales, k_min, k_max


class MultiScaleRoIAlign(nn.Module):
    """RoI Align on a feature pyramid: each box is pooled from the level its size picks.

    torchvision's ``torchvision.ops.MultiScaleRoIAlign`` (same arguments, same numbers), plus
    ``aligned``. The scales are inferred from the first call's map and image sizes and then
    kept (``self.scales``), as in torchvision.

    Args:
        featmap_names (List[str]): the keys of ``x`` to pool from, finest level first (the dict's
            order is used, as in torchvision).
        output_size (int or Tuple[int, int]): ``(PH, PW)``.
        sampling_ratio (int): RoI Align's samples per bin side; ``<= 0`` is adaptive.
        canonical_scale (float): ``s0`` of :func:`fpn_levels`. Default 224.
        canonical_level (int): ``k0`` of :func:`fpn_levels`. Default 4.
        aligned (bool): ``False`` (default) is torchvision: ``roi_align(aligned=False)`` and the
            level rule ``floor(k0 + log2(s / s0) + 1e-6)``. ``True`` is Detectron2's ``ROIPooler``
            with ``pooler_type="ROIAlignV2"``: ``roi_align(aligned=True)`` and Detectron2's rule
            ``floor(k0 + log2(s / s0 + 1e-8))`` (same 224 and 4 by default). Detectron2 takes the
            scales from the backbone instead of inferring them; for maps whose size is the image
            size over the stride, as here, they are the same.

    Example (the Faster R-CNN FPN head)::

        pooler = MultiScaleRoIAlign(["p2", "p3", "p4", "p5"], 7, 2)
        x = {"p2": torch.randn(2, 256, 200, 304), "p3": torch.randn(2, 256, 100, 152),
             "p4": torch.randn(2, 256, 50, 76), "p5": torch.randn(2, 256, 25, 38)}
        out = pooler(x, [boxes_0, boxes_1], [(800, 1216), (800, 1216)])   # [K0 + K1, 256, 7, 7]
    """

    def __init__(self, featmap_names: Sequence[str], output_size, sampling_ratio: int, *,
                 canonical_scale: float = CANONICAL_SCALE, canonical_level: int = CANONICAL_LEVEL,
                 aligned: bool = False) -> None:
        super().__init__()
        if isinstance(featmap_names, str) or not all(isinstance(n, str) for n in featmap_names):
            raise ValueError(f"featmap_names must be a list of str, got {featmap_names!r}")
        self.featmap_names = list(featmap_names)
        self.output_size = _checks.check_output_size(output_size)
        self.sampling_ratio = _checks.check_sampling_ratio(sampling_ratio)
        rule = level_rule(bool(aligned))
        _check_level_args(0, 0, canonical_scale, canonical_level, rule["eps"])
        self.canonical_scale = canonical_scale
        self.canonical_level = int(canonical_level)
        self.aligned = bool(aligned)
        self.scales: list[float] | None = None
        self.k_min: int | None = None
        self.k_max: int | None = None

    def levels(self, boxes: Sequence[torch.Tensor]) -> torch.Tensor:
        """The level (``k_min .. k_max``) of every box, images concatenated: int64 ``[sum K_i]``.

        Needs the scales (after the first :meth:`forward`).
        """
        if self.scales is None:
            raise ValueError("the scales are inferred on the first forward(); call it first")
        rule = level_rule(self.aligned)
        return fpn_levels(torch.cat(list(boxes)), self.k_min, self.k_max, self.canonical_scale,
                          self.canonical_level, rule["eps"], eps_in_log=rule["eps_in_log"])

    def forward(self, x: Mapping[str, torch.Tensor], boxes: Sequence[torch.Tensor],
                image_shapes: Sequence[tuple[int, int]]) -> torch.Tensor:
        """Pool every box from its level.

        Args:
            x (Dict[str, Tensor[N, C, H_l, W_l]]): the pyramid; keys not in ``featmap_names``
                are ignored. All levels have the same ``N`` and ``C``.
            boxes (List[Tensor[K_i, 4]]): one ``(x1, y1, x2, y2)`` tensor per image, in image
                pixels.
            image_shapes (List[Tuple[int, int]]): each image's ``(height, width)`` before the
                backbone.

        Returns:
            Tensor[sum K_i, C, PH, PW]: row ``j`` is box ``j`` of the concatenated lists pooled
            from its level; differentiable in every level of ``x``.

        Raises:
            TypeError, ValueError: no map selected, maps that do not halve level to level,
            boxes not one ``[K_i, 4]`` tensor per image, a box with a negative area.
        """
        if not isinstance(x, Mapping):
            raise TypeError(f"x must be a dict of feature maps, got {type(x).__name__}")
        features = [v for k, v in x.items() if k in self.featmap_names]
        if not features:
            raise ValueError(f"x has none of the maps {self.featmap_names}; its keys are {list(x)}")
        for f in features:
            _checks.check_input(f)
        if not isinstance(boxes, (list, tuple)) or not 1 <= len(boxes) <= features[0].shape[0]:
            raise ValueError(f"boxes must be a list of one [K_i, 4] tensor per image "
                             f"({features[0].shape[0]} images; trailing images may be left out)")
        if self.scales is None:
            self.scales, self.k_min, self.k_max = setup_scales(features, image_shapes)
        if len(features) != len(self.scales):
            raise ValueError(f"x gives {len(features)} maps but the scales were set up for "
                             f"{len(self.scales)} on the first call")
        # Batch index and (x1, y1, x2, y2) per box, as torchvision's _convert_to_roi_format; the
        # boxes are checked as roi_align checks them (here, on the image count of x).
        padded = list(boxes) + [features[0].new_zeros((0, 4))] * (features[0].shape[0] - len(boxes))
        batch_idx, coords = _checks.convert_boxes(padded, features[0])      # [K], [K, 4]
        if len(features) == 1:
            result = align_boxes(features[0], batch_idx, coords, self.output_size, self.scales[0],
                                 self.sampling_ratio, self.aligned)
            levels = torch.zeros_like(batch_idx)
        else:
            levels = self.levels([b.detach() for b in boxes]) - self.k_min    # [K], 0-based
            result = self._pool_levels(features, batch_idx, coords, levels)
        # A level no box uses still gets a (zero) gradient, as torchvision's, not None.
        for index, feature in enumerate(features):
            if torch.is_grad_enabled() and feature.requires_grad and not bool((levels == index).any()):
                result = link_unused(result, feature)
        if not boxes_require_grad(padded):
            return result

        def box_grad(grad: torch.Tensor) -> torch.Tensor:
            # The level is piecewise constant in the box: each box's gradient is its level's.
            total = grad.new_zeros((coords.shape[0], 4))
            for index, (feature, scale) in enumerate(zip(features, self.scales)):
                idx = torch.where(levels == index)[0]
                if idx.numel():
                    total[idx] = align_box_grad(
                        feature, batch_idx[idx], coords[idx].to(feature.dtype), self.output_size,
                        scale, self.sampling_ratio, self.aligned, "avg",
                        grad[idx].to(feature.dtype)).to(total.dtype)
            return total

        return attach_box_grad(result, box_coords(padded, features[0]), box_grad)

    def _pool_levels(self, features: list[torch.Tensor], batch_idx: torch.Tensor, coords: torch.Tensor,
                     levels: torch.Tensor) -> torch.Tensor:
        """Each box pooled from its level (``levels``: 0-based ``[K]``) into one result."""
        first = features[0]
        # Every box has exactly one level (the clamp leaves none out), so every row is written:
        # each level's RoI Align writes its boxes' rows of the result in place, once.
        result = first.new_empty((coords.shape[0], first.shape[1]) + self.output_size)  # [K, C, PH, PW]
        for index, (feature, scale) in enumerate(zip(features, self.scales)):
            idx = torch.where(levels == index)[0]
            args = (feature, batch_idx[idx], coords[idx].to(feature.dtype), self.output_size, scale,
                    self.sampling_ratio, self.aligned)
            if feature.dtype == result.dtype:
                align_boxes(*args, out=result, out_rows=idx)
            else:   # pooled in the level's own dtype, then cast, as torchvision does
                result.index_copy_(0, idx, align_boxes(*args).to(result.dtype))
        return result
