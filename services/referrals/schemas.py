"""Payloads of the referrals service: the catalogue, suggestions, referrals and the partners' views."""
from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from services.shared.events import (DECLINE_REASONS, LIFE_AREAS, NEED_LEVELS, PROVIDER_ID_RE, REFERRAL_OUTCOMES,
                                    REFERRAL_STATUSES, RESIDENCE_STATUSES, ags_field, language_code, utc_datetime)
from services.shared.schemas import CanonicalUUID, CleanText, PageQuerySchema

OFFER_STATUSES = ("active", "paused")
provider_id_field = fields.String(validate=validate.Regexp(PROVIDER_ID_RE, error="lowercase letters, digits and "
                                                                                  "hyphens, 2 to 63 characters"))


class Strict(Schema):
    class Meta:
        unknown = RAISE


# catalogue ----------------------------------------------------------------------------------------------------

class CreateProviderSchema(Strict):
    id = fields.String(required=True, validate=validate.Regexp(PROVIDER_ID_RE, error="lowercase letters, digits "
                                                                                      "and hyphens, 2 to 63"))
    name = CleanText(required=True, validate=validate.Length(max=200))
    description = CleanText(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=254))
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^\+?[0-9 ()/-]{3,40}$"))
    website = fields.Url(load_default=None, allow_none=True, schemes={"https", "http"})


class ProviderSchema(Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    website = fields.String(allow_none=True)
    created_at = utc_datetime()


class ProviderPageSchema(Schema):
    items = fields.List(fields.Nested(ProviderSchema))
    next_cursor = fields.String(allow_none=True)


class LocationSchema(Strict):
    name = CleanText(required=True, validate=validate.Length(max=200))
    address = CleanText(load_default=None, allow_none=True, validate=validate.Length(max=200))
    postal_code = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^\d{5}$"))
    city = CleanText(load_default=None, allow_none=True, validate=validate.Length(max=100))


class OfferFieldsSchema(Strict):
    name = CleanText(required=True, validate=validate.Length(max=200))
    description = CleanText(load_default=None, allow_none=True, validate=validate.Length(max=4000))
    areas = fields.List(fields.String(validate=validate.OneOf(LIFE_AREAS)), required=True,
                        validate=validate.Length(min=1, max=len(LIFE_AREAS)))
    municipalities = fields.List(ags_field(), required=True, validate=validate.Length(min=1, max=100))
    locations = fields.List(fields.Nested(LocationSchema), load_default=list, validate=validate.Length(max=50))
    languages = fields.List(language_code, required=True, validate=validate.Length(min=1, max=30))
    residence_statuses = fields.List(fields.String(validate=validate.OneOf(RESIDENCE_STATUSES)), load_default=list,
                                     metadata={"description": "eligible residence statuses; empty: everyone"})
    min_age = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(0, 120))
    max_age = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(0, 120))
    eligibility_notes = CleanText(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    cost = CleanText(load_default=None, allow_none=True, validate=validate.Length(max=200))
    schedule = CleanText(load_default=None, allow_none=True, validate=validate.Length(max=500))
    capacity = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(0, 100000))
    waiting_days = fields.Integer(load_default=0, strict=True, validate=validate.Range(0, 3650),
                                  metadata={"description": "current waiting time in days"})
    status = fields.String(load_default="active", validate=validate.OneOf(OFFER_STATUSES))

    @validates_schema
    def _ages(self, data, **kwargs):
        if data.get("min_age") is not None and data.get("max_age") is not None and data["min_age"] > data["max_age"]:
            raise ValidationError("min_age must not exceed max_age", "max_age")


class CreateOfferSchema(OfferFieldsSchema):
    provider_id = fields.String(required=True, validate=validate.Regexp(PROVIDER_ID_RE))


class UpdateOfferSchema(OfferFieldsSchema):
    """Any subset of an offer's fields (e.g. {"status": "paused"} or {"waiting_days": 30})."""

    def __init__(self, **kwargs):
        super().__init__(partial=True, **kwargs)

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("name at least one field to change", "body")


