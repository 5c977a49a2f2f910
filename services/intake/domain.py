"""Intake: registering newly arrived persons. Plain Python; knows nothing of nameko or HTTP."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.orm import Session

from services.shared.auth import Caller, Role
from services.shared.db import new_id
from services.shared.errors import Forbidden, InvalidInput, NotFound

from .models import Consent, Person

# built once; plain INSERTs cost a fraction of an ORM flush (once the largest share of a registration's CPU)
_INSERT_PERSON = insert(Person.__table__)
_INSERT_CONSENT = insert(Consent.__table__)
# the town condition is part of the query: another town's person costs what a missing one does
_PERSON_BY_ID = select(Person).where(Person.id == bindparam("person_id"),
                                     Person.municipality.in_(bindparam("towns", expanding=True)))


def register_person(connection: Connection, data: dict, caller: Caller, served: tuple[str, ...]) -> dict:
    """Store a new person; returns the record as PersonSchema dumps it."""
    municipality = data["municipality"]
    if municipality not in served:
        raise InvalidInput("municipality is not served by this instance",
                           {"municipality": [f"this instance serves {', '.join(served)}"]})
    if not caller.sees_municipality(municipality):
        raise Forbidden("you may not register persons for this municipality")
    person = dict(
        id=new_id(), municipality=municipality, given_name=data["given_name"], family_name=data["family_name"],
        birth_date=data["birth_date"], arrival_date=data["arrival_date"],
        residence_status=data["residence_status"], languages=list(data["languages"]),
        created_at=datetime.now(timezone.utc), created_by=caller.sub, version=1,
    )
    connection.execute(_INSERT_PERSON, person)
    consents = [dict(person_id=person["id"], purpose=c["purpose"], granted_at=c["granted_at"], withdrawn_at=None)
                for c in data["consents"]]
    if consents:
        connection.execute(_INSERT_CONSENT, consents)
    return {**person, "consents": consents}


def get_person(session: Session, person_id: str, caller: Caller) -> Person:
    person = session.scalar(_PERSON_BY_ID, {"person_id": str(person_id), "towns": sorted(caller.municipalities)})
    # another tenant's person is indistinguishable from a missing one
    if person is None:
        raise person_not_found(person_id)
    return person


def person_not_found(person_id) -> NotFound:
    """The one answer for a missing person, another town's and one the caller has no need to know."""
    return NotFound(f"person {person_id} not found")


def needs_a_visible_case(caller: Caller) -> bool:
    """Need to know: a case manager reads a person only through a case they may read (their own, their
    team's or an unassigned one, as casework decides). Other roles keep the town rule."""
    return caller.role is Role.CASE_MANAGER


def person_registered(person: dict) -> dict:
    """The pseudonymous facts the event may carry: no names, no birth date, no contact data."""
    return {
        "person_id": person["id"], "municipality": person["municipality"], "arrival_date": person["arrival_date"],
        "residence_status": person["residence_status"], "languages": person["languages"],
        "birth_year": person["birth_date"].year,
    }
