"""Analytics service: folds every event of intake, casework and referrals (pseudonymous ids, codes, dates) into
pre-aggregated counters and answers the reports of the steering group, with disclosure control.

Each consumed event is archived once by event_id (projections.ingest), in the same transaction as its
projection: a redelivery, or the same event reaching the district twice through a shovel, changes nothing.
"""
from __future__ import annotations

import base64
import sys
from datetime import date

import eventlet
from eventlet.event import Event
from nameko.extensions import DependencyProvider

from services.shared.auth import CallerProvider, Permission
from services.shared.db import Database
from services.shared.errors import Forbidden
from services.shared.messaging import subscribe
from services.shared.rpc import rpc
from services.shared.schemas import load_or_raise, schema
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


#: how long a batch waits for more events after the first: a few ms of latency for far fewer commits
BATCH_WINDOW_SECONDS = 0.005


class Batcher(DependencyProvider):
    """`self.batcher.ingest(envelope)`: folds the event in together with the ones other workers are handing in
    at the same moment, in one transaction (a commit per event would bound the rate at the commits per second
    the disk allows). Each worker waits for the commit of its batch before it returns, so its message is acked
    only once its event is stored: nothing is lost. A failing batch is retried one event at a time, so only
    the failing event fails (and is retried or dead-lettered by the subscription)."""

    def setup(self):
        self.database = next(d for d in self.container.dependencies if isinstance(d, Database))
        self.pending: list = []
        self.wake = Event()
        self.running = False
        self.thread = None

    def start(self):
        self.running = True
        self.thread = self.container.spawn_managed_thread(self._run)

    def stop(self):
        self.running = False
        if self.thread is not None:
            self.thread.kill()

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx):
        return self

    def ingest(self, envelope: dict) -> bool:
        done = Event()
        self.pending.append((projections.jsonable(envelope), done))
        if not self.wake.ready():
            self.wake.send(True)
        return done.wait()

    def _run(self):
        while self.running:
            self.wake.wait()
            self.wake = Event()
            eventlet.sleep(BATCH_WINDOW_SECONDS)  # workers handing in meanwhile join this batch
            batch, self.pending = self.pending, []
            if batch:
                self._fold(batch)

    def _fold(self, batch):
        transactions = self.database.transactions
        try:
            with transactions() as uow:
                results = [projections.ingest(uow.connection, envelope) for envelope, _ in batch]
        except Exception:
            if len(batch) == 1:
                batch[0][1].send_exception(*sys.exc_info())
                return
            for item in batch:  # one at a time: only the failing event fails
                self._fold([item])
            return
        for (_, done), result in zip(batch, results):
            done.send(result)


class _Consumer:
    """One subscription per consumed (producer, event_type): archive and project in one transaction."""

    @staticmethod
    def make(producer: str, event_type: str):
        @subscribe(producer, event_type)
        def handle(self, envelope):
            return self._ingest(envelope)
        handle.__name__ = f"on_{producer}_{event_type}"
        return handle


class AnalyticsService(ServiceBase):
    name = "analytics"

    db = Database(metadata)
    caller = CallerProvider()
    min_cell = MinCell()
    batcher = Batcher()

    def _ingest(self, envelope) -> bool:
        return self.batcher.ingest(envelope)

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
            return {**page, "pdf": base64.b64encode(pdf_report(*args)).decode()}
        return {**page, "html": html_report(*args)}


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
