// The Playground's live stage (st.components.v2 entry point, the bundle's default export).
//
// Streamlit calls the default export on the same parentElement whenever the data changes; the
// stage keeps its state there and updates in place (it is never rebuilt while it lives). While
// a box is dragged, every method is computed here, by the browser engine, on each animation
// frame; nothing is sent to the server. On release (or a keyboard move) one value,
// {box, seq}, goes to the server, which traces the box with roiviz and sends its numbers back
// in the next data; the check badge (its title) says the largest difference between the two.
import { regionRects, traceMethod } from "./engine.js";
import { arrowGradients, buildArrows, drawArrows } from "./arrows.js";
import { heldPartHashes, unpackData } from "./parts.js";
import { buildStage, drawNotices, drawPanel, drawRefusal, drawScale, drawStatus, drawSurface, heatImage, hoverText, outputText, panelDetails, showTooltip } from "./draw.js";

const AGREE = 1e-5;          // largest |browser - server| that still counts as agreement
const KEY_SEND_DELAY = 350;  // ms after the last arrow key before the box goes to the server
const COMPACT = 800;         // px: below this width (or with embed=true) one drag surface and small panels
const WIDE_MIN_H = 620;      // px: a wide stage lower than this could not draw its surfaces 240 px wide
const LIVE_BUDGET = 40;      // ms: a method slower than this follows a drag only on release

function decodeMap(m) {
  const bytes = Uint8Array.from(atob(m.b64), (c) => c.charCodeAt(0));
  return { values: new Float32Array(bytes.buffer), height: m.height, width: m.width, min: m.min, max: m.max };
}

function round3(v) { return Math.round(v * 1000) / 1000; }

function sortBox(b) {
  return [Math.min(b[0], b[2]), Math.min(b[1], b[3]), Math.max(b[0], b[2]), Math.max(b[1], b[3])];
}

const f2 = (v) => (Math.round(v * 100) / 100).toString();

/** One line under a panel's title: what the method does with the box, in numbers. */
function panelSummary(t) {
  const r = (b) => `x ${f2(b[0])}..${f2(b[2])}, y ${f2(b[1])}..${f2(b[3])}`;
  if (t.method === "roi_pool") return t.snapped_box ? `reads whole cells ${r(t.snapped_box)}` : "reads no cell";
  if (t.method === "roi_warp") return t.snapped_box ? `snaps to ${r(t.snapped_box)}, then samples ${t.grid[0]} x ${t.grid[1]} per bin` : "";
  if (t.method === "roi_align") {
    const shifted = t.settings.aligned ? "" : " (shifted by half a cell: aligned=False)";
    return `samples ${t.grid[0]} x ${t.grid[1]} per bin, no rounding${shifted}`;
  }
  return "integrates each bin exactly, no rounding, no samples";
}

/** A few words for presenter mode (the whole summary is the tag's hover text). */
function panelTag(t) {
  if (t.method === "roi_pool") return t.snapped_box ? "whole cells" : "no cell";
  const grid = t.grid ? `${t.grid[0]} x ${t.grid[1]} samples` : "";
  if (t.method === "roi_warp") return t.snapped_box ? `snapped, ${grid}` : "";
  // aligned=False reads the box shifted by +½ cell (aligned=True subtracts the ½ that undoes it).
  if (t.method === "roi_align") return t.settings.aligned ? grid : `${grid}, ½-cell shift`;
  return "exact integral";
}

class Stage {
  constructor(root, setStateValue) {
    this.root = root;
    this.setStateValue = setStateValue;
    this.uid = `s${Math.random().toString(36).slice(2, 8)}`;
    this.dom = null;
    this.signature = "";
    this.box = null;         // image pixels, the box drawn now
    this.seq = 0;            // releases sent by this stage
    this.serverSeq = 0;      // the last release the server has answered
    this.drag = null;
    this.frame = 0;
    this.keyTimer = 0;
    this.extent = null;      // the panels' common view (feature units)
    this.traces = {};
    this.data = null;
    // A blog's iframe (Streamlit's ?embed=true): the compact stage whatever the width.
    this.embedded = new URLSearchParams(window.location.search).get("embed") === "true";
    this.dragOn = "map";     // compact layouts: the one drag surface shown ("map" or "image")
    this.resize = new ResizeObserver(() => this.layout());
    this.resize.observe(root);
    this.onWindowResize = () => this.layout();
    window.addEventListener("resize", this.onWindowResize);
  }

