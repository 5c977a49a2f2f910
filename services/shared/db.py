"""Database access for nameko services: one engine per service, one unit of work per transaction.

A unit of work writes the state change, the outbox rows of the events it announces and the
processed-event marks of the events it consumed in one transaction; the relay (`outbox.py`) publishes the
outbox afterwards. So an event is published if and only if its transaction committed.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import time
import uuid
from datetime import datetime, timedelta, timezone

import eventlet
import eventlet.semaphore
from kombu import Queue
from nameko.extensions import DependencyProvider
from sqlalchemy import (JSON, Column, Connection, DateTime, Index, Integer, MetaData, String, Table, TypeDecorator,
                        bindparam, cast, create_engine, delete, event, insert, select, text, update)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from .errors import InvalidInput, Unavailable
from .events import build_envelope
from .outbox import UNROUTED_QUEUE, OutboxRelay
from .publisher import SharedPublisher
from .settings import Settings

log = logging.getLogger(__name__)
#: a pooled PostgreSQL connection idle for longer is pinged before use
PING_AFTER_IDLE_SECONDS = 0.5
#: the worker context key that carries a POST's Idempotency-Key from the gateway to the service
IDEMPOTENCY_KEY = "idempotency_key"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timestamps are stored and returned as UTC, also on SQLite, which keeps no time zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime; use UTC")
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


def platform_tables(metadata: MetaData) -> tuple[Table, Table]:
    """The platform's tables, added to a service's own metadata (one database per service): the outbox, the
    processed events, the idempotency keys of its writes and the record of what operators did with its
    dead letters."""
    outbox = Table(
        "outbox", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("exchange", String(100), nullable=False),
        Column("routing_key", String(100), nullable=False),
        Column("body", JSON, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("sent_at", UTCDateTime(), nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("next_attempt_at", UTCDateTime(), nullable=True),
        Index("ix_outbox_pending", "sent_at", "id"),  # the purge of sent rows
        # the relay's read (migrations.create_unsent_outbox_index says why)
        Index("ix_outbox_unsent", "id", postgresql_where=text("sent_at IS NULL"),
              sqlite_where=text("sent_at IS NULL")),
    )
    processed = Table(
        "processed_events", metadata,
        Column("consumer", String(200), primary_key=True),
        Column("event_id", String(36), primary_key=True),
        Column("processed_at", UTCDateTime(), nullable=False),
    )
    Table(
        "idempotency_keys", metadata,
        # scope: who asked for which operation (a key is only unique per client and operation)
        Column("scope", String(200), primary_key=True),
        Column("key", String(255), primary_key=True),
        Column("fingerprint", String(64), nullable=False),  # sha256 of the request body
        Column("resource_id", String(36), nullable=True),  # what the first request created
        Column("created_at", UTCDateTime(), nullable=False, index=True),
    )
    Table(
        "dead_letter_log", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("recorded_at", UTCDateTime(), nullable=False),
        Column("action", String(20), nullable=False),  # replayed | dropped
        Column("event_id", String(36), nullable=True),
        Column("event_type", String(100), nullable=True),
        Column("consumer", String(200), nullable=False),
        Column("actor", String(128), nullable=False),
        Column("reason", String(500), nullable=False),
        Column("message", JSON, nullable=False),  # the dead letter as it was: ids and pseudonymous facts only
    )
    return outbox, processed


def unrouted_queue(quorum: bool) -> Queue:
    """The outbox's `kim.unrouted` queue; a quorum queue with KIM_QUORUM_QUEUES."""
    return Queue(UNROUTED_QUEUE.name, exchange=UNROUTED_QUEUE.exchange, durable=True,
                 queue_arguments={"x-queue-type": "quorum"} if quorum else {})


