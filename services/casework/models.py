from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.shared.db import UTCDateTime, platform_tables


class Base(DeclarativeBase):
    metadata = MetaData()


metadata = Base.metadata
platform_tables(metadata)


class Case(Base):
    """A case (Fall) in the case management (Fallmanagement) of one person."""

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_municipality_opened", "municipality", "opened_at", "id"),
                      Index("ix_cases_case_manager_status", "case_manager_id", "status", "municipality"),
                      # a case manager's own cases by their username (token sub): the worklist, overdue, flagged
                      Index("ix_cases_assigned_status", "assigned_to", "status"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(36), unique=True)  # one case per person
    municipality: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(20))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    assigned_to: Mapped[str | None] = mapped_column(String(128), nullable=True)  # the case manager's username
    team: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    case_manager_id: Mapped[str | None] = mapped_column(String(36), nullable=True)  # case_managers.id
    # from person_registered / person_updated: what assignment prefers (a shared language)
    languages: Mapped[list] = mapped_column(JSON, default=list)
    paused_from: Mapped[str | None] = mapped_column(String(20), nullable=True)  # the phase a pause returns to
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(30), nullable=True)
    evaluation: Mapped[str | None] = mapped_column(Text, nullable=True)  # free text: never in an event
    last_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    follow_up_on: Mapped[date | None] = mapped_column(Date, nullable=True)


# case managers, teams, coverage, absences; assignment and the cycle's history (staff.py, cycle.py) -------------

class Team(Base):
    """A team of case managers (the `team` claim of their tokens); kept up to date from the case managers'
    profiles (`team`, `team_lead`)."""

    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    lead_id: Mapped[str | None] = mapped_column(String(36), nullable=True)  # the lead's case_managers.id
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseManager(Base):
    """A case manager (Fallmanager:in): an id of their own and the `username` their tokens carry as `sub`;
    employed by the district (Kreis) and lent to municipalities, or by a municipality."""

    __tablename__ = "case_managers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)  # = the token's `sub`
    display_name: Mapped[str] = mapped_column(String(100))  # staff, not a client: shown to colleagues
    employer: Mapped[str] = mapped_column(String(20))  # district | municipality
    employer_municipality: Mapped[str | None] = mapped_column(String(8), nullable=True)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"), nullable=True)
    languages: Mapped[list] = mapped_column(JSON, default=list)
    hours_per_week: Mapped[float] = mapped_column(Float)
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)  # null: derived from the hours
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)


class Coverage(Base):
    """Which municipality a case manager serves on which weekdays, with how many hours a week there."""

    __tablename__ = "coverages"
    __table_args__ = (Index("ix_coverages_municipality", "municipality"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_manager_id: Mapped[str] = mapped_column(ForeignKey("case_managers.id", ondelete="CASCADE"), index=True)
    municipality: Mapped[str] = mapped_column(String(8))
    weekdays: Mapped[list] = mapped_column(JSON)  # ["mon", "tue", ...]
    hours_per_week: Mapped[float] = mapped_column(Float)


class Absence(Base):
    __tablename__ = "absences"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_manager_id: Mapped[str] = mapped_column(ForeignKey("case_managers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # holiday | sickness | training | other
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    deputy_id: Mapped[str | None] = mapped_column(String(36), nullable=True)  # another case manager's id
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))


class CaseAssignment(Base):
    """The assignment history of a case: automatic ones and a team lead's reassignments (with a reason)."""

    __tablename__ = "case_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    case_manager_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    assigned_to: Mapped[str | None] = mapped_column(String(128), nullable=True)  # the username, as on the case
    previous_assigned_to: Mapped[str | None] = mapped_column(String(128), nullable=True)
    team: Mapped[str | None] = mapped_column(String(64), nullable=True)
    automatic: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    assigned_by: Mapped[str] = mapped_column(String(128))  # a token's sub, or "system"
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseTransition(Base):
    """One step of the case-management cycle: who moved the case from which phase to which, when and why."""

    __tablename__ = "case_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    changed_by: Mapped[str] = mapped_column(String(128))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


# assessments, plan, contacts, barriers (assessment.py, plan.py, contacts.py, barriers.py) ----------------------

class Assessment(Base):
    """A holistic assessment of one phase run; a re-assessment is a new row, so progress per area shows."""

    __tablename__ = "assessments"
    __table_args__ = (Index("ix_assessments_case", "case_id", "assessed_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36))
    phase: Mapped[str] = mapped_column(String(20))  # the case's status when assessed
    assessed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    assessed_by: Mapped[str] = mapped_column(String(128))
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)


class AssessmentArea(Base):
    __tablename__ = "assessment_areas"

    assessment_id: Mapped[str] = mapped_column(ForeignKey("assessments.id", ondelete="CASCADE"), primary_key=True)
    area: Mapped[str] = mapped_column(String(20), primary_key=True)
    need_level: Mapped[str] = mapped_column(String(10))
    priority: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the person's own ranking, 1 = first
    strengths: Mapped[str | None] = mapped_column(Text, nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)


class Goal(Base):
    __tablename__ = "goals"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    area: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text)
    target_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(20))  # open | reached | partially_reached | not_reached | dropped
    agreed_with_person: Mapped[bool] = mapped_column(Boolean)
    evaluation: Mapped[str | None] = mapped_column(Text, nullable=True)  # at closing
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)


class Action(Base):
    """A step under a goal: a task (for the case manager, the person or a third party) or a referral to an
    offer (the referral's id and status mirrored from the referrals service's events)."""

    __tablename__ = "actions"
    __table_args__ = (Index("ix_actions_case_due", "case_id", "due_on"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    goal_id: Mapped[str | None] = mapped_column(ForeignKey("goals.id", ondelete="CASCADE"), nullable=True)
    case_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(10))  # task | referral
    assignee: Mapped[str | None] = mapped_column(String(20), nullable=True)  # case_manager | person | third_party
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(20))  # open | done | cancelled, or the referral's status
    referral_id: Mapped[str | None] = mapped_column(String(36), nullable=True, unique=True)
    offer_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer, default=1)


class Contact(Base):
    """A contact held, or an appointment planned (status `planned`), with a case's person."""

    __tablename__ = "contacts"
    __table_args__ = (Index("ix_contacts_case_manager_at", "case_manager_id", "occurred_at"),
                      Index("ix_contacts_case_at", "case_id", "occurred_at"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36))
    case_manager_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    status: Mapped[str] = mapped_column(String(10))  # planned | held | cancelled
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())  # held at, or planned for
    duration_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    channel: Mapped[str] = mapped_column(String(20))
    place: Mapped[str | None] = mapped_column(String(200), nullable=True)
    interpreter_language: Mapped[str | None] = mapped_column(String(3), nullable=True)
    participants: Mapped[list] = mapped_column(JSON, default=list)
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    follow_up_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    recorded_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)  # a planned appointment is later held/cancelled


class Barrier(Base):
    """An integration barrier (Integrationshürde) recorded for a case: a code of the catalogue
    (services/shared/data/barrier_codes.csv), resolved with date and how."""

    __tablename__ = "barriers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36), index=True)
    code: Mapped[str] = mapped_column(String(64))
    area: Mapped[str] = mapped_column(String(20))
    recorded_on: Mapped[date] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
