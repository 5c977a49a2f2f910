"""The gateway's HTTP layer: one entrypoint type that gives every route the same cross-cutting treatment.

`@route(...)` declares a route with its permission, schemas and audit action; the declarations are the single
table the authorisation, the audit log, the OpenAPI document and the tests read. Around every request the WSGI
app adds the request id, CORS, the body limit, problem+json for unmatched routes, and the metrics.
"""
from __future__ import annotations

import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

from eventlet import wsgi as eventlet_wsgi
from eventlet.event import Event
from eventlet.semaphore import Semaphore
from marshmallow import Schema
from nameko.exceptions import RemoteError, UnknownService
from nameko.extensions import DependencyProvider
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import HttpOnlyProtocol, WebServer
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from services.shared.auth import AUTH_TOKEN_KEY, REQUEST_ID_KEY, Permission, TokenVerifier
from services.shared.db import IDEMPOTENCY_KEY
from services.shared.errors import InvalidInput, KimError, LikelyDuplicate, Unauthenticated, Unavailable
from services.shared.logs import ExpectedErrorsFilter, set_request_id
from services.shared.publisher import NotConfirmed
from services.shared.schemas import load_or_raise, schema
from services.shared.settings import Settings

from .metrics import Metrics
from .problems import PROBLEM_TYPE, SLUGS, TITLES, problem

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 2
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: the methods the gateway knows; any other is answered 405 and counted as "other" (fixed metric labels)
KNOWN_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS", "HEAD"})
#: deepest nesting of arrays and objects a JSON body may have (the services' decoders recurse)
MAX_JSON_DEPTH = 32
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]')
UNAUTHENTICATED_DETAIL = "the bearer token is invalid or expired"  # = services.shared.auth INVALID_TOKEN
MISSING_TOKEN_DETAIL = "a bearer token is required"


class ServiceUnavailable(Exception):
    """A service did not answer within KIM_RPC_TIMEOUT, or is not running."""


@dataclass(frozen=True)
class Audit:
    action: str
    purpose: str
    subject: str  # "person" | "persons" | "history" | "case" | "cases" | "consent" | "export" | "erasure"
    #              | "household" (one entry per member returned) | "referral" | "referrals"
    #              | "staff" (case managers, absences, caseloads: no person) | "case_history" (a case's
    #              transitions or assignments)


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str  # werkzeug rule, e.g. /v1/cases/<case_id>
    name: str = ""
    summary: str = ""
    tag: str = "operations"
    permission: Permission | None = None  # None: public
    body: type[Schema] | None = None
    query: type[Schema] | None = None
    path_params: type[Schema] | None = None
    responses: dict = field(default_factory=dict)  # status -> schema class, or (content type, description)
    audit: Audit | None = None
    rpc: bool = True  # calls a service (so may answer 503)
    if_match: bool = False
    response_headers: tuple[str, ...] = ()  # besides X-Request-ID, e.g. ("Location", "ETag")
    #: problems this route may answer besides the ones every route of its kind does: status -> description
    errors: dict = field(default_factory=dict)
    #: answered by the WSGI app itself, without a nameko worker slot: fn(server, request, **path values) ->
    #: Response. Only for public, cheap operational routes (/health, /metrics, the docs).
    inline: Callable | None = None

    @property
    def openapi_path(self) -> str:
        return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", self.path)


#: every route of the gateway, filled by @route as the service module is imported
ROUTES: list[RouteSpec] = []


@dataclass
class Reply:
    """What a route handler returns: data to send as JSON (or a ready Response), status and headers."""

    data: object = None
    status: int = 200
    headers: dict = field(default_factory=dict)
    #: the ids the audit records when the body must not carry them (e.g. a partner's view of a referral)
    audit_subjects: list | None = None


class ApiProtocol(HttpOnlyProtocol):
    """eventlet's HTTP protocol without a Server header, and with problem+json for the errors it answers itself
    (e.g. 431 too many headers), instead of an HTML page naming the server."""

    server_version = "kim"
    sys_version = ""

    def send_header(self, keyword, value):
        if keyword.lower() != "server":
            super().send_header(keyword, value)

    def send_error(self, code, message=None, explain=None):
        body = json.dumps({"type": PROBLEM_TYPE + SLUGS.get(code, str(code)), "title": TITLES.get(code, "Error"),
                           "status": code, "detail": TITLES.get(code, "the request could not be read")}).encode()
        self.close_connection = True
        self.send_response(code)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)


