// Pure functions from (text, entities) to what the page draws; no DOM, so the browser tests
// can import this module and feed it any case.
//
// Offsets from the service are Unicode code points; JavaScript strings index UTF-16 units, so
// an emoji before an entity would shift every slice by one. Everything here works on arrays of
// code points (Array.from splits a string by code points).

/** The text as an array of code points. */
export function codePoints(text) {
  return Array.from(text);
}

/** Number of code points of a string, without building the array (the counter runs on every
 * keystroke of texts up to the service's limit). */
export function countCodePoints(text) {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    // a high surrogate followed by a low one is one code point
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    count++;
  }
  return count;
}

/** Entities as a forest of properly nested fragments, so that the DOM (which nests, never
 * crosses) can draw them. An entity crossing an earlier one's end is cut there: its first
 * fragment nests inside, the rest continues outside; each fragment keeps its entity's index
 * (`entity`), and the fragments of one entity join to exactly its characters.
 * Returns [{start, end, entity, children}], sorted by start. */
export function nest(entities) {
  const pending = entities
    .map((e, index) => ({ start: e.start, end: e.end, entity: index }))
    .filter((f) => f.end > f.start);
  pending.sort(byStartThenLongest);
  const roots = [];
  const open = []; // the chain of fragments containing the current position, outermost first
  while (pending.length > 0) {
    const fragment = pending.shift();
    while (open.length > 0 && open[open.length - 1].end <= fragment.start) open.pop();
    const parent = open.length > 0 ? open[open.length - 1] : null;
    if (parent !== null && fragment.end > parent.end) {
      // crosses its parent's end: keep the part inside, queue the rest after it
      const rest = { start: parent.end, end: fragment.end, entity: fragment.entity };
      fragment.end = parent.end;
      insertSorted(pending, rest);
    }
    const node = { ...fragment, children: [] };
    (parent === null ? roots : parent.children).push(node);
    open.push(node);
  }
  return roots;
}

function byStartThenLongest(a, b) {
  return a.start - b.start || b.end - a.end || a.entity - b.entity;
}

function insertSorted(list, item) {
  let at = list.findIndex((other) => byStartThenLongest(item, other) < 0);
  if (at < 0) at = list.length;
  list.splice(at, 0, item);
}

/** What one fragment holds, in order: plain text runs ({text}) and child fragments ({node}),
 * between ``node.start`` and ``node.end`` (or the whole text for the roots). */
export function pieces(points, children, start, end) {
  const out = [];
  let at = start;
  for (const child of children) {
    if (child.start > at) out.push({ text: points.slice(at, child.start).join("") });
    out.push({ node: child });
    at = child.end;
  }
  if (end > at) out.push({ text: points.slice(at, end).join("") });
  return out;
}

/** Entities sorted for the table: by ``key``, ties by position, then model. */
export function sortEntities(entities, key, ascending) {
  const sign = ascending ? 1 : -1;
  const compare = (a, b) => {
    const x = a[key];
    const y = b[key];
    const primary =
      typeof x === "number"
        ? x - y
        : String(x).localeCompare(String(y), "en", { sensitivity: "base" });
    return sign * primary || a.start - b.start || a.end - b.end || a.model.localeCompare(b.model);
  };
  return [...entities].sort(compare);
}

/** Documents of a PubTator file ({id, text}: text = title + "\n" + abstract, the way POST /tag
 * reads a PubTator-shaped text back), or null when the file is not PubTator. */
export function parsePubTator(content) {
  const documents = [];
  const byId = new Map();
  for (const line of content.split(/\r?\n/)) {
    const match = /^([^|\t]+)\|([ta])\|(.*)$/.exec(line);
    if (match === null) continue; // annotation lines and blank lines
    const [, id, kind, value] = match;
    let document = byId.get(id);
    if (document === undefined) {
      document = { id, title: "", abstract: "" };
      byId.set(id, document);
      documents.push(document);
    }
    if (kind === "t") document.title = value;
    else document.abstract = value;
  }
  if (documents.length === 0) return null;
  return documents.map((d) => ({
    id: d.id,
    text: d.abstract ? `${d.title}\n${d.abstract}` : d.title,
  }));
}
