"""marshmallow helpers shared by every service."""
from __future__ import annotations

import base64
import functools
import json
from datetime import date, datetime, timezone

from marshmallow import Schema, ValidationError, fields, validate

from .errors import InvalidInput, flatten_errors

MAX_PAGE = 100


@functools.cache
def schema(cls: type[Schema]) -> Schema:
    """One instance per schema class: building one deep-copies its fields, and instances keep no call state."""
    return cls()


def load_or_raise(schema: Schema, data, what: str = "body"):
    """Validate incoming data; a failure becomes InvalidInput naming each offending field."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{what} must be a JSON object", {what: ["must be a JSON object"]})
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise InvalidInput(f"{what} is invalid", flatten_errors(exc.messages)) from None


class PageQuerySchema(Schema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE),
                           metadata={"description": f"page size, 1 to {MAX_PAGE}"})
    cursor = fields.String(load_default=None, validate=validate.Length(max=200),
                           metadata={"description": "opaque cursor from the previous page's next_cursor"})


def encode_cursor(*values) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, (date, datetime)) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != arity:
            raise ValueError
        return values
    except (ValueError, TypeError):
        raise InvalidInput("cursor is invalid", {"cursor": ["not a cursor this API issued"]}) from None


def parse_utc(value: str) -> datetime:
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
