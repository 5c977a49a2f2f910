"""Case managers, teams, coverage and absences; automatic assignment of new cases and reassignment by hand.

Capacity (the most active cases a case manager takes): `capacity` if set on the profile, else pro rata of the
hours: round(hours_per_week / KIM_FULL_TIME_HOURS * KIM_CASES_PER_FULL_TIME), e.g. 39 h -> 60, 19.5 h -> 30.
A case manager's share of it in one town follows the hours they work there (coverage hours; when not given,
the weekdays: Mon+Tue of a five-day week in one town = 2/5 of the hours).

Automatic assignment of a new case (see `choose`): among the active case managers who serve the case's town
(a coverage row for it, on any weekday) and are not absent today, and who have room (active cases below their
capacity, and below their share of it in that town), prefer one who speaks a language of the person, then the
lowest load in that town relative to their share there, then the lowest total load relative to capacity; ties by
username. Nobody available: the case waits unassigned in the town's queue, until a team lead assigns it or a
case manager of the town is saved with room (`drain_queue`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.shared.auth import Caller, Role
from services.shared.db import new_id
from services.shared.errors import Conflict, Forbidden, InvalidInput, NotFound, PreconditionFailed
from services.shared.schemas import cursor_uuid, decode_typed_cursor, encode_cursor
from services.shared.settings import Settings

from .models import Absence, Case, CaseAssignment, CaseManager, Coverage, Team

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ABSENCE_KINDS = ("holiday", "sickness", "training", "other")
SYSTEM = "system"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def capacity_of(cm: CaseManager, settings: Settings) -> int:
    """The profile's capacity, else pro rata of the hours (see the module's docstring)."""
    if cm.capacity is not None:
        return cm.capacity
    return round(cm.hours_per_week / settings.full_time_hours * settings.cases_per_full_time)


def _coverage_hours(coverage: list[dict], total_hours: float) -> list[float]:
    """Hours per coverage row: as given, else the total split by weekdays."""
    days = sum(len(c["weekdays"]) for c in coverage if c.get("hours_per_week") is None) or 1
    given = sum(c["hours_per_week"] for c in coverage if c.get("hours_per_week") is not None)
    rest = max(total_hours - given, 0.0)
    return [c["hours_per_week"] if c.get("hours_per_week") is not None
            else round(rest * len(c["weekdays"]) / days, 2) for c in coverage]


# who may write whom ---------------------------------------------------------------------------------------------

def _may_write(caller: Caller, employer: str) -> None:
    """district_admin writes district case managers, team_lead municipal ones."""
    wanted = Role.DISTRICT_ADMIN if employer == "district" else Role.TEAM_LEAD
    if caller.role is not wanted:
        raise Forbidden(f"{employer} case managers are written by a {wanted.value}")


def _towns_of_caller(caller: Caller, coverage: list[dict], field: str = "coverage") -> None:
    outside = {f"{field}.{i}.municipality": ["not one of your municipalities"]
               for i, c in enumerate(coverage) if c["municipality"] not in caller.municipalities}
    if outside:
        raise InvalidInput("a case manager can serve only municipalities of your token", outside)


def _visible(session: Session, caller: Caller, case_manager_id: str) -> CaseManager:
    """A case manager serving (or employed by) one of the caller's towns; another town's answers 404."""
    cm = session.get(CaseManager, str(case_manager_id))
    if cm is None or not (_towns(session, cm) | {cm.employer_municipality}) & caller.municipalities:
        raise NotFound(f"case manager {case_manager_id} not found")
    return cm


def _towns(session: Session, cm: CaseManager) -> set[str]:
    return set(session.scalars(select(Coverage.municipality).where(Coverage.case_manager_id == cm.id)))


def coverage_of(session: Session, cm_id: str) -> list[Coverage]:
    return list(session.scalars(select(Coverage).where(Coverage.case_manager_id == cm_id).order_by(Coverage.id)))


def _set_coverage(session: Session, cm: CaseManager, coverage: list[dict]) -> None:
    seen = set()
    for i, c in enumerate(coverage):
        if c["municipality"] in seen:
            raise InvalidInput("a municipality appears twice in the coverage",
                               {f"coverage.{i}.municipality": ["listed twice: one row per municipality"]})
        seen.add(c["municipality"])
    session.execute(delete(Coverage).where(Coverage.case_manager_id == cm.id))
    for c, hours in zip(coverage, _coverage_hours(coverage, cm.hours_per_week)):
        session.add(Coverage(case_manager_id=cm.id, municipality=c["municipality"], weekdays=list(c["weekdays"]),
                             hours_per_week=hours))


def _set_team(session: Session, cm: CaseManager, team: str | None, lead: bool, now: datetime) -> None:
    if team is not None and session.get(Team, team) is None:
        session.add(Team(id=team, lead_id=None, created_at=now))
        session.flush()
    cm.team_id = team
    if team is not None and lead:
        session.get(Team, team).lead_id = cm.id
    # a lead who leaves the team (or the lead flag) is no longer its lead
    for led in session.scalars(select(Team).where(Team.lead_id == cm.id)):
        if led.id != team or not lead:
            led.lead_id = None


def create_case_manager(session: Session, caller: Caller, data: dict, now: datetime | None = None) -> CaseManager:
    now = now or utcnow()
    _may_write(caller, data["employer"])
    _towns_of_caller(caller, data["coverage"])
    employer_town = data.get("employer_municipality")
    if data["employer"] == "municipality":
        employer_town = employer_town or data["coverage"][0]["municipality"]
        if employer_town not in caller.municipalities:
            raise InvalidInput("the employing municipality must be one of your municipalities",
                               {"employer_municipality": ["not one of your municipalities"]})
    else:
        employer_town = None
    if session.scalar(select(CaseManager.id).where(CaseManager.username == data["username"])):
        raise Conflict(f"a case manager with username {data['username']!r} exists already")
    cm = CaseManager(id=new_id(), username=data["username"], display_name=data["name"], employer=data["employer"],
                     employer_municipality=employer_town, languages=list(data.get("languages") or []),
                     hours_per_week=data["hours_per_week"], capacity=data.get("capacity"),
                     active=data.get("active", True), created_at=now, updated_at=now, version=1)
    session.add(cm)
    try:
        session.flush()
    except IntegrityError:  # a concurrent create with the same username
        raise Conflict(f"a case manager with username {data['username']!r} exists already") from None
    _set_team(session, cm, data.get("team"), data.get("team_lead", False), now)
    _set_coverage(session, cm, data["coverage"])
    session.flush()
    return cm


def update_case_manager(session: Session, caller: Caller, case_manager_id: str, expected_version: int,
                        data: dict) -> CaseManager:
    cm = _visible(session, caller, case_manager_id)
    _may_write(caller, cm.employer)
    if cm.version != expected_version:
        raise PreconditionFailed(f"case manager {case_manager_id} changed meanwhile (version {cm.version})")
    now = utcnow()
    for field, column in (("name", "display_name"), ("languages", "languages"), ("hours_per_week",
                          "hours_per_week"), ("capacity", "capacity"), ("active", "active")):
        if field in data:
            setattr(cm, column, list(data[field]) if field == "languages" else data[field])
    if "team" in data or "team_lead" in data:
        lead = data.get("team_lead", _is_lead(session, cm))
        _set_team(session, cm, data.get("team", cm.team_id), lead, now)
    if "coverage" in data:
        _towns_of_caller(caller, data["coverage"])
        _set_coverage(session, cm, data["coverage"])
    elif "hours_per_week" in data:  # the hours per town follow the new total
        rows = coverage_of(session, cm.id)
        _set_coverage(session, cm, [{"municipality": c.municipality, "weekdays": c.weekdays} for c in rows])
    cm.version += 1
    cm.updated_at = now
    session.flush()
    return cm


def _is_lead(session: Session, cm: CaseManager) -> bool:
    return bool(cm.team_id) and session.scalar(select(Team.lead_id).where(Team.id == cm.team_id)) == cm.id


def get_case_manager(session: Session, caller: Caller, case_manager_id: str) -> CaseManager:
    return _visible(session, caller, case_manager_id)


def list_case_managers(session: Session, caller: Caller, *, municipality=None, team=None, limit=20, cursor=None):
    towns = sorted(caller.municipalities & {municipality} if municipality else caller.municipalities)
    serving = select(Coverage.case_manager_id).where(Coverage.municipality.in_(towns))
    query = select(CaseManager).where(or_(CaseManager.id.in_(serving), CaseManager.employer_municipality.in_(towns)))
    if team:
        query = query.where(CaseManager.team_id == team)
    if cursor:
        (after,) = decode_typed_cursor(cursor, cursor_uuid)
        query = query.where(CaseManager.id > after)
    rows = list(session.scalars(query.order_by(CaseManager.id).limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def describe(session: Session, cm: CaseManager, settings: Settings, today: date | None = None) -> dict:
    """The profile as the API shows it."""
    today = today or date.today()
    return {"id": cm.id, "username": cm.username, "name": cm.display_name, "employer": cm.employer,
            "employer_municipality": cm.employer_municipality, "team": cm.team_id, "team_lead": _is_lead(session, cm),
            "languages": cm.languages, "hours_per_week": cm.hours_per_week,
            "coverage": [{"municipality": c.municipality, "weekdays": c.weekdays, "hours_per_week": c.hours_per_week}
                         for c in coverage_of(session, cm.id)],
            "capacity": capacity_of(cm, settings), "capacity_from_hours": cm.capacity is None,
            "active": cm.active, "absent_today": _absent(session, [cm.id], today) != set(),
            "created_at": cm.created_at, "updated_at": cm.updated_at, "version": cm.version}


def case_manager_saved(session: Session, cm: CaseManager, settings: Settings) -> tuple[str, dict]:
    """The envelope's municipality (the first town served) and the `case_manager_saved` v2 payload."""
    towns = [c.municipality for c in coverage_of(session, cm.id)]
    return (towns[0] if towns else cm.employer_municipality), {
        "case_manager_id": cm.id, "username": cm.username, "employer": cm.employer, "municipalities": towns,
        "capacity": min(capacity_of(cm, settings), 1000), "active": cm.active}


