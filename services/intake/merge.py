"""Merging two records of one person (a duplicate registered twice). Plain Python, like domain.py.

`merge_person(person_id, into)` merges the record `person_id` into the survivor `into`:

- the merged-away record stays (GET answers it, with `merged_into` set) but is read-only: rectification and
  consents answer 409 naming the survivor; search, the duplicate check and households no longer see it;
- fields empty on the survivor are filled from the merged record (the address as a whole; a survivor known
  by its birth year only takes the merged record's full date of the same year); each filled field is a
  history row of the survivor (who, when, old -> new), as are `merged_from`, `consents_moved` and
  `household_moved`; the merged record gets a `merged_into` row;
- consent records move to the survivor for each purpose of which the survivor has no record (the others stay
  with the merged record as its history); the household membership moves when the survivor is in no household,
  else the merged record leaves its household (one person lives in one household);
- both records must be live persons of one municipality; both versions go up by one.

Both rows are locked in id order (PostgreSQL), so two crossing merges (A into B, B into A) cannot both succeed
and cannot deadlock.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from services.shared.auth import Caller
from services.shared.errors import Conflict, InvalidInput, PreconditionFailed

from .domain import _json_value, person_not_found
from .models import Consent, HouseholdMember, Person, PersonChange

#: fields a merge fills on the survivor when they are empty there
FILLABLE = ("sex", "nationalities", "mother_tongues", "german_level", "municipality_arrival_date", "phone",
            "email", "preferred_channel", "interpreter_needed", "residence_valid_until")
#: the address is filled as a whole, never mixed from two records
ADDRESS = ("address_street", "address_postal_code", "address_city")
#: history rows a merge writes besides the filled fields
MERGED_INTO, MERGED_FROM, CONSENTS_MOVED, HOUSEHOLD_MOVED = ("merged_into", "merged_from", "consents_moved",
                                                            "household_moved")

_BOTH = (select(Person).where(Person.id.in_(bindparam("ids", expanding=True)),
                              Person.municipality.in_(bindparam("towns", expanding=True)),
                              Person.erased_at.is_(None))
         .order_by(Person.id).with_for_update())


def _fill(survivor: Person, merged: Person) -> dict:
    """{column: value} of the survivor's empty fields the merged record knows."""
    filled = {name: getattr(merged, name) for name in FILLABLE
              if getattr(survivor, name) is None and getattr(merged, name) is not None}
    if all(getattr(survivor, c) is None for c in ADDRESS) and any(getattr(merged, c) is not None for c in ADDRESS):
        filled.update({c: getattr(merged, c) for c in ADDRESS})
    if survivor.birth_date is None and merged.birth_date is not None \
            and merged.birth_date.year == survivor.birth_year:
        filled["birth_date"] = merged.birth_date
    return filled


