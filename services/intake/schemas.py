from __future__ import annotations

from datetime import date, datetime, timezone

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates, validates_schema

from services.shared.events import CONSENT_PURPOSES, RESIDENCE_STATUSES, ags_field, language_code, utc_datetime
from services.shared.countries import NATIONALITY_CODES
from services.shared.schemas import CleanText
from services.shared.schemas import CanonicalUUID, PageQuerySchema, PersonIdSchema

#: on what basis a consent was recorded (Art. 7(1): the controller must be able to demonstrate it)
CONSENT_BASES = ("signed_form", "oral_with_interpreter", "oral", "electronic")
#: the one consent a registration cannot do without
REQUIRED_CONSENT = "case_management"

#: the rest of the person record (all optional)
SEXES = ("female", "male", "diverse", "unspecified")
GERMAN_LEVELS = ("A0", "A1", "A2", "B1", "B2", "C1", "C2")  # CEFR; A0: no German yet
CONTACT_CHANNELS = ("phone", "email", "post", "in_person", "messenger")
HOUSEHOLD_RELATIONS = ("head", "spouse", "partner", "child", "parent", "sibling", "grandparent", "grandchild",
                       "other")
PHONE_RE = r"^\+[1-9][0-9 ]{5,25}$"  # E.164-ish: +, country code, digits; spaces allowed (7 to 15 digits)

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


