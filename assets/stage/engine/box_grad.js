// Box gradients d output / d (x1, y1, x2, y2) for one method on one box (mirrors
// roiviz/box_gradients.py; read its docstring for the derivation). Float64 throughout, from the
// same float32 sample coordinates the trace used.
// Every method is separable, out[p][q] = Ay[p] . F . Ax[q], so a box edge moves one axis's
// weights only: d out / d x1 = Ay . F . (d Ax / d x1).
// - RoI Align: a sample at c = start + (p + (i + 0.5) / g) * length / P moves by s (1 - t) per
//   pixel of x1 and s t per pixel of x2 (t = (p + (i + 0.5) / g) / P, s = 1 / stride); its
//   weights change at slope -1 / +1 on its two neighbours: the derivative jumps when c crosses a
//   cell centre (a whole-number coordinate). Clamped (border) or off-map samples have slope 0.
// - RoI Warp: the same on the snapped box, the rounding passed through (MNC's coordinate backward).
// - Precise RoI Pooling: Leibniz rule, d A / d X1 = (A - a(X1)) / width: continuous in the box.
// - RoI Pool: zero (piecewise constant): no gradient is returned (null).

import { alignMapping, f32, sampleCoords, samplingGrid, snapBox } from "./geometry.js";
import { interpolantIntegral, linearWeights } from "./bilinear.js";
import { checkTraceArgs } from "./records.js";
import { traceMethod } from "./engine.js";

export const TARGET_KINDS = ["all", "bin", "match"];
export const BOX_COORDS = ["x1", "y1", "x2", "y2"];
const float64 = (v) => v;

// Per-sample weights (w) and their derivatives (d1, d2: with respect to the low and high edge of
// the box, image pixels) along one axis: arrays [P][G] of Float64Array(size). With `means`, each
// bin's average over its samples instead, [P][1] (what avg pooling reads), accumulated in place
// (sample by sample, as mean() of the per-sample arrays would: the same float64 sums) without
// one array per sample: a drag frame's arrows need only these.
function sampleAxis(start, length, dStart, dLength, pooled, grid, size, means = false) {
  const coords = sampleCoords(start, length, pooled, grid);
  const g = Math.max(grid, 1);
  const w = [], d1 = [], d2 = [];
  for (let p = 0; p < pooled; p++) {
    const wr = [], r1 = [], r2 = [];
    let ws, s1, s2;
    if (means) { ws = new Float64Array(size); s1 = new Float64Array(size); s2 = new Float64Array(size); }
    for (let i = 0; i < grid; i++) {
      const c = coords[p][i];
      const [low, high, wl, wh] = linearWeights(c, size);
      if (!means) { ws = new Float64Array(size); s1 = new Float64Array(size); s2 = new Float64Array(size); }
      // One sample's contribution: wl at low and wh at high (their sum where both are one cell).
      if (low === high) ws[low] += wl + wh; else { ws[low] += wl; ws[high] += wh; }
      if (c >= 0.0 && c <= size && Math.floor(c) < size - 1) {   // here low < high
        const t = (p + (i + 0.5) / g) / pooled;
        const dc1 = dStart[0] + dLength[0] * t, dc2 = dStart[1] + dLength[1] * t;
        s1[low] -= dc1; s1[high] += dc1; s2[low] -= dc2; s2[high] += dc2;
      }
      if (!means) { wr.push(ws); r1.push(s1); r2.push(s2); }
    }
    if (means) {
      for (let j = 0; j < size; j++) { ws[j] /= g; s1[j] /= g; s2[j] /= g; }
      wr.push(ws); r1.push(s1); r2.push(s2);
    }
    w.push(wr); d1.push(r1); d2.push(r2);
  }
  return { w, d1, d2 };
}

// Each cell's weight in the interpolant at a float64 point.
function pointWeights(x, size) {
  const [low, high, wl, wh] = linearWeights(x, size, float64);
  const out = new Float64Array(size);
  out[low] += wl; out[high] += wh;
  return out;
}

