"""Analytics' payloads: the report query (municipality, period) of every report route and RPC."""
from __future__ import annotations

from datetime import date

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from services.shared.events import ags_field
from services.shared.labels import LANGUAGES

from .reports import parse_period

MAX_PERIOD_DAYS = 3 * 366 + 1


class ReportQuerySchema(Schema):
    """`municipality` narrows to one of the caller's towns (default: all of them, and their sum); `from`/`to`
    are ISO days, inclusive (default: the current quarter)."""

    class Meta:
        unknown = RAISE

    municipality = ags_field(load_default=None)
    from_ = fields.Date(data_key="from", load_default=None)
    to = fields.Date(load_default=None)

    @validates_schema
    def _order(self, data, **kwargs):
        start, end = data.get("from_"), data.get("to")
        if start and end and start > end:
            raise ValidationError("must not be before `from`", "to")
        if start and end and (end - start).days > MAX_PERIOD_DAYS:
            raise ValidationError(f"a period spans at most {MAX_PERIOD_DAYS} days", "to")


def _period(value):
    try:
        parse_period(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class SteeringReportQuerySchema(Schema):
    """The report for a steering group: one municipality (or, omitted, all of the caller's), a period, the format
    and the language."""

    class Meta:
        unknown = RAISE

    municipality = ags_field(load_default=None)
    period = fields.String(load_default=None, validate=[validate.Length(max=10), _period])
    format = fields.String(load_default="html", validate=validate.OneOf(("html", "pdf")))
    lang = fields.String(load_default="de", validate=validate.OneOf(LANGUAGES),
                         metadata={"description": "the report's language: de (default) or en"})


def default_period(today: date | None = None) -> tuple[date, date]:
    from .reports import quarter
    return quarter(today or date.today())
