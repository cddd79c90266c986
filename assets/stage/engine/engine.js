// All four methods on one RoI (mirrors roiviz/traces.py): the stage's entry point.
// traceMethod(method, feature, box, settings) -> trace; traceAll(feature, box, settings, methods).
// feature: {values: Float32Array (row-major H*W), height, width}; box: [x1, y1, x2, y2] image
// pixels; settings: {output_size: [PH, PW], stride, sampling_ratio, aligned, reduce, convention}.

import { rectDifference, rectIntersection } from "./geometry.js";
import { METHODS } from "./records.js";
import { traceRoiPool } from "./roi_pool.js";
import { traceRoiWarp } from "./roi_warp.js";
import { traceRoiAlign } from "./roi_align.js";
import { tracePreciseRoiPool } from "./precise_roi_pool.js";

export const TRACERS = {
  roi_pool: traceRoiPool, roi_warp: traceRoiWarp, roi_align: traceRoiAlign,
  precise_roi_pool: tracePreciseRoiPool,
};

// Trace one method; throws an Error (message as in roiviz) for bad arguments.
export function traceMethod(method, feature, box, settings) {
  if (!(method in TRACERS)) {
    throw new Error(`method must be one of ('${METHODS.join("', '")}'), got '${method}'`);
  }
  return TRACERS[method](feature, box, settings);
}

// Trace several methods on the same map and box; keys in teaching order.
export function traceAll(feature, box, settings, methods = METHODS) {
  const unknown = methods.filter((m) => !METHODS.includes(m));
  if (unknown.length) throw new Error(`methods must be among ('${METHODS.join("', '")}'), got ${unknown}`);
  const traces = {};
  for (const m of METHODS) if (methods.includes(m)) traces[m] = traceMethod(m, feature, box, settings);
  return traces;
}

// The "lost", "gained" or "outside" region of a trace as disjoint rectangles
// (MethodTrace.region_rects): lost = (RoI on the map) - read region, gained = (read region on
// the map) - RoI, outside = RoI - map.
export function regionRects(trace, name) {
  const map = [0.0, 0.0, trace.map_shape[1], trace.map_shape[0]];
  if (name === "lost") return rectDifference(rectIntersection(trace.roi, map), trace.read_region);
  if (name === "gained") return rectDifference(rectIntersection(trace.read_region, map), trace.roi);
  if (name === "outside") return rectDifference(trace.roi, map);
  throw new Error(`region must be 'lost', 'gained' or 'outside', got '${name}'`);
}

// Largest |difference| between two traces' outputs (e.g. browser vs server); Infinity if the
// shapes differ.
export function largestDifference(a, b) {
  const x = a.output.flat(), y = b.output.flat();
  if (x.length !== y.length) return Infinity;
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0);
}
