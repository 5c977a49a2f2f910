"""Routes of case managers, teams, absences, assignment and the case-management cycle: casework's RPCs."""
from __future__ import annotations

from services.casework.schemas import (AbsenceListSchema, AbsenceSchema, AssignCaseSchema, CaseAssignmentListSchema,
                                       CaseloadSchema, CaseManagerIdSchema, CaseManagerListQuerySchema,
                                       CaseManagerPageSchema, CaseManagerSchema, CaseSchema,
                                       CaseTransitionListSchema, ClosureSchema, CreateAbsenceSchema,
                                       CreateCaseManagerSchema, TeamIdSchema, TransitionRequestSchema,
                                       UpdateCaseManagerSchema)
from services.shared.auth import Permission as P

from ..http import Audit, Reply, etag, route
from ..schemas import CasePathSchema


class CaseManagerRoutes:
    """Mixed into GatewayService, whose `_call` makes the RPC calls (its `casework` proxy is CaseRoutes')."""

    # case managers, teams, absences (staff data: audited as "staff", no person) -------------------------------

    @route("POST", "/v1/case-managers", tag="case managers",
           summary="Create a case manager's profile: employer, towns served on which weekdays, languages, hours, "
                   "capacity, team (district_admin: district case managers; team_lead: municipal ones)",
           permission=P.CASE_MANAGER_WRITE, body=CreateCaseManagerSchema, responses={201: CaseManagerSchema},
           response_headers=("Location", "ETag"), errors={409: "A case manager with this username exists"},
           audit=Audit("case_manager.create", "case_management", "staff"))
    def create_case_manager(self, request, body):
        cm = self._call(self.casework.create_case_manager, body)
        return Reply(cm, 201, {"Location": f"/v1/case-managers/{cm['id']}", "ETag": etag(cm["version"])})

    @route("GET", "/v1/case-managers", tag="case managers",
           summary="List the case managers serving the caller's towns (optionally one town or team)",
           permission=P.CASE_MANAGER_READ, query=CaseManagerListQuerySchema, responses={200: CaseManagerPageSchema},
           audit=Audit("case_manager.list", "case_management", "staff"))
    def list_case_managers(self, request, query):
        return self._call(self.casework.list_case_managers, query)

    @route("GET", "/v1/case-managers/<case_manager_id>", tag="case managers", summary="Read a case manager",
           permission=P.CASE_MANAGER_READ, path_params=CaseManagerIdSchema, responses={200: CaseManagerSchema},
           response_headers=("ETag",), audit=Audit("case_manager.read", "case_management", "staff"))
    def get_case_manager(self, request, case_manager_id):
        cm = self._call(self.casework.get_case_manager, case_manager_id)
        return Reply(cm, headers={"ETag": etag(cm["version"])})

    @route("PATCH", "/v1/case-managers/<case_manager_id>", tag="case managers",
           summary="Change a case manager's profile (coverage replaces the list)",
           permission=P.CASE_MANAGER_WRITE, path_params=CaseManagerIdSchema, body=UpdateCaseManagerSchema,
           if_match=True, responses={200: CaseManagerSchema}, response_headers=("ETag",),
           audit=Audit("case_manager.update", "case_management", "staff"))
    def update_case_manager(self, request, case_manager_id, body, if_match):
        cm = self._call(self.casework.update_case_manager, case_manager_id, if_match, body)
        return Reply(cm, headers={"ETag": etag(cm["version"])})

    @route("POST", "/v1/case-managers/<case_manager_id>/absences", tag="case managers",
           summary="Record an absence (holiday, sickness, ...) with a deputy; absent case managers get no new "
                   "cases", permission=P.CASE_MANAGER_WRITE, path_params=CaseManagerIdSchema,
           body=CreateAbsenceSchema, responses={201: AbsenceSchema},
           audit=Audit("case_manager.absence", "case_management", "staff"))
    def add_absence(self, request, case_manager_id, body):
        return Reply(self._call(self.casework.add_absence, case_manager_id, body), 201)

    @route("GET", "/v1/case-managers/<case_manager_id>/absences", tag="case managers",
           summary="A case manager's absences", permission=P.CASE_MANAGER_READ, path_params=CaseManagerIdSchema,
           responses={200: AbsenceListSchema}, audit=Audit("case_manager.absences", "case_management", "staff"))
    def list_absences(self, request, case_manager_id):
        return self._call(self.casework.list_absences, case_manager_id)

    @route("GET", "/v1/case-managers/<case_manager_id>/caseload", tag="case managers",
           summary="A case manager's active cases against their capacity",
           permission=P.CASE_MANAGER_READ, path_params=CaseManagerIdSchema, responses={200: CaseloadSchema},
           audit=Audit("case_manager.caseload", "case_management", "staff"))
    def case_manager_caseload(self, request, case_manager_id):
        return self._call(self.casework.caseload, case_manager_id, None)

    @route("GET", "/v1/teams/<team_id>/caseload", tag="case managers",
           summary="Every case manager of a team: active cases against capacity, absences, the towns' queue",
           permission=P.CASE_MANAGER_READ, path_params=TeamIdSchema, responses={200: CaseloadSchema},
           audit=Audit("team.caseload", "case_management", "staff"))
    def team_caseload(self, request, team_id):
        return self._call(self.casework.caseload, None, team_id)

    # assignment and the case-management cycle ------------------------------------------------------------

    @route("POST", "/v1/cases/<case_id>/assignment", tag="cases",
           summary="Assign or reassign a case by hand, with a reason (null: back to the town's queue); "
                   "announced as case_reassigned",
           permission=P.CASE_ASSIGN, path_params=CasePathSchema, body=AssignCaseSchema, responses={200: CaseSchema},
           response_headers=("ETag",), errors={409: "The case is closed"},
           audit=Audit("case.assign", "case_management", "case"))
    def assign_case(self, request, case_id, body):
        case = self._call(self.casework.assign_case, case_id, body)
        return Reply(case, headers={"ETag": etag(case["version"])})

    @route("GET", "/v1/cases/<case_id>/assignments", tag="cases",
           summary="A case's assignment history (automatic and by hand), oldest first",
           permission=P.CASE_READ, path_params=CasePathSchema, responses={200: CaseAssignmentListSchema},
           audit=Audit("case.assignments", "case_management", "case_history"))
    def case_assignments(self, request, case_id):
        return self._call(self.casework.case_assignments, case_id)

    @route("POST", "/v1/cases/<case_id>/transitions", tag="cases",
           summary="Move a case to another phase of the case-management cycle (the case's "
                   "`allowed_transitions`); closing: POST /v1/cases/{case_id}/closure",
           permission=P.CASE_WORK, path_params=CasePathSchema, body=TransitionRequestSchema,
           responses={200: CaseSchema}, response_headers=("ETag",),
           errors={409: "Not a step of the cycle from the case's phase: the detail names the allowed ones"},
           audit=Audit("case.transition", "case_management", "case"))
    def change_case_status(self, request, case_id, body):
        case = self._call(self.casework.change_case_status, case_id, body)
        return Reply(case, headers={"ETag": etag(case["version"])})

    @route("GET", "/v1/cases/<case_id>/transitions", tag="cases",
           summary="A case's phases: who moved it from which to which, when and why, oldest first",
           permission=P.CASE_READ, path_params=CasePathSchema, responses={200: CaseTransitionListSchema},
           audit=Audit("case.transitions", "case_management", "case_history"))
    def case_transitions(self, request, case_id):
        return self._call(self.casework.case_transitions, case_id)

    @route("POST", "/v1/cases/<case_id>/closure", tag="cases",
           summary="Close a case: outcome, evaluation per goal, evaluation note (case_closed)",
           permission=P.CASE_WORK, path_params=CasePathSchema, body=ClosureSchema, responses={200: CaseSchema},
           response_headers=("ETag",), errors={409: "The case is closed already"},
           audit=Audit("case.close", "case_management", "case"))
    def close_case(self, request, case_id, body):
        case = self._call(self.casework.close_case, case_id, body)
        return Reply(case, headers={"ETag": etag(case["version"])})