// Precise RoI Pooling along one axis: normalised bin integrals and their derivatives, [P][1].
function preciseAxis(u1, u2, scale, pooled, size) {
  const [start, length] = alignMapping(u1, u2, scale, true, float64);
  const binSize = length / pooled;
  const inverse = binSize > 0 ? 1.0 / binSize : 0.0;
  const w = [], d1 = [], d2 = [];
  for (let q = 0; q < pooled; q++) {
    const lo = start + q * binSize, hi = lo + binSize;
    const a = interpolantIntegral(lo, hi, size).map((v) => v * inverse);
    const eLo = pointWeights(lo, size), eHi = pointWeights(hi, size);
    const fLo = q / pooled, fHi = (q + 1) / pooled;
    const r1 = new Float64Array(size), r2 = new Float64Array(size);
    for (let j = 0; j < size; j++) {
      const dLo = (a[j] - eLo[j]) * inverse, dHi = (eHi[j] - a[j]) * inverse;
      r1[j] = dLo * (scale * (1 - fLo)) + dHi * (scale * (1 - fHi));
      r2[j] = dLo * (scale * fLo) + dHi * (scale * fHi);
    }
    w.push([a]); d1.push([r1]); d2.push([r2]);
  }
  return { w, d1, d2 };
}

// One axis of one method: {w, d1, d2} as in sampleAxis (per bin means with `means`; Precise RoI
// Pooling has one "sample" per bin, its normalised integral, either way).
function methodAxis(method, u1, u2, s, pooled, size, means = false) {
  const scale = f32(1 / s.stride);
  if (method === "precise_roi_pool") return preciseAxis(f32(u1), f32(u2), scale, pooled, size);
  let start, length, moves;
  if (method === "roi_align") {
    [start, length] = alignMapping(f32(u1), f32(u2), scale, s.aligned);
    const raw = f32(f32(f32(f32(u2) * scale) - (s.aligned ? 0.5 : 0.0)) - start);
    moves = s.aligned || raw >= 1.0;   // aligned=false widens a thin RoI to one cell
  } else {
    const v1 = f32(f32(u1) * scale), v2 = f32(f32(u2) * scale);
    const [snapped, cells] = snapBox(v1, v2, s.convention);
    start = f32(f32(snapped) - 0.5); length = f32(cells);
    moves = true;   // straight through, even where the length was raised to one cell (roiviz.roi_warp)
  }
  const grid = Math.max(samplingGrid(length, pooled, s.sampling_ratio), 0);
  return sampleAxis(start, length, [scale, 0.0], moves ? [-scale, scale] : [0.0, 0.0], pooled, grid, size, means);
}

function dot3(a, values, width, b) {   // a . F . b for Float64Arrays a [H], b [W]
  let total = 0.0;
  for (let r = 0; r < a.length; r++) {
    if (!a[r]) continue;
    let row = 0.0;
    for (let c = 0; c < width; c++) row += values[r * width + c] * b[c];
    total += a[r] * row;
  }
  return total;
}

// Each bin's average along both axes (avg pooling, Precise RoI Pooling): {y: {w, d1, d2} [PH] of
// Float64Array(H), x: the same [PW] of Float64Array(W)}.
function meanAxes(method, imageBox, s, height, width) {
  const [pooledH, pooledW] = s.output_size;
  const [x1, y1, x2, y2] = imageBox;
  const first = (a) => ({ w: a.w.map((r) => r[0]), d1: a.d1.map((r) => r[0]), d2: a.d2.map((r) => r[0]) });
  return { y: first(methodAxis(method, y1, y2, s, pooledH, height, true)),
    x: first(methodAxis(method, x1, x2, s, pooledW, width, true)) };
}

