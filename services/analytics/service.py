"""Analytics service."""
from __future__ import annotations

from services.shared.auth import CallerProvider
from services.shared.db import Database
from services.shared.service import ServiceBase

from .models import metadata


class AnalyticsService(ServiceBase):
    name = "analytics"

    db = Database(metadata)
    caller = CallerProvider()