def make_engine(url: str, autocommit: bool = False):
    """hide_parameters: a failing statement's error (and so the log) never shows the values, which may be
    personal data. `autocommit` (PostgreSQL): every statement is its own transaction (`OneStatement`)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
        return engine
    # LIFO: under load the same few connections stay busy and the rest go idle, so only those need a ping
    engine = create_engine(url, pool_size=20, max_overflow=10, pool_use_lifo=True, hide_parameters=True,
                           **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}))

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _idle_from_now(_dbapi_conn, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn, record, _proxy):
        # a connection used within the last moment is alive (as HikariCP's aliveBypassWindow): no round trip;
        # one idle longer is pinged, and a dead one is replaced before the transaction uses it. A restart
        # within that moment fails one transaction (Unavailable), and the pool then drops its connections.
        if time.monotonic() - record.info.get("idle_since", 0.0) < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise DisconnectionError(str(exc)) from exc
    return engine


def make_autocommit_engine(url: str):
    """PostgreSQL's second pool, for writes that are one statement (`OneStatement`, the audit log's batches); it
    opens connections only when used. None on SQLite, which has no data-modifying CTEs."""
    return None if url.startswith("sqlite") else make_engine(url, autocommit=True)


class UnitOfWork:
    """One transaction. `connection` runs Core statements (the write paths: cheap); `session` is an ORM session
    on the same connection and transaction, created when first used (reads that map rows to objects). Per
    statement an ORM session costs several times what the Core connection does."""

    def __init__(self, connection: Connection, producer: str, outbox: Table, processed: Table, request_id=None,
                 idempotency_key: str | None = None):
        self.connection = connection
        self.producer = producer
        self.outbox = outbox
        self.processed = processed
        self.request_id = request_id
        self.idempotency_key = idempotency_key
        self.emitted: list[dict] = []
        self._outbox_rows: list[dict] = []  # written in one statement before the commit
        self._session: Session | None = None
        self._claimed_key: dict | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            # joins the connection's transaction ("rollback_only"): the unit of work commits it
            self._session = Session(bind=self.connection, expire_on_commit=False,
                                    join_transaction_mode="rollback_only")
        return self._session

    def _flush(self):
        if self._session is not None:
            self._session.flush()
        if self._outbox_rows:
            rows, self._outbox_rows = self._outbox_rows, []
            self.connection.execute(_insert_statement(self.outbox), rows)

    def _close(self):
        if self._session is not None:
            self._session.close()

    def emit(self, event_type: str, municipality: str, payload: dict, *, schema_version: int = 1) -> dict:
        """Record an event for publication when (and only if) this transaction commits."""
        return self.emit_to(f"{self.producer}.events", event_type, self.producer, event_type, municipality,
                            payload, schema_version=schema_version)

    def emit_to(self, exchange: str, routing_key: str, producer: str, event_type: str, municipality: str,
                payload: dict, *, schema_version: int = 1) -> dict:
        """Like `emit`, to another exchange with a given routing key (e.g. the partners' topic exchange): the
        envelope is validated against the catalogue entry (producer, event_type, schema_version)."""
        envelope = build_envelope(producer, event_type, municipality, payload,
                                  schema_version=schema_version, request_id=self.request_id)
        self._outbox_rows.append(outbox_row(envelope, exchange, routing_key))
        self.emitted.append(envelope)
        return envelope

    def claim(self, consumer: str, event_id) -> bool:
        """Mark an event as processed by `consumer`; False if it already was (a redelivery: do nothing)."""
        return str(event_id) in self.claim_many(consumer, [event_id])

    def claim_many(self, consumer: str, event_ids) -> set[str]:
        """Mark events as processed by `consumer`: the ids claimed now (as strings); the others were processed
        before. One INSERT .. ON CONFLICT DO NOTHING: a concurrent delivery of the same event cannot slip
        through."""
        rows = [{"consumer": consumer, "event_id": str(event_id), "processed_at": utcnow()} for event_id in event_ids]
        if not rows:
            return set()
        statement = _claim_statement(self.processed, self.connection.dialect.name)
        return set(self.connection.execute(statement, rows).scalars())

    def idempotent(self, operation: str, client: str, request) -> str | None:
        """Honour the caller's Idempotency-Key, if the call carries one: None means go ahead (and `remember`
        what was created); a string is the id of what the first request with this key created, to answer
        again. The key is claimed in this transaction, so the work and the key commit together: a retry
        after a timeout whose work did commit finds it. Raises InvalidInput when the key came with another
        request body."""
        if not self.idempotency_key:
            return None
        keys = _idempotency_table(self.outbox)
        row = key_row(operation, client, self.idempotency_key, request)
        claimed = self.connection.execute(_claim_key_statement(keys, self.connection.dialect.name), row)
        if claimed.rowcount == 1:
            self._claimed_key = row
            return None
        first = self.connection.execute(
            select(keys.c.fingerprint, keys.c.resource_id)
            .where(keys.c.scope == row["scope"], keys.c.key == row["key"])).one()
        if first.fingerprint != row["fingerprint"]:
            raise InvalidInput("this Idempotency-Key was already used with another request body",
                               {"Idempotency-Key": ["use a new key for a new request"]})
        return first.resource_id

    def remember(self, resource_id: str) -> None:
        """What this request created, for the answers to its retries."""
        if self._claimed_key is not None:
            keys = _idempotency_table(self.outbox)
            self.connection.execute(
                update(keys).where(keys.c.scope == self._claimed_key["scope"],
                                   keys.c.key == self._claimed_key["key"]).values(resource_id=resource_id))


def outbox_row(envelope: dict, exchange: str, routing_key: str) -> dict:
    return {"event_id": envelope["event_id"], "exchange": exchange, "routing_key": routing_key,
            "body": envelope, "created_at": utcnow(), "attempts": 0}


def key_scope(operation: str, client: str) -> str:
    """Who asked for which operation: a key is only unique per client and operation."""
    return f"{operation}:{client}"[:200]


def key_row(operation: str, client: str, key: str, request, resource_id: str | None = None) -> dict:
    """An idempotency key's row."""
    return {"scope": key_scope(operation, client), "key": key, "fingerprint": fingerprint(request),
            "resource_id": resource_id, "created_at": utcnow()}