# absences ---------------------------------------------------------------------------------------------------

def add_absence(session: Session, caller: Caller, case_manager_id: str, data: dict) -> Absence:
    cm = _visible(session, caller, case_manager_id)
    if data["ends_on"] < data["starts_on"]:
        raise InvalidInput("an absence ends on or after its first day", {"to": ["before `from`"]})
    deputy_id = str(data["deputy_id"]) if data.get("deputy_id") else None
    if deputy_id is not None:
        if deputy_id == cm.id:
            raise InvalidInput("a case manager cannot deputise for themselves", {"deputy_id": ["the absent one"]})
        try:
            deputy = _visible(session, caller, deputy_id)
        except NotFound:
            raise InvalidInput("no such case manager", {"deputy_id": ["no case manager of your towns"]}) from None
        if not _towns(session, deputy) & _towns(session, cm):
            raise InvalidInput("the deputy must serve a municipality the absent case manager serves",
                               {"deputy_id": ["serves none of the absent case manager's municipalities"]})
    absence = Absence(id=new_id(), case_manager_id=cm.id, kind=data.get("kind") or "other",
                      starts_on=data["starts_on"], ends_on=data["ends_on"], deputy_id=deputy_id, created_at=utcnow(),
                      created_by=caller.sub)
    session.add(absence)
    session.flush()
    return absence


