"""Routes of the analytics reports: thin translations to analytics' RPCs."""
from __future__ import annotations

from services.shared.rpc import RpcProxy


class AnalyticsRoutes:
    """Mixed into GatewayService, whose `_call` makes the RPC calls."""

    analytics = RpcProxy("analytics")
