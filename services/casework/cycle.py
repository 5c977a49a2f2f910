"""The case-management cycle as an explicit state machine: which phase may follow which, and the steps that
record each change (who, when, why) in `case_transitions`.

    intake → assessment → planning → implementation → monitoring → closed
                 ↑______________|  ↑_____________|  ↑___________|         (steps back that case work needs)
    any open phase → paused → back to the phase it paused from (cases.paused_from)
    any open phase → closed (POST /v1/cases/{id}/closure: outcome and evaluation; a person may move away or
                     decline further support at any point)
    closed → reopened (within KIM_CASE_REOPEN_DAYS of closing) → assessment | planning | implementation | ...
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.shared.errors import Conflict, InvalidInput

from .models import Case, CaseTransition, Goal

#: the phases a case is worked in (it can be paused or closed from each)
OPEN_PHASES = ("intake", "assessment", "planning", "implementation", "monitoring", "reopened")

#: phase -> the phases it may move to. `paused` returns only to the phase it paused from (see allowed_targets);
#: `closed` is reached through closing (outcome, evaluation), `reopened` only within the reopen period.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "intake": ("assessment", "paused", "closed"),
    "assessment": ("planning", "paused", "closed"),
    "planning": ("implementation", "assessment", "paused", "closed"),
    "implementation": ("monitoring", "planning", "paused", "closed"),
    "monitoring": ("implementation", "paused", "closed"),
    "reopened": ("assessment", "planning", "implementation", "monitoring", "paused", "closed"),
    "paused": ("closed",),  # + the phase it paused from
    "closed": ("reopened",),
}

SYSTEM = "system"  # who changed a case when no person did (e.g. consent withdrawn)


def allowed_targets(status: str, paused_from: str | None = None) -> tuple[str, ...]:
    """The phases a case in `status` may move to next."""
    targets = TRANSITIONS[status]
    if status == "paused":
        return ((paused_from,) if paused_from else ()) + targets
    return targets


def check(status: str, to: str, *, paused_from: str | None = None, closed_at: datetime | None = None,
          now: datetime | None = None, reopen_days: int = 90) -> None:
    """Raise Conflict (409) naming the allowed phases when `status -> to` is not a step of the cycle."""
    allowed = allowed_targets(status, paused_from)
    if to not in allowed:
        raise Conflict(f"a case in phase '{status}' cannot move to '{to}'; allowed: {', '.join(allowed)}")
    if to == "reopened":
        now = now or datetime.now(timezone.utc)
        if closed_at is None or now - closed_at > timedelta(days=reopen_days):
            raise Conflict(f"a case can be reopened within {reopen_days} days of closing; this one was closed "
                           f"on {closed_at.date().isoformat() if closed_at else 'an unknown date'}")


def apply(session: Session, case: Case, to: str, *, by: str, reason: str | None, now: datetime,
          reopen_days: int) -> dict:
    """Move the case to `to` (checked), record the transition, and return the `case_status_changed` payload."""
    check(case.status, to, paused_from=case.paused_from, closed_at=case.closed_at, now=now,
          reopen_days=reopen_days)
    before = case.status
    if to == "paused":
        case.paused_from = before
    elif before == "paused":
        case.paused_from = None
    if to == "closed":
        case.closed_at = now
    elif to == "reopened":  # open again: the last closing stays in the transition history
        case.closed_at, case.outcome = None, None
    case.status = to
    case.version += 1
    case.updated_at = now
    session.add(CaseTransition(case_id=case.id, from_status=before, to_status=to, reason=reason, changed_by=by,
                               changed_at=now))
    session.flush()
    return status_changed(case, before, to, now)


def move(session: Session, case: Case, to: str, *, by: str, reason: str | None, reopen_days: int) -> dict:
    """A case worker's step (POST /v1/cases/{id}/transitions): every phase but `closed`, which needs an
    outcome and an evaluation."""
    if to == "closed":
        raise InvalidInput("close a case with its outcome and evaluation: POST /v1/cases/{id}/closure",
                           {"to": ["use POST /v1/cases/{id}/closure to close a case"]})
    return apply(session, case, to, by=by, reason=reason, now=datetime.now(timezone.utc), reopen_days=reopen_days)


GOAL_STATUSES = ("reached", "partially_reached", "not_reached", "dropped")


def close(session: Session, case: Case, *, by: str, outcome: str, note: str | None, evaluation: list[dict],
          reopen_days: int, reason: str | None = None, now: datetime | None = None) -> tuple[dict, dict]:
    """Close the case with its outcome, the evaluation note and an evaluation per goal of its plan
    ({goal_id, reached, status?, note?}; a goal of another case is refused 422). Returns the payloads of
    `case_status_changed` and `case_closed`."""
    now = now or datetime.now(timezone.utc)
    # refused before anything changes: a closed case cannot be closed again
    check(case.status, "closed", paused_from=case.paused_from)
    goals = {g.id: g for g in session.scalars(select(Goal).where(Goal.case_id == case.id))}
    unknown = {f"evaluation.{i}.goal_id": ["not a goal of this case"]
               for i, item in enumerate(evaluation) if str(item["goal_id"]) not in goals}
    if unknown:
        raise InvalidInput("the evaluation names goals this case does not have", unknown)
    for item in evaluation:
        goal = goals[str(item["goal_id"])]
        goal.status = item.get("status") or ("reached" if item["reached"] else "not_reached")
        goal.evaluation = item.get("note")
        goal.updated_at = now
        goal.version += 1
    changed = apply(session, case, "closed", by=by, reason=reason or outcome, now=now, reopen_days=reopen_days)
    case.outcome, case.evaluation = outcome, note
    session.flush()
    reached = sum(1 for g in goals.values() if g.status == "reached")
    return changed, case_closed(case, total=len(goals), reached=reached)


def close_without_evaluation(session: Session, case: Case, *, outcome: str, reason: str) -> tuple[dict, dict]:
    """Closing by the system (consent withdrawn): no evaluation; open goals stay as they were."""
    return close(session, case, by=SYSTEM, outcome=outcome, note=None, evaluation=[], reopen_days=0,
                 reason=reason)


def transitions_of(session: Session, case_id: str) -> list[CaseTransition]:
    return list(session.scalars(select(CaseTransition).where(CaseTransition.case_id == case_id)
                                .order_by(CaseTransition.changed_at, CaseTransition.id)))


# event payloads: ids, codes and times only (who and why stay in casework) ----------------------------------

def status_changed(case: Case, before: str, to: str, at: datetime) -> dict:
    return {"case_id": case.id, "person_id": case.person_id, "municipality": case.municipality,
            "from_status": before, "to_status": to, "changed_at": at}


def case_closed(case: Case, *, total: int, reached: int) -> dict:
    return {"case_id": case.id, "person_id": case.person_id, "municipality": case.municipality,
            "closed_at": case.closed_at, "outcome": case.outcome, "goals_total": total, "goals_reached": reached}
