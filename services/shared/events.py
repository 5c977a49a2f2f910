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
    "toleration", "family_reunification", "skilled_worker", "residence_permit", "settlement_permit",
    "eu_freedom_of_movement", "other",
)
#: the phases of the case-management cycle (casework's state machine in services/casework/cycle.py)
CASE_STATUSES = ("intake", "assessment", "planning", "implementation", "monitoring", "paused", "closed",
                 "reopened")
#: the life areas a holistic assessment covers; offers name the areas they address
LIFE_AREAS = ("language", "education", "work", "housing", "health", "residence", "family", "income",
              "participation")
NEED_LEVELS = ("none", "low", "medium", "high", "urgent")
CASE_OUTCOMES = ("goals_reached", "handed_over", "moved_away", "unreachable", "declined",
                 "consent_withdrawn", "other")
CONTACT_CHANNELS = ("in_person", "phone", "video", "home_visit")
EMPLOYERS = ("district", "municipality")
REFERRAL_STATUSES = ("draft", "sent", "accepted", "declined", "in_progress", "completed", "cancelled", "expired")
DECLINE_REASONS = ("no_capacity", "not_eligible", "person_declined", "not_reachable", "duplicate", "other")
REFERRAL_OUTCOMES = ("goal_reached", "partially_reached", "dropped_out", "other")
#: barrier (Integrationshürde) codes: lowercase snake case; the catalogue itself is data in casework
BARRIER_CODE_RE = r"^[a-z][a-z0-9_]{1,63}$"
#: pseudonymous staff id (the token's `sub`), never a name
STAFF_ID_RE = r"^[A-Za-z0-9._@:|-]{1,128}$"
#: a partner organisation's id: lowercase, digits and hyphens (it is part of routing keys and RabbitMQ users)
PROVIDER_ID_RE = r"^[a-z0-9][a-z0-9-]{1,62}$"
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
ERASING_SERVICES = ("casework", "referrals", "analytics")


class PersonErasedV1(PayloadSchema):
    """A person was erased in intake (Art. 17 GDPR): every other service erases what it holds and confirms."""

    person_id = fields.UUID(required=True)
    municipality = ags_field(required=True)
    erasure_id = fields.UUID(required=True)


class PersonMergedV1(PayloadSchema):
    """Two records were one person: `person_id` was merged into `into_person_id` (the survivor) and is read-only
    now. Consumers move what they keep of `person_id` to the survivor (casework: the case)."""

    person_id = fields.UUID(required=True)
    into_person_id = fields.UUID(required=True)
    municipality = ags_field(required=True)
    merged_at = utc_datetime(required=True)


class ErasureConfirmedV1(PayloadSchema):
    """A service erased what it held of the person of an erasure. No person id: the erasure id suffices."""

    erasure_id = fields.UUID(required=True)
    service = fields.String(required=True, validate=validate.OneOf(ERASING_SERVICES))


# casework: the case-management cycle --------------------------------------------------------------------------

class CaseEventV1(PayloadSchema):
    case_id = fields.UUID(required=True)
    person_id = fields.UUID(required=True)
    municipality = ags_field(required=True)


class CaseReassignedV1(CaseEventV1):
    """A team lead reassigned a case by hand, or casework handed it over because its case manager was set
    inactive (the reason stays in casework: it is free text)."""

    assigned_to = fields.String(required=True, allow_none=True, validate=validate.Regexp(STAFF_ID_RE))
    previous_assigned_to = fields.String(required=True, allow_none=True, validate=validate.Regexp(STAFF_ID_RE))
    team = fields.String(required=True, allow_none=True, validate=validate.Regexp(r"^[A-Za-z0-9._-]{1,64}$"))
    reassigned_at = utc_datetime(required=True)


class CaseStatusChangedV1(CaseEventV1):
    """A transition of the case-management cycle (who and why stay in casework)."""

    from_status = fields.String(required=True, validate=validate.OneOf(CASE_STATUSES))
    to_status = fields.String(required=True, validate=validate.OneOf(CASE_STATUSES))
    changed_at = utc_datetime(required=True)


class NeedV1(PayloadSchema):
    area = fields.String(required=True, validate=validate.OneOf(LIFE_AREAS))
    level = fields.String(required=True, validate=validate.OneOf(NEED_LEVELS))


class AssessmentRecordedV1(CaseEventV1):
    """An assessment (or re-assessment) of the life areas: need levels only, no notes."""

    assessment_id = fields.UUID(required=True)
    assessed_at = utc_datetime(required=True)
    needs = fields.List(fields.Nested(NeedV1), required=True)


class ContactRecordedV1(CaseEventV1):
    contact_id = fields.UUID(required=True)
    occurred_at = utc_datetime(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(CONTACT_CHANNELS))
    duration_minutes = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=1440))
    interpreter_language = fields.String(required=True, allow_none=True, validate=validate.Regexp(r"^[a-z]{2,3}$"))


class BarrierRecordedV1(CaseEventV1):
    barrier_id = fields.UUID(required=True)
    code = fields.String(required=True, validate=validate.Regexp(BARRIER_CODE_RE))
    area = fields.String(required=True, validate=validate.OneOf(LIFE_AREAS))
    recorded_on = fields.Date(required=True)


class BarrierResolvedV1(BarrierRecordedV1):
    resolved_on = fields.Date(required=True)


class CaseClosedV1(CaseEventV1):
    closed_at = utc_datetime(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(CASE_OUTCOMES))
    goals_total = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    goals_reached = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))


