"""The gateway: the HTTP API for municipal frontends and partners. Each route is a thin translation to an RPC
call; authentication, authorisation, audit, errors and metrics come from the `route` entrypoint."""
from __future__ import annotations

import json
import time

import eventlet
from werkzeug.wrappers import Response

from services.shared.auth import CallerProvider, Permission as P
from services.shared.dependencies import SettingsProvider
from services.shared.logs import RequestLogContext
from services.shared.messaging import check_broker
from services.shared.schemas import load_or_raise, schema

from . import docs
from .app import AppRoutes
from .audit import AuditLog
from .http import MetricsProvider, Reply, ServiceUnavailable, route
from .problems import problem
from .routes.analytics import AnalyticsRoutes
from .routes.case_managers import CaseManagerRoutes
from .routes.case_records import CaseRecordRoutes
from .routes.cases import CaseRoutes
from .routes.persons import PersonRoutes
from .routes.referrals import ReferralRoutes
from .schemas import AssetPathSchema, AuditEntrySchema, AuditPageSchema, AuditQuerySchema, HealthSchema

SERVICES = ("intake", "casework", "referrals", "analytics")
READY_CACHE_SECONDS = 2.0  # /ready is public: at most one broker connection and one RPC per service per 2 s


# cheap public routes, answered by the WSGI app without a worker slot (RouteSpec.inline) ---------------------

def _health(server, request):
    return Response(json.dumps({"status": "ok", "checks": {"gateway": "ok"}}), content_type="application/json")


def _metrics(server, request):
    return Response(server.metrics.render(), content_type=server.metrics.content_type)


def _openapi(server, request):
    return Response(docs.openapi_json(), content_type="application/json")


def _docs_page(server, request):
    return Response(docs.index_html(), content_type="text/html")


def _docs_asset(server, request, asset):
    if asset not in docs.DOC_ASSETS:  # a fixed text: nothing of the path is echoed or logged
        return problem(404, "no such asset", request_id=request.request_id)
    return docs.asset(asset)


class GatewayService(PersonRoutes, CaseRoutes, CaseManagerRoutes, CaseRecordRoutes, ReferralRoutes,
                     AnalyticsRoutes, AppRoutes):
    name = "gateway"

    audit = AuditLog()
    settings = SettingsProvider()
    log_context = RequestLogContext()
    caller = CallerProvider()
    http_metrics = MetricsProvider()
    _ready_cache: tuple[float, Reply] | None = None  # (expires at, answer), shared by the workers

    def _call(self, method, *args, timeout=None):
        """An RPC call that gives up after KIM_RPC_TIMEOUT: the gateway never hangs on a silent service."""
        try:
            with eventlet.Timeout(timeout or self.settings.rpc_timeout):
                return method.call_async(*args).result()  # sending the request counts towards the time too
        except eventlet.Timeout:
            raise ServiceUnavailable(f"{method.service_name}.{method.method_name}") from None

    # audit -----------------------------------------------------------------------------------------------

    @route("GET", "/v1/audit", tag="audit", summary="Who read or wrote a person's or case's data",
           permission=P.AUDIT_READ, query=AuditQuerySchema, responses={200: AuditPageSchema}, rpc=False)
    def read_audit(self, request, query):
        caller = self.caller.require(P.AUDIT_READ)
        params = load_or_raise(schema(AuditQuerySchema), query, "query")
        entries, next_cursor = self.audit.query(municipalities=caller.municipalities, **params)
        return {"items": AuditEntrySchema(many=True).dump(entries), "next_cursor": next_cursor}

    # operations ------------------------------------------------------------------------------------------

    @route("GET", "/health", summary="Liveness: the gateway process answers", responses={200: HealthSchema},
           rpc=False, inline=_health)
    def health(self, request):
        return _health(None, request)

    @route("GET", "/ready", summary="Readiness: the broker and every service answer",
           responses={200: HealthSchema, 503: HealthSchema})
    def ready(self, request):
        cached = GatewayService._ready_cache
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        reply = self._check_ready()
        GatewayService._ready_cache = (time.monotonic() + READY_CACHE_SECONDS, reply)
        return reply

    def _check_ready(self):
        checks = {"broker": self._broker_check()}
        for name in SERVICES:
            try:
                self._call(getattr(self, name).health, timeout=min(2.0, self.settings.rpc_timeout))
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"unavailable: {type(exc).__name__}"
        ok = all(v == "ok" for v in checks.values())
        return Reply({"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503)

    def _broker_check(self) -> str:
        try:
            check_broker(self.settings.amqp_uri, timeout=2)
            return "ok"
        except Exception as exc:
            return f"unavailable: {type(exc).__name__}"

    @route("GET", "/metrics", summary="Prometheus metrics", responses={200: ("text/plain", "metrics")}, rpc=False,
           inline=_metrics)
    def metrics(self, request):
        return Response(self.http_metrics.render(), content_type=self.http_metrics.content_type)

    @route("GET", "/openapi.json", summary="This API's OpenAPI 3 document",
           responses={200: ("application/json", "OpenAPI document")}, rpc=False, inline=_openapi)
    def openapi(self, request):
        return _openapi(None, request)

    @route("GET", "/docs", summary="Interactive API documentation (works offline)",
           responses={200: ("text/html", "documentation page")}, rpc=False, inline=_docs_page)
    def docs_page(self, request):
        return _docs_page(None, request)

    @route("GET", "/docs/<asset>", summary="An asset of the documentation page", path_params=AssetPathSchema,
           responses={200: (("text/css", "text/javascript", "image/png"), "asset")}, rpc=False,
           inline=_docs_asset)
    def docs_asset(self, request, asset):
        return _docs_asset(None, request, asset)
