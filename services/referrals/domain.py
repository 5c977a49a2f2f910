"""Referrals: create, step through the lifecycle (lifecycle.py), read, and what consent withdrawal, erasure and
expiry do. Plain Python over SQLAlchemy Core; the service emits the events this module's builders describe."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import Connection, delete, insert, select, update

from services.shared.auth import Caller, Role
from services.shared.db import new_id
from services.shared.errors import Conflict, InvalidInput, NotFound
from services.shared.events import PARTNER_STATUSES
from services.shared.schemas import cursor_datetime, cursor_uuid, decode_typed_cursor, encode_cursor

from . import catalogue, lifecycle
from .matching import LEVEL_WEIGHT, open_needs
from .models import Referral, ReferralTransition

REFERRALS, TRANSITIONS = Referral.__table__, ReferralTransition.__table__
CONSENT_MISSING = ("the person has not granted referral_sharing consent: a referral shares their contact data "
                   "with the provider; record the consent first (POST /v1/persons/{person_id}/consents)")


def now() -> datetime:
    return datetime.now(timezone.utc)


def referral_not_found(referral_id) -> NotFound:
    return NotFound(f"referral {referral_id} not found")


def require_sharing(facts: dict) -> None:
    if not facts.get("referral_sharing"):
        raise Conflict(CONSENT_MISSING.replace("{person_id}", str(facts.get("person_id"))))


def _open(statuses=lifecycle.OPEN_STATUSES):
    return REFERRALS.c.status.in_(sorted(statuses))


def create_referral(connection: Connection, data: dict, profile: dict, facts: dict, caller: Caller) -> dict:
    """A draft referral of the case's person to an offer. `profile` is casework's case_profile (the caller may see
    the case), `facts` intake's referral_facts."""
    require_sharing(facts)
    if profile.get("status") == "closed":
        raise Conflict(f"case {profile['case_id']} is closed: no new referrals")
    try:
        offer = catalogue.get_offer(connection, data["offer_id"])
    except NotFound:
        raise InvalidInput("no such offer", {"offer_id": [f"offer {data['offer_id']} does not exist"]}) from None
    if offer["status"] != "active":
        raise Conflict(f"offer {offer['id']} is paused and takes no referrals now")
    municipality = profile["municipality"]
    if municipality not in offer["municipalities"]:
        raise InvalidInput("the offer does not serve the person's municipality",
                           {"offer_id": [f"offer {offer['id']} does not serve municipality {municipality}"]})
    needs = open_needs(profile)
    area = data.get("area")
    if area is not None and area not in offer["areas"]:
        raise InvalidInput("the offer does not address this area",
                           {"area": [f"offer {offer['id']} addresses {', '.join(offer['areas'])}"]})
    if area is None:
        served = [a for a in offer["areas"] if a in needs]
        area = max(served, key=lambda a: LEVEL_WEIGHT[needs[a]]) if served else offer["areas"][0]
    duplicate = connection.scalar(select(REFERRALS.c.id).where(REFERRALS.c.case_id == str(profile["case_id"]),
                                                               REFERRALS.c.offer_id == offer["id"], _open()))
    if duplicate is not None:
        raise Conflict(f"the case already has an open referral to this offer ({duplicate}); cancel it first")
    at = now()
    referral = {"id": new_id(), "case_id": str(profile["case_id"]), "person_id": str(profile["person_id"]),
                "municipality": municipality, "offer_id": offer["id"], "provider_id": offer["provider_id"],
                "area": area, "goal_id": str(data["goal_id"]) if data.get("goal_id") else None, "status": "draft",
                "note": data.get("note"), "languages": list(facts.get("languages") or []),
                "interpreter_needed": bool(facts.get("interpreter_needed")), "decline_reason": None, "outcome": None,
                "created_by": caller.sub, "created_at": at, "updated_at": at, "sent_at": None, "answer_due": None,
                "version": 1}
    connection.execute(insert(REFERRALS), referral)
    connection.execute(insert(TRANSITIONS), {"referral_id": referral["id"], "from_status": None,
                                             "to_status": "draft", "at": at, "by": caller.sub})
    return with_steps(referral)


