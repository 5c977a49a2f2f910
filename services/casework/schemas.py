from __future__ import annotations

# !! READ /work/issue14_routes.md: the exact routes and field names (binding) !!

from marshmallow import RAISE, Schema, fields, validate

from services.shared.events import CASE_OUTCOMES, CASE_STATUSES, EMPLOYERS, utc_datetime
from services.shared.schemas import CanonicalUUID, PageQuerySchema


class CaseSchema(Schema):
    id = fields.UUID()
    person_id = fields.UUID()
    municipality = fields.String()
    status = fields.String(validate=validate.OneOf(CASE_STATUSES))
    opened_at = utc_datetime()
    updated_at = utc_datetime()
    assigned_to = fields.String(allow_none=True, metadata={"description": "the case manager's username"})
    team = fields.String(allow_none=True)
    version = fields.Integer()
    case_manager_id = fields.UUID(allow_none=True)
    languages = fields.List(fields.String(), metadata={"description": "the person's languages (assignment)"})
    paused_from = fields.String(allow_none=True, metadata={"description": "while paused: the phase it returns to"})
    closed_at = utc_datetime(allow_none=True)
    outcome = fields.String(allow_none=True, validate=validate.OneOf(CASE_OUTCOMES))
    evaluation = fields.String(allow_none=True, metadata={"description": "the closing evaluation note"})
    allowed_transitions = fields.Method("_allowed", metadata={
        "description": "the phases it may move to next (closed: POST /v1/cases/{case_id}/closure)",
        "type": "array", "items": {"type": "string", "enum": list(CASE_STATUSES)}})

    def _allowed(self, case):
        from .cycle import allowed_targets  # the cycle's table, as the transitions route checks it
        return list(allowed_targets(case.status, case.paused_from))


class CasePageSchema(Schema):
    items = fields.List(fields.Nested(CaseSchema))
    next_cursor = fields.String(allow_none=True)


class CaseListQuerySchema(PageQuerySchema):
    class Meta:
        unknown = RAISE

    person_id = CanonicalUUID(load_default=None)
    municipality = fields.String(load_default=None, validate=validate.Regexp(r"^\d{8}$"))
    status = fields.String(load_default=None, validate=validate.OneOf(CASE_STATUSES))
    case_manager_id = CanonicalUUID(load_default=None)
    unassigned = fields.Boolean(load_default=None, metadata={
        "description": "true: only the municipality's queue (cases waiting for a case manager)"})


class CaseIdSchema(Schema):
    case_id = CanonicalUUID(required=True)


class AssignCaseSchema(Schema):
    """A team lead assigns (or reassigns) a case by hand, with a reason; null puts it back into the queue."""

    class Meta:
        unknown = RAISE

    case_manager_id = CanonicalUUID(required=True, allow_none=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


# case managers, teams, absences, assignment, the cycle and closing (staff.py, cycle.py) -----------------------

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
USERNAME_RE = r"^[A-Za-z0-9._@:-]{1,128}$"  # a token's `sub` (as the case_assigned event's assigned_to)
TEAM_RE = r"^[A-Za-z0-9._-]{1,64}$"


class CoverageSchema(Schema):
    class Meta:
        unknown = RAISE

    municipality = fields.String(required=True, validate=validate.Regexp(r"^\d{8}$"))
    weekdays = fields.List(fields.String(validate=validate.OneOf(_WEEKDAYS)), required=True,
                           validate=validate.Length(min=1, max=7))
    hours_per_week = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0, max=60),
                                  metadata={"description": "hours a week in this town; default: the total "
                                                           "hours split by weekdays"})


