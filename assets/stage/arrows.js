// Box-gradient arrows on the stage's panels (engine/box_grad.js): on each method's box, one
// arrow per edge, pointing the way that edge should move to increase the chosen target, its
// length proportional to |d target / d edge|. Kept apart from draw.js and stage.js, which only
// call buildArrows, arrowGradients and drawArrows.
// Cheap per drag frame: the gradient alone (targetGradient, no Jacobian), only while the arrows
// are on; each panel's two paths and hover title are built once and only their changed
// attributes and texts are written (an unchanged text rewritten would make the page lay out).
// The length scale is fixed while a box is dragged (set at the last release, from the largest
// derivative then), so that an arrow that grows is a derivative that grows: RoI Align's arrows
// flick as samples cross cell centres, Precise RoI Pooling's turn smoothly, RoI Pool has none.

import { targetGradient } from "./box_grad.js";
import { set, setText } from "./draw.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const ARROW_CELLS = 2.5;    // the longest arrow at the last release, in cells
const ARROW_CAP = 1.6;      // no arrow longer than this many times ARROW_CELLS
export const ARROW_TARGETS = {
  all: "arrows: sum of bins",
  centre: "arrows: centre bin",
  match: "arrows: match last release",
};

function svgNode(tag, attrs, parent) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  parent.appendChild(e);
  return e;
}

/** Adds the arrows' layer to every panel and the toggle + target + legend under the stage's
 * legend. Returns the arrows' state ({on, target, scale, reference, layers, notes, box}). */
export function buildArrows(dom, style, redraw, previous = null) {
  const state = { on: previous ? previous.on : true, target: previous ? previous.target : "all",
    scale: null, reference: {}, layers: {}, notes: {}, redraw };
  const box = document.createElement("div");
  box.className = "arrow-legend";
  const label = document.createElement("label");
  const toggle = document.createElement("input");
  toggle.type = "checkbox";
  toggle.checked = state.on;
  toggle.className = "arrow-toggle";
  label.append(toggle);
  toggle.setAttribute("aria-label", "box-gradient arrows");
  label.title = "Box-gradient arrows: each edge's arrow is d target / d edge. Targets: the sum of all "
    + "bins, the centre bin, or matching the last release's outputs (−½‖out − out₀‖²).";
  const select = document.createElement("select");
  select.className = "arrow-target";
  select.setAttribute("aria-label", "the arrows' target");
  for (const [k, text] of Object.entries(ARROW_TARGETS)) {
    const o = document.createElement("option");
    o.value = k; o.textContent = text; o.selected = k === state.target;
    select.appendChild(o);
  }
  label.appendChild(select);
  const explain = document.createElement("span");
  explain.className = "arrow-explain";
  box.append(label, explain);
  // In the stage's top bar (it wraps), not under the surfaces, where its lines would take height
  // from the photo and the map.
  dom.root.querySelector(".stage-top").appendChild(box);
  state.legend = box; state.explain = explain; state.toggle = toggle; state.select = select;
  toggle.addEventListener("change", () => { state.on = toggle.checked; state.scale = null; redraw(true); });
  select.addEventListener("change", () => { state.target = select.value; state.scale = null; redraw(true); });
  state.paths = {};
  for (const [method, p] of Object.entries(dom.panels)) {
    const layer = svgNode("g", { class: "box-arrows", "data-method": method, "data-arrows": "0" }, p.view);
    state.layers[method] = layer;
    // A white halo under the magenta line; drawArrows only sets their "d" (and the line's title).
    const halo = svgNode("path", { d: "", fill: "none", stroke: "white", "stroke-width": 5.5,
      "stroke-linecap": "round", "vector-effect": "non-scaling-stroke" }, layer);
    const line = svgNode("path", { d: "", fill: "none", stroke: "#d6006f", "stroke-width": 3,
      "stroke-linecap": "round", "vector-effect": "non-scaling-stroke", class: "arrow-line" }, layer);
    const title = document.createElementNS(SVG_NS, "title");
    line.appendChild(title);
    state.paths[method] = { halo, line, title };
    const note = document.createElement("p");
    note.className = "arrow-note";
    p.sec.insertBefore(note, p.sec.querySelector(".metrics-box"));
    state.notes[method] = note;
  }
  return state;
}

/** Each method's d target / d (x1, y1, x2, y2) for its trace's box, {method: [4] or null}.
 * `live` (a drag): the "match" target's reference stays the outputs of the last release. */