class OneStatement:
    """A write that is one statement, and so its own transaction: on PostgreSQL it runs in autocommit, without
    the BEGIN and COMMIT round trips of a unit of work (a registration's six round trips become one). The state
    change, the outbox rows of its events (`emit`) and its idempotency key (`key_row`) are parts of that
    statement (INSERT .. SELECT in data-modifying CTEs, rows from `bound_row`), so they commit together or not
    at all, as in a unit of work. A statement that cannot decide alone (a likely duplicate to score, a key
    used before) writes nothing, and the caller takes the unit of work's path."""

    def __init__(self, connection: Connection, producer: str, request_id=None, idempotency_key: str | None = None):
        self.connection = connection
        self.producer = producer
        self.request_id = request_id
        self.idempotency_key = idempotency_key
        self.wrote = False

    def emit(self, event_type: str, municipality: str, payload: dict, *, schema_version: int = 1) -> dict:
        """The outbox row of an event for the statement to write (the envelope validated, as `UnitOfWork.emit`)."""
        envelope = build_envelope(self.producer, event_type, municipality, payload,
                                  schema_version=schema_version, request_id=self.request_id)
        return outbox_row(envelope, f"{self.producer}.events", event_type)

    def key_row(self, operation: str, client: str, request, resource_id: str) -> dict | None:
        """The idempotency key's row, claimed by the statement with what it creates (None: the call has no key)."""
        if not self.idempotency_key:
            return None
        return key_row(operation, client, self.idempotency_key, request, resource_id)

    def write(self, statement, params: dict) -> bool:
        """Run the statement; its one value says whether it wrote (then the relay is woken for its events).

        It is prepared on the server once per connection (PREPARE, then EXECUTE): planning a statement of
        several CTEs costs PostgreSQL twice what running it does (measured: 0.55 against 0.19 ms per
        registration)."""
        name, definition, execute, processors = _prepared(statement, self.connection.dialect)
        prepared = self.connection.info.setdefault("kim_prepared", set())
        if name not in prepared:
            self.connection.exec_driver_sql(f"PREPARE {name} AS {definition}")
            prepared.add(name)
        values = tuple(params[n] if process is None else process(params[n]) for n, process in processors)
        self.wrote = bool(self.connection.exec_driver_sql(execute, values).scalar())
        return self.wrote


