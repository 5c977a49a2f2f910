"""Casework service: opens a case for every registered person; case managers read and assign cases."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from services.shared.auth import CallerProvider, Permission
from services.shared.batch import batch_subscribe
from services.shared.db import Database
from services.shared.dependencies import SettingsProvider
from services.shared.erasure import forget_person_in_platform_tables
from services.shared.messaging import subscribe
from services.shared.rpc import rpc
from services.shared.events import REFERRAL_EVENTS
from services.shared.schemas import PageQuerySchema, load_or_raise, schema
from services.shared.service import ServiceBase

from . import cycle, domain, staff
from . import assessment, barriers, contacts, personal_data, plan, worklist
from .models import Case, metadata
from .schemas import (ActionPathSchema, ActionSchema, AppointmentListSchema, AppointmentQuerySchema,
                      AssessmentListSchema, AssessmentProgressSchema, AssessmentSchema, BarrierCodeListSchema,
                      BarrierListSchema, BarrierPathSchema, BarrierSchema, CaseProfileSchema, ContactPageSchema,
                      ContactPathSchema, ContactSchema, CreateActionSchema, CreateGoalSchema, FlaggedCaseListSchema,
                      FlaggedQuerySchema, GoalPathSchema, GoalSchema, OverdueListSchema, OverdueQuerySchema,
                      PeriodQuerySchema, PlanSchema, RecordAssessmentSchema, RecordBarrierSchema, RecordContactSchema,
                      ResolveBarrierSchema, UpdateActionSchema, UpdateContactSchema, UpdateGoalSchema,
                      WorklistQuerySchema, WorklistSchema)
from .schemas import (AbsenceListSchema, AbsenceSchema, AssignCaseSchema, CaseAssignmentListSchema, CaseIdSchema,
                      CaseListQuerySchema, CaseloadSchema, CaseManagerIdSchema, CaseManagerListQuerySchema,
                      CaseManagerPageSchema, CaseManagerSchema, CasePageSchema, CaseSchema, CaseTransitionListSchema,
                      ClosureSchema, CreateAbsenceSchema, CreateCaseManagerSchema, TeamIdSchema,
                      TransitionRequestSchema, UpdateCaseManagerSchema)


def open_cases(uow, envelopes, settings) -> list[str]:
    """Open a case for each registered person and assign it, in the batch's one transaction, so a case is never
    seen opened but not yet considered; a redelivered event changes nothing. Returns the opened cases' ids."""
    claimed = uow.claim_many("casework.open_case", [envelope["event_id"] for envelope in envelopes])
    payloads = [e["payload"] for e in envelopes if str(e["event_id"]) in claimed]
    opened = []
    for case in domain.open_cases(uow.connection, [(p["person_id"], p["municipality"], p.get("languages") or ())
                                                   for p in payloads]):
        uow.emit("case_opened", case["municipality"], domain.case_opened(case))
        opened.append(case["id"])
    if opened:
        cases = {c.id: c for c in uow.session.scalars(select(Case).where(Case.id.in_(opened)))}
        for assigned in staff.auto_assign_many(uow.session, [cases[i] for i in opened], settings):
            uow.emit("case_assigned", assigned.municipality, staff.case_assigned(assigned))
    return opened


