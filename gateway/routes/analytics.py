"""Routes of the analytics reports: thin translations to analytics' RPCs.

Every report answers JSON, or CSV (long format: one figure a line) when the request's Accept header asks for
`text/csv`. Suppressed cells are `{"value": null, "suppressed": true}` in JSON and an empty value with
`suppressed` = 1 in CSV.
"""
from __future__ import annotations

import base64

from werkzeug.wrappers import Response

from services.analytics.reports import to_csv
from services.analytics.schemas import ReportQuerySchema, SteeringReportQuerySchema
from services.shared.auth import Permission as P
from services.shared.rpc import RpcProxy

from ..http import Audit, Reply, route

REPORT_CONTENT = (("application/json", "text/csv"),
                  "the report as JSON, or as CSV (Accept: text/csv); suppressed cells are marked")
NOTE = " Filter: `municipality` (one of the caller's towns; default all of them and their sum), `from`/`to`."


def _wants_csv(request) -> bool:
    accept = request.accept_mimetypes
    return accept.quality("text/csv") > accept.quality("application/json")


class AnalyticsRoutes:
    """Mixed into GatewayService, whose `_call` makes the RPC calls."""

    analytics = RpcProxy("analytics")

    def _report(self, request, name: str, query: dict):
        data = self._call(self.analytics.report, name, query)
        if _wants_csv(request):
            filename = f"kim-{name}-{data['from']}-{data['to']}.csv"
            return Reply(Response(to_csv(data), content_type="text/csv; charset=utf-8",
                                  headers={"Content-Disposition": f'attachment; filename="{filename}"'}))
        return data

    @route("GET", "/v1/analytics/cases", tag="analytics",
           summary="Cases by municipality and phase at the end of the period, opened and closed in it, and the "
                   "median days from arrival to first contact and first referral." + NOTE,
           permission=P.ANALYTICS_READ, query=ReportQuerySchema, responses={200: REPORT_CONTENT},
           audit=Audit("analytics.cases", "statistics", "staff"))
    def analytics_cases(self, request, query):
        return self._report(request, "cases", query)

    @route("GET", "/v1/analytics/barriers", tag="analytics",
           summary="Barrier ranking: prevalence per 100 open cases and median days unresolved, with the change "
                   "against the previous period." + NOTE,
           permission=P.ANALYTICS_READ, query=ReportQuerySchema, responses={200: REPORT_CONTENT},
           audit=Audit("analytics.barriers", "statistics", "staff"))
    def analytics_barriers(self, request, query):
        return self._report(request, "barriers", query)

    @route("GET", "/v1/analytics/referrals", tag="analytics",
           summary="Referral funnel per offer and life area (referrals sent in the period), median waiting "
                   "times, decline reasons." + NOTE,
           permission=P.ANALYTICS_READ, query=ReportQuerySchema, responses={200: REPORT_CONTENT},
           audit=Audit("analytics.referrals", "statistics", "staff"))
    def analytics_referrals(self, request, query):
        return self._report(request, "referrals", query)

    @route("GET", "/v1/analytics/caseload", tag="analytics",
           summary="Open cases per case manager at the end of the period, against their capacity." + NOTE,
           permission=P.ANALYTICS_READ, query=ReportQuerySchema, responses={200: REPORT_CONTENT},
           audit=Audit("analytics.caseload", "statistics", "staff"))
    def analytics_caseload(self, request, query):
        return self._report(request, "caseload", query)

    @route("GET", "/v1/analytics/outcomes", tag="analytics",
           summary="Cases closed in the period by outcome, with the share of their goals reached." + NOTE,
           permission=P.ANALYTICS_READ, query=ReportQuerySchema, responses={200: REPORT_CONTENT},
           audit=Audit("analytics.outcomes", "statistics", "staff"))
    def analytics_outcomes(self, request, query):
        return self._report(request, "outcomes", query)

    @route("GET", "/v1/analytics/needs", tag="analytics",
           summary="Needs by life area and level of the cases open at the end of the period (their latest "
                   "assessment)." + NOTE,
           permission=P.ANALYTICS_READ, query=ReportQuerySchema, responses={200: REPORT_CONTENT},
           audit=Audit("analytics.needs", "statistics", "staff"))
    def analytics_needs(self, request, query):
        return self._report(request, "needs", query)

    @route("GET", "/v1/analytics/report", tag="analytics",
           summary="The one-page report for a steering group (barrier ranking, referral funnel, workload) as "
                   "HTML with inline charts, or PDF. `period`: 2026-Q3, 2026-07 or 2026 (default: this quarter).",
           permission=P.ANALYTICS_READ, query=SteeringReportQuerySchema,
           responses={200: (("text/html", "application/pdf"), "the report, one page")},
           audit=Audit("analytics.report", "statistics", "staff"))
    def analytics_report(self, request, query):
        page = self._call(self.analytics.steering_report, query)
        name = f"kim-report-{page['from']}-{page['to']}"
        if page.get("pdf"):
            return Reply(Response(base64.b64decode(page["pdf"]), content_type="application/pdf",
                                  headers={"Content-Disposition": f'inline; filename="{name}.pdf"'}))
        return Reply(Response(page["html"], content_type="text/html; charset=utf-8",
                              headers={"Content-Disposition": f'inline; filename="{name}.html"'}))
