from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from services.shared.events import CASE_STATUSES, utc_datetime
from services.shared.schemas import CanonicalUUID, PageQuerySchema


class CaseSchema(Schema):
    id = fields.UUID()
    person_id = fields.UUID()
    municipality = fields.String()
    status = fields.String(validate=validate.OneOf(CASE_STATUSES))
    opened_at = utc_datetime()
    updated_at = utc_datetime()
    assigned_to = fields.String(allow_none=True)
    team = fields.String(allow_none=True)
    version = fields.Integer()


class CasePageSchema(Schema):
    items = fields.List(fields.Nested(CaseSchema))
    next_cursor = fields.String(allow_none=True)


class CaseListQuerySchema(PageQuerySchema):
    class Meta:
        unknown = RAISE

    person_id = CanonicalUUID(load_default=None)


class CaseIdSchema(Schema):
    case_id = CanonicalUUID(required=True)


class AssignCaseSchema(Schema):
    """Assign a case to a case manager (their token `sub`) and/or a team; null clears."""

    class Meta:
        unknown = RAISE

    assigned_to = fields.String(required=True, allow_none=True,
                                validate=validate.Regexp(r"^[A-Za-z0-9._@:-]{1,128}$"))
    team = fields.String(required=True, allow_none=True, validate=validate.Regexp(r"^[A-Za-z0-9._-]{1,64}$"))


# case managers, teams, absences, assignment, the cycle and closing (staff.py, cycle.py) -----------------------


# assessments, plan, contacts, appointments, barriers, worklist (assessment.py, plan.py, contacts.py, barriers.py)
