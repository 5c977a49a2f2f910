"""The calling case manager's worklist for a day: the towns they serve that weekday, the day's appointments,
and their cases with the next due item (action, goal, follow-up or appointment), overdue ones first."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.shared.auth import Caller

from .contacts import NOT_MONITORED, _appointment
from .models import Action, Case, CaseManager, Contact, Coverage, Goal
from .plan import OPEN_ACTION, my_cases

#: the district's day: appointments "of the day" are those between local midnights
LOCAL = ZoneInfo("Europe/Berlin")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_CASES = 1000


def towns_on(session: Session, username: str, day: date) -> list[str]:
    """The municipalities the case manager serves on that weekday (their coverage)."""
    managers = CaseManager.__table__
    # the case manager's token `sub` is their username (or, without one, their id)
    key = managers.c.username if "username" in managers.c else managers.c.id
    weekday = WEEKDAYS[day.weekday()]
    rows = session.execute(select(Coverage.municipality, Coverage.weekdays)
                           .join(managers, managers.c.id == Coverage.case_manager_id).where(key == username))
    return sorted({town for town, weekdays in rows if weekday in (weekdays or [])})


def worklist(session: Session, caller: Caller, day: date, no_contact_days: int,
             now: datetime | None = None) -> dict:
    start = datetime.combine(day, time.min, LOCAL)
    end = start + timedelta(days=1)
    now = now or datetime.now(LOCAL)
    mine, params = my_cases(caller)
    cases = list(session.execute(
        select(Case.id, Case.person_id, Case.municipality, Case.status, Case.follow_up_on, Case.last_contact_at,
               Case.opened_at).where(mine, Case.status != "closed").order_by(Case.id).limit(MAX_CASES), params))
    ids = [c.id for c in cases]
    due: dict[str, list] = {case_id: [] for case_id in ids}
    overdue: dict[str, int] = {case_id: 0 for case_id in ids}
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        for row in session.execute(select(Action.id, Action.case_id, Action.due_on)
                                   .where(Action.case_id.in_(chunk), Action.status.in_(OPEN_ACTION),
                                          Action.due_on.is_not(None))):
            due[row.case_id].append(("action", row.id, row.due_on))
        for row in session.execute(select(Goal.id, Goal.case_id, Goal.target_date)
                                   .where(Goal.case_id.in_(chunk), Goal.status == "open",
                                          Goal.target_date.is_not(None))):
            due[row.case_id].append(("goal", row.id, row.target_date))
        for row in session.execute(select(Contact.id, Contact.case_id, Contact.occurred_at)
                                   .where(Contact.case_id.in_(chunk), Contact.status == "planned",
                                          Contact.occurred_at >= start)):
            due[row.case_id].append(("appointment", row.id, _aware(row.occurred_at).astimezone(LOCAL).date()))
    for case_id, items in due.items():
        overdue[case_id] = sum(1 for kind, _, on in items if kind in ("action", "goal") and on < day)
    limit = now - timedelta(days=no_contact_days)
    views = []
    for c in cases:
        items = list(due[c.id])
        if c.follow_up_on is not None:
            items.append(("follow_up", None, c.follow_up_on))
        first = min(items, key=lambda item: (item[2], item[0], item[1] or "")) if items else None
        last = c.last_contact_at or c.opened_at
        views.append({
            "case_id": c.id, "person_id": c.person_id, "municipality": c.municipality, "status": c.status,
            "next_due": first and {"kind": first[0], "id": first[1], "due_on": first[2],
                                   "overdue": first[2] < day},
            "overdue": overdue[c.id], "last_contact_at": c.last_contact_at,
            "no_contact_flag": c.status not in NOT_MONITORED and _aware(last) < limit})
    views.sort(key=lambda v: (v["next_due"] is None, v["next_due"]["due_on"] if v["next_due"] else day,
                              str(v["case_id"])))
    visible, vparams = my_cases(caller)
    today = session.execute(
        select(Contact, Case.person_id, Case.municipality).join(Case, Case.id == Contact.case_id)
        .where(visible, Contact.case_manager_id == caller.sub, Contact.status == "planned",
               Contact.occurred_at >= start, Contact.occurred_at < end)
        .order_by(Contact.occurred_at, Contact.id), vparams)
    return {"date": day, "case_manager": caller.sub, "municipalities_today": towns_on(session, caller.sub, day),
            "appointments": [_appointment(contact, person_id, town) for contact, person_id, town in today],
            "cases": views}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
