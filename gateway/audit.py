"""The audit log of every read and write of personal data: append-only, ids only."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import eventlet
from eventlet.event import Event
from nameko.extensions import DependencyProvider
from sqlalchemy import insert, select

from services.shared.db import Transactions, make_engine
from services.shared.errors import InvalidInput
from services.shared.municipalities import MUNICIPALITIES
from services.shared.schemas import decode_cursor, encode_cursor
from services.shared.settings import Settings

from .models import AuditEntry, metadata

_INSERT_ENTRY = insert(AuditEntry.__table__)
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _uuid_or_none(value):
    return value if isinstance(value, str) and UUID_RE.match(value) else None


def subject_of(audit, request, result) -> dict:
    """The ids an entry records, from the path, the query and the answer; never any other data."""
    data = getattr(result, "data", None)
    data = data if isinstance(data, dict) else {}
    path = getattr(request, "path_values", {}) or {}
    ids = {"person_id": None, "case_id": None, "municipality": data.get("municipality")}
    if audit.subject == "person":
        ids["person_id"] = path.get("person_id") or data.get("id")
    elif audit.subject == "case":
        ids["case_id"] = path.get("case_id") or data.get("id")
        ids["person_id"] = data.get("person_id")
    elif audit.subject == "cases":
        ids["person_id"] = request.args.get("person_id")
        items = data.get("items") or [{}]
        ids["municipality"] = items[0].get("municipality")
    ids["person_id"] = _uuid_or_none(ids["person_id"])
    ids["case_id"] = _uuid_or_none(ids["case_id"])
    if not (isinstance(ids["municipality"], str) and re.fullmatch(r"\d{8}", ids["municipality"])):
        ids["municipality"] = None
    return ids


class AuditLog(DependencyProvider):
    """Written by the route entrypoint after each audited request; read by `GET /v1/audit`.

    Group commit: entries of concurrent requests are written in one transaction, and each request waits until
    its entry is committed before its response leaves (an access that cannot be audited is not answered)."""

    def setup(self):
        settings = Settings.load(self.container.config)
        self.engine = make_engine(settings.db_url("gateway"))
        self.transactions = Transactions(self.engine, "gateway", metadata)
        self._pending: list[tuple[dict, Event]] = []
        self._wake = Event()
        self._running = True

    def start(self):
        self.container.spawn_managed_thread(self._writer)

    def stop(self):
        self._running = False
        self._signal()
        self.engine.dispose()

    def get_dependency(self, worker_ctx):
        return self

    def record(self, spec, caller, request, result, status: int) -> None:
        subject = subject_of(spec.audit, request, result)
        if subject["municipality"] is None and len(caller.municipalities) == 1:
            # e.g. a refused read: file it under the caller's only town, so that town's DPO sees it
            (subject["municipality"],) = caller.municipalities
        entry = dict(at=datetime.now(timezone.utc), actor=caller.sub, role=caller.role.value,
                     action=spec.audit.action, purpose=spec.audit.purpose, request_id=request.request_id,
                     status=status, **subject)
        written = Event()
        self._pending.append((entry, written))
        self._signal()
        written.wait()  # raises what the writer raised

    def _signal(self):
        if not self._wake.ready():
            self._wake.send(True)

    def _writer(self):
        while self._running or self._pending:
            self._wake.wait()
            self._wake = Event()
            eventlet.sleep(0)  # requests already under way add their entries first: fewer, larger commits
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                with self.transactions() as uow:
                    uow.connection.execute(_INSERT_ENTRY, [entry for entry, _ in batch])
            except Exception as exc:
                for _, written in batch:
                    written.send_exception(exc)
            else:
                for _, written in batch:
                    written.send(True)

    def query(self, *, person_id=None, case_id=None, municipalities=(), limit=20, cursor=None):
        if not (person_id or case_id):
            raise InvalidInput("name a person or a case", {"person_id": ["person_id or case_id is required"]})
        stmt = select(AuditEntry)
        if person_id:
            stmt = stmt.where(AuditEntry.person_id == str(person_id))
        if case_id:
            stmt = stmt.where(AuditEntry.case_id == str(case_id))
        # another tenant's entries stay invisible; entries of no known town only to district-wide tokens
        visible = AuditEntry.municipality.in_(sorted(municipalities))
        if set(MUNICIPALITIES) <= set(municipalities):
            visible = visible | AuditEntry.municipality.is_(None)
        stmt = stmt.where(visible)
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            if not isinstance(after, int):
                raise InvalidInput("cursor is invalid", {"cursor": ["not a cursor this API issued"]})
            stmt = stmt.where(AuditEntry.id > after)
        with self.transactions() as uow:
            rows = list(uow.session.scalars(stmt.order_by(AuditEntry.id).limit(limit + 1)))
            uow.session.expunge_all()
        next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
        return rows[:limit], next_cursor
