"""Routes of a case's assessments, plan, contacts and appointments, barriers and the worklist: casework's RPCs."""
from __future__ import annotations

from services.casework.schemas import (ActionPathSchema, ActionSchema, AppointmentListSchema, AppointmentQuerySchema,
                                       AssessmentListSchema, AssessmentProgressSchema, AssessmentSchema,
                                       BarrierCodeListSchema, BarrierListSchema, BarrierPathSchema, BarrierSchema,
                                       ContactPageSchema, ContactPathSchema, ContactSchema, CreateActionSchema,
                                       CreateGoalSchema, FlaggedCaseListSchema, FlaggedQuerySchema, GoalPathSchema,
                                       GoalSchema, OverdueListSchema, OverdueQuerySchema, PlanSchema,
                                       RecordAssessmentSchema, RecordBarrierSchema, RecordContactSchema,
                                       ResolveBarrierSchema, UpdateActionSchema, UpdateContactSchema,
                                       UpdateGoalSchema, WorklistQuerySchema, WorklistSchema)
from services.casework.schemas import CaseManagerIdSchema, PeriodQuerySchema
from services.shared.auth import Permission as P
from services.shared.schemas import PageQuerySchema

from ..http import Audit, Reply, etag, route
from ..schemas import CasePathSchema

# !! READ /work/issue14_routes.md: the exact routes and field names (binding) !!

CLOSED = {409: "The case is closed (or, for an assessment, still in intake)"}


def _cases_of(items, case_key="case_id"):
    """Audit subjects of a list across cases: one entry per case it names (ids only)."""
    seen, subjects = set(), []
    for item in items:
        key = (item.get("person_id"), item.get(case_key))
        if key not in seen:
            seen.add(key)
            subjects.append({"person_id": item.get("person_id"), "case_id": item.get(case_key),
                             "municipality": item.get("municipality")})
    return subjects or None