// max: d out[p][q] / d (x1, y1, x2, y2) of the winning sample of bin b (zeros if it has none).
// ay, ax: per-sample axes (sampleAxis); gx: samples per bin along x.
function winnerJacobian(ay, ax, values, width, b, p, q, gx) {
  if (b.winner === null) return [0, 0, 0, 0];
  const iy = Math.floor(b.winner / gx), ix = b.winner % gx;
  const wy = ay.w[p][iy], wx = ax.w[q][ix];
  return [dot3(wy, values, width, ax.d1[q][ix]), dot3(ay.d1[p][iy], values, width, wx),
    dot3(wy, values, width, ax.d2[q][ix]), dot3(ay.d2[p][iy], values, width, wx)];
}

// Checked arguments and the trace of this box (traced if `trace` is absent).
function prepare(method, feature, box, settings, trace) {
  const [values, imageBox, s] = checkTraceArgs(feature, box, settings);
  return { values, imageBox, s, t: trace || traceMethod(method, feature, box, settings) };
}

// d out[p][q] / d (x1, y1, x2, y2): {jacobian: [PH][PW][4], output: [PH][PW]}; jacobian is null
// for RoI Pool (no box gradient). `trace` is the method's trace of this box (traced if absent).
export function boxJacobian(method, feature, box, settings, trace = null) {
  const { values, imageBox, s, t } = prepare(method, feature, box, settings, trace);
  if (method === "roi_pool") return { jacobian: null, output: t.output };
  const { height, width } = feature;
  const [pooledH, pooledW] = s.output_size;
  const jac = [];
  if (s.reduce === "avg" || method === "precise_roi_pool") {
    const { y, x } = meanAxes(method, imageBox, s, height, width);
    // Rows of Ay . F and (d Ay) . F first: [W] each, then one dot product per bin and edge.
    const along = (a) => { const r = new Float64Array(width); for (let h = 0; h < height; h++) if (a[h]) for (let c = 0; c < width; c++) r[c] += a[h] * values[h * width + c]; return r; };
    const dot = (a, b) => { let v = 0.0; for (let c = 0; c < width; c++) v += a[c] * b[c]; return v; };
    for (let p = 0; p < pooledH; p++) {
      const r = along(y.w[p]), r1 = along(y.d1[p]), r2 = along(y.d2[p]);
      const row = [];
      for (let q = 0; q < pooledW; q++) row.push([dot(r, x.d1[q]), dot(r1, x.w[q]), dot(r, x.d2[q]), dot(r2, x.w[q])]);
      jac.push(row);
    }
  } else {   // max: the winning sample's derivative
    const [x1, y1, x2, y2] = imageBox;
    const ay = methodAxis(method, y1, y2, s, pooledH, height);
    const ax = methodAxis(method, x1, x2, s, pooledW, width);
    for (let p = 0; p < pooledH; p++) {
      const row = [];
      for (let q = 0; q < pooledW; q++) row.push(winnerJacobian(ay, ax, values, width, t.bins[p * pooledW + q], p, q, t.grid[1]));
      jac.push(row);
    }
  }
  return { jacobian: jac, output: t.output };
}

// d target / d out, [PH][PW]. target: {kind: "all" | "bin" | "match", bin: [row, col] (for "bin";
// optional for "match"), reference: [PH][PW] (for "match": target = -1/2 ||out - reference||^2)}.
export function targetWeights(output, target) {
  const kind = (target && target.kind) || "all";
  if (!TARGET_KINDS.includes(kind)) throw new Error(`target kind must be one of ('all', 'bin', 'match'), got '${kind}'`);
  const ph = output.length, pw = output[0].length;
  const bin = target && target.bin ? target.bin : null;
  if (kind === "bin" || bin) {
    if (!bin || !(bin[0] >= 0 && bin[0] < ph && bin[1] >= 0 && bin[1] < pw)) {
      throw new Error(`target bin must be a (row, col) inside the ${ph} x ${pw} output, got ${bin}`);
    }
  }
  const ref = kind === "match" ? target.reference : null;
  if (kind === "match" && !(ref && ref.length === ph && ref[0].length === pw)) {
    throw new Error(`the reference feature must have the output's shape (${ph}, ${pw})`);
  }
  return output.map((row, p) => row.map((v, q) => {
    const picked = !bin || (bin[0] === p && bin[1] === q) ? 1.0 : 0.0;
    return kind === "match" ? -(v - ref[p][q]) * picked : picked;
  }));
}

