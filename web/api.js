// The HTTP API with the tab's token, and the token prompt. Every call goes through `call`.

const TOKEN_KEY = "wasmpool-token";
const listeners = new Set();

/** The token kept for this tab, if any. */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

/** Headers carrying the token. */
export function authHeaders(extra = {}) {
  const t = token();
  return t ? { ...extra, Authorization: `Bearer ${t}` } : extra;
}

/** Runs `callback` whenever a new token is entered. */
export function onTokenChange(callback) {
  listeners.add(callback);
}

/** An error answered by the API, with its code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Calls the API; resolves to the JSON answer (or null for 204), rejects with ApiError. */
export async function call(method, path, body, headers = {}) {
  const init = { method, headers: authHeaders(headers) };
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    init.body = body;
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!response.ok) {
    const error = json?.error ?? { code: `http_${response.status}`, message: text || response.statusText };
    if (response.status === 401) askForToken(token() ? "That token was refused. Enter the right one." : "");
    throw new ApiError(response.status, error.code, error.message);
  }
  return json;
}

/** Shows the token form; `message` says why. */
export function askForToken(message) {
  const panel = document.getElementById("token-panel");
  document.getElementById("token-message").textContent = message;
  if (panel.hidden) {
    panel.hidden = false;
    document.getElementById("token").focus();
  }
}

export function setupTokenForm() {
  document.getElementById("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = document.getElementById("token").value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    document.getElementById("token-panel").hidden = true;
    document.getElementById("token-message").textContent = "";
    for (const callback of listeners) callback();
  });
}
