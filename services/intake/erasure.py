"""Intake's part of the GDPR rights of access (Art. 15: export) and erasure (Art. 17). Plain Python.

Erasure keeps a tombstone of the person's row: `id`, `municipality`, `erased_at` (and the staff metadata
`created_at`, `created_by`, `version`, `merged_into`, which describe the record, not the person). Every other
column is emptied: NULL where the column allows it (`birth_date`, `birth_year` too), else a neutral placeholder
(names and `residence_status` "", `arrival_date` 1900-01-01, `languages` []). Consents, history rows and household
memberships of the person are deleted, as are the outbox rows, idempotency keys and dead-letter records naming
the person (`services/shared/erasure.py`); `person_erased` is written to the outbox in the same transaction.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

from marshmallow import Schema, fields
from sqlalchemy import JSON, Connection, Date, String, bindparam, delete, insert, select, update

from services.shared.auth import Caller
from services.shared.db import new_id
from services.shared.erasure import forget_person_in_platform_tables
from services.shared.errors import NotFound
from services.shared.events import ERASING_SERVICES, utc_datetime
from services.shared.schemas import CanonicalUUID

from .domain import person_not_found
from .models import Consent, ErasureRequest, Household, HouseholdMember, Person, PersonChange, metadata

#: the columns an erased person's row keeps
TOMBSTONE_COLUMNS = frozenset({"id", "municipality", "erased_at", "created_at", "created_by", "version",
                               "merged_into"})
PLACEHOLDER_DATE = date(1900, 1, 1)

_LIVE_PERSON = select(Person.__table__).where(Person.id == bindparam("person_id"),
                                              Person.municipality.in_(bindparam("towns", expanding=True)),
                                              Person.erased_at.is_(None))


class ErasureIdSchema(Schema):
    erasure_id = CanonicalUUID(required=True)


class ErasureSchema(Schema):
    """An erasure request and each service's confirmation (ISO time, or null while pending)."""

    erasure_id = fields.String()
    person_id = fields.String()
    municipality = fields.String()
    status = fields.String(metadata={"description": "pending | completed"})
    requested_at = utc_datetime()
    requested_by = fields.String()
    completed_at = utc_datetime(allow_none=True)
    confirmations = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True))


class PersonExportSchema(Schema):
    """Everything KIM holds on a person (Art. 15 GDPR), per service."""

    person_id = fields.String()
    municipality = fields.String()
    exported_at = utc_datetime()
    person = fields.Dict()
    consents = fields.List(fields.Dict())
    history = fields.List(fields.Dict())
    households = fields.List(fields.Dict())
    cases = fields.List(fields.Dict())
    referrals = fields.List(fields.Dict())
    analytics = fields.List(fields.Dict(), metadata={"description": "the events analytics archived about the person"})