class CreateCaseManagerSchema(Schema):
    """A case manager's profile. `username` is the `sub` of their tokens; `name` is staff data (never in an
    event). Capacity defaults to the hours pro rata (KIM_CASES_PER_FULL_TIME for KIM_FULL_TIME_HOURS)."""

    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    username = fields.String(required=True, validate=[
        validate.Regexp(USERNAME_RE),
        validate.NoneOf(("system",), error="`system` names the platform in the histories")])
    employer = fields.String(required=True, validate=validate.OneOf(EMPLOYERS))
    employer_municipality = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^\d{8}$"),
                                          metadata={"description": "a municipal employer: which (default: the "
                                                                   "first town covered)"})
    languages = fields.List(fields.String(validate=validate.Regexp(r"^[a-z]{2,3}$")), load_default=list,
                            validate=validate.Length(max=20))
    hours_per_week = fields.Float(required=True, validate=validate.Range(min=1, max=60))
    coverage = fields.List(fields.Nested(CoverageSchema), required=True, validate=validate.Length(min=1, max=20))
    capacity = fields.Integer(load_default=None, allow_none=True, strict=True,
                              validate=validate.Range(min=0, max=1000))
    team = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(TEAM_RE),
                         metadata={"description": "the team (the `team` claim of their tokens)"})
    team_lead = fields.Boolean(load_default=False, metadata={"description": "leads the team"})
    active = fields.Boolean(load_default=True)


class UpdateCaseManagerSchema(Schema):
    """Change fields of a profile (coverage replaces the whole list)."""

    class Meta:
        unknown = RAISE

    name = fields.String(validate=validate.Length(min=1, max=100))
    languages = fields.List(fields.String(validate=validate.Regexp(r"^[a-z]{2,3}$")), validate=validate.Length(max=20))
    hours_per_week = fields.Float(validate=validate.Range(min=1, max=60))
    coverage = fields.List(fields.Nested(CoverageSchema), validate=validate.Length(min=1, max=20))
    capacity = fields.Integer(allow_none=True, strict=True, validate=validate.Range(min=0, max=1000))
    team = fields.String(allow_none=True, validate=validate.Regexp(TEAM_RE))
    team_lead = fields.Boolean()
    active = fields.Boolean()


class CaseManagerSchema(Schema):
    id = fields.UUID()
    username = fields.String()
    name = fields.String()
    employer = fields.String()
    employer_municipality = fields.String(allow_none=True)
    team = fields.String(allow_none=True)
    team_lead = fields.Boolean()
    languages = fields.List(fields.String())
    hours_per_week = fields.Float()
    coverage = fields.List(fields.Nested(CoverageSchema))
    capacity = fields.Integer()
    capacity_from_hours = fields.Boolean()
    active = fields.Boolean()
    absent_today = fields.Boolean()
    created_at = utc_datetime()
    updated_at = utc_datetime()
    version = fields.Integer()


class CaseManagerPageSchema(Schema):
    items = fields.List(fields.Nested(CaseManagerSchema))
    next_cursor = fields.String(allow_none=True)


class CaseManagerListQuerySchema(PageQuerySchema):
    class Meta:
        unknown = RAISE

    municipality = fields.String(load_default=None, validate=validate.Regexp(r"^\d{8}$"))
    team = fields.String(load_default=None, validate=validate.Regexp(TEAM_RE))


class CaseManagerIdSchema(Schema):
    case_manager_id = CanonicalUUID(required=True)


class TeamIdSchema(Schema):
    team_id = fields.String(required=True, validate=validate.Regexp(TEAM_RE))


class CreateAbsenceSchema(Schema):
    """An absence (holiday, sickness, ...) from `from` to `to` (inclusive), with a deputy (another case manager
    serving one of the same towns). Absent case managers get no new cases."""

    class Meta:
        unknown = RAISE

    starts_on = fields.Date(required=True, data_key="from")
    ends_on = fields.Date(required=True, data_key="to")
    deputy_id = CanonicalUUID(load_default=None, allow_none=True)
    kind = fields.String(load_default="other", validate=validate.OneOf(("holiday", "sickness", "training", "other")))


class AbsenceSchema(Schema):
    id = fields.UUID()
    case_manager_id = fields.UUID()
    kind = fields.String()
    starts_on = fields.Date(data_key="from")
    ends_on = fields.Date(data_key="to")
    deputy_id = fields.UUID(allow_none=True)
    created_at = utc_datetime()
    created_by = fields.String()


class AbsenceListSchema(Schema):
    items = fields.List(fields.Nested(AbsenceSchema))