def merge_person(session: Session, person_id: str, into: str, caller: Caller,
                 expected_version: int | None = None) -> dict:
    """Merge `person_id` into `into` (see the module's doc); returns the merge as PersonMergeSchema dumps it.
    404: `person_id` missing, erased or of another town. 412: its version is not `expected_version`.
    422 naming `into`: itself, missing/erased/another town's, or of another municipality. 409: either record
    was merged already (the detail names where to)."""
    person_id, into = str(person_id), str(into)
    if person_id == into:
        raise InvalidInput("a person cannot be merged into itself", {"into": ["must name another person"]})
    rows = {p.id: p for p in session.scalars(_BOTH, {"ids": sorted({person_id, into}),
                                                     "towns": sorted(caller.municipalities)})}
    merged, survivor = rows.get(person_id), rows.get(into)
    if merged is None:
        raise person_not_found(person_id)
    if merged.merged_into:
        raise Conflict(f"person {person_id} was already merged into {merged.merged_into}")
    if expected_version is not None and merged.version != expected_version:
        raise PreconditionFailed(f"person {person_id} changed meanwhile (version {merged.version})")
    if survivor is None:
        raise InvalidInput("into is not a registered person", {"into": ["no such person"]})
    if survivor.merged_into:
        raise Conflict(f"person {into} was itself merged into {survivor.merged_into}: merge into "
                       f"{survivor.merged_into} instead")
    if survivor.municipality != merged.municipality:
        raise InvalidInput("the two persons live in different municipalities",
                           {"into": [f"must be a person of {merged.municipality}, as {person_id} is"]})

    now = datetime.now(timezone.utc)
    filled = _fill(survivor, merged)
    has = {c.purpose for c in survivor.consents}
    moving = [c for c in merged.consents if c.purpose not in has]
    if moving:
        session.execute(update(Consent.__table__).where(Consent.id.in_([c.id for c in moving]))
                        .values(person_id=into))
    households = dict(session.execute(select(HouseholdMember.person_id, HouseholdMember.household_id)
                                      .where(HouseholdMember.person_id.in_([person_id, into]))).all())
    household_moved = person_id in households and into not in households
    if household_moved:
        session.execute(update(HouseholdMember.__table__).where(HouseholdMember.person_id == person_id)
                        .values(person_id=into))
    elif person_id in households:  # the survivor lives in a household already: the record leaves its own
        session.execute(delete(HouseholdMember.__table__).where(HouseholdMember.person_id == person_id))

    versions = {person_id: merged.version + 1, into: survivor.version + 1}
    for row, values in ((merged, {"merged_into": into}), (survivor, filled)):
        done = session.execute(update(Person.__table__).where(Person.id == row.id, Person.version == row.version)
                               .values(**values, version=versions[row.id])).rowcount
        if done != 1:  # SQLite has no row locks: a concurrent change shows here
            raise PreconditionFailed(f"person {row.id} changed meanwhile")
    history = [(person_id, MERGED_INTO, None, into), (into, MERGED_FROM, None, person_id)]
    history += [(into, name, None, _json_value(value)) for name, value in filled.items()]
    if moving:
        history.append((into, CONSENTS_MOVED, None, sorted({c.purpose for c in moving})))
    if household_moved:
        history.append((into, HOUSEHOLD_MOVED, None, households[person_id]))
    session.execute(insert(PersonChange.__table__), [
        dict(person_id=pid, version=versions[pid], changed_at=now, changed_by=caller.sub, field=name,
             old_value=old, new_value=new) for pid, name, old, new in history])
    session.expire_all()
    return merge_view(session, person_id, caller)


def merge_view(session: Session, person_id: str, caller: Caller) -> dict:
    """A merge as merge_person answered it, rebuilt from the history (for the retry of a merge with the same
    Idempotency-Key)."""
    merged = session.scalar(select(Person).where(Person.id == str(person_id),
                                                 Person.municipality.in_(sorted(caller.municipalities))))
    if merged is None or not merged.merged_into:
        raise person_not_found(person_id)
    survivor = session.get(Person, merged.merged_into)
    marks = session.execute(select(PersonChange.version, PersonChange.changed_at, PersonChange.new_value).where(
        PersonChange.person_id == survivor.id, PersonChange.field == MERGED_FROM)).all()
    mark = next(m for m in marks if m.new_value == merged.id)
    changes = session.execute(select(PersonChange.field, PersonChange.new_value).where(
        PersonChange.person_id == survivor.id, PersonChange.version == mark.version)).all()
    named = {c.field: c.new_value for c in changes}
    filled = [f for f in named if f not in (MERGED_FROM, CONSENTS_MOVED, HOUSEHOLD_MOVED)]
    return {"person_id": merged.id, "into_person_id": survivor.id, "municipality": merged.municipality,
            "merged_at": mark.changed_at, "filled": sorted({"address" if f in ADDRESS else f for f in filled}),
            "consents_moved": named.get(CONSENTS_MOVED) or [], "household_moved": HOUSEHOLD_MOVED in named,
            "survivor": survivor}


def person_merged(merge: dict) -> dict:
    """Ids and the time only."""
    return {"person_id": merge["person_id"], "into_person_id": merge["into_person_id"],
            "municipality": merge["municipality"], "merged_at": merge["merged_at"]}
