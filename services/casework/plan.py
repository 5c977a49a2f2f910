"""The case plan (Hilfeplan): goals per life area and the actions under them. An action is a task (for the
case manager, the person or a third party) or a referral to an offer, mirrored from the referrals service's
events (`referral_<status>`)."""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import Connection, and_, false, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.shared.auth import Caller
from services.shared.db import new_id
from services.shared.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from services.shared.events import REFERRAL_STATUSES

from .assessment import working_case
from .domain import get_case, visibility
from .models import Action, Case, Goal

#: a referral's statuses in lifecycle order: a mirrored status only ever moves forward, and a terminal one
#: never changes (events may arrive out of order, or twice)
REFERRAL_RANK = {"draft": 0, "sent": 1, "accepted": 2, "in_progress": 3, "declined": 4, "completed": 4,
                 "cancelled": 4, "expired": 4}
TERMINAL_REFERRAL = frozenset(status for status, rank in REFERRAL_RANK.items() if rank == 4)
assert set(REFERRAL_RANK) == set(REFERRAL_STATUSES)
#: the action statuses that still expect something to happen (so can be overdue)
OPEN_ACTION = ("open", "draft", "sent", "accepted", "in_progress")


def _now():
    return datetime.now(timezone.utc)


def _check_version(record, expected_version: int, what: str):
    if record.version != expected_version:
        raise PreconditionFailed(f"{what} {record.id} changed meanwhile (version {record.version})")


def create_goal(session: Session, case_id: str, caller: Caller, *, area: str, description: str,
                target_date: date | None, agreed_with_person: bool) -> Goal:
    case = working_case(session, case_id, caller, ("closed",), "planning")
    now = _now()
    goal = Goal(id=new_id(), case_id=case.id, area=area, description=description, target_date=target_date,
                status="open", agreed_with_person=agreed_with_person, created_at=now, created_by=caller.sub,
                updated_at=now, version=1)
    session.add(goal)
    session.flush()
    return goal


def _goal(session: Session, case: Case, goal_id: str) -> Goal:
    goal = session.scalar(select(Goal).where(Goal.id == str(goal_id), Goal.case_id == case.id))
    if goal is None:
        raise NotFound(f"goal {goal_id} not found")
    return goal


def update_goal(session: Session, case_id: str, goal_id: str, caller: Caller, expected_version: int,
                changes: dict) -> Goal:
    if not changes:
        raise InvalidInput("nothing to change", {"body": ["name at least one field"]})
    case = working_case(session, case_id, caller, ("closed",), "changing the plan")
    goal = _goal(session, case, goal_id)
    _check_version(goal, expected_version, "goal")
    for key, value in changes.items():
        setattr(goal, key, value)
    goal.version += 1
    goal.updated_at = _now()
    session.flush()
    return goal


def create_action(session: Session, case_id: str, goal_id: str, caller: Caller, *, assignee: str,
                  description: str, due_on: date | None) -> Action:
    case = working_case(session, case_id, caller, ("closed",), "planning")
    goal = _goal(session, case, goal_id)
    if goal.status != "open":
        raise Conflict(f"goal {goal.id} is {goal.status}: reopen it to add actions")
    action = Action(id=new_id(), goal_id=goal.id, case_id=case.id, kind="task", assignee=assignee,
                    description=description, due_on=due_on, status="open", created_at=_now(),
                    created_by=caller.sub, version=1)
    session.add(action)
    session.flush()
    return action


def update_action(session: Session, case_id: str, action_id: str, caller: Caller, expected_version: int,
                  changes: dict) -> Action:
    if not changes:
        raise InvalidInput("nothing to change", {"body": ["name at least one field"]})
    case = working_case(session, case_id, caller, ("closed",), "changing the plan")
    action = session.scalar(select(Action).where(Action.id == str(action_id), Action.case_id == case.id))
    if action is None:
        raise NotFound(f"action {action_id} not found")
    if action.kind == "referral":
        raise Conflict(f"action {action.id} is a referral: change it through the referral")
    _check_version(action, expected_version, "action")
    for key, value in changes.items():
        setattr(action, key, value)
    if "status" in changes:
        action.done_at = _now() if changes["status"] == "done" else None
    action.version += 1
    session.flush()
    return action


def action_view(action: Action, today: date | None = None) -> dict:
    today = today or date.today()
    view = {column: getattr(action, column) for column in
            ("id", "goal_id", "case_id", "kind", "assignee", "description", "due_on", "status", "referral_id",
             "offer_id", "done_at", "created_at", "created_by", "version")}
    view["overdue"] = action.due_on is not None and action.due_on < today and action.status in OPEN_ACTION
    return view


def goal_view(goal: Goal, actions: list[dict] = (), today: date | None = None) -> dict:
    today = today or date.today()
    view = {column: getattr(goal, column) for column in
            ("id", "case_id", "area", "description", "target_date", "status", "agreed_with_person",
             "created_at", "created_by", "updated_at", "version")}
    view["overdue"] = goal.status == "open" and goal.target_date is not None and goal.target_date < today
    view["actions"] = list(actions)
    return view