def absences_of(session: Session, caller: Caller, case_manager_id: str) -> list[Absence]:
    cm = _visible(session, caller, case_manager_id)
    return list(session.scalars(select(Absence).where(Absence.case_manager_id == cm.id)
                                .order_by(Absence.starts_on, Absence.id)))


def _absent(session: Session, ids, today: date) -> set[str]:
    return set(session.scalars(select(Absence.case_manager_id).where(
        Absence.case_manager_id.in_(list(ids)), Absence.starts_on <= today, Absence.ends_on >= today)))


# automatic assignment -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    """A case manager as the assignment rule sees them for one town."""

    id: str
    username: str
    team: str | None
    languages: tuple[str, ...]
    capacity: int  # in all towns
    town_capacity: int  # their share in the case's town
    load: int  # active (not closed) cases, in all towns
    town_load: int  # active cases in the case's town
    absent: bool = False
    active: bool = True

    @property
    def has_room(self) -> bool:
        return self.active and not self.absent and self.load < self.capacity and self.town_load < self.town_capacity


def choose(candidates: list[Candidate], languages) -> Candidate | None:
    """The assignment rule (see the module's docstring): None when nobody is available."""
    wanted = set(languages or ())
    available = [c for c in candidates if c.has_room]
    if not available:
        return None
    return min(available, key=lambda c: (not (wanted & set(c.languages)), c.town_load / c.town_capacity,
                                         c.load / c.capacity, c.username))


