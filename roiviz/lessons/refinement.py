"""Box refinement by gradient ascent through each pooling method (IoU-Net's idea, as a toy).

IoU-Net (Jiang et al., ECCV 2018) refines a box by gradient ascent on its predicted IoU, and
built Precise RoI Pooling so that this objective is continuous in the box. Here there is no
trained IoU predictor: the objective is built from pooled features alone,

    J(b) = -1/2 * mean over channels and bins of (P(b) - P(target))^2,

the negative squared distance between the box's pooled feature and the target box's, on a fixed
multi-channel feature map (:func:`roiviz.features.image_feature_map`). Each method pools with its
own ``P`` and moves the box along its own ``d J / d b`` (:func:`roiviz.box_gradients.separable_jacobian`),
so the methods differ only in the gradient they give.

Update, as IoU-Net's refinement scales the gradient by the box's size: ``b <- b + lr * s * (s *
dJ/db)``, ``s = (w, h, w, h)``; a step that lowers ``J`` is halved (up to 6 times) and the
search stops when a step moves no coordinate by more than ``tol`` cells, when no halving helps,
or after ``max_steps``. RoI Pool's gradient is 0 wherever it exists, so its box never moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..box_gradients import separable_jacobian
from ..methods import METHODS, REGISTRY
from ..records import Settings

__all__ = ["Refinement", "RefinementStudy", "iou", "jitter_boxes", "refine", "refinement_study"]

HALVINGS = 6


def iou(a, b) -> float:
    """Intersection over union of two ``(x1, y1, x2, y2)`` boxes (0 if disjoint)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True, eq=False)
class Refinement:
    """One method's refinement from one start.

    Attributes:
        path: float64 ``[S + 1, 4]`` the box (image pixels) after each accepted step.
        objective: float64 ``[S + 1]`` ``J`` along the path.
        steps: accepted steps until it stopped (0: it never moved).
        final_iou: IoU of the last box with the target.
    """

    path: np.ndarray
    objective: np.ndarray
    steps: int
    final_iou: float


def _pooled(method: str, planes: np.ndarray, box, settings: Settings) -> tuple[np.ndarray, np.ndarray | None]:
    """``(output [C, PH, PW], jacobian [C, PH, PW, 4] or None)`` of one box."""
    if method == "roi_pool":   # no box gradient: only its output (all channels at once)
        rois = torch.tensor([[0.0, *box]], dtype=torch.float32)
        out = REGISTRY[method].run(torch.tensor(planes, dtype=torch.float32)[None], rois, settings)
        return out[0].double().numpy(), None
    jac, out = separable_jacobian(method, planes, box, settings)
    return out, jac


def refine(method: str, planes: np.ndarray, target, start, settings: Settings, lr: float = 0.3,
           max_steps: int = 60, tol: float = 0.01) -> Refinement:
    """Gradient ascent on ``J`` from ``start`` towards the ``target`` box's pooled feature.

    Args:
        planes: ``[C, H, W]`` map; target, start: boxes in image pixels.
        lr: the step's scale (per unit of ``s^2 dJ/db``, see the module docstring).
        tol: stop when no coordinate moves by more than ``tol`` cells.

    Returns:
        A :class:`Refinement`.
    """
    reference, _ = _pooled(method, planes, target, settings)
    count = reference.size

    def evaluate(box):
        out, jac = _pooled(method, planes, box, settings)
        diff = out - reference
        value = -0.5 * float((diff ** 2).sum()) / count
        grad = None if jac is None else -(diff[..., None] * jac).reshape(-1, 4).sum(0) / count
        return value, grad

    box = np.asarray(start, dtype=np.float64)
    value, grad = evaluate(box)
    path, objective = [box], [value]
    limit = tol * settings.stride
    while grad is not None and len(path) <= max_steps:
        size = np.array([box[2] - box[0], box[3] - box[1]] * 2)
        step = lr * size * size * grad
        for _ in range(HALVINGS + 1):
            candidate = box + step
            ok = candidate[2] - candidate[0] > limit and candidate[3] - candidate[1] > limit
            if ok:
                new_value, new_grad = evaluate(candidate)
                if new_value >= value:
                    break
            step = step / 2
        else:
            break                       # no step along the gradient helps: a (local) optimum
        box, value, grad = candidate, new_value, new_grad
        path.append(box)
        objective.append(value)
        if np.abs(step).max() <= limit:
            break
    return Refinement(path=np.array(path), objective=np.array(objective), steps=len(path) - 1,
                      final_iou=iou(box, target))


