// Talking to the service: POST /tag, the messages for its refusals, saving answer bytes.
// URLs are relative, so the page also works behind a proxy that serves it under a path prefix.
import { askForKey, withKey } from "./key.js";

export const TIMEOUT_MS = 120000;
export const FILENAMES = {
  json: "biotag.json",
  pubtator: "biotag.pubtator",
  biocxml: "biotag.bioc.xml",
  biocjson: "biotag.bioc.json",
};

/** POST /tag; resolves to the Response (refusals included), or throws an Error whose message
 * is for the user (no network, no answer in time). */
export async function postTag(body, format) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    return await fetch(`tag?format=${format}`, {
      method: "POST",
      headers: withKey({ "content-type": "application/json" }),
      body: JSON.stringify(body),
      signal: controller.signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw new Error(`No answer within ${TIMEOUT_MS / 1000} s.`);
    throw new Error("Network error: the service could not be reached.");
  } finally {
    clearTimeout(timer);
  }
}

/** The message for a refused request, from the service's error envelope and the status. */
export async function refusal(response) {
  let message = `HTTP ${response.status}`;
  let details = [];
  try {
    const error = (await response.json()).error;
    message = error.message;
    details = (error.details || []).map((d) => d.msg).filter(Boolean);
  } catch {
    // not the service's envelope (a proxy's error page): the status says enough
  }
  const extra = details.length ? ` (${details.slice(0, 3).join("; ")})` : "";
  switch (response.status) {
    case 401:
      askForKey();
      return `This service needs an API key (401): ${message}. Enter it in the API key field.`;
    case 413:
      return `Too long (413): ${message}.`;
    case 422:
      return `The request was refused (422): ${message}${extra}.`;
    case 404:
      return `Not found (404): ${message}.`;
    case 503: {
      const retry = response.headers.get("Retry-After");
      const when = retry ? ` Retry after ${retry} s.` : "";
      return `The service is busy or not ready (503): ${message}.${when}`;
    }
    default:
      return `The service answered ${response.status}: ${message}.`;
  }
}

/** Saves bytes as a file, unchanged (a blob URL: nothing is uploaded anywhere). */
export function save(bytes, filename, mediaType) {
  const url = URL.createObjectURL(new Blob([bytes], { type: mediaType }));
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** Copies text to the clipboard; false when the browser refuses. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // no clipboard API outside secure contexts (plain http to a host other than localhost)
    const area = document.createElement("textarea");
    area.className = "visually-hidden";
    area.value = text;
    document.body.append(area);
    area.select();
    const copied = document.execCommand("copy");
    area.remove();
    return copied;
  }
}