def candidates_for(session: Session, municipality: str, settings: Settings, today: date) -> list[Candidate]:
    rows = list(session.execute(select(CaseManager, Coverage.hours_per_week)
                                .join(Coverage, Coverage.case_manager_id == CaseManager.id)
                                .where(Coverage.municipality == municipality, CaseManager.active.is_(True))))
    if not rows:
        return []
    ids = [cm.id for cm, _ in rows]
    loads: dict[str, int] = {}
    town_loads: dict[str, int] = {}
    for cm_id, town, count in session.execute(
            select(Case.case_manager_id, Case.municipality, func.count())
            .where(Case.case_manager_id.in_(ids), Case.status != "closed")
            .group_by(Case.case_manager_id, Case.municipality)):
        loads[cm_id] = loads.get(cm_id, 0) + count
        if town == municipality:
            town_loads[cm_id] = count
    absent = _absent(session, ids, today)
    result = []
    for cm, hours in rows:
        capacity = capacity_of(cm, settings)
        share = hours / cm.hours_per_week if cm.hours_per_week else 0.0
        result.append(Candidate(id=cm.id, username=cm.username, team=cm.team_id, languages=tuple(cm.languages),
                                capacity=capacity, town_capacity=math.ceil(capacity * min(share, 1.0)),
                                load=loads.get(cm.id, 0), town_load=town_loads.get(cm.id, 0),
                                absent=cm.id in absent, active=cm.active))
    return result


def _assign(session: Session, case: Case, cm_id: str | None, username: str | None, team: str | None, *,
            automatic: bool, by: str, reason: str | None, now: datetime) -> str | None:
    previous = case.assigned_to
    case.case_manager_id, case.assigned_to, case.team = cm_id, username, team
    case.version += 1
    case.updated_at = now
    session.add(CaseAssignment(case_id=case.id, case_manager_id=cm_id, assigned_to=username,
                               previous_assigned_to=previous, team=team, automatic=automatic, reason=reason,
                               assigned_by=by, assigned_at=now))
    return previous


def auto_assign(session: Session, case: Case, settings: Settings, now: datetime | None = None) -> Case | None:
    """Assign a new (or queued) case by the rule; None when nobody is available (it stays in the queue)."""
    return case if auto_assign_many(session, [case], settings, now) else None


def auto_assign_many(session: Session, cases: list[Case], settings: Settings,
                     now: datetime | None = None) -> list[Case]:
    """Assign new (or queued) cases by the rule (`choose`); the ones nobody has room for stay in their town's
    queue. Each town's candidates are read once and every assignment counts towards the next choice; towns one
    after another, each read after the previous towns' assignments were flushed, so a case manager serving both
    sees their whole load. Returns the assigned cases."""
    now = now or utcnow()
    assigned = []
    towns: dict[str, list[Case]] = {}
    for case in cases:
        towns.setdefault(case.municipality, []).append(case)
    for town, town_cases in towns.items():
        candidates = candidates_for(session, town, settings, now.date())
        for case in town_cases:
            chosen = choose(candidates, case.languages)
            if chosen is None:
                continue  # nobody has room: the rest of the town's cases wait in its queue too
            _assign(session, case, chosen.id, chosen.username, chosen.team, automatic=True, by=SYSTEM,
                    reason=None, now=now)
            candidates[candidates.index(chosen)] = replace(chosen, load=chosen.load + 1,
                                                           town_load=chosen.town_load + 1)
            assigned.append(case)
        session.flush()
    return assigned


def hand_over_cases(session: Session, cm: CaseManager, settings: Settings,
                    now: datetime | None = None) -> list[tuple[Case, str | None]]:
    """A case manager set inactive (they left, or a long leave) keeps no open cases: each goes back to its
    town's queue (history: by `system`, with the reason) and on to a colleague by the assignment rule, or
    waits in the queue. Returns (case, previous username) for the `case_reassigned` events."""
    now = now or utcnow()
    cases = list(session.scalars(select(Case).where(Case.case_manager_id == cm.id, Case.status != "closed")
                                 .order_by(Case.opened_at, Case.id)))
    moved = [(case, _assign(session, case, None, None, None, automatic=True, by=SYSTEM,
                            reason="case manager inactive: handed over", now=now)) for case in cases]
    session.flush()
    auto_assign_many(session, cases, settings, now)
    return moved