  destroy() {
    this.resize.disconnect();
    if (this.sizes) this.sizes.disconnect();
    window.removeEventListener("resize", this.onWindowResize);
    cancelAnimationFrame(this.frame);
    clearTimeout(this.keyTimer);
  }

  // ---- data from the server -------------------------------------------------------------
  update(data) {
    // Not in the middle of a drag or of keyboard moves not yet sent: apply it afterwards.
    if (this.drag || this.keyPending) { this.pendingData = data; return; }
    const first = !this.data;
    const mapChanged = !this.data || this.data.map.b64 !== data.map.b64;
    this.data = data;
    if (mapChanged) {
      this.map = decodeMap(data.map);
      this.map.href = heatImage(this.map);
    }
    const signature = JSON.stringify([!!data.image, data.methods, data.style.presenter]);
    if (signature !== this.signature) {
      this.signature = signature;
      this.dom = buildStage(this.root, { hasImage: !!data.image, methods: data.methods, style: data.style, uid: this.uid });
      this.root.classList.toggle("presenter", !!data.style.presenter);
      this.arrows = buildArrows(this.dom, data.style, (again) => { if (again) this.compute(); this.draw(); }, this.arrows);
      this.bindEvents();
      this.observeSizes();
    }
    // A server session only counts up; a lower count means a new session (a restarted or
    // replaced worker that restored the box from the link): start counting from its number.
    if (first || data.seq < this.serverSeq) this.seq = data.seq;
    // The server's box wins once it has answered our last release (or for a typed box, a new
    // input, new settings: anything that did not come from this stage).
    if (data.seq >= this.seq) {
      this.seq = data.seq;
      this.box = data.box.slice();
      this.extent = null;
    }
    this.serverSeq = data.seq;
    drawNotices(this.dom, data.notices || []);
    this.compute();
    this.layout();  // and draw
  }

  // ---- computing: the browser engine, every method, for the box drawn now -----------------
  // During a drag a method whose last run took more than LIVE_BUDGET ms skips every other
  // frame, so the others stay smooth; its panel says so.
  compute(live = false) {
    const d = this.data;
    const traces = {}, regions = {}, refused = {};
    this.cost = this.cost || {};
    this.waiting = [];
    for (const m of d.methods) {
      // A slow method (its last run over LIVE_BUDGET) follows every other frame, and is timed
      // again each time, so one slow run (a cold start) does not hold it back for good.
      this.skipped = this.skipped || {};
      if (live && this.cost[m] > LIVE_BUDGET && this.traces[m] && !this.skipped[m]) {
        traces[m] = this.traces[m]; regions[m] = this.regions[m];
        this.waiting.push(m);
        this.skipped[m] = true;
        continue;
      }
      this.skipped[m] = false;
      const t0 = performance.now();
      try {
        traces[m] = traceMethod(m, this.map, this.box, d.settings);
      } catch (err) {
        // The engine refuses what roiviz refuses (e.g. more samples than the Playground traces
        // live, which an adaptive ratio reaches when a box grows): say so in the panel.
        refused[m] = String(err && err.message ? err.message : err);
        continue;
      }
      regions[m] = {};
      for (const name of Object.keys(d.style.areas)) regions[m][name] = regionRects(traces[m], name);
      this.cost[m] = performance.now() - t0;
    }
    this.traces = traces;
    this.regions = regions;
    this.refused = refused;
    this.gradients = arrowGradients(this.arrows, this.map, d.settings, traces, live);
  }