def _plain(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _rows(connection: Connection, query) -> list[dict]:
    return [{k: _plain(v) for k, v in row.items()} for row in connection.execute(query).mappings()]


def _live_person(connection: Connection, person_id: str, caller: Caller) -> dict:
    row = connection.execute(_LIVE_PERSON, {"person_id": str(person_id),
                                            "towns": sorted(caller.municipalities)}).mappings().first()
    if row is None:
        raise person_not_found(person_id)
    return dict(row)


def export_person(connection: Connection, person_id: str, caller: Caller) -> dict:
    """Intake's part of the export: the record, consents, history and household memberships (town rule)."""
    person = _live_person(connection, person_id, caller)
    pid = person["id"]
    memberships = _rows(connection, select(HouseholdMember.__table__, Household.municipality.label(
        "household_municipality")).join(Household.__table__, Household.id == HouseholdMember.household_id)
        .where(HouseholdMember.person_id == pid).order_by(HouseholdMember.household_id))
    return {
        "person_id": pid, "municipality": person["municipality"], "exported_at": datetime.now(timezone.utc),
        "person": {k: _plain(v) for k, v in person.items()},
        "consents": _rows(connection, select(Consent.__table__).where(Consent.person_id == pid)
                          .order_by(Consent.id)),
        "history": _rows(connection, select(PersonChange.__table__).where(PersonChange.person_id == pid)
                         .order_by(PersonChange.id)),
        "households": memberships,
    }


def _blanked_values() -> dict:
    values = {}
    for column in Person.__table__.columns:
        if column.name in TOMBSTONE_COLUMNS:
            continue
        if column.nullable:
            values[column.name] = None
        elif isinstance(column.type, Date):
            values[column.name] = PLACEHOLDER_DATE
        elif isinstance(column.type, JSON):
            values[column.name] = []
        elif isinstance(column.type, String):
            values[column.name] = ""
        else:  # a NOT NULL column of another type: decide what an erased person keeps in it
            raise RuntimeError(f"erasure does not know how to empty persons.{column.name}")
    return values


def erase_person(connection: Connection, person_id: str, caller: Caller) -> dict:
    """Erase the person's personal data at once and open the erasure request; returns it (ErasureSchema)."""
    person = _live_person(connection, person_id, caller)
    pid, now = person["id"], datetime.now(timezone.utc)
    done = connection.execute(update(Person.__table__).where(Person.id == pid, Person.erased_at.is_(None))
                              .values(**_blanked_values(), erased_at=now, version=Person.version + 1)).rowcount
    if done != 1:  # erased meanwhile by a concurrent request
        raise person_not_found(person_id)
    connection.execute(delete(Consent.__table__).where(Consent.person_id == pid))
    connection.execute(delete(PersonChange.__table__).where(PersonChange.person_id == pid))
    connection.execute(delete(HouseholdMember.__table__).where(HouseholdMember.person_id == pid))
    forget_person_in_platform_tables(connection, metadata, pid)
    request = dict(id=new_id(), person_id=pid, municipality=person["municipality"], requested_at=now,
                   requested_by=caller.sub, status="pending", confirmations={s: None for s in ERASING_SERVICES},
                   completed_at=None)
    connection.execute(insert(ErasureRequest.__table__), request)
    return erasure_view(request)


def person_erased(erasure: dict) -> dict:
    return {"person_id": erasure["person_id"], "municipality": erasure["municipality"],
            "erasure_id": erasure["erasure_id"]}


def erasure_view(row: dict) -> dict:
    return {"erasure_id": row["id"], "person_id": row["person_id"], "municipality": row["municipality"],
            "status": row["status"], "requested_at": row["requested_at"], "requested_by": row["requested_by"],
            "completed_at": row["completed_at"], "confirmations": dict(row["confirmations"] or {})}


def get_erasure(connection: Connection, erasure_id: str, caller: Caller) -> dict:
    row = connection.execute(select(ErasureRequest.__table__).where(
        ErasureRequest.id == str(erasure_id), ErasureRequest.municipality.in_(sorted(caller.municipalities)))
    ).mappings().first()
    if row is None:
        raise NotFound(f"erasure {erasure_id} not found")
    return erasure_view(dict(row))


def confirm_erasure(connection: Connection, erasure_id: str, service: str) -> dict | None:
    """Record a service's confirmation; completes the request when every service confirmed (then the
    `person_erased` outbox row, the last one naming the person, goes too). None for an unknown erasure."""
    row = connection.execute(select(ErasureRequest.__table__).where(ErasureRequest.id == str(erasure_id))
                             .with_for_update()).mappings().first()
    if row is None:
        return None
    confirmations = dict(row["confirmations"] or {})
    if confirmations.get(service) is None:
        now = datetime.now(timezone.utc)
        confirmations[service] = now.isoformat()
        values = {"confirmations": confirmations}
        # the services this request waits for are those named when it was opened (an upgrade may add one)
        if all(confirmations.values()) and row["status"] != "completed":
            values.update(status="completed", completed_at=now)
            forget_person_in_platform_tables(connection, metadata, row["person_id"])
        connection.execute(update(ErasureRequest.__table__).where(ErasureRequest.id == row["id"]).values(**values))
        row = {**row, **values}
    return erasure_view(dict(row))
