"""Routes of a case's assessments, plan, contacts and appointments, barriers and the worklist: casework's RPCs."""
from __future__ import annotations


class CaseRecordRoutes:
    """Mixed into GatewayService, whose `_call` makes the RPC calls (its `casework` proxy is CaseRoutes')."""