class CaseAssignmentSchema(Schema):
    case_manager_id = fields.UUID(allow_none=True)
    assigned_to = fields.String(allow_none=True)
    previous_assigned_to = fields.String(allow_none=True)
    team = fields.String(allow_none=True)
    automatic = fields.Boolean()
    reason = fields.String(allow_none=True)
    assigned_by = fields.String()
    assigned_at = utc_datetime()


class CaseAssignmentListSchema(Schema):
    case_id = fields.UUID()
    person_id = fields.UUID()
    municipality = fields.String()
    items = fields.List(fields.Nested(CaseAssignmentSchema), metadata={"description": "oldest first"})


class TransitionRequestSchema(Schema):
    """Move a case to another phase of the cycle (closing: POST /v1/cases/{id}/closure)."""

    class Meta:
        unknown = RAISE

    to = fields.String(required=True, validate=validate.OneOf(CASE_STATUSES))
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class CaseTransitionSchema(Schema):
    from_status = fields.String(data_key="from")
    to_status = fields.String(data_key="to")
    reason = fields.String(allow_none=True)
    changed_by = fields.String()
    changed_at = utc_datetime()


class CaseTransitionListSchema(Schema):
    case_id = fields.UUID()
    person_id = fields.UUID()
    municipality = fields.String()
    items = fields.List(fields.Nested(CaseTransitionSchema), metadata={"description": "oldest first"})


class GoalEvaluationSchema(Schema):
    class Meta:
        unknown = RAISE

    goal_id = CanonicalUUID(required=True)
    reached = fields.Boolean(required=True)
    status = fields.String(load_default=None, validate=validate.OneOf(
        ("reached", "partially_reached", "not_reached", "dropped")),
        metadata={"description": "finer than `reached` (default: reached / not_reached)"})
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=4000))


class ClosureSchema(Schema):
    """Close a case: its outcome, the evaluation of each goal of its plan, and an evaluation note."""

    class Meta:
        unknown = RAISE

    outcome = fields.String(required=True, validate=validate.OneOf([o for o in CASE_OUTCOMES
                                                                     if o != "consent_withdrawn"]))
    evaluation = fields.List(fields.Nested(GoalEvaluationSchema), load_default=list,
                             validate=validate.Length(max=200))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=8000))


class CaseloadRowSchema(Schema):
    case_manager_id = fields.UUID()
    username = fields.String()
    name = fields.String()
    capacity = fields.Integer()
    active_cases = fields.Integer()
    load = fields.Float(allow_none=True, metadata={"description": "active cases / capacity"})
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer())
    absent_today = fields.Boolean()
    active = fields.Boolean()


class CaseloadSchema(Schema):
    team = fields.String(allow_none=True)
    case_managers = fields.List(fields.Nested(CaseloadRowSchema))
    unassigned_cases = fields.Integer(metadata={"description": "the queue of the caller's municipalities"})



# assessments, plan, contacts, appointments, barriers, worklist (assessment.py, plan.py, contacts.py, barriers.py)

import functools  # noqa: E402

from services.shared.events import BARRIER_CODE_RE, CONTACT_CHANNELS, LIFE_AREAS, NEED_LEVELS  # noqa: E402

GOAL_STATUSES = ("open", "reached", "partially_reached", "not_reached", "dropped")
ACTION_STATUSES = ("open", "done", "cancelled")
ACTION_ASSIGNEES = ("case_manager", "person", "third_party")
CONTACT_STATUSES = ("planned", "held", "cancelled")
_text = functools.partial(fields.String, validate=validate.Length(min=1, max=4000))


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class AreaAssessmentSchema(_Strict):
    area = fields.String(required=True, validate=validate.OneOf(LIFE_AREAS))
    need = fields.String(required=True, validate=validate.OneOf(NEED_LEVELS))
    priority = fields.Integer(load_default=None, allow_none=True, strict=True,
                              validate=validate.Range(min=1, max=len(LIFE_AREAS)),
                              metadata={"description": "the person's own ranking of the area, 1 = most important"})
    strengths = _text(load_default=None, allow_none=True, metadata={"description": "strengths and resources"})
    notes = _text(load_default=None, allow_none=True)


class RecordAssessmentSchema(_Strict):
    """An assessment (or re-assessment) of the life areas; allowed in every phase after intake."""

    areas = fields.List(fields.Nested(AreaAssessmentSchema), required=True,
                        validate=validate.Length(min=1, max=len(LIFE_AREAS)))
    summary = _text(load_default=None, allow_none=True)