class CaseManagerSavedV1(PayloadSchema):
    """A case manager's profile was created or changed: what the caseload report measures against. The
    envelope's municipality is the first town served; `municipalities` lists all."""

    case_manager_id = fields.String(required=True, validate=validate.Regexp(STAFF_ID_RE))
    employer = fields.String(required=True, validate=validate.OneOf(EMPLOYERS))
    municipalities = fields.List(ags_field(), required=True)
    capacity = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=1000))
    active = fields.Boolean(required=True)


class CaseManagerSavedV2(CaseManagerSavedV1):
    """v1 and the case manager's `username` (the `sub` of their tokens): cases are assigned by it
    (`case_assigned`'s `assigned_to`), so the caseload report joins a manager's open cases to their capacity."""

    username = fields.String(required=True, validate=validate.Regexp(STAFF_ID_RE))


# referrals: the referral lifecycle -----------------------------------------------------------------------------

class ReferralEventV1(PayloadSchema):
    """Every change of a referral: one event type per lifecycle step (`referral_<status>`), one schema."""

    referral_id = fields.UUID(required=True)
    case_id = fields.UUID(required=True)
    person_id = fields.UUID(required=True)
    municipality = ags_field(required=True)
    offer_id = fields.UUID(required=True)
    goal_id = fields.UUID(load_default=None, allow_none=True)  # the case plan's goal the referral serves
    provider_id = fields.String(required=True, validate=validate.Regexp(PROVIDER_ID_RE))
    area = fields.String(required=True, validate=validate.OneOf(LIFE_AREAS))
    status = fields.String(required=True, validate=validate.OneOf(REFERRAL_STATUSES))
    previous_status = fields.String(required=True, allow_none=True, validate=validate.OneOf(REFERRAL_STATUSES))
    occurred_at = utc_datetime(required=True)
    decline_reason = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(DECLINE_REASONS))
    outcome = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(REFERRAL_OUTCOMES))


REFERRAL_EVENTS = tuple(f"referral_{status}" for status in REFERRAL_STATUSES)


# partners: what a provider's own subscription receives (topic exchange `kim.partners`) ------------------------

#: the topic exchange of partner events; routing key `referral.<status>.<provider_id>`
PARTNER_EXCHANGE = "kim.partners"
#: the statuses a provider hears of (a draft is the case manager's, not yet the partner's)
PARTNER_STATUSES = tuple(s for s in REFERRAL_STATUSES if s != "draft")
PARTNER_EVENTS = tuple(f"referral_{status}" for status in PARTNER_STATUSES)


class PartnerReferralEventV1(PayloadSchema):
    """A referral to the provider changed. No person id, no case id, no personal data: the provider reads the
    contact data the consent allows through the audited `GET /v1/partner/referrals/{id}`."""

    referral_id = fields.UUID(required=True)
    offer_id = fields.UUID(required=True)
    provider_id = fields.String(required=True, validate=validate.Regexp(PROVIDER_ID_RE))
    area = fields.String(required=True, validate=validate.OneOf(LIFE_AREAS))
    status = fields.String(required=True, validate=validate.OneOf(PARTNER_STATUSES))
    previous_status = fields.String(required=True, allow_none=True, validate=validate.OneOf(REFERRAL_STATUSES))
    occurred_at = utc_datetime(required=True)
    sent_at = utc_datetime(required=True, allow_none=True)
    answer_due = fields.Date(required=True, allow_none=True)  # when an unanswered referral expires
    languages = fields.List(language_code, required=True)
    interpreter_needed = fields.Boolean(required=True)
    decline_reason = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(DECLINE_REASONS))
    outcome = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(REFERRAL_OUTCOMES))


def partner_routing_key(status: str, provider_id: str) -> str:
    return f"referral.{status}.{provider_id}"


#: (producer, event_type, schema_version) -> payload schema. The producer is the nameko service whose
#: `<producer>.events` exchange carries the event.
CATALOGUE: dict[tuple[str, str, int], type[PayloadSchema]] = {
    ("intake", "person_registered", 1): PersonRegisteredV1,
    ("intake", "consent_granted", 1): ConsentGrantedV1,
    ("intake", "consent_withdrawn", 1): ConsentWithdrawnV1,
    ("intake", "person_updated", 1): PersonUpdatedV1,
    ("intake", "person_erased", 1): PersonErasedV1,
    ("intake", "person_merged", 1): PersonMergedV1,
    ("casework", "case_opened", 1): CaseOpenedV1,
    ("casework", "case_assigned", 1): CaseAssignedV1,
    ("casework", "erasure_confirmed", 1): ErasureConfirmedV1,
    ("casework", "case_reassigned", 1): CaseReassignedV1,
    ("casework", "case_status_changed", 1): CaseStatusChangedV1,
    ("casework", "assessment_recorded", 1): AssessmentRecordedV1,
    ("casework", "contact_recorded", 1): ContactRecordedV1,
    ("casework", "barrier_recorded", 1): BarrierRecordedV1,
    ("casework", "barrier_resolved", 1): BarrierResolvedV1,
    ("casework", "case_closed", 1): CaseClosedV1,
    ("casework", "case_manager_saved", 1): CaseManagerSavedV1,
    ("casework", "case_manager_saved", 2): CaseManagerSavedV2,  # v1 stays for the archive and older producers
    **{("referrals", event, 1): ReferralEventV1 for event in REFERRAL_EVENTS},
    ("referrals", "erasure_confirmed", 1): ErasureConfirmedV1,
    ("analytics", "erasure_confirmed", 1): ErasureConfirmedV1,
    **{("partners", event, 1): PartnerReferralEventV1 for event in PARTNER_EVENTS},
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
