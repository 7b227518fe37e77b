// The biotag page: one form, one POST /tag, the answer drawn as highlighted text and a table
// (view.js). This module holds the state and wires the controls.
import { FILENAMES, copyText, postTag, refusal, save } from "./api.js";
import { askForKey, fetchWithKey, wireKey } from "./key.js";
import { countCodePoints, parsePubTator } from "./spans.js";
import { $, el, hideTip, render, renderTable, showTip } from "./view.js";

const EXAMPLE =
  "Cisplatin nephrotoxicity in p53-deficient mice\nCisplatin-induced nephrotoxicity was " +
  "reduced in mice lacking the p53 gene, while BRCA1 carriers with breast cancer showed no " +
  "change.";

const state = {
  limit: null, // the service's max_document_chars, from GET /page/config
  body: null, // the request of the answer shown, sent again for the downloads
  raw: null, // that answer's bytes, as the service sent them
  fileDocuments: [], // the documents of an opened PubTator file ({id, text}), edits kept
  fileIndex: 0, // the one in the form
  answered: [], // the documents of the answer shown: [{id, text, entities}]
  // what view.js draws
  view: { text: "", entities: [], hidden: new Set(), sortKey: "start", ascending: true },
};

function setStatus(message, kind = "info") {
  const status = $("status");
  status.textContent = message;
  status.className = `status ${kind}`;
  // below a long text the line may be off screen; aria-live reads it out, the eye needs it too
  if (kind === "error") status.scrollIntoView({ block: "nearest" });
}

// ---- input -------------------------------------------------------------------------------

function updateCount() {
  const n = countCodePoints($("text").value); // code points, as the service counts them
  const count = n.toLocaleString("en");
  const counter = $("count");
  const limit = state.limit;
  counter.textContent =
    limit === null ? `${count} characters` : `${count} / ${limit.toLocaleString("en")} characters`;
  const over = limit !== null && n > limit;
  counter.classList.toggle("over", over);
  if (over) counter.textContent += " — over the service's limit";
}

async function loadConfig() {
  try {
    const response = await fetchWithKey("page/config");
    if (response.status === 401) askForKey();
    if (response.ok) {
      const config = await response.json();
      state.limit = config.max_document_chars;
      $("version").textContent = `version ${config.version}`;
    }
  } catch {
    // the counter then shows the count alone; POST /tag enforces the limit all the same
  }
  updateCount();
}

async function loadModels(attempt = 0) {
  const empty = $("models-empty");
  let models = [];
  try {
    const response = await fetchWithKey("models");
    if (response.status === 401) {
      empty.textContent = "This service needs an API key: enter it in the API key field.";
      askForKey();
      return;
    }
    if (response.ok) models = (await response.json()).models;
  } catch {
    empty.textContent = "Could not reach the service to list its models.";
    return;
  }
  if (models.length === 0) {
    empty.textContent = "No model is loaded yet; retrying…";
    if (attempt < 60) setTimeout(() => loadModels(attempt + 1), 2000);
    return;
  }
  empty.remove();
  for (const model of models) {
    const input = el("input", { type: "checkbox", name: "model", value: model.name });
    input.checked = true;
    const types = el("span", { class: "hint", text: `(${model.entity_types.join(", ")})` });
    $("models").append(el("label", { class: "check" }, input, ` ${model.name} `, types));
  }
}

const modelBoxes = () => [...document.querySelectorAll('input[name="model"]')];

function showFileDocument(index) {
  const chosen = state.fileDocuments[index];
  state.fileIndex = index;
  $("text").value = chosen.text;
  $("doc-id").value = chosen.id;
  updateCount();
}

/** Edits in the form go back to the file's document they show, so "Tag all" sends them. */
function keepEdits() {
  const chosen = state.fileDocuments[state.fileIndex];
  if (chosen === undefined) return;
  chosen.text = $("text").value;
  chosen.id = $("doc-id").value.trim();
}

async function readFile(file) {
  const content = await file.text();
  const documents = parsePubTator(content);
  const pick = $("doc-pick");
  pick.replaceChildren();
  state.fileDocuments = documents || [];
  $("doc-field").hidden = state.fileDocuments.length < 2;
  if (documents === null) {
    $("text").value = content;
    $("doc-id").value = "";
    updateCount();
    setStatus(`Read ${file.name} as plain text.`);
    return;
  }
  fillPicker(pick, documents);
  $("tag-all").textContent = `Tag all ${documents.length} documents`;
  showFileDocument(0);
  setStatus(`Read ${documents.length} PubTator document(s) from ${file.name}; showing the first.`);
}

// ---- requests ----------------------------------------------------------------------------

function fillPicker(select, documents) {
  const label = (d, i) => `${i + 1}. ${d.id || "(no id)"}: ${d.text.split("\n")[0].slice(0, 80)}`;
  const option = (d, i) => el("option", { value: String(i), text: label(d, i) });
  select.replaceChildren(...documents.map(option));
}

/** The request: the form's document, or with ``all`` every document of the opened file. */
function requestBody(all) {
  const withId = (id, text) => (id ? { id, text } : { text });
  const documents = all
    ? state.fileDocuments.map((d) => withId(d.id, d.text))
    : [withId($("doc-id").value.trim(), $("text").value)];
  // no model listed yet (still loading): leave the choice to the service, which says why
  if (modelBoxes().length === 0) return { documents };
  const models = modelBoxes().filter((box) => box.checked).map((box) => box.value);
  return { documents, models };
}

