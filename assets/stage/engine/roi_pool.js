// RoI Pool (Fast R-CNN, Section 2.1; mirrors roiviz/roi_pool.py): two quantizations, then max.
// 1. snap the box to whole cells (snapBox); 2. cut it into PH x PW bins of whole cells
// (poolBins); 3. each bin gives the max of its cells (0 if none), the gradient goes to that cell.

import { f32, poolBins, snapBox } from "./geometry.js";
import { checkTraceArgs, featureRect, makeBin, makeTrace } from "./records.js";

// Both quantizations for one box, in float32 like the kernels:
// returns [[startX, lengthX, startY, lengthY], [rowLo, rowHi], [colLo, colHi]].
export function poolGeometry(imageBox, spatialScale, outputSize, mapShape, convention) {
  const [x1, y1, x2, y2] = imageBox.map(f32);
  const [sx, lx] = snapBox(f32(x1 * spatialScale), f32(x2 * spatialScale), convention);
  const [sy, ly] = snapBox(f32(y1 * spatialScale), f32(y2 * spatialScale), convention);
  const rows = poolBins(sy, ly, outputSize[0], mapShape[0], convention);
  const cols = poolBins(sx, lx, outputSize[1], mapShape[1], convention);
  return [[sx, lx, sy, ly], rows, cols];
}

// Trace RoI Pool on one map: snapped box, bins, cells read, argmax, output.
// read_region is the union of the bins (article convention: minus the dropped lines).
export function traceRoiPool(feature, box, settings) {
  const [values, imageBox, s] = checkTraceArgs(feature, box, settings);
  const { height, width } = feature;
  const [pooledH, pooledW] = s.output_size;
  const [[sx, lx, sy, ly], [rowLo, rowHi], [colLo, colHi]] = poolGeometry(
    imageBox, f32(1 / s.stride), s.output_size, [height, width], s.convention);
  const bins = [];
  for (let ph = 0; ph < pooledH; ph++) {
    for (let pw = 0; pw < pooledW; pw++) {
      const [r0, r1, c0, c1] = [rowLo[ph], rowHi[ph], colLo[pw], colHi[pw]];
      const cells = [];
      let argmax = null, best = 0.0;
      for (let r = r0; r < r1; r++) {
        for (let c = c0; c < c1; c++) {
          cells.push([r, c]);
          // The kernels' scan: strict ">" keeps the first maximum (row-major).
          if (argmax === null || values[r * width + c] > best) [argmax, best] = [[r, c], values[r * width + c]];
        }
      }
      bins.push(makeBin({
        row: ph, col: pw, rect: cells.length ? [c0, r0, c1, r1] : null, value: best, cells, argmax,
        cell_weights: argmax === null ? [] : [[argmax, 1.0]],
      }));
    }
  }
  const used = bins.filter((b) => b.rect !== null).map((b) => b.rect);
  const read = used.length ? [Math.min(...used.map((r) => r[0])), Math.min(...used.map((r) => r[1])),
                              Math.max(...used.map((r) => r[2])), Math.max(...used.map((r) => r[3]))] : null;
  return makeTrace({
    method: "roi_pool", settings: s, imageBox, roi: featureRect(imageBox, s.stride),
    snappedBox: [sx, sy, sx + lx, sy + ly], readRegion: read, bins, mapShape: [height, width],
  });
}