def plan_of(session: Session, case_id: str, today: date | None = None) -> dict:
    today = today or date.today()
    goals = list(session.scalars(select(Goal).where(Goal.case_id == case_id)
                                 .order_by(Goal.created_at, Goal.id)))
    actions = list(session.scalars(select(Action).where(Action.case_id == case_id)
                                   .order_by(Action.created_at, Action.id)))
    per_goal: dict = {goal.id: [] for goal in goals}
    loose = []
    for action in actions:
        view = action_view(action, today)
        (per_goal[action.goal_id] if action.goal_id in per_goal else loose).append(view)
    views = [goal_view(goal, per_goal[goal.id], today) for goal in goals]
    overdue = sum(g["overdue"] for g in views) + sum(a["overdue"] for a in (*loose, *(
        a for g in views for a in g["actions"])))
    return {"case_id": case_id, "goals": views, "actions_without_goal": loose, "overdue": overdue}


def get_plan(session: Session, case_id: str, caller: Caller, today: date | None = None) -> dict:
    return plan_of(session, get_case(session, case_id, caller).id, today)


def my_cases(caller: Caller):
    """The caller's cases: a case manager's own (assigned to them); others: every case they may see."""
    visible, params = visibility(caller)
    if caller.role.value == "case_manager":
        return and_(visible, Case.assigned_to == caller.sub), params
    return visible, params


def overdue_items(session: Session, caller: Caller, today: date | None = None, limit: int = 500) -> list[dict]:
    """Open goals past their target date and open actions past their due date, across the caller's cases."""
    today = today or date.today()
    mine, params = my_cases(caller)
    cases = select(Case.id).where(mine, Case.status != "closed")
    goals = session.execute(
        select(Goal.id, Goal.case_id, Goal.target_date, Goal.status)
        .where(Goal.case_id.in_(cases), Goal.status == "open", Goal.target_date < today)
        .order_by(Goal.target_date, Goal.id).limit(limit), params)
    actions = session.execute(
        select(Action.id, Action.case_id, Action.goal_id, Action.due_on, Action.status)
        .where(Action.case_id.in_(cases), Action.status.in_(OPEN_ACTION), Action.due_on < today)
        .order_by(Action.due_on, Action.id).limit(limit), params)
    items = [{"kind": "goal", "id": g.id, "case_id": g.case_id, "goal_id": None, "due_on": g.target_date,
              "status": g.status} for g in goals]
    items += [{"kind": "action", "id": a.id, "case_id": a.case_id, "goal_id": a.goal_id, "due_on": a.due_on,
               "status": a.status} for a in actions]
    return sorted(items, key=lambda item: (item["due_on"], item["id"]))[:limit]


# referrals, mirrored from the referrals service's events ------------------------------------------------------

_INSERT = {name: dialect.insert(Action.__table__).on_conflict_do_nothing(index_elements=["referral_id"])
           for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))}


def mirror_referral(connection: Connection, event: dict) -> str | None:
    """Upsert the referral's action (keyed by referral_id). The status only moves forward: a late `sent`
    after `accepted`, or anything after a terminal status, changes nothing. Returns the status now mirrored,
    None when the case is not (any more) here."""
    case_id = str(event["case_id"])
    if connection.scalar(select(Case.id).where(Case.id == case_id)) is None:
        return None  # erased, or never opened here: nothing to keep
    goal_id = str(event["goal_id"]) if event.get("goal_id") else None
    if goal_id and connection.scalar(select(Goal.id).where(Goal.id == goal_id, Goal.case_id == case_id)) is None:
        goal_id = None  # not a goal of this case's plan: keep the referral, unattached
    status, referral_id = event["status"], str(event["referral_id"])
    now = _now()
    inserted = connection.execute(_INSERT[connection.dialect.name], {
        "id": new_id(), "goal_id": goal_id, "case_id": case_id, "kind": "referral", "assignee": None,
        "description": None, "due_on": None, "status": status, "referral_id": referral_id,
        "offer_id": str(event["offer_id"]), "done_at": now if status in TERMINAL_REFERRAL else None,
        "created_at": now, "created_by": "referrals", "version": 1}).rowcount == 1
    if not inserted:
        earlier = [s for s, rank in REFERRAL_RANK.items() if rank < REFERRAL_RANK[status]]
        values = {"status": status, "version": Action.version + 1,
                  "done_at": now if status in TERMINAL_REFERRAL else None}
        if goal_id:
            values["goal_id"] = goal_id
        # one conditional UPDATE: concurrent deliveries cannot move the status backwards
        connection.execute(update(Action.__table__).where(Action.referral_id == referral_id,
                                                          Action.status.in_(earlier) if earlier else false())
                           .values(**values))
    return connection.scalar(select(Action.status).where(Action.referral_id == referral_id))


def overdue_count_by_case(session: Session, case_ids: list[str], today: date) -> dict[str, int]:
    """How many goals and actions of each case are overdue (for the worklist)."""
    counts: dict[str, int] = {}
    if not case_ids:
        return counts
    for case_id, n in session.execute(
            select(Goal.case_id, func.count()).where(Goal.case_id.in_(case_ids), Goal.status == "open",
                                                     Goal.target_date < today).group_by(Goal.case_id)):
        counts[case_id] = counts.get(case_id, 0) + n
    for case_id, n in session.execute(
            select(Action.case_id, func.count()).where(Action.case_id.in_(case_ids),
                                                       Action.status.in_(OPEN_ACTION), Action.due_on < today)
            .group_by(Action.case_id)):
        counts[case_id] = counts.get(case_id, 0) + n
    return counts