def _raw_problem(status: int, reason: str, detail: str) -> bytes:
    body = json.dumps({"type": PROBLEM_TYPE + SLUGS[status], "title": TITLES[status], "status": status,
                       "detail": detail}).encode()
    return (f"HTTP/1.0 {status} {reason}\r\nConnection: close\r\nContent-Type: application/problem+json\r\n"
            f"X-Content-Type-Options: nosniff\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


# eventlet answers an over-long request line itself, with this constant: make it a problem+json too
eventlet_wsgi.RESPONSE_414 = _raw_problem(414, "Request URI Too Long", "the request line is too long")


class ApiServer(WebServer):
    SOCKET_TIMEOUT = 30  # seconds a client may stall a read or write (slow headers or body)
    KEEPALIVE_TIMEOUT = 15  # seconds an idle keep-alive connection is kept open
    MAX_CONNECTIONS = 1024  # open client connections; further ones wait in the listen backlog

    def get_wsgi_app(self):
        return ApiApp(self)

    def get_wsgi_server(self, sock, wsgi_app, protocol=ApiProtocol, debug=False):
        server = super().get_wsgi_server(sock, wsgi_app, protocol=ApiProtocol, debug=debug)
        server.socket_timeout = self.SOCKET_TIMEOUT
        server.keepalive = self.KEEPALIVE_TIMEOUT
        return server

    def setup(self):
        super().setup()
        self.settings = Settings.load(self.container.config)
        self.verifier = TokenVerifier(self.settings)
        self.metrics = Metrics()
        self._connections = Semaphore(self.MAX_CONNECTIONS)
        ExpectedErrorsFilter.install()

    def run(self):
        # nameko's loop, with a cap on open connections
        while self._is_accepting:
            self._connections.acquire()
            try:
                sock, addr = self._sock.accept()
            except BaseException:
                self._connections.release()
                raise
            sock.settimeout(self._serv.socket_timeout)
            self.container.spawn_managed_thread(partial(self._serve_connection, sock, addr))

    def _serve_connection(self, sock, addr):
        try:
            self.process_request(sock, addr)
        finally:
            self._connections.release()


class ApiApp:
    """Request id, CORS, body limit, unmatched routes and metrics, around every request."""

    def __init__(self, server: ApiServer):
        self.server = server
        self.url_map = server.make_url_map()
        self.settings = server.settings

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        server_request_id = uuid.uuid4().hex  # ours, unique, beside the client's (which may collide)
        request_id = incoming if REQUEST_ID_RE.match(incoming) else server_request_id
        set_request_id(request_id)
        request = Request(environ, shallow=True)
        request.request_id = request_id
        request.server_request_id = server_request_id
        method = request.method if request.method in KNOWN_METHODS else "other"
        request.max_content_length = self.settings.max_body_bytes
        adapter = self.url_map.bind_to_environ(environ)
        rule = "unmatched"
        try:
            if method == "other":  # answered without matching it: a made-up method is no new metric label
                response = problem(405, "this method is not supported", request_id=request_id,
                                   instance=request.path,
                                   headers={"Allow": ", ".join(sorted(adapter.allowed_methods()))})
            elif request.method == "OPTIONS":
                response = self._preflight(request)
            elif (request.content_length or 0) > self.settings.max_body_bytes:
                response = problem(413, f"the body may have at most {self.settings.max_body_bytes} bytes",
                                   request_id=request_id, instance=request.path)
            else:
                matched, values = adapter.match(return_rule=True)
                rule = matched.rule
                request.path_values = values
                inline = matched.endpoint.spec.inline
                if inline is not None:
                    response = inline(self.server, request, **values)
                else:
                    response = matched.endpoint.handle_request(request)
        except MethodNotAllowed as exc:
            response = problem(405, f"{request.method} is not allowed here", request_id=request_id,
                               instance=request.path, headers={"Allow": ", ".join(exc.valid_methods or [])})
        except NotFound:
            response = problem(404, "no such route", request_id=request_id, instance=request.path)
        except HTTPException as exc:
            response = problem(exc.code or 400, exc.description, request_id=request_id, instance=request.path)
        response.headers["X-Request-ID"] = request_id
        response.headers["X-Content-Type-Options"] = "nosniff"
        if request.path.startswith("/v1") or "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"  # personal data must not be kept by any cache
        self._cors(request, response)
        self.server.metrics.observe(method, rule, response.status_code, time.perf_counter() - started)
        return response(environ, start_response)

    def _allowed_origin(self, request) -> str | None:
        origin = request.headers.get("Origin")
        return origin if origin and origin in self.settings.cors_origins else None

    def _preflight(self, request) -> Response:
        response = Response(status=204)
        if self._allowed_origin(request):
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, PATCH, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = \
                "Authorization, Content-Type, Idempotency-Key, If-Match, X-Request-ID"
            response.headers["Access-Control-Max-Age"] = "600"
        return response

    def _cors(self, request, response):
        origin = self._allowed_origin(request)
        if origin:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Expose-Headers"] = "ETag, Location, X-Request-ID"
        response.headers.add("Vary", "Origin")


class Route(HttpRequestHandler):
    server = ApiServer()

    def __init__(self, method, path, **spec):
        super().__init__(method, path)
        self.spec = RouteSpec(method=method, path=path, **spec)
        self._audit = None

    def bind(self, container, method_name):
        instance = super().bind(container, method_name)
        instance.spec = RouteSpec(**{**self.spec.__dict__, "name": method_name})
        return instance

    @classmethod
    def decorator(cls, *args, **kwargs):
        def register(fn):
            spec = RouteSpec(args[0], args[1], name=fn.__name__, **kwargs)
            if not any(r.name == spec.name for r in ROUTES):
                ROUTES.append(spec)
            return super(Route, cls).decorator(*args, **kwargs)(fn)
        return register

    def handle_request(self, request):
        request.shallow = False
        spec = self.spec
        caller = None
        result = None
        try:
            token = None
            if spec.permission is not None:
                token = _bearer(request)
                caller = _verify(self.server.verifier, token)
                caller.require(spec.permission)
            kwargs = dict(request.path_values)
            if spec.path_params is not None:  # at the edge: one canonical spelling of every id
                load_or_raise(schema(spec.path_params), kwargs, "path")
            if spec.body is not None:
                kwargs["body"] = _json_body(request)
            if spec.query is not None:
                kwargs["query"] = request.args.to_dict()
                load_or_raise(schema(spec.query), kwargs["query"], "query")
            if spec.if_match:
                kwargs["if_match"] = _if_match(request)
            context_data = {REQUEST_ID_KEY: request.request_id}
            if token:
                context_data[AUTH_TOKEN_KEY] = token
            if spec.method == "POST" and "Idempotency-Key" in request.headers:
                context_data[IDEMPOTENCY_KEY] = _idempotency_key(request)
            event = Event()
            self.container.spawn_worker(self, (request,), kwargs, context_data=context_data,
                                        handle_result=partial(self.handle_result, event))
            result = event.wait()
            response = self.response_from_result(result)
        except Exception as exc:
            response = self.response_from_exception(exc, request)
        if caller is None and spec.permission is not None and response.status_code == 401:
            try:  # a failed authentication leaves a trace too (never the token)
                self._audit_log().record_auth_failure(spec, request, response.status_code)
            except Exception:
                log.exception("audit write of a failed authentication failed")
        if spec.audit is not None and caller is not None:
            try:
                self._audit_log().record(spec, caller, request, result, response.status_code)
            except Exception as exc:
                # fail closed, but retryable: the audit database may be away for a moment (a restart)
                log.error("audit write failed (%s); withholding the response", type(exc).__name__)
                response = problem(503, "the access could not be audited; retry the request later, with the "
                                        "same Idempotency-Key if it was a POST", request_id=request.request_id,
                                   instance=request.path, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        return response

    def _audit_log(self):
        if self._audit is None:
            from .audit import AuditLog
            self._audit = next(d for d in self.container.dependencies if isinstance(d, AuditLog))
        return self._audit

    def response_from_result(self, result):
        if isinstance(result, Response):
            return result
        if not isinstance(result, Reply):
            result = Reply(result)
        if isinstance(result.data, Response):
            return result.data
        return Response(json.dumps(result.data, default=str), status=result.status, headers=result.headers,
                        content_type="application/json")

    def response_from_exception(self, exc, request=None):
        rid = getattr(request, "request_id", None)
        where = getattr(request, "path", None)
        if isinstance(exc, InvalidInput):
            return problem(exc.status, exc.detail, errors=exc.fields, request_id=rid, instance=where)
        if isinstance(exc, Unavailable):
            exc = ServiceUnavailable(str(exc))
        if isinstance(exc, KimError):
            headers = {"WWW-Authenticate": 'Bearer realm="kim"'} if isinstance(exc, Unauthenticated) else None
            extra = {"candidates": exc.candidates} if isinstance(exc, LikelyDuplicate) else None
            return problem(exc.status, exc.detail, request_id=rid, instance=where, headers=headers, extra=extra)
        if isinstance(exc, (ServiceUnavailable, UnknownService, NotConfirmed)):
            return problem(503, "a service or the message broker is not available right now; retry the "
                                "request later (after Retry-After seconds), with the same Idempotency-Key if "
                                "it was a POST, so that work that did complete is not done twice",
                           request_id=rid, instance=where, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        if isinstance(exc, RequestEntityTooLarge):
            return problem(413, "the request body is too large", request_id=rid, instance=where)
        if isinstance(exc, HTTPException):
            return problem(exc.code or 400, exc.description, request_id=rid, instance=where)
        if isinstance(exc, RemoteError):
            log.error("remote error: %s", exc)
        else:
            log.error("unexpected error", exc_info=exc)
        return problem(500, "unexpected error; quote the request id when you report it", request_id=rid,
                       instance=where)


route = Route.decorator


class MetricsProvider(DependencyProvider):
    """`self.metrics`: the metrics the API server of this container collects."""

    def get_dependency(self, worker_ctx):
        return self.container.shared_extensions[ApiServer].metrics


def _verify(verifier, token):
    """The caller of a token; a refusal answers one fixed text (the reason, which may name library internals,
    goes to the log only)."""
    try:
        return verifier.verify(token)
    except Unauthenticated as exc:
        log.info("token refused: %s", exc.detail)
        raise Unauthenticated(UNAUTHENTICATED_DETAIL) from None


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects in a JSON text nest deeper than `limit`: one scan, no recursion (strings are
    skipped, so brackets inside them do not count)."""
    if text.count("[") + text.count("{") <= limit:  # most bodies: too few brackets to nest that deep
        return False
    depth = 0
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth -= 1
    return False


def _bearer(request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(MISSING_TOKEN_DETAIL)
    return token.strip()


def _json_body(request):
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise _UnsupportedMediaType()
    if request.content_length is None:  # chunked: read at most one byte past the limit
        raw = request.environ["wsgi.input"].read(request.max_content_length + 1)
        if len(raw) > request.max_content_length:
            raise RequestEntityTooLarge()
    else:
        raw = request.get_data(cache=True)
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        if json_depth_exceeds(text):
            raise InvalidInput("the body nests too deeply",
                               {"body": [f"arrays and objects may nest at most {MAX_JSON_DEPTH} levels deep"]})
        return json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedBody("the body is not valid JSON", {"body": [f"malformed JSON: {exc}"]}) from None


IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as the IETF draft's examples


def _idempotency_key(request) -> str:
    """The `Idempotency-Key` of a POST (IETF httpapi draft): the same key with the same body answers the first
    result again; with another body, 422."""
    key = request.headers["Idempotency-Key"].strip().strip('"')
    if not IDEMPOTENCY_KEY_RE.match(key):
        raise InvalidInput("Idempotency-Key is invalid",
                           {"Idempotency-Key": ["1 to 255 visible ASCII characters, e.g. a UUID"]})
    return key


class MalformedBody(InvalidInput):
    """Not JSON at all: malformed syntax, 400 (RFC 9110), where a well-formed body with bad values is 422."""

    status = 400


class _UnsupportedMediaType(HTTPException):
    code = 415
    description = "send the body as application/json"


def _if_match(request) -> int:
    value = request.headers.get("If-Match")
    if not value:
        raise _PreconditionRequired()
    match = re.fullmatch(r'(?:W/)?"(\d+)"', value.strip())
    if not match:
        raise InvalidInput("If-Match is invalid", {"If-Match": ['must be an ETag this API issued, e.g. "3"']})
    return int(match.group(1))


class _PreconditionRequired(HTTPException):
    code = 428
    description = "send If-Match with the ETag you read, so concurrent edits cannot overwrite each other"


def etag(version: int) -> str:
    return f'"{version}"'