class AssessmentSchema(Schema):
    id = fields.UUID()
    case_id = fields.UUID()
    phase = fields.String()
    assessed_at = utc_datetime()
    assessed_by = fields.String()
    summary = fields.String(allow_none=True)
    areas = fields.List(fields.Nested(AreaAssessmentSchema))


class AssessmentListSchema(Schema):
    items = fields.List(fields.Nested(AssessmentSchema))


class NeedLevelAtSchema(Schema):
    assessment_id = fields.UUID()
    assessed_at = utc_datetime()
    phase = fields.String()
    need = fields.String()


class AreaProgressSchema(Schema):
    area = fields.String()
    levels = fields.List(fields.Nested(NeedLevelAtSchema), metadata={"description": "oldest first"})


class AssessmentProgressSchema(Schema):
    case_id = fields.UUID()
    areas = fields.List(fields.Nested(AreaProgressSchema))


class NeedSchema(Schema):
    area = fields.String()
    level = fields.String()


class BarrierCodeAreaSchema(Schema):
    code = fields.String()
    area = fields.String()


class CaseProfileSchema(Schema):
    """What the referrals service matches offers against (RPC `case_profile`)."""

    case_id = fields.UUID()
    person_id = fields.UUID()
    municipality = fields.String()
    status = fields.String()
    assigned_to = fields.String(allow_none=True)
    needs = fields.List(fields.Nested(NeedSchema))
    open_barriers = fields.List(fields.Nested(BarrierCodeAreaSchema))


# the case plan: goals and their actions -------------------------------------------------------------------

class CreateGoalSchema(_Strict):
    area = fields.String(required=True, validate=validate.OneOf(LIFE_AREAS))
    description = _text(required=True)
    target_date = fields.Date(load_default=None, allow_none=True)
    agreed_with_person = fields.Boolean(load_default=False)


class UpdateGoalSchema(_Strict):
    description = _text()
    target_date = fields.Date(allow_none=True)
    agreed_with_person = fields.Boolean()
    status = fields.String(validate=validate.OneOf(GOAL_STATUSES))


class CreateActionSchema(_Strict):
    """A task; referrals to offers are made through the referrals service and appear here by themselves."""

    assignee = fields.String(required=True, validate=validate.OneOf(ACTION_ASSIGNEES),
                             metadata={"description": "whose task it is"})
    description = _text(required=True)
    due_on = fields.Date(load_default=None, allow_none=True)


class UpdateActionSchema(_Strict):
    assignee = fields.String(validate=validate.OneOf(ACTION_ASSIGNEES))
    description = _text()
    due_on = fields.Date(allow_none=True)
    status = fields.String(validate=validate.OneOf(ACTION_STATUSES))


class ActionSchema(Schema):
    id = fields.UUID()
    goal_id = fields.UUID(allow_none=True)
    case_id = fields.UUID()
    kind = fields.String(metadata={"description": "task | referral"})
    assignee = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    due_on = fields.Date(allow_none=True)
    status = fields.String(metadata={"description": "open | done | cancelled; a referral's: its status"})
    referral_id = fields.UUID(allow_none=True)
    offer_id = fields.UUID(allow_none=True)
    done_at = utc_datetime(allow_none=True)
    created_at = utc_datetime()
    created_by = fields.String()
    version = fields.Integer()
    overdue = fields.Boolean()


class GoalSchema(Schema):
    id = fields.UUID()
    case_id = fields.UUID()
    area = fields.String()
    description = fields.String()
    target_date = fields.Date(allow_none=True)
    status = fields.String(validate=validate.OneOf(GOAL_STATUSES))
    agreed_with_person = fields.Boolean()
    created_at = utc_datetime()
    created_by = fields.String()
    updated_at = utc_datetime()
    version = fields.Integer()
    overdue = fields.Boolean()
    actions = fields.List(fields.Nested(ActionSchema))


class PlanSchema(Schema):
    case_id = fields.UUID()
    goals = fields.List(fields.Nested(GoalSchema))
    actions_without_goal = fields.List(fields.Nested(ActionSchema))
    overdue = fields.Integer(metadata={"description": "how many goals and actions are overdue"})


