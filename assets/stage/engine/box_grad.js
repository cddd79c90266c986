// Box gradients d output / d (x1, y1, x2, y2) for one method on one box (mirrors
// roiviz/box_gradients.py; read its docstring for the derivation). Float64 throughout, from the
// same float32 sample coordinates the trace used.
// Every method is separable, out[p][q] = Ay[p] . F . Ax[q], so a box edge moves one axis's
// weights only: d out / d x1 = Ay . F . (d Ax / d x1).
// - RoI Align: a sample at c = start + (p + (i + 0.5) / g) * length / P moves by s (1 - t) per
//   pixel of x1 and s t per pixel of x2 (t = (p + (i + 0.5) / g) / P, s = 1 / stride); its
//   weights change at slope -1 / +1 on its two neighbours: the derivative jumps when c crosses a
//   cell centre (a whole number). Clamped (border) or off-map samples have slope 0.
// - RoI Warp: the same on the snapped box, the rounding passed through (MNC's coordinate backward).
// - Precise RoI Pooling: Leibniz rule, d A / d X1 = (A - a(X1)) / width: continuous in the box.
// - RoI Pool: zero (piecewise constant): no gradient is returned (null).

import { alignMapping, f32, sampleCoords, samplingGrid, snapBox } from "./geometry.js";
import { interpolantIntegral, linearWeights } from "./bilinear.js";
import { checkTraceArgs } from "./records.js";
import { traceMethod } from "./engine.js";

export const TARGET_KINDS = ["all", "bin", "match"];
const float64 = (v) => v;

// Per-sample weights (w) and their derivatives (d1, d2: with respect to the low and high edge of
// the box, image pixels) along one axis: arrays [P][G] of Float64Array(size); `avg`: each bin's
// mean over its samples, [P][1].
function sampleAxis(start, length, dStart, dLength, pooled, grid, size, avg) {
  const coords = sampleCoords(start, length, pooled, grid);
  const g = Math.max(grid, 1);
  const w = [], d1 = [], d2 = [];
  for (let p = 0; p < pooled; p++) {
    const wr = [], r1 = [], r2 = [];
    let ws, s1, s2;
    for (let i = 0; i < grid || (avg && !i); i++) {
      if (!avg || !i) {
        ws = new Float64Array(size); s1 = new Float64Array(size); s2 = new Float64Array(size);
        wr.push(ws); r1.push(s1); r2.push(s2);
      }
      if (i >= grid) break;   // no sample: zeros
      const c = coords[p][i];
      const [low, high, wl, wh] = linearWeights(c, size);
      ws[low] += wl; ws[high] += wh;
      if (c >= 0.0 && c <= size && Math.floor(c) < size - 1) {
        const t = (p + (i + 0.5) / g) / pooled;
        const dc1 = dStart[0] + dLength[0] * t, dc2 = dStart[1] + dLength[1] * t;
        s1[low] -= dc1; s1[high] += dc1; s2[low] -= dc2; s2[high] += dc2;
      }
    }
    if (avg) for (const a of [ws, s1, s2]) for (let j = 0; j < size; j++) a[j] /= g;
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

// One axis of one method: {w, d1, d2} as in sampleAxis.
function methodAxis(method, u1, u2, s, pooled, size, avg) {
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
  return sampleAxis(start, length, [scale, 0.0], moves ? [-scale, scale] : [0.0, 0.0], pooled, grid, size, avg);
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

// The trace and (not RoI Pool) axes; avg: each bin's mean as one sample, [P][1] (sum: [1][1]).
function setup(method, feature, box, settings, trace, sum = false) {
  const [values, [x1, y1, x2, y2], s] = checkTraceArgs(feature, box, settings);
  const t = trace || traceMethod(method, feature, box, settings);
  const avg = s.reduce === "avg" || method === "precise_roi_pool";
  const c = { t, values, avg, width: feature.width, pw: s.output_size[1], summed: sum && avg };
  if (method === "roi_pool") return c;
  const axis = (u1, u2, pooled, size) => {
    const a = methodAxis(method, u1, u2, s, pooled, size, avg);
    if (c.summed) {
      for (const k of ["w", "d1", "d2"]) {
        const u = new Float64Array(size);
        for (const r of a[k]) for (let j = 0; j < size; j++) u[j] += r[0][j];
        a[k] = [[u]];
      }
    }
    return a;
  };
  c.y = axis(y1, y2, s.output_size[0], feature.height);
  c.x = axis(x1, x2, c.pw, feature.width);
  return c;
}

// d out[p][q] / d box: Y . F . dX/dx1, dY/dy1 . F . X, ... (Y, X: avg's means, max's winner).
function binJacobian(c, p, q) {
  let iy = 0, ix = 0;
  if (!c.avg) {
    const b = c.t.bins[p * c.pw + q], gx = c.t.grid[1];
    if (b.winner === null) return [0, 0, 0, 0];
    iy = Math.floor(b.winner / gx); ix = b.winner % gx;
  }
  const { y, x, values, width } = c, wy = y.w[p][iy], wx = x.w[q][ix];
  return [dot3(wy, values, width, x.d1[q][ix]), dot3(y.d1[p][iy], values, width, wx),
    dot3(wy, values, width, x.d2[q][ix]), dot3(y.d2[p][iy], values, width, wx)];
}

// d out[p][q] / d (x1, y1, x2, y2): {jacobian: [PH][PW][4], output: [PH][PW]}; jacobian is null
// for RoI Pool (no box gradient). `trace` is the method's trace of this box (traced if absent).
export function boxJacobian(method, feature, box, settings, trace = null) {
  const c = setup(method, feature, box, settings, trace);
  const jacobian = c.y ? c.t.output.map((row, p) => row.map((_, q) => binJacobian(c, p, q))) : null;
  return { jacobian, output: c.t.output };
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
  const weights = targetWeights(output, target).flat();
  const gradient = jacobian && [0, 1, 2, 3].map((k) => jacobian.flat().reduce((g, d, i) => g + weights[i] * d[k], 0));
  return { method, jacobian, output, gradient };
}

// boxGradient's gradient alone (the arrows' drag frames): 0-weight bins skipped; avg's
// sum of bins in one product: sum Y[p] . F . X[q] = (sum Y) . F . (sum X).
export function targetGradient(method, feature, box, settings, target = { kind: "all" }, trace = null) {
  const all = !(target && (target.bin || (target.kind && target.kind !== "all")));
  const c = setup(method, feature, box, settings, trace, all);
  const weights = targetWeights(c.t.output, target);
  if (!c.y) return null;
  if (c.summed) return binJacobian(c, 0, 0);
  const gradient = [0, 0, 0, 0];
  weights.forEach((row, p) => row.forEach((v, q) => {
    if (v) binJacobian(c, p, q).forEach((d, k) => { gradient[k] += v * d; });
  }));
  return gradient;
}
