"""What the referrals service may learn from intake (plain Python, no nameko).

`referral_facts`: the pseudonymous facts matching and a referral need (town rule of the caller), and whether the
person's `referral_sharing` consent is in force. `partner_contact`: the contact data a provider may read for a
referral, only while that consent is in force (GDPR Art. 6/7/9: sharing with partners rests on the consent).
"""
from __future__ import annotations

from marshmallow import Schema, fields
from sqlalchemy import Connection, bindparam, exists, select

from services.shared.auth import Caller
from services.shared.errors import Conflict

from .domain import person_not_found
from .models import Consent, Person

REFERRAL_SHARING = "referral_sharing"

_PERSON = select(Person.__table__).where(Person.id == bindparam("person_id"), Person.erased_at.is_(None),
                                         Person.merged_into.is_(None))
_SHARING = select(exists().where(Consent.person_id == bindparam("person_id"), Consent.purpose == REFERRAL_SHARING,
                                 Consent.withdrawn_at.is_(None)))


class ReferralFactsSchema(Schema):
    person_id = fields.String()
    municipality = fields.String()
    residence_status = fields.String()
    birth_year = fields.Integer(allow_none=True)
    languages = fields.List(fields.String())
    interpreter_needed = fields.Boolean()
    referral_sharing = fields.Boolean()


class PartnerContactSchema(Schema):
    given_name = fields.String()
    family_name = fields.String()
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    preferred_channel = fields.String(allow_none=True)
    languages = fields.List(fields.String())
    interpreter_needed = fields.Boolean(allow_none=True)


def birth_year(person: dict) -> int | None:
    """As `person_registered` has it: `birth_year` (set for every live person, with or without a birth date);
    the birth date's year for a record from before that column."""
    if person.get("birth_year") is not None:
        return person["birth_year"]
    return person["birth_date"].year if person.get("birth_date") is not None else None


def _person(connection: Connection, person_id: str, towns=None) -> dict:
    row = connection.execute(_PERSON, {"person_id": str(person_id)}).mappings().first()
    if row is None or (towns is not None and row["municipality"] not in towns):
        raise person_not_found(person_id)  # another town's person answers like a missing one
    return dict(row)


def sharing_granted(connection: Connection, person_id: str) -> bool:
    return bool(connection.scalar(_SHARING, {"person_id": str(person_id)}))


def referral_facts(connection: Connection, person_id: str, caller: Caller) -> dict:
    person = _person(connection, person_id, caller.municipalities)
    return {"person_id": person["id"], "municipality": person["municipality"],
            "residence_status": person["residence_status"], "birth_year": birth_year(person),
            "languages": list(person["languages"] or []),
            "interpreter_needed": bool(person.get("interpreter_needed")),
            "referral_sharing": sharing_granted(connection, person["id"])}


def partner_contact(connection: Connection, person_id: str) -> dict:
    """The contact data for a provider; Conflict (409) when referral_sharing is not (or no longer) granted. The
    caller (intake's RPC) has checked with referrals that the provider has an open referral of the person."""
    person = _person(connection, person_id)
    if not sharing_granted(connection, person["id"]):
        raise Conflict("the person has not granted (or has withdrawn) referral_sharing consent: no contact data "
                       "may be shared with the provider")
    return {"given_name": person["given_name"], "family_name": person["family_name"], "phone": person.get("phone"),
            "email": person.get("email"), "preferred_channel": person.get("preferred_channel"),
            "languages": list(person["languages"] or []), "interpreter_needed": person.get("interpreter_needed")}
