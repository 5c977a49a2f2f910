"""Intake: registering newly arrived persons. Plain Python; knows nothing of nameko or HTTP."""
from __future__ import annotations

import functools
from datetime import date, datetime, timezone

from sqlalchemy import Connection, and_, bindparam, exists, func, insert, or_, select, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from services.shared.auth import Caller, Role
from services.shared.db import OneStatement, bound_row, new_id, prefixed
from services.shared.errors import Conflict, Forbidden, InvalidInput, LikelyDuplicate, NotFound, PreconditionFailed
from services.shared.events import PERSON_NON_PERSONAL_FIELDS
from services.shared.schemas import cursor_int, cursor_uuid, decode_typed_cursor, encode_cursor

from . import matching
from .models import Consent, Person, PersonChange, metadata

# built once; plain INSERTs cost a fraction of an ORM flush (once the largest share of a registration's CPU)
_INSERT_PERSON = insert(Person.__table__)
_INSERT_CONSENT = insert(Consent.__table__)
# the duplicate check's one query: live persons born the same day (the birth_date index), or known by the same
# year only (the birth_year index); a registration by year only meets everyone of its year
_CANDIDATE_COLUMNS = (Person.id, Person.given_name, Person.family_name, Person.given_name_latin,
                      Person.family_name_latin, Person.birth_date, Person.municipality)
_LIVE = (Person.erased_at.is_(None), Person.merged_into.is_(None))
# Two SELECTs, not an OR: each keeps its index, where an OR made SQLite walk a whole town per registration.
# The caller's towns are checked on the few rows of one birth date, not in the query: with both conditions
# there, a planner without statistics (SQLite always, PostgreSQL on a new instance) took the municipality
# index and walked the whole town, once per registration.
_SAME_BIRTH_DATE = union_all(
    select(*_CANDIDATE_COLUMNS).where(Person.birth_date == bindparam("birth_date"), *_LIVE),
    select(*_CANDIDATE_COLUMNS).where(Person.birth_year == bindparam("birth_year"), Person.birth_date.is_(None),
                                      *_LIVE))
_SAME_BIRTH_YEAR = select(*_CANDIDATE_COLUMNS).where(Person.birth_year == bindparam("birth_year"),
                                                     Person.municipality.in_(bindparam("towns", expanding=True)),
                                                     *_LIVE)
#: at most this many candidates in a 409
MAX_CANDIDATES = 10
# the town condition is part of the query: another town's person costs what a missing one does
_PERSON_BY_ID = select(Person).where(Person.id == bindparam("person_id"),
                                     Person.municipality.in_(bindparam("towns", expanding=True)),
                                     Person.erased_at.is_(None))  # an erased person's tombstone: 404


def new_person(data: dict, caller: Caller, served: tuple[str, ...]) -> dict:
    """The record of a new person as PersonSchema dumps it, not stored yet: in a town this instance serves and
    the caller may see."""
    municipality = data["municipality"]
    if municipality not in served:
        raise InvalidInput("municipality is not served by this instance",
                           {"municipality": [f"this instance serves {', '.join(served)}"]})
    if not caller.sees_municipality(municipality):
        raise Forbidden("you may not register persons for this municipality")
    birth_date = data.get("birth_date")
    person = dict(
        id=new_id(), municipality=municipality, given_name=data["given_name"], family_name=data["family_name"],
        given_name_latin=matching.latin(data["given_name"]), family_name_latin=matching.latin(data["family_name"]),
        birth_date=birth_date, birth_year=birth_date.year if birth_date else data["birth_year"],
        arrival_date=data["arrival_date"], residence_status=data["residence_status"],
        languages=list(data["languages"]), created_at=datetime.now(timezone.utc), created_by=caller.sub, version=1,
        merged_into=None, **_record_columns(data),
    )
    consents = [dict(person_id=person["id"], purpose=c["purpose"], granted_at=c["granted_at"], withdrawn_at=None,
                     basis=c["basis"], recorded_by=caller.sub, withdrawn_by=None)
                for c in data["consents"]]
    return {**person, "consents": consents}


