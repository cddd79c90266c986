// The live stage's drawing: SVG built once, then updated in place on every frame.
//
// Drawing only: every rectangle and point comes from a trace object (the shape of Python's
// roiviz.trace.MethodTrace.to_dict()); nothing here computes a method's geometry. Text is
// always set with textContent (never innerHTML), so no user-supplied string becomes markup.
// Coordinates: the photo surface is in image pixels, every other SVG in feature units
// (cell (i, j) spans [j, j+1) x [i, i+1), y down; roiviz/geometry.py).

const SVG = "http://www.w3.org/2000/svg";
// Okabe-Ito / plotly's viridis, for the output grids (10 stops, low to high).
const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779",
  "#6ece58", "#b5de2b", "#fde725"];
const METRIC_NAMES = ["lost %", "gained %", "outside %", "IoU", "off exact by"];
const METRIC_HELP = ["lost: the part of your box (RoI) the method does not read, in % of the box",
  "gained: what the method reads outside your box, in % of the box", "the part of your box off the feature map, in %",
  "overlap of what the method reads with your box (1 = the same region)",
  "how far this method's output is from the exact answer: the average gap between its numbers and Precise RoI "
  + "Pooling's, which integrates each bin exactly (0 = the same numbers)"];
// The same measures in plain words, for the details a tap shows.
const METRIC_WORDS = ["of your box not read", "read outside your box", "of your box off the map",
  "overlap (IoU) of what is read with your box", "average gap to the exact answer (Precise RoI Pooling)"];

