"""The gateway: the HTTP API for municipal frontends and partners. Each route is a thin translation to an RPC
call; authentication, authorisation, audit, errors and metrics come from the `route` entrypoint."""
from __future__ import annotations

import json
import time

import eventlet
from werkzeug.wrappers import Response

from services.casework.schemas import AssignCaseSchema, CaseListQuerySchema, CasePageSchema, CaseSchema
from services.intake.schemas import (ConsentPathSchema, ConsentRecordSchema, ConsentSchema, PersonHistoryPageSchema,
                                     PersonSchema, PersonSearchPageSchema, PersonSearchQuerySchema,
                                     RegisterPersonSchema, UpdatePersonSchema)
from services.intake.erasure import ErasureIdSchema, ErasureSchema, PersonExportSchema
from services.intake.schemas import (CreateHouseholdSchema, HouseholdIdSchema, HouseholdMemberSchema,
                                     HouseholdMembershipSchema, HouseholdSchema)
from services.shared.schemas import PageQuerySchema
from services.shared.auth import CallerProvider, Permission as P
from services.shared.dependencies import SettingsProvider
from services.shared.logs import RequestLogContext
from services.shared.messaging import check_broker
from services.shared.rpc import RpcProxy
from services.shared.schemas import load_or_raise, schema

from . import docs
from .audit import AuditLog
from .http import Audit, MetricsProvider, Reply, ServiceUnavailable, etag, route
from .problems import problem
from .schemas import (AssetPathSchema, AuditEntrySchema, AuditPageSchema, AuditQuerySchema, CasePathSchema,
                      HealthSchema, PersonPathSchema)

SERVICES = ("intake", "casework")
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


