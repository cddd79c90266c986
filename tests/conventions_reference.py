"""The real libraries behind the catalogue's "run here" dialects (a plain module, not tests).

Each function takes one map ``features [C, H, W]`` (float32), ``boxes [K, 4]`` exactly as the
framework takes them, and returns ``[K, C, PH, PW]`` numpy, computed by the library itself:

- ONNX Runtime ``RoiAlign`` opset 10 and 16 (avg / max, half_pixel / output_half_pixel) and
  ``MaxRoiPool`` (via tests/onnx_reference.py's sessions for opset 16);
- TensorFlow ``tf.image.crop_and_resize``;
- OpenVINO ``ROIAlign-9`` on its CPU plugin;
- KerasCV ``_ROIAligner`` on its TensorFlow backend (one pyramid level).

:data:`REFERENCES` maps a dialect id to ``(library, runner)``; a runner takes
``(features, boxes, output_size, spatial_scale, sampling_ratio, extra)`` where ``extra`` holds
what only that library takes (TensorFlow's ``extrapolation_value``).
"""

from __future__ import annotations

import functools
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__all__ = ["REFERENCES", "run_reference"]


# ---------------------------------------------------------------------------- ONNX Runtime

@functools.lru_cache(maxsize=256)
def _ort_align(opset: int, output_size: tuple[int, int], scale: float, ratio: int, half_pixel: bool, mode: str):
    import onnxruntime as ort
    from onnx import TensorProto, helper

    attrs = dict(output_height=output_size[0], output_width=output_size[1], sampling_ratio=max(ratio, 0),
                 spatial_scale=scale, mode=mode)
    if opset >= 16:
        attrs["coordinate_transformation_mode"] = "half_pixel" if half_pixel else "output_half_pixel"
    node = helper.make_node("RoiAlign", ["X", "rois", "bi"], ["Y"], **attrs)
    graph = helper.make_graph(
        [node], "roi",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("rois", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("bi", TensorProto.INT64, None)],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _ort_runner(opset: int, half_pixel: bool, mode: str):
    def run(features, boxes, output_size, scale, ratio, extra):
        sess = _ort_align(opset, tuple(output_size), float(scale), int(ratio), half_pixel, mode)
        return sess.run(None, {"X": features[None].astype(np.float32), "rois": boxes.astype(np.float32),
                               "bi": np.zeros(len(boxes), np.int64)})[0]
    return run


def _ort_pool(features, boxes, output_size, scale, ratio, extra):
    from onnx_reference import ort_max_roi_pool

    rois = np.concatenate([np.zeros((len(boxes), 1), np.float32), boxes.astype(np.float32)], 1)
    return ort_max_roi_pool(features[None], rois, output_size, scale)


# ---------------------------------------------------------------------------- TensorFlow

def _tf_crop(features, boxes, output_size, scale, ratio, extra):
    import tensorflow as tf

    image = np.transpose(features, (1, 2, 0))[None].astype(np.float32)          # [1, H, W, C]
    out = tf.image.crop_and_resize(image, boxes.astype(np.float32), np.zeros(len(boxes), np.int32),
                                   list(output_size), method="bilinear",
                                   extrapolation_value=float(extra.get("extrapolation_value", 0.0)))
    return np.transpose(out.numpy(), (0, 3, 1, 2))


# ---------------------------------------------------------------------------- OpenVINO

@functools.lru_cache(maxsize=256)
def _ov_model(shape: tuple[int, ...], k: int, output_size: tuple[int, int], scale: float, ratio: int,
              aligned_mode: str, mode: str):
    import openvino as ov
    import openvino.opset9 as ops

    data = ops.parameter(list(shape), np.float32, name="data")
    rois = ops.parameter([k, 4], np.float32, name="rois")
    batch = ops.parameter([k], np.int32, name="batch")
    node = ops.roi_align(data, rois, batch, output_size[0], output_size[1], max(ratio, 0), scale, mode,
                         aligned_mode)
    model = ov.Model([node], [data, rois, batch], "roi_align")
    return ov.Core().compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": 1})


def _ov_runner(aligned_mode: str, mode: str = "avg"):
    def run(features, boxes, output_size, scale, ratio, extra):
        compiled = _ov_model(tuple((1,) + features.shape), len(boxes), tuple(output_size), float(scale),
                             int(ratio), aligned_mode, mode)
        result = compiled([features[None].astype(np.float32), boxes.astype(np.float32),
                           np.zeros(len(boxes), np.int32)])
        return next(iter(result.values()))
    return run


# ---------------------------------------------------------------------------- KerasCV

def _keras_cv(features, boxes, output_size, scale, ratio, extra):
    import tensorflow as tf
    from keras_cv.src.layers.object_detection.roi_align import _ROIAligner

    level = int(round(-np.log2(scale)))
    if output_size[0] != output_size[1] or 2.0 ** -level != scale:
        raise ValueError("KerasCV's _ROIAligner takes square outputs and scales 2^-level")
    aligner = _ROIAligner("yxyx", target_size=int(output_size[0]), sample_offset=0.5)
    # One channel at a time: with keras 3, keras_cv 0.9's multilevel_crop_and_resize gathers with
    # ops.take(features, indices) without an axis, which flattens a map of more than one channel
    # (a reshape error); on one channel it is exact.
    channels = []
    for channel in features:
        image = tf.constant(channel[None, :, :, None].astype(np.float32))
        out = aligner({f"P{level}": image}, tf.constant(boxes[None].astype(np.float32)))
        channels.append(out.numpy()[0, :, :, :, 0])                            # [K, PH, PW]
    return np.stack(channels, 1)


#: dialect id -> (library, runner) for every dialect with a real library on this machine.
REFERENCES = {
    "tv_align": ("onnxruntime opset 16 half_pixel avg", _ort_runner(16, True, "avg")),
    "tv_align_legacy": ("onnxruntime opset 10 avg", _ort_runner(10, False, "avg")),
    "onnx_align_max": ("onnxruntime opset 16 half_pixel max", _ort_runner(16, True, "max")),
    "onnx_align_max_legacy": ("onnxruntime opset 10 max", _ort_runner(10, False, "max")),
    "tv_pool": ("onnxruntime MaxRoiPool", _ort_pool),
    "tf_crop_and_resize": ("tensorflow crop_and_resize", _tf_crop),
    "openvino_asymmetric": ("openvino ROIAlign-9 asymmetric", _ov_runner("asymmetric")),
    "openvino_half_pixel_for_nn": ("openvino ROIAlign-9 half_pixel_for_nn", _ov_runner("half_pixel_for_nn")),
    "openvino_half_pixel": ("openvino ROIAlign-9 half_pixel", _ov_runner("half_pixel")),
    "openvino_align_max": ("openvino ROIAlign-9 half_pixel_for_nn max", _ov_runner("half_pixel_for_nn", "max")),
    "keras_cv_align": ("keras-cv _ROIAligner", _keras_cv),
}
#: Extra library settings that land on an existing dialect (checked like the main reference).
ALSO = {
    "tv_align_legacy": ("onnxruntime opset 16 output_half_pixel avg", _ort_runner(16, False, "avg")),
    "onnx_align_max_legacy": ("onnxruntime opset 16 output_half_pixel max", _ort_runner(16, False, "max")),
}


def run_reference(dialect: str, features, boxes, output_size, scale, ratio, extra=None, also: bool = False):
    """The library's ``[K, C, PH, PW]`` for ``dialect`` (``also``: its second library setting)."""
    _, runner = (ALSO if also else REFERENCES)[dialect]
    return np.asarray(runner(np.asarray(features, np.float32), np.asarray(boxes, np.float32),
                             tuple(output_size), scale, ratio, extra or {}), np.float32)
