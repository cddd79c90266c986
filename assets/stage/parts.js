// The stage's data put back together from what a release sends (roiviz/app/stage_parts.py).
//
// The parts of the data that do not change with the box (the photo, the feature map, the style,
// the methods' notes) come as {part: hash, value} until the server knows this page holds them,
// then as {part: hash} alone. They are kept here by hash for the page's life (module scope, so
// a stage mounted again after a page switch still has them), and each release tells the server
// which ones (heldPartHashes, in the box's value). A part neither sent nor kept (trimmed from
// the cache since) is reported missing: the stage asks for the data whole (trigger "missing").
// Data without parts (the notebook widget, the HTML export) passes through as it is.

const PART_NAMES = ["map", "image", "style", "notes"];
const MAX_HELD_PARTS = 32;   // a few images and maps per stage, two stages a page
const heldParts = new Map(); // hash -> part, least recently used first

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
  if (!missing.length && data.notes && typeof data.notes === "object") {
    const notes = data.notes;
    data.reference = Object.fromEntries(Object.entries(data.reference || {})
      .map(([m, r]) => [m, { ...r, notes: notes[m] || [] }]));
  }
  delete data.notes;
  return { data, missing };
}

/** The hashes of the parts this page holds (sent with each release). */
export function heldPartHashes() { return [...heldParts.keys()]; }
