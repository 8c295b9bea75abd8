// Calls to modelrt's JSON API (/api/v1): the bearer token, error bodies, SSE over fetch, WebSocket URLs.

const TOKEN_KEY = "modelrt.token";

export function token() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) localStorage.setItem(TOKEN_KEY, value);
  else localStorage.removeItem(TOKEN_KEY);
}

export function authHeaders(extra = {}) {
  const headers = { ...extra };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  return headers;
}

/** An API failure: the server's JSON error body ({error, code, reason, metadata}) and status. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.reason = this.body.reason || "";
  }
  describe() {
    return this.reason ? `${this.message} (${this.status} ${this.reason})` : this.message;
  }
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = { error: `${response.status} ${response.statusText}` };
  }
  return new ApiError(response.status, body);
}

/** JSON from `path` (GET, or `init` with a JSON `body` object); ApiError on a failure status. */
export async function call(path, { method = "GET", body, signal } = {}) {
  const init = { method, headers: authHeaders(), signal };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export const modelPath = (name, version) =>
  `/api/v1/models/${encodeURIComponent(name)}` +
  (version ? `/versions/${encodeURIComponent(version)}` : "");

/**
 * POST `body` to an SSE route and call `onEvent(name, data)` per event as it arrives (fetch
 * streaming, so tokens show up one by one). Aborting `signal` closes the connection, which
 * cancels the model's generator on the server.
 */
export async function streamEvents(path, body, onEvent, signal) {
  const response = await fetch(path, {
    method: "POST",
    headers: authHeaders({ "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await errorOf(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = parseEvent(block);
      if (event) onEvent(event.name, event.data);
    }
  }
}

function parseEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  const text = data.join("\n");
  try {
    return { name, data: JSON.parse(text) };
  } catch {
    return { name, data: text };
  }
}

/** The ws:// (or wss://) URL of a WebSocket route on this server; the token rides as a query
 * parameter since a browser cannot set headers on a WebSocket. */
export function socketUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = token() ? `?token=${encodeURIComponent(token())}` : "";
  return `${scheme}//${location.host}${path}${query}`;
}
