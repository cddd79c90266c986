// RoI Align (Mask R-CNN, Section 3; mirrors roiviz/roi_align.py): no quantization anywhere.
// Map the box with floats, cut it into PH x PW bins, sample each bin at a gy x gx grid, read
// every sample bilinearly from its four neighbours, then average (avg) or take the max (max).
// Numbers follow torchvision's roi_align_kernel.cpp in float32 (f32 after every operation).

import { alignMapping, f32, sampleCoords, samplingGrid } from "./geometry.js";
import { linearWeights } from "./bilinear.js";
import { checkTraceArgs, featureRect, LIVE_SAMPLE_LIMIT, makeBin, makeTrace, RECORDED_PER_SIDE, SAMPLE_BUDGET } from "./records.js";

// Trace RoI Align: bins, samples, neighbours, weights, output.
export function traceRoiAlign(feature, box, settings) {
  const [values, imageBox, s] = checkTraceArgs(feature, box, settings);
  const [x1, y1, x2, y2] = imageBox.map(f32);
  const scale = f32(1 / s.stride);
  const mappingX = alignMapping(x1, x2, scale, s.aligned);
  const mappingY = alignMapping(y1, y2, scale, s.aligned);
  // The sampled box in the drawing frame, in float64 so that it is the RoI when aligned.
  const roi = featureRect(imageBox, s.stride);
  const shift = s.aligned ? 0.0 : 0.5;
  let w = roi[2] - roi[0], h = roi[3] - roi[1];
  if (!s.aligned) [w, h] = [Math.max(w, 1.0), Math.max(h, 1.0)];
  const sampled = [roi[0] + shift, roi[1] + shift, roi[0] + shift + w, roi[1] + shift + h];
  return alignTraceFromMapping("roi_align", values, feature, imageBox, s, mappingY, mappingX, sampled, null);
}

// RoI Align's trace from a mapped box (shared with RoI Warp). mappingY, mappingX: float32
// [start, length] in the library frame; sampledBox: the same box in the drawing frame.
export function alignTraceFromMapping(method, values, feature, imageBox, s, mappingY, mappingX,
                                      sampledBox, snappedBox) {
  const [[startY, lengthY], [startX, lengthX]] = [mappingY, mappingX];
  const [pooledH, pooledW] = s.output_size;
  const { height, width } = feature;
  const gy = Math.max(samplingGrid(lengthY, pooledH, s.sampling_ratio), 0);
  const gx = Math.max(samplingGrid(lengthX, pooledW, s.sampling_ratio), 0);
  const total = pooledH * pooledW * gy * gx;
  if (total > LIVE_SAMPLE_LIMIT) {
    throw new Error(`${total} samples are too many to compute (at most ` +
                    `${LIVE_SAMPLE_LIMIT}): choose a smaller sampling_ratio than ${gy}`);
  }
  const cy = sampleCoords(startY, lengthY, pooledH, gy);                 // [PH][gy]
  const cx = sampleCoords(startX, lengthX, pooledW, gx);                 // [PW][gx]
  const wy = cy.map((row) => row.map((c) => linearWeights(c, height)));  // [low, high, wl, wh]
  const wx = cx.map((row) => row.map((c) => linearWeights(c, width)));
  const count = Math.max(gy * gx, 1);
  const binH = lengthY / pooledH, binW = lengthX / pooledW;
  // Drawing frame = library frame + 0.5 (a cell's value sits at its centre).
  const left = startX + 0.5, top = startY + 0.5;
  // Past the sample budget the trace records every k-th sample row and column of each bin
  // (drawing.thinned.thinned_trace: rows k // 2, k // 2 + k, ...), and every bin's value still
  // comes from all its samples, with the same float32 arithmetic in the same order.
  const thin = total > SAMPLE_BUDGET;
  const ky = thin ? Math.max(1, Math.ceil(gy / RECORDED_PER_SIDE)) : 1;
  const kx = thin ? Math.max(1, Math.ceil(gx / RECORDED_PER_SIDE)) : 1;
  const bins = [];
  for (let ph = 0; ph < pooledH; ph++) {
    for (let pw = 0; pw < pooledW; pw++) {
      const rect = [left + pw * binW, top + ph * binH, left + (pw + 1) * binW, top + (ph + 1) * binH];
      if (thin) {
        bins.push(makeBin({ row: ph, col: pw, rect, ...thinnedBin(values, width, wy[ph], wx[pw], cy[ph], cx[pw], ky, kx, count, s.reduce) }));
        continue;
      }
      const samples = [];
      for (let iy = 0; iy < gy; iy++) {
        for (let ix = 0; ix < gx; ix++) {
          const [rLo, rHi, wyl, wyh] = wy[ph][iy], [cLo, cHi, wxl, wxh] = wx[pw][ix];
          const weights = [f32(wyl * wxl), f32(wyl * wxh), f32(wyh * wxl), f32(wyh * wxh)];
          const neighbours = [[rLo, cLo], [rLo, cHi], [rHi, cLo], [rHi, cHi]];
          let value = 0;
          neighbours.forEach(([r, c], k) => { value = f32(value + f32(weights[k] * values[r * width + c])); });
          samples.push({ x: cx[pw][ix] + 0.5, y: cy[ph][iy] + 0.5, neighbours, weights, value,
                         on_map: weights[0] + weights[1] + weights[2] + weights[3] > 0 });
        }
      }
      let value = 0.0, winner = null;
      if (samples.length && s.reduce === "avg") {
        value = f32(samples.reduce((sum, smp) => f32(sum + smp.value), 0) / count);
      } else if (samples.length) {
        winner = 0;  // first maximum, like numpy's argmax
        samples.forEach((smp, k) => { if (smp.value > samples[winner].value) winner = k; });
        value = samples[winner].value;
      }
      bins.push(makeBin({
        row: ph, col: pw, value, samples, winner, rect,
        cell_weights: sampleCellWeights(samples, count, winner, s.reduce, width),
      }));
    }
  }
  return makeTrace({
    method, settings: s, imageBox, roi: featureRect(imageBox, s.stride), snappedBox,
    sampledBox, readRegion: sampledBox, grid: [gy, gx], bins, mapShape: [height, width],
    sampleStep: [ky, kx],
  });
}

