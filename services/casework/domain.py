"""Casework: one case per person, opened when the person is registered."""
from __future__ import annotations

import functools
from datetime import date, datetime, timezone

from sqlalchemy import Connection, Date, and_, bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.shared.auth import Caller, Role
from services.shared.db import new_id
from services.shared.errors import NotFound
from services.shared.schemas import cursor_datetime, cursor_uuid, decode_typed_cursor, encode_cursor

from . import cycle
from .models import Absence, Case, CaseManager


# one statement, no read first: the unique person_id decides, also between concurrent deliveries
_OPEN_CASE = {name: dialect.insert(Case.__table__).on_conflict_do_nothing(index_elements=["person_id"])
              for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))}


def open_case(connection: Connection, person_id: str, municipality: str, languages=()) -> dict | None:
    """Open the person's case; None if it is already open (one case per person). The person's languages are
    kept for the assignment (a shared language first)."""
    opened = open_cases(connection, [(person_id, municipality, languages)])
    return opened[0] if opened else None


def open_cases(connection: Connection, registrations) -> list[dict]:
    """Open the cases of (person_id, municipality, languages) in one statement; returns the cases opened, in
    order, leaving out persons whose case is open already."""
    now = datetime.now(timezone.utc)
    cases = [dict(id=new_id(), person_id=str(person_id), municipality=municipality, status="intake",
                  opened_at=now, updated_at=now, assigned_to=None, team=None, version=1, languages=list(languages))
             for person_id, municipality, languages in registrations]
    if not cases:
        return []
    opened = set(connection.execute(_OPEN_CASE[connection.dialect.name].returning(Case.__table__.c.id),
                                    cases).scalars())
    return [case for case in cases if case["id"] in opened]


def close_case_of(session: Session, person_id) -> tuple[Case, dict, dict] | None:
    """Close the person's case (consent to case management withdrawn) through the cycle: a transition by
    "system" with outcome `consent_withdrawn`. Returns the case and the payloads of `case_status_changed` and
    `case_closed`; None if there is no case or it is closed already."""
    case = session.scalar(select(Case).where(Case.person_id == str(person_id)).with_for_update())
    if case is None or case.status == "closed":
        return None
    changed, closed = cycle.close_without_evaluation(session, case, outcome="consent_withdrawn",
                                                     reason="consent to case management withdrawn")
    return case, changed, closed


def visibility(caller: Caller):
    """What a caller may see: their municipalities; a case manager only their own, their team's, the
    unassigned cases (the municipality's intake queue), and the cases of a colleague they deputise for today
    (an absence naming them as deputy: Vertretung). Returns the clause and its parameters."""
    limited = caller.role is Role.CASE_MANAGER
    params = {"towns": sorted(caller.municipalities), "sub": caller.sub, "team": caller.team,
              "today": date.today()}
    return _visibility(limited, limited and bool(caller.team)), params


@functools.cache
def _visibility(limited: bool, with_team: bool):
    # one clause per shape, with bound parameters: building SQL expressions costs more than running them
    clause = Case.municipality.in_(bindparam("towns", expanding=True))
    if limited:
        mine = [Case.assigned_to == bindparam("sub"), and_(Case.assigned_to.is_(None), Case.team.is_(None))]
        today = bindparam("today", type_=Date)
        mine.append(Case.case_manager_id.in_(  # deputising for an absent colleague
            select(Absence.case_manager_id).join(CaseManager, CaseManager.id == Absence.deputy_id)
            .where(CaseManager.username == bindparam("sub"), Absence.starts_on <= today, Absence.ends_on >= today)))
        if with_team:
            mine.append(Case.team == bindparam("team"))
        clause = and_(clause, or_(*mine))
    return clause


@functools.cache
def _case_by_id(visible):
    return select(Case).where(Case.id == bindparam("case_id"), visible)


def get_case(session: Session, case_id: str, caller: Caller) -> Case:
    visible, params = visibility(caller)
    case = session.scalar(_case_by_id(visible), {**params, "case_id": str(case_id)})
    if case is None:
        raise NotFound(f"case {case_id} not found")
    return case


