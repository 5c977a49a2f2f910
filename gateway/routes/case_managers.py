"""Routes of case managers, teams, absences, assignment and the case-management cycle: casework's RPCs."""
from __future__ import annotations


class CaseManagerRoutes:
    """Mixed into GatewayService, whose `_call` makes the RPC calls (its `casework` proxy is CaseRoutes')."""