def with_steps(referral: dict) -> dict:
    return {**referral, "allowed_steps": lifecycle.allowed_steps(referral["status"])}


def _row(connection: Connection, referral_id: str, lock: bool = False) -> dict | None:
    query = select(REFERRALS).where(REFERRALS.c.id == str(referral_id))
    if lock:
        query = query.with_for_update()
    row = connection.execute(query).mappings().first()
    return dict(row) if row else None


def get_for_staff(connection: Connection, referral_id: str, caller: Caller, lock: bool = False) -> dict:
    """Town rule: another town's referral answers 404 like a missing one."""
    row = _row(connection, referral_id, lock)
    if row is None or row["municipality"] not in caller.municipalities:
        raise referral_not_found(referral_id)
    return row


def get_for_partner(connection: Connection, referral_id: str, caller: Caller, lock: bool = False) -> dict:
    """Provider rule: another provider's referral, or a draft, answers 404 like a missing one."""
    row = _row(connection, referral_id, lock)
    if row is None or not caller.provider_id or row["provider_id"] != caller.provider_id or row["status"] == "draft":
        raise referral_not_found(referral_id)
    return row


def transition(connection: Connection, referral: dict, step: str, by: str, *, actor: str | None = None,
               reason: str | None = None, outcome: str | None = None, expiry_days: float = 14.0) -> dict:
    """Take a step (Conflict 409 naming the allowed steps when out of order); returns the changed referral with
    `previous_status`. The UPDATE is conditional on the status read, so of two concurrent steps one wins."""
    new_status = lifecycle.next_status(referral["status"], step, actor)
    at = now()
    values = {"status": new_status, "updated_at": at, "version": referral["version"] + 1}
    if step == "send":
        values.update(sent_at=at, answer_due=(at + timedelta(days=expiry_days)).date())
    if step == "decline":
        values["decline_reason"] = reason
    if step == "complete":
        values["outcome"] = outcome
    done = connection.execute(update(REFERRALS).where(REFERRALS.c.id == referral["id"],
                                                      REFERRALS.c.status == referral["status"])
                              .values(**values)).rowcount
    if done != 1:
        raise Conflict(f"referral {referral['id']} changed meanwhile; read it again")
    connection.execute(insert(TRANSITIONS), {"referral_id": referral["id"], "from_status": referral["status"],
                                             "to_status": new_status, "at": at, "by": by})
    return {**referral, **values, "previous_status": referral["status"]}


def list_referrals(connection: Connection, caller: Caller, *, case_id=None, status=None, limit: int = 20,
                   cursor: str | None = None) -> tuple[list, str | None]:
    query = (select(REFERRALS).where(REFERRALS.c.municipality.in_(sorted(caller.municipalities)))
             .order_by(REFERRALS.c.created_at.desc(), REFERRALS.c.id.desc()).limit(limit + 1))
    if case_id:
        query = query.where(REFERRALS.c.case_id == str(case_id))
    if status:
        query = query.where(REFERRALS.c.status == status)
    return _page(connection, query, cursor, limit)


def partner_inbox(connection: Connection, caller: Caller, *, status=None, limit: int = 20,
                  cursor: str | None = None) -> tuple[list, str | None]:
    query = (select(REFERRALS).where(REFERRALS.c.provider_id == caller.provider_id, REFERRALS.c.status != "draft")
             .order_by(REFERRALS.c.created_at.desc(), REFERRALS.c.id.desc()).limit(limit + 1))
    if status:
        query = query.where(REFERRALS.c.status == status)
    return _page(connection, query, cursor, limit)


