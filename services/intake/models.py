from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from services.shared.db import UTCDateTime, platform_tables


class Base(DeclarativeBase):
    metadata = MetaData()


metadata = Base.metadata
platform_tables(metadata)


class Person(Base):
    """A newly arrived person (Neuzugewanderte/r). Holds personal data: read only through audited routes."""

    __tablename__ = "persons"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    municipality: Mapped[str] = mapped_column(String(8), index=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    # a normalised Latin transliteration of each name, for the duplicate check and search (services/intake)
    given_name_latin: Mapped[str | None] = mapped_column(String(200), nullable=True)
    family_name_latin: Mapped[str | None] = mapped_column(String(200), nullable=True)
    birth_date: Mapped[date] = mapped_column(Date, index=True)
    arrival_date: Mapped[date] = mapped_column(Date)
    residence_status: Mapped[str] = mapped_column(String(40))
    languages: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer, default=1)

    consents: Mapped[list["Consent"]] = relationship(back_populates="person", cascade="all, delete-orphan",
                                                     order_by="Consent.id", lazy="selectin")


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