def register_person(connection: Connection, data: dict, caller: Caller, served: tuple[str, ...]) -> dict:
    """Store a new person (`new_person`), unless the duplicate check finds likely duplicates."""
    person = new_person(data, caller, served)
    if not data.get("confirmed_new"):
        candidates = likely_duplicates(connection, person, caller)
        if candidates:  # nothing is written; the caller links to a candidate or sends confirmed_new
            raise LikelyDuplicate("this person may already be registered: read the candidates, then link to one "
                                  "or send the registration again with confirmed_new: true", candidates)
    connection.execute(_INSERT_PERSON, _person_row(person))
    if person["consents"]:
        connection.execute(_INSERT_CONSENT, person["consents"])
    return person


def register_at_once(statement: OneStatement, payload: dict, caller: Caller, served: tuple[str, ...], request,
                     operation: str) -> dict | None:
    """Register a person in one statement (`register_person_at_once`), announced as `person_registered` and
    under the call's idempotency key (`request` is the body as it came, for the key's fingerprint): the person,
    or None when the unit of work's path has to decide (`register_person`)."""
    person = new_person(payload, caller, served)
    event = statement.emit("person_registered", person["municipality"], person_registered(person))
    key = statement.key_row(operation, caller.sub, request, person["id"])
    written = register_person_at_once(statement, person, not payload.get("confirmed_new"), event, key)
    return person if written else None


def register_person_at_once(statement: OneStatement, person: dict, check: bool, event: dict,
                            key: dict | None) -> bool:
    """Store a new person, its event and the idempotency key in one statement (`OneStatement`), if it needs no
    decision: False (nothing written) when someone else is born that day or year (their names are to be scored:
    `register_person`), or when the key was used before."""
    birth_date = person["birth_date"]
    params = {**prefixed("p_", _person_row(person)), **prefixed("o_", event),
              "birth_date": birth_date, "birth_year": person["birth_year"]}
    for i, consent in enumerate(person["consents"]):
        params.update(prefixed(f"c{i}_", consent))
    if key is not None:
        params.update(prefixed("k_", key))
    shape = (len(person["consents"]), ("date" if birth_date else "year") if check else None, key is not None)
    return statement.write(_registration_at_once(*shape), params)


def _person_row(person: dict) -> dict:
    return {name: value for name, value in person.items() if name != "consents"}


@functools.cache
def _registration_at_once(consents: int, check: str | None, with_key: bool):
    """WITH k AS (claim the key, if no one shares the birth date), p AS (the person, if the key was claimed or
    no one shares the birth date), c AS (its consents, for each p), o AS (its event, for each p)
    SELECT count(*) FROM p."""
    persons, consent_table = Person.__table__, Consent.__table__
    outbox, keys = metadata.tables["outbox"], metadata.tables["idempotency_keys"]
    alone = []
    if check == "date":  # as _SAME_BIRTH_DATE, in any town: another town's namesake is for register_person
        alone = [~exists().where(Person.birth_date == bindparam("birth_date"), *_LIVE),
                 ~exists().where(Person.birth_year == bindparam("birth_year"), Person.birth_date.is_(None), *_LIVE)]
    elif check == "year":
        alone = [~exists().where(Person.birth_year == bindparam("birth_year"), *_LIVE)]
    person_columns = [c.name for c in persons.columns if c.name != "erased_at"]
    person = bound_row(persons, person_columns, "p_")
    if with_key:
        key_columns = [c.name for c in keys.columns]
        claim = (pg_insert(keys).from_select(key_columns, bound_row(keys, key_columns, "k_").where(*alone))
                 .on_conflict_do_nothing(index_elements=["scope", "key"]).returning(keys.c.key).cte("k"))
        person = person.where(exists(select(claim.c.key)))
    else:
        person = person.where(*alone)
    written = insert(persons).from_select(person_columns, person).returning(persons.c.id).cte("p")
    consent_columns = [c.name for c in consent_table.columns if c.name != "id"]
    parts = [insert(consent_table).from_select(consent_columns, union_all(*(
        bound_row(consent_table, consent_columns, f"c{i}_").select_from(written) for i in range(consents))))
        .returning(consent_table.c.id).cte("c")] if consents else []
    outbox_columns = ["event_id", "exchange", "routing_key", "body", "created_at", "attempts"]
    parts.append(insert(outbox).from_select(outbox_columns,
                                            bound_row(outbox, outbox_columns, "o_").select_from(written))
                 .returning(outbox.c.id).cte("o"))
    return select(func.count()).select_from(written).add_cte(*parts)