function node(tag, attrs, parent, ns = SVG) {
  const e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

/** Set an attribute only when its value changes (a frame redraws hundreds of elements). */
export function set(e, name, value) {
  const cache = e.__attrs || (e.__attrs = {});
  const v = String(value);
  if (cache[name] !== v) {
    cache[name] = v;
    e.setAttribute(name, v);
  }
}

/** Set a text only when it changes: an element's text rewritten, even unchanged, makes the page
 * lay out again (and with it every SVG of the stage). */
export function setText(e, text) {
  if (e.textContent !== text) e.textContent = text;
}

function html(tag, className, parent, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function setRect(e, r) {
  if (!r) { set(e, "visibility", "hidden"); return; }
  set(e, "visibility", "visible");
  set(e, "x", r[0]); set(e, "y", r[1]);
  set(e, "width", Math.max(r[2] - r[0], 0)); set(e, "height", Math.max(r[3] - r[1], 0));
}

function rectsPath(rects) {
  let d = "";
  for (const r of rects) {
    if (r) d += `M${r[0]} ${r[1]}H${r[2]}V${r[3]}H${r[0]}Z`;
  }
  return d;
}

/** A number as Python's "%.4g" would print it, near enough for a tooltip. */
export function fmt(v, digits = 4) {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const s = Number(v.toPrecision(digits));
  return String(s);
}

export function viridis(t) {
  const x = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1);
  return VIRIDIS[Math.round(x)];
}

/** The feature map as a grey image (dark = low), one pixel per cell, as a data URL. */
export function heatImage(map) {
  const canvas = document.createElement("canvas");
  canvas.width = map.width; canvas.height = map.height;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(map.width, map.height);
  const span = map.max - map.min || 1;
  for (let i = 0; i < map.values.length; i++) {
    const g = Math.round(255 * Math.min(Math.max((map.values[i] - map.min) / span, 0), 1));
    img.data[4 * i] = g; img.data[4 * i + 1] = g; img.data[4 * i + 2] = g; img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return canvas.toDataURL("image/png");
}

// ------------------------------------------------------------------------------------------
// Building the DOM (once per set of methods / sources; later frames only set attributes).

function roiRects(parent, cls) {
  return {
    halo: node("rect", { class: `${cls}-halo`, fill: "none", "vector-effect": "non-scaling-stroke" }, parent),
    line: node("rect", { class: cls, fill: "none", "vector-effect": "non-scaling-stroke" }, parent),
  };
}

function buildSurface(parent, kind) {
  const fig = html("figure", "surface", parent);
  fig.dataset.surface = kind;
  const cap = html("figcaption", "surface-title", fig);
  const svg = node("svg", { class: "surface-svg", tabindex: "0", role: "application",
    preserveAspectRatio: "xMidYMid meet" }, fig);
  set(svg, "aria-label", kind === "image"
    ? "Photo: drag to draw or move the box; arrow keys move it"
    : "Feature map: drag to draw or move the box; arrow keys move it");
  const picture = node("image", { preserveAspectRatio: "none", class: kind === "map" ? "pixelated" : "" }, svg);
  const grid = node("path", { class: "cell-grid", fill: "none", "vector-effect": "non-scaling-stroke" }, svg);
  const values = node("g", { class: "cell-values" }, svg);
  const roi = roiRects(svg, "roi");
  const handles = [0, 1, 2, 3].map(() => node("rect", { class: "handle", "vector-effect": "non-scaling-stroke" }, svg));
  return { kind, fig, cap, svg, picture, grid, values, valueTexts: [], roi, handles };
}

function pattern(defs, id, color, angle, dots) {
  const p = node("pattern", { id, patternUnits: "userSpaceOnUse", width: 1, height: 1 }, defs);
  node("rect", { width: 1, height: 1, fill: color, "fill-opacity": 0.22 }, p);
  if (dots) {
    node("circle", { cx: 0.5, cy: 0.5, r: 0.16, fill: color }, p);
  } else {
    node("path", { d: angle > 0 ? "M-0.25 0.25L0.25 -0.25M0 1L1 0M0.75 1.25L1.25 0.75"
      : "M-0.25 0.75L0.25 1.25M0 0L1 1M0.75 -0.25L1.25 0.25", stroke: color, "stroke-width": 0.14 }, p);
  }
  return p;
}

function buildPanel(parent, method, style, uid) {
  const sec = html("section", "panel", parent);
  sec.dataset.method = method;
  const color = style.method_colors[method];
  sec.style.setProperty("--method-color", color);
  const head = html("header", "panel-head", sec);
  html("span", "swatch", head);
  html("h3", "panel-title", head, style.method_labels[method]);
  const info = html("span", "panel-info", head, "i");
  const summary = html("span", "panel-summary", head);
  info.hidden = true;
  const body = html("div", "panel-body", sec);
  // Each SVG sits in an absolutely placed box of its own with `contain: strict` (stage.css): a
  // relayout boundary, so a frame lays out only the elements that changed.
  const view = node("svg", { class: "view", preserveAspectRatio: "xMidYMid meet" }, html("div", "view-box", body));
  const defs = node("defs", {}, view);
  const ids = {};
  for (const [name, spec] of Object.entries(style.areas)) {
    ids[name] = `${uid}-${method}-${name}`;
    pattern(defs, ids[name], spec.color, name === "lost" ? 1 : -1, name === "outside");
  }
  const picture = node("image", { preserveAspectRatio: "none", class: "pixelated" }, view);
  const cells = node("path", { class: "cell-grid", fill: "none", "vector-effect": "non-scaling-stroke" }, view);
  const values = node("g", { class: "cell-values" }, view);
  const areas = {};
  for (const [name, spec] of Object.entries(style.areas)) {
    areas[name] = node("path", { class: `area area-${name}`, fill: `url(#${ids[name]})`, stroke: spec.color,
      "vector-effect": "non-scaling-stroke" }, view);
  }
  const bins = node("path", { class: "bins", fill: "none", stroke: color, "vector-effect": "non-scaling-stroke" }, view);
  const argmax = node("g", { class: "argmax" }, view);
  const snapped = node("rect", { class: "snapped", fill: "none", stroke: color, "vector-effect": "non-scaling-stroke" }, view);
  const roi = roiRects(view, "roi");
  // The sampling points: one path of dots for all of them (in the trace's order), then the
  // points off the map (grey) and max's winners (yellow) drawn again over them. Three elements,
  // not one per point: a drag frame moves hundreds of points, and each element moved is laid out.
  const samples = node("g", { class: "samples" }, view);
  const dots = { all: node("path", { class: "sample" }, samples), off: node("path", { class: "sample off-map" }, samples),
    win: node("path", { class: "sample winner" }, samples) };
  const out = node("svg", { class: "out", preserveAspectRatio: "xMidYMid meet" }, html("div", "out-box", body));
  const outCells = node("g", {}, out);
  const outText = node("g", { class: "out-text" }, out);
  // In a box of its own: a table cannot be size-contained, a box can (stage.js, freezeTexts).
  const table = html("table", "metrics", html("div", "metrics-box", sec));
  const tr = html("tr", "", html("thead", "", table));
  METRIC_NAMES.forEach((name, i) => { html("th", "", tr, name).title = METRIC_HELP[i]; });
  const row = html("tr", "", html("tbody", "", table));
  const metricCells = METRIC_NAMES.map(() => html("td", "", row));
  const note = html("p", "panel-note", sec);
  return { method, sec, summary, view, patterns: Object.values(ids).map((id) => defs.querySelector(`#${CSS.escape(id)}`)),
    picture, cells, values, valueTexts: [], areas, bins, argmax, snapped, roi, samples, dots,
    out, outCells, outText, metricCells, note, info, pools: { stars: [], outRects: [], outTexts: [] } };
}

/**
 * The stage's skeleton inside ``root``: status line, drag surfaces, one panel per method, the
 * tooltip. Returns references used by the draw functions.
 */
export function buildStage(root, { hasImage, methods, style, uid }) {
  root.replaceChildren();
  const top = html("div", "stage-top", root);
  // The browser / server check: a small badge (its whole sentence on hover, tap and for screen
  // readers), a banner only when they disagree.
  const status = html("p", "status", top);
  set(status, "role", "status");
  set(status, "tabindex", "0");
  let toggle = null;
  if (hasImage) {  // compact layouts draw one surface: which one
    const bar = html("div", "surface-toggle", top);
    set(bar, "role", "group");
    set(bar, "aria-label", "Drag on");
    html("span", "toggle-label", bar, "Drag on:");
    const buttons = {};
    for (const [kind, text] of [["map", "feature map"], ["image", "photo"]]) {
      buttons[kind] = html("button", "toggle-button", bar, text);
      set(buttons[kind], "type", "button");
    }
    toggle = { bar, buttons };
    bar.hidden = true;
  }
  const layout = html("div", "layout", root);
  const surfacesBox = html("div", "surfaces", layout);
  const surfaces = {};
  if (hasImage) surfaces.image = buildSurface(surfacesBox, "image");
  surfaces.map = buildSurface(surfacesBox, "map");
  const legend = html("div", "legend", top);  // one row over the whole stage: the surfaces keep the height
  // Presenter mode: the label's first words ("lost", "gained"), the whole label on hover.
  for (const [name, spec] of Object.entries(style.areas)) {
    const item = html("span", `legend-item area-${name}`, legend);
    item.style.setProperty("--area-color", spec.color);
    item.title = spec.label;
    html("span", "legend-swatch", item);
    // Narrow stages (stage.js sets .short-legend) show the first words only.
    html("span", "legend-long", item, style.presenter ? spec.label.split(":")[0] : spec.label);
    html("span", "legend-short", item, spec.label.split(":")[0]);
  }
  const roiItem = html("span", "legend-item legend-roi", legend);
  html("span", "legend-swatch", roiItem);
  html("span", "", roiItem, "your box (RoI)");
  // The output grids' colour scale (one for all panels, so they compare), with its numbers.
  const scale = html("span", "legend-item legend-scale", legend);
  scale.title = "The output grids' colours: every panel uses this one scale, from the lowest output to the highest";
  html("span", "", scale, "output:");
  const scaleLo = html("span", "scale-lo", scale);
  const bar = html("span", "scale-bar", scale);
  bar.style.background = `linear-gradient(to right, ${VIRIDIS.join(", ")})`;
  const scaleHi = html("span", "scale-hi", scale);
  const notices = html("div", "notices", top);
  html("p", "hint", surfacesBox,
    "Drag the box to move it, an edge or corner to resize it, elsewhere to draw a new one; "
    + "arrow keys move it a tenth of a cell (shift: a cell).");
  const panelsBox = html("div", "panels", layout);
  panelsBox.dataset.count = String(methods.length);
  const panels = {};
  for (const m of methods) panels[m] = buildPanel(panelsBox, m, style, uid);
  const tooltip = html("div", "tooltip", root);
  tooltip.hidden = true;
  return { root, status, notices, layout, surfacesBox, surfaces, panels, panelsBox, tooltip, legend, toggle,
    scale: { lo: scaleLo, hi: scaleHi } };
}

// ------------------------------------------------------------------------------------------
// Per frame.

/** Pixels on screen per user unit of an SVG (its viewBox scaled to fit, "meet"). */
function pixelsPerUnit(svg, extent) {
  // The size comes from a ResizeObserver (stage.js, svg.__size): reading clientWidth here would
  // force a layout in the middle of a frame.
  const [w, h] = svg.__size || [svg.clientWidth || 1, svg.clientHeight || 1];
  return Math.min(w / Math.max(extent[2] - extent[0], 1e-9), h / Math.max(extent[3] - extent[1], 1e-9));
}

function setViewBox(svg, e) {
  set(svg, "viewBox", `${e[0]} ${e[1]} ${e[2] - e[0]} ${e[3] - e[1]}`);
}

function gridPath(x1, y1, x2, y2, step) {
  let d = "";
  for (let x = Math.ceil(x1 / step) * step; x <= x2; x += step) d += `M${x} ${y1}V${y2}`;
  for (let y = Math.ceil(y1 / step) * step; y <= y2; y += step) d += `M${x1} ${y}H${x2}`;
  return d;
}

/** The RoI: a black dashed line over a white halo, visible on dark and light cells. */
function drawRoi(roi, rect, style) {
  set(roi.halo, "stroke", "white");
  set(roi.halo, "stroke-width", style.line_width + 2);
  set(roi.line, "stroke", style.roi_color);
  set(roi.line, "stroke-width", style.line_width);
  set(roi.line, "stroke-dasharray", `${3 * style.line_width} ${2 * style.line_width}`);
  setRect(roi.halo, rect);
  setRect(roi.line, rect);
}

/**
 * Each cell's value written in it, where a number fits: cells wide enough on screen for the
 * map's longest number, and at most 400 of them in view (the article's toy grid; a map zoomed in).
 */
function drawCellValues(g, texts, map, extent, ppu, style, room = 0.8) {
  // The texts sit in a group scaled by 1 / ppu: their coordinates and font size are screen
  // pixels, so a font size is the size on screen (what a reader, and a test, measures).
  set(g, "transform", `scale(${1 / ppu})`);
  const c1 = Math.max(Math.floor(extent[0]), 0), c2 = Math.min(Math.ceil(extent[2]), map.width);
  const r1 = Math.max(Math.floor(extent[1]), 0), r2 = Math.min(Math.ceil(extent[3]), map.height);
  const font = style.font_size - 2;
  if (map.digits === undefined) {  // the longest number the map writes, once per map
    map.digits = 1;
    for (let i = 0; i < map.values.length; i++) map.digits = Math.max(map.digits, fmt(map.values[i], 3).length);
  }
  const fits = ppu >= font * (0.62 * map.digits + room) && (c2 - c1) * (r2 - r1) <= 400;
  const n = fits ? Math.max(c2 - c1, 0) * Math.max(r2 - r1, 0) : 0;
  pool(texts, g, "text", { "text-anchor": "middle", "dominant-baseline": "central" }, n);
  if (!n) return;
  const span = map.max - map.min || 1;
  let i = 0;
  for (let r = r1; r < r2; r++) {
    for (let c = c1; c < c2; c++) {
      const v = map.values[r * map.width + c], e = texts[i++];
      set(e, "x", (c + 0.5) * ppu); set(e, "y", (r + 0.5) * ppu); set(e, "font-size", font);
      set(e, "fill", (v - map.min) / span > 0.55 ? "#000" : "#fff");
      const text = fmt(v, 3);
      if (e.textContent !== text) e.textContent = text;
    }
  }
}

/**
 * One drag surface: the photo (image pixels) or the map (feature units), the box, handles.
 * ``view`` = {extent, box (in this surface's units), pictureHref, pictureSize [w, h], gridStep,
 * map (the feature map, to write its values where they fit; map surface only)}.
 */
export function drawSurface(s, view, style, title) {
  if (s.cap.textContent !== title) {
    s.cap.textContent = title;
    s.cap.title = title;
  }
  setViewBox(s.svg, view.extent);
  set(s.picture, "href", view.pictureHref);
  set(s.picture, "width", view.pictureSize[0]);
  set(s.picture, "height", view.pictureSize[1]);
  const ppu = pixelsPerUnit(s.svg, view.extent);
  const showGrid = view.gridStep * ppu >= 5;
  const d = showGrid ? gridPath(0, 0, view.pictureSize[0], view.pictureSize[1], view.gridStep) : "";
  set(s.grid, "d", d);
  if (view.map) drawCellValues(s.values, s.valueTexts, view.map, view.extent, ppu, style);
  drawRoi(s.roi, view.box, style);
  const hs = (style.presenter ? 10 : 7) / ppu;
  const [x1, y1, x2, y2] = view.box;
  [[x1, y1], [x2, y1], [x1, y2], [x2, y2]].forEach(([x, y], i) => {
    setRect(s.handles[i], [x - hs / 2, y - hs / 2, x + hs / 2, y + hs / 2]);
  });
  return ppu;
}

function pool(list, parent, tag, attrs, n) {
  while (list.length < n) list.push(node(tag, attrs, parent));
  for (let i = 0; i < list.length; i++) {
    const want = i < n ? "" : "none";
    if (list[i].style.display !== want) list[i].style.display = want;
  }
  return list;
}

/** Which samples to draw: every k-th along each axis of every bin, so at most ``cap`` in all. */
export function sampleStep(trace, cap, pitchPx) {
  const total = trace.bins.reduce((n, b) => n + (b.samples ? b.samples.length : 0), 0);
  let k = Math.max(1, Math.ceil(Math.sqrt(total / cap)));
  while (pitchPx * k < 6 && k < 64) k += 1;  // points closer than 6 px blur into a texture
  return { k, total };
}

/**
 * One method's panel from its trace. ``ctx`` = {extent (feature units), map {width, height,
 * href}, regions {lost, gained, outside: [rect]} (the engine's regionRects), outRange [lo, hi],
 * style, cap (most samples drawn), metrics [5 strings], notes [str], summary str (details str: its
 * hover text), waiting str}.
 */
export function drawPanel(p, trace, ctx) {
  const { extent, style } = ctx;
  if (p.sec.classList.contains("refused")) p.sec.classList.remove("refused");
  setViewBox(p.view, extent);
  const ppc = pixelsPerUnit(p.view, extent);  // screen pixels per cell
  set(p.picture, "href", ctx.map.href);
  set(p.picture, "width", ctx.map.width); set(p.picture, "height", ctx.map.height);
  const cellD = ppc >= 6 ? gridPath(Math.max(extent[0], 0), Math.max(extent[1], 0),
    Math.min(extent[2], ctx.map.width), Math.min(extent[3], ctx.map.height), 1) : "";
  set(p.cells, "d", cellD);
  drawCellValues(p.values, p.valueTexts, ctx.map, extent, ppc, style, 1.6);  // room for the marks
  // Hatching: one tile = 8 screen pixels (12 in presenter mode), whatever the zoom.
  const tile = (style.presenter ? 12 : 8) / ppc;
  for (const pat of p.patterns) {
    set(pat, "patternTransform", `scale(${tile})`);
  }
  for (const [name, e] of Object.entries(p.areas)) {
    set(e, "d", rectsPath(ctx.regions[name] || []));
    set(e, "stroke-width", style.thin_line);
  }
  set(p.bins, "d", rectsPath(trace.bins.map((b) => b.rect)));
  set(p.bins, "stroke-width", style.thin_line);
  setRect(p.snapped, trace.snapped_box || trace.sampled_box);
  set(p.snapped, "stroke-width", style.line_width);
  set(p.snapped, "stroke-dasharray", trace.snapped_box ? "" : "1 0");
  drawRoi(p.roi, trace.roi, style);

  // RoI Pool: the winning cell of each bin, outlined in yellow.
  const winners = trace.method === "roi_pool" ? trace.bins.filter((b) => b.argmax) : [];
  pool(p.pools.stars, p.argmax, "rect", { class: "argmax-cell", fill: "none", "vector-effect": "non-scaling-stroke" }, winners.length);
  winners.forEach((b, i) => {
    const [r, c] = b.argmax;
    const e = p.pools.stars[i];
    setRect(e, [c + 0.12, r + 0.12, c + 0.88, r + 0.88]);
    set(e, "stroke", style.winner_color);
    set(e, "stroke-width", Math.min(Math.max(0.08 * ppc, 1), style.line_width));
  });

  // RoI Align / Warp: the sampling points, radius following the spacing on screen.
  let note = "";
  const grid = trace.grid || [0, 0];
  const sampled = trace.bins.length && trace.bins[0].samples && trace.bins[0].samples.length;
  let n = 0, dAll = "", dOff = "", dWin = "";
  if (sampled) {
    const box = trace.sampled_box || trace.roi;
    const [ph, pw] = trace.settings.output_size;
    const pitch = Math.min((box[2] - box[0]) / pw / Math.max(grid[1], 1),
      (box[3] - box[1]) / ph / Math.max(grid[0], 1)) * ppc;
    // A trace past the sample budget recorded every (sy, sx)-th sample row and column already.
    const [sy, sx] = trace.sample_step || [1, 1];
    const cols = Math.ceil((grid[1] - (sx >> 1)) / sx);   // recorded columns per bin
    const { k, total: recorded } = sampleStep(trace, ctx.cap, pitch * Math.min(sy, sx));
    const total = trace.bins.length * grid[0] * grid[1];
    const every = [k * sy, k * sx];
    const rPx = Math.min(Math.max(0.3 * pitch * k, 1.5), style.marker_size / 2 + (style.presenter ? 1 : 0));
    const r = rPx / ppc;
    const wantMax = trace.settings.reduce === "max";
    for (const b of trace.bins) {
      for (let i = 0; i < b.samples.length; i++) {
        const iy = Math.floor(i / cols), ix = i % cols;
        if (iy % k || ix % k) continue;
        const s = b.samples[i];
        // A dot of radius r centred on the sample: two half-circle arcs.
        const dot = `M${s.x - r} ${s.y}a${r} ${r} 0 1 0 ${2 * r} 0a${r} ${r} 0 1 0 ${-2 * r} 0`;
        dAll += dot;
        if (!s.on_map) dOff += dot;
        if (wantMax && b.winner === i) dWin += dot;
        n++;
      }
    }
    if (every[0] * every[1] > 1) {
      // What is drawn, in words (the output is always computed from every sample).
      const which = every[0] === every[1] ? `every ${every[0]}th row and column` : `every ${every[0]}th row, ${every[1]}th column`;
      note = style.presenter || ctx.compact ? `${n.toLocaleString("en")} of ${total.toLocaleString("en")} samples drawn`
        : `Drawn: ${n.toLocaleString("en")} of ${total.toLocaleString("en")} samples (${which} of each bin); `
          + "the output uses them all.";
      p.note.dataset.drawn = String(n);
      p.note.dataset.total = String(total);
      void recorded;
    }
  }
  set(p.dots.all, "d", dAll); set(p.dots.off, "d", dOff); set(p.dots.win, "d", dWin);
  set(p.samples, "style", `--marker-stroke: ${Math.max(0.5, Math.min(1.5, ppc / 30))}px`);
  drawOutput(p, trace, ctx);
  p.metricCells.forEach((td, i) => { setText(td, ctx.metrics[i]); });
  setText(p.note, [ctx.waiting, note].filter(Boolean).join(" "));
  set(p.note, "title", p.note.textContent);
  const notes = (ctx.notes || []).join(" ");
  if (p.info.hidden !== !notes) p.info.hidden = !notes;
  set(p.info, "title", notes);
  setText(p.summary, ctx.summary || "");
  set(p.summary, "title", ctx.details || ctx.summary || "");
  return ppc;
}

/** A method the engine refused for this box: its message instead of the picture. */
export function drawRefusal(p, message) {
  p.sec.classList.add("refused");
  p.note.textContent = message;
  p.summary.textContent = "";
  p.metricCells.forEach((td) => { td.textContent = ""; });
}

/** A text's width in screen pixels at ``font`` px in the stage's font (a canvas measures it).
 * Remembered: a drag frame asks for every output's number in up to three formats, and the
 * same numbers come back frame after frame. */
let measureCtx = null;
const measured = new Map();   // "font|text" -> width
function textWidth(text, font, family) {
  const key = `${font}px ${family}|${text}`;
  let width = measured.get(key);
  if (width === undefined) {
    measureCtx = measureCtx || document.createElement("canvas").getContext("2d");
    measureCtx.font = `${font}px ${family}`;
    width = measureCtx.measureText(text).width;
    if (measured.size >= 20000) measured.clear();
    measured.set(key, width);
  }
  return width;
}

function drawOutput(p, trace, ctx) {
  const out = trace.output;
  const ph = out.length, pw = out[0].length;
  set(p.out, "viewBox", `0 0 ${pw} ${ph}`);
  const [lo, hi] = ctx.outRange;
  const span = hi - lo || 1;
  const n = ph * pw;
  // The grid takes the room its cells need (wide layouts), the crop the rest.
  pool(p.pools.outRects, p.outCells, "rect", { width: 1, height: 1 }, n);
  const cellPx = pixelsPerUnit(p.out, [0, 0, pw, ph]);
  // Numbers in screen pixels (a group scaled by 1 / cellPx), written only where the longest
  // one fits its cell: 3 significant digits, or 2 when 3 do not fit, or none (hover).
  const font = ctx.style.presenter ? ctx.style.font_size - 2 : Math.max(ctx.style.font_size - 3, ctx.compact ? 10 : 9);
  set(p.outText, "transform", `scale(${1 / cellPx})`);
  // 3 significant digits, else 2: the longest that fits
  // (or two decimals without the leading zero, ".42", when the outputs are small).
  const formats = [(v) => fmt(v, 3), (v) => fmt(v, 2),
    (v) => (Math.abs(v) < 1 ? v.toFixed(2).replace(/^(-?)0\./, "$1.") : fmt(v, 2))];
  // The font the numbers are drawn in (read once: reading styles in a frame forces a layout).
  p.family = p.family || getComputedStyle(p.out).fontFamily || "sans-serif";
  const widest = (f) => Math.max(...[...new Set(out.flat().map(f))].map((t) => textWidth(t, font, p.family)));
  const format = formats.find((f) => cellPx >= font * 1.3 && cellPx >= widest(f) + 3);
  const showText = !!format;
  pool(p.pools.outTexts, p.outText, "text", { "text-anchor": "middle", "dominant-baseline": "central" }, showText ? n : 0);
  for (let r = 0; r < ph; r++) {
    for (let c = 0; c < pw; c++) {
      const i = r * pw + c, v = out[r][c], t = (v - lo) / span;
      const e = p.pools.outRects[i];
      set(e, "x", c); set(e, "y", r); set(e, "fill", viridis(t));
      set(e, "data-value", v);
      if (showText) {
        const tx = p.pools.outTexts[i];
        set(tx, "x", (c + 0.5) * cellPx); set(tx, "y", (r + 0.5) * cellPx);
        set(tx, "font-size", font);
        set(tx, "fill", t > 0.55 ? "black" : "white");
        const text = format(v);
        if (tx.textContent !== text) tx.textContent = text;
      }
    }
  }
}

/** The status line: what is shown and whether the browser agrees with the server. */
export function drawStatus(dom, status) {
  const text = status.kind === "warn" ? status.text : (status.short || status.text);
  if (dom.status.textContent !== text) dom.status.textContent = text;
  set(dom.status, "title", status.text);
  set(dom.status, "aria-label", status.text);
  set(dom.status, "class", `status ${status.kind}${status.kind === "warn" ? "" : " badge"}`);
}

/** The colour scale's numbers: the lowest and highest output over all panels. */
export function drawScale(dom, lo, hi, style) {
  // Decimals from the range (0.93 wide: 3, or 2 in presenter mode), so a tiny minimum reads 0.000.
  const decimals = Math.min(Math.max(0, (style.presenter ? 1 : 2) - Math.floor(Math.log10(hi - lo || 1))), 6);
  const a = lo.toFixed(decimals), b = hi.toFixed(decimals);
  if (dom.scale.lo.textContent !== a) dom.scale.lo.textContent = a;
  if (dom.scale.hi.textContent !== b) dom.scale.hi.textContent = b;
}

export function drawNotices(dom, notices) {
  const key = notices.join("\n");
  if (dom.notices.dataset.key === key) return;
  dom.notices.dataset.key = key;
  dom.notices.replaceChildren(...notices.map((t) => html("p", "notice", null, t)));
}

// ------------------------------------------------------------------------------------------
// Hover: what is under the pointer, read from the trace (no geometry is computed).

function inside(r, x, y) {
  return r && x >= r[0] && x <= r[2] && y >= r[1] && y <= r[3];
}

/** A bin's explanation under ``title``: the cells RoI Pool reads, Precise RoI Pooling's largest
 * shares, or RoI Align's / Warp's sample count. */
function binText(trace, b, title) {
  const lines = [title];
  if (trace.method === "roi_pool") {
    if (!b.argmax) lines.push("reads no cell on the map: output 0");
    else {
      const first = b.cells[0], last = b.cells[b.cells.length - 1];
      lines.push(`reads ${b.cells.length} cells, rows ${first[0]}..${last[0]}, cols ${first[1]}..${last[1]}`);
      lines.push(`max at cell (${b.argmax[0]}, ${b.argmax[1]})`);
    }
  } else if (trace.method === "precise_roi_pool") {
    const top = [...(b.cell_weights || [])].sort((a, c) => c[1] - a[1]).slice(0, 6);
    lines.push("integral of the interpolant / bin area; largest shares:");
    for (const [cell, w] of top) lines.push(`cell (${cell[0]},${cell[1]}): ${w.toFixed(3)}`);
  } else {
    const [gy, gx] = trace.grid;
    lines.push(`${gy * gx} samples (${gy} x ${gx}), ${trace.settings.reduce === "avg" ? "averaged" : "the largest wins"}`);
  }
  return lines.join("\n");
}

/** The tooltip's text for a point (feature units) of a panel, or "" for nothing: the nearest
 * sample within ``radius``, else the bin under it, else the lost / gained / outside area. */
export function hoverText(trace, regions, x, y, radius, style) {
  const label = style.method_labels[trace.method];
  let best = null, bestD = radius * radius;
  for (const b of trace.bins) {
    for (let i = 0; i < (b.samples || []).length; i++) {
      const s = b.samples[i], d = (s.x - x) ** 2 + (s.y - y) ** 2;
      if (d <= bestD) { best = [b, i, s]; bestD = d; }
    }
  }
  if (best) {
    const [b, i, s] = best;
    // Its place in the bin's grid (a trace past the sample budget records every (sy, sx)-th).
    const [sy, sx] = trace.sample_step || [1, 1], grid = trace.grid || [0, 0];
    const cols = Math.ceil((grid[1] - (sx >> 1)) / sx);
    const iy = Math.floor(i / cols) * sy + (sy >> 1), ix = (i % cols) * sx + (sx >> 1);
    const lines = [`${label}: sample (row ${iy}, col ${ix}) of the ${grid[0]} x ${grid[1]} in bin (row ${b.row}, col ${b.col}) at x=${s.x.toFixed(3)}, y=${s.y.toFixed(3)}`];
    if (!s.on_map) lines.push("off the map (counts as 0)");
    else s.neighbours.forEach((cell, j) => lines.push(`cell (${cell[0]},${cell[1]}) x ${s.weights[j].toFixed(3)}`));
    lines.push(`interpolated value: ${fmt(s.value)}`);
    if (b.winner === i) lines.push("the winner of its bin (max)");
    return lines.join("\n");
  }
  for (const b of trace.bins) {
    if (inside(b.rect, x, y)) return binText(trace, b, `${label}: bin (row ${b.row}, col ${b.col}) = ${fmt(b.value)}`);
  }
  const a = trace.areas;
  for (const name of ["outside", "lost", "gained"]) {
    if ((regions[name] || []).some((r) => inside(r, x, y))) {
      const spec = style.areas[name];
      return `${spec.label}: ${fmt(a[name], 3)} cells = ${fmt(a[name + "_pixels"])} px² (${a[name + "_percent"].toFixed(1)}% of the RoI)`;
    }
  }
  return "";
}

/** A cell of the output grid: its bin's value and how the method got it. */
export function outputText(trace, row, col, style) {
  const b = trace.bins.find((x) => x.row === row && x.col === col);
  if (!b) return "";
  return binText(trace, b, `${style.method_labels[trace.method]}: output (row ${row}, col ${col}) = ${fmt(b.value)}`);
}

/** A panel's measures in plain words (the details a tap shows). */
export function panelDetails(trace, metrics, summary, style) {
  const lines = [`${style.method_labels[trace.method]}: ${summary}`];
  metrics.forEach((v, i) => {
    if (v !== "") lines.push(`${METRIC_NAMES[i]}: ${v}  (${METRIC_WORDS[i]})`);
  });
  return lines.join("\n");
}

export function showTooltip(dom, text, clientX, clientY, pinned = false) {
  const tip = dom.tooltip;
  if (!text) { tip.hidden = true; return; }
  tip.textContent = text;
  tip.classList.toggle("pinned", pinned);
  tip.hidden = false;
  const host = dom.root.getBoundingClientRect();
  const w = tip.offsetWidth, h = tip.offsetHeight;
  let left = clientX - host.left + 14, top = clientY - host.top + 14;
  if (left + w > host.width) left = Math.max(0, clientX - host.left - w - 14);
  if (clientY + 14 + h > window.innerHeight) top = Math.max(0, clientY - host.top - h - 14);
  tip.style.left = `${left}px`; tip.style.top = `${top}px`;
}
