// The optional API key (BIOTAG_API_KEY): typed once into the page, kept for this tab only
// (sessionStorage: gone when the tab closes, never sent anywhere but this service) and sent as
// `Authorization: Bearer <key>` by every call of the page. The field shows when the service
// answers 401, or when a key is already kept.
import { $ } from "./view.js";

const STORAGE = "biotag.apiKey";

function keptKey() {
  try {
    return sessionStorage.getItem(STORAGE) || "";
  } catch {
    return ""; // storage disabled: the key lives in the field only
  }
}

function keep(key) {
  try {
    if (key) sessionStorage.setItem(STORAGE, key);
    else sessionStorage.removeItem(STORAGE);
  } catch {
    // storage disabled: nothing to keep it in
  }
}

/** ``headers`` plus the Authorization header when a key is set: the field's (what the user
 * sees is what is sent, also before its change event), which wireKey filled from storage. */
export function withKey(headers = {}) {
  const key = $("api-key").value.trim();
  return key ? { ...headers, authorization: `Bearer ${key}` } : headers;
}

/** fetch() with the key. */
export function fetchWithKey(url, options = {}) {
  return fetch(url, { ...options, headers: withKey(options.headers) });
}

/** Shows the key field (the service answered 401) and puts the cursor in it. */
export function askForKey() {
  const field = $("key-field");
  if (field.hidden) {
    field.hidden = false;
    $("api-key").focus();
  }
}

/** Wires the field: a changed key is kept and ``onChange`` runs (to reload what needs it). */
export function wireKey(onChange) {
  const input = $("api-key");
  input.value = keptKey();
  $("key-field").hidden = input.value === "";
  input.addEventListener("change", () => {
    keep(input.value.trim());
    onChange();
  });
}
