"""The audit log of every read and write of personal data: append-only, ids only."""
from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timezone

import eventlet
from eventlet.event import Event
from nameko.extensions import DependencyProvider
from sqlalchemy import insert, select

from services.shared.db import Transactions, make_autocommit_engine, make_engine
from services.shared.errors import InvalidInput
from services.shared.municipalities import MUNICIPALITIES
from services.shared.schemas import cursor_int, decode_typed_cursor, encode_cursor
from services.shared.settings import Settings

from .models import AuditEntry, metadata

#: how long the writer lets concurrent requests add their entries before it commits them together
COALESCE_SECONDS = 0.003
_INSERT_ENTRY = insert(AuditEntry.__table__)
_COLUMNS = ("at", "actor", "role", "action", "purpose", "person_id", "case_id", "municipality", "request_id",
            "server_request_id", "status")
# PostgreSQL: a batch is one statement in autocommit, without the BEGIN and COMMIT round trips, its rows one JSON
# array that the server unpacks (as analytics' bulk writes); committed, synchronously, before any response leaves
_PG_INSERT_ENTRIES = (
    f"INSERT INTO audit_entries ({', '.join(_COLUMNS)}) SELECT (r->>0)::timestamptz, "
    + ", ".join(f"r->>{i}" for i in range(1, len(_COLUMNS) - 1))
    + f", (r->>{len(_COLUMNS) - 1})::int FROM json_array_elements(%(rows)s::json) AS r")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _uuid_or_none(value):
    return value if isinstance(value, str) and UUID_RE.fullmatch(value) else None


def _ids(person_id=None, case_id=None, municipality=None) -> dict:
    if not (isinstance(municipality, str) and re.fullmatch(r"\d{8}", municipality)):
        municipality = None
    return {"person_id": _uuid_or_none(person_id), "case_id": _uuid_or_none(case_id), "municipality": municipality}


def subjects_of(audit, request, result) -> list[dict]:
    """The ids the entries of one request record: one entry per record that was returned, its ids taken from
    the record itself (what was actually read), never from how the caller spelled the path; when nothing was
    returned (a refusal, an empty list), one entry with the ids the caller asked for, if canonical. Ids only."""
    data = result.data if hasattr(result, "data") else result
    data = data if isinstance(data, dict) else {}
    path = getattr(request, "path_values", {}) or {}
    if audit.subject == "cases":
        items = [i for i in (data.get("items") or []) if isinstance(i, dict)]
        if items:
            return [_ids(i.get("person_id"), i.get("id"), i.get("municipality")) for i in items]
        return [_ids(person_id=request.args.get("person_id"))]
    if audit.subject == "persons":  # a search: one entry per person returned
        items = [i for i in (data.get("items") or []) if isinstance(i, dict)]
        if items:
            return [_ids(i.get("id"), None, i.get("municipality")) for i in items]
        return [_ids()]
    if audit.subject == "household":  # one entry per member returned (or the one member added)
        members = [m for m in (data.get("members") or [data]) if isinstance(m, dict) and m.get("person_id")]
        if members:
            return [_ids(m.get("person_id"), None, data.get("municipality")) for m in members]
        return [_ids()]
    if audit.subject == "staff":  # case managers' profiles, absences, caseloads: staff data, no person or case
        return [_ids()]
    if audit.subject == "case_history":  # a case's transitions or assignments: its person and case
        if data.get("case_id"):
            return [_ids(data.get("person_id"), data.get("case_id"), data.get("municipality"))]
        return [_ids(case_id=path.get("case_id"))]
    if audit.subject in ("consent", "history", "export", "erasure"):  # its person's ids (a consent's or change's own id is no UUID)
        if data.get("person_id"):
            return [_ids(data.get("person_id"), None, data.get("municipality"))]
        return [_ids(person_id=path.get("person_id"))]
    if getattr(result, "audit_subjects", None):  # a reply whose body must not carry the ids (a partner's view)
        return [_ids(s.get("person_id"), s.get("case_id"), s.get("municipality")) for s in result.audit_subjects]
    if audit.subject == "referrals":  # one entry per referral returned
        items = [i for i in (data.get("items") or []) if isinstance(i, dict)]
        if items:
            return [_ids(i.get("person_id"), i.get("case_id"), i.get("municipality")) for i in items]
        return [_ids(case_id=request.args.get("case_id"))]
    if audit.subject == "referral":  # a referral, or a case's offer suggestions: its person and case
        if data.get("person_id"):
            return [_ids(data.get("person_id"), data.get("case_id"), data.get("municipality"))]
        return [_ids(case_id=path.get("case_id"))]
    if data.get("id"):  # the record that was returned
        if audit.subject == "person":
            return [_ids(data.get("id"), None, data.get("municipality"))]
        return [_ids(data.get("person_id"), data.get("id"), data.get("municipality"))]
    if audit.subject == "person":
        return [_ids(person_id=path.get("person_id"))]
    return [_ids(case_id=path.get("case_id"))]


