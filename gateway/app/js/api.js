// The API client: every call goes to the public API with the user's token. Errors are problem+json
// (RFC 9457); a POST carries an Idempotency-Key, and a retry after a 503 re-sends the same key and body.
import { getToken, signOutExpired } from "./auth.js";
import { apiText } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, problem, retry) {
    super(apiText(problem?.detail) || `HTTP ${status}`);  // in the user's language where the app knows it
    this.status = status;
    this.problem = problem || {};
    this.retry = retry; // a 503: () => the same request again (same Idempotency-Key)
  }
  /** {field: [messages]} from the problem's `errors` (dotted field paths, e.g. consents.0.granted_at). */
  get fields() {
    const out = {};
    for (const error of this.problem.errors || []) (out[error.field] ||= []).push(apiText(error.detail));
    return out;
  }
}

export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** api(method, path, {body, query, ifMatch}) -> {status, data, etag, location, headers}; throws ApiError. */
export async function api(method, path, { body, query, ifMatch } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Accept: "application/json, application/problem+json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (ifMatch) headers["If-Match"] = ifMatch;
  if (method === "POST") headers["Idempotency-Key"] = newKey();
  const payload = body === undefined ? undefined : JSON.stringify(body);

  const send = async () => {
    let response;
    try {
      response = await fetch(url, { method, headers, body: payload, credentials: "omit", cache: "no-store" });
    } catch (err) { // the network or the gateway is away: as retryable as a 503
      throw new ApiError(503, { title: "Service unavailable", detail: String(err.message || err) }, send);
    }
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json().catch(() => null) : await response.text();
    if (!response.ok) {
      if (response.status === 401 && token) signOutExpired();
      throw new ApiError(response.status, typeof data === "object" ? data : { detail: data },
                         response.status === 503 ? send : undefined);
    }
    return { status: response.status, data, etag: response.headers.get("ETag"),
             location: response.headers.get("Location"), headers: response.headers };
  };
  return send();
}

/** Whether a route exists in the running API (read from /openapi.json once): screens on other services'
 *  routes appear only when those routes are there. */
let spec;
export async function hasRoute(method, path) {
  if (!spec) spec = fetch("/openapi.json").then((r) => r.json()).catch(() => ({ paths: {} }));
  const paths = (await spec).paths || {};
  return Boolean(paths[path] && paths[path][method.toLowerCase()]);
}