class StrictBoolean(fields.Boolean):
    """true or false only (not 1, 0 or "yes")."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def _phone(value):
    digits = sum(c.isdigit() for c in value)
    if not 7 <= digits <= 15:
        raise ValidationError("must have 7 to 15 digits (E.164)")


class AddressSchema(Schema):
    """A German postal address."""

    class Meta:
        unknown = RAISE

    street = CleanText(required=True, validate=validate.Length(min=1, max=200),
                       metadata={"description": "street and house number"})
    postal_code = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{5}$", error="must be 5 digits"))
    city = CleanText(required=True, validate=validate.Length(min=1, max=100))


class RegisterPersonSchema(Schema):
    """What a municipal frontend sends to register a newly arrived person."""

    class Meta:
        unknown = RAISE

    given_name = CleanText(**name_field)
    family_name = CleanText(**name_field)
    birth_date = fields.Date(metadata={"description": "YYYY-MM-DD; or send birth_year instead when only the year "
                                                     "is known (exactly one of the two)"})
    birth_year = fields.Integer(strict=True, metadata={"description": "the year of birth, when the day is not "
                                                                      "known (instead of birth_date)"})
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
    existing_person_id = CanonicalUUID(metadata={
        "description": "send a candidate's id after a 409 when the candidate is this person: registers nobody, "
                       "answers 200 with the existing record and notes the re-registration in its history"})
    # the rest of the record, all optional; personal data: never in events
    sex = fields.String(validate=validate.OneOf(SEXES))
    nationalities = fields.List(
        fields.String(validate=validate.OneOf(sorted(NATIONALITY_CODES),
                                              error="must be an ISO 3166-1 alpha-2 code (upper case)")),
        validate=validate.Length(max=5), metadata={"description": "ISO 3166-1 alpha-2 codes, e.g. UA, SY"})
    mother_tongues = fields.List(language_code, validate=validate.Length(max=5),
                                 metadata={"description": "ISO 639-1 codes"})
    german_level = fields.String(validate=validate.OneOf(GERMAN_LEVELS), metadata={"description": "CEFR level"})
    municipality_arrival_date = fields.Date(metadata={"description": "arrival in the municipality"})
    address = fields.Nested(AddressSchema)
    phone = fields.String(validate=[validate.Regexp(PHONE_RE, error="must be + and digits (E.164), spaces "
                                                                    "allowed"), _phone],
                          metadata={"description": "E.164, e.g. +49 2351 123456"})
    email = fields.Email(validate=validate.Length(max=254))
    preferred_channel = fields.String(validate=validate.OneOf(CONTACT_CHANNELS))
    interpreter_needed = StrictBoolean()
    residence_valid_until = fields.Date(metadata={"description": "until when the residence title is valid"})

    @validates("municipality_arrival_date")
    def _municipality_arrival_date(self, value, **_):
        if value > date.today():
            raise ValidationError("must not lie in the future")

    @validates("residence_valid_until")
    def _residence_valid_until(self, value, **_):
        if not date(1900, 1, 1) <= value <= date(2199, 12, 31):
            raise ValidationError("must lie between 1900-01-01 and 2199-12-31")

    @validates_schema
    def _municipality_arrival_after_arrival(self, data, **_):
        if (data.get("municipality_arrival_date") and data.get("arrival_date")
                and data["municipality_arrival_date"] < data["arrival_date"]):
            raise ValidationError("must not lie before arrival_date", field_name="municipality_arrival_date")

    @validates("consents")
    def _case_management_consent(self, value, **_):
        if not any(c.get("purpose") == REQUIRED_CONSENT for c in value):
            raise ValidationError(f"a registration needs the person's `{REQUIRED_CONSENT}` consent")

    @validates("birth_date")
    def _birth_date(self, value, **_):
        if not date(1900, 1, 1) <= value <= date.today():
            raise ValidationError("must lie between 1900-01-01 and today")

    @validates("birth_year")
    def _birth_year(self, value, **_):
        if not 1900 <= value <= date.today().year:
            raise ValidationError(f"must lie between 1900 and {date.today().year}")

    @validates_schema
    def _link_or_new(self, data, **_):
        if data.get("existing_person_id") and data.get("confirmed_new"):
            raise ValidationError("send existing_person_id (this is that person) or confirmed_new (a new "
                                  "person), not both", field_name="existing_person_id")

    @validates_schema
    def _birth_date_or_year(self, data, partial=None, **_):
        """Exactly one: the day, or the year alone. A rectification (partial) may send neither."""
        if "birth_date" in data and "birth_year" in data:
            raise ValidationError("send birth_date or birth_year, not both", field_name="birth_year")
        if "birth_date" not in data and "birth_year" not in data and not (partial or self.partial):
            raise ValidationError("send birth_date (YYYY-MM-DD) or, when only the year is known, birth_year",
                                  field_name="birth_date")

    @validates("arrival_date")
    def _arrival_date(self, value, **_):
        if value > date.today():
            raise ValidationError("must not lie in the future")

    @validates_schema
    def _arrival_after_birth(self, data, **_):
        if "birth_date" in data and "arrival_date" in data and data["arrival_date"] < data["birth_date"]:
            raise ValidationError("must not lie before birth_date", field_name="arrival_date")
        if "birth_year" in data and "arrival_date" in data and data["arrival_date"].year < data["birth_year"]:
            raise ValidationError("must not lie before birth_year", field_name="arrival_date")


class PersonSchema(Schema):
    id = fields.UUID()
    given_name = fields.String()
    family_name = fields.String()
    birth_date = fields.Date(allow_none=True, metadata={"description": "null when only the year is known"})
    birth_year = fields.Integer(allow_none=True)
    municipality = fields.String()
    arrival_date = fields.Date()
    residence_status = fields.String()
    languages = fields.List(fields.String())
    consents = fields.List(fields.Nested(ConsentSchema))
    created_at = utc_datetime()
    version = fields.Integer()
    sex = fields.String(allow_none=True)
    nationalities = fields.List(fields.String(), allow_none=True)
    mother_tongues = fields.List(fields.String(), allow_none=True)
    german_level = fields.String(allow_none=True)
    municipality_arrival_date = fields.Date(allow_none=True)
    address = fields.Function(lambda person: _address_of(person), allow_none=True,
                              metadata={"description": "{street, postal_code, city} or null"})
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    preferred_channel = fields.String(allow_none=True)
    interpreter_needed = fields.Boolean(allow_none=True)
    residence_valid_until = fields.Date(allow_none=True)
    merged_into = fields.String(allow_none=True, metadata={
        "description": "set when this record was merged into another (the survivor): it is read-only then"})


def _address_of(person) -> dict | None:
    """The address columns (address_street, ...) of a Person or a stored person dict, as one object."""
    get = person.get if isinstance(person, dict) else lambda name: getattr(person, name, None)
    parts = {part: get(f"address_{part}") for part in ("street", "postal_code", "city")}
    return parts if any(v is not None for v in parts.values()) else None


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


# rectification, history, search --------------------------------------------------------------------------

class UpdatePersonSchema(RegisterPersonSchema):
    """A rectification (Art. 16 GDPR): any field of the registration but the consents, each optional (partial),
    with the registration's validation; unknown fields are refused. Consents have their own routes."""

    class Meta:
        unknown = RAISE
        exclude = ("consents", "confirmed_new", "existing_person_id")

    def __init__(self, **kwargs):
        kwargs.setdefault("partial", True)
        super().__init__(**kwargs)