@functools.cache
def _prepared(statement, dialect) -> tuple:
    """(name, the statement with numbered parameters, `EXECUTE name (%s, ...)`, and (parameter, its type's bind
    processor) in their order: the parameters are processed as SQLAlchemy would (JSON serialised, timestamps
    checked for UTC), without its per-statement machinery."""
    compiled = statement.compile(dialect=type(dialect)(paramstyle="numeric_dollar"))
    name = "kim_" + hashlib.sha256(compiled.string.encode()).hexdigest()[:24]
    names = compiled.positiontup
    processors = tuple((n, compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect)) for n in names)
    return name, compiled.string, f"EXECUTE {name} ({', '.join(['%s'] * len(names))})", processors


def bound_row(table: Table, columns, prefix: str):
    """SELECT of one row of parameters named `<prefix><column>`, each cast to its column's type (strings to an
    unbounded VARCHAR: a cast to VARCHAR(n) would cut a longer value where an INSERT refuses it): the row an
    INSERT .. SELECT inside a `OneStatement` writes."""
    def typed(name):
        kind = table.c[name].type
        return cast(bindparam(prefix + name, type_=kind), String() if isinstance(kind, String) else kind)
    return select(*(typed(name) for name in columns))


def prefixed(prefix: str, row: dict) -> dict:
    return {prefix + name: value for name, value in row.items()}


def fingerprint(request) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
                          .encode()).hexdigest()


def _idempotency_table(outbox: Table) -> Table:
    return outbox.metadata.tables["idempotency_keys"]


@functools.cache
def _claim_key_statement(keys: Table, dialect: str):
    insert_for = sqlite_insert if dialect == "sqlite" else pg_insert
    return insert_for(keys).on_conflict_do_nothing(index_elements=["scope", "key"])


@functools.cache
def _insert_statement(table: Table):
    return insert(table)


@functools.cache
def _claim_statement(processed: Table, dialect: str):
    insert_for = sqlite_insert if dialect == "sqlite" else pg_insert
    return insert_for(processed).on_conflict_do_nothing(index_elements=["consumer", "event_id"]).returning(
        processed.c.event_id)


class Transactions:
    """Opens units of work on one engine. Plain Python, so tests and scripts use it without nameko."""

    def __init__(self, engine, producer: str, metadata: MetaData, on_emit=None, autocommit_engine=None):
        self.engine = engine
        self.autocommit_engine = autocommit_engine  # PostgreSQL: for `at_once`
        self.producer = producer
        self.outbox = metadata.tables.get("outbox")
        self.processed = metadata.tables.get("processed_events")
        self.on_emit = on_emit
        # SQLite's own busy-wait would block the eventlet hub and deadlock: serialise with a green lock.
        self.lock = eventlet.semaphore.Semaphore(1) if engine.dialect.name == "sqlite" else None

    @contextlib.contextmanager
    def __call__(self, request_id=None, idempotency_key=None):
        with (self.lock or contextlib.nullcontext()), self._unavailable_if_away(self.engine):
            with self.engine.begin() as connection:
                uow = UnitOfWork(connection, self.producer, self.outbox, self.processed, request_id,
                                 idempotency_key)
                try:
                    yield uow
                    uow._flush()
                finally:
                    uow._close()
        if uow.emitted and self.on_emit:
            self.on_emit()

    @property
    def at_once_possible(self) -> bool:
        return self.autocommit_engine is not None

    @contextlib.contextmanager
    def at_once(self, request_id=None, idempotency_key=None):
        """A `OneStatement` (PostgreSQL only: SQLite has no data-modifying CTEs)."""
        with self._unavailable_if_away(self.autocommit_engine):
            with self.autocommit_engine.connect() as connection:
                statement = OneStatement(connection, self.producer, request_id, idempotency_key)
                yield statement
        if statement.wrote and self.on_emit:
            self.on_emit()

    @staticmethod
    @contextlib.contextmanager
    def _unavailable_if_away(engine):
        try:
            yield
        except (OperationalError, InterfaceError) as exc:
            if not _unavailable(exc, engine.dialect.name):
                raise
            # the database is away (a restart, a failover): nothing was committed; the caller may retry
            log.warning("database unavailable: %s", type(exc.orig or exc).__name__)
            raise Unavailable("the database is not available right now; retry") from None


