// Sign-in: OpenID Connect authorization code + PKCE against the configured issuer, done in the browser; or,
// under `kim up` without an issuer, the development sign-in. The token lives in sessionStorage (this tab).
const TOKEN = "kim.token";
const FLOW = "kim.oidc";

export function getToken() { return sessionStorage.getItem(TOKEN); }

export function claims() {
  const token = getToken();
  if (!token) return null;
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(escape(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "="))));
    const c = JSON.parse(json);
    if (c.exp && c.exp * 1000 < Date.now()) { sessionStorage.removeItem(TOKEN); return null; }
    return c;
  } catch { return null; }
}

export function signOut() { sessionStorage.removeItem(TOKEN); }

export function signOutExpired() {
  sessionStorage.removeItem(TOKEN);
  sessionStorage.setItem("kim.expired", "1");
  location.hash = "#/";
  location.reload();
}

export async function devSignIn({ role, municipality, sub, provider_id, team }) {
  const response = await fetch("/app/dev-token", {
    method: "POST", headers: { "Content-Type": "application/json" }, credentials: "omit",
    body: JSON.stringify({ role, municipalities: [municipality], sub: sub || undefined, provider_id: provider_id || undefined,
                          team: team || undefined }),
  });
  const data = await response.json();
  if (!response.ok) return { problem: data };
  sessionStorage.setItem(TOKEN, data.access_token);
  return { ok: true };
}

const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const random = (n = 32) => b64url(crypto.getRandomValues(new Uint8Array(n)));

async function discovery(issuer) {
  const response = await fetch(`${issuer}/.well-known/openid-configuration`, { credentials: "omit" });
  if (!response.ok) throw new Error(`discovery: HTTP ${response.status}`);
  return response.json();
}

function redirectUri() { return `${location.origin}/app/`; }

/** Step 1: to the issuer's authorization endpoint with a PKCE challenge (S256), state and nonce. */
export async function startOidc(oidc) {
  const meta = await discovery(oidc.issuer);
  const verifier = random(48);
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const state = random(16);
  const nonce = random(16);
  sessionStorage.setItem(FLOW, JSON.stringify({ verifier, state, nonce, back: location.hash }));
  const url = new URL(meta.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code", client_id: oidc.client_id, redirect_uri: redirectUri(), scope: oidc.scopes,
    code_challenge: challenge, code_challenge_method: "S256", state, nonce,
  }).toString();
  location.assign(url.toString());
}

/** A refusal the app explains in the user's language (main.js: t("oidc_<code>")). */
const failure = (code) => Object.assign(new Error(code.replace("_", " ")), { code });

/** Step 2: back with ?code&state: check the state, exchange the code with the verifier. */
export async function finishOidc(oidc) {
  const params = new URLSearchParams(location.search);
  if (!params.has("code") && !params.has("error")) return false;
  const flow = JSON.parse(sessionStorage.getItem(FLOW) || "null");
  sessionStorage.removeItem(FLOW);
  history.replaceState(null, "", `/app/${flow?.back || ""}`); // the code never stays in the address bar
  if (params.has("error")) throw new Error(params.get("error_description") || params.get("error"));
  if (!flow || params.get("state") !== flow.state) throw failure("state_mismatch");
  const meta = await discovery(oidc.issuer);
  const response = await fetch(meta.token_endpoint, {
    method: "POST", credentials: "omit", headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code: params.get("code"), redirect_uri: redirectUri(),
                                client_id: oidc.client_id, code_verifier: flow.verifier }),
  });
  const data = await response.json();
  if (!response.ok || !data.access_token) throw new Error(data.error_description || data.error || `HTTP ${response.status}`);
  if (data.id_token) {
    const idClaims = JSON.parse(atob(data.id_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    if (idClaims.nonce !== flow.nonce) throw failure("nonce_mismatch");
  }
  sessionStorage.setItem(TOKEN, data.access_token);
  return true;
}
