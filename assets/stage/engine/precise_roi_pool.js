// Precise RoI Pooling (Jiang et al., ECCV 2018, Section 3.3; mirrors roiviz/precise_roi_pool.py):
// each bin's value is the exact integral of RoI Align's bilinear interpolant over the bin,
// divided by the bin's area. Separable: value = Iy . F . Ix / area. Float64 throughout (the
// integrals are differences of nearby numbers); aligned=true frame and the kernels' border rules.

import { alignMapping, f32 } from "./geometry.js";
import { interpolantIntegral } from "./bilinear.js";
import { checkTraceArgs, featureRect, makeBin, makeTrace } from "./records.js";

// Each bin's integral weights along one axis times 1 / the bin's length: [pooled][size]
// (all zeros for a bin of length <= 0).
export function binIntegrals(start, length, pooled, size) {
  const binSize = length / pooled;
  const inverse = binSize > 0 ? 1.0 / binSize : 0.0;
  const rows = [];
  for (let p = 0; p < pooled; p++) {
    const lo = start + p * binSize;
    rows.push(interpolantIntegral(lo, lo + binSize, size).map((v) => v * inverse));
  }
  return rows;
}

// Trace Precise RoI Pooling: bins, each cell's share of each bin (cell_weights), output.
export function tracePreciseRoiPool(feature, box, settings) {
  const [values, imageBox, s] = checkTraceArgs(feature, box, settings);
  const { height, width } = feature;
  const [x1, y1, x2, y2] = imageBox.map(f32);
  const scale = f32(1 / s.stride);
  const noRound = (v) => v;
  const [startX, lengthX] = alignMapping(x1, x2, scale, true, noRound);
  const [startY, lengthY] = alignMapping(y1, y2, scale, true, noRound);
  const [pooledH, pooledW] = s.output_size;
  const wy = binIntegrals(startY, lengthY, pooledH, height);            // [PH][H]
  const wx = binIntegrals(startX, lengthX, pooledW, width);             // [PW][W]
  const binH = lengthY / pooledH, binW = lengthX / pooledW;
  const left = startX + 0.5, top = startY + 0.5;
  const bins = [];
  for (let ph = 0; ph < pooledH; ph++) {
    const rowMix = new Float64Array(width);                             // (wy @ F)[ph]
    for (let r = 0; r < height; r++) {
      if (wy[ph][r]) for (let c = 0; c < width; c++) rowMix[c] += wy[ph][r] * values[r * width + c];
    }
    for (let pw = 0; pw < pooledW; pw++) {
      let value = 0.0;
      for (let c = 0; c < width; c++) value += rowMix[c] * wx[pw][c];
      const cells = [];
      for (let r = 0; r < height; r++) {
        for (let c = 0; c < width; c++) {
          const share = wy[ph][r] * wx[pw][c];
          if (share !== 0) cells.push([[r, c], share]);
        }
      }
      bins.push(makeBin({
        row: ph, col: pw, value: f32(value), cell_weights: cells,
        rect: [left + pw * binW, top + ph * binH, left + (pw + 1) * binW, top + (ph + 1) * binH],
      }));
    }
  }
  const roi = featureRect(imageBox, s.stride);
  return makeTrace({
    method: "precise_roi_pool", settings: s, imageBox, roi, sampledBox: roi, readRegion: roi,
    bins, mapShape: [height, width],
  });
}