class CaseworkService(ServiceBase):
    name = "casework"

    db = Database(metadata)
    caller = CallerProvider()
    settings = SettingsProvider()

    @batch_subscribe("intake", "person_registered", fold=open_cases)
    def open_case(self, envelope):
        """One registration's case (the consumer folds them in batches with `open_cases`)."""
        with self.db.transaction() as uow:
            opened = open_cases(uow, [envelope], self.settings)
        return opened[0] if opened else None

    @subscribe("intake", "consent_withdrawn")
    def stop_case_work(self, envelope):
        """The person withdrew `case_management` consent: their case work stops at once, so the case is closed
        (idempotent: a redelivery or a second withdrawal changes nothing)."""
        with self.db.transaction() as uow:
            if not uow.claim("casework.stop_case_work", envelope["event_id"]):
                return None
            payload = envelope["payload"]
            if payload["purpose"] != "case_management":
                return None
            closed = domain.close_case_of(uow.session, payload["person_id"])
            if closed is None:
                return None
            case, changed, closed_payload = closed
            uow.emit("case_status_changed", case.municipality, changed)
            uow.emit("case_closed", case.municipality, closed_payload)
            return case.id

    @subscribe("intake", "person_erased")
    def erase_person_data(self, envelope):
        """Art. 17: delete the person's cases and every outbox row, idempotency key and dead-letter record naming
        the person, then confirm with `erasure_confirmed` (erasure id only), all in one transaction. A
        redelivery changes nothing (the processed-event mark holds only the event id)."""
        with self.db.transaction() as uow:
            if not uow.claim("casework.erase_person_data", envelope["event_id"]):
                return None
            payload = envelope["payload"]
            erased = domain.erase_cases_of(uow.connection, payload["person_id"])
            forget_person_in_platform_tables(uow.connection, metadata, str(payload["person_id"]))
            uow.emit("erasure_confirmed", payload["municipality"], domain.erasure_confirmed(payload["erasure_id"]))
            return erased

    @subscribe("intake", "person_merged")
    def follow_merge(self, envelope):
        """Two records were one person: the case follows the survivor (domain.follow_merge: re-pointed, swapped,
        or the merged person's second case closed with outcome `other`, announced like any closing)."""
        with self.db.transaction() as uow:
            if not uow.claim("casework.follow_merge", envelope["event_id"]):
                return None
            payload = envelope["payload"]
            what, case, closing = domain.follow_merge(uow.session, str(payload["person_id"]),
                                                      str(payload["into_person_id"]))
            if closing is not None:
                uow.emit("case_status_changed", case.municipality, closing[0])
                uow.emit("case_closed", case.municipality, closing[1])
            return what

    @rpc
    def export_person(self, person_id):
        """Art. 15: the person's cases in the caller's towns (permission `person:export`), for intake's export."""
        caller = self.caller.require(Permission.PERSON_EXPORT)
        query = load_or_raise(schema(CaseListQuerySchema), {"person_id": person_id}, "query")
        with self.db.transaction() as uow:
            cases = domain.cases_of_person(uow.session, query["person_id"], caller)
            # each case with every record of it: assessments (with areas), goals, actions, contacts,
            # barriers, assignments, transitions
            return [{**schema(CaseSchema).dump(case), **personal_data.export_case_records(uow.connection, case.id)}
                    for case in cases]

    @rpc
    def get_case(self, case_id):
        caller = self.caller.require(Permission.CASE_READ)
        query = load_or_raise(schema(CaseIdSchema), {"case_id": case_id}, "path")
        with self.db.transaction() as uow:
            return schema(CaseSchema).dump(domain.get_case(uow.session, query["case_id"], caller))

    @rpc
    def list_cases(self, query):
        caller = self.caller.require(Permission.CASE_READ)
        query = load_or_raise(schema(CaseListQuerySchema), query, "query")
        with self.db.transaction() as uow:
            cases, next_cursor = domain.list_cases(uow.session, caller, **query)
            return schema(CasePageSchema).dump({"items": cases, "next_cursor": next_cursor})

    # !! READ /work/issue14_routes.md: the exact routes and field names (binding) !!
    # case managers, teams, absences, assignment, the cycle and closing (staff.py, cycle.py) -------------------

    @subscribe("intake", "person_updated")
    def update_case_languages(self, envelope):
        """The person's languages were rectified: the case keeps them for (re)assignment."""
        with self.db.transaction() as uow:
            if not uow.claim("casework.update_case_languages", envelope["event_id"]):
                return None
            payload = envelope["payload"]
            if "languages" not in payload["changed"]:
                return None
            return staff.update_languages(uow.session, payload["person_id"], payload["languages"])

    def _case_manager_saved(self, uow, cm):
        municipality, payload = staff.case_manager_saved(uow.session, cm, self.settings)
        uow.emit("case_manager_saved", municipality, payload, schema_version=2)  # v2: with the username
        # someone with room in a town: the town's queue gets its cases now
        for case in staff.drain_queue(uow.session, payload["municipalities"], self.settings):
            uow.emit("case_assigned", case.municipality, staff.case_assigned(case))
        return schema(CaseManagerSchema).dump(staff.describe(uow.session, cm, self.settings))

    @rpc
    def create_case_manager(self, data):
        """A case manager's profile (district_admin: district ones; team_lead: municipal ones)."""
        caller = self.caller.require(Permission.CASE_MANAGER_WRITE)
        payload = load_or_raise(schema(CreateCaseManagerSchema), data)
        with self.db.transaction() as uow:
            cm = staff.create_case_manager(uow.session, caller, payload)
            return self._case_manager_saved(uow, cm)

    @rpc
    def update_case_manager(self, case_manager_id, expected_version, data):
        caller = self.caller.require(Permission.CASE_MANAGER_WRITE)
        path = load_or_raise(schema(CaseManagerIdSchema), {"case_manager_id": case_manager_id}, "path")
        payload = load_or_raise(schema(UpdateCaseManagerSchema), data)
        with self.db.transaction() as uow:
            cm = staff.update_case_manager(uow.session, caller, str(path["case_manager_id"]), int(expected_version),
                                           payload)
            if not cm.active:  # their open cases go to colleagues (or the queue) in the same transaction
                for case, previous in staff.hand_over_cases(uow.session, cm, self.settings):
                    uow.emit("case_reassigned", case.municipality, staff.case_reassigned(case, previous))
            return self._case_manager_saved(uow, cm)

    @rpc
    def get_case_manager(self, case_manager_id):
        caller = self.caller.require(Permission.CASE_MANAGER_READ)
        path = load_or_raise(schema(CaseManagerIdSchema), {"case_manager_id": case_manager_id}, "path")
        with self.db.transaction() as uow:
            cm = staff.get_case_manager(uow.session, caller, str(path["case_manager_id"]))
            return schema(CaseManagerSchema).dump(staff.describe(uow.session, cm, self.settings))

    @rpc
    def list_case_managers(self, query):
        caller = self.caller.require(Permission.CASE_MANAGER_READ)
        query = load_or_raise(schema(CaseManagerListQuerySchema), query, "query")
        with self.db.transaction() as uow:
            rows, next_cursor = staff.list_case_managers(uow.session, caller, **query)
            items = [staff.describe(uow.session, cm, self.settings) for cm in rows]
            return schema(CaseManagerPageSchema).dump({"items": items, "next_cursor": next_cursor})

    @rpc
    def add_absence(self, case_manager_id, data):
        caller = self.caller.require(Permission.CASE_MANAGER_WRITE)
        path = load_or_raise(schema(CaseManagerIdSchema), {"case_manager_id": case_manager_id}, "path")
        payload = load_or_raise(schema(CreateAbsenceSchema), data)
        with self.db.transaction() as uow:
            absence = staff.add_absence(uow.session, caller, str(path["case_manager_id"]), payload)
            return schema(AbsenceSchema).dump(absence)

    @rpc
    def list_absences(self, case_manager_id):
        caller = self.caller.require(Permission.CASE_MANAGER_READ)
        path = load_or_raise(schema(CaseManagerIdSchema), {"case_manager_id": case_manager_id}, "path")
        with self.db.transaction() as uow:
            absences = staff.absences_of(uow.session, caller, str(path["case_manager_id"]))
            return schema(AbsenceListSchema).dump({"items": absences})

    @rpc
    def caseload(self, case_manager_id=None, team_id=None):
        """Load against capacity: of one case manager, or of every case manager of a team."""
        caller = self.caller.require(Permission.CASE_MANAGER_READ)
        with self.db.transaction() as uow:
            if case_manager_id is not None:
                path = load_or_raise(schema(CaseManagerIdSchema), {"case_manager_id": case_manager_id}, "path")
                load = staff.caseload(uow.session, caller, self.settings,
                                      case_manager_id=str(path["case_manager_id"]))
            else:
                path = load_or_raise(schema(TeamIdSchema), {"team_id": team_id}, "path")
                load = staff.caseload(uow.session, caller, self.settings, team=path["team_id"])
            return schema(CaseloadSchema).dump(load)

    @rpc
    def assign_case(self, case_id, data):
        """A team lead assigns or reassigns a case by hand, with a reason (announced as case_reassigned)."""
        caller = self.caller.require(Permission.CASE_ASSIGN)
        path = load_or_raise(schema(CaseIdSchema), {"case_id": case_id}, "path")
        payload = load_or_raise(schema(AssignCaseSchema), data)
        with self.db.transaction() as uow:
            case = domain.get_case(uow.session, path["case_id"], caller)
            case, previous = staff.assign_by_hand(uow.session, case, caller, payload["case_manager_id"],
                                                  payload["reason"])
            uow.emit("case_reassigned", case.municipality, staff.case_reassigned(case, previous))
            return schema(CaseSchema).dump(case)

    @rpc
    def case_assignments(self, case_id):
        caller = self.caller.require(Permission.CASE_READ)
        path = load_or_raise(schema(CaseIdSchema), {"case_id": case_id}, "path")
        with self.db.transaction() as uow:
            case = domain.get_case(uow.session, path["case_id"], caller)
            return schema(CaseAssignmentListSchema).dump({
                "case_id": case.id, "person_id": case.person_id, "municipality": case.municipality,
                "items": staff.assignments_of(uow.session, case.id)})

    @rpc
    def change_case_status(self, case_id, data):
        """A step of the case-management cycle (cycle.py), by a case worker who may read the case."""
        caller = self.caller.require(Permission.CASE_WORK)
        path = load_or_raise(schema(CaseIdSchema), {"case_id": case_id}, "path")
        payload = load_or_raise(schema(TransitionRequestSchema), data)
        with self.db.transaction() as uow:
            case = domain.get_case(uow.session, path["case_id"], caller)
            changed = cycle.move(uow.session, case, payload["to"], by=caller.sub, reason=payload["reason"],
                                 reopen_days=self.settings.case_reopen_days)
            uow.emit("case_status_changed", case.municipality, changed)
            return schema(CaseSchema).dump(case)

    @rpc
    def case_transitions(self, case_id):
        caller = self.caller.require(Permission.CASE_READ)
        path = load_or_raise(schema(CaseIdSchema), {"case_id": case_id}, "path")
        with self.db.transaction() as uow:
            case = domain.get_case(uow.session, path["case_id"], caller)
            return schema(CaseTransitionListSchema).dump({
                "case_id": case.id, "person_id": case.person_id, "municipality": case.municipality,
                "items": cycle.transitions_of(uow.session, case.id)})

    @rpc
    def close_case(self, case_id, data):
        """Close a case with its outcome and evaluation (case_status_changed and case_closed)."""
        caller = self.caller.require(Permission.CASE_WORK)
        path = load_or_raise(schema(CaseIdSchema), {"case_id": case_id}, "path")
        payload = load_or_raise(schema(ClosureSchema), data)
        with self.db.transaction() as uow:
            case = domain.get_case(uow.session, path["case_id"], caller)
            changed, closed = cycle.close(uow.session, case, by=caller.sub, outcome=payload["outcome"],
                                          note=payload["note"], evaluation=payload["evaluation"],
                                          reopen_days=self.settings.case_reopen_days)
            uow.emit("case_status_changed", case.municipality, changed)
            uow.emit("case_closed", case.municipality, closed)
            return schema(CaseSchema).dump(case)

    # !! READ /work/issue14_routes.md: the exact routes and field names (binding) !!
    # assessments, plan, contacts, appointments, barriers, worklist (assessment.py, plan.py, contacts.py, ...) --

    @rpc
    def case_profile(self, case_id):
        """For the referrals service: the case's needs (latest assessment, levels above `none`) and open
        barriers (codes), with the caller's visibility (permission `case:read`)."""
        caller = self.caller.require(Permission.CASE_READ)
        query = load_or_raise(schema(CaseIdSchema), {"case_id": case_id}, "path")
        with self.db.transaction() as uow:
            return schema(CaseProfileSchema).dump(assessment.case_profile(uow.session, query["case_id"], caller))

    @rpc
    def record_assessment(self, case_id, data):
        caller = self.caller.require(Permission.CASE_WORK)
        query = load_or_raise(schema(CaseIdSchema), {"case_id": case_id}, "path")
        payload = load_or_raise(schema(RecordAssessmentSchema), data)
        with self.db.transaction() as uow:
            result = assessment.record_assessment(uow.session, query["case_id"], caller, **payload)
            case, recorded = result["case"], result["assessment"]
            uow.emit("assessment_recorded", case.municipality, assessment.assessment_recorded(case, recorded))
            return schema(AssessmentSchema).dump(recorded)

    @rpc
    def list_assessments(self, case_id):
        caller = self.caller.require(Permission.CASE_READ)
        query = load_or_raise(schema(CaseIdSchema), {"case_id": case_id}, "path")
        with self.db.transaction() as uow:
            items = assessment.list_assessments(uow.session, query["case_id"], caller)
            return schema(AssessmentListSchema).dump({"items": items})

    @rpc
    def assessment_progress(self, case_id):
        caller = self.caller.require(Permission.CASE_READ)
        query = load_or_raise(schema(CaseIdSchema), {"case_id": case_id}, "path")
        with self.db.transaction() as uow:
            return schema(AssessmentProgressSchema).dump(assessment.progress(uow.session, query["case_id"], caller))

    @rpc
    def get_plan(self, case_id):
        caller = self.caller.require(Permission.CASE_READ)
        query = load_or_raise(schema(CaseIdSchema), {"case_id": case_id}, "path")
        with self.db.transaction() as uow:
            return schema(PlanSchema).dump(plan.get_plan(uow.session, query["case_id"], caller))

    @rpc
    def create_goal(self, case_id, data):
        caller = self.caller.require(Permission.CASE_WORK)
        query = load_or_raise(schema(CaseIdSchema), {"case_id": case_id}, "path")
        payload = load_or_raise(schema(CreateGoalSchema), data)
        with self.db.transaction() as uow:
            goal = plan.create_goal(uow.session, query["case_id"], caller, **payload)
            return schema(GoalSchema).dump(plan.goal_view(goal))

    @rpc
    def update_goal(self, case_id, goal_id, expected_version, data):
        caller = self.caller.require(Permission.CASE_WORK)
        query = load_or_raise(schema(GoalPathSchema), {"case_id": case_id, "goal_id": goal_id}, "path")
        payload = load_or_raise(schema(UpdateGoalSchema), data)
        with self.db.transaction() as uow:
            plan.update_goal(uow.session, query["case_id"], query["goal_id"], caller, int(expected_version),
                             payload)
            goal = next(g for g in plan.plan_of(uow.session, str(query["case_id"]))["goals"]
                        if g["id"] == str(query["goal_id"]))
            return schema(GoalSchema).dump(goal)

    @rpc
    def create_action(self, case_id, goal_id, data):
        caller = self.caller.require(Permission.CASE_WORK)
        query = load_or_raise(schema(GoalPathSchema), {"case_id": case_id, "goal_id": goal_id}, "path")
        payload = load_or_raise(schema(CreateActionSchema), data)
        with self.db.transaction() as uow:
            action = plan.create_action(uow.session, query["case_id"], query["goal_id"], caller, **payload)
            return schema(ActionSchema).dump(plan.action_view(action))

    @rpc
    def update_action(self, case_id, action_id, expected_version, data):
        caller = self.caller.require(Permission.CASE_WORK)
        query = load_or_raise(schema(ActionPathSchema), {"case_id": case_id, "action_id": action_id}, "path")
        payload = load_or_raise(schema(UpdateActionSchema), data)
        with self.db.transaction() as uow:
            action = plan.update_action(uow.session, query["case_id"], query["action_id"], caller,
                                        int(expected_version), payload)
            return schema(ActionSchema).dump(plan.action_view(action))

    @rpc
    def list_overdue(self, query):
        """Overdue goals and actions across the caller's cases (a case manager: the ones assigned to them)."""
        caller = self.caller.require(Permission.CASE_READ)
        query = load_or_raise(schema(OverdueQuerySchema), query, "query")
        with self.db.transaction() as uow:
            return schema(OverdueListSchema).dump({"items": plan.overdue_items(uow.session, caller, query["date"])})

    def mirror_referral(self, envelope):
        """A referral changed (referrals service): its action in the case plan follows (idempotent; a status
        never moves backwards, so late or repeated events change nothing)."""
        with self.db.transaction() as uow:
            if not uow.claim("casework.mirror_referral", envelope["event_id"]):
                return None
            return plan.mirror_referral(uow.connection, envelope["payload"])

    for _event in REFERRAL_EVENTS:  # one subscription (queue) per lifecycle event, one handler
        mirror_referral = subscribe("referrals", _event)(mirror_referral)
    del _event

    @rpc
    def record_contact(self, case_id, data):
        caller = self.caller.require(Permission.CASE_WORK)
        query = load_or_raise(schema(CaseIdSchema), {"case_id": case_id}, "path")
        payload = load_or_raise(schema(RecordContactSchema), data)
        with self.db.transaction() as uow:
            case, contact = contacts.record_contact(uow.session, query["case_id"], caller, payload)
            if contact.status == "held":
                uow.emit("contact_recorded", case.municipality, contacts.contact_recorded(case, contact))
            return schema(ContactSchema).dump(contact)

    @rpc
    def update_contact(self, case_id, contact_id, expected_version, data):
        """Mark a planned appointment held (announced as `contact_recorded`) or cancelled."""
        caller = self.caller.require(Permission.CASE_WORK)
        query = load_or_raise(schema(ContactPathSchema), {"case_id": case_id, "contact_id": contact_id}, "path")
        payload = load_or_raise(schema(UpdateContactSchema), data)
        with self.db.transaction() as uow:
            case, contact = contacts.update_contact(uow.session, query["case_id"], query["contact_id"], caller,
                                                    int(expected_version), payload)
            if contact.status == "held":
                uow.emit("contact_recorded", case.municipality, contacts.contact_recorded(case, contact))
            return schema(ContactSchema).dump(contact)

    @rpc
    def list_contacts(self, case_id, query):
        caller = self.caller.require(Permission.CASE_READ)
        path = load_or_raise(schema(CaseIdSchema), {"case_id": case_id}, "path")
        query = load_or_raise(schema(PageQuerySchema), query, "query")
        with self.db.transaction() as uow:
            items, next_cursor = contacts.list_contacts(uow.session, path["case_id"], caller, **query)
            return schema(ContactPageSchema).dump({"items": items, "next_cursor": next_cursor})

    @rpc
    def list_appointments(self, query):
        caller = self.caller.require(Permission.CASE_READ)
        query = load_or_raise(schema(AppointmentQuerySchema), query, "query")
        with self.db.transaction() as uow:
            items = contacts.appointments(uow.session, caller, query["case_manager"], query["from_"], query["to"])
            return schema(AppointmentListSchema).dump({"items": items})

    @rpc
    def case_manager_appointments(self, case_manager_id, query):
        """A case manager's (by id) planned appointments in a period, of the cases the caller may see."""
        caller = self.caller.require(Permission.CASE_READ)
        path = load_or_raise(schema(CaseManagerIdSchema), {"case_manager_id": case_manager_id}, "path")
        query = load_or_raise(schema(PeriodQuerySchema), query, "query")
        with self.db.transaction() as uow:
            username = contacts.username_of(uow.session, path["case_manager_id"])
            items = contacts.appointments(uow.session, caller, username, query["from_"], query["to"])
            return schema(AppointmentListSchema).dump({"items": items})

    @rpc
    def list_flagged_cases(self, query):
        """Cases without contact for `days` (default KIM_NO_CONTACT_DAYS) days: to monitor."""
        caller = self.caller.require(Permission.CASE_READ)
        query = load_or_raise(schema(FlaggedQuerySchema), query, "query")
        days = query["days"] or self.settings.no_contact_days
        with self.db.transaction() as uow:
            items = contacts.flagged_cases(uow.session, caller, days, limit=query["limit"])
            return schema(FlaggedCaseListSchema).dump({"days": days, "items": items})

    @rpc
    def barrier_codes(self):
        self.caller.require(Permission.CASE_READ)
        return schema(BarrierCodeListSchema).dump({"codes": list(barriers.catalogue().values())})

    @rpc
    def record_barrier(self, case_id, data):
        caller = self.caller.require(Permission.CASE_WORK)
        query = load_or_raise(schema(CaseIdSchema), {"case_id": case_id}, "path")
        payload = load_or_raise(schema(RecordBarrierSchema), data)
        with self.db.transaction() as uow:
            case, barrier = barriers.record_barrier(uow.session, query["case_id"], caller, **payload)
            uow.emit("barrier_recorded", case.municipality, barriers.barrier_recorded(case, barrier))
            return schema(BarrierSchema).dump(barrier)

    @rpc
    def resolve_barrier(self, case_id, barrier_id, data):
        caller = self.caller.require(Permission.CASE_WORK)
        query = load_or_raise(schema(BarrierPathSchema), {"case_id": case_id, "barrier_id": barrier_id}, "path")
        payload = load_or_raise(schema(ResolveBarrierSchema), data)
        with self.db.transaction() as uow:
            case, barrier = barriers.resolve_barrier(uow.session, query["case_id"], query["barrier_id"], caller,
                                                     **payload)
            uow.emit("barrier_resolved", case.municipality, barriers.barrier_resolved(case, barrier))
            return schema(BarrierSchema).dump(barrier)

    @rpc
    def list_barriers(self, case_id):
        caller = self.caller.require(Permission.CASE_READ)
        query = load_or_raise(schema(CaseIdSchema), {"case_id": case_id}, "path")
        with self.db.transaction() as uow:
            items = barriers.list_barriers(uow.session, query["case_id"], caller)
            return schema(BarrierListSchema).dump({"items": items})

    @rpc
    def worklist(self, query):
        """The caller's worklist for a day (default today)."""
        caller = self.caller.require(Permission.CASE_READ)
        query = load_or_raise(schema(WorklistQuerySchema), query, "query")
        day = query["date"] or datetime.now(worklist.LOCAL).date()
        with self.db.transaction() as uow:
            return schema(WorklistSchema).dump(
                worklist.worklist(uow.session, caller, day, self.settings.no_contact_days))
