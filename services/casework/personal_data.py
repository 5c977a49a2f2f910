"""GDPR for casework's records of a case: the export (Art. 15) and the erasure (Art. 17) of every row of every
casework table that belongs to a person's cases. Generic over the tables (every table with a `case_id`
column, and the assessments' areas), so a table added later is exported and erased too."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Connection, Table, delete, select

from .models import Assessment, AssessmentArea, Case, metadata


def _case_tables() -> list[Table]:
    """The tables holding a case's records, children before parents (so deletes respect foreign keys)."""
    return [t for t in reversed(metadata.sorted_tables) if "case_id" in t.c and t.name != Case.__tablename__]


def _jsonable(value):
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def _row(row) -> dict:
    return {key: _jsonable(value) for key, value in row._mapping.items()}


def export_case_records(connection: Connection, case_id: str) -> dict:
    """Every record of the case, per table (name -> rows, every column), assessments with their areas."""
    records = {}
    for table in _case_tables():
        order = [c for c in (table.c.get("created_at"), table.c.get("id")) if c is not None]
        records[table.name] = [_row(r) for r in connection.execute(
            select(table).where(table.c.case_id == case_id).order_by(*order))]
    areas = AssessmentArea.__table__
    for assessment in records.get(Assessment.__tablename__, []):
        assessment["areas"] = [_row(r) for r in connection.execute(
            select(areas).where(areas.c.assessment_id == assessment["id"]).order_by(areas.c.area))]
    return records


def erase_case_records(connection: Connection, case_ids: list[str]) -> int:
    """Delete every row of the cases' records (not the cases themselves); returns how many went."""
    if not case_ids:
        return 0
    erased = 0
    assessments = Assessment.__table__
    erased += connection.execute(delete(AssessmentArea.__table__).where(AssessmentArea.assessment_id.in_(
        select(assessments.c.id).where(assessments.c.case_id.in_(case_ids))))).rowcount
    for table in _case_tables():
        erased += connection.execute(delete(table).where(table.c.case_id.in_(case_ids))).rowcount
    return erased