// d target / d (x1, y1, x2, y2) for one method: {method, jacobian, output, gradient: [4] or null
// (RoI Pool)}.
export function boxGradient(method, feature, box, settings, target = { kind: "all" }, trace = null) {
  const { jacobian, output } = boxJacobian(method, feature, box, settings, trace);
  const weights = targetWeights(output, target);
  if (jacobian === null) return { method, jacobian, output, gradient: null };
  const gradient = [0, 0, 0, 0];
  jacobian.forEach((row, p) => row.forEach((d, q) => {
    for (let k = 0; k < 4; k++) gradient[k] += weights[p][q] * d[k];
  }));
  return { method, jacobian, output, gradient };
}

// d target / d (x1, y1, x2, y2) for one method, [4] (null for RoI Pool): boxGradient's gradient
// without the Jacobian, for the stage's arrows on every drag frame. The same sum in another order:
// avg pooling's out[p][q] = Y[p] . F . X[q] (Y, X: the bins' mean weights) gives
// sum_pq W[p][q] Y[p] . F . dX[q] = sum_p Y[p] . F . (sum_q W[p][q] dX[q]), and likewise for
// dY; rows of W that are all 0 (a "bin" target's other rows) are skipped, and so are max
// pooling's bins of weight 0. Equal to boxGradient's to float64 rounding
// (tests/test_stage_box_grad.py compares both with roiviz).
export function targetGradient(method, feature, box, settings, target = { kind: "all" }, trace = null) {
  const { values, imageBox, s, t } = prepare(method, feature, box, settings, trace);
  const weights = targetWeights(t.output, target);
  if (method === "roi_pool") return null;
  const { height, width } = feature;
  const [pooledH, pooledW] = s.output_size;
  const gradient = [0, 0, 0, 0];
  if (s.reduce === "avg" || method === "precise_roi_pool") {
    const { y, x } = meanAxes(method, imageBox, s, height, width);
    const xw = new Float64Array(width), xw1 = new Float64Array(width), xw2 = new Float64Array(width);
    for (let p = 0; p < pooledH; p++) {
      const wp = weights[p];
      if (wp.every((v) => v === 0)) continue;
      xw.fill(0); xw1.fill(0); xw2.fill(0);
      for (let q = 0; q < pooledW; q++) {
        const k = wp[q];
        if (k === 0) continue;
        const a = x.w[q], a1 = x.d1[q], a2 = x.d2[q];
        for (let c = 0; c < width; c++) { xw[c] += k * a[c]; xw1[c] += k * a1[c]; xw2[c] += k * a2[c]; }
      }
      gradient[0] += dot3(y.w[p], values, width, xw1);
      gradient[1] += dot3(y.d1[p], values, width, xw);
      gradient[2] += dot3(y.w[p], values, width, xw2);
      gradient[3] += dot3(y.d2[p], values, width, xw);
    }
  } else {   // max: the winning samples' derivatives
    const [x1, y1, x2, y2] = imageBox;
    const ay = methodAxis(method, y1, y2, s, pooledH, height);
    const ax = methodAxis(method, x1, x2, s, pooledW, width);
    for (let p = 0; p < pooledH; p++) {
      for (let q = 0; q < pooledW; q++) {
        if (weights[p][q] === 0) continue;
        const d = winnerJacobian(ay, ax, values, width, t.bins[p * pooledW + q], p, q, t.grid[1]);
        for (let k = 0; k < 4; k++) gradient[k] += weights[p][q] * d[k];
      }
    }
  }
  return gradient;
}
