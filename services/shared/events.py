"""The event contracts: the envelope and every event's versioned payload.

Events carry ids and pseudonymous facts only: never names, addresses, contact data or free text.
Every string field is therefore constrained (an id, a code, an enum); `tests/unit/test_event_contracts.py`
fails when a field is not. A change that is not backwards compatible gets a new schema_version; consumers
select on (event_type, schema_version). The catalogue is documented in docs/events.md.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from .municipalities import MUNICIPALITIES

RESIDENCE_STATUSES = (
    "asylum_procedure", "recognised_refugee", "subsidiary_protection", "temporary_protection",
    "toleration", "residence_permit", "settlement_permit", "eu_freedom_of_movement", "other",
)
CASE_STATUSES = ("intake", "active", "paused", "closed")
#: what a person consents to (GDPR Art. 6/7/9); `referral_sharing` allows sharing with referral partners
CONSENT_PURPOSES = ("case_management", "referral_sharing", "data_exchange_job_centre",
                    "data_exchange_foreigners_office", "statistics")

#: ISO 639-1/-2 codes: two or three lowercase letters.
language_code = fields.String(validate=validate.Regexp(r"^[a-z]{2,3}$"))


def ags_field(**kwargs):
    return fields.String(validate=validate.OneOf(sorted(MUNICIPALITIES), error="unknown municipality code"),
                         **kwargs)


def utc_datetime(**kwargs):
    """ISO 8601 with an explicit offset: a time without one is ambiguous and refused."""
    return fields.AwareDateTime(format="iso", **kwargs)


class EnvelopeSchema(Schema):
    class Meta:
        unknown = RAISE

    event_id = fields.UUID(required=True)
    event_type = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z_]*$"))
    schema_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    occurred_at = utc_datetime(required=True)
    municipality = ags_field(required=True)
    producer = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z_]*$"))
    request_id = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^[A-Za-z0-9._-]{1,64}$"))
    payload = fields.Dict(required=True)


class PayloadSchema(Schema):
    class Meta:
        unknown = RAISE


class PersonRegisteredV1(PayloadSchema):
    person_id = fields.UUID(required=True)
    municipality = ags_field(required=True)
    arrival_date = fields.Date(required=True)
    residence_status = fields.String(required=True, validate=validate.OneOf(RESIDENCE_STATUSES))
    languages = fields.List(language_code, required=True)
    birth_year = fields.Integer(required=True, strict=True, validate=validate.Range(min=1900, max=2100))


class CaseOpenedV1(PayloadSchema):
    case_id = fields.UUID(required=True)
    person_id = fields.UUID(required=True)
    municipality = ags_field(required=True)
    status = fields.String(required=True, validate=validate.OneOf(CASE_STATUSES))
    opened_at = utc_datetime(required=True)


class CaseAssignedV1(PayloadSchema):
    case_id = fields.UUID(required=True)
    person_id = fields.UUID(required=True)
    municipality = ags_field(required=True)
    #: pseudonymous staff id (the token's `sub`), not a name
    assigned_to = fields.String(required=True, allow_none=True, validate=validate.Regexp(r"^[A-Za-z0-9._@:-]{1,128}$"))
    team = fields.String(required=True, allow_none=True, validate=validate.Regexp(r"^[A-Za-z0-9._-]{1,64}$"))


class ConsentGrantedV1(PayloadSchema):
    person_id = fields.UUID(required=True)
    municipality = ags_field(required=True)
    purpose = fields.String(required=True, validate=validate.OneOf(CONSENT_PURPOSES))
    granted_at = utc_datetime(required=True)


class ConsentWithdrawnV1(PayloadSchema):
    person_id = fields.UUID(required=True)
    municipality = ags_field(required=True)
    purpose = fields.String(required=True, validate=validate.OneOf(CONSENT_PURPOSES))
    withdrawn_at = utc_datetime(required=True)


#: the fields of a person's record that are no personal data in an event's sense: `person_updated` names these
#: (and only these) when they change, with their new values
PERSON_NON_PERSONAL_FIELDS = ("residence_status", "languages", "arrival_date", "municipality")


class PersonUpdatedV1(PayloadSchema):
    """A person's record was rectified. Names which non-personal fields changed, with their new values; a change
    of a personal field (names, birth date, contact data, ...) shows only as the new version."""

    person_id = fields.UUID(required=True)
    municipality = ags_field(required=True)
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=2))
    changed = fields.List(fields.String(validate=validate.OneOf(PERSON_NON_PERSONAL_FIELDS)), required=True)
    residence_status = fields.String(validate=validate.OneOf(RESIDENCE_STATUSES))
    languages = fields.List(language_code)
    arrival_date = fields.Date()


#: the services that hold data of a person and confirm its erasure (`erasure_confirmed`)
ERASING_SERVICES = ("casework",)


class PersonErasedV1(PayloadSchema):
    """A person was erased in intake (Art. 17 GDPR): every other service erases what it holds and confirms."""

    person_id = fields.UUID(required=True)
    municipality = ags_field(required=True)
    erasure_id = fields.UUID(required=True)


class ErasureConfirmedV1(PayloadSchema):
    """A service erased what it held of the person of an erasure. No person id: the erasure id suffices."""

    erasure_id = fields.UUID(required=True)
    service = fields.String(required=True, validate=validate.OneOf(ERASING_SERVICES))


#: (producer, event_type, schema_version) -> payload schema. The producer is the nameko service whose
#: `<producer>.events` exchange carries the event.
CATALOGUE: dict[tuple[str, str, int], type[PayloadSchema]] = {
    ("intake", "person_registered", 1): PersonRegisteredV1,
    ("intake", "consent_granted", 1): ConsentGrantedV1,
    ("intake", "consent_withdrawn", 1): ConsentWithdrawnV1,
    ("intake", "person_updated", 1): PersonUpdatedV1,
    ("intake", "person_erased", 1): PersonErasedV1,
    ("casework", "case_opened", 1): CaseOpenedV1,
    ("casework", "case_assigned", 1): CaseAssignedV1,
    ("casework", "erasure_confirmed", 1): ErasureConfirmedV1,
}


# marshmallow schemas hold no per-call state: build each once
_ENVELOPE = EnvelopeSchema()
_PAYLOADS = {key: schema() for key, schema in CATALOGUE.items()}


def build_envelope(producer: str, event_type: str, municipality: str, payload: dict, *,
                   schema_version: int = 1, request_id: str | None = None,
                   occurred_at: datetime | None = None) -> dict:
    """Validate the payload against the catalogue and return the envelope as JSON-ready data."""
    try:
        schema = _PAYLOADS[(producer, event_type, schema_version)]
    except KeyError:
        raise ValueError(f"{producer}.{event_type} v{schema_version} is not in the event catalogue") from None
    if municipality not in MUNICIPALITIES:
        raise ValueError(f"unknown municipality {municipality!r}")
    data = schema.dump(payload)
    errors = schema.validate(data)
    if errors:
        raise ValueError(f"{event_type} v{schema_version} payload invalid: {errors}")
    envelope = {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "schema_version": schema_version,
        "occurred_at": (occurred_at or datetime.now(timezone.utc)).isoformat(),
        "municipality": municipality,
        "producer": producer,
        "request_id": request_id,
        "payload": data,
    }
    return envelope


def load_envelope(body) -> dict:
    """Validate a received envelope and its payload; raises marshmallow.ValidationError."""
    envelope = _ENVELOPE.load(body)
    key = (envelope["producer"], envelope["event_type"], envelope["schema_version"])
    if key not in _PAYLOADS:
        raise ValidationError({"event_type": [f"unknown event {key}"]})
    envelope["payload"] = _PAYLOADS[key].load(envelope["payload"])
    return envelope
