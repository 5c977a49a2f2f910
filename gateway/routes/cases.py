"""Routes of cases and case managers: thin translations to casework's RPCs."""
from __future__ import annotations

from services.casework.schemas import CaseListQuerySchema, CasePageSchema, CaseSchema
from services.shared.auth import Permission as P
from services.shared.rpc import RpcProxy

from ..http import Audit, Reply, etag, route
from ..schemas import CasePathSchema


class CaseRoutes:
    """Mixed into GatewayService, whose `_call` makes the RPC calls."""

    casework = RpcProxy("casework")

    # cases -----------------------------------------------------------------------------------------------

    @route("GET", "/v1/cases", tag="cases", summary="List the cases the caller may see, filtered by person, town, "
                                                  "phase, case manager, or the unassigned queue",
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
    # assigning: POST /v1/cases/{case_id}/assignment (gateway/routes/case_managers.py), with reason and history