  agreement() {
    const d = this.data;
    const ref = d.reference || {};
    const same = this.box.every((v, i) => v === d.box[i]);
    if (!same || this.seq > this.serverSeq) {
      return { kind: "pending", short: "checking…", text: "Computed in your browser; checking with the server…" };
    }
    let worst = 0, where = "";
    const missing = [];
    for (const m of d.methods) {
      const t = this.traces[m], r = ref[m];
      if (!t) continue;
      if (!r) { missing.push(d.style.method_labels[m]); continue; }
      const flat = t.output.flat();
      let diff = flat.length === r.output.length ? 0 : Infinity;
      for (let i = 0; i < flat.length && diff !== Infinity; i++) diff = Math.max(diff, Math.abs(flat[i] - r.output[i]));
      const geom = ["snapped_box", "sampled_box", "read_region"].some((k) => JSON.stringify(t[k]) !== JSON.stringify(r[k]));
      if (geom) diff = Math.max(diff, 1);
      if (diff > worst || !where) { worst = Math.max(worst, diff); where = d.style.method_labels[m]; }
    }
    this.root.dataset.agreement = String(worst);
    const tail = missing.length ? ` (${missing.join(", ")}: not traced by the server)` : "";
    if (worst > AGREE) {
      return { kind: "warn", short: "⚠ differs", text: `⚠ Browser and server disagree: largest |difference| ${worst.toExponential(2)} (${where}). The tables below are the server's numbers.${tail}` };
    }
    return { kind: "ok", short: "✓ checked", text: `✓ Browser and server agree: largest |difference| ${worst === 0 ? "0" : worst.toExponential(1)} over all outputs and boxes.${tail}` };
  }

  // ---- drawing -----------------------------------------------------------------------------
  layout() {
    if (!this.dom) return;
    const width = this.root.clientWidth || window.innerWidth;
    const compact = this.embedded || width < COMPACT;
    this.root.classList.toggle("compact", compact);
    this.root.classList.remove("narrow");
    // Under about 1000 px the legend's full labels would take a second line from the surfaces
    // (each label's whole text stays its title).
    this.root.classList.toggle("short-legend", width < 1000);
    const presenter = !!(this.data && this.data.style.presenter);
    const below = window.innerHeight - this.pageTop() - 12;
    // A host that sizes the stage itself (the notebook widget: a cell, not a window) says so on
    // the stage's parent element.
    const fixed = Number((this.root.parentNode && this.root.parentNode.dataset && this.root.parentNode.dataset.stageHeight) || 0);
    let h;
    if (fixed > 0) {
      h = fixed;
    } else if (compact) {
      // One screen: the surface and the 2 x 2 panels under the top bar (none in an embed).
      h = Math.max(360, window.innerHeight - 70);
    } else if (presenter) {
      // The stage fits the window below where it starts on the page, so the box and all four
      // panels are on screen together under a short title; if it starts low on the page, it
      // takes the window's height less the header bar.
      h = Math.max(400, Math.min(below >= 0.6 * window.innerHeight ? below : window.innerHeight - 70, 1100));
    } else {
      // Below the title when there is room for two surfaces at least 240 px high, else the
      // window's height less the header bar (the page scrolls to the stage once).
      h = Math.max(400, Math.min(below >= WIDE_MIN_H ? below : window.innerHeight - 66, 1100));
    }
    this.root.style.setProperty("--stage-h", `${Math.round(h)}px`);
    // The top row (check badge, legend, notices) wraps to as many lines as the width needs.
    const top = this.root.querySelector(".stage-top");
    this.root.style.setProperty("--top-h", `${Math.ceil(top ? top.getBoundingClientRect().height + 4 : 26)}px`);
    for (const [kind, s] of Object.entries(this.dom.surfaces)) s.fig.hidden = compact && kind !== this.dragOn;
    if (this.dom.toggle) {
      this.dom.toggle.bar.hidden = !compact;
      for (const [kind, btn] of Object.entries(this.dom.toggle.buttons)) btn.setAttribute("aria-pressed", String(kind === this.dragOn));
    }
    // Photo and map side by side when that draws them larger than one above the other.
    const box = this.dom.surfacesBox;
    if (this.dom.surfaces.image && !compact) {
      box.classList.remove("pair");
      const w = box.clientWidth, free = h - 2 * 16 - 150;  // less the status, legend, hint, titles
      box.classList.toggle("pair", Math.min(w / 2, free) > Math.min(w, free / 2));
    } else {
      box.classList.remove("pair");
    }
    if (compact) {
      // Small panels: the crop and the output grid side by side where the panel is wide,
      // one above the other where it is tall.
      const body = this.dom.panelsBox.querySelector(".panel-body");
      const r = body ? body.getBoundingClientRect() : null;
      this.root.classList.toggle("tall-panels", !!r && r.height > 0.8 * r.width);
    } else {
      this.root.classList.remove("tall-panels");
    }
    const bodies = [...this.dom.panelsBox.querySelectorAll(".panel-body")];
    const sizes = bodies.map((e) => [e.clientWidth, e.clientHeight]);  // all read, then all set
    bodies.forEach((e, i) => this.fitBody(e, sizes[i]));
    // Before the size observer's first report (a new stage): every SVG's size read in one pass,
    // one layout, not one forced layout per panel between the drawing's DOM changes.
    for (const svg of this.root.querySelectorAll("svg")) {
      if (!svg.__size) { const r = svg.getBoundingClientRect(); svg.__size = [r.width || 1, r.height || 1]; }
    }
    if (this.data && !this.drag) this.draw();
  }

