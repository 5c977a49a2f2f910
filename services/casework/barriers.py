"""Integration barriers (Integrationshürden): codes of the catalogue (services/shared/barrier_codes.py),
recorded per case, resolved with date and how. Events carry codes and dates only (what analytics learns from)."""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.shared.auth import Caller
from services.shared.barrier_codes import catalogue
from services.shared.db import new_id
from services.shared.errors import Conflict, InvalidInput, NotFound

from .assessment import working_case
from .domain import get_case
from .models import Barrier, Case


def _not_in_future(day: date, field: str) -> None:
    if day > date.today():
        raise InvalidInput(f"{field} lies in the future", {field: ["must not lie in the future"]})


def record_barrier(session: Session, case_id: str, caller: Caller, code: str, area: str | None = None,
                   noted_at: date | None = None, note: str | None = None) -> tuple[Case, Barrier]:
    case = working_case(session, case_id, caller, ("closed",), "recording a barrier")
    entry = catalogue().get(code)
    if entry is None:
        raise InvalidInput(f"unknown barrier code {code}", {"code": ["not a code of GET /v1/barrier-codes"]})
    noted_at = noted_at or date.today()
    _not_in_future(noted_at, "noted_at")
    barrier = Barrier(id=new_id(), case_id=case.id, code=code, area=area or entry["area"], recorded_on=noted_at,
                      recorded_by=caller.sub, note=note, created_at=datetime.now(timezone.utc))
    session.add(barrier)
    session.flush()
    return case, barrier


def resolve_barrier(session: Session, case_id: str, barrier_id: str, caller: Caller, how: str,
                    resolved_at: date | None = None) -> tuple[Case, Barrier]:
    case = get_case(session, case_id, caller)
    barrier = session.scalar(select(Barrier).where(Barrier.id == str(barrier_id), Barrier.case_id == case.id)
                             .with_for_update())
    if barrier is None:
        raise NotFound(f"barrier {barrier_id} not found")
    if barrier.resolved_on is not None:
        raise Conflict(f"barrier {barrier.id} was already resolved on {barrier.resolved_on.isoformat()}")
    resolved_at = resolved_at or date.today()
    _not_in_future(resolved_at, "resolved_at")
    if resolved_at < barrier.recorded_on:
        raise InvalidInput("a barrier cannot be resolved before it was noted",
                           {"resolved_at": [f"must not be before {barrier.recorded_on.isoformat()}"]})
    barrier.resolved_on, barrier.resolution, barrier.resolved_by = resolved_at, how, caller.sub
    session.flush()
    return case, barrier


def barriers_of(session: Session, case_id: str) -> list[Barrier]:
    return list(session.scalars(select(Barrier).where(Barrier.case_id == case_id)
                                .order_by(Barrier.recorded_on, Barrier.created_at, Barrier.id)))


def list_barriers(session: Session, case_id: str, caller: Caller) -> list[Barrier]:
    return barriers_of(session, get_case(session, case_id, caller).id)


def barrier_recorded(case: Case, barrier: Barrier) -> dict:
    return {"case_id": case.id, "person_id": case.person_id, "municipality": case.municipality,
            "barrier_id": barrier.id, "code": barrier.code,
            "area": barrier.area, "recorded_on": barrier.recorded_on}


def barrier_resolved(case: Case, barrier: Barrier) -> dict:
    return {**barrier_recorded(case, barrier), "resolved_on": barrier.resolved_on}
