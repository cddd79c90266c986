"""Every framework's RoI convention, written down once and executable.

A *dialect* is one framework's op with one setting of its convention flags. Each
:class:`Dialect` names who produces it, lists its rules with the source file and function each
comes from, says whether roiviz checked it against the real library on this machine
(:data:`RUN_HERE`) or ported it line by line from the kernel's source (:data:`PORTED`), and
carries the engine spec that computes it (:mod:`roiviz.conventions.engine`).

Box arguments are "as passed to the framework": 4 numbers in the dialect's order (``xyxy`` or
``yxyx``) and units (absolute image pixels, times ``spatial_scale``; or normalised).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .engine import Pooler, Sampler

__all__ = ["Rule", "Dialect", "DIALECTS", "BY_ID", "EQUAL_EVERYWHERE", "RUN_HERE", "PORTED", "ASPECTS"]

#: Status of a dialect whose library runs here and is compared in tests/test_conventions_parity.py.
RUN_HERE = "run here"
#: Status of a dialect whose library cannot run here: a line-by-line port of its kernel.
PORTED = "ported from source, not run"
#: The aspects every dialect states, in the order a card lists them.
ASPECTS = ("box", "offset", "end", "minimum size", "rounding", "sampling", "reduction", "off the map")


@dataclass(frozen=True)
class Rule:
    """One rule of a dialect: ``aspect`` (one of :data:`ASPECTS`), what it does, and where."""

    aspect: str
    text: str
    source: str


@dataclass(frozen=True)
class Dialect:
    """One executable convention.

    Attributes:
        id: the catalogue id (issue 18's table). name: a short human name.
        produced_by: libraries and settings that produce these numbers.
        status: :data:`RUN_HERE` or :data:`PORTED`.
        rules: one :class:`Rule` per aspect.
        engine: a :class:`~roiviz.conventions.engine.Sampler` or ``Pooler``.
        layouts: box orders the framework accepts (first = default).
        units: box units it accepts (first = default): ``absolute``, ``by_size``,
            ``by_size_minus_1`` (:data:`roiviz.conventions.engine.UNITS`).
        fix: one line saying how to get torchvision ``roi_align(aligned=True)``'s numbers instead
            (or why that is not possible).
    """

    id: str
    name: str
    produced_by: tuple[str, ...]
    status: str
    rules: tuple[Rule, ...]
    engine: Sampler | Pooler
    layouts: tuple[str, ...] = ("xyxy",)
    units: tuple[str, ...] = ("absolute",)
    fix: str = ""

    @property
    def takes_ratio(self) -> bool:
        """Whether ``sampling_ratio`` changes this dialect's numbers."""
        return isinstance(self.engine, Sampler) and self.engine.grid == "ratio"

    @property
    def position_sensitive(self) -> bool:
        """One channel group per bin (``C_in = C_out * PH * PW``)."""
        if isinstance(self.engine, Sampler):
            return self.engine.channel_groups
        return self.engine.kind == "ps_avg"

    def rule(self, aspect: str) -> Rule:
        return next(r for r in self.rules if r.aspect == aspect)


# Sources, written once (paths relative to each library's repository).
_TV_ALIGN = "torchvision csrc/ops/cpu/roi_align_kernel.cpp::roi_align_forward_kernel_impl"
_TV_PRECALC = "torchvision csrc/ops/cpu/roi_align_common.h::pre_calc_for_bilinear_interpolate"
_ORT = "onnxruntime onnxruntime/core/providers/cpu/object_detection/roialign.cc::RoiAlignForward"
_ORT_PRECALC = "onnxruntime onnxruntime/core/providers/cpu/object_detection/roialign.cc::PreCalcForBilinearInterpolate"
_TV_POOL = "torchvision csrc/ops/cpu/roi_pool_kernel.cpp::roi_pool_forward_kernel_impl"
_TV_PS_ALIGN = "torchvision csrc/ops/cpu/ps_roi_align_kernel.cpp::ps_roi_align_forward_kernel_impl"
_TV_PS_POOL = "torchvision csrc/ops/cpu/ps_roi_pool_kernel.cpp::ps_roi_pool_forward_kernel_impl"
_MMCV = "mmcv mmcv/ops/csrc/common/cuda/roi_align_cuda_kernel.cuh::roi_align_forward_cuda_kernel"
_MMCV_BILINEAR = "mmcv mmcv/ops/csrc/common/cuda/common_cuda_helper.hpp::bilinear_interpolate"
_TF = "tensorflow tensorflow/core/kernels/image/crop_and_resize_op.cc::CropAndResizePerBox"
_OV = "openvino src/core/reference/include/openvino/reference/roi_align.hpp::ROIAlignOpDefPolicy::get_sampling_space_for_index"
_OV_LOOP = "openvino src/core/reference/include/openvino/reference/roi_align.hpp::roi_align"
_TRT = "TensorRT plugin/common/kernels/maskRCNNKernels.cu::roiAlign_kernel"
_TRT_BILINEAR = "TensorRT plugin/common/kernels/maskRCNNKernels.cu::interpolateBilinear"
_TRT_MLCR = "TensorRT plugin/common/kernels/maskRCNNKernels.cu::roiAlignHalfCenter_kernel"
_KERAS = "keras-cv keras_cv/src/layers/object_detection/roi_align.py::_compute_grid_positions"
_KERAS_ML = "keras-cv keras_cv/src/layers/object_detection/roi_align.py::multilevel_crop_and_resize"
_COREML = "coremltools coremltools/converters/mil/mil/ops/defs/iOS15/image_resizing.py::resize_bilinear, crop_resize (docstrings)"
_MS = "mindspore mindspore/ccsrc/plugin/device/cpu/kernel/roi_align_cpu_kernel.cc::bin_box"
_MS_BILINEAR = "mindspore mindspore/ccsrc/plugin/device/cpu/kernel/roi_align_cpu_kernel.cc::bilinear_interpolate"
_PRROI = "PreciseRoIPooling src/prroi_pooling_gpu_impl.cu::PrRoIPoolingForward"
_PRROI_DATA = "PreciseRoIPooling src/prroi_pooling_gpu_impl.cu::PrRoIPoolingGetData"
_MNC = "caffe-mnc src/caffe/layers/roi_warping_layer.cu::ROIWarpingForward"
_MNC_BILINEAR = "caffe-mnc src/caffe/layers/roi_warping_layer.cu::bilinear_interpolate"


def _rules(src: str, bilinear: str, **texts: str) -> tuple[Rule, ...]:
    """Rules in :data:`ASPECTS` order; ``off_the_map`` comes from the bilinear helper's source."""
    out = []
    for aspect in ASPECTS:
        key = aspect.replace(" ", "_")
        out.append(Rule(aspect, texts[key], bilinear if aspect == "off the map" else src))
    return tuple(out)


_TV_OFF = "zero beyond -1 / H (still counted in the average); [-1, 0) and (H - 1, H] take the edge value"
_ADAPTIVE = "sampling_ratio x sampling_ratio samples a bin at the centres of its sub-cells; 0 / -1 is adaptive, ceil(roi / bins)"


def _tv_align_rules(src: str, bilinear: str, aligned: bool, reduction: str) -> tuple[Rule, ...]:
    return _rules(
        src, bilinear,
        box="[x1, y1, x2, y2] absolute image pixels, times spatial_scale",
        offset="-0.5 cell after scaling (half_pixel / aligned=True)" if aligned else "none (aligned=False / output_half_pixel)",
        end="no +1",
        minimum_size="none (a reversed box has negative bins)" if aligned else "width and height raised to at least 1 cell",
        rounding="none", sampling=_ADAPTIVE, reduction=reduction, off_the_map=_TV_OFF)


_AVG = "average of the bilinear samples"
_CORNER_MAX = ("max over the bin's samples of the largest weighted corner term w_i * v_i "
               "(not the largest interpolated value; zero-weight corners count as 0)")
_TRUE_MAX = "max of the interpolated values"


def _trt_pyramid(transform: int) -> Dialect:
    offsets = {-1: "none; the box is scaled by (size - 1) and samples are spread corner to corner, "
                   "delta = (end - start) / (bins - 1)",
               0: "none, and each sample sits at the start of its sub-cell (i + 0)",
               1: "none on the box; samples at sub-cell centres (i + 0.5), like output_half_pixel",
               2: "-0.5 cell on the box, samples at sub-cell centres (like half_pixel)"}
    engine = Sampler(offset=0.5 if transform == 2 else 0.0, clip_box=True, corners=transform == -1,
                     centre_if_one=False, sample_offset=0.5 if transform in (1, 2) else 0.0,
                     adaptive="ceil_min1", margin=math.inf, norm_minus_1=transform == -1)
    name = {-1: "m1", 0: "0", 1: "1", 2: "2"}[transform]
    return Dialect(
        id=f"trt_pyramid_{name}", name=f"TensorRT PyramidROIAlign, roi_coords_transform={transform}",
        produced_by=(f"TensorRT PyramidROIAlign_TRT roi_coords_transform={transform} (any roi_coords_plusone: "
                     "it only changes which FPN level a box goes to)",),
        status=PORTED,
        rules=_rules(
            _TRT, _TRT_BILINEAR,
            box="[x1, y1, x2, y2] (roi_coords_swap=1: [y1, x1, y2, x2]); absolute (divided by image_size) "
                "or normalised; clipped to the image first",
            offset=offsets[transform], end="no +1 (plusone only enters the level's area)",
            minimum_size="none", rounding="none",
            sampling="sampling_ratio per side, 0 is adaptive max(1, ceil(roi / bins))",
            reduction=_AVG, off_the_map="samples clamped to [0, H - 1] (never zero)"),
        engine=engine, layouts=("xyxy", "yxyx"),
        units=("absolute", "by_size_minus_1" if transform == -1 else "by_size"),
        fix={2: "already Detectron2's half_pixel: equal to aligned=True for boxes inside the image",
             1: "set roi_coords_transform=2 to match aligned=True",
             0: "set roi_coords_transform=2 to match aligned=True",
             -1: "set roi_coords_transform=2 (and legacy=0) to match aligned=True"}[transform])


def _coreml(mode: str) -> Dialect:
    specs = {
        "strict_align_corners": (Sampler(corners=True, centre_if_one=False, sample_offset=0.0, grid="one",
                                         margin=math.inf, clamp_to_box=True),
                                 "N points from the box's start to its end, endpoints included; one point: the start"),
        "align_corners": (Sampler(corners=True, centre_if_one=True, sample_offset=0.0, grid="one",
                                  margin=math.inf, clamp_to_box=True),
                          "N points from start to end, endpoints included; one point: the centre"),
        "default": (Sampler(extent_plus=1.0, sample_offset=0.0, grid="one", margin=math.inf, clamp_to_box=True),
                    "spacing (L + 1) / N from the start, clamped to the end (L = end - start)"),
        "offset_corners": (Sampler(min_size=1.0, grid="one", margin=math.inf, clamp_to_box=True),
                           "spacing max(1, L) / N, first point half a spacing in, clamped into the box"),
        "unalign_corners": (Sampler(extent_plus=1.0, sample_shift=-0.5, grid="one", margin=math.inf,
                                    clamp_to_box=True),
                            "spacing (L + 1) / N, point i at (i + 0.5) * spacing - 0.5, clamped into the box"),
    }
    engine, sampling = specs[mode]
    return Dialect(
        id=f"coreml_crop_resize_{mode}", name=f"Core ML crop_resize, sampling_mode={mode.upper()}",
        produced_by=(f"Core ML crop_resize (MIL) / CropResizeLayer sampling_mode={mode.upper()}",),
        status=PORTED,
        rules=_rules(
            _COREML, _COREML,
            box="CORNERS_HEIGHT_FIRST [y1, x1, y2, x2] (the default; CORNERS_WIDTH_FIRST is x first); "
                "absolute times spatial_scale, or normalised times (H - 1)",
            offset="none", end="no +1",
            minimum_size="max(1, L) in the spacing" if mode == "offset_corners" else "none",
            rounding="none", sampling=sampling + "; one point per output cell, no pooling",
            reduction="none (one bilinear sample per output cell)",
            off_the_map="grid points kept inside [0, X - 1] by the spec's min/max; roiviz assumes samples "
                        "off the map are clamped to the edge (the spec does not say)"),
        engine=engine, layouts=("yxyx", "xyxy"), units=("absolute", "by_size_minus_1"),
        fix="no sampling_mode averages several samples per bin: to match roi_align, lower it as "
            "crop_resize to PH*g x PW*g points with OFFSET_CORNERS and average-pool g x g")


DIALECTS: tuple[Dialect, ...] = (
    Dialect(
        id="tv_align", name="RoI Align, aligned=True (half_pixel)",
        produced_by=("torchvision roi_align(aligned=True)", "Detectron2 ROIAlign(aligned=True) / ROIAlignV2",
                     "mmcv roi_align(aligned=True)", "ONNX RoiAlign opset 16 coordinate_transformation_mode=half_pixel, mode=avg",
                     "OpenVINO ROIAlign-9 aligned_mode=half_pixel_for_nn, mode=avg"),
        status=RUN_HERE, rules=_tv_align_rules(_TV_ALIGN, _TV_PRECALC, True, _AVG),
        engine=Sampler(offset=0.5), fix="nothing to fix: this is the reference"),
    Dialect(
        id="tv_align_legacy", name="RoI Align, aligned=False (output_half_pixel)",
        produced_by=("torchvision roi_align(aligned=False) (its default)", "ONNX RoiAlign opset 10, or opset 16 "
                     "coordinate_transformation_mode=output_half_pixel, mode=avg",
                     "OpenVINO ROIAlign-9 aligned_mode=asymmetric (and ROIAlign-3)", "MultiScaleRoIAlign"),
        status=RUN_HERE, rules=_tv_align_rules(_TV_ALIGN, _TV_PRECALC, False, _AVG),
        engine=Sampler(min_size=1.0),
        fix="set aligned=True (torchvision) / export with opset 16 coordinate_transformation_mode=half_pixel"),
    Dialect(
        id="onnx_align_max", name="ONNX RoiAlign mode=max (weighted-corner max), half_pixel",
        produced_by=("ONNX RoiAlign opset 16 mode=max, half_pixel (ONNX Runtime CPU)",),
        status=RUN_HERE, rules=_tv_align_rules(_ORT, _ORT_PRECALC, True, _CORNER_MAX),
        engine=Sampler(offset=0.5, reduce="corner_max"),
        fix="mode=max is not a max of interpolated values (onnxruntime #6921): use mode=avg, or mmcv's max"),
    Dialect(
        id="onnx_align_max_legacy", name="ONNX RoiAlign mode=max, output_half_pixel / opset 10",
        produced_by=("ONNX RoiAlign opset 10, or 16 with output_half_pixel, mode=max (ONNX Runtime CPU)",),
        status=RUN_HERE, rules=_tv_align_rules(_ORT, _ORT_PRECALC, False, _CORNER_MAX),
        engine=Sampler(min_size=1.0, reduce="corner_max"),
        fix="export with opset 16 coordinate_transformation_mode=half_pixel and mode=avg"),
    Dialect(
        id="mmcv_align_max", name="mmcv roi_align pool_mode=max, aligned=True",
        produced_by=("mmcv roi_align(pool_mode='max', aligned=True)",),
        status=PORTED, rules=_tv_align_rules(_MMCV, _MMCV_BILINEAR, True, _TRUE_MAX),
        engine=Sampler(offset=0.5, reduce="max"), fix="use pool_mode='avg' to match roi_align"),
    Dialect(
        id="mmcv_align_max_legacy", name="mmcv roi_align pool_mode=max, aligned=False",
        produced_by=("mmcv roi_align(pool_mode='max', aligned=False)",),
        status=PORTED, rules=_tv_align_rules(_MMCV, _MMCV_BILINEAR, False, _TRUE_MAX),
        engine=Sampler(min_size=1.0, reduce="max"), fix="use pool_mode='avg', aligned=True"),
    Dialect(
        id="tv_pool", name="RoI Pool (round, +1, max)",
        produced_by=("torchvision roi_pool", "Caffe ROIPooling (Fast R-CNN)", "ONNX MaxRoiPool"),
        status=RUN_HERE,
        rules=_rules(_TV_POOL, _TV_POOL, box="[x1, y1, x2, y2] absolute, times spatial_scale",
                     offset="none", end="+1: the rounded corners are inclusive cell indices",
                     minimum_size="1 cell", rounding="round (halves away from zero), then floor / ceil per bin",
                     sampling="every cell of the bin", reduction="max of the cells; empty bin 0",
                     off_the_map="bins clipped to the map"),
        engine=Pooler("max"), fix="RoI Pool quantizes twice; switch to roi_align(aligned=True)"),
    Dialect(
        id="tv_ps_align", name="Position-sensitive RoI Align",
        produced_by=("torchvision ps_roi_align",),
        status=PORTED,
        rules=_rules(_TV_PS_ALIGN, _TV_PS_ALIGN, box="[x1, y1, x2, y2] absolute, times spatial_scale",
                     offset="-0.5 cell, always", end="no +1", minimum_size="none", rounding="none",
                     sampling=_ADAPTIVE + "; bin (ph, pw) of output channel c reads input channel "
                     "(c * PH + ph) * PW + pw", reduction=_AVG, off_the_map=_TV_OFF),
        engine=Sampler(offset=0.5, channel_groups=True),
        fix="position-sensitive: the same numbers as roi_align(aligned=True) on the channel each bin reads"),
    Dialect(
        id="tv_ps_pool", name="Position-sensitive RoI Pool (round, no +1, average)",
        produced_by=("torchvision ps_roi_pool",),
        status=PORTED,
        rules=_rules(_TV_PS_POOL, _TV_PS_POOL, box="[x1, y1, x2, y2] absolute, times spatial_scale",
                     offset="none", end="no +1", minimum_size="1 cell",
                     rounding="round the corners, floor / ceil per bin",
                     sampling="every cell of the bin, one channel group per bin",
                     reduction="average of the cells (not max)",
                     off_the_map="both bin ends clipped to [0, H - 1] and the loop stops before the end: "
                                 "the map's last row and column are never read"),
        engine=Pooler("ps_avg"), fix="ps_roi_pool never reads the last row / column: pad the map by one"),
    Dialect(
        id="tf_crop_and_resize", name="TensorFlow crop_and_resize (bilinear)",
        produced_by=("tf.image.crop_and_resize(method='bilinear')",),
        status=RUN_HERE,
        rules=_rules(_TF, _TF, box="normalised [y1, x1, y2, x2], y * (H - 1): corners on cell centres",
                     offset="none", end="no +1", minimum_size="none", rounding="none",
                     sampling="crop_size points from the box's first edge to its last, edges included; "
                              "crop size 1 samples the centre",
                     reduction="none (one bilinear sample per output cell)",
                     off_the_map="a sample outside [0, H - 1] takes extrapolation_value"),
        engine=Sampler(corners=True, sample_offset=0.0, grid="one", margin=0.0, extrapolation=True),
        layouts=("yxyx",), units=("by_size_minus_1",),
        fix="crop_and_resize has no bins: to match roi_align(aligned=True), crop 2*PH x 2*PW with boxes "
            "shrunk by half a sample and average-pool 2 x 2 (the TF Object Detection API's recipe)"),
    Dialect(
        id="openvino_asymmetric", name="OpenVINO ROIAlign-9 aligned_mode=asymmetric",
        produced_by=("OpenVINO ROIAlign-9 aligned_mode=asymmetric, mode=avg",),
        status=RUN_HERE, rules=_tv_align_rules(_OV, _OV_LOOP, False, _AVG), engine=Sampler(min_size=1.0),
        fix="use aligned_mode=half_pixel_for_nn"),
    Dialect(
        id="openvino_half_pixel_for_nn", name="OpenVINO ROIAlign-9 aligned_mode=half_pixel_for_nn",
        produced_by=("OpenVINO ROIAlign-9 aligned_mode=half_pixel_for_nn, mode=avg",
                     "OpenVINO's ONNX frontend for ONNX half_pixel"),
        status=RUN_HERE, rules=_tv_align_rules(_OV, _OV_LOOP, True, _AVG), engine=Sampler(offset=0.5),
        fix="nothing: equal to roi_align(aligned=True)"),
    Dialect(
        id="openvino_half_pixel", name="OpenVINO ROIAlign-9 aligned_mode=half_pixel",
        produced_by=("OpenVINO ROIAlign-9 aligned_mode=half_pixel, mode=avg",),
        status=RUN_HERE,
        rules=_rules(_OV, _OV_LOOP, box="[x1, y1, x2, y2] absolute",
                     offset="(x + 0.5) * spatial_scale - 0.5: the offset is applied in image pixels AND in "
                            "feature cells (equal to aligned=False only when spatial_scale = 1)",
                     end="no +1", minimum_size="none", rounding="none", sampling=_ADAPTIVE,
                     reduction=_AVG, off_the_map=_TV_OFF),
        engine=Sampler(offset_src=0.5, offset=0.5),
        fix="use aligned_mode=half_pixel_for_nn (the name is a trap: that one is ONNX's half_pixel)"),
    Dialect(
        id="openvino_align_max", name="OpenVINO ROIAlign-9 mode=max (running max from 0)",
        produced_by=("OpenVINO ROIAlign-9 mode=max, aligned_mode=half_pixel_for_nn (CPU plugin)",),
        status=RUN_HERE,
        rules=_tv_align_rules(_OV, _OV_LOOP, True, "max of the interpolated values, but the running maximum "
                              "starts at 0: a bin whose samples are all negative gives 0"),
        engine=Sampler(offset=0.5, reduce="max_from_zero"),
        fix="on maps with negative values mode=max is clipped at 0: use mode=avg, or compare after a ReLU"),
    _trt_pyramid(-1), _trt_pyramid(0), _trt_pyramid(1), _trt_pyramid(2),
    Dialect(
        id="trt_multilevel_crop_and_resize", name="TensorRT MultilevelCropAndResize",
        produced_by=("TensorRT MultilevelCropAndResize_TRT (one level)",),
        status=PORTED,
        rules=_rules(_TRT_MLCR, _TRT_BILINEAR,
                     box="[y1, x1, y2, x2] absolute, divided by 2^level (= times spatial_scale); boxes "
                         "outside the image or empty are skipped (their output is left unwritten)",
                     offset="none", end="no +1", minimum_size="none", rounding="none",
                     sampling="one sample at each bin's centre", reduction="none (one sample per bin)",
                     off_the_map="samples clamped to [0, H - 1]"),
        engine=Sampler(grid="one", margin=math.inf), layouts=("yxyx",),
        fix="one sample per bin and no -0.5: use PyramidROIAlign with roi_coords_transform=2"),
    Dialect(
        id="keras_cv_align", name="KerasCV _ROIAligner",
        produced_by=("keras_cv.layers._ROIAligner (bounding_box_format='yxyx', sample_offset=0.5), "
                     "one pyramid level",),
        status=RUN_HERE,
        rules=_rules(_KERAS_ML, _KERAS,
                     box="[y1, x1, y2, x2] absolute pixels, divided by 2^level", offset="none",
                     end="no +1", minimum_size="none", rounding="none",
                     sampling="one sample per bin at (i + sample_offset) * size / bins (sample_offset 0.5)",
                     reduction="none (one sample per bin)",
                     off_the_map="floor(x) is clamped, not x: below 0 the line through cells 0 and 1 is "
                                 "extrapolated linearly; beyond H - 1 the edge value is kept"),
        engine=Sampler(grid="one", margin=math.inf, extrapolate_below=True), layouts=("yxyx",),
        fix="one sample per bin, no -0.5: torchvision roi_align(aligned=False, sampling_ratio=1) on boxes "
            "at least a cell wide and inside the map gives the same numbers"),
    *(_coreml(m) for m in ("strict_align_corners", "align_corners", "default", "offset_corners",
                           "unalign_corners")),
    Dialect(
        id="mindspore_align_end1", name="MindSpore ROIAlign roi_end_mode=1",
        produced_by=("mindspore.ops.ROIAlign(roi_end_mode=1) (the default), CPU kernel",),
        status=PORTED,
        rules=_rules(_MS, _MS_BILINEAR, box="[x1, y1, x2, y2] absolute (rows of 5 with a batch index)",
                     offset="none", end="+1 before scaling: end = (x2 + 1) * spatial_scale",
                     minimum_size="none in mode 1 (mode 0 raises to 1 cell)", rounding="none",
                     sampling="sample_num per side; 0 is adaptive floor(roi / bins) (not ceil: a RoI "
                              "smaller than its bins gives 0 / 0 = NaN)",
                     reduction=_AVG, off_the_map=_TV_OFF),
        engine=Sampler(end_plus=1.0, adaptive="floor"),
        fix="set roi_end_mode=0 for aligned=False's numbers (MindSpore has no -0.5 mode on CPU)"),
    Dialect(
        id="prroi_authors", name="Precise RoI Pooling (authors' kernel)",
        produced_by=("vacancy/PreciseRoIPooling prroi_pool2d (CUDA)",),
        status=PORTED,
        rules=_rules(_PRROI, _PRROI_DATA, box="[x1, y1, x2, y2] absolute, times spatial_scale",
                     offset="none: cell values at integer coordinates", end="no +1",
                     minimum_size="none (an empty bin gives 0)", rounding="none",
                     sampling="none: the exact integral of the bilinear interpolant over the bin",
                     reduction="integral / bin area",
                     off_the_map="the plane outside the map is zero (no edge clamp)"),
        engine=Pooler("integral"), fix="no sampling setting reaches it; roiviz's precise_roi_pool is the "
                                       "aligned=True version (-0.5, edge clamp)"),
    Dialect(
        id="mnc_warp", name="MNC ROIWarping (released layer)",
        produced_by=("caffe-mnc ROIWarping layer (MNC, Dai et al. 2016)",),
        status=PORTED,
        rules=_rules(_MNC, _MNC_BILINEAR, box="[x1, y1, x2, y2] absolute, times spatial_scale",
                     offset="none", end="no +1", minimum_size="none (width max(x2 - x1, 0) after rounding)",
                     rounding="round the corners (halves away from zero)",
                     sampling="one bilinear sample at each bin's start (top-left)",
                     reduction="none (one sample per output cell)",
                     off_the_map="a sample beyond -0.5 / H - 0.5 gives 0; inside, clamped to the edge"),
        engine=Sampler(round_box=True, grid="one", sample_offset=0.0, margin=0.5),
        fix="round, then one sample per bin: roiviz's RoI Warp is the aligned=True version of this idea"),
)

BY_ID: dict[str, Dialect] = {d.id: d for d in DIALECTS}

#: Dialects that give the same numbers on every input (same rules, different names); each group
#: is tested on random inputs in tests/test_conventions.py.
EQUAL_EVERYWHERE: tuple[frozenset[str], ...] = (
    frozenset({"tv_align", "openvino_half_pixel_for_nn"}),
    frozenset({"tv_align_legacy", "openvino_asymmetric"}),
)
