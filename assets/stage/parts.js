// The stage's data put back together from what a release sends (roiviz/app/stage_parts.py).
//
// The parts of the data that do not change with the box (the photo, the feature map, the style,
// the methods' notes) come as {part: hash, value} until the server knows this page holds them,
// then as {part: hash} alone; each method's output comes as base64 float32 (output_f32). Parts
// are kept here by hash for the page's life (module scope, so a stage mounted again after a
// page switch still has them), and each release tells the server which ones (heldPartHashes,
// in the box's value). A part neither sent nor kept (trimmed from the cache since) is reported
// missing: the stage asks for the data whole (trigger "missing"). Data without parts (the
// notebook widget, the HTML export) passes through as it is.

const PART_NAMES = ["map", "image", "style", "notes"];
const MAX_HELD_PARTS = 32;   // a few images and maps per stage, two stages a page
const heldParts = new Map(); // hash -> part, least recently used first

/** A list of numbers from base64 of little-endian float32 bytes (how outputs travel). */
function float32Array(b64) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return Array.from(new Float32Array(bytes.buffer));
}

function isPart(v) { return !!v && typeof v === "object" && typeof v.part === "string"; }

/** {data, missing}: the stage's data with every part in place, and the hashes not held. */
export function unpackData(packed) {
  if (!packed || !PART_NAMES.some((name) => isPart(packed[name]))) return { data: packed, missing: [] };
  const data = { ...packed };
  const missing = [];
  for (const name of PART_NAMES) {
    const v = data[name];
    if (!isPart(v)) continue;
    const value = "value" in v ? v.value : heldParts.get(v.part);
    if (value === undefined) { missing.push(v.part); continue; }
    heldParts.delete(v.part);
    heldParts.set(v.part, value);
    data[name] = value;
  }
  while (heldParts.size > MAX_HELD_PARTS) heldParts.delete(heldParts.keys().next().value);
  const notes = data.notes && typeof data.notes === "object" ? data.notes : {};
  data.reference = Object.fromEntries(Object.entries(data.reference || {}).map(([m, r]) => {
    const { output_f32: b64, ...rest } = r;
    return [m, { ...rest, output: typeof b64 === "string" ? float32Array(b64) : r.output, notes: notes[m] || [] }];
  }));
  delete data.notes;
  return { data, missing };
}

/** The hashes of the parts this page holds (sent with each release). */
export function heldPartHashes() { return [...heldParts.keys()]; }