function showAnswered(index) {
  const shown = state.answered[index];
  state.view.text = shown.text;
  state.view.entities = shown.entities.map((e, i) => ({ ...e, index: i }));
  hideTip();
  render(state.view);
}

async function submit(all = false) {
  const body = requestBody(all);
  if (body.models !== undefined && body.models.length === 0) {
    setStatus("Choose at least one model.", "error");
    return;
  }
  if (body.documents.every((d) => d.text.trim() === "")) {
    setStatus("Paste a text first.", "error");
    return;
  }
  const button = $("submit");
  button.disabled = true;
  setStatus("Tagging…");
  const began = performance.now();
  try {
    const response = await postTag(body, "json");
    if (!response.ok) {
      setStatus(await refusal(response), "error");
      return;
    }
    const raw = await response.arrayBuffer();
    const elapsed = Math.round(performance.now() - began);
    const answer = JSON.parse(new TextDecoder().decode(raw));
    Object.assign(state, { body, raw });
    state.answered = answer.documents.map((d, i) => ({ ...d, text: body.documents[i].text }));
    fillPicker($("result-pick"), state.answered);
    $("result-pick-field").hidden = state.answered.length < 2;
    showAnswered(0);
    const n = state.answered.reduce((sum, d) => sum + d.entities.length, 0);
    const used = answer.models.join(", ");
    const docs = state.answered.length > 1 ? ` in ${state.answered.length} documents` : "";
    const found = `${n} ${n === 1 ? "entity" : "entities"}${docs}`;
    if (n === 0) setStatus(`No entities found by ${used}${docs} (${elapsed} ms).`, "empty");
    else setStatus(`${found} in ${elapsed} ms · models: ${used}.`, "ok");
  } catch (error) {
    setStatus(error.message, "error");
  } finally {
    button.disabled = false;
  }
}

/** Downloads carry the service's own bytes: JSON is the answer already received, the other
 * formats are the same request asked again with ?format=. */
async function download(format) {
  if (state.body === null) return;
  if (format === "json") {
    save(state.raw, FILENAMES.json, "application/json");
    return;
  }
  try {
    const response = await postTag(state.body, format);
    if (!response.ok) {
      setStatus(await refusal(response), "error");
      return;
    }
    const type = response.headers.get("content-type") || "";
    save(await response.arrayBuffer(), FILENAMES[format], type);
    setStatus(`Downloaded ${FILENAMES[format]}.`, "ok");
  } catch (error) {
    setStatus(error.message, "error");
  }
}

async function copyJson() {
  const json = new TextDecoder().decode(state.raw);
  if (await copyText(json)) {
    setStatus(`Copied the JSON answer (${json.length.toLocaleString("en")} characters).`, "ok");
  } else {
    setStatus("This browser does not allow copying here; use the JSON download.", "error");
  }
}

// ---- wiring ------------------------------------------------------------------------------

function wireInput() {
  const text = $("text");
  text.addEventListener("input", () => {
    updateCount();
    keepEdits();
  });
  $("doc-id").addEventListener("input", keepEdits);
  $("tag-all").addEventListener("click", () => submit(true));
  $("form").addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      submit();
    } else if (event.key === "Escape") hideTip();
  });
  $("example").addEventListener("click", () => {
    state.fileDocuments = []; // the example replaces an opened file
    $("doc-field").hidden = true;
    text.value = EXAMPLE;
    $("doc-id").value = "example";
    updateCount();
    submit();
  });
  text.addEventListener("dragover", (event) => {
    event.preventDefault();
    text.classList.add("dropping");
  });
  text.addEventListener("dragleave", () => text.classList.remove("dropping"));
  text.addEventListener("drop", (event) => {
    event.preventDefault(); // else the browser pastes the file's path or opens it
    text.classList.remove("dropping");
    if (event.dataTransfer.files[0]) readFile(event.dataTransfer.files[0]);
  });
  $("file").addEventListener("change", (event) => {
    if (event.target.files[0]) readFile(event.target.files[0]);
  });
  $("doc-pick").addEventListener("change", (event) => showFileDocument(Number(event.target.value)));
}

function wireOutput() {
  for (const button of document.querySelectorAll(".downloads [data-format]")) {
    button.addEventListener("click", () => download(button.dataset.format));
  }
  $("copy").addEventListener("click", copyJson);
  $("result-pick").addEventListener("change", (event) => showAnswered(Number(event.target.value)));
  for (const th of $("table").tHead.rows[0].cells) {
    th.querySelector("button").addEventListener("click", () => {
      const view = state.view;
      view.ascending = th.dataset.key === view.sortKey ? !view.ascending : true;
      view.sortKey = th.dataset.key;
      renderTable(view);
    });
  }
  const doc = $("doc");
  const markOf = (event) => event.target.closest && event.target.closest("mark.ent");
  doc.addEventListener("mouseover", (event) => {
    const mark = markOf(event);
    if (mark) showTip(state.view, mark);
    else if (!doc.contains(document.activeElement)) hideTip();
  });
  doc.addEventListener("mouseleave", hideTip);
  doc.addEventListener("focusin", (event) => {
    const mark = markOf(event);
    if (mark) showTip(state.view, mark);
  });
  doc.addEventListener("focusout", hideTip);
}

wireInput();
wireOutput();
// a new key: ask again what the key guards (the models only while none is listed)
wireKey(() => {
  loadConfig();
  if (modelBoxes().length === 0) loadModels();
});
updateCount();
loadConfig();
loadModels();
