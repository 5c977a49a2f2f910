"""The web app at /app: static files from gateway/app/ (no CDN, works offline), its configuration, and the
development sign-in of `kim up`.

The app is a client of the public API like any municipal frontend: it calls /v1 with the user's token and has
no other way in. These paths are not API routes (not in the OpenAPI document): they are answered by the WSGI app
itself, without a worker slot, like /docs.

Sign-in: OpenID Connect authorization code + PKCE against KIM_OIDC_ISSUER (the browser does the flow; the
gateway only verifies the tokens, as for every client). For development, `kim up` without an issuer sets
KIM_DEV_SIGNIN=1 and the app offers a sign-in that mints a token for a chosen role and town with the secret
`kim token` uses. It is never enabled when an issuer is configured, and answers only requests from this host.
"""
from __future__ import annotations

import ipaddress
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from nameko.web.handlers import HttpRequestHandler
from werkzeug.wrappers import Response

from services.shared.auth import Role, issue_token
from services.shared.events import (CASE_OUTCOMES, CASE_STATUSES, CONSENT_PURPOSES, CONTACT_CHANNELS,
                                    DECLINE_REASONS, LIFE_AREAS, NEED_LEVELS, REFERRAL_OUTCOMES, RESIDENCE_STATUSES)
from services.shared.labels import labels as code_labels
from services.shared.municipalities import MUNICIPALITIES
from services.shared.settings import Settings

from .http import ApiServer
from .problems import problem

log = logging.getLogger(__name__)

ROOT = Path(__file__).with_name("app")
#: vendored files the app does not load (axe-core is injected by the browser tests only)
NOT_SERVED = ("vendor/axe-core/",)
DEV_TOKEN_TTL = 8 * 3600
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".js": "text/javascript; charset=utf-8", ".json": "application/json", ".svg": "image/svg+xml",
                 ".png": "image/png", ".ico": "image/x-icon", ".txt": "text/plain; charset=utf-8"}


def _files() -> dict[str, Path]:
    """Every file the app may serve, by its path under /app/: a fixed table read once (no request path ever
    reaches the file system)."""
    table = {}
    for path in sorted(ROOT.rglob("*")):
        name = path.relative_to(ROOT).as_posix()
        if path.is_file() and not name.startswith(NOT_SERVED) and path.suffix in CONTENT_TYPES:
            table[name] = path
    return table


FILES = _files()


def dev_signin_enabled(settings: Settings) -> bool:
    """Only when asked for (`kim up` does) and never beside a real issuer."""
    if settings.dev_signin and settings.oidc_issuer:
        log.warning("KIM_DEV_SIGNIN is ignored: KIM_OIDC_ISSUER is set")
    return settings.dev_signin and not settings.oidc_issuer


def content_security_policy(settings: Settings) -> str:
    connect = ["'self'"]
    if settings.oidc_issuer:  # discovery and the token endpoint are fetched from the browser
        parts = urlsplit(settings.oidc_issuer)
        connect.append(f"{parts.scheme}://{parts.netloc}")
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
            f"connect-src {' '.join(connect)}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; "
            "object-src 'none'")


def _secure(response: Response, settings: Settings) -> Response:
    response.headers["Content-Security-Policy"] = content_security_policy(settings)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    return response


def app_config(settings: Settings) -> dict:
    """What the app needs to start: how to sign in, the towns, and the codes of the API's enumerations (from the
    same constants the API validates with, so the forms never offer a value the API refuses)."""
    from services.casework import schemas as casework
    from services.intake import schemas as intake

    register_fields = intake.RegisterPersonSchema._declared_fields
    return {
        "oidc": ({"issuer": settings.oidc_issuer.rstrip("/"), "client_id": settings.oidc_client_id,
                  "scopes": settings.oidc_scopes} if settings.oidc_issuer else None),
        "dev_signin": dev_signin_enabled(settings),
        "roles": [role.value for role in Role],
        "municipalities": [{"ags": ags, "name": name} for ags, name in sorted(MUNICIPALITIES.items(),
                                                                             key=lambda item: item[1])
                           if ags in settings.municipalities],
        "enums": {
            "residence_status": list(RESIDENCE_STATUSES), "consent_purpose": list(CONSENT_PURPOSES),
            "consent_basis": list(intake.CONSENT_BASES), "sex": list(intake.SEXES),
            "german_level": list(intake.GERMAN_LEVELS), "preferred_channel": list(intake.CONTACT_CHANNELS),
            "relation": list(intake.HOUSEHOLD_RELATIONS), "case_status": list(CASE_STATUSES),
            "life_area": list(LIFE_AREAS), "need": list(NEED_LEVELS), "outcome": list(CASE_OUTCOMES),
            "contact_channel": list(CONTACT_CHANNELS), "decline_reason": list(DECLINE_REASONS),
            "referral_outcome": list(REFERRAL_OUTCOMES), "action_assignee": list(casework.ACTION_ASSIGNEES),
            "goal_status": list(casework.GOAL_STATUSES), "action_status": list(casework.ACTION_STATUSES),
            "absence_kind": ["holiday", "sickness", "training", "other"],
        },
        "labels": code_labels(),  # what the screens show for those codes
        "features": {"link_existing": "existing_person_id" in register_fields,
                     "birth_year": "birth_year" in register_fields},
    }


