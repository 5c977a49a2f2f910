"""The referrals service's tables: the offer catalogue (modelled on Open Referral HSDS 3.0: organization ->
provider, service -> offer) and the referrals with their transitions."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.shared.db import UTCDateTime, platform_tables


class Base(DeclarativeBase):
    metadata = MetaData()


metadata = Base.metadata
platform_tables(metadata)


class Provider(Base):
    """A partner organisation (Träger; HSDS `organization`). Its id is part of routing keys and RabbitMQ users."""

    __tablename__ = "providers"

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    website: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Offer(Base):
    """An offer (Regelangebot; HSDS `service`) of a provider."""

    __tablename__ = "offers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    areas: Mapped[list] = mapped_column(JSON)  # LIFE_AREAS
    municipalities: Mapped[list] = mapped_column(JSON)  # AGS codes served
    locations: Mapped[list] = mapped_column(JSON)  # [{"name", "address", "postal_code", "city"}]
    languages: Mapped[list] = mapped_column(JSON)  # ISO 639 codes the offer is given in
    residence_statuses: Mapped[list] = mapped_column(JSON)  # eligible statuses; [] = everyone
    min_age: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_age: Mapped[int | None] = mapped_column(Integer, nullable=True)
    eligibility_notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    cost: Mapped[str | None] = mapped_column(String(200), nullable=True)
    schedule: Mapped[str | None] = mapped_column(String(500), nullable=True)
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    waiting_days: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(10))  # active | paused
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)


class OfferCoverage(Base):
    """Which (municipality, life area) an offer serves: one row each, so matching reads only the offers of the
    case's town and open need areas (an index, instead of scanning JSON lists of the whole catalogue)."""

    __tablename__ = "offer_coverage"
    __table_args__ = (Index("ix_offer_coverage_lookup", "municipality", "area", "offer_id"),)

    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True)
    municipality: Mapped[str] = mapped_column(String(8), primary_key=True)
    area: Mapped[str] = mapped_column(String(20), primary_key=True)


class Referral(Base):
    """A referral (Verweisung/Vermittlung) of a case's person to an offer. Holds no names or contact data: the
    partner reads those from intake, as far as the consent allows."""

    __tablename__ = "referrals"
    __table_args__ = (Index("ix_referrals_case", "case_id", "created_at"),
                      Index("ix_referrals_provider", "provider_id", "status"),
                      Index("ix_referrals_status_sent", "status", "sent_at"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36))
    person_id: Mapped[str] = mapped_column(String(36), index=True)
    municipality: Mapped[str] = mapped_column(String(8))
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id"), index=True)
    provider_id: Mapped[str] = mapped_column(String(63))
    area: Mapped[str] = mapped_column(String(20))
    goal_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)  # for the partner; erased with the person
    languages: Mapped[list] = mapped_column(JSON)
    interpreter_needed: Mapped[bool] = mapped_column(Boolean, default=False)
    decline_reason: Mapped[str | None] = mapped_column(String(30), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(30), nullable=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    answer_due: Mapped[date | None] = mapped_column(Date, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)


class ReferralTransition(Base):
    """Who moved a referral from which status to which, when (staff or provider id, never a name)."""

    __tablename__ = "referral_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_status: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    by: Mapped[str] = mapped_column(String(128))
