"""Households: persons of one municipality living together, each with a relation to the household's head.
Plain Python, like domain.py. A person is in one household at most; members are persons of the caller's towns
(another town's person is refused exactly like a missing one: 422 naming the member, revealing nothing)."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Connection, bindparam, insert, select

from services.shared.auth import Caller
from services.shared.db import new_id
from services.shared.errors import Conflict, InvalidInput, NotFound

from .models import Household, HouseholdMember, Person

_INSERT_HOUSEHOLD = insert(Household.__table__)
_INSERT_MEMBER = insert(HouseholdMember.__table__)
# live persons of the caller's towns; locked (PostgreSQL) so two requests cannot place one person twice
_PERSON_TOWNS = (select(Person.id, Person.municipality)
                 .where(Person.id.in_(bindparam("ids", expanding=True)),
                        Person.municipality.in_(bindparam("towns", expanding=True)),
                        Person.erased_at.is_(None), Person.merged_into.is_(None))
                 .with_for_update())
_IN_A_HOUSEHOLD = select(HouseholdMember.person_id).where(
    HouseholdMember.person_id.in_(bindparam("ids", expanding=True)))
_HOUSEHOLD = select(Household.id, Household.municipality, Household.created_at).where(
    Household.id == bindparam("household_id"), Household.municipality.in_(bindparam("towns", expanding=True)))
_MEMBERS = select(HouseholdMember.person_id, HouseholdMember.relation, HouseholdMember.added_at).where(
    HouseholdMember.household_id == bindparam("household_id")).order_by(HouseholdMember.added_at,
                                                                         HouseholdMember.person_id)


def household_not_found(household_id) -> NotFound:
    """The one answer for a missing household and another town's."""
    return NotFound(f"household {household_id} not found")


def _towns_of_members(connection: Connection, person_ids: list[str], fields: list[str], caller: Caller) -> dict:
    """{person_id: municipality}; a person missing, erased, merged or of another town -> 422 naming its field."""
    found = dict(connection.execute(_PERSON_TOWNS, {"ids": person_ids,
                                                    "towns": sorted(caller.municipalities)}).all())
    unknown = {f: ["no such person"] for f, pid in zip(fields, person_ids) if pid not in found}
    if unknown:
        raise InvalidInput("a member is not a registered person", unknown)
    return found


def _not_in_a_household(connection: Connection, person_ids: list[str]) -> None:
    taken = sorted(connection.scalars(_IN_A_HOUSEHOLD, {"ids": person_ids}).all())
    if taken:
        raise Conflict(f"already in a household: {', '.join(taken)}")


def create_household(connection: Connection, data: dict, caller: Caller) -> dict:
    """A new household of the given members (all of one town, none in another household)."""
    members = data["members"]
    ids = [str(m["person_id"]) for m in members]
    fields = [f"members.{i}.person_id" for i in range(len(ids))]
    twice = {f: ["listed twice"] for i, (f, pid) in enumerate(zip(fields, ids)) if pid in ids[:i]}
    if twice:
        raise InvalidInput("a member is listed twice", twice)
    towns = _towns_of_members(connection, ids, fields, caller)
    if len(set(towns.values())) != 1:
        raise InvalidInput("members live in different municipalities",
                           {"members": ["all members must be persons of one municipality"]})
    _not_in_a_household(connection, ids)
    now = datetime.now(timezone.utc)
    household = dict(id=new_id(), municipality=towns[ids[0]], created_at=now, created_by=caller.sub)
    connection.execute(_INSERT_HOUSEHOLD, household)
    rows = [dict(household_id=household["id"], person_id=pid, relation=m["relation"], added_at=now)
            for pid, m in zip(ids, members)]
    connection.execute(_INSERT_MEMBER, rows)
    return get_household(connection, household["id"], caller)


def add_member(connection: Connection, household_id: str, data: dict, caller: Caller) -> dict:
    """Add one person (of the household's town, in no household yet)."""
    household = _household(connection, household_id, caller)
    person_id = str(data["person_id"])
    towns = _towns_of_members(connection, [person_id], ["person_id"], caller)
    if towns[person_id] != household["municipality"]:
        raise InvalidInput("the person lives in another municipality",
                           {"person_id": ["must be a person of the household's municipality"]})
    _not_in_a_household(connection, [person_id])
    row = dict(household_id=household["id"], person_id=person_id, relation=data["relation"],
               added_at=datetime.now(timezone.utc))
    connection.execute(_INSERT_MEMBER, row)
    return {**row, "municipality": household["municipality"]}


def membership(connection: Connection, household_id: str, person_id: str, caller: Caller) -> dict:
    """One member as add_member answers it (for the retry of an add with the same Idempotency-Key)."""
    household = get_household(connection, household_id, caller)
    (member,) = [m for m in household["members"] if m["person_id"] == person_id]
    return {**member, "household_id": household["id"], "municipality": household["municipality"]}


def _household(connection: Connection, household_id: str, caller: Caller) -> dict:
    row = connection.execute(_HOUSEHOLD, {"household_id": str(household_id),
                                          "towns": sorted(caller.municipalities)}).mappings().first()
    if row is None:
        raise household_not_found(household_id)
    return dict(row)


def get_household(connection: Connection, household_id: str, caller: Caller) -> dict:
    household = _household(connection, household_id, caller)
    members = [dict(r) for r in connection.execute(_MEMBERS, {"household_id": household["id"]}).mappings()]
    return {**household, "members": members}
