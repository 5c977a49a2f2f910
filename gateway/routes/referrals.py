"""Routes of providers, offers, referrals and the partners' inbox: thin translations to referrals' RPCs."""
from __future__ import annotations

from services.shared.rpc import RpcProxy


class ReferralRoutes:
    """Mixed into GatewayService, whose `_call` makes the RPC calls."""

    referrals = RpcProxy("referrals")