  /** A panel's crop and output grid, placed in px (stage.css: a box of fixed size is a relayout
   * boundary, one sized in % is not). Wide layouts: the grid as wide as its cells need at the
   * panel's height, at most 42% of the width (55% in presenter mode); compact: crop 60%, grid
   * 40% (presenter: halves), side by side or, in tall panels, one above the other. ``[w, h]`` =
   * the body's size (read by the caller: layout or the size observer). */
  fitBody(body, [w, h]) {
    if (!this.data) return;
    const compact = this.root.classList.contains("compact"), presenter = !!this.data.style.presenter;
    const gap = compact ? 3 : presenter ? 8 : 6;
    let view, out;  // [width, height]
    if (compact && this.root.classList.contains("tall-panels")) {
      const vh = Math.floor((h - gap) * (presenter ? 0.5 : 0.6));
      view = [w, vh]; out = [w, h - gap - vh];
    } else {
      const [ph, pw] = this.data.settings.output_size;
      const ow = Math.floor(compact ? (w - gap) * (presenter ? 0.5 : 0.4) : Math.min((presenter ? 0.55 : 0.42) * w, h * pw / ph));
      view = [w - gap - ow, h]; out = [ow, h];
    }
    const sizes = { "--view-w": view[0], "--view-h": view[1], "--out-w": out[0], "--out-h": out[1] };
    for (const [name, v] of Object.entries(sizes)) {
      const px = `${Math.max(Math.floor(v), 0)}px`;
      if (body.style.getPropertyValue(name) !== px) body.style.setProperty(name, px);
    }
  }

  /** Compact layouts: drag on the feature map or on the photo. */
  chooseSurface(kind) {
    if (!this.dom.surfaces[kind] || kind === this.dragOn) return;
    this.dragOn = kind;
    this.layout();
  }

  /** The stage's top on the page (not on screen: the same whether the page is scrolled). */
  pageTop() {
    let a = this.root.parentNode;
    while (a) {
      if (a instanceof ShadowRoot) a = a.host;
      if (a.nodeType === 1 && a.scrollHeight > a.clientHeight && /(auto|scroll)/.test(getComputedStyle(a).overflowY)) break;
      a = a.parentNode;
    }
    const top = this.root.getBoundingClientRect().top;
    return a && a.nodeType === 1 ? top - a.getBoundingClientRect().top + a.scrollTop : top + window.scrollY;
  }

  panelExtent() {
    // One view for all panels (so they compare), around every method's rectangles. During a
    // drag it only grows, so the map stays still while the box moves over it.
    let e = this.extent ? this.extent.slice() : null;
    const grow = (r) => {
      if (!r) return;
      if (!e) { e = r.slice(); return; }
      e = [Math.min(e[0], r[0]), Math.min(e[1], r[1]), Math.max(e[2], r[2]), Math.max(e[3], r[3])];
    };
    for (const t of Object.values(this.traces)) {
      grow(t.roi); grow(t.snapped_box); grow(t.read_region); grow(t.sampled_box);
    }
    if (!e) return [0, 0, this.map.width, this.map.height];
    if (!this.extent) {
      const pad = Math.max(1, 0.15 * Math.max(e[2] - e[0], e[3] - e[1]));
      e = [Math.max(e[0] - pad, Math.min(e[0], 0) - 0.5), Math.max(e[1] - pad, Math.min(e[1], 0) - 0.5),
        Math.min(e[2] + pad, Math.max(e[2], this.map.width) + 0.5), Math.min(e[3] + pad, Math.max(e[3], this.map.height) + 0.5)];
    }
    this.extent = e;
    return e;
  }

