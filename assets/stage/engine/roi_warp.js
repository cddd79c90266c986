// RoI Warp (MNC, Dai et al. 2016; mirrors roiviz/roi_warp.py): snap the box like RoI Pool
// (same convention), then sample the snapped box with RoI Align (aligned=true, scale 1).
// With the library convention the snapped box is (x1q, y1q, x2q + 1, y2q + 1) in cells.

import { f32, snapBox } from "./geometry.js";
import { checkTraceArgs } from "./records.js";
import { alignTraceFromMapping } from "./roi_align.js";

// Snap [u1, u2] (float32 feature units) and map the snapped box as aligned RoI Align does:
// [start - 0.5, length] in float32, library frame.
export function warpMapping(u1, u2, convention) {
  const [start, length] = snapBox(u1, u2, convention);
  return [f32(f32(start) - 0.5), f32(length)];
}

// Trace RoI Warp: the snapped box, then RoI Align's bins and samples on it.
export function traceRoiWarp(feature, box, settings) {
  const [values, imageBox, s] = checkTraceArgs(feature, box, settings);
  const scale = f32(1 / s.stride);
  const [x1, y1, x2, y2] = imageBox.map((v) => f32(f32(v) * scale));
  const mappingX = warpMapping(x1, x2, s.convention);
  const mappingY = warpMapping(y1, y2, s.convention);
  const left = mappingX[0] + 0.5, top = mappingY[0] + 0.5;
  const snapped = [left, top, left + mappingX[1], top + mappingY[1]];
  return alignTraceFromMapping("roi_warp", values, feature, imageBox, s, mappingY, mappingX, snapped, snapped);
}
