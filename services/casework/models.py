from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.shared.db import UTCDateTime, platform_tables


class Base(DeclarativeBase):
    metadata = MetaData()


metadata = Base.metadata
platform_tables(metadata)


class Case(Base):
    """A case (Fall) in the case management (Fallmanagement) of one person."""

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_municipality_opened", "municipality", "opened_at", "id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(36), unique=True)  # one case per person
    municipality: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(20))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    assigned_to: Mapped[str | None] = mapped_column(String(128), nullable=True)
    team: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
