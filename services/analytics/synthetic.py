"""Synthetic event streams (valid envelopes of the catalogue, random pseudonymous ids): for the tests, the
benchmark and trying the reports out. No real data."""
from __future__ import annotations

import random
import uuid
from datetime import date, datetime, time, timedelta, timezone

from services.shared.barrier_codes import catalogue
from services.shared.events import CASE_OUTCOMES, DECLINE_REASONS, LIFE_AREAS, NEED_LEVELS, build_envelope

# codes of the catalogue (services/shared/data/barrier_codes.csv), as casework records them
BARRIER_CODES = ("no_childcare_place", "integration_course_waiting_list", "no_housing", "qualification_not_recognised",
                 "legal_status_unresolved", "no_transport", "no_health_insurance", "no_digital_access")


def _ts(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour, 0), tzinfo=timezone.utc)


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def envelope(producer, event_type, municipality, payload, at: datetime, rng: random.Random | None = None,
             version: int = 1):
    env = build_envelope(producer, event_type, municipality, payload, occurred_at=at, schema_version=version)
    if rng is not None:  # reproducible ids for a seeded stream
        env["event_id"] = _uid(rng)
    return env


def case_stream(municipality: str, start: date, rng: random.Random, managers=("cm-a", "cm-b", "cm-c"),
                offers=None) -> list[dict]:
    """The events of one person's way through case management: registration, case, assignment, assessment,
    barriers (some resolved), contacts, referrals through the funnel, maybe a closure."""
    offers = offers or [_uid(random.Random(i)) for i in range(4)]
    person, case = _uid(rng), _uid(rng)
    arrival = start - timedelta(days=rng.randint(5, 60))
    day = start
    base = {"case_id": case, "person_id": person, "municipality": municipality}
    out = [envelope("intake", "person_registered", municipality, {
        "person_id": person, "municipality": municipality, "arrival_date": arrival,
        "residence_status": "temporary_protection", "languages": ["uk"], "birth_year": 1980 + rng.randint(0, 30)},
        _ts(day, 8), rng)]
    out.append(envelope("casework", "case_opened", municipality, {**base, "status": "intake",
                                                                  "opened_at": _ts(day, 9)}, _ts(day, 9), rng))
    out.append(envelope("casework", "case_assigned", municipality, {
        "case_id": case, "person_id": person, "municipality": municipality,
        "assigned_to": rng.choice(managers), "team": None}, _ts(day, 9), rng))
    day += timedelta(days=rng.randint(1, 10))
    out.append(envelope("casework", "contact_recorded", municipality, {
        **base, "contact_id": _uid(rng), "occurred_at": _ts(day, 11), "channel": "in_person",
        "duration_minutes": 45, "interpreter_language": None}, _ts(day, 11), rng))
    out.append(envelope("casework", "case_status_changed", municipality, {
        **base, "from_status": "intake", "to_status": "assessment", "changed_at": _ts(day, 12)}, _ts(day, 12), rng))
    out.append(envelope("casework", "assessment_recorded", municipality, {
        **base, "assessment_id": _uid(rng), "assessed_at": _ts(day, 13),
        "needs": [{"area": area, "level": rng.choice(NEED_LEVELS)} for area in rng.sample(LIFE_AREAS, 3)]},
        _ts(day, 13), rng))
    for code in rng.sample(BARRIER_CODES, rng.randint(0, 3)):
        barrier = {**base, "barrier_id": _uid(rng), "code": code, "area": catalogue()[code]["area"],
                   "recorded_on": day}
        out.append(envelope("casework", "barrier_recorded", municipality, barrier, _ts(day, 14), rng))
        if rng.random() < 0.5:
            resolved = day + timedelta(days=rng.randint(3, 80))
            out.append(envelope("casework", "barrier_resolved", municipality, {**barrier, "resolved_on": resolved},
                                _ts(resolved, 9), rng))
    day += timedelta(days=rng.randint(1, 14))
    out.append(envelope("casework", "case_status_changed", municipality, {
        **base, "from_status": "assessment", "to_status": "implementation", "changed_at": _ts(day, 9)},
        _ts(day, 9), rng))
    for _ in range(rng.randint(0, 2)):
        referral = {**base, "referral_id": _uid(rng), "offer_id": rng.choice(offers), "goal_id": None,
                    "provider_id": "provider-1", "area": rng.choice(LIFE_AREAS)}
        steps = [("sent", None)]
        roll = rng.random()
        if roll < 0.2:
            steps.append(("declined", "declined"))
        elif roll < 0.9:
            steps += [("accepted", None), ("in_progress", None)]
            if rng.random() < 0.7:
                steps.append(("completed", None))
        previous, when = None, day
        for status, _ in steps:
            when = when + timedelta(days=rng.randint(0, 12))
            out.append(envelope("referrals", f"referral_{status}", municipality, {
                **referral, "status": status, "previous_status": previous, "occurred_at": _ts(when, 10),
                "decline_reason": rng.choice(DECLINE_REASONS) if status == "declined" else None,
                "outcome": "goal_reached" if status == "completed" else None}, _ts(when, 10), rng))
            previous = status
    if rng.random() < 0.4:
        day += timedelta(days=rng.randint(20, 120))
        total = rng.randint(1, 5)
        out.append(envelope("casework", "case_status_changed", municipality, {
            **base, "from_status": "implementation", "to_status": "closed", "changed_at": _ts(day, 15)},
            _ts(day, 15), rng))
        out.append(envelope("casework", "case_closed", municipality, {
            **base, "closed_at": _ts(day, 15), "outcome": rng.choice(CASE_OUTCOMES), "goals_total": total,
            "goals_reached": rng.randint(0, total)}, _ts(day, 15), rng))
    return out


def manager_id(username: str) -> str:
    """A synthetic case manager's id: a UUID of their username (cases are assigned by the username)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kim:case-manager:{username}"))


def managers_stream(municipalities, rng: random.Random, managers=("cm-a", "cm-b", "cm-c")) -> list[dict]:
    return [envelope("casework", "case_manager_saved", municipalities[0], {
        "case_manager_id": manager_id(who), "username": who, "employer": "municipality",
        "municipalities": list(municipalities), "capacity": 40, "active": True}, _ts(date(2026, 1, 2)), rng,
        version=2) for who in managers]


def stream(cases: int, municipalities, seed: int = 1, first_day: date = date(2026, 4, 1), days: int = 180):
    """The events of `cases` cases spread over `days`, in producer order (each case's events in time order)."""
    rng = random.Random(seed)
    out = managers_stream(list(municipalities), rng)
    for _ in range(cases):
        out += case_stream(rng.choice(list(municipalities)), first_day + timedelta(days=rng.randint(0, days)), rng)
    return out
