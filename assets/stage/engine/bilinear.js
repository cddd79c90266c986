// Bilinear interpolation as the RoI Align kernels do it, one axis at a time (mirrors
// roiviz/bilinear.py). Library frame, the value of cell j at coordinate j:
// 1. x < -1 or x > size: off the map, weight 0 (the sample still counts in the average);
// 2. otherwise clamp x to [0, size - 1]; 3. neighbours floor(x), floor(x) + 1, weights 1 - l, l.
// Worked number: size 5, x = 1.3 reads cells 1 and 2 with 0.7 and 0.3; x = -0.4 reads cell 0.

import { f32 } from "./geometry.js";

// [low, high, wLow, wHigh] for a float32 coordinate; off-map: indices 0, weights 0.
// `round` is the dtype of the weights: f32 as the kernels (default), (v) => v for float64.
export function linearWeights(coord, size, round = f32) {
  if (!(coord >= -1.0 && coord <= size)) return [0, 0, 0, 0];
  let clamped = Math.max(coord, 0.0);
  let low = Math.floor(clamped), high = low + 1;
  if (low >= size - 1) {
    low = high = size - 1;
    clamped = size - 1;
  }
  const frac = round(clamped - low);
  return [low, high, round(1.0 - frac), frac];
}

// Integral of the hat max(0, 1 - |t|) from -inf to d.
function hatCdf(d) {
  d = Math.min(Math.max(d, -1.0), 1.0);
  return d <= 0 ? 0.5 * ((d + 1.0) * (d + 1.0)) : 1.0 - 0.5 * ((1.0 - d) * (1.0 - d));
}

// Exact integral over [lo, hi] (float64) of each cell's 1-D weight in linearWeights:
// returns A (length size) with A[j] = integral of a_j, a_j(x) = max(0, 1 - |clip(x, 0, size-1) - j|)
// on [-1, size], 0 elsewhere. hi < lo gives zeros.
export function interpolantIntegral(lo, hi, size) {
  hi = Math.max(hi, lo);
  const overlap = (a, b) => Math.max(Math.min(hi, b) - Math.max(lo, a), 0.0);
  const midLo = Math.min(Math.max(lo, 0.0), size - 1.0);
  const midHi = Math.min(Math.max(hi, 0.0), size - 1.0);
  // On [-1, 0] the interpolant is cell 0's value, on [size - 1, size] that of cell size - 1.
  const left = overlap(-1.0, 0.0), right = overlap(size - 1.0, size);
  const out = new Float64Array(size);
  for (let j = 0; j < size; j++) {
    out[j] = hatCdf(midHi - j) - hatCdf(midLo - j) + (j === 0 ? left : 0) + (j === size - 1 ? right : 0);
  }
  return out;
}
