"""The OpenAPI 3 document, generated from the route table and the marshmallow schemas, and an interactive
documentation page whose assets come from the swagger-ui-bundle package (no CDN: it works offline)."""
from __future__ import annotations

import functools
import json

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from swagger_ui_bundle import swagger_ui_path
from werkzeug.wrappers import Response

from services.shared.errors import NotFound

from .http import ROUTES, RouteSpec
from .problems import ProblemSchema
from .schemas import DOC_ASSETS

API_VERSION = "1.0.0"
HEADERS = {
    "X-Request-ID": {"description": "the request id (yours, or generated)", "schema": {"type": "string"}},
    "ETag": {"description": "version of the record; send it as If-Match to update", "schema": {"type": "string"}},
    "Location": {"description": "where the created record lives", "schema": {"type": "string"}},
}
CONTENT_TYPES = {"css": "text/css", "js": "text/javascript", "png": "image/png"}
INDEX = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>KIM API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"><link rel="stylesheet" href="/docs/index.css">
<link rel="icon" href="/docs/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/swagger-ui-standalone-preset.js"></script>
<script src="/docs/kim-init.js"></script></body></html>
"""
INIT_JS = """window.onload = function () {
  window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout"});
};
"""


def _errors_for(route: RouteSpec) -> dict[int, str]:
    errors = {414: "The request line (path and query) is too long", 500: "Unexpected error (with a request id)"}
    if route.permission is not None:
        errors.update({401: "Missing, expired or invalid token", 403: "The caller's role may not do this"})
    if route.path_params is not None:
        errors[404] = "Not found, or not visible to the caller"
    if route.body is not None:
        errors.update({400: "Body is not well-formed JSON", 413: "Body too large", 415: "Body is not JSON",
                       422: "Invalid body (fields named)"})
    if route.query is not None or route.path_params is not None:
        errors[422] = errors.get(422, "Invalid parameters (fields named)")
    if route.if_match:
        errors.update({412: "The record changed since it was read", 428: "If-Match is required"})
    if route.method == "POST":
        errors[422] = "Invalid body (fields named), or the Idempotency-Key was used with another body"
    errors.update(route.errors)
    if route.rpc:
        errors[503] = ("A service or the broker is not available (see Retry-After); retry, with the same "
                       "Idempotency-Key for a POST")
    return errors


def build_spec() -> dict:
    spec = APISpec(
        title="KIM — Kommunales Integrationsmanagement API", version=API_VERSION, openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "HTTP API for municipal frontends and partners. Every error is "
                             "application/problem+json (RFC 9457). Dates are ISO 8601, times UTC."},
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.schema("Problem", schema=ProblemSchema)
    paths: dict[str, dict] = {}
    for route in ROUTES:
        operation: dict = {"operationId": route.name, "summary": route.summary, "tags": [route.tag],
                           "parameters": [], "responses": {}}
        if route.permission is not None:
            operation["security"] = [{"bearer": []}]
            operation["description"] = f"Needs permission `{route.permission.value}`."
        if route.path_params is not None:
            operation["parameters"].append({"in": "path", "schema": route.path_params})
        if route.query is not None:
            operation["parameters"].append({"in": "query", "schema": route.query})
        if route.if_match:
            operation["parameters"].append({"in": "header", "name": "If-Match", "required": True,
                                            "schema": {"type": "string"}, "description": "ETag of the read"})
        if route.method == "POST":
            operation["parameters"].append({
                "in": "header", "name": "Idempotency-Key", "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
                "description": "a unique key (e.g. a UUID) per intended request: a retry with the same key and "
                               "body answers the first result again instead of doing the work twice, also after "
                               "a 503 or a timeout; the same key with another body answers 422. Keys are kept "
                               "24 h (IETF draft-ietf-httpapi-idempotency-key-header)."})
        if route.body is not None:
            operation["requestBody"] = {"required": True,
                                        "content": {"application/json": {"schema": route.body}}}
        for status, schema in route.responses.items():
            if isinstance(schema, tuple):  # (content type or types, description): not JSON
                content_types, description = schema
                content = {ct: {"schema": {"type": "string"}}
                           for ct in ([content_types] if isinstance(content_types, str) else content_types)}
            else:
                description = schema.__name__.removesuffix("Schema")
                content = {"application/json": {"schema": schema}}
            headers = {"X-Request-ID": HEADERS["X-Request-ID"]}
            headers.update({name: HEADERS[name] for name in route.response_headers})
            operation["responses"][str(status)] = {"description": description, "content": content,
                                                   "headers": headers}
        for status, description in _errors_for(route).items():
            operation["responses"].setdefault(str(status), {
                "description": description, "headers": {"X-Request-ID": HEADERS["X-Request-ID"]},
                "content": {"application/problem+json": {"schema": "Problem"}}})
        operation["parameters"].append({"in": "header", "name": "X-Request-ID", "required": False,
                                        "schema": {"type": "string"},
                                        "description": "your request id (1-64 of A-Z a-z 0-9 . _ -); one is "
                                                       "generated when it is absent or not of that form"})
        paths.setdefault(route.openapi_path, {})[route.method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@functools.cache
def openapi_json() -> str:
    return json.dumps(build_spec())


def index_html() -> str:
    return INDEX


def asset(name: str) -> Response:
    if name == "kim-init.js":
        return Response(INIT_JS, content_type=CONTENT_TYPES["js"])
    if name not in DOC_ASSETS:  # a fixed list: no path ever reaches the file system
        raise NotFound("no such asset")  # a fixed text: the requested name is neither echoed nor logged
    content_type = CONTENT_TYPES[name.rsplit(".", 1)[-1]]
    response = Response(swagger_ui_path.joinpath(name).read_bytes(), content_type=content_type)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
