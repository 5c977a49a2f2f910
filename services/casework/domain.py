"""Casework: one case per person, opened when the person is registered."""
from __future__ import annotations

import functools
from datetime import datetime, timezone

from sqlalchemy import Connection, and_, bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.shared.auth import Caller, Role
from services.shared.db import new_id
from services.shared.errors import NotFound, PreconditionFailed
from services.shared.schemas import cursor_datetime, cursor_uuid, decode_typed_cursor, encode_cursor

from .models import Case


# one statement, no read first: the unique person_id decides, also between concurrent deliveries
_OPEN_CASE = {name: dialect.insert(Case.__table__).on_conflict_do_nothing(index_elements=["person_id"])
              for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))}


def open_case(connection: Connection, person_id: str, municipality: str) -> dict | None:
    """Open the person's case; None if it is already open (one case per person)."""
    now = datetime.now(timezone.utc)
    case = dict(id=new_id(), person_id=str(person_id), municipality=municipality, status="intake",
                opened_at=now, updated_at=now, assigned_to=None, team=None, version=1)
    opened = connection.execute(_OPEN_CASE[connection.dialect.name], case).rowcount == 1
    return case if opened else None


def close_case_of(connection: Connection, person_id) -> str | None:
    """Close the person's case (consent to case management withdrawn); None if there is none or it is closed."""
    closed = connection.execute(
        update(Case.__table__).where(Case.person_id == str(person_id), Case.status != "closed")
        .values(status="closed", updated_at=datetime.now(timezone.utc), version=Case.version + 1)
        .returning(Case.id)).scalars().all()
    return closed[0] if closed else None


def visibility(caller: Caller):
    """What a caller may see: their municipalities; a case manager only their own, their team's and the
    unassigned cases (the municipality's intake queue). Returns the clause and its parameters."""
    limited = caller.role is Role.CASE_MANAGER
    params = {"towns": sorted(caller.municipalities), "sub": caller.sub, "team": caller.team}
    return _visibility(limited, limited and bool(caller.team)), params


@functools.cache
def _visibility(limited: bool, with_team: bool):
    # one clause per shape, with bound parameters: building SQL expressions costs more than running them
    clause = Case.municipality.in_(bindparam("towns", expanding=True))
    if limited:
        mine = [Case.assigned_to == bindparam("sub"), and_(Case.assigned_to.is_(None), Case.team.is_(None))]
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


def list_cases(session: Session, caller: Caller, *, person_id=None, limit: int = 20, cursor: str | None = None):
    visible, params = visibility(caller)
    query = select(Case).where(visible)
    if person_id:
        query = query.where(Case.person_id == str(person_id))
    if cursor:
        opened_at, case_id = decode_typed_cursor(cursor, cursor_datetime, cursor_uuid)
        query = query.where(or_(Case.opened_at > opened_at, and_(Case.opened_at == opened_at, Case.id > case_id)))
    cases = list(session.scalars(query.order_by(Case.opened_at, Case.id).limit(limit + 1), params))
    next_cursor = encode_cursor(cases[limit - 1].opened_at, cases[limit - 1].id) if len(cases) > limit else None
    return cases[:limit], next_cursor


def assign_case(session: Session, case_id: str, caller: Caller, expected_version: int,
                assigned_to: str | None, team: str | None) -> Case:
    case = get_case(session, case_id, caller)
    if case.version != expected_version:
        raise PreconditionFailed(f"case {case_id} changed meanwhile (version {case.version})")
    case.assigned_to, case.team = assigned_to, team
    case.version += 1
    case.updated_at = datetime.now(timezone.utc)
    session.flush()
    return case


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
    """Erasure: the person's cases are deleted (a case is about one person: nothing of it is kept). Returns
    how many went."""
    return connection.execute(delete(Case.__table__).where(Case.person_id == str(person_id))).rowcount


def erasure_confirmed(erasure_id) -> dict:
    return {"erasure_id": erasure_id, "service": "casework"}