  metrics(trace) {
    const a = trace.areas;
    const precise = this.traces.precise_roi_pool;
    let diff = "";
    if (precise) {
      const x = trace.output.flat(), y = precise.output.flat();
      let s = 0;
      for (let i = 0; i < x.length; i++) s += Math.abs(x[i] - y[i]);
      diff = (s / x.length).toFixed(4);
    }
    return [a.lost_percent.toFixed(1), a.gained_percent.toFixed(1), a.outside_percent.toFixed(1), a.iou.toFixed(3), diff];
  }

  draw() {
    const t0 = performance.now();
    const d = this.data, style = d.style, stride = d.settings.stride;
    const b = sortBox(this.box);
    if (this.dom.surfaces.image) {
      const im = d.image;
      drawSurface(this.dom.surfaces.image, {
        extent: [-0.02 * im.width, -0.02 * im.height, 1.02 * im.width, 1.02 * im.height],
        box: b, pictureHref: im.uri, pictureSize: [im.width, im.height], gridStep: stride,
      }, style, this.surfaceTitle(d.titles.image));
    }
    const m = this.map;
    drawSurface(this.dom.surfaces.map, {
      extent: [-0.5, -0.5, m.width + 0.5, m.height + 0.5],
      box: b.map((v) => v / stride), pictureHref: m.href, pictureSize: [m.width, m.height], gridStep: 1, map: m,
    }, style, this.surfaceTitle(d.titles.map));
    const extent = this.panelExtent();
    let lo = Infinity, hi = -Infinity;
    for (const t of Object.values(this.traces)) {
      for (const row of t.output) for (const v of row) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }
    if (!(hi > lo)) hi = lo + 1;
    for (const [method, p] of Object.entries(this.dom.panels)) {
      const t = this.traces[method];
      p.sec.hidden = !t && !this.refused[method];
      if (!t) {
        if (this.refused[method]) drawRefusal(p, this.refused[method]);
        continue;
      }
      const ref = (d.reference || {})[method];
      const details = panelSummary(t);
      const summary = style.presenter || this.root.classList.contains("compact") ? panelTag(t) : details;
      const waiting = this.drag && this.waiting.includes(method)
        ? `Slow to compute (${Math.round(this.cost[method])} ms): follows every other frame.` : "";
      drawPanel(p, t, { extent, style, map: m, regions: this.regions[method], outRange: [lo, hi], cap: d.max_drawn_samples, compact: this.root.classList.contains("compact"),
        metrics: this.metrics(t), notes: ref ? ref.notes : [], summary, details, waiting });
    }
    drawArrows(this.dom, this.arrows, this.traces, this.gradients || {}, extent, stride);
    const status = this.drag ? { kind: "live", short: "● live", text: "Dragging: every panel is computed in your browser; release to check with the server." }
      : this.agreement();
    drawScale(this.dom, lo, hi, style);
    drawStatus(this.dom, status);
    // Written only when changed (an attribute written, even unchanged, is a DOM mutation).
    const marks = { state: this.drag ? "dragging" : status.kind, seq: String(this.seq), serverSeq: String(this.serverSeq), box: b.join(",") };
    for (const [k, v] of Object.entries(marks)) if (this.root.dataset[k] !== v) this.root.dataset[k] = v;
    this.root.dataset.drawMs = (performance.now() - t0).toFixed(2);
  }

  /** A surface's caption: "drag a box" where no hint under the surfaces says how. */
  surfaceTitle(title) {
    return this.root.classList.contains("compact") && !this.data.style.presenter ? `${title}: drag a box` : title;
  }