class GatewayService:
    name = "gateway"

    intake = RpcProxy("intake")
    casework = RpcProxy("casework")
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

    # persons ---------------------------------------------------------------------------------------------

    @route("POST", "/v1/persons", tag="persons", summary="Register a newly arrived person",
           permission=P.PERSON_CREATE, body=RegisterPersonSchema, responses={201: PersonSchema},
           response_headers=("Location", "ETag"),
           errors={409: "Likely already registered: `candidates` lists who (ids, scores, reasons); link to one, "
                        "or send again with `confirmed_new: true`"},
           audit=Audit("person.create", "case_management", "person"))
    def create_person(self, request, body):
        person = self._call(self.intake.register_person, body)
        return Reply(person, 201, {"Location": f"/v1/persons/{person['id']}", "ETag": etag(person["version"])})

    @route("GET", "/v1/persons/<person_id>", tag="persons", summary="Read a person's record",
           permission=P.PERSON_READ, path_params=PersonPathSchema, responses={200: PersonSchema},
           response_headers=("ETag",),
           audit=Audit("person.read", "case_management", "person"))
    def get_person(self, request, person_id):
        person = self._call(self.intake.get_person, person_id)
        return Reply(person, headers={"ETag": etag(person["version"])})

    @route("PATCH", "/v1/persons/<person_id>", tag="persons",
           summary="Rectify fields of a person's record (Art. 16 GDPR; announced as person_updated)",
           permission=P.PERSON_UPDATE, path_params=PersonPathSchema, body=UpdatePersonSchema, if_match=True,
           responses={200: PersonSchema}, response_headers=("ETag",),
           audit=Audit("person.update", "case_management", "person"))
    def update_person(self, request, person_id, body, if_match):
        person = self._call(self.intake.update_person, person_id, if_match, body)
        return Reply(person, headers={"ETag": etag(person["version"])})

    @route("GET", "/v1/persons/<person_id>/history", tag="persons",
           summary="Who changed which field of a person's record when, old -> new",
           permission=P.PERSON_HISTORY, path_params=PersonPathSchema, query=PageQuerySchema,
           responses={200: PersonHistoryPageSchema},
           audit=Audit("person.history", "case_management", "history"))
    def person_history(self, request, person_id, query):
        return self._call(self.intake.person_history, person_id, query)

    @route("GET", "/v1/persons", tag="persons",
           summary="Search persons of the caller's towns by name (tolerant of transliteration and typos) "
                   "and/or birth date",
           permission=P.PERSON_SEARCH, query=PersonSearchQuerySchema, responses={200: PersonSearchPageSchema},
           audit=Audit("person.search", "case_management", "persons"))
    def search_persons(self, request, query):
        return self._call(self.intake.search_persons, query)

    # GDPR Art. 15 (export) and Art. 17 (erasure) ----------------------------------------------------------

    @route("GET", "/v1/persons/<person_id>/export", tag="persons",
           summary="Everything every service holds on a person (Art. 15 GDPR): record, consents, history, "
                   "household memberships, cases",
           permission=P.PERSON_EXPORT, path_params=PersonPathSchema, responses={200: PersonExportSchema},
           audit=Audit("person.export", "data_protection", "export"))
    def export_person(self, request, person_id):
        return self._call(self.intake.export_person, person_id)

    @route("DELETE", "/v1/persons/<person_id>", tag="persons",
           summary="Erase a person everywhere (Art. 17 GDPR): intake at once, the other services confirm; "
                   "follow Location for the status",
           permission=P.PERSON_ERASE, path_params=PersonPathSchema, responses={202: ErasureSchema},
           response_headers=("Location",),
           audit=Audit("person.erase", "data_protection", "erasure"))
    def erase_person(self, request, person_id):
        erasure = self._call(self.intake.erase_person, person_id)
        return Reply(erasure, 202, {"Location": f"/v1/erasures/{erasure['erasure_id']}"})

    @route("GET", "/v1/erasures/<erasure_id>", tag="persons",
           summary="An erasure's status and each service's confirmation",
           permission=P.PERSON_ERASE, path_params=ErasureIdSchema, responses={200: ErasureSchema},
           audit=Audit("erasure.read", "data_protection", "erasure"))
    def get_erasure(self, request, erasure_id):
        return self._call(self.intake.get_erasure, erasure_id)

    # consents (GDPR Art. 6/7/9) ----------------------------------------------------------------------------

    @route("POST", "/v1/persons/<person_id>/consents", tag="persons",
           summary="Record that the person granted (or granted again) consent to a purpose",
           permission=P.CONSENT_WRITE, path_params=PersonPathSchema, body=ConsentSchema,
           responses={201: ConsentRecordSchema},
           audit=Audit("consent.grant", "case_management", "consent"))
    def grant_consent(self, request, person_id, body):
        return Reply(self._call(self.intake.grant_consent, person_id, body), 201)

    @route("POST", "/v1/persons/<person_id>/consents/<purpose>/withdrawal", tag="persons",
           summary="Withdraw the person's consent to a purpose, with immediate effect (announced as "
                   "consent_withdrawn)",
           permission=P.CONSENT_WRITE, path_params=ConsentPathSchema, responses={200: ConsentRecordSchema},
           audit=Audit("consent.withdraw", "case_management", "consent"))
    def withdraw_consent(self, request, person_id, purpose):
        return self._call(self.intake.withdraw_consent, person_id, purpose)

    # households ------------------------------------------------------------------------------------------

    @route("POST", "/v1/households", tag="households", summary="Create a household of registered persons",
           permission=P.HOUSEHOLD_WRITE, body=CreateHouseholdSchema, responses={201: HouseholdSchema},
           response_headers=("Location",), errors={409: "A member is already in a household"},
           audit=Audit("household.create", "case_management", "household"))
    def create_household(self, request, body):
        household = self._call(self.intake.create_household, body)
        return Reply(household, 201, {"Location": f"/v1/households/{household['id']}"})

    @route("POST", "/v1/households/<household_id>/members", tag="households",
           summary="Add a registered person to a household", permission=P.HOUSEHOLD_WRITE,
           path_params=HouseholdIdSchema, body=HouseholdMemberSchema, responses={201: HouseholdMembershipSchema},
           errors={409: "The person is already in a household"},
           audit=Audit("household.add_member", "case_management", "household"))
    def add_household_member(self, request, household_id, body):
        return Reply(self._call(self.intake.add_household_member, household_id, body), 201)

    @route("GET", "/v1/households/<household_id>", tag="households",
           summary="Read a household: its members' ids and relations", permission=P.HOUSEHOLD_READ,
           path_params=HouseholdIdSchema, responses={200: HouseholdSchema},
           audit=Audit("household.read", "case_management", "household"))
    def get_household(self, request, household_id):
        return self._call(self.intake.get_household, household_id)

    # cases -----------------------------------------------------------------------------------------------

    @route("GET", "/v1/cases", tag="cases", summary="List the cases the caller may see, optionally of one person",
           permission=P.CASE_READ, query=CaseListQuerySchema, responses={200: CasePageSchema},
           audit=Audit("case.list", "case_management", "cases"))
    def list_cases(self, request, query):
        return self._call(self.casework.list_cases, query)

    @route("GET", "/v1/cases/<case_id>", tag="cases", summary="Read a case",
           permission=P.CASE_READ, path_params=CasePathSchema, responses={200: CaseSchema},
           response_headers=("ETag",),
           audit=Audit("case.read", "case_management", "case"))
    def get_case(self, request, case_id):
        case = self._call(self.casework.get_case, case_id)
        return Reply(case, headers={"ETag": etag(case["version"])})

    @route("PATCH", "/v1/cases/<case_id>", tag="cases", summary="Assign a case to a case manager or team",
           permission=P.CASE_ASSIGN, path_params=CasePathSchema, body=AssignCaseSchema, if_match=True,
           responses={200: CaseSchema}, response_headers=("ETag",),
           audit=Audit("case.assign", "case_management", "case"))
    def assign_case(self, request, case_id, body, if_match):
        case = self._call(self.casework.assign_case, case_id, if_match, body)
        return Reply(case, headers={"ETag": etag(case["version"])})

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
