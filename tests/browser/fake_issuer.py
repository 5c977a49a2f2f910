"""A tiny OpenID Connect issuer for the browser tests: authorization code + PKCE (S256), RS256 tokens, a JWKS.

It signs everyone in without asking (the user is set by the test with POST /_test/login), but checks what a
real issuer checks: the client id, the registered redirect URI, the PKCE challenge against the verifier at the
token endpoint, single-use codes. The gateway trusts its key through KIM_JWT_JWKS_FILE, like a real provider's.

    python tests/browser/fake_issuer.py PORT PRIVATE_KEY.pem REDIRECT_URI [CLIENT_ID] [AUDIENCE]

Test hooks (never in a real issuer): POST /_test/login {sub, role, municipalities, ...} sets who signs in next;
POST /_test/tamper makes the next /authorize answer with a wrong state; GET /_test/stats counts the token
exchanges and refusals.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KID = "fake-issuer-1"


def make_keys(folder: Path) -> tuple[Path, Path]:
    """A fresh RSA key: the private PEM (for the issuer) and the public JWKS (for the gateway)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = folder / "issuer-key.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwks = folder / "issuer-jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": KID, "alg": "RS256", "use": "sig"}]}))
    return private, jwks


def sign(private_pem: bytes, issuer: str, audience: str, claims: dict, ttl: int = 600) -> str:
    now = int(time.time())
    body = {"iss": issuer, "aud": audience, "iat": now, "nbf": now, "exp": now + ttl, **claims}
    return jwt.encode(body, private_pem, algorithm="RS256", headers={"kid": KID})


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


class Issuer:
    def __init__(self, port: int, private_pem: bytes, redirect_uri: str, client_id: str = "kim-app",
                 audience: str = "kim-api"):
        self.url = f"http://127.0.0.1:{port}"
        self.private_pem, self.redirect_uri, self.client_id, self.audience = (private_pem, redirect_uri,
                                                                             client_id, audience)
        key = serialization.load_pem_private_key(private_pem, password=None)
        self.jwk = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())), "kid": KID,
                    "alg": "RS256", "use": "sig"}
        self.user: dict = {"sub": "oidc-user", "role": "intake_officer", "municipalities": ["05962032"]}
        self.codes: dict[str, dict] = {}
        self.tamper_next = False
        self.stats = {"authorized": 0, "tokens": 0, "refused": 0}
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())

    def _handler(self):
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status, body=b"", content_type="application/json", headers=()):
                if isinstance(body, (dict, list)):
                    body = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Access-Control-Allow-Origin", "*")  # the app fetches from its own origin
                self.send_header("Cache-Control", "no-store")
                if body:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _refuse(self, status, error, description):
                with issuer.lock:
                    issuer.stats["refused"] += 1
                self._send(status, {"error": error, "error_description": description})

            def do_OPTIONS(self):
                self._send(204, headers=(("Access-Control-Allow-Methods", "GET, POST"),
                                         ("Access-Control-Allow-Headers", "Content-Type")))

            def do_GET(self):
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/.well-known/openid-configuration":
                    return self._send(200, {
                        "issuer": issuer.url, "authorization_endpoint": f"{issuer.url}/authorize",
                        "token_endpoint": f"{issuer.url}/token", "jwks_uri": f"{issuer.url}/jwks",
                        "response_types_supported": ["code"], "grant_types_supported": ["authorization_code"],
                        "code_challenge_methods_supported": ["S256"], "id_token_signing_alg_values_supported":
                        ["RS256"], "subject_types_supported": ["public"]})
                if parts.path == "/jwks":
                    return self._send(200, {"keys": [issuer.jwk]})
                if parts.path == "/authorize":
                    return self._authorize(query)
                if parts.path == "/_test/stats":
                    with issuer.lock:
                        return self._send(200, dict(issuer.stats))
                self._send(404, {"error": "not_found"})

            def _authorize(self, q):
                # a wrong client or redirect URI is never redirected to (RFC 6749 4.1.2.1): an error page here
                if q.get("client_id") != issuer.client_id:
                    return self._refuse(400, "invalid_client", "unknown client_id")
                if q.get("redirect_uri") != issuer.redirect_uri:
                    return self._refuse(400, "invalid_request", "redirect_uri is not registered")
                back = issuer.redirect_uri
                if (q.get("response_type") != "code" or q.get("code_challenge_method") != "S256"
                        or not q.get("code_challenge") or not q.get("state")):
                    with issuer.lock:
                        issuer.stats["refused"] += 1
                    return self._send(302, headers=(("Location", back + "?" + urlencode({
                        "error": "invalid_request", "error_description": "code + PKCE S256 + state required",
                        "state": q.get("state", "")})),))
                code = secrets.token_urlsafe(24)
                with issuer.lock:
                    issuer.codes[code] = {"client_id": q["client_id"], "redirect_uri": q["redirect_uri"],
                                          "challenge": q["code_challenge"], "nonce": q.get("nonce"),
                                          "user": dict(issuer.user), "expires": time.time() + 60}
                    issuer.stats["authorized"] += 1
                    state = q["state"]
                    if issuer.tamper_next:  # the test's attacker: the state that comes back is not the app's
                        issuer.tamper_next, state = False, state[::-1] + "x"
                self._send(302, headers=(("Location", back + "?" + urlencode({"code": code, "state": state})),))

            def do_POST(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                if parts.path == "/_test/login":
                    with issuer.lock:
                        issuer.user = json.loads(raw)
                    return self._send(204)
                if parts.path == "/_test/tamper":
                    with issuer.lock:
                        issuer.tamper_next = True
                    return self._send(204)
                if parts.path == "/token":
                    return self._token({k: v[0] for k, v in parse_qs(raw).items()})
                self._send(404, {"error": "not_found"})

            def _token(self, form):
                if form.get("grant_type") != "authorization_code":
                    return self._refuse(400, "unsupported_grant_type", "authorization_code only")
                with issuer.lock:
                    grant = issuer.codes.pop(form.get("code", ""), None)  # single use
                if not grant or grant["expires"] < time.time():
                    return self._refuse(400, "invalid_grant", "unknown, used or expired code")
                if form.get("client_id") != grant["client_id"]:
                    return self._refuse(400, "invalid_client", "the code was issued to another client")
                if form.get("redirect_uri") != grant["redirect_uri"]:
                    return self._refuse(400, "invalid_grant", "redirect_uri differs from the authorization's")
                verifier = form.get("code_verifier") or ""
                if not 43 <= len(verifier) <= 128 or s256(verifier) != grant["challenge"]:
                    return self._refuse(400, "invalid_grant", "PKCE: the code_verifier does not match")
                user = grant["user"]
                access = sign(issuer.private_pem, issuer.url, issuer.audience, user)
                id_claims = {"sub": user["sub"], "nonce": grant["nonce"]} if grant["nonce"] else {"sub": user["sub"]}
                id_token = sign(issuer.private_pem, issuer.url, issuer.client_id, id_claims)
                with issuer.lock:
                    issuer.stats["tokens"] += 1
                self._send(200, {"access_token": access, "id_token": id_token, "token_type": "Bearer",
                                 "expires_in": 600})

        return Handler

    def serve_forever(self):
        self.server.serve_forever()

    def start(self) -> "Issuer":
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def main(argv: list[str]) -> int:
    port, key, redirect_uri, *rest = argv
    issuer = Issuer(int(port), Path(key).read_bytes(), redirect_uri, *rest)
    print(f"fake issuer at {issuer.url}", flush=True)
    issuer.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