  observeSizes() {
    // Every SVG's size on screen, kept on the element (svg.__size) for the drawing, which must
    // not read layout in the middle of a frame.
    if (this.sizes) this.sizes.disconnect();
    this.sizes = new ResizeObserver((entries) => {
      for (const e of entries) {
        e.target.__size = [e.contentRect.width || 1, e.contentRect.height || 1];
        if (e.target.classList.contains("panel-body")) this.fitBody(e.target, e.target.__size);
      }
      if (this.data && !this.drag) this.schedule();
    });
    for (const svg of this.root.querySelectorAll("svg")) this.sizes.observe(svg);
    for (const body of this.root.querySelectorAll(".panel-body")) this.sizes.observe(body);
  }

  // ---- input ------------------------------------------------------------------------------
  bindEvents() {
    for (const s of Object.values(this.dom.surfaces)) {
      s.svg.addEventListener("pointerdown", (e) => this.pointerDown(e, s));
      s.svg.addEventListener("pointermove", (e) => this.pointerMove(e, s));
      s.svg.addEventListener("pointerup", (e) => this.pointerUp(e, s));
      s.svg.addEventListener("pointercancel", (e) => this.pointerUp(e, s));
      s.svg.addEventListener("keydown", (e) => this.keyDown(e));
    }
    for (const [method, p] of Object.entries(this.dom.panels)) {
      p.view.addEventListener("pointermove", (e) => this.hover(e, method, p));
      p.out.addEventListener("pointermove", (e) => this.hover(e, method, p, true));
      for (const v of [p.view, p.out]) v.addEventListener("pointerleave", () => { if (!this.pinned) showTooltip(this.dom, "", 0, 0); });
      // Details on tap (phones, and a click anywhere): the numbers under the finger, the
      // panel's measures in words; a second tap, or a tap elsewhere, closes them.
      p.sec.addEventListener("click", (e) => this.tap(e, method, p));
    }
    if (this.dom.toggle) {
      for (const [kind, btn] of Object.entries(this.dom.toggle.buttons)) btn.addEventListener("click", () => this.chooseSurface(kind));
    }
    // The check badge: its whole sentence on a tap too (a phone has no hover).
    this.dom.status.addEventListener("click", (e) => {
      e.stopPropagation();
      const open = this.pinned === "status";
      this.pinned = open ? null : "status";
      showTooltip(this.dom, open ? "" : this.dom.status.getAttribute("title"), e.clientX, e.clientY, true);
    });
    this.root.addEventListener("click", (e) => {
      if (this.pinned && !e.target.closest(".panel")) { this.pinned = null; showTooltip(this.dom, "", 0, 0); }
    });
  }

  unitsPerImagePixel(s) { return s.kind === "image" ? 1 : 1 / this.data.settings.stride; }

  toSurface(e, s) {
    const pt = new DOMPoint(e.clientX, e.clientY).matrixTransform(s.svg.getScreenCTM().inverse());
    const k = this.unitsPerImagePixel(s);
    return [pt.x / k, pt.y / k];  // image pixels
  }

  imageSize() {
    const st = this.data.settings.stride;
    return [this.map.width * st, this.map.height * st];
  }

  pointerDown(e, s) {
    if (e.button !== undefined && e.button !== 0) return;
    e.preventDefault();
    this.root.classList.remove("keyboard");
    if (this.pinned) { this.pinned = null; showTooltip(this.dom, "", 0, 0); }  // its numbers would go stale
    s.svg.focus({ preventScroll: true });
    s.svg.setPointerCapture(e.pointerId);
    const p = this.toSurface(e, s);
    const b = sortBox(this.box);
    const ctm = s.svg.getScreenCTM();
    const k = this.unitsPerImagePixel(s);
    const tol = (e.pointerType === "touch" ? 16 : 8) / (ctm.a * k);  // screen px -> image px
    const nearX1 = Math.abs(p[0] - b[0]) <= tol, nearX2 = Math.abs(p[0] - b[2]) <= tol;
    const nearY1 = Math.abs(p[1] - b[1]) <= tol, nearY2 = Math.abs(p[1] - b[3]) <= tol;
    const withinX = p[0] >= b[0] - tol && p[0] <= b[2] + tol, withinY = p[1] >= b[1] - tol && p[1] <= b[3] + tol;
    let mode = "new";
    const edges = { x1: nearX1 && withinY, x2: nearX2 && !nearX1 && withinY, y1: nearY1 && withinX, y2: nearY2 && !nearY1 && withinX };
    if (edges.x1 || edges.x2 || edges.y1 || edges.y2) mode = "resize";
    else if (p[0] > b[0] && p[0] < b[2] && p[1] > b[1] && p[1] < b[3]) mode = "move";
    this.drag = { id: e.pointerId, mode, edges, start: p, startBox: b, screen: [e.clientX, e.clientY], moved: false, surface: s };
    this.root.dataset.state = "dragging";
    this.freezeTexts(true);
  }