export function arrowGradients(state, feature, settings, traces, live) {
  const out = {};
  if (!state) return out;
  for (const [m, t] of Object.entries(traces)) {
    if (!live || !state.reference[m]) state.reference[m] = t.output;
    if (!state.on) continue;
    const [ph, pw] = t.settings.output_size;
    const target = state.target === "centre" ? { kind: "bin", bin: [Math.floor(ph / 2), Math.floor(pw / 2)] }
      : state.target === "match" ? { kind: "match", reference: state.reference[m] } : { kind: "all" };
    try {
      out[m] = targetGradient(m, feature, t.image_box, settings, target, t);
    } catch (err) {
      out[m] = undefined;   // e.g. a reference of another size after a settings change
    }
  }
  if (!live || !state.scale) {
    // The length scale: the largest |derivative| per cell now, kept during the next drag (for
    // "match" every derivative is 0 at the release: then the drag's first frame sets it).
    let top = 0;
    for (const g of Object.values(out)) if (g) for (const v of g) top = Math.max(top, Math.abs(v) * settings.stride);
    state.scale = top > 0 ? ARROW_CELLS / top : null;
  }
  return out;
}

const fmtGradient = (v) => (Math.abs(v) >= 0.01 || v === 0 ? v.toFixed(3) : v.toExponential(2));

/** Draws every panel's arrows. extent: the panels' common view (feature units). */
export function drawArrows(dom, state, traces, gradients, extent, stride) {
  if (!state) return;
  const ppcOf = (svg) => {
    const [w, h] = svg.__size || [1, 1];
    return Math.min(w / Math.max(extent[2] - extent[0], 1e-9), h / Math.max(extent[3] - extent[1], 1e-9));
  };
  set(state.legend, "data-on", String(state.on));
  const explanation = state.on
    ? "Arrow = d target / d edge: the way that edge should move to raise the target, length ∝ derivative "
      + "(one scale for all panels, reset at each release). RoI Pool has none: its output is a step "
      + "function of the box."
    : "";
  setText(state.explain, explanation);
  // Where the line is hidden (narrow, projector: stage.css) it is the toggle's hover text.
  set(state.legend, "title", explanation);
  for (const [method, layer] of Object.entries(state.layers)) {
    const t = traces[method], g = gradients[method];
    const { halo, line, title } = state.paths[method];
    set(layer, "data-gradient", g ? g.join(",") : String(g));
    let d = "", note = "", count = 0;
    if (state.on && t && g === null) {
      note = "No box arrows: RoI Pool's output is a step function of the box (derivative 0 wherever it exists).";
    } else if (state.on && t && g) {
      const ppc = ppcOf(dom.panels[method].view);
      const [x1, y1, x2, y2] = t.roi;
      const mid = [(x1 + x2) / 2, (y1 + y2) / 2];
      const anchors = [[x1, mid[1], 1, 0], [mid[0], y1, 0, 1], [x2, mid[1], 1, 0], [mid[0], y2, 0, 1]];
      const scale = state.scale || 0;
      const head = 8 / ppc;
      g.forEach((v, k) => {
        let len = v * stride * scale;                  // cells
        len = Math.max(-ARROW_CAP * ARROW_CELLS, Math.min(ARROW_CAP * ARROW_CELLS, len));
        if (!(Math.abs(len) * ppc >= 2)) return;       // shorter than 2 screen pixels: no arrow
        const [ax, ay, ux, uy] = anchors[k];
        const ex = ax + ux * len, ey = ay + uy * len, sx = Math.sign(len);
        const hx = Math.min(head, Math.abs(len));
        d += `M${ax} ${ay}L${ex} ${ey}`;
        // Head: a triangle at the tip, in screen-sized units.
        d += `M${ex} ${ey}L${ex - sx * ux * hx + uy * hx * 0.6} ${ey - sx * uy * hx + ux * hx * 0.6}`
          + `M${ex} ${ey}L${ex - sx * ux * hx - uy * hx * 0.6} ${ey - sx * uy * hx - ux * hx * 0.6}`;
        count += 1;
      });
      setText(title, `d(${ARROW_TARGETS[state.target]}) / d(box edge, per image pixel): ${g.map((v, k) => `${["x1", "y1", "x2", "y2"][k]} ${fmtGradient(v)}`).join(", ")}`);
    }
    set(halo, "d", d);
    set(line, "d", d);
    set(layer, "display", d ? "inline" : "none");
    set(layer, "data-arrows", String(count));
    setText(state.notes[method], note);
  }
}
