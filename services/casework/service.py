"""Casework service: opens a case for every registered person; case managers read and assign cases."""
from __future__ import annotations

from services.shared.auth import CallerProvider, Permission
from services.shared.db import Database
from services.shared.erasure import forget_person_in_platform_tables
from services.shared.messaging import subscribe
from services.shared.rpc import rpc
from services.shared.schemas import load_or_raise, schema
from services.shared.service import ServiceBase

from . import domain
from .models import metadata
from .schemas import AssignCaseSchema, CaseIdSchema, CaseListQuerySchema, CasePageSchema, CaseSchema


class CaseworkService(ServiceBase):
    name = "casework"

    db = Database(metadata)
    caller = CallerProvider()

    @subscribe("intake", "person_registered")
    def open_case(self, envelope):
        with self.db.transaction() as uow:
            if not uow.claim("casework.open_case", envelope["event_id"]):
                return None
            payload = envelope["payload"]
            case = domain.open_case(uow.connection, payload["person_id"], payload["municipality"])
            if case is not None:
                uow.emit("case_opened", case["municipality"], domain.case_opened(case))
                return case["id"]
            return None

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
            return domain.close_case_of(uow.connection, payload["person_id"])

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

    @rpc
    def export_person(self, person_id):
        """Art. 15: the person's cases in the caller's towns (permission `person:export`), for intake's export."""
        caller = self.caller.require(Permission.PERSON_EXPORT)
        query = load_or_raise(schema(CaseListQuerySchema), {"person_id": person_id}, "query")
        with self.db.transaction() as uow:
            return schema(CaseSchema).dump(domain.cases_of_person(uow.session, query["person_id"], caller),
                                           many=True)

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

    @rpc
    def assign_case(self, case_id, expected_version, data):
        caller = self.caller.require(Permission.CASE_ASSIGN)
        query = load_or_raise(schema(CaseIdSchema), {"case_id": case_id}, "path")
        payload = load_or_raise(schema(AssignCaseSchema), data)
        with self.db.transaction() as uow:
            case = domain.assign_case(uow.session, query["case_id"], caller, int(expected_version), **payload)
            uow.emit("case_assigned", case.municipality, domain.case_assigned(case))
            return schema(CaseSchema).dump(case)

    # case managers, teams, absences, assignment, the cycle and closing (staff.py, cycle.py) -------------------

    # assessments, plan, contacts, appointments, barriers, worklist (assessment.py, plan.py, contacts.py, ...) --