class OverdueItemSchema(Schema):
    kind = fields.String(metadata={"description": "goal | action"})
    id = fields.UUID()
    case_id = fields.UUID()
    goal_id = fields.UUID(allow_none=True)
    due_on = fields.Date()
    status = fields.String()


class OverdueListSchema(Schema):
    items = fields.List(fields.Nested(OverdueItemSchema))


class OverdueQuerySchema(_Strict):
    date = fields.Date(load_default=None, metadata={"description": "overdue as of this day (default today)"})


class GoalPathSchema(Schema):
    case_id = CanonicalUUID(required=True)
    goal_id = CanonicalUUID(required=True)


class ActionPathSchema(Schema):
    case_id = CanonicalUUID(required=True)
    action_id = CanonicalUUID(required=True)


# contacts and appointments --------------------------------------------------------------------------------

class RecordContactSchema(_Strict):
    """A contact held (default), or an appointment planned (`status: planned`, in the future)."""

    status = fields.String(load_default="held", validate=validate.OneOf(("planned", "held")))
    occurred_at = utc_datetime(required=True, metadata={"description": "when it was held, or is planned"})
    duration_minutes = fields.Integer(load_default=None, allow_none=True, strict=True,
                                      validate=validate.Range(min=0, max=1440))
    channel = fields.String(required=True, validate=validate.OneOf(CONTACT_CHANNELS))
    place = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200))
    interpreter_language = fields.String(load_default=None, allow_none=True,
                                         validate=validate.Regexp(r"^[a-z]{2,3}$"),
                                         metadata={"description": "ISO 639 code; null: no interpreter"})
    participants = fields.List(fields.String(validate=validate.Length(min=1, max=100)), load_default=list,
                               validate=validate.Length(max=20))
    summary = _text(load_default=None, allow_none=True)
    follow_up_on = fields.Date(load_default=None, allow_none=True,
                               metadata={"description": "next follow-up due (becomes the case's)"})


class UpdateContactSchema(_Strict):
    """Mark a planned appointment held or cancelled (held and cancelled contacts are final)."""

    status = fields.String(required=True, validate=validate.OneOf(("held", "cancelled")))
    occurred_at = utc_datetime(metadata={"description": "when it was actually held (default: as planned)"})
    duration_minutes = fields.Integer(allow_none=True, strict=True, validate=validate.Range(min=0, max=1440))
    interpreter_language = fields.String(allow_none=True, validate=validate.Regexp(r"^[a-z]{2,3}$"))
    participants = fields.List(fields.String(validate=validate.Length(min=1, max=100)),
                               validate=validate.Length(max=20))
    summary = _text(allow_none=True)
    follow_up_on = fields.Date(allow_none=True)


class ContactSchema(Schema):
    id = fields.UUID()
    case_id = fields.UUID()
    case_manager_id = fields.String(allow_none=True, metadata={"description": "the case manager's username"})
    status = fields.String(validate=validate.OneOf(CONTACT_STATUSES))
    occurred_at = utc_datetime()
    duration_minutes = fields.Integer(allow_none=True)
    channel = fields.String()
    place = fields.String(allow_none=True)
    interpreter_language = fields.String(allow_none=True)
    participants = fields.List(fields.String())
    summary = fields.String(allow_none=True)
    follow_up_on = fields.Date(allow_none=True)
    recorded_by = fields.String()
    created_at = utc_datetime()
    version = fields.Integer()


class ContactPageSchema(Schema):
    items = fields.List(fields.Nested(ContactSchema))
    next_cursor = fields.String(allow_none=True)


class ContactPathSchema(Schema):
    case_id = CanonicalUUID(required=True)
    contact_id = CanonicalUUID(required=True)


class AppointmentQuerySchema(_Strict):
    case_manager = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Za-z0-9._@:|-]{1,128}$"),
                                 metadata={"description": "a case manager's username (default: the caller)"})
    from_ = utc_datetime(data_key="from", load_default=None, metadata={"description": "default: now"})
    to = utc_datetime(load_default=None, metadata={"description": "default: 14 days after `from`"})


