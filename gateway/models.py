from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.shared.db import UTCDateTime


class Base(DeclarativeBase):
    metadata = MetaData()


metadata = Base.metadata


class AuditEntry(Base):
    """Who read or wrote which person's or case's data, when, why. Append-only (database triggers refuse
    UPDATE and DELETE); holds ids, never personal data."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_person", "person_id", "id"), Index("ix_audit_case", "case_id", "id"),
                      Index("ix_audit_server_request", "server_request_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(60))
    purpose: Mapped[str] = mapped_column(String(60))
    person_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    case_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    municipality: Mapped[str | None] = mapped_column(String(8), nullable=True)
    request_id: Mapped[str] = mapped_column(String(64))  # the client's X-Request-ID (or ours): may collide
    server_request_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # ours, unique per request
    status: Mapped[int] = mapped_column(Integer)