// One bin past the sample budget: its value from every sample (the arithmetic of the recorded
// path above, without a record per sample) and the records of every ky-th row, kx-th column.
// wy, wx: the bin's [low, high, wl, wh] per sample row / column; cy, cx: their coordinates.
function thinnedBin(values, width, wy, wx, cy, cx, ky, kx, count, reduce) {
  const samples = [];
  let sum = 0, best = -Infinity, any = false;
  for (let iy = 0; iy < wy.length; iy++) {
    const [rLo, rHi, wyl, wyh] = wy[iy];
    const keepRow = iy % ky === (ky >> 1);
    for (let ix = 0; ix < wx.length; ix++) {
      const [cLo, cHi, wxl, wxh] = wx[ix];
      const w0 = f32(wyl * wxl), w1 = f32(wyl * wxh), w2 = f32(wyh * wxl), w3 = f32(wyh * wxh);
      let v = f32(0 + f32(w0 * values[rLo * width + cLo]));
      v = f32(v + f32(w1 * values[rLo * width + cHi]));
      v = f32(v + f32(w2 * values[rHi * width + cLo]));
      v = f32(v + f32(w3 * values[rHi * width + cHi]));
      sum = f32(sum + v);
      if (!any || v > best) best = v;
      any = true;
      if (keepRow && ix % kx === (kx >> 1)) {
        samples.push({ x: cx[ix] + 0.5, y: cy[iy] + 0.5, neighbours: [[rLo, cLo], [rLo, cHi], [rHi, cLo], [rHi, cHi]],
                       weights: [w0, w1, w2, w3], value: v, on_map: w0 + w1 + w2 + w3 > 0 });
      }
    }
  }
  const value = !any ? 0.0 : (reduce === "avg" ? f32(sum / count) : best);
  return { value, samples, winner: null, cell_weights: [] };
}

// d(bin value) / d(cell): the samples' weights over the count (avg) or the winner's (max),
// as [[row, col], weight] sorted row-major.
function sampleCellWeights(samples, count, winner, reduce, width) {
  const chosen = reduce === "avg" ? samples : (winner === null ? [] : [samples[winner]]);
  const scale = reduce === "avg" ? 1.0 / count : 1.0;
  const total = new Map();
  for (const smp of chosen) {
    smp.neighbours.forEach(([r, c], k) => {
      const key = r * width + c;
      if (smp.weights[k]) total.set(key, (total.get(key) ?? 0.0) + smp.weights[k] * scale);
    });
  }
  return [...total.keys()].sort((a, b) => a - b).map((key) => [[Math.floor(key / width), key % width], total.get(key)]);
}