class OfferSchema(Schema):
    id = fields.UUID()
    provider_id = fields.String()
    name = fields.String()
    description = fields.String(allow_none=True)
    areas = fields.List(fields.String())
    municipalities = fields.List(fields.String())
    locations = fields.List(fields.Dict())
    languages = fields.List(fields.String())
    residence_statuses = fields.List(fields.String())
    min_age = fields.Integer(allow_none=True)
    max_age = fields.Integer(allow_none=True)
    eligibility_notes = fields.String(allow_none=True)
    cost = fields.String(allow_none=True)
    schedule = fields.String(allow_none=True)
    capacity = fields.Integer(allow_none=True)
    waiting_days = fields.Integer()
    status = fields.String()
    created_at = utc_datetime()
    updated_at = utc_datetime()
    version = fields.Integer()


class OfferPageSchema(Schema):
    items = fields.List(fields.Nested(OfferSchema))
    next_cursor = fields.String(allow_none=True)


class OfferQuerySchema(PageQuerySchema):
    class Meta:
        unknown = RAISE

    municipality = ags_field(load_default=None)
    area = fields.String(load_default=None, validate=validate.OneOf(LIFE_AREAS))
    language = fields.String(load_default=None, validate=validate.Regexp(r"^[a-z]{2,3}$"))
    provider_id = fields.String(load_default=None, validate=validate.Regexp(PROVIDER_ID_RE))
    status = fields.String(load_default=None, validate=validate.OneOf(OFFER_STATUSES))


class OfferIdSchema(Schema):
    offer_id = CanonicalUUID(required=True)


class HsdsExportSchema(Schema):
    """A page of the catalogue as Open Referral HSDS 3.0 services (with their organization, locations...)."""

    total_items = fields.Integer()
    total_pages = fields.Integer()
    page_number = fields.Integer()
    size = fields.Integer()
    first_page = fields.Boolean()
    last_page = fields.Boolean()
    empty = fields.Boolean()
    contents = fields.List(fields.Dict())


class ExportQuerySchema(Strict):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


# matching -----------------------------------------------------------------------------------------------------

class CaseIdSchema(Schema):
    case_id = CanonicalUUID(required=True)


class SuggestionQuerySchema(Strict):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    include_paused = fields.Boolean(load_default=False)


class CriterionSchema(Schema):
    criterion = fields.String(metadata={"description": "need | municipality | language | residence_status | age "
                                                       "| waiting_time | barrier | status"})
    matched = fields.Boolean()
    detail = fields.String(metadata={"description": "the explanation in English"})
    values = fields.Dict(keys=fields.String(), metadata={
        "description": "what the explanation names, for a frontend to say it in its own language: need {area, level}; "
                       "municipality {municipality}; language {shared} or {offer_languages, interpreter_needed}; "
                       "residence_status {open_to (empty: every status), residence_status}; age {age, min_age, "
                       "max_age}; waiting_time {days}; barrier {codes}; status {status}"})


class SuggestionSchema(Schema):
    offer = fields.Nested(OfferSchema)
    score = fields.Float()
    eligible = fields.Boolean(metadata={"description": "false when a hard criterion failed (eligibility, "
                                                       "paused)"})
    area = fields.String()
    need_level = fields.String(validate=validate.OneOf(NEED_LEVELS))
    criteria = fields.List(fields.Nested(CriterionSchema))


class SuggestionPageSchema(Schema):
    case_id = fields.UUID()
    person_id = fields.UUID()
    municipality = fields.String()
    items = fields.List(fields.Nested(SuggestionSchema))


# referrals ----------------------------------------------------------------------------------------------------

class CreateReferralSchema(Strict):
    case_id = CanonicalUUID(required=True)
    offer_id = CanonicalUUID(required=True)
    goal_id = CanonicalUUID(load_default=None, allow_none=True,
                            metadata={"description": "the case plan's goal the referral serves"})
    area = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(LIFE_AREAS),
                         metadata={"description": "the life area it addresses; default the offer's first area "
                                                  "among the case's open needs"})
    note = CleanText(load_default=None, allow_none=True, validate=validate.Length(max=2000),
                     metadata={"description": "for the provider (no health details: shared by the consent)"})