class CaseRecordRoutes:
    """Mixed into GatewayService, whose `_call` makes the RPC calls (its `casework` proxy is CaseRoutes')."""

    def _about_case(self, case_id, reply):
        """The reply, with the case's person named for the audit: a record (assessment, goal, contact, barrier)
        carries its case's id but not the person's, and the audit must tell whose data was read or written."""
        case = self._call(self.casework.get_case, case_id)
        subject = {"person_id": case["person_id"], "case_id": case["id"], "municipality": case["municipality"]}
        if not isinstance(reply, Reply):
            reply = Reply(reply)
        reply.audit_subjects = [subject]
        return reply

    # holistic assessment ------------------------------------------------------------------------------------

    @route("POST", "/v1/cases/<case_id>/assessments", tag="case records",
           summary="Record an assessment (or re-assessment) of the life areas: need level, the person's own "
                   "priority, strengths and notes per area (any phase after intake; announced with the needs)",
           permission=P.CASE_WORK, path_params=CasePathSchema, body=RecordAssessmentSchema,
           responses={201: AssessmentSchema}, response_headers=("Location",), errors=CLOSED,
           audit=Audit("assessment.record", "case_management", "case"))
    def record_assessment(self, request, case_id, body):
        assessment = self._call(self.casework.record_assessment, case_id, body)
        return self._about_case(case_id, Reply(assessment, 201,
                                               {"Location": f"/v1/cases/{case_id}/assessments"}))

    @route("GET", "/v1/cases/<case_id>/assessments", tag="case records",
           summary="A case's assessments, oldest first, with every area",
           permission=P.CASE_READ, path_params=CasePathSchema, responses={200: AssessmentListSchema},
           audit=Audit("assessment.list", "case_management", "case"))
    def list_assessments(self, request, case_id):
        return self._about_case(case_id, self._call(self.casework.list_assessments, case_id))

    @route("GET", "/v1/cases/<case_id>/assessments/progress", tag="case records",
           summary="Progress per life area: the need levels of every assessment, oldest first",
           permission=P.CASE_READ, path_params=CasePathSchema, responses={200: AssessmentProgressSchema},
           audit=Audit("assessment.progress", "case_management", "case"))
    def assessment_progress(self, request, case_id):
        return self._about_case(case_id, self._call(self.casework.assessment_progress, case_id))

    # the case plan ------------------------------------------------------------------------------------------

    @route("GET", "/v1/cases/<case_id>/plan", tag="case records",
           summary="The case plan: goals with their actions (tasks, and referrals mirrored from the referrals "
                   "service), each flagged when overdue",
           permission=P.CASE_READ, path_params=CasePathSchema, responses={200: PlanSchema},
           audit=Audit("plan.read", "case_management", "case"))
    def get_plan(self, request, case_id):
        return self._about_case(case_id, self._call(self.casework.get_plan, case_id))

    @route("POST", "/v1/cases/<case_id>/goals", tag="case records",
           summary="Add a goal to the case plan (area, description, target date, agreed with the person)",
           permission=P.CASE_WORK, path_params=CasePathSchema, body=CreateGoalSchema, responses={201: GoalSchema},
           response_headers=("Location", "ETag"), errors=CLOSED,
           audit=Audit("goal.create", "case_management", "case"))
    def create_goal(self, request, case_id, body):
        goal = self._call(self.casework.create_goal, case_id, body)
        return self._about_case(case_id, Reply(goal, 201, {"Location": f"/v1/cases/{case_id}/plan",
                                                          "ETag": etag(goal["version"])}))

    @route("PATCH", "/v1/cases/<case_id>/goals/<goal_id>", tag="case records",
           summary="Change a goal: description, target date, agreement, status (open, reached, "
                   "partially_reached, not_reached, dropped)",
           permission=P.CASE_WORK, path_params=GoalPathSchema, body=UpdateGoalSchema, if_match=True,
           responses={200: GoalSchema}, response_headers=("ETag",), errors=CLOSED,
           audit=Audit("goal.update", "case_management", "case"))
    def update_goal(self, request, case_id, goal_id, body, if_match):
        goal = self._call(self.casework.update_goal, case_id, goal_id, if_match, body)
        return self._about_case(case_id, Reply(goal, headers={"ETag": etag(goal["version"])}))

    @route("POST", "/v1/cases/<case_id>/goals/<goal_id>/actions", tag="case records",
           summary="Add a task under a goal, for the case manager, the person or a third party, with a due date",
           permission=P.CASE_WORK, path_params=GoalPathSchema, body=CreateActionSchema,
           responses={201: ActionSchema}, response_headers=("Location", "ETag"),
           errors={409: "The case is closed, or the goal no longer open"},
           audit=Audit("action.create", "case_management", "case"))
    def create_action(self, request, case_id, goal_id, body):
        action = self._call(self.casework.create_action, case_id, goal_id, body)
        return self._about_case(case_id, Reply(action, 201, {"Location": f"/v1/cases/{case_id}/plan",
                                                          "ETag": etag(action["version"])}))

    @route("PATCH", "/v1/cases/<case_id>/actions/<action_id>", tag="case records",
           summary="Change a task: assignee, description, due date, status (open, done, cancelled)",
           permission=P.CASE_WORK, path_params=ActionPathSchema, body=UpdateActionSchema, if_match=True,
           responses={200: ActionSchema}, response_headers=("ETag",),
           errors={409: "The case is closed, or the action is a referral (changed through the referral)"},
           audit=Audit("action.update", "case_management", "case"))
    def update_action(self, request, case_id, action_id, body, if_match):
        action = self._call(self.casework.update_action, case_id, action_id, if_match, body)
        return self._about_case(case_id, Reply(action, headers={"ETag": etag(action["version"])}))

    @route("GET", "/v1/overdue", tag="case records",
           summary="Overdue goals and actions across the caller's cases (a case manager's: assigned to them)",
           permission=P.CASE_READ, query=OverdueQuerySchema, responses={200: OverdueListSchema},
           audit=Audit("plan.overdue", "case_management", "case_records"))
    def list_overdue(self, request, query):
        result = self._call(self.casework.list_overdue, query)
        return Reply(result, audit_subjects=_cases_of(result["items"]))

    # contacts and appointments -----------------------------------------------------------------------------

    @route("POST", "/v1/cases/<case_id>/contacts", tag="case records",
           summary="Record a contact held (announced as contact_recorded, without place, participants or "
                   "summary), or plan an appointment (`status: planned`)",
           permission=P.CASE_WORK, path_params=CasePathSchema, body=RecordContactSchema,
           responses={201: ContactSchema}, response_headers=("Location", "ETag"), errors=CLOSED,
           audit=Audit("contact.record", "case_management", "case"))
    def record_contact(self, request, case_id, body):
        contact = self._call(self.casework.record_contact, case_id, body)
        return self._about_case(case_id, Reply(contact, 201, {"Location": f"/v1/cases/{case_id}/contacts",
                                                              "ETag": etag(contact["version"])}))

    @route("GET", "/v1/cases/<case_id>/contacts", tag="case records",
           summary="A case's contacts and appointments, newest first",
           permission=P.CASE_READ, path_params=CasePathSchema, query=PageQuerySchema,
           responses={200: ContactPageSchema},
           audit=Audit("contact.list", "case_management", "case"))
    def list_contacts(self, request, case_id, query):
        return self._about_case(case_id, self._call(self.casework.list_contacts, case_id, query))

    @route("PATCH", "/v1/cases/<case_id>/contacts/<contact_id>", tag="case records",
           summary="Mark a planned appointment held (announced as contact_recorded) or cancelled",
           permission=P.CASE_WORK, path_params=ContactPathSchema, body=UpdateContactSchema, if_match=True,
           responses={200: ContactSchema}, response_headers=("ETag",),
           errors={409: "The case is closed, or the contact is no planned appointment any more"},
           audit=Audit("contact.update", "case_management", "case"))
    def update_contact(self, request, case_id, contact_id, body, if_match):
        contact = self._call(self.casework.update_contact, case_id, contact_id, if_match, body)
        return self._about_case(case_id, Reply(contact, headers={"ETag": etag(contact["version"])}))

    @route("GET", "/v1/appointments", tag="case records",
           summary="A case manager's planned appointments in a period (default: the caller's, the next 14 days)",
           permission=P.CASE_READ, query=AppointmentQuerySchema, responses={200: AppointmentListSchema},
           audit=Audit("appointment.list", "case_management", "case_records"))
    def list_appointments(self, request, query):
        result = self._call(self.casework.list_appointments, query)
        return Reply(result, audit_subjects=_cases_of(result["items"]))

    @route("GET", "/v1/case-managers/<case_manager_id>/appointments", tag="case records",
           summary="A case manager's planned appointments in a period (default: the next 14 days), of the cases "
                   "the caller may see",
           permission=P.CASE_READ, path_params=CaseManagerIdSchema, query=PeriodQuerySchema,
           responses={200: AppointmentListSchema},
           audit=Audit("appointment.list", "case_management", "case_records"))
    def case_manager_appointments(self, request, case_manager_id, query):
        result = self._call(self.casework.case_manager_appointments, case_manager_id, query)
        return Reply(result, audit_subjects=_cases_of(result["items"]))

    @route("GET", "/v1/cases/flagged", tag="case records",
           summary="Cases without contact for `days` days (default KIM_NO_CONTACT_DAYS): to monitor",
           permission=P.CASE_READ, query=FlaggedQuerySchema, responses={200: FlaggedCaseListSchema},
           audit=Audit("case.flagged", "case_management", "case_records"))
    def list_flagged_cases(self, request, query):
        result = self._call(self.casework.list_flagged_cases, query)
        return Reply(result, audit_subjects=_cases_of(result["items"]))

    # barriers (Integrationshürden) -------------------------------------------------------------------------

    @route("GET", "/v1/barrier-codes", tag="case records",
           summary="The catalogue of barrier codes, with area and German and English labels",
           permission=P.CASE_READ, responses={200: BarrierCodeListSchema})
    def barrier_codes(self, request):
        return self._call(self.casework.barrier_codes)

    @route("POST", "/v1/cases/<case_id>/barriers", tag="case records",
           summary="Record a barrier of the catalogue for a case (announced with code, area and date only)",
           permission=P.CASE_WORK, path_params=CasePathSchema, body=RecordBarrierSchema,
           responses={201: BarrierSchema}, response_headers=("Location",), errors=CLOSED,
           audit=Audit("barrier.record", "case_management", "case"))
    def record_barrier(self, request, case_id, body):
        barrier = self._call(self.casework.record_barrier, case_id, body)
        return self._about_case(case_id, Reply(barrier, 201, {"Location": f"/v1/cases/{case_id}/barriers"}))

    @route("GET", "/v1/cases/<case_id>/barriers", tag="case records",
           summary="A case's barriers, open and resolved",
           permission=P.CASE_READ, path_params=CasePathSchema, responses={200: BarrierListSchema},
           audit=Audit("barrier.list", "case_management", "case"))
    def list_barriers(self, request, case_id):
        return self._about_case(case_id, self._call(self.casework.list_barriers, case_id))

    @route("POST", "/v1/cases/<case_id>/barriers/<barrier_id>/resolution", tag="case records",
           summary="Resolve a barrier: when and how (announced with code and dates only)",
           permission=P.CASE_WORK, path_params=BarrierPathSchema, body=ResolveBarrierSchema,
           responses={200: BarrierSchema}, errors={409: "The barrier is already resolved"},
           audit=Audit("barrier.resolve", "case_management", "case"))
    def resolve_barrier(self, request, case_id, barrier_id, body):
        return self._about_case(case_id, self._call(self.casework.resolve_barrier, case_id, barrier_id, body))

    # the worklist -----------------------------------------------------------------------------------------

    @route("GET", "/v1/worklist", tag="case records",
           summary="The calling case manager's day: towns served that weekday, the day's appointments, and "
                   "their cases with the next due item (overdue first) and the no-contact flag",
           permission=P.CASE_READ, query=WorklistQuerySchema, responses={200: WorklistSchema},
           audit=Audit("worklist.read", "case_management", "case_records"))
    def worklist(self, request, query):
        result = self._call(self.casework.worklist, query)
        return Reply(result, audit_subjects=_cases_of([*result["cases"], *result["appointments"]]))
