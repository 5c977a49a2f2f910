"""The event contracts: valid envelopes, and no personal data or free text in any event."""
import uuid
from datetime import date, datetime, timezone

import pytest
from marshmallow import ValidationError, fields
from marshmallow.validate import OneOf, Regexp

from services.shared.events import CATALOGUE, EnvelopeSchema, build_envelope, load_envelope

FORBIDDEN = {"name", "given_name", "family_name", "birth_date", "address", "street", "phone", "email",
             "note", "notes", "comment", "text", "description"}


def constrained(field) -> bool:
    """A string field may only hold an id, a code or an enum value."""
    if isinstance(field, fields.List):
        return constrained(field.inner)
    if isinstance(field, fields.String) and not isinstance(field, (fields.UUID,)):
        return any(isinstance(v, (OneOf, Regexp)) for v in field.validators)
    return not isinstance(field, (fields.Dict, fields.Raw)) or isinstance(field, (fields.Date, fields.DateTime,
                                                                                   fields.Number, fields.UUID,
                                                                                   fields.Boolean))


@pytest.mark.parametrize("key", sorted(CATALOGUE), ids=lambda k: f"{k[1]}-v{k[2]}" if isinstance(k, tuple) else k)
def test_event_payload_carries_no_personal_data_or_free_text(key):
    schema = CATALOGUE[key]()
    assert not FORBIDDEN & set(schema.fields), f"{key} names a personal-data field"
    loose = [name for name, field in schema.fields.items() if not constrained(field)]
    assert loose == [], f"{key}: unconstrained fields {loose} could carry free text"


def payload():
    return {"person_id": uuid.uuid4(), "municipality": "05962036", "arrival_date": date(2026, 10, 2),
            "residence_status": "temporary_protection", "languages": ["uk"], "birth_year": 1988}


def test_envelope_round_trip():
    envelope = build_envelope("intake", "person_registered", "05962036", payload(), request_id="abc-1")
    loaded = load_envelope(envelope)
    assert loaded["schema_version"] == 1 and loaded["occurred_at"].tzinfo is not None
    assert loaded["payload"]["birth_year"] == 1988
    assert isinstance(loaded["event_id"], uuid.UUID)


def test_unknown_event_or_version_is_refused():
    with pytest.raises(ValueError):
        build_envelope("intake", "person_registered", "05962036", payload(), schema_version=2)
    envelope = build_envelope("intake", "person_registered", "05962036", payload())
    with pytest.raises(ValidationError):
        load_envelope({**envelope, "event_type": "person_deleted"})


def test_payload_with_a_name_is_refused():
    with pytest.raises(ValidationError):
        load_envelope({**build_envelope("intake", "person_registered", "05962036", payload()),
                       "payload": {**build_envelope("intake", "person_registered", "05962036",
                                                    payload())["payload"], "given_name": "Olena"}})


@pytest.mark.parametrize("change", [{"municipality": "12345678"}, {"occurred_at": "2026-10-02T10:00:00"},
                                    {"schema_version": "1"}, {"event_id": "x"}])
def test_envelope_validation(change):
    envelope = build_envelope("intake", "person_registered", "05962036", payload())
    with pytest.raises(ValidationError):
        EnvelopeSchema().load({**envelope, **change})


def test_occurred_at_is_utc():
    envelope = build_envelope("intake", "person_registered", "05962036", payload(),
                              occurred_at=datetime(2026, 10, 2, 10, 0, tzinfo=timezone.utc))
    assert envelope["occurred_at"].endswith("+00:00")
