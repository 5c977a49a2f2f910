"""marshmallow helpers shared by every service."""
from __future__ import annotations

import base64
import functools
import json
import re
import unicodedata
import uuid
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


CANONICAL_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_CANONICAL_UUID_RE = re.compile(CANONICAL_UUID)


class CanonicalUUID(fields.UUID):
    """A UUID in its one canonical spelling only: lowercase 8-4-4-4-12. Upper case, no dashes, braces or
    `urn:uuid:` are refused, so an id reaches the services and the audit log in exactly one form."""

    default_error_messages = {"invalid_uuid": "must be a UUID in lowercase 8-4-4-4-12 form"}

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {})
        kwargs["metadata"] = {"pattern": CANONICAL_UUID, **kwargs["metadata"]}
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not _CANONICAL_UUID_RE.fullmatch(value):
            raise self.make_error("invalid_uuid")
        return super()._deserialize(value, attr, data, **kwargs)


class PersonIdSchema(Schema):
    """A person's id in a path (`/v1/persons/{person_id}/...`), as every service holding a person's data takes it."""

    person_id = CanonicalUUID(required=True)


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


# typed cursors: a cursor is client input; each part is checked before it reaches a query ------------------

def _bad_cursor():
    return InvalidInput("cursor is invalid", {"cursor": ["not a cursor this API issued"]})


def cursor_int(value) -> int:
    """A row id (SQL BIGINT range; bool is no int here)."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2 ** 63:
        raise _bad_cursor()
    return value


def cursor_uuid(value) -> str:
    """An id as the services store it: the canonical lower-case UUID text."""
    try:
        if isinstance(value, str) and str(uuid.UUID(value)) == value:
            return value
    except ValueError:
        pass
    raise _bad_cursor()


def cursor_datetime(value) -> datetime:
    """An ISO 8601 timestamp, as UTC."""
    try:
        if isinstance(value, str):
            return parse_utc(value).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        pass
    raise _bad_cursor()


def decode_typed_cursor(cursor: str, *parts) -> list:
    """decode_cursor, then each value through its part (cursor_int, cursor_uuid, cursor_datetime)."""
    return [part(value) for part, value in zip(parts, decode_cursor(cursor, len(parts)))]


# free text ------------------------------------------------------------------------------------------------

#: Unicode categories free text may not contain: control (NUL, ESC, ...), format (bidi overrides, zero-width
#: characters), lone surrogates, unassigned code points, line and paragraph separators.
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn", "Zl", "Zp"})


class CleanText(fields.String):
    """A single-line text field: NFC-normalised, stripped of outer white space, never blank, and without
    control or invisible formatting characters (which can hide or reorder what a reader sees, break logs and
    exports, or cannot be stored at all). A `validate=` (e.g. a Length) sees the normalised text."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        name = attr or self.name or "the text"
        for char in text:
            if unicodedata.category(char) in FORBIDDEN_CATEGORIES:
                raise ValidationError(f"{name} must not contain control or invisible formatting characters "
                                      f"(found U+{ord(char):04X})")
        text = unicodedata.normalize("NFC", text).strip()
        if not text:
            raise ValidationError(f"{name} must not be blank")
        return text
