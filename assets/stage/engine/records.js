// What a trace is (mirrors roiviz/records.py): plain objects shaped like MethodTrace.to_dict()
// (without `notes`). Rectangles [x1, y1, x2, y2] and points are in the drawing frame (feature
// units); cells are [row, col].

import { checkBoxCells, checkScale, normalizeBox, rectArea, rectIntersection, CONVENTIONS } from "./geometry.js";

export const METHODS = ["roi_pool", "roi_warp", "roi_align", "precise_roi_pool"];
export const METHOD_LABELS = {
  roi_pool: "RoI Pool", roi_warp: "RoI Warp", roi_align: "RoI Align",
  precise_roi_pool: "Precise RoI Pooling",
};
export const REDUCES = ["avg", "max"];
export const MAX_TRACE_OUTPUT = 32;
// roiviz.geometry's bounds (tests/test_stage_engine.py checks they agree): a trace records every
// sample up to SAMPLE_BUDGET, past it every k-th row and column (at most RECORDED_PER_SIDE per
// bin side, drawing.thinned), and computes at most LIVE_SAMPLE_LIMIT samples per method.
export const SAMPLE_BUDGET = 4096;
export const LIVE_SAMPLE_LIMIT = 1048576;
export const RECORDED_PER_SIDE = 4;
export const DEFAULT_SETTINGS = {
  output_size: [3, 3], stride: 32.0, sampling_ratio: -1, aligned: true, reduce: "avg",
  convention: "library",
};

// Validate a trace's inputs like check_trace_args (same messages); returns
// [values (Float32Array, row-major H*W), imageBox (corners sorted), settings (defaults filled)].
export function checkTraceArgs(feature, box, settings) {
  const { height, width } = feature || {};
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1 ||
      !feature.values || feature.values.length !== height * width) {
    throw new Error("feature must be {values: Float32Array(H*W), height: H, width: W} with H, W >= 1");
  }
  const values = feature.values instanceof Float32Array ? feature.values : Float32Array.from(feature.values);
  if (!values.every(Number.isFinite)) throw new Error("feature contains NaN or infinite values");
  const s = {};  // exactly Settings' fields, defaults filled in
  for (const key in DEFAULT_SETTINGS) s[key] = settings && key in settings ? settings[key] : DEFAULT_SETTINGS[key];
  s.output_size = Array.from(s.output_size);
  ["output height", "output width"].forEach((name, i) => {
    const v = s.output_size[i];
    if (!Number.isInteger(v) || v < 1 || v > MAX_TRACE_OUTPUT) {
      throw new Error(`${name} must be an integer in 1..${MAX_TRACE_OUTPUT}, got ${v}`);
    }
  });
  if (typeof s.stride !== "number" || !Number.isFinite(s.stride) || s.stride <= 0) {
    throw new Error(`stride must be a finite number > 0, got ${s.stride}`);
  }
  if (!Number.isInteger(s.sampling_ratio)) {
    throw new Error(`sampling_ratio must be an integer (<= 0 for adaptive), got ${s.sampling_ratio}`);
  }
  if (!REDUCES.includes(s.reduce)) throw new Error(`reduce must be one of ('avg', 'max'), got '${s.reduce}'`);
  if (!CONVENTIONS.includes(s.convention)) {
    throw new Error(`convention must be one of ('library', 'article'), got '${s.convention}'`);
  }
  s.aligned = Boolean(s.aligned);
  const scale = checkScale(s.stride);
  const imageBox = normalizeBox(box);
  checkBoxCells(imageBox, scale);
  const w = imageBox[2] - imageBox[0], h = imageBox[3] - imageBox[1];
  if (w <= 0 || h <= 0) throw new Error(`box must have a positive width and height, got ${w} x ${h} pixels`);
  return [values, imageBox, s];
}

// The RoI in feature units (drawing frame): the float32 image box divided by the stride.
export function featureRect(imageBox, stride) {
  return imageBox.map((v) => Math.fround(v) / stride);
}

// Lost, gained and outside areas of a read region against a RoI, in square cells, as in
// Areas plus the *_pixels, *_percent and iou entries of MethodTrace.to_dict().
export function regionAreas(roi, read, mapShape, stride) {
  const featureMap = [0.0, 0.0, mapShape[1], mapShape[0]];
  const roiOnMap = rectIntersection(roi, featureMap);
  const readOnMap = rectIntersection(read, featureMap);
  const a = {
    roi: rectArea(roi),
    read: rectArea(read),
    lost: rectArea(roiOnMap) - rectArea(rectIntersection(roiOnMap, read)),
    gained: rectArea(readOnMap) - rectArea(rectIntersection(readOnMap, roi)),
    outside: rectArea(roi) - rectArea(roiOnMap),
    overlap: rectArea(rectIntersection(roi, read)),
    stride,
  };
  for (const k of ["lost", "gained", "outside"]) a[`${k}_pixels`] = a[k] * (stride * stride);
  for (const k of ["lost", "gained", "outside"]) a[`${k}_percent`] = a.roi > 0 ? (100.0 * a[k]) / a.roi : 0.0;
  const union = a.roi + a.read - a.overlap;
  a.iou = union > 0 ? a.overlap / union : 0.0;
  return a;
}

// One output cell (Bin.asdict): only the fields a method sets are passed.
export function makeBin(fields) {
  return { row: 0, col: 0, rect: null, value: 0.0, cells: [], argmax: null, samples: [],
           winner: null, cell_weights: [], ...fields };
}

// A whole trace (MethodTrace.to_dict() minus notes); output is [PH][PW] from the bins' values.
export function makeTrace({ method, settings, imageBox, roi, snappedBox = null, sampledBox = null,
                            readRegion = null, grid = [0, 0], bins, mapShape, sampleStep = [1, 1] }) {
  const [pooledH, pooledW] = settings.output_size;
  const output = [];
  for (let ph = 0; ph < pooledH; ph++) output.push(bins.slice(ph * pooledW, (ph + 1) * pooledW).map((b) => b.value));
  return {
    method, label: METHOD_LABELS[method], settings, image_box: imageBox, roi,
    snapped_box: snappedBox, sampled_box: sampledBox, read_region: readRegion, grid,
    map_shape: mapShape, output, areas: regionAreas(roi, readRegion, mapShape, settings.stride), bins,
    ...(sampleStep[0] !== 1 || sampleStep[1] !== 1 ? { sample_step: sampleStep } : {}),
  };
}
