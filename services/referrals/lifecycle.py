"""The referral lifecycle as a table: plain Python, no I/O.

    draft --send--> sent --accept--> accepted --start--> in_progress --complete--> completed (outcome)
                     |  \\--decline--> declined (reason)
                     \\--expire (no answer in KIM_REFERRAL_EXPIRY_DAYS)--> expired
    draft | sent | accepted | in_progress --cancel--> cancelled

Who may take a step: `staff` (case managers and team leads: referral:write), `partner` (the referral's own
provider: referral:answer), `system` (the expiry timer, a consent withdrawal).
"""
from __future__ import annotations

from dataclasses import dataclass

from services.shared.errors import Conflict

OPEN_STATUSES = frozenset({"draft", "sent", "accepted", "in_progress"})
FINAL_STATUSES = frozenset({"declined", "completed", "cancelled", "expired"})


@dataclass(frozen=True)
class Step:
    name: str
    from_statuses: frozenset[str]
    to_status: str
    actor: str  # staff | partner | system


STEPS: dict[str, Step] = {s.name: s for s in (
    Step("send", frozenset({"draft"}), "sent", "staff"),
    Step("accept", frozenset({"sent"}), "accepted", "partner"),
    Step("decline", frozenset({"sent"}), "declined", "partner"),
    Step("start", frozenset({"accepted"}), "in_progress", "partner"),
    Step("complete", frozenset({"in_progress"}), "completed", "partner"),
    Step("cancel", frozenset(OPEN_STATUSES), "cancelled", "staff"),
    Step("expire", frozenset({"sent"}), "expired", "system"),
)}
STAFF_STEPS = tuple(n for n, s in STEPS.items() if s.actor == "staff")
PARTNER_STEPS = tuple(n for n, s in STEPS.items() if s.actor == "partner")


def allowed_steps(status: str, actor: str | None = None) -> list[str]:
    """The steps a referral in `status` may take (by `actor`, if given), in table order."""
    return [n for n, s in STEPS.items() if status in s.from_statuses and (actor is None or s.actor == actor)]


def next_status(status: str, step: str, actor: str | None = None) -> str:
    """The status after `step`; Conflict (409) naming the allowed steps when the step is out of order."""
    spec = STEPS.get(step)
    if spec is None:
        raise ValueError(f"unknown step {step!r}")
    if status not in spec.from_statuses or (actor is not None and spec.actor != actor):
        allowed = allowed_steps(status, actor)
        raise Conflict(f"a referral that is {status} cannot {step}; allowed steps: "
                       f"{', '.join(allowed) if allowed else 'none (the referral is closed)'}",
                       {"status": status, "allowed_steps": allowed})
    return spec.to_status
