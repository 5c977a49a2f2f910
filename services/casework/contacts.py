"""Contacts with a case's person and planned appointments (a contact with status `planned`, later marked held
or cancelled); the case's last contact and follow-up date; cases without contact for too long."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from services.shared.auth import Caller, Role
from services.shared.db import new_id
from services.shared.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from services.shared.schemas import cursor_datetime, cursor_uuid, decode_typed_cursor, encode_cursor

from .assessment import working_case
from .domain import get_case, visibility
from .models import Case, Contact
from .plan import my_cases

#: clocks differ a little: a contact "held" this far in the future is still accepted
LEEWAY = timedelta(minutes=10)
#: cases in these phases are not expected to have contacts (closed, or paused: the person is away)
NOT_MONITORED = ("closed", "paused")


def _now():
    return datetime.now(timezone.utc)


def _check_time(status: str, occurred_at: datetime, now: datetime) -> None:
    if status == "held" and occurred_at > now + LEEWAY:
        raise InvalidInput("a contact held cannot lie in the future",
                           {"occurred_at": ["lies in the future: plan an appointment (status planned) instead"]})
    if status == "planned" and occurred_at < now - LEEWAY:
        raise InvalidInput("an appointment is planned for the future",
                           {"occurred_at": ["lies in the past: record the contact as held instead"]})


def _held(case: Case, contact: Contact) -> None:
    """A held contact moves the case's last contact on, and its follow-up date if the contact set one."""
    if case.last_contact_at is None or contact.occurred_at > case.last_contact_at:
        case.last_contact_at = contact.occurred_at
    if contact.follow_up_on is not None:
        case.follow_up_on = contact.follow_up_on


def record_contact(session: Session, case_id: str, caller: Caller, data: dict,
                   now: datetime | None = None) -> tuple[Case, Contact]:
    now = now or _now()
    case = working_case(session, case_id, caller, ("closed",), "recording a contact")
    _check_time(data["status"], data["occurred_at"], now)
    # whose appointment: the recording case manager's; a team lead records for the case's case manager
    manager = caller.sub if caller.role is Role.CASE_MANAGER else (case.assigned_to or caller.sub)
    contact = Contact(id=new_id(), case_id=case.id, case_manager_id=manager, recorded_by=caller.sub,
                      created_at=now, version=1, **data)
    session.add(contact)
    if contact.status == "held":
        _held(case, contact)
    session.flush()
    return case, contact


def update_contact(session: Session, case_id: str, contact_id: str, caller: Caller, expected_version: int,
                   changes: dict, now: datetime | None = None) -> tuple[Case, Contact]:
    now = now or _now()
    case = working_case(session, case_id, caller, ("closed",), "changing a contact")
    contact = session.scalar(select(Contact).where(Contact.id == str(contact_id), Contact.case_id == case.id))
    if contact is None:
        raise NotFound(f"contact {contact_id} not found")
    if contact.status != "planned":
        raise Conflict(f"contact {contact.id} is {contact.status}: only a planned appointment changes")
    if contact.version != expected_version:
        raise PreconditionFailed(f"contact {contact.id} changed meanwhile (version {contact.version})")
    if changes["status"] == "held":
        _check_time("held", changes.get("occurred_at", contact.occurred_at), now)
    for key, value in changes.items():
        setattr(contact, key, value)
    contact.version += 1
    if contact.status == "held":
        _held(case, contact)
    session.flush()
    return case, contact


def list_contacts(session: Session, case_id: str, caller: Caller, limit: int = 20, cursor: str | None = None):
    """A case's contacts and appointments, newest first."""
    case = get_case(session, case_id, caller)
    query = select(Contact).where(Contact.case_id == case.id)
    if cursor:
        at, contact_id = decode_typed_cursor(cursor, cursor_datetime, cursor_uuid)
        query = query.where(or_(Contact.occurred_at < at, and_(Contact.occurred_at == at, Contact.id < contact_id)))
    rows = list(session.scalars(query.order_by(Contact.occurred_at.desc(), Contact.id.desc()).limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1].occurred_at, rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _appointment(contact: Contact, case_person: str, municipality: str) -> dict:
    view = {column.key: getattr(contact, column.key) for column in Contact.__table__.columns}
    return {**view, "person_id": case_person, "municipality": municipality}


def appointments(session: Session, caller: Caller, case_manager: str | None = None,
                 start: datetime | None = None, end: datetime | None = None) -> list[dict]:
    """A case manager's planned appointments in [start, end), of cases the caller may see."""
    start = start or _now()
    end = end or start + timedelta(days=14)
    if end <= start:
        raise InvalidInput("the period is empty", {"to": ["must lie after `from`"]})
    if end - start > timedelta(days=366):
        raise InvalidInput("the period is too long", {"to": ["at most a year after `from`"]})
    visible, params = visibility(caller)
    rows = session.execute(
        select(Contact, Case.person_id, Case.municipality).join(Case, Case.id == Contact.case_id)
        .where(visible, Contact.case_manager_id == (case_manager or caller.sub), Contact.status == "planned",
               Contact.occurred_at >= start, Contact.occurred_at < end)
        .order_by(Contact.occurred_at, Contact.id).limit(500), params)
    return [_appointment(contact, person_id, municipality) for contact, person_id, municipality in rows]


def username_of(session: Session, case_manager_id: str) -> str:
    """A case manager's username (their tokens' `sub`, what contacts and cases name) by their id."""
    from .models import CaseManager
    username = session.scalar(select(CaseManager.username).where(CaseManager.id == str(case_manager_id)))
    if username is None:
        raise NotFound(f"case manager {case_manager_id} not found")
    return username


def no_contact_since(days: int, now: datetime | None = None) -> datetime:
    return (now or _now()) - timedelta(days=days)


def flagged_cases(session: Session, caller: Caller, days: int, now: datetime | None = None,
                  limit: int = 100) -> list[dict]:
    """Cases (the caller's own for a case manager, else every one they may see) without a contact for `days`
    days (a case never contacted counts from its opening), longest without first: to monitor."""
    now = now or _now()
    mine, params = my_cases(caller)
    last = func.coalesce(Case.last_contact_at, Case.opened_at)
    rows = session.execute(
        select(Case.id, Case.person_id, Case.municipality, Case.status, Case.assigned_to, Case.last_contact_at,
               Case.opened_at)
        .where(mine, Case.status.not_in(NOT_MONITORED), last < no_contact_since(days, now))
        .order_by(last, Case.id).limit(limit), params)
    return [{"case_id": r.id, "person_id": r.person_id, "municipality": r.municipality, "status": r.status,
             "assigned_to": r.assigned_to, "last_contact_at": r.last_contact_at,
             "days_without_contact": (now - _aware(r.last_contact_at or r.opened_at)).days} for r in rows]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def contacts_of(session: Session, case_id: str) -> list[Contact]:
    return list(session.scalars(select(Contact).where(Contact.case_id == case_id)
                                .order_by(Contact.occurred_at, Contact.id)))


def contact_recorded(case: Case, contact: Contact) -> dict:
    """The event (held contacts only): when, how long, which channel, which interpreter language. No place,
    participants or summary."""
    return {"case_id": case.id, "person_id": case.person_id, "municipality": case.municipality,
            "contact_id": contact.id,
            "occurred_at": contact.occurred_at, "channel": contact.channel,
            "duration_minutes": contact.duration_minutes or 0,
            "interpreter_language": contact.interpreter_language}
