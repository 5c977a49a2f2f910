"""Routes of cases and case managers: thin translations to casework's RPCs."""
from __future__ import annotations

from services.casework.schemas import AssignCaseSchema, CaseListQuerySchema, CasePageSchema, CaseSchema
from services.shared.auth import Permission as P
from services.shared.rpc import RpcProxy

from ..http import Audit, Reply, etag, route
from ..schemas import CasePathSchema


class CaseRoutes:
    """Mixed into GatewayService, whose `_call` makes the RPC calls."""

    casework = RpcProxy("casework")

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