def drain_queue(session: Session, municipalities, settings: Settings, limit: int = 100) -> list[Case]:
    """Assign the oldest queued (unassigned, open) cases of the towns while someone has room; at most `limit`
    per call, so one save never holds a long transaction."""
    queued = list(session.scalars(select(Case).where(
        Case.municipality.in_(sorted(municipalities)), Case.assigned_to.is_(None), Case.team.is_(None),
        Case.status != "closed").order_by(Case.opened_at, Case.id).limit(limit)))
    return auto_assign_many(session, queued, settings)


def assign_by_hand(session: Session, case: Case, caller: Caller, case_manager_id: str | None,
                   reason: str) -> tuple[Case, str | None]:
    """A team lead's (re)assignment, with a reason; null puts the case back into the town's queue. The case
    manager must serve the case's town (absent or full ones may still be chosen: the lead's call)."""
    if case.status == "closed":
        raise Conflict("a closed case cannot be reassigned; reopen it first")
    if case_manager_id is None:
        cm_id = username = team = None
    else:
        cm = session.get(CaseManager, str(case_manager_id))
        if cm is None or not (_towns(session, cm) | {cm.employer_municipality}) & caller.municipalities:
            raise InvalidInput("no such case manager", {"case_manager_id": ["no case manager of your towns"]})
        if case.municipality not in _towns(session, cm):
            raise InvalidInput("the case manager does not serve the case's municipality",
                               {"case_manager_id": [f"does not serve {case.municipality}"]})
        if not cm.active:
            raise InvalidInput("the case manager is inactive", {"case_manager_id": ["inactive"]})
        cm_id, username, team = cm.id, cm.username, cm.team_id
    previous = _assign(session, case, cm_id, username, team, automatic=False, by=caller.sub, reason=reason,
                       now=utcnow())
    session.flush()
    return case, previous


def update_languages(session: Session, person_id, languages) -> str | None:
    """`person_updated` changed the person's languages: the case's copy follows (the case id, or None)."""
    case = session.scalar(select(Case).where(Case.person_id == str(person_id)))
    if case is None:
        return None
    case.languages = list(languages or [])
    session.flush()
    return case.id


def assignments_of(session: Session, case_id: str) -> list[CaseAssignment]:
    return list(session.scalars(select(CaseAssignment).where(CaseAssignment.case_id == case_id)
                                .order_by(CaseAssignment.assigned_at, CaseAssignment.id)))


# caseload ---------------------------------------------------------------------------------------------------

def caseload(session: Session, caller: Caller, settings: Settings, *, case_manager_id: str | None = None,
             team: str | None = None) -> dict:
    """Load against capacity: one case manager, or every case manager of a team (the team lead's screen)."""
    if case_manager_id is not None:
        members = [_visible(session, caller, case_manager_id)]
    else:
        members, _ = list_case_managers(session, caller, team=team, limit=1000)
        if not members:
            raise NotFound(f"team {team} not found")
    ids = [cm.id for cm in members]
    counts: dict[str, dict[str, int]] = {cm_id: {} for cm_id in ids}
    for cm_id, status, count in session.execute(
            select(Case.case_manager_id, Case.status, func.count()).where(Case.case_manager_id.in_(ids))
            .group_by(Case.case_manager_id, Case.status)):
        counts[cm_id][status] = count
    absent = _absent(session, ids, date.today())
    rows = []
    for cm in members:
        capacity = capacity_of(cm, settings)
        active = sum(n for status, n in counts[cm.id].items() if status != "closed")
        rows.append({"case_manager_id": cm.id, "username": cm.username, "name": cm.display_name,
                     "capacity": capacity, "active_cases": active,
                     "load": round(active / capacity, 3) if capacity else None,
                     "by_status": counts[cm.id], "absent_today": cm.id in absent, "active": cm.active})
    queued = session.scalar(select(func.count()).select_from(Case).where(
        Case.municipality.in_(sorted(caller.municipalities)), Case.assigned_to.is_(None), Case.team.is_(None),
        Case.status != "closed"))
    return {"team": team if case_manager_id is None else members[0].team_id, "case_managers": rows,
            "unassigned_cases": queued}


# events -----------------------------------------------------------------------------------------------------

def case_assigned(case: Case) -> dict:
    return {"case_id": case.id, "person_id": case.person_id, "municipality": case.municipality,
            "assigned_to": case.assigned_to, "team": case.team}


def case_reassigned(case: Case, previous: str | None) -> dict:
    return {"case_id": case.id, "person_id": case.person_id, "municipality": case.municipality,
            "assigned_to": case.assigned_to, "previous_assigned_to": previous, "team": case.team,
            "reassigned_at": case.updated_at}