def _unavailable(exc: DBAPIError, dialect: str) -> bool:
    """A database that is away for a moment, as opposed to a fault of the statement (a missing table is one)."""
    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return True
    if dialect == "sqlite":
        return "locked" in str(exc.orig) or "busy" in str(exc.orig)
    return True  # PostgreSQL's OperationalError: connection, shutdown, starting up, out of resources


def purge_event_log(transactions: "Transactions", keep_days: float, keep_keys_hours: float = 24) -> int:
    """Delete sent outbox rows and processed-event marks older than keep_days (redeliveries come far sooner),
    and idempotency keys older than keep_keys_hours."""
    cutoff = utcnow() - timedelta(days=keep_days)
    with transactions() as uow:
        sent = uow.connection.execute(delete(uow.outbox).where(uow.outbox.c.sent_at < cutoff)).rowcount
        seen = uow.connection.execute(delete(uow.processed).where(uow.processed.c.processed_at < cutoff)).rowcount
        keys = _idempotency_table(uow.outbox)
        expired = uow.connection.execute(
            delete(keys).where(keys.c.created_at < utcnow() - timedelta(hours=keep_keys_hours))).rowcount
    return sent + seen + expired


class Database(DependencyProvider):
    """`with self.db.transaction() as uow:` in an entrypoint.

    `metadata` is the service's metadata (holding the platform tables). The URL is `KIM_<SERVICE>_DB_URL` or a
    SQLite file under `KIM_DATA_DIR`. The outbox relay runs in the service's container.
    """

    shared_publisher = SharedPublisher()

    def __init__(self, metadata: MetaData, relay: bool = True):
        self.metadata = metadata
        self.with_relay = relay and "outbox" in metadata.tables
        self.relay = None
        self._purger = None

    def setup(self):
        settings = Settings.load(self.container.config)
        url = settings.db_url(self.container.service_name)
        self.engine = make_engine(url)
        self.autocommit_engine = make_autocommit_engine(url)
        self.retention_days = settings.event_retention_days
        self.idempotency_hours = settings.idempotency_hours
        self.transactions = Transactions(self.engine, self.container.service_name, self.metadata,
                                         autocommit_engine=self.autocommit_engine)
        if self.with_relay:
            self.relay = OutboxRelay(self.engine, self.transactions.outbox, self.shared_publisher.publisher,
                                     self.transactions.lock, poll_seconds=settings.outbox_poll_seconds,
                                     unrouted_queue=unrouted_queue(settings.quorum_queues))
            self.transactions.on_emit = self.relay.wake

    def start(self):
        if self.relay:
            self.container.spawn_managed_thread(self.relay.run)
            self._purger = self.container.spawn_managed_thread(self._purge_periodically)

    def _purge_periodically(self):
        while True:
            try:
                purged = purge_event_log(self.transactions, self.retention_days, self.idempotency_hours)
                if purged:
                    log.info("purged %d event log rows older than %s days", purged, self.retention_days)
            except Exception:
                log.exception("purging the event log failed")
            eventlet.sleep(3600)

    def stop(self):
        if self.relay:
            self.relay.stop()
        if self._purger is not None:
            self._purger.kill()  # it sleeps for an hour: ended here, not killed by the container with a warning
        self.engine.dispose()
        if self.autocommit_engine is not None:
            self.autocommit_engine.dispose()

    def kill(self):
        self.stop()

    def get_dependency(self, worker_ctx):
        return WorkerDatabase(self.transactions, worker_ctx.data.get("request_id"),
                              worker_ctx.data.get(IDEMPOTENCY_KEY))


class WorkerDatabase:
    def __init__(self, transactions: Transactions, request_id=None, idempotency_key=None):
        self._transactions = transactions
        self._request_id = request_id
        self._idempotency_key = idempotency_key

    def transaction(self):
        return self._transactions(self._request_id, self._idempotency_key)

    @property
    def at_once_possible(self) -> bool:
        return self._transactions.at_once_possible

    def at_once(self):
        return self._transactions.at_once(self._request_id, self._idempotency_key)


def new_id() -> str:
    return str(uuid.uuid4())
