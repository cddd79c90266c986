// Coordinates and conventions (mirrors roiviz/geometry.py; read its docstring for the frames).
// A box is [x1, y1, x2, y2] in image pixels. Drawing frame: feature cell (i, j) is the square
// [j, j+1) x [i, i+1). Library frame: the value of cell j sits at coordinate j (drawing - 0.5).
// Where the kernels compute in float32, so do we: `f32` (Math.fround) after every operation.

export const CONVENTIONS = ["library", "article"];
export const f32 = Math.fround;

// Sort a user-drawn box's corners: [min x, min y, max x, max y].
export function normalizeBox(box) {
  if (!Array.isArray(box) || box.length !== 4) {
    throw new Error(`box must have 4 numbers (x1, y1, x2, y2), got ${box && box.length}`);
  }
  const [x1, y1, x2, y2] = box.map(Number);
  if (![x1, y1, x2, y2].every(Number.isFinite)) {
    throw new Error(`box coordinates must be finite numbers, got ${box}`);
  }
  return [Math.min(x1, x2), Math.min(y1, y2), Math.max(x1, x2), Math.max(y1, y2)];
}

// Bounds shared with roiviz/geometry.py (check_scale, check_box_cells; same messages).
export const FLOAT32_MAX = 3.4028234663852886e38;
export const MAX_FEATURE_CELLS = 2 ** 24;

// The float32 spatial scale 1 / stride, refused when infinite or 0 (stride 1e-320 overflows).
export function checkScale(stride) {
  const scale = f32(1 / stride);
  if (!Number.isFinite(scale) || scale === 0) {
    throw new Error(`stride must give a spatial scale 1 / stride that is a finite, non-zero float32, got ${stride}`);
  }
  return scale;
}

// Refuse a box beyond float32's range or beyond MAX_FEATURE_CELLS feature cells of 0.
export function checkBoxCells(box, scale) {
  const largest = Math.max(...box.map(Math.abs));
  if (largest > FLOAT32_MAX) {
    throw new Error(`box coordinates must be within float32's range (|v| <= ${FLOAT32_MAX}), got ${largest}`);
  }
  const cells = f32(largest) * scale;
  if (cells > MAX_FEATURE_CELLS) {
    throw new Error(`box coordinates must lie within ${MAX_FEATURE_CELLS} feature cells of 0 (float32's exact whole numbers), got ${cells} cells`);
  }
}

// C's round: halves away from zero. The fraction is compared exactly (in float32,
// floor(0.49999997 + 0.5) would give 1, which C's round does not).
export function cRound(a) {
  const magnitude = Math.abs(a);
  const whole = Math.floor(magnitude);
  return Math.sign(a) * (whole + (magnitude - whole >= 0.5 ? 1 : 0));
}

// RoI Pool's first quantization along one axis; u1, u2 are float32 feature units.
// Returns [start, length]: the snapped extent covers cells start .. start + length - 1.
// library: start = round(u1), length = max(round(u2) - start + 1, 1)  (the legacy +1);
// article: start = floor(u1), length = max(floor(u2 - u1), 1)  (u2 - u1 in float32).
export function snapBox(u1, u2, convention = "library") {
  if (convention === "library") {
    const start = cRound(u1);
    return [start + 0, Math.max(cRound(u2) - start + 1, 1)];
  }
  if (convention === "article") {
    return [Math.floor(u1) + 0, Math.max(Math.floor(f32(u2 - u1)), 1)];
  }
  throw new Error(`convention must be one of ('library', 'article'), got '${convention}'`);
}

// RoI Pool's second quantization along one axis: bin p reads cells lo[p] .. hi[p] - 1.
// library (torchvision roi_pool_kernel.cpp): bin = length / pooled in float32,
// lo = floor(p * bin) + start, hi = ceil((p + 1) * bin) + start; article: equal bins of
// max(length // pooled, 1) cells, the remainder dropped. Both clipped to [0, size].
export function poolBins(start, length, pooled, size, convention = "library") {
  const lo = [], hi = [];
  const clip = (v) => Math.min(Math.max(v, 0), size);
  if (convention === "library") {
    const binSize = f32(length / pooled);
    for (let p = 0; p < pooled; p++) {
      lo.push(clip(Math.floor(f32(p * binSize)) + start));
      hi.push(clip(Math.ceil(f32((p + 1) * binSize)) + start));
    }
  } else if (convention === "article") {
    const cells = Math.max(Math.floor(length / pooled), 1);
    for (let p = 0; p < pooled; p++) {
      lo.push(clip(start + p * cells));
      hi.push(clip(start + p * cells + cells));
    }
  } else {
    throw new Error(`convention must be one of ('library', 'article'), got '${convention}'`);
  }
  return [lo, hi];
}

// RoI Align's mapping along one axis, no rounding: [start, length] in the library frame.
// `round` is the dtype: f32 for the kernels (default), (v) => v for float64 (Precise RoI Pooling).
// length = (x2 * s - o) - (x1 * s - o); only aligned=false raises it to at least 1.
export function alignMapping(x1, x2, spatialScale, aligned, round = f32) {
  const offset = aligned ? 0.5 : 0.0;
  const start = round(round(x1 * spatialScale) - offset);
  let length = round(round(round(x2 * spatialScale) - offset) - start);
  if (!aligned) length = Math.max(length, 1);
  return [start, length];
}

// Samples per bin side: sampling_ratio if > 0, else adaptive ceil(length / pooled) (float32).
export function samplingGrid(length, pooled, samplingRatio) {
  return samplingRatio > 0 ? samplingRatio : Math.ceil(f32(length / pooled));
}

// Sample positions along one axis (torchvision pre_calc), float32, library frame:
// coords[p][i] = start + p * bin + (i + 0.5) * bin / g, bin = length / pooled; i < grid.
export function sampleCoords(start, length, pooled, grid) {
  const binSize = f32(length / pooled);
  const g = Math.max(grid, 1);
  const coords = [];
  for (let p = 0; p < pooled; p++) {
    const row = [];
    const base = f32(start + f32(p * binSize));
    for (let i = 0; i < grid; i++) row.push(f32(base + f32(f32((i + 0.5) * binSize) / g)));
    coords.push(row);
  }
  return coords;
}

// Area of an [x1, y1, x2, y2] rectangle; 0 for null or an empty one.
export function rectArea(rect) {
  if (rect === null) return 0.0;
  return Math.max(rect[2] - rect[0], 0.0) * Math.max(rect[3] - rect[1], 0.0);
}

// Intersection of two rectangles, or null when they do not overlap.
export function rectIntersection(a, b) {
  if (a === null || b === null) return null;
  const r = [Math.max(a[0], b[0]), Math.max(a[1], b[1]), Math.min(a[2], b[2]), Math.min(a[3], b[3])];
  return r[2] > r[0] && r[3] > r[1] ? r : null;
}

// a minus b as at most four disjoint rectangles (top, bottom, left, right strips).
export function rectDifference(a, b) {
  if (a === null || rectArea(a) === 0) return [];
  const cut = rectIntersection(a, b);
  if (cut === null) return [a];
  const [ax1, ay1, ax2, ay2] = a;
  const [cx1, cy1, cx2, cy2] = cut;
  const strips = [[ax1, ay1, ax2, cy1], [ax1, cy2, ax2, ay2], [ax1, cy1, cx1, cy2], [cx2, cy1, ax2, cy2]];
  return strips.filter((r) => rectArea(r) > 0);
}