def jitter_boxes(target, count: int, jitter: float, seed: int, bounds) -> np.ndarray:
    """``count`` starts: the target's corners moved by ``N(0, jitter * side)`` each, sorted, kept
    inside ``bounds`` ``(W, H)`` pixels and at least a tenth of the target's sides (seeded)."""
    rng = np.random.default_rng(seed)
    t = np.asarray(target, dtype=np.float64)
    side = np.array([t[2] - t[0], t[3] - t[1]] * 2)
    boxes = t + rng.standard_normal((count, 4)) * jitter * side
    boxes[:, [0, 2]] = np.sort(boxes[:, [0, 2]], axis=1).clip(0, bounds[0])
    boxes[:, [1, 3]] = np.sort(boxes[:, [1, 3]], axis=1).clip(0, bounds[1])
    boxes[:, 2] = np.maximum(boxes[:, 2], boxes[:, 0] + 0.1 * side[0])
    boxes[:, 3] = np.maximum(boxes[:, 3], boxes[:, 1] + 0.1 * side[1])
    return boxes


@dataclass(frozen=True, eq=False)
class RefinementStudy:
    """Every method refined from the same seeded starts.

    Attributes:
        starts: float64 ``[N, 4]`` (image pixels); start_iou: ``[N]``.
        runs: ``{method: [Refinement] * N}``.
    """

    target: tuple[float, float, float, float]
    starts: np.ndarray
    start_iou: np.ndarray
    runs: dict[str, list[Refinement]]
    settings: Settings
    seed: int
    jitter: float

    def final_iou(self, method: str) -> np.ndarray:
        return np.array([r.final_iou for r in self.runs[method]])

    def steps(self, method: str) -> np.ndarray:
        return np.array([r.steps for r in self.runs[method]])

    def rows(self) -> list[dict]:
        """One row per method: median and mean final IoU, share improved, steps."""
        out = [{"method": "start (jittered)", "median IoU": f"{np.median(self.start_iou):.3f}",
                "mean IoU": f"{self.start_iou.mean():.3f}", "IoU improved": "", "IoU >= 0.9": f"{(self.start_iou >= 0.9).mean():.0%}",
                "median steps": "", "mean steps": ""}]
        for m in self.runs:
            final, steps = self.final_iou(m), self.steps(m)
            out.append({"method": m, "median IoU": f"{np.median(final):.3f}", "mean IoU": f"{final.mean():.3f}",
                        "IoU improved": f"{(final > self.start_iou + 1e-9).mean():.0%}",
                        "IoU >= 0.9": f"{(final >= 0.9).mean():.0%}",
                        "median steps": f"{np.median(steps):g}", "mean steps": f"{steps.mean():.1f}"})
        return out

    def summary(self) -> dict:
        return {"start_iou": self.start_iou.tolist(), "final_iou": {m: self.final_iou(m).tolist() for m in self.runs}}


def refinement_study(planes: np.ndarray, target, settings: Settings, starts: int = 100, jitter: float = 0.15,
                     seed: int = 0, methods=METHODS, **refine_args) -> RefinementStudy:
    """Refine ``starts`` seeded jittered boxes with every method (see :func:`refine`)."""
    height, width = planes.shape[-2:]
    boxes = jitter_boxes(target, starts, jitter, seed, (width * settings.stride, height * settings.stride))
    runs = {m: [refine(m, planes, target, b, settings, **refine_args) for b in boxes] for m in methods}
    return RefinementStudy(target=tuple(float(v) for v in target), starts=boxes,
                           start_iou=np.array([iou(b, target) for b in boxes]), runs=runs, settings=settings,
                           seed=seed, jitter=jitter)
