from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from services.shared.db import UTCDateTime, platform_tables


class Base(DeclarativeBase):
    metadata = MetaData()


metadata = Base.metadata
platform_tables(metadata)


class Person(Base):
    """A newly arrived person (Neuzugewanderte/r). Holds personal data: read only through audited routes."""

    __tablename__ = "persons"
    # the duplicate check's second look: persons known by the year only (birth_year = ? AND birth_date IS NULL)
    __table_args__ = (Index("ix_persons_birth_year_date", "birth_year", "birth_date"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    municipality: Mapped[str] = mapped_column(String(8), index=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    # a normalised Latin transliteration of each name, for the duplicate check and search (services/intake)
    given_name_latin: Mapped[str | None] = mapped_column(String(200), nullable=True)
    family_name_latin: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # born on a known day (birth_date and its year), or in a known year only (birth_date NULL): many arrive
    # with papers that give the year alone. birth_year is set for every live person (erasure empties it)
    birth_date: Mapped[date | None] = mapped_column(Date, index=True, nullable=True)
    birth_year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    arrival_date: Mapped[date] = mapped_column(Date)
    residence_status: Mapped[str] = mapped_column(String(40))
    languages: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer, default=1)
    # the rest of the record (all optional)
    sex: Mapped[str | None] = mapped_column(String(20), nullable=True)  # female | male | diverse | unspecified
    nationalities: Mapped[list | None] = mapped_column(JSON, nullable=True)  # ISO 3166-1 alpha-2
    mother_tongues: Mapped[list | None] = mapped_column(JSON, nullable=True)  # ISO 639-1
    german_level: Mapped[str | None] = mapped_column(String(2), nullable=True)  # A0 .. C2
    municipality_arrival_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    address_street: Mapped[str | None] = mapped_column(String(200), nullable=True)
    address_postal_code: Mapped[str | None] = mapped_column(String(10), nullable=True)
    address_city: Mapped[str | None] = mapped_column(String(100), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    preferred_channel: Mapped[str | None] = mapped_column(String(20), nullable=True)  # phone | email | post ...
    interpreter_needed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    residence_valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    merged_into: Mapped[str | None] = mapped_column(String(36), nullable=True)  # set on the record merged away
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # a tombstone since then

    consents: Mapped[list["Consent"]] = relationship(back_populates="person", cascade="all, delete-orphan",
                                                     order_by="Consent.id", lazy="selectin")


class PersonChange(Base):
    """One field's change (rectification, Art. 16 GDPR): who, when, old -> new. Erased with the person."""

    __tablename__ = "person_history"
    __table_args__ = (Index("ix_person_history_person_id", "person_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer)  # the person's version after the change
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    changed_by: Mapped[str] = mapped_column(String(128))
    field: Mapped[str] = mapped_column(String(60))
    old_value: Mapped[object | None] = mapped_column(JSON, nullable=True)
    new_value: Mapped[object | None] = mapped_column(JSON, nullable=True)


class Household(Base):
    __tablename__ = "households"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    municipality: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))


class HouseholdMember(Base):
    __tablename__ = "household_members"

    household_id: Mapped[str] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)
    relation: Mapped[str] = mapped_column(String(30))  # head | spouse | partner | child | parent | sibling | other
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ErasureRequest(Base):
    """An Art. 17 erasure: intake erases at once and announces `person_erased`; every other service confirms."""

    __tablename__ = "erasure_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(36), index=True)
    municipality: Mapped[str] = mapped_column(String(8))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    requested_by: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(20))  # pending | completed
    confirmations: Mapped[dict] = mapped_column(JSON)  # service -> confirmed_at (ISO) or None
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Consent(Base):
    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(40))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    recorded_by: Mapped[str | None] = mapped_column(String(128), nullable=True)  # staff id (token sub)
    basis: Mapped[str | None] = mapped_column(String(40), nullable=True)  # signed_form | oral_with_interpreter ...
    withdrawn_by: Mapped[str | None] = mapped_column(String(128), nullable=True)

    person: Mapped[Person] = relationship(back_populates="consents")