def list_cases(session: Session, caller: Caller, *, person_id=None, municipality=None, status=None,
               case_manager_id=None, unassigned=None, limit: int = 20, cursor: str | None = None):
    visible, params = visibility(caller)
    query = select(Case).where(visible)
    if person_id:
        query = query.where(Case.person_id == str(person_id))
    if municipality:
        query = query.where(Case.municipality == municipality)
    if status:
        query = query.where(Case.status == status)
    if case_manager_id:
        query = query.where(Case.case_manager_id == str(case_manager_id))
    if unassigned is not None:  # true: the towns' queue (waiting for a case manager); false: assigned ones
        queued = and_(Case.assigned_to.is_(None), Case.team.is_(None))
        query = query.where(and_(queued, Case.status != "closed") if unassigned else ~queued)
    if cursor:
        opened_at, case_id = decode_typed_cursor(cursor, cursor_datetime, cursor_uuid)
        query = query.where(or_(Case.opened_at > opened_at, and_(Case.opened_at == opened_at, Case.id > case_id)))
    cases = list(session.scalars(query.order_by(Case.opened_at, Case.id).limit(limit + 1), params))
    next_cursor = encode_cursor(cases[limit - 1].opened_at, cases[limit - 1].id) if len(cases) > limit else None
    return cases[:limit], next_cursor


def case_opened(case: dict) -> dict:
    return {"case_id": case["id"], "person_id": case["person_id"], "municipality": case["municipality"],
            "status": case["status"], "opened_at": case["opened_at"]}


def case_assigned(case: Case) -> dict:
    return {"case_id": case.id, "person_id": case.person_id, "municipality": case.municipality,
            "assigned_to": case.assigned_to, "team": case.team}


# GDPR Art. 15 (export) and Art. 17 (erasure) -------------------------------------------------------------------

def cases_of_person(session: Session, person_id: str, caller: Caller) -> list[Case]:
    """Every case of the person in the caller's towns, for the export (whoever they are assigned to)."""
    return list(session.scalars(select(Case).where(Case.person_id == str(person_id),
                                                   Case.municipality.in_(sorted(caller.municipalities)))
                                .order_by(Case.opened_at, Case.id)))


def erase_cases_of(connection: Connection, person_id: str) -> int:
    """Erasure: the person's cases and every record of them (assessments, plan, contacts, barriers,
    assignments, transitions) are deleted (a case is about one person: nothing of it is kept). Returns how
    many cases went."""
    from .personal_data import erase_case_records
    case_ids = list(connection.scalars(select(Case.id).where(Case.person_id == str(person_id))))
    erase_case_records(connection, case_ids)
    return connection.execute(delete(Case.__table__).where(Case.person_id == str(person_id))).rowcount


def erasure_confirmed(erasure_id) -> dict:
    return {"erasure_id": erasure_id, "service": "casework"}


# merges (intake's person_merged) --------------------------------------------------------------------------------

def follow_merge(session: Session, person_id: str, into: str) -> tuple[str, Case | None, tuple | None]:
    """Intake merged the record `person_id` into `into`: the case follows the survivor (one case per person).

    - the merged person has no case: nothing ("none");
    - the survivor has none: the case is re-pointed to the survivor, all its records with it ("moved");
    - the survivor's case is closed, the merged person's is not: the two swap persons, so the survivor keeps
      the open case and the closed one stays with the merged record ("swapped");
    - otherwise the survivor's case stays, and the merged person's case, if open, is closed by the system with
      outcome `other` ("closed"; its records stay readable by case id). Returns (what, case, the payloads of
      `case_status_changed` and `case_closed` or None). A redelivery finds the work done and changes nothing."""
    merged = session.scalar(select(Case).where(Case.person_id == str(person_id)).with_for_update())
    if merged is None:
        return "none", None, None
    survivor = session.scalar(select(Case).where(Case.person_id == str(into)).with_for_update())
    now = datetime.now(timezone.utc)
    bump = dict(version=Case.version + 1, updated_at=now)
    if survivor is None or (survivor.status == "closed" and merged.status != "closed"):
        if survivor is not None:  # the unique person_id: the survivor's case steps aside first
            session.execute(update(Case.__table__).where(Case.id == survivor.id).values(person_id=new_id()))
        session.execute(update(Case.__table__).where(Case.id == merged.id).values(person_id=str(into), **bump))
        if survivor is not None:
            session.execute(update(Case.__table__).where(Case.id == survivor.id)
                            .values(person_id=str(person_id), **bump))
        session.expire_all()
        return ("moved" if survivor is None else "swapped"), session.get(Case, merged.id), None
    if merged.status == "closed":
        return "none", merged, None
    changed, closed = cycle.close_without_evaluation(session, merged, outcome="other",
                                                     reason=f"person merged into {into}")
    return "closed", merged, (changed, closed)
