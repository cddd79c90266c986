"""ONNX Runtime as an independent reference for roiviz's batched ops (a plain module, not tests).

torchvision has no CPU wheel on these machines, so the parity tests and the benchmark check
roiviz against ONNX Runtime's CPU kernels, which follow the same C++ logic as torchvision's
``csrc/ops/cpu/roi_align_kernel.cpp`` / ``roi_pool_kernel.cpp`` (SEMANTICS.md, "References").

- ``RoiAlign`` (opset 16): ``coordinate_transformation_mode="half_pixel"`` is ``aligned=True``,
  ``"output_half_pixel"`` is ``aligned=False``; ``sampling_ratio=0`` is adaptive.
- ``MaxRoiPool`` (opset 16): RoI Pool, library convention.

Known ORT limitation: ``RoiAlign`` with ``half_pixel`` and adaptive sampling aborts with
"Integer overflow" on a reversed box (negative bin size -> negative grid); callers sort those.
"""

from __future__ import annotations

import functools

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

OPSET = 16

__all__ = ["align_session", "pool_session", "ort_roi_align", "ort_max_roi_pool", "to_ort_rois"]


def _session(node, inputs, intra_op_threads: int | None) -> ort.InferenceSession:
    graph = helper.make_graph(
        [node], "roi",
        [helper.make_tensor_value_info(name, dtype, None) for name, dtype in inputs],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    options = ort.SessionOptions()
    if intra_op_threads is not None:   # None: ORT's default pool (one thread per core)
        options.intra_op_num_threads = intra_op_threads
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


@functools.lru_cache(maxsize=512)
def align_session(output_size: tuple[int, int], spatial_scale: float, sampling_ratio: int,
                  aligned: bool, mode: str = "avg", intra_op_threads: int | None = 1
                  ) -> ort.InferenceSession:
    """An ORT session computing ``RoiAlign`` with these attributes (inputs X, rois, bi).

    Tests use one thread per session (hundreds of cached sessions must not each own a spinning
    thread pool); the benchmark passes ``intra_op_threads=None`` for ORT's default.
    """
    node = helper.make_node(
        "RoiAlign", ["X", "rois", "bi"], ["Y"],
        output_height=int(output_size[0]), output_width=int(output_size[1]),
        sampling_ratio=max(int(sampling_ratio), 0), spatial_scale=float(spatial_scale), mode=mode,
        coordinate_transformation_mode="half_pixel" if aligned else "output_half_pixel")
    return _session(node, [("X", TensorProto.FLOAT), ("rois", TensorProto.FLOAT),
                           ("bi", TensorProto.INT64)], intra_op_threads)


@functools.lru_cache(maxsize=512)
def pool_session(output_size: tuple[int, int], spatial_scale: float,
                 intra_op_threads: int | None = 1) -> ort.InferenceSession:
    """An ORT session computing ``MaxRoiPool`` (inputs X, rois ``[K, 5]``)."""
    node = helper.make_node("MaxRoiPool", ["X", "rois"], ["Y"],
                            pooled_shape=[int(output_size[0]), int(output_size[1])],
                            spatial_scale=float(spatial_scale))
    return _session(node, [("X", TensorProto.FLOAT), ("rois", TensorProto.FLOAT)], intra_op_threads)


def to_ort_rois(rois: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split roiviz's ``[K, 5]`` (batch index, x1, y1, x2, y2) into ORT's boxes and indices."""
    rois = np.asarray(rois, dtype=np.float32)
    return np.ascontiguousarray(rois[:, 1:]), rois[:, 0].astype(np.int64)


def ort_roi_align(x: np.ndarray, rois: np.ndarray, output_size, spatial_scale: float,
                  sampling_ratio: int, aligned: bool, mode: str = "avg") -> np.ndarray:
    """ORT ``RoiAlign`` on float32 ``x [N, C, H, W]`` and ``rois [K, 5]``."""
    boxes, batch = to_ort_rois(rois)
    sess = align_session(tuple(int(v) for v in output_size), float(spatial_scale),
                         int(sampling_ratio), bool(aligned), mode)
    return sess.run(None, {"X": np.asarray(x, np.float32), "rois": boxes, "bi": batch})[0]


def ort_max_roi_pool(x: np.ndarray, rois: np.ndarray, output_size, spatial_scale: float) -> np.ndarray:
    """ORT ``MaxRoiPool`` on float32 ``x [N, C, H, W]`` and ``rois [K, 5]``."""
    sess = pool_session(tuple(int(v) for v in output_size), float(spatial_scale))
    return sess.run(None, {"X": np.asarray(x, np.float32), "rois": np.asarray(rois, np.float32)})[0]
