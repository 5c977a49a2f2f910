from __future__ import annotations

from datetime import date, datetime, timezone

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates, validates_schema

from services.shared.events import CONSENT_PURPOSES, RESIDENCE_STATUSES, ags_field, language_code, utc_datetime
from services.shared.schemas import CleanText
from services.shared.schemas import CanonicalUUID

#: on what basis a consent was recorded (Art. 7(1): the controller must be able to demonstrate it)
CONSENT_BASES = ("signed_form", "oral_with_interpreter", "oral", "electronic")
#: the one consent a registration cannot do without
REQUIRED_CONSENT = "case_management"

#: names: NFC, no control/format characters (NUL, ESC, bidi overrides, zero-width), not blank, at most 100
name_field = dict(required=True, validate=validate.Length(min=1, max=100))


class ConsentSchema(Schema):
    class Meta:
        unknown = RAISE

    purpose = fields.String(required=True, validate=validate.OneOf(CONSENT_PURPOSES))
    granted_at = utc_datetime(required=True)
    basis = fields.String(required=True, validate=validate.OneOf(CONSENT_BASES),
                          metadata={"description": "how the consent was given: " + ", ".join(CONSENT_BASES)})
    recorded_by = fields.String(dump_only=True, allow_none=True, metadata={"description": "staff id (token sub)"})
    withdrawn_at = utc_datetime(dump_only=True, allow_none=True)
    withdrawn_by = fields.String(dump_only=True, allow_none=True)

    @validates("granted_at")
    def _not_future(self, value, **_):
        if value > datetime.now(timezone.utc):
            raise ValidationError("must not lie in the future")


class RegisterPersonSchema(Schema):
    """What a municipal frontend sends to register a newly arrived person."""

    class Meta:
        unknown = RAISE

    given_name = CleanText(**name_field)
    family_name = CleanText(**name_field)
    birth_date = fields.Date(required=True)
    municipality = ags_field(required=True, metadata={"description": "AGS code of the municipality (Kommune)"})
    arrival_date = fields.Date(required=True)
    residence_status = fields.String(required=True, validate=validate.OneOf(RESIDENCE_STATUSES))
    languages = fields.List(language_code, required=True, validate=validate.Length(min=1, max=10),
                            metadata={"description": "ISO 639 codes, most fluent first"})
    consents = fields.List(fields.Nested(ConsentSchema), load_default=list, validate=validate.Length(max=20),
                           metadata={"description": f"must include `{REQUIRED_CONSENT}`"})
    confirmed_new = fields.Boolean(load_default=False, truthy={True}, falsy={False}, metadata={
        "description": "send true after a 409 whose candidates are not this person: registers a new person "
                       "although likely duplicates exist"})

    @validates("consents")
    def _case_management_consent(self, value, **_):
        if not any(c.get("purpose") == REQUIRED_CONSENT for c in value):
            raise ValidationError(f"a registration needs the person's `{REQUIRED_CONSENT}` consent")

    @validates("birth_date")
    def _birth_date(self, value, **_):
        if not date(1900, 1, 1) <= value <= date.today():
            raise ValidationError("must lie between 1900-01-01 and today")

    @validates("arrival_date")
    def _arrival_date(self, value, **_):
        if value > date.today():
            raise ValidationError("must not lie in the future")

    @validates_schema
    def _arrival_after_birth(self, data, **_):
        if "birth_date" in data and "arrival_date" in data and data["arrival_date"] < data["birth_date"]:
            raise ValidationError("must not lie before birth_date", field_name="arrival_date")


class PersonSchema(Schema):
    id = fields.UUID()
    given_name = fields.String()
    family_name = fields.String()
    birth_date = fields.Date()
    municipality = fields.String()
    arrival_date = fields.Date()
    residence_status = fields.String()
    languages = fields.List(fields.String())
    consents = fields.List(fields.Nested(ConsentSchema))
    created_at = utc_datetime()
    version = fields.Integer()


class PersonIdSchema(Schema):
    person_id = CanonicalUUID(required=True)


class ConsentPathSchema(PersonIdSchema):
    purpose = fields.String(required=True, validate=validate.OneOf(CONSENT_PURPOSES))


class ConsentRecordSchema(Schema):
    """One consent of one person, as the consent routes answer it."""

    person_id = fields.String()
    municipality = fields.String()
    purpose = fields.String()
    granted_at = utc_datetime()
    basis = fields.String(allow_none=True)
    recorded_by = fields.String(allow_none=True)
    withdrawn_at = utc_datetime(allow_none=True)
    withdrawn_by = fields.String(allow_none=True)
