"""Intake: registering newly arrived persons. Plain Python; knows nothing of nameko or HTTP."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.orm import Session

from services.shared.auth import Caller, Role
from services.shared.db import new_id
from services.shared.errors import Forbidden, InvalidInput, LikelyDuplicate, NotFound

from . import matching
from .models import Consent, Person

# built once; plain INSERTs cost a fraction of an ORM flush (once the largest share of a registration's CPU)
_INSERT_PERSON = insert(Person.__table__)
_INSERT_CONSENT = insert(Consent.__table__)
# the duplicate check's one query: the same birth date (its index) in the caller's towns
_SAME_BIRTH_DATE = select(Person.id, Person.given_name, Person.family_name, Person.given_name_latin,
                          Person.family_name_latin).where(
    Person.birth_date == bindparam("birth_date"), Person.municipality.in_(bindparam("towns", expanding=True)))
#: at most this many candidates in a 409
MAX_CANDIDATES = 10
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
    given_latin, family_latin = matching.latin(data["given_name"]), matching.latin(data["family_name"])
    if not data.get("confirmed_new"):
        candidates = likely_duplicates(connection, {**data, "given_name_latin": given_latin,
                                                    "family_name_latin": family_latin}, caller)
        if candidates:  # nothing is written; the caller links to a candidate or sends confirmed_new
            raise LikelyDuplicate("this person may already be registered: read the candidates, then link to one "
                                  "or send the registration again with confirmed_new: true", candidates)
    person = dict(
        id=new_id(), municipality=municipality, given_name=data["given_name"], family_name=data["family_name"],
        given_name_latin=given_latin, family_name_latin=family_latin,
        birth_date=data["birth_date"], arrival_date=data["arrival_date"],
        residence_status=data["residence_status"], languages=list(data["languages"]),
        created_at=datetime.now(timezone.utc), created_by=caller.sub, version=1,
    )
    connection.execute(_INSERT_PERSON, person)
    consents = [dict(person_id=person["id"], purpose=c["purpose"], granted_at=c["granted_at"], withdrawn_at=None,
                     basis=c["basis"], recorded_by=caller.sub, withdrawn_by=None)
                for c in data["consents"]]
    if consents:
        connection.execute(_INSERT_CONSENT, consents)
    return {**person, "consents": consents}


def likely_duplicates(connection: Connection, data: dict, caller: Caller) -> list[dict]:
    """The persons of the caller's towns born on the same day whose names are alike (matching.score at least
    matching.LIKELY), best first: [{id, score, why}], no names. One query, on the birth_date index."""
    rows = connection.execute(_SAME_BIRTH_DATE, {"birth_date": data["birth_date"],
                                                 "towns": sorted(caller.municipalities)}).mappings()
    new = None  # prepared only when someone shares the birth date: most registrations meet nobody
    found = []
    for row in rows:
        new = new or matching.prepared(data)
        value, why = matching.score(matching.prepared(row), new)
        if value >= matching.LIKELY:
            found.append({"id": row["id"], "score": value, "why": ["same_birth_date", *why]})
    return sorted(found, key=lambda c: (-c["score"], c["id"]))[:MAX_CANDIDATES]


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


# consents (GDPR Art. 6/7/9) ----------------------------------------------------------------------------------

_PERSON_TOWN = select(Person.municipality).where(Person.id == bindparam("person_id"),
                                                 Person.municipality.in_(bindparam("towns", expanding=True)))
_CONSENT_COLUMNS = (Consent.id, Consent.person_id, Consent.purpose, Consent.granted_at, Consent.basis,
                    Consent.recorded_by, Consent.withdrawn_at, Consent.withdrawn_by)


def _town_of(connection: Connection, person_id: str, caller: Caller) -> str:
    """The person's municipality; a person of another town answers exactly like a missing one."""
    town = connection.scalar(_PERSON_TOWN, {"person_id": str(person_id), "towns": sorted(caller.municipalities)})
    if town is None:
        raise person_not_found(person_id)
    return town


def consent_record(connection: Connection, consent_id, person_id: str, caller: Caller,
                   municipality: str | None = None) -> dict:
    """One consent as ConsentRecordSchema dumps it (the town rule applies to it as to its person)."""
    municipality = municipality or _town_of(connection, person_id, caller)
    row = connection.execute(select(*_CONSENT_COLUMNS).where(Consent.id == int(consent_id),
                                                             Consent.person_id == str(person_id))).one()
    return {**row._asdict(), "municipality": municipality}


def grant_consent(connection: Connection, person_id: str, data: dict, caller: Caller) -> dict:
    """Record that the person granted (or granted again) one purpose. Earlier records stay as the history."""
    municipality = _town_of(connection, person_id, caller)
    consent = dict(person_id=str(person_id), purpose=data["purpose"], granted_at=data["granted_at"],
                   basis=data["basis"], recorded_by=caller.sub, withdrawn_at=None, withdrawn_by=None)
    consent_id = connection.execute(insert(Consent.__table__), consent).inserted_primary_key[0]
    return {**consent, "id": consent_id, "municipality": municipality}


def withdraw_consent(connection: Connection, person_id: str, purpose: str, caller: Caller) -> dict:
    """Withdraw a granted purpose at once (every record of it still in force). One UPDATE decides, so of two
    concurrent withdrawals only one succeeds and announces it. Refused (422) when the purpose is not granted."""
    municipality = _town_of(connection, person_id, caller)
    now = datetime.now(timezone.utc)
    withdrawn = connection.execute(
        update(Consent.__table__)
        .where(Consent.person_id == str(person_id), Consent.purpose == purpose, Consent.withdrawn_at.is_(None))
        .values(withdrawn_at=now, withdrawn_by=caller.sub)
        .returning(Consent.id)).scalars().all()
    if not withdrawn:
        raise InvalidInput(f"consent for {purpose} is not granted, so it cannot be withdrawn",
                           {"purpose": [f"{purpose} is not granted for this person"]})
    return consent_record(connection, max(withdrawn), person_id, caller, municipality)


def consent_granted(consent: dict) -> dict:
    """Ids and pseudonymous facts only."""
    return {"person_id": consent["person_id"], "municipality": consent["municipality"],
            "purpose": consent["purpose"], "granted_at": consent["granted_at"]}


def consent_withdrawn(consent: dict) -> dict:
    """Ids and pseudonymous facts only: consumers stop using the person's data for this purpose."""
    return {"person_id": consent["person_id"], "municipality": consent["municipality"],
            "purpose": consent["purpose"], "withdrawn_at": consent["withdrawn_at"]}