# the inline handlers: fn(server, request, **path values) -> Response -------------------------------------

def _index(server, request):
    return _secure(Response(FILES["index.html"].read_bytes(), content_type=CONTENT_TYPES[".html"],
                            headers={"Cache-Control": "no-cache"}), server.settings)


def _redirect(server, request):
    return Response(status=308, headers={"Location": "/app/"})


def _asset(server, request, asset):
    path = FILES.get(asset)
    if path is None:  # a fixed text: nothing of the path is echoed or logged
        return problem(404, "no such file", request_id=request.request_id)
    response = Response(path.read_bytes(), content_type=CONTENT_TYPES[path.suffix],
                        headers={"Cache-Control": "no-cache"})  # revalidated: a deploy is seen at once
    return _secure(response, server.settings)


def _config(server, request):
    return Response(json.dumps(app_config(server.settings)), content_type="application/json",
                    headers={"Cache-Control": "no-store"})


def _from_this_host(request) -> bool:
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def _dev_token(server, request):
    settings = server.settings
    if not dev_signin_enabled(settings) or not _from_this_host(request):
        return problem(404, "no such route", request_id=request.request_id, instance=request.path)
    request.shallow = False  # the WSGI app made it shallow; this handler reads its (small) body
    if (request.content_length or 0) > 4096:
        return problem(413, "the body is too large", request_id=request.request_id)
    try:
        body = json.loads(request.get_data(cache=False, as_text=True) or "{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return problem(400, "the body is not valid JSON", request_id=request.request_id)
    errors = {}
    role = body.get("role")
    if role not in {r.value for r in Role}:
        errors["role"] = ["must be one of " + ", ".join(r.value for r in Role)]
    towns = body.get("municipalities")
    if not isinstance(towns, list) or not towns or any(t not in settings.municipalities for t in towns):
        errors["municipalities"] = ["one or more AGS codes of this district"]
    sub = body.get("sub") or f"dev-{role}"
    provider_id = body.get("provider_id") or None
    if role == Role.PARTNER.value and not provider_id:
        errors["provider_id"] = ["a partner signs in for its organisation"]
    for name, value in (("sub", sub), ("provider_id", provider_id), ("team", body.get("team"))):
        if value is not None and (not isinstance(value, str) or not value.replace("-", "").replace(".", "")
                                  .replace("_", "").isalnum() or len(value) > 64):
            errors[name] = ["letters, digits, . _ - (at most 64)"]
    if errors:
        return problem(422, "the sign-in is incomplete", errors=errors, request_id=request.request_id)
    token = issue_token(settings, sub=sub, role=role, municipalities=towns, ttl=DEV_TOKEN_TTL,
                        team=body.get("team") or None, provider_id=provider_id)
    log.info("development sign-in as %s", role)
    return Response(json.dumps({"access_token": token, "token_type": "Bearer", "expires_in": DEV_TOKEN_TTL}),
                    content_type="application/json", headers={"Cache-Control": "no-store"})


# the entrypoints ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _AppSpec:
    inline: Callable


class AppPath(HttpRequestHandler):
    """A path of the web app, answered inline by the gateway's WSGI app (the same server as the API routes)."""

    server = ApiServer()

    def __init__(self, method, url, handler):
        super().__init__(method, url)
        self.spec = _AppSpec(handler)

    def bind(self, container, method_name):
        instance = super().bind(container, method_name)
        instance.spec = self.spec
        return instance

    def handle_request(self, request):  # never reached: the WSGI app answers inline
        return self.spec.inline(self.server, request, **request.path_values)


class AppRoutes:
    """Mixed into GatewayService: the web app's paths."""

    @AppPath.decorator("GET", "/app", handler=_redirect)
    def app_redirect(self, request):
        pass

    @AppPath.decorator("GET", "/app/", handler=_index)
    def app_index(self, request):
        pass

    @AppPath.decorator("GET", "/app/config.json", handler=_config)
    def app_configuration(self, request):
        pass

    @AppPath.decorator("POST", "/app/dev-token", handler=_dev_token)
    def app_dev_token(self, request):
        pass

    @AppPath.decorator("GET", "/app/<path:asset>", handler=_asset)
    def app_asset(self, request, asset):
        pass

