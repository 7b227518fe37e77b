// Drawing an answer: the legend, the highlighted text, the table, the details tooltip.
// Every piece of text reaches the DOM through textContent or createTextNode, never as markup,
// so nothing in a document or an answer can become HTML.
import { codePoints, nest, pieces, sortEntities } from "./spans.js";

export const $ = (id) => document.getElementById(id);

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

// the colour classes of page.css; the four types of the default bundle keep theirs, any other
// type takes the next free one in name order
const PALETTE = ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"];
const KNOWN = ["Disease", "Chemical", "Gene", "Species"];

function colourOf(view, type) {
  const known = KNOWN.indexOf(type);
  if (known >= 0) return PALETTE[known];
  const others = [...new Set(view.entities.map((e) => e.type))]
    .filter((t) => !KNOWN.includes(t))
    .sort();
  return PALETTE[(KNOWN.length + others.indexOf(type)) % PALETTE.length];
}

function countsByType(entities) {
  const counts = new Map();
  for (const e of entities) counts.set(e.type, (counts.get(e.type) || 0) + 1);
  return new Map([...counts.entries()].sort());
}

const visible = (view) => view.entities.filter((e) => !view.hidden.has(e.type));

/** Everything, from ``view``: {text, entities (each with its ``index``), hidden (a Set of
 * types), sortKey, ascending}. */
export function render(view) {
  $("results").hidden = false;
  renderLegend(view);
  renderDocument(view);
  renderTable(view);
}

function renderLegend(view) {
  const legend = $("legend");
  const counts = countsByType(view.entities);
  legend.replaceChildren(el("legend", { text: "Show types" }));
  for (const [type, count] of counts) {
    const input = el("input", { type: "checkbox", value: type });
    input.checked = !view.hidden.has(type);
    input.addEventListener("change", () => {
      if (input.checked) view.hidden.delete(type);
      else view.hidden.add(type);
      renderDocument(view);
      renderTable(view);
    });
    const swatch = el("span", { class: `swatch ${colourOf(view, type)}`, "aria-hidden": "true" });
    const n = el("span", { class: "n", text: String(count) });
    legend.append(el("label", { class: "check" }, input, swatch, ` ${type} `, n));
  }
  if (counts.size === 0) legend.append(el("p", { class: "hint", text: "No entities to show." }));
}

/** The text with a mark per entity fragment (spans.js nests them), each mark focusable, with
 * its type as a text badge after the entity's last fragment. */
export function renderDocument(view) {
  const points = codePoints(view.text);
  const shown = visible(view);
  const draw = (parent, children, start, end) => {
    for (const piece of pieces(points, children, start, end)) {
      if (piece.text !== undefined) {
        parent.append(document.createTextNode(piece.text));
        continue;
      }
      const node = piece.node;
      const entity = shown[node.entity];
      const mark = el("mark", {
        class: `ent ${colourOf(view, entity.type)}`,
        tabindex: "0",
        "aria-describedby": "tip",
        dataset: { i: String(entity.index), type: entity.type },
      });
      draw(mark, node.children, node.start, node.end);
      if (node.end === entity.end) mark.append(el("span", { class: "badge", text: entity.type }));
      parent.append(mark);
    }
  };
  const container = $("doc");
  container.replaceChildren();
  draw(container, nest(shown), 0, points.length);
}

export function renderTable(view) {
  const rows = sortEntities(visible(view), view.sortKey, view.ascending).map((e) =>
    el(
      "tr",
      { dataset: { i: String(e.index) } },
      el("td", { class: "mention", text: e.text }),
      el("td", {}, el("span", { class: `badge ${colourOf(view, e.type)}`, text: e.type })),
      el("td", { class: "num", text: `${e.start}–${e.end}` }),
      el("td", { class: "num", text: e.score.toFixed(4) }),
      el("td", { text: e.model }),
    ),
  );
  $("table").tBodies[0].replaceChildren(...rows);
  const total = view.entities.length;
  $("table").parentElement.hidden = total === 0; // no header row over nothing
  const perType = [...countsByType(view.entities)].map(([t, n]) => `${t} ${n}`).join(", ");
  const hidden = view.hidden.size ? ` (hidden: ${[...view.hidden].sort().join(", ")})` : "";
  $("counts").textContent = total === 0 ? "No entities." : `${total} entities: ${perType}${hidden}`;
  for (const th of $("table").tHead.rows[0].cells) {
    if (th.dataset.key !== view.sortKey) th.removeAttribute("aria-sort");
    else th.setAttribute("aria-sort", view.ascending ? "ascending" : "descending");
  }
}

/** The details of a mark's entity in the shared tooltip, under the mark. */
export function showTip(view, mark) {
  const entity = view.entities[Number(mark.dataset.i)];
  const line = (name, value) => el("div", {}, el("span", { class: "k", text: `${name} ` }), value);
  const tip = $("tip");
  tip.replaceChildren(
    el("div", { class: "tip-text", text: entity.text }),
    line("type", entity.type),
    line("score", entity.score.toFixed(4)),
    line("model", entity.model),
    line("offsets", `${entity.start}–${entity.end}`),
  );
  tip.hidden = false;
  const box = mark.getBoundingClientRect();
  const area = $("results").getBoundingClientRect();
  // CSSOM writes, not style attributes: the policy (no inline styles) allows these
  tip.style.left = `${Math.max(0, Math.min(box.left - area.left, area.width - tip.offsetWidth))}px`;
  tip.style.top = `${box.bottom - area.top + 6}px`;
}

export function hideTip() {
  $("tip").hidden = true;
}