def subject_of(audit, request, result) -> dict:
    """The ids of the first entry (see subjects_of)."""
    return subjects_of(audit, request, result)[0]


def _request_ids(request) -> dict:
    server_id = getattr(request, "server_request_id", None) or uuid.uuid4().hex
    return {"request_id": request.request_id, "server_request_id": server_id}


class AuditLog(DependencyProvider):
    """Written by the route entrypoint after each audited request; read by `GET /v1/audit`.

    Group commit: entries of concurrent requests are written in one transaction, and each request waits until
    its entry is committed before its response leaves (an access that cannot be audited is not answered)."""

    def setup(self):
        settings = Settings.load(self.container.config)
        url = settings.db_url("gateway")
        self.engine = make_engine(url)
        self.autocommit = make_autocommit_engine(url)
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
        if self.autocommit is not None:
            self.autocommit.dispose()

    def get_dependency(self, worker_ctx):
        return self

    def record(self, spec, caller, request, result, status: int) -> None:
        """One entry per record the request returned (at least one), all committed before the response."""
        at = datetime.now(timezone.utc)
        entries = []
        for subject in subjects_of(spec.audit, request, result):
            if subject["municipality"] is None and len(caller.municipalities) == 1:
                # e.g. a refused read: file it under the caller's only town, so that town's DPO sees it
                (subject["municipality"],) = caller.municipalities
            entries.append(dict(at=at, actor=caller.sub, role=caller.role.value, action=spec.audit.action,
                                purpose=spec.audit.purpose, **_request_ids(request), status=status, **subject))
        self._write(entries)

    def record_auth_failure(self, spec, request, status: int) -> None:
        """A request refused for want of a valid token: who is unknown, so the entry names no actor (and never
        holds the token); it records the ids the caller asked for, if canonical."""
        path = getattr(request, "path_values", {}) or {}
        subject = _ids(path.get("person_id") or request.args.get("person_id"), path.get("case_id"))
        purpose = spec.audit.purpose if spec.audit is not None else "authentication"
        self._write([dict(at=datetime.now(timezone.utc), actor="-", role="-", action="auth.failed",
                          purpose=purpose, **_request_ids(request), status=status, **subject)])

    def _write(self, entries: list[dict]) -> None:
        written = Event()
        self._pending.append((entries, written))
        self._signal()
        written.wait()  # raises what the writer raised

    def _signal(self):
        if not self._wake.ready():
            self._wake.send(True)

    def _writer(self):
        while self._running or self._pending:
            self._wake.wait()
            self._wake = Event()
            eventlet.sleep(COALESCE_SECONDS)  # requests already under way add their entries first: fewer commits
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                self._insert([entry for entries, _ in batch for entry in entries])
            except Exception as exc:
                for _, written in batch:
                    written.send_exception(exc)
            else:
                for _, written in batch:
                    written.send(True)

    def _insert(self, entries: list[dict]) -> None:
        if self.autocommit is None:
            with self.transactions() as uow:
                uow.connection.execute(_INSERT_ENTRY, entries)
            return
        rows = [[entry["at"].isoformat(), *(entry[name] for name in _COLUMNS[1:])] for entry in entries]
        with self.autocommit.connect() as connection:
            connection.exec_driver_sql(_PG_INSERT_ENTRIES, {"rows": json.dumps(rows)})

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
            (after,) = decode_typed_cursor(cursor, cursor_int)  # each part's type checked: never a 500
            stmt = stmt.where(AuditEntry.id > after)
        with self.transactions() as uow:
            rows = list(uow.session.scalars(stmt.order_by(AuditEntry.id).limit(limit + 1)))
            uow.session.expunge_all()
        next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
        return rows[:limit], next_cursor