#: the optional fields of the record stored as they come (address is split into its columns)
_RECORD_FIELDS = ("sex", "nationalities", "mother_tongues", "german_level", "municipality_arrival_date", "phone",
                  "email", "preferred_channel", "interpreter_needed", "residence_valid_until")


def _record_columns(data: dict) -> dict:
    columns = {name: data.get(name) for name in _RECORD_FIELDS}
    for name in ("nationalities", "mother_tongues"):
        if columns[name] is not None:
            columns[name] = list(dict.fromkeys(columns[name]))  # each once, in the order given
    address = data.get("address") or {}
    columns.update({f"address_{part}": address.get(part) for part in ("street", "postal_code", "city")})
    return columns


def likely_duplicates(connection: Connection, data: dict, caller: Caller) -> list[dict]:
    """The live persons of the caller's towns born on the same day whose names are alike (matching.score at
    least matching.LIKELY), best first: [{id, score, why}], no names. One query, on the birth date indexes.

    When either side knows only the year of birth, persons of the same year count ("same_birth_year" instead
    of "same_birth_date"); at equal scores, a same day ranks first."""
    birth_date = data.get("birth_date")
    year = birth_date.year if birth_date else data["birth_year"]
    params = {"birth_date": birth_date, "birth_year": year, "towns": sorted(caller.municipalities)}
    rows = connection.execute(_SAME_BIRTH_DATE if birth_date else _SAME_BIRTH_YEAR, params).mappings()
    new = None  # prepared only when someone shares the birth date: most registrations meet nobody
    found = []
    for row in rows:
        if not caller.sees_municipality(row["municipality"]):
            continue
        new = new or matching.prepared(data)
        value, why = matching.score(matching.prepared(row), new)
        if value >= matching.LIKELY:
            same_day = birth_date is not None and row["birth_date"] == birth_date
            found.append({"id": row["id"], "score": value,
                          "why": ["same_birth_date" if same_day else "same_birth_year", *why]})
    return sorted(found, key=lambda c: (-c["score"], c["why"][0] != "same_birth_date", c["id"]))[:MAX_CANDIDATES]


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
        "birth_year": person["birth_year"],
    }


# linking a registration to the person it duplicates -----------------------------------------------------------

#: the history's field name for a registration sent again for a person already registered
REGISTRATION_LINKED = "registration_linked"


def _differing(person: Person, data: dict) -> list[str]:
    """The names of the fields a registration states otherwise than the record does (values stay out)."""
    names = ["given_name", "family_name", "birth_date", "birth_year", "arrival_date", "residence_status",
             "languages", *_RECORD_FIELDS]
    differing = [n for n in names if n in data and _json_value(data[n]) != _json_value(getattr(person, n))]
    if "address" in data:
        stored = {part: getattr(person, f"address_{part}") for part in ("street", "postal_code", "city")}
        if stored != dict(data["address"]):
            differing.append("address")
    return differing


def link_registration(session: Session, data: dict, caller: Caller, served: tuple[str, ...]) -> Person:
    """A registration sent again with `existing_person_id` (after a 409, the candidate is this person): nobody
    is registered and nothing of the body is applied; the person's history notes the re-registration (which
    fields it stated otherwise, not their values) and the existing record is the answer. The person must be a
    live one of the body's municipality (else 422 naming existing_person_id); merged away: 409 naming the
    survivor."""
    municipality = data["municipality"]
    if municipality not in served:
        raise InvalidInput("municipality is not served by this instance",
                           {"municipality": [f"this instance serves {', '.join(served)}"]})
    if not caller.sees_municipality(municipality):
        raise Forbidden("you may not register persons for this municipality")
    person_id = str(data["existing_person_id"])
    person = session.scalar(_PERSON_BY_ID, {"person_id": person_id, "towns": sorted(caller.municipalities)})
    if person is None:  # missing, erased or another town's: all alike
        raise InvalidInput("existing_person_id is not a registered person",
                           {"existing_person_id": ["no such person"]})
    refuse_merged(person)
    if person.municipality != municipality:
        raise InvalidInput("the existing person lives in another municipality",
                           {"existing_person_id": [f"must be a person of {municipality}"]})
    session.execute(insert(PersonChange.__table__), dict(
        person_id=person.id, version=person.version, changed_at=datetime.now(timezone.utc),
        changed_by=caller.sub, field=REGISTRATION_LINKED, old_value=None, new_value=_differing(person, data)))
    return person


