"""Analytics' tables: the event archive, the merged state of each entity the events describe, and the
pre-aggregated counters the reports read (they never scan the archive).

Nothing here names a person: events carry pseudonymous ids, codes and dates only (services/shared/events.py).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, MetaData, PrimaryKeyConstraint, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.shared.db import UTCDateTime, platform_tables


class Base(DeclarativeBase):
    metadata = MetaData()


metadata = Base.metadata
platform_tables(metadata)


class ArchivedEvent(Base):
    """Every consumed envelope, once (by event_id): what `kim analytics rebuild` replays, and what makes the
    projections idempotent (a redelivery, or the same event through a second shovel, finds its row)."""

    __tablename__ = "analytics_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    producer: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str] = mapped_column(String(64))
    municipality: Mapped[str] = mapped_column(String(8))
    #: the person the event is about ('' if none): an erasure replaces it by a random pseudonym (see erase)
    person_id: Mapped[str] = mapped_column(String(36), default="", index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    envelope: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Entity(Base):
    """The merged facts of one case, barrier, referral, person or case manager, built from its events in any
    order (each fact keeps its own time, so a late event slots in where it belongs)."""

    __tablename__ = "analytics_entities"
    __table_args__ = (Index("ix_analytics_entities_parent", "kind", "parent"),)

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    parent: Mapped[str] = mapped_column(String(36), default="")  # a barrier's case
    municipality: Mapped[str] = mapped_column(String(8))
    state: Mapped[dict] = mapped_column(JSON)


class Counter(Base):
    """A pre-aggregated count: `n` entities (cases, barriers, referrals, persons) with these dimensions.

    `start`/`end` are ISO days: a spell from `start` (inclusive) to `end` (exclusive, '9999-12-31' while it
    lasts), e.g. a barrier unresolved, a case open, a case in a phase, a case with a case manager, counted as
    its entry and exit rows (`<metric>.in`/`.out`, per day and per month: projections.expand); or for events at
    one time `start` is that day and `end` is '' (or, for duration histograms, the zero-padded days). Each
    entity contributes to the counters its current state describes; a new event replaces its old
    contributions by its new ones (a delta)."""

    __tablename__ = "analytics_counters"
    # keyed by start after metric and town: the reports' range reads lie together (clustered on SQLite)
    __table_args__ = (PrimaryKeyConstraint("metric", "municipality", "start", "a", "b", "c", "end"),
                      Index("ix_analytics_counters_spell", "metric", "municipality", "end", "start"),
                      {"sqlite_with_rowid": False})

    metric: Mapped[str] = mapped_column(String(24), primary_key=True)
    municipality: Mapped[str] = mapped_column(String(8), primary_key=True)
    a: Mapped[str] = mapped_column(String(128), primary_key=True)
    b: Mapped[str] = mapped_column(String(64), primary_key=True)
    c: Mapped[str] = mapped_column(String(64), primary_key=True)
    start: Mapped[str] = mapped_column(String(10), primary_key=True)
    end: Mapped[str] = mapped_column(String(10), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)