def _page(connection, query, cursor, limit):
    if cursor:
        at, rid = decode_typed_cursor(cursor, cursor_datetime, cursor_uuid)
        query = query.where((REFERRALS.c.created_at < at) | ((REFERRALS.c.created_at == at) & (REFERRALS.c.id < rid)))
    rows = [with_steps(dict(r)) for r in connection.execute(query).mappings()]
    next_cursor = encode_cursor(rows[limit - 1]["created_at"], rows[limit - 1]["id"]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def provider_refers(connection: Connection, person_id: str, provider_id: str | None) -> bool:
    """Whether the provider has a referral of the person it may contact about (sent, accepted, in progress)."""
    if not provider_id:
        return False
    return connection.scalar(select(REFERRALS.c.id).where(
        REFERRALS.c.person_id == str(person_id), REFERRALS.c.provider_id == provider_id,
        _open({"sent", "accepted", "in_progress"})).limit(1)) is not None


def open_referrals_of(connection: Connection, person_id: str) -> list[dict]:
    return [dict(r) for r in connection.execute(select(REFERRALS).where(
        REFERRALS.c.person_id == str(person_id), _open()).order_by(REFERRALS.c.created_at)).mappings()]


def due_for_expiry(connection: Connection, expiry_days: float, at: datetime | None = None) -> list[dict]:
    cutoff = (at or now()) - timedelta(days=expiry_days)
    return [dict(r) for r in connection.execute(select(REFERRALS).where(
        REFERRALS.c.status == "sent", REFERRALS.c.sent_at <= cutoff).order_by(REFERRALS.c.sent_at).limit(500))
        .mappings()]


def erase_referrals_of(connection: Connection, person_id: str) -> int:
    ids = [r for r in connection.scalars(select(REFERRALS.c.id).where(REFERRALS.c.person_id == str(person_id)))]
    if ids:
        connection.execute(delete(TRANSITIONS).where(TRANSITIONS.c.referral_id.in_(ids)))
        connection.execute(delete(REFERRALS).where(REFERRALS.c.id.in_(ids)))
    return len(ids)


def export_referrals_of(connection: Connection, person_id: str, caller: Caller) -> list[dict]:
    """Art. 15: the person's referrals in the caller's towns, each with its status history (who, when)."""
    referrals = [dict(r) for r in connection.execute(select(REFERRALS).where(
        REFERRALS.c.person_id == str(person_id), REFERRALS.c.municipality.in_(sorted(caller.municipalities)))
        .order_by(REFERRALS.c.created_at, REFERRALS.c.id)).mappings()]
    history: dict[str, list[dict]] = {r["id"]: [] for r in referrals}
    if referrals:
        for row in connection.execute(select(TRANSITIONS).where(TRANSITIONS.c.referral_id.in_(list(history)))
                                      .order_by(TRANSITIONS.c.at, TRANSITIONS.c.id)).mappings():
            history[row["referral_id"]].append(dict(row))
    return [{**r, "transitions": history[r["id"]]} for r in referrals]


# events -------------------------------------------------------------------------------------------------------

def referral_event(referral: dict) -> dict:
    """referral_<status> on referrals.events: ids and codes only (no note)."""
    return {"referral_id": referral["id"], "case_id": referral["case_id"], "person_id": referral["person_id"],
            "municipality": referral["municipality"], "offer_id": referral["offer_id"],
            "goal_id": referral.get("goal_id"), "provider_id": referral["provider_id"], "area": referral["area"],
            "status": referral["status"], "previous_status": referral.get("previous_status"),
            "occurred_at": referral["updated_at"], "decline_reason": referral.get("decline_reason"),
            "outcome": referral.get("outcome")}


def partner_event(referral: dict) -> dict:
    """referral.<status>.<provider_id> on kim.partners: no person, no case, no personal data."""
    return {"referral_id": referral["id"], "offer_id": referral["offer_id"], "provider_id": referral["provider_id"],
            "area": referral["area"], "status": referral["status"],
            "previous_status": referral.get("previous_status"), "occurred_at": referral["updated_at"],
            "sent_at": referral.get("sent_at"), "answer_due": referral.get("answer_due"),
            "languages": list(referral.get("languages") or []),
            "interpreter_needed": bool(referral.get("interpreter_needed")),
            "decline_reason": referral.get("decline_reason"), "outcome": referral.get("outcome")}


def tells_partner(referral: dict) -> bool:
    """A provider hears of its referral from `sent` on (a draft that is cancelled never reached it)."""
    return referral["status"] in PARTNER_STATUSES and referral.get("sent_at") is not None


def is_staff(caller: Caller) -> bool:
    return caller.role is not Role.PARTNER