def refuse_merged(person: Person) -> None:
    """A record merged into another is read-only: 409 naming the survivor."""
    if person.merged_into:
        raise Conflict(f"person {person.id} was merged into {person.merged_into} and is read-only: "
                       f"use {person.merged_into}")


# consents (GDPR Art. 6/7/9) ----------------------------------------------------------------------------------

_PERSON_TOWN = select(Person.municipality, Person.merged_into).where(Person.id == bindparam("person_id"),
                                                 Person.municipality.in_(bindparam("towns", expanding=True)),
                                                 Person.erased_at.is_(None))
_CONSENT_COLUMNS = (Consent.id, Consent.person_id, Consent.purpose, Consent.granted_at, Consent.basis,
                    Consent.recorded_by, Consent.withdrawn_at, Consent.withdrawn_by)


def _town_of(connection: Connection, person_id: str, caller: Caller, *, writing: bool = False) -> str:
    """The person's municipality; a person of another town answers exactly like a missing one. Writing to a
    record merged into another is refused (409 naming the survivor)."""
    row = connection.execute(_PERSON_TOWN, {"person_id": str(person_id),
                                            "towns": sorted(caller.municipalities)}).first()
    if row is None:
        raise person_not_found(person_id)
    if writing and row.merged_into:
        raise Conflict(f"person {person_id} was merged into {row.merged_into} and is read-only: "
                       f"use {row.merged_into}")
    return row.municipality


def consent_record(connection: Connection, consent_id, person_id: str, caller: Caller,
                   municipality: str | None = None) -> dict:
    """One consent as ConsentRecordSchema dumps it (the town rule applies to it as to its person)."""
    municipality = municipality or _town_of(connection, person_id, caller)
    row = connection.execute(select(*_CONSENT_COLUMNS).where(Consent.id == int(consent_id),
                                                             Consent.person_id == str(person_id))).one()
    return {**row._asdict(), "municipality": municipality}


def grant_consent(connection: Connection, person_id: str, data: dict, caller: Caller) -> dict:
    """Record that the person granted (or granted again) one purpose. Earlier records stay as the history."""
    municipality = _town_of(connection, person_id, caller, writing=True)
    consent = dict(person_id=str(person_id), purpose=data["purpose"], granted_at=data["granted_at"],
                   basis=data["basis"], recorded_by=caller.sub, withdrawn_at=None, withdrawn_by=None)
    consent_id = connection.execute(insert(Consent.__table__), consent).inserted_primary_key[0]
    return {**consent, "id": consent_id, "municipality": municipality}


def withdraw_consent(connection: Connection, person_id: str, purpose: str, caller: Caller) -> dict:
    """Withdraw a granted purpose at once (every record of it still in force). One UPDATE decides, so of two
    concurrent withdrawals only one succeeds and announces it. Refused (422) when the purpose is not granted."""
    municipality = _town_of(connection, person_id, caller, writing=True)
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


# rectification (Art. 16 GDPR), its history, and search ------------------------------------------------------

#: fields whose change `person_updated` names, with the new value; every other field is personal data
NON_PERSONAL_FIELDS = PERSON_NON_PERSONAL_FIELDS
#: derived columns, recomputed from a changed name (never written by a caller, no history rows of their own)
_LATIN_OF = {"given_name": "given_name_latin", "family_name": "family_name_latin"}
_UPDATABLE = frozenset(c.name for c in Person.__table__.columns) - {
    "id", "created_at", "created_by", "version", "merged_into", "erased_at", *_LATIN_OF.values()}