class ReferralSchema(Schema):
    id = fields.UUID()
    case_id = fields.UUID()
    person_id = fields.UUID()
    municipality = fields.String()
    offer_id = fields.UUID()
    provider_id = fields.String()
    area = fields.String()
    goal_id = fields.UUID(allow_none=True)
    status = fields.String(validate=validate.OneOf(REFERRAL_STATUSES))
    note = fields.String(allow_none=True)
    languages = fields.List(fields.String())
    interpreter_needed = fields.Boolean()
    decline_reason = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)
    created_by = fields.String()
    created_at = utc_datetime()
    updated_at = utc_datetime()
    sent_at = utc_datetime(allow_none=True)
    answer_due = fields.Date(allow_none=True)
    version = fields.Integer()
    allowed_steps = fields.List(fields.String())


class TransitionSchema(Schema):
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    at = utc_datetime()
    by = fields.String(metadata={"description": "staff username, provider id or system"})


class ReferralExportSchema(ReferralSchema):
    """A referral as the person's Art. 15 export shows it: the record with its status history."""

    transitions = fields.List(fields.Nested(TransitionSchema))


class ReferralPageSchema(Schema):
    items = fields.List(fields.Nested(ReferralSchema))
    next_cursor = fields.String(allow_none=True)


class ReferralQuerySchema(PageQuerySchema):
    class Meta:
        unknown = RAISE

    case_id = CanonicalUUID(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(REFERRAL_STATUSES))


class ReferralIdSchema(Schema):
    referral_id = CanonicalUUID(required=True)


class DeclineSchema(Strict):
    reason = fields.String(required=True, validate=validate.OneOf(DECLINE_REASONS))


class CompleteSchema(Strict):
    outcome = fields.String(required=True, validate=validate.OneOf(REFERRAL_OUTCOMES))


class EmptyBodySchema(Strict):
    """No fields: the step itself is the request."""


# the partners' views: no person or case id --------------------------------------------------------------------

class PartnerReferralSchema(Schema):
    id = fields.UUID()
    offer_id = fields.UUID()
    provider_id = fields.String()
    area = fields.String()
    status = fields.String(validate=validate.OneOf(REFERRAL_STATUSES))
    note = fields.String(allow_none=True)
    languages = fields.List(fields.String())
    interpreter_needed = fields.Boolean()
    decline_reason = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)
    sent_at = utc_datetime(allow_none=True)
    answer_due = fields.Date(allow_none=True)
    updated_at = utc_datetime()
    allowed_steps = fields.List(fields.String())


class PartnerReferralPageSchema(Schema):
    items = fields.List(fields.Nested(PartnerReferralSchema))
    next_cursor = fields.String(allow_none=True)


class PartnerInboxQuerySchema(PageQuerySchema):
    class Meta:
        unknown = RAISE

    status = fields.String(load_default=None, validate=validate.OneOf(REFERRAL_STATUSES))


class PartnerContactSchema(Schema):
    """The contact data the person's referral_sharing consent allows a provider to read."""

    given_name = fields.String()
    family_name = fields.String()
    phone = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    preferred_channel = fields.String(allow_none=True)
    languages = fields.List(fields.String())
    interpreter_needed = fields.Boolean(allow_none=True)


class PartnerReferralDetailSchema(PartnerReferralSchema):
    contact = fields.Nested(PartnerContactSchema)


# what referrals asks intake (services/intake/referral_facts.py) ----------------------------------------------

class ReferralFactsSchema(Schema):
    person_id = fields.UUID()
    municipality = fields.String()
    residence_status = fields.String()
    birth_year = fields.Integer(allow_none=True)
    languages = fields.List(fields.String())
    interpreter_needed = fields.Boolean()
    referral_sharing = fields.Boolean()