  /** During a drag each panel's head, measures and notes keep the height they have at its
   * start, as boxes with `contain: strict` (stage.css, .frozen). A text changed in a frame is
   * then laid out alone: otherwise Chromium lays out the whole page again, every element of
   * every SVG of the stage included (5-8 ms of a 16.7 ms frame; benchmarks/latency.py). */
  freezeTexts(on) {
    const texts = [...this.root.querySelectorAll(".panel-head, .metrics-box, .panel-note, .arrow-note")];
    if (on) {
      const heights = texts.map((e) => e.getBoundingClientRect().height);  // all read, then all set
      texts.forEach((e, i) => { e.style.height = `${heights[i]}px`; e.classList.add("frozen"); });
    } else {
      for (const e of texts) { e.style.height = ""; e.classList.remove("frozen"); }
    }
  }

  pointerMove(e, s) {
    const g = this.drag;
    if (!g || g.id !== e.pointerId) return;
    e.preventDefault();
    if (!g.moved && Math.hypot(e.clientX - g.screen[0], e.clientY - g.screen[1]) < 3) return;
    g.moved = true;
    const [W, H] = this.imageSize();
    const pad = this.data.settings.stride;
    const p = this.toSurface(e, s);
    const px = Math.min(Math.max(p[0], -pad), W + pad), py = Math.min(Math.max(p[1], -pad), H + pad);
    const b0 = g.startBox;
    let b;
    if (g.mode === "move") {
      let dx = px - g.start[0], dy = py - g.start[1];
      // Keep the box's centre on the map, so it always overlaps it.
      const cx = (b0[0] + b0[2]) / 2, cy = (b0[1] + b0[3]) / 2;
      dx = Math.min(Math.max(dx, -cx), W - cx); dy = Math.min(Math.max(dy, -cy), H - cy);
      b = [b0[0] + dx, b0[1] + dy, b0[2] + dx, b0[3] + dy];
    } else if (g.mode === "resize") {
      b = b0.slice();
      if (g.edges.x1) b[0] = px;
      if (g.edges.x2) b[2] = px;
      if (g.edges.y1) b[1] = py;
      if (g.edges.y2) b[3] = py;
    } else {
      b = [g.start[0], g.start[1], px, py];
    }
    b = sortBox(b);
    const minSize = 0.05 * pad;
    if (b[2] - b[0] < minSize || b[3] - b[1] < minSize) return;
    if (b[2] <= 0 || b[3] <= 0 || b[0] >= W || b[1] >= H) return;
    this.box = b;
    this.schedule();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      const t0 = performance.now();
      this.compute(true);
      const t1 = performance.now();
      this.draw();
      // Benchmarks (benchmarks/latency.py) read each frame's engine and drawing times.
      if (window.__roivizStageFrames) window.__roivizStageFrames.push({ engine: t1 - t0, draw: performance.now() - t1 });
    });
  }

  pointerUp(e, s) {
    const g = this.drag;
    if (!g || g.id !== e.pointerId) return;
    this.drag = null;
    this.freezeTexts(false);
    try { s.svg.releasePointerCapture(e.pointerId); } catch (_) { /* already released */ }
    cancelAnimationFrame(this.frame); this.frame = 0;
    if (!g.moved) { this.afterDrag(); return; }  // a click keeps the box
    this.release();
  }

  release() {
    this.box = this.box.map(round3);
    this.seq += 1;
    this.setStateValue("box", { box: this.box.slice(), seq: this.seq });
    this.compute();
    this.draw();
    this.afterDrag();
  }

  afterDrag() {
    if (this.pendingData) {
      const d = this.pendingData;
      this.pendingData = null;
      this.update(d);
    } else {
      this.draw();
    }
  }

  keyDown(e) {
    const dirs = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    const dir = dirs[e.key];
    if (!dir || !this.data) return;
    e.preventDefault();
    this.root.classList.add("keyboard");
    const step = this.data.settings.stride * (e.shiftKey ? 1 : 0.1);
    const [W, H] = this.imageSize();
    const b = this.box;
    let dx = dir[0] * step, dy = dir[1] * step;
    const cx = (b[0] + b[2]) / 2, cy = (b[1] + b[3]) / 2;
    dx = Math.min(Math.max(dx, -cx), W - cx); dy = Math.min(Math.max(dy, -cy), H - cy);
    this.box = [b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy].map(round3);
    this.compute();
    this.draw();
    clearTimeout(this.keyTimer);
    this.keyPending = true;
    this.keyTimer = setTimeout(() => {
      this.keyPending = false;
      this.seq += 1;
      this.setStateValue("box", { box: this.box.slice(), seq: this.seq });
      this.afterDrag();
    }, KEY_SEND_DELAY);
  }

  /** What is under a pointer in a panel: a sample, a bin or an area of the crop, or a cell of
   * the output grid (``onOutput``); "" for nothing. */
  pointText(e, method, p, onOutput) {
    const t = this.traces[method];
    if (!t) return "";
    if (onOutput) {
      const pt = new DOMPoint(e.clientX, e.clientY).matrixTransform(p.out.getScreenCTM().inverse());
      return outputText(t, Math.floor(pt.y), Math.floor(pt.x), this.data.style);
    }
    const pt = new DOMPoint(e.clientX, e.clientY).matrixTransform(p.view.getScreenCTM().inverse());
    const ppc = p.view.getScreenCTM().a;
    return hoverText(t, this.regions[method], pt.x, pt.y, (e.pointerType === "touch" ? 14 : 8) / ppc, this.data.style);
  }

  hover(e, method, p, onOutput = false) {
    if (!this.traces[method] || this.drag || this.pinned || e.pointerType === "touch") return;
    showTooltip(this.dom, this.pointText(e, method, p, onOutput), e.clientX, e.clientY);
  }

  tap(e, method, p) {
    const t = this.traces[method];
    if (!t || this.drag) return;
    const key = `${method}:${Math.round(e.clientX / 12)}:${Math.round(e.clientY / 12)}`;
    if (this.pinned === key) { this.pinned = null; showTooltip(this.dom, "", 0, 0); return; }
    this.pinned = key;
    const onOutput = !!e.target.closest(".out"), onView = !!e.target.closest(".view");
    const under = onOutput || onView ? this.pointText(e, method, p, onOutput) : "";
    const words = panelDetails(t, this.metrics(t), panelSummary(t), this.data.style);
    showTooltip(this.dom, [under, words].filter(Boolean).join("\n\n"), e.clientX, e.clientY, true);
  }
}

export default function (component) {
  const { parentElement, setStateValue, setTriggerValue } = component;
  const { data, missing } = unpackData(component.data);
  let root = parentElement.querySelector(".roiviz-stage");
  if (!root) {
    root = document.createElement("div");
    root.className = "roiviz-stage";
    parentElement.appendChild(root);
  }
  if (!root.__stage) root.__stage = new Stage(root, setStateValue);
  const stage = root.__stage;
  // A release also says which parts of the data this page holds, so the server sends them no more.
  stage.setStateValue = (name, value) => setStateValue(name, name === "box" && value && typeof value === "object"
    ? { ...value, held: heldPartHashes() } : value);
  // A part the server thinks this page holds but it does not: ask for the data whole.
  if (missing.length) { if (setTriggerValue) setTriggerValue("missing", missing); }
  else if (data) stage.update(data);
  return () => {
    stage.destroy();
    root.__stage = null;
  };
}
