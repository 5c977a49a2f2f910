"""`kim import persons FILE.csv`: registering the persons a municipality kept in a spreadsheet.

Plain Python over intake's units of work, so a registration by import is the same as one over the API: the same
schema, the same domain checks, the same `person_registered` event through the outbox (the running intake
service's relay publishes it and casework opens the case). Every row is validated; good rows are imported,
each in its own transaction; bad rows go to an error report (row, field, message; never the row's values).
Each row carries an idempotency key derived from its content, so the same file can be run again: rows already
imported are skipped (looked up a chunk of rows at a time), not registered twice. On PostgreSQL a row is
registered as the service registers (`domain.register_at_once`).
"""
from __future__ import annotations

import csv
import hashlib
import itertools
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from sqlalchemy import select

from services.shared.db import key_scope
from services.shared.errors import InvalidInput, KimError
from services.shared.schemas import load_or_raise, schema

from . import domain
from .models import metadata
from .schemas import RegisterPersonSchema

#: the columns of the CSV (a header line names them; order does not matter). `languages`: ISO 639-1 codes
#: separated by `;`. `birth_date`: YYYY-MM-DD, or YYYY alone when only the year is known. `residence_status`: a
#: code of services/shared/events.py RESIDENCE_STATUSES (docs/glossary.md). `consent_case_management`: when the
#: case management consent was granted (ISO 8601); `consent_basis`: on what basis it was recorded (signed_form, oral_with_interpreter, ...).
COLUMNS = ("given_name", "family_name", "birth_date", "municipality", "arrival_date", "residence_status",
           "languages", "consent_case_management", "consent_basis")
OPERATION = "import_persons"
#: rows read and looked up together (`_imported_before`)
CHUNK = 500


@dataclass
class ImportSummary:
    rows: int = 0
    imported: int = 0
    already_imported: int = 0
    failed: int = 0
    errors: list = field(default_factory=list)  # (row number, field, message)
    seconds: float = 0.0
    interrupted: bool = False  # stopped by Ctrl-C; the same file run again imports the rest


def row_body(row: dict) -> dict:
    """A CSV row as the registration body the API takes."""
    body = {name: (row.get(name) or "").strip() for name in COLUMNS[:6]}
    if re.fullmatch(r"[0-9]{4}", body["birth_date"]):  # the year only
        body["birth_year"] = int(body.pop("birth_date"))
    body["languages"] = [code.strip() for code in (row.get("languages") or "").split(";") if code.strip()]
    granted = (row.get("consent_case_management") or "").strip()
    basis = (row.get("consent_basis") or "").strip()
    body["consents"] = [{"purpose": "case_management", "granted_at": granted, "basis": basis}] if granted else []
    return body


def row_key(body: dict) -> str:
    """The row's idempotency key: the same content, the same key, whichever file or line it comes from."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def read_rows(path: Path) -> Iterable[tuple[int, dict]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: the header lacks the column(s) {', '.join(missing)}")
        for number, row in enumerate(reader, start=2):  # line 1 is the header
            yield number, row


def import_persons(rows: Iterable[tuple[int, dict]], transactions, caller, served: tuple[str, ...],
                   on_created: Callable[[dict], None] = lambda person: None,
                   progress: Callable[[int], None] = lambda done: None) -> ImportSummary:
    summary = ImportSummary()
    started = time.monotonic()
    try:
        for chunk in _chunks(rows, CHUNK):
            bodies = [(number, row_body(row)) for number, row in chunk]
            done = _imported_before(transactions, caller, [row_key(body) for _, body in bodies])
            for number, body in bodies:
                summary.rows += 1
                if row_key(body) in done:
                    summary.already_imported += 1
                else:
                    _import_row(number, body, transactions, caller, served, summary, on_created)
                progress(summary.rows)
    except KeyboardInterrupt:  # Ctrl-C: the row in hand rolled back; the summary says how far the import got
        summary.interrupted = True
    summary.seconds = round(time.monotonic() - started, 2)
    return summary


def _chunks(items: Iterable, size: int):
    items = iter(items)
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def _imported_before(transactions, caller, keys: list[str]) -> set[str]:
    """The keys of rows this operator imported before: one query for a chunk of a file run again."""
    table = metadata.tables["idempotency_keys"]
    with transactions() as uow:
        return set(uow.connection.scalars(select(table.c.key).where(
            table.c.scope == key_scope(OPERATION, caller.sub), table.c.key.in_(keys))))


def _import_row(number: int, body: dict, transactions, caller, served, summary: ImportSummary, on_created) -> None:
    try:
        payload = load_or_raise(schema(RegisterPersonSchema), body)
        if transactions.at_once_possible:  # PostgreSQL: as the service registers (domain.register_at_once)
            with transactions.at_once(idempotency_key=row_key(body)) as statement:
                person = domain.register_at_once(statement, payload, caller, served, body, OPERATION)
            if person is not None:
                summary.imported += 1
                on_created(person)
                return
        with transactions(idempotency_key=row_key(body)) as uow:
            if uow.idempotent(OPERATION, caller.sub, body) is not None:
                summary.already_imported += 1
                return
            person = domain.register_person(uow.connection, payload, caller, served)
            uow.remember(person["id"])
            uow.emit("person_registered", person["municipality"], domain.person_registered(person))
        summary.imported += 1
        on_created(person)
    except InvalidInput as exc:
        summary.failed += 1
        summary.errors.extend((number, name, message) for name, messages in
                              (exc.fields or {"row": [exc.detail]}).items() for message in messages)
    except KimError as exc:  # e.g. a town the operator may not import for
        summary.failed += 1
        summary.errors.append((number, "row", exc.detail))


def write_report(summary: ImportSummary, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "field", "error"])
        writer.writerows(summary.errors)


class ProgressBar:
    """`[#####.....] 4500/10000 rows` on a terminal (redrawn in place), a line every 10 % elsewhere."""

    def __init__(self, total: int, stream=None, width: int = 30):
        self.total, self.stream, self.width = max(total, 1), stream or sys.stderr, width
        self.tty = self.stream.isatty()
        self._last = -1

    def __call__(self, done: int) -> None:
        tenth = 10 * done // self.total
        if not self.tty and tenth == self._last and done != self.total:
            return
        self._last = tenth
        filled = self.width * done // self.total
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} rows"
        self.stream.write(f"\r{line}" if self.tty else f"{line}\n")
        if self.tty and done == self.total:
            self.stream.write("\n")
        self.stream.flush()