def _json_value(value):
    """As the history's JSON column keeps it: dates in ISO 8601, lists copied."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return list(value) if isinstance(value, (list, tuple)) else value


def update_person(session: Session, person_id: str, changes: dict, caller: Caller, expected_version: int,
                  served: tuple[str, ...]) -> tuple[Person, list[str]]:
    """Rectify fields of a person's record (version checked: 412 when it changed meanwhile). Each changed field
    leaves a `person_history` row in the same transaction; names get their Latin forms again. Returns the person
    and the names of the changed fields (none: nothing written, the version stays)."""
    if not changes:
        raise InvalidInput("nothing to change", {"body": ["name at least one field to change"]})
    unknown = sorted(set(changes) - _UPDATABLE)
    if unknown:
        raise InvalidInput("body is invalid", {name: ["this field cannot be changed here"] for name in unknown})
    person = session.scalar(_PERSON_BY_ID, {"person_id": str(person_id), "towns": sorted(caller.municipalities)})
    if person is None:
        raise person_not_found(person_id)
    refuse_merged(person)
    if person.version != expected_version:
        raise PreconditionFailed(f"person {person_id} changed meanwhile (version {person.version})")
    if "municipality" in changes and changes["municipality"] != person.municipality:
        town = changes["municipality"]
        if town not in served:
            raise InvalidInput("municipality is not served by this instance",
                               {"municipality": [f"this instance serves {', '.join(served)}"]})
        if not caller.sees_municipality(town):
            raise Forbidden("you may not move persons to this municipality")
    given = set(changes)
    changes = dict(changes)
    # the day or the year alone: a day brings its year; a year alone means the day is not known
    if "birth_date" in changes:
        changes["birth_year"] = changes["birth_date"].year
    elif "birth_year" in changes:
        changes["birth_date"] = None
    birth_date, birth_year = changes.get("birth_date", person.birth_date), changes.get("birth_year", person.birth_year)
    arrival = changes.get("arrival_date", person.arrival_date)
    if (arrival < birth_date) if birth_date else (birth_year is not None and arrival.year < birth_year):
        field = "arrival_date" if "arrival_date" in given else ("birth_date" if "birth_date" in given
                                                                 else "birth_year")
        raise InvalidInput("body is invalid", {field: ["arrival_date must not lie before the birth"]})
    changed = [name for name, value in changes.items() if _json_value(getattr(person, name)) != _json_value(value)]
    if not changed:
        return person, []
    now, version = datetime.now(timezone.utc), person.version + 1
    old = {name: _json_value(getattr(person, name)) for name in changed}
    values = {name: changes[name] for name in changed}
    for name, latin_column in _LATIN_OF.items():
        if name in values:
            values[latin_column] = matching.latin(values[name])
    # the version decides between concurrent rectifications: only one of them finds it unchanged
    done = session.execute(update(Person.__table__)
                           .where(Person.id == person.id, Person.version == expected_version)
                           .values(**values, version=version)).rowcount
    if done != 1:
        raise PreconditionFailed(f"person {person_id} changed meanwhile")
    session.execute(insert(PersonChange.__table__), [
        dict(person_id=person.id, version=version, changed_at=now, changed_by=caller.sub, field=name,
             old_value=old[name], new_value=_json_value(values[name])) for name in changed])
    session.refresh(person)
    return person, changed


def person_updated(person: Person, changed: list[str]) -> dict:
    """Ids, the version and the non-personal fields that changed, with their new values: never names, birth
    date, contact data or free text (which changed of those does not show either)."""
    named = [name for name in NON_PERSONAL_FIELDS if name in changed]
    payload = {"person_id": person.id, "municipality": person.municipality, "version": person.version,
               "changed": named}
    payload.update({name: getattr(person, name) for name in named if name != "municipality"})
    return payload


def person_history(connection: Connection, person_id: str, caller: Caller, *, limit: int = 20,
                   cursor: str | None = None) -> dict:
    """The changes of one person's record, oldest first, paged (town rule as for reading the person)."""
    municipality = _town_of(connection, person_id, caller)
    query = select(PersonChange.__table__).where(PersonChange.person_id == str(person_id))
    if cursor:
        (after,) = decode_typed_cursor(cursor, cursor_int)
        query = query.where(PersonChange.id > after)
    rows = [dict(r) for r in connection.execute(query.order_by(PersonChange.id).limit(limit + 1)).mappings()]
    next_cursor = encode_cursor(rows[limit - 1]["id"]) if len(rows) > limit else None
    return {"person_id": str(person_id), "municipality": municipality, "items": rows[:limit],
            "next_cursor": next_cursor}


#: at most this many rows are scored in Python per search (the SQL prefilter's cap; see search_persons)
SEARCH_CANDIDATES = 2000
#: a name at least this alike (matching's similarity of the keys, 0..1) is a hit
SEARCH_MIN_SCORE = 0.8


