"""Analytics service: folds every event of intake, casework and referrals (pseudonymous ids, codes, dates) into
pre-aggregated counters and answers the reports of the steering group, with disclosure control.

Each consumed event is archived once by event_id (projections.ingest_many), in the same transaction as its
projection: a redelivery, or the same event reaching the district twice through a shovel, changes nothing.
Events are consumed in batches, one transaction each (services/shared/batch.py).
"""
from __future__ import annotations

import base64
from datetime import date

from nameko.extensions import DependencyProvider

from services.shared.auth import CallerProvider, Permission
from services.shared.batch import batch_subscribe
from services.shared.db import Database
from services.shared.errors import Forbidden
from services.shared.rpc import rpc
from services.shared.schemas import PersonIdSchema, load_or_raise, schema
from services.shared.service import ServiceBase
from services.shared.settings import Settings

from . import projections
from .disclosure import check_min_cell
from .models import metadata
from .render import html_report, pdf_report
from .reports import REPORTS, Reports, parse_period, quarter
from .schemas import ReportQuerySchema, SteeringReportQuerySchema


class MinCell(DependencyProvider):
    """`self.min_cell`: KIM_ANALYTICS_MIN_CELL, checked when the service starts (below 3 it refuses to)."""

    def setup(self):
        self.k = check_min_cell(Settings.load(self.container.config).analytics_min_cell)

    def get_dependency(self, worker_ctx):
        return self.k


def fold_events(uow, envelopes, settings=None) -> list[bool]:
    """The batch consumer's fold (services/shared/batch.py): archive and project the events. A person's
    erasure, once its pseudonymisation is done, is confirmed (`erasure_confirmed`) in the same transaction."""
    fresh = projections.ingest_many(uow.connection, [projections.jsonable(e) for e in envelopes])
    for envelope, new in zip(envelopes, fresh):
        if new and envelope["event_type"] == "person_erased":
            uow.emit("erasure_confirmed", envelope["municipality"],
                     {"erasure_id": envelope["payload"]["erasure_id"], "service": "analytics"})
    return fresh


class _Consumer:
    """One batch subscription per consumed (producer, event_type): the batch consumer (services/shared/batch.py)
    archives and projects the events it receives in batches, one transaction each, and acks them after the
    commit. The method itself folds one envelope in its own transaction (for a direct call, e.g. from a test)."""

    @staticmethod
    def make(producer: str, event_type: str):
        @batch_subscribe(producer, event_type, fold=fold_events, concurrent=True)  # projections.LOCK_ORDER
        def handle(self, envelope):
            with self.db.transaction() as uow:
                return fold_events(uow, [envelope])[0]
        handle.__name__ = f"on_{producer}_{event_type}"
        return handle


class AnalyticsService(ServiceBase):
    name = "analytics"

    db = Database(metadata)
    caller = CallerProvider()
    min_cell = MinCell()

    @rpc
    def export_person(self, person_id) -> list[dict]:
        """Art. 15: the archived events about the person (ids, codes, dates; the counters hold no person) in the
        caller's towns (permission `person:export`), for intake's export."""
        caller = self.caller.require(Permission.PERSON_EXPORT)
        path = load_or_raise(schema(PersonIdSchema), {"person_id": person_id}, "path")
        with self.db.transaction() as uow:
            return projections.events_of_person(uow.connection, str(path["person_id"]), sorted(caller.municipalities))

    def _scope(self, requested: str | None) -> list[str]:
        """The caller's municipalities, or the one asked for if it is one of them."""
        caller = self.caller.require(Permission.ANALYTICS_READ)
        if requested is None:
            return sorted(caller.municipalities)
        if requested not in caller.municipalities:
            raise Forbidden(f"municipality {requested} is not in your token")
        return [requested]

    def _build(self, name: str, munis: list[str], start: date, end: date) -> dict:
        with self.db.transaction() as uow:
            return Reports(uow.connection, munis, start, end, self.min_cell).build(name)

    @rpc
    def report(self, name: str, query: dict) -> dict:
        """One of REPORTS (cases, barriers, referrals, caseload, outcomes, needs) as JSON with suppressed cells
        marked `{"value": null, "suppressed": true}`."""
        data = load_or_raise(schema(ReportQuerySchema), query or {}, "query")
        if name not in REPORTS:
            raise ValueError(f"unknown report {name!r}")
        munis = self._scope(data["municipality"])
        start, end = _period(data["from_"], data["to"])
        return self._build(name, munis, start, end)

    @rpc
    def steering_report(self, query: dict) -> dict:
        """The one-page report for a steering group: {"municipalities", "from", "to", and "html" or "pdf"
        (base64)}."""
        data = load_or_raise(schema(SteeringReportQuerySchema), query or {}, "query")
        munis = self._scope(data["municipality"])
        start, end = parse_period(data["period"]) if data["period"] else quarter(date.today())
        parts = {name: self._build(name, munis, start, end) for name in ("barriers", "referrals", "caseload",
                                                                          "cases")}
        args = (parts["barriers"], parts["referrals"], parts["caseload"], parts["cases"])
        page = {"municipalities": munis, "from": start.isoformat(), "to": end.isoformat()}
        if data["format"] == "pdf":  # bytes do not travel in JSON: base64
            return {**page, "pdf": base64.b64encode(pdf_report(*args, language=data["lang"])).decode()}
        return {**page, "html": html_report(*args, language=data["lang"])}


def _period(start: date | None, end: date | None) -> tuple[date, date]:
    if start is None and end is None:
        return quarter(date.today())
    if start is None:
        return quarter(end)[0] if quarter(end)[0] <= end else end, end
    if end is None:
        return start, max(start, quarter(start)[1])
    return start, end


for _producer, _event_type in projections.CONSUMED:
    _handler = _Consumer.make(_producer, _event_type)
    setattr(AnalyticsService, _handler.__name__, _handler)