class PeriodQuerySchema(_Strict):
    from_ = utc_datetime(data_key="from", load_default=None, metadata={"description": "default: now"})
    to = utc_datetime(load_default=None, metadata={"description": "default: 14 days after `from`"})


class AppointmentSchema(ContactSchema):
    municipality = fields.String()
    person_id = fields.UUID()


class AppointmentListSchema(Schema):
    items = fields.List(fields.Nested(AppointmentSchema))


class FlaggedQuerySchema(_Strict):
    days = fields.Integer(load_default=None, validate=validate.Range(min=1, max=3650),
                          metadata={"description": "no contact for this many days (default KIM_NO_CONTACT_DAYS)"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class FlaggedCaseSchema(Schema):
    case_id = fields.UUID()
    person_id = fields.UUID()
    municipality = fields.String()
    status = fields.String()
    assigned_to = fields.String(allow_none=True)
    last_contact_at = utc_datetime(allow_none=True)
    days_without_contact = fields.Integer()


class FlaggedCaseListSchema(Schema):
    days = fields.Integer()
    items = fields.List(fields.Nested(FlaggedCaseSchema))


# barriers (Integrationshürden) ----------------------------------------------------------------------------

class BarrierCodeSchema(Schema):
    code = fields.String()
    area = fields.String()
    label_de = fields.String()
    label_en = fields.String()


class BarrierCodeListSchema(Schema):
    codes = fields.List(fields.Nested(BarrierCodeSchema))


class RecordBarrierSchema(_Strict):
    code = fields.String(required=True, validate=validate.Regexp(BARRIER_CODE_RE),
                         metadata={"description": "a code of GET /v1/barrier-codes"})
    area = fields.String(load_default=None, validate=validate.OneOf(LIFE_AREAS),
                         metadata={"description": "default: the code's area"})
    noted_at = fields.Date(load_default=None, metadata={"description": "default: today"})
    note = _text(load_default=None, allow_none=True)


class ResolveBarrierSchema(_Strict):
    resolved_at = fields.Date(load_default=None, metadata={"description": "default: today"})
    how = _text(required=True)


class BarrierSchema(Schema):
    id = fields.UUID()
    case_id = fields.UUID()
    code = fields.String()
    area = fields.String()
    noted_at = fields.Date(attribute="recorded_on")
    recorded_by = fields.String()
    note = fields.String(allow_none=True)
    resolved_at = fields.Date(attribute="resolved_on", allow_none=True)
    how = fields.String(attribute="resolution", allow_none=True)
    resolved_by = fields.String(allow_none=True)
    created_at = utc_datetime()


class BarrierListSchema(Schema):
    items = fields.List(fields.Nested(BarrierSchema))


class BarrierPathSchema(Schema):
    case_id = CanonicalUUID(required=True)
    barrier_id = CanonicalUUID(required=True)


# the worklist ---------------------------------------------------------------------------------------------

class WorklistQuerySchema(_Strict):
    date = fields.Date(load_default=None, metadata={"description": "default: today"})


class DueItemSchema(Schema):
    kind = fields.String(metadata={"description": "action | goal | follow_up | appointment"})
    id = fields.String(allow_none=True, metadata={"description": "the action's, goal's or contact's id"})
    due_on = fields.Date()
    overdue = fields.Boolean()


class WorklistCaseSchema(Schema):
    case_id = fields.UUID()
    person_id = fields.UUID()
    municipality = fields.String()
    status = fields.String()
    next_due = fields.Nested(DueItemSchema, allow_none=True)
    overdue = fields.Integer(metadata={"description": "how many goals and actions are overdue"})
    last_contact_at = utc_datetime(allow_none=True)
    no_contact_flag = fields.Boolean(metadata={"description": "no contact for KIM_NO_CONTACT_DAYS days"})


class WorklistSchema(Schema):
    date = fields.Date()
    case_manager = fields.String()
    municipalities_today = fields.List(fields.String(), metadata={"description": "towns served on this weekday"})
    appointments = fields.List(fields.Nested(AppointmentSchema), metadata={"description": "planned that day"})
    cases = fields.List(fields.Nested(WorklistCaseSchema), metadata={"description": "next due first"})