class PersonChangeSchema(Schema):
    """One changed field: who (token sub), when, old -> new, and the person's version after the change."""

    id = fields.Integer()
    version = fields.Integer()
    changed_at = utc_datetime()
    changed_by = fields.String()
    field = fields.String()
    old_value = fields.Raw(allow_none=True)
    new_value = fields.Raw(allow_none=True)


class PersonHistoryPageSchema(Schema):
    person_id = fields.String()
    municipality = fields.String()
    items = fields.List(fields.Nested(PersonChangeSchema))
    next_cursor = fields.String(allow_none=True)


class PersonSearchQuerySchema(PageQuerySchema):
    class Meta:
        unknown = RAISE

    q = CleanText(load_default=None, validate=validate.Length(min=2, max=100),
                  metadata={"description": "a name or part of one, in any script; tolerant of transliteration "
                                           "and typos"})
    birth_date = fields.Date(load_default=None, metadata={
        "description": "also finds persons of whom only the year is known, that year's, ranked lower"})
    birth_year = fields.Integer(load_default=None, validate=validate.Range(min=1900, max=2199), metadata={
        "description": "persons born that year (full dates and year-only)"})
    municipality = ags_field(load_default=None)

    @validates_schema
    def _something_to_search_for(self, data, **_):
        if not data.get("q") and not data.get("birth_date") and not data.get("birth_year"):
            raise ValidationError("search by q (a name), birth_date or birth_year", field_name="q")
        if data.get("birth_date") and data.get("birth_year"):
            raise ValidationError("search by birth_date or birth_year, not both", field_name="birth_year")


class PersonSearchPageSchema(Schema):
    items = fields.List(fields.Nested(PersonSchema))
    next_cursor = fields.String(allow_none=True)


# households -----------------------------------------------------------------------------------------------

class HouseholdMemberSchema(Schema):
    class Meta:
        unknown = RAISE

    person_id = CanonicalUUID(required=True)
    relation = fields.String(required=True, validate=validate.OneOf(HOUSEHOLD_RELATIONS),
                             metadata={"description": "to the household's head: " + ", ".join(HOUSEHOLD_RELATIONS)})
    added_at = utc_datetime(dump_only=True)


class CreateHouseholdSchema(Schema):
    class Meta:
        unknown = RAISE

    members = fields.List(fields.Nested(HouseholdMemberSchema), required=True,
                          validate=validate.Length(min=1, max=30),
                          metadata={"description": "persons of one municipality, none in another household"})


class HouseholdSchema(Schema):
    """A household: its members' ids and relations only (their records are read through GET /v1/persons/{id})."""

    id = fields.String()
    municipality = fields.String()
    created_at = utc_datetime()
    members = fields.List(fields.Nested(HouseholdMemberSchema))


class HouseholdMembershipSchema(Schema):
    """One member added to a household."""

    household_id = fields.String()
    municipality = fields.String()
    person_id = fields.String()
    relation = fields.String()
    added_at = utc_datetime()


class HouseholdIdSchema(Schema):
    household_id = CanonicalUUID(required=True)


# merging two records of one person ---------------------------------------------------------------------------

class MergePersonSchema(Schema):
    """Merge the record of the path into `into` (the survivor)."""

    class Meta:
        unknown = RAISE

    into = CanonicalUUID(required=True, metadata={
        "description": "the survivor: a live person of the same municipality; the record of the path is merged "
                       "into it and becomes read-only"})


class PersonMergeSchema(Schema):
    """What a merge did: the merged-away record, the survivor, and what moved to it."""

    person_id = fields.String()
    into_person_id = fields.String()
    municipality = fields.String()
    merged_at = utc_datetime()
    filled = fields.List(fields.String(), metadata={"description": "fields of the survivor filled from the "
                                                                   "merged record (they were empty)"})
    consents_moved = fields.List(fields.String(), metadata={"description": "purposes whose records moved"})
    household_moved = fields.Boolean()
    survivor = fields.Nested(PersonSchema)