def _word_starts(column, letter: str):
    """The column's Latin form has a word beginning with `letter` (a literal: it is a-z or 0-9)."""
    return or_(column.like(f"{letter}%"), column.like(f"% {letter}%"))


def _query_score(words: list[matching.Name], whole: matching.Name, row) -> float:
    """How well a query matches one person: each query word against its best name word (and the whole query
    against each whole name), the weakest word counting most."""
    names = [matching.Name("", row["given_name_latin"] or ""), matching.Name("", row["family_name_latin"] or "")]
    parts = [matching.Name("", w) for n in names for w in n.latin.split()] + names
    best = max(matching.similarity(whole, n) for n in names)
    if len(words) > 1:
        per_word = [max(matching.similarity(w, p) for p in parts) for w in words]
        best = max(best, 0.6 * min(per_word) + 0.4 * max(per_word))
    elif words:
        best = max(best, max(matching.similarity(words[0], p) for p in parts))
    return best


def _cursor_score(value) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
        raise InvalidInput("cursor is invalid", {"cursor": ["not a cursor this API issued"]})
    return float(value)


def search_persons(session: Session, caller: Caller, *, q: str | None = None, birth_date=None,
                   birth_year: int | None = None, municipality: str | None = None, limit: int = 20,
                   cursor: str | None = None):
    """Persons of the caller's towns (neither erased nor merged) whose name matches `q`, tolerant of
    transliteration and typos, and/or born on `birth_date` (or in `birth_year`); best first, then by id.
    Returns (persons, cursor). A search by a full date also finds the persons known by that year only: their
    score is halved, so they follow every person born on the day.

    `q` is transliterated (matching.latin) and compared with the stored Latin forms: SQL narrows to persons with
    a name word starting with the first letter of a query word (at most SEARCH_CANDIDATES rows, by id), Python
    scores them (matching.similarity on the spelling-variant keys) and keeps those reaching SEARCH_MIN_SCORE.
    Limits: a typo in the first letter is not found; with more candidates than the cap, narrow by birth_date or
    municipality."""
    towns = sorted(caller.municipalities if municipality is None else caller.municipalities & {municipality})
    query = select(Person.id, Person.given_name_latin, Person.family_name_latin, Person.birth_date).where(
        Person.municipality.in_(towns), Person.erased_at.is_(None), Person.merged_into.is_(None))
    if birth_date is not None:  # persons known by the year only may be this person too
        query = query.where(or_(Person.birth_date == birth_date,
                                and_(Person.birth_date.is_(None), Person.birth_year == birth_date.year)))
    if birth_year is not None:
        query = query.where(Person.birth_year == birth_year)
    latin_q = matching.latin(q) if q else ""
    words = latin_q.split()[:5]
    if q and not words:
        return [], None  # nothing of a name left to compare (e.g. only punctuation)
    if words:
        query = query.where(or_(*(_word_starts(column, w[0]) for w in words
                                  for column in (Person.given_name_latin, Person.family_name_latin))))
    rows = session.execute(query.order_by(Person.id).limit(SEARCH_CANDIDATES)).mappings().all()
    if words:
        whole, prepared = matching.Name("", latin_q), [matching.Name("", w) for w in words]
        ranked = [(round(_query_score(prepared, whole, row), 4), row["id"]) for row in rows]
        ranked = [hit for hit in ranked if hit[0] >= SEARCH_MIN_SCORE]
    else:
        ranked = [(1.0, row["id"]) for row in rows]
    if birth_date is not None:
        year_only = {row["id"] for row in rows if row["birth_date"] is None}
        ranked = [(round(score / 2, 4) if pid in year_only else score, pid) for score, pid in ranked]
    ranked.sort(key=lambda hit: (-hit[0], hit[1]))
    if cursor:
        after_score, after_id = decode_typed_cursor(cursor, _cursor_score, cursor_uuid)
        ranked = [hit for hit in ranked if hit[0] < after_score or (hit[0] == after_score and hit[1] > after_id)]
    page = ranked[:limit]
    next_cursor = encode_cursor(*page[-1]) if len(ranked) > limit else None
    by_id = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_([i for _, i in page])))}
    return [by_id[i] for _, i in page], next_cursor
