"""The outbox relay: publishes committed outbox rows with publisher confirms, then marks them sent.

Publishing is `mandatory`: a message no queue is bound for comes back (basic.return) and stays pending, so an
event sent before its consumer's queue exists is retried instead of dropped. A row is marked sent only after
the broker confirmed it; a crash between confirm and mark republishes it, which idempotent consumers absorb.
"""
from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta, timezone

import eventlet
from eventlet.event import Event
from kombu import Connection, Exchange, Producer, Queue
from nameko.events import get_event_exchange
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

BATCH = 100
MAX_BACKOFF_SECONDS = 30
COALESCE_SECONDS = 0.005
#: after this many unroutable tries (about two minutes: start-up races and rolling deploys are over), an event
#: nobody subscribes to is parked in the durable `kim.unrouted` queue, from where an operator can replay it
MAX_UNROUTABLE_ATTEMPTS = 8
UNROUTED_EXCHANGE = Exchange("kim.unrouted", type="fanout", durable=True)
UNROUTED_QUEUE = Queue("kim.unrouted", exchange=UNROUTED_EXCHANGE, durable=True)


class OutboxRelay:
    def __init__(self, engine, outbox, amqp_uri: str, lock=None, poll_seconds: float = 1.0):
        self.engine = engine
        self.outbox = outbox
        self.amqp_uri = amqp_uri
        self.lock = lock
        self.poll_seconds = poll_seconds
        self._wake = Event()
        self._running = True
        self._connection = None
        self._producer = None
        self._returned: set[str] = set()

    def wake(self):
        if not self._wake.ready():
            self._wake.send(True)

    def stop(self):
        self._running = False
        self.wake()
        self._disconnect()

    def run(self):
        failures = 0
        while self._running:
            try:
                while self._running and self.flush() == BATCH:
                    pass
                failures = 0
                timeout = self.poll_seconds
            except Exception as exc:  # broker or database down: keep the rows, retry with backoff
                failures += 1
                timeout = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** min(failures, 6))
                log.warning("outbox relay: %s (retry in %.1fs)", exc, timeout)
                self._disconnect()
            with eventlet.Timeout(timeout, False):
                self._wake.wait()
                eventlet.sleep(COALESCE_SECONDS)  # let commits that follow closely share one batch
            self._wake = Event()

    def flush(self) -> int:
        """Publish one batch of due rows; returns how many rows it looked at."""
        if self.lock is None:
            # PostgreSQL: the rows stay locked (SKIP LOCKED) while they are published, so that replicas of a
            # service never publish the same row
            with Session(self.engine) as session, session.begin():
                rows = self._due(session)
                self._publish_and_mark(rows, lambda outcomes: self._mark(session, outcomes))
            return len(rows)
        # SQLite: one relay per process; the green lock is held for the reads and writes, not the publishes
        with self.lock, Session(self.engine) as session, session.begin():
            rows = self._due(session)

        def mark(outcomes):
            with self.lock, Session(self.engine) as session, session.begin():
                self._mark(session, outcomes)
        self._publish_and_mark(rows, mark)
        return len(rows)

    def _due(self, session):
        t = self.outbox.c
        now = _now()
        return session.execute(
            select(t.id, t.event_id, t.exchange, t.routing_key, t.body, t.attempts)
            .where(and_(t.sent_at.is_(None), or_(t.next_attempt_at.is_(None), t.next_attempt_at <= now)))
            .order_by(t.id).limit(BATCH)
            .with_for_update(skip_locked=True)
        ).all()

    def _publish_and_mark(self, rows, mark):
        """Publish rows in order; mark the outcomes of those that got through, also when one fails."""
        outcomes = []
        try:
            for row in rows:
                outcomes.append((row, self._publish(row)))
        finally:
            if outcomes:
                mark(outcomes)

    def _publish(self, row) -> str:
        producer = self._get_producer()
        exchange = get_event_exchange(row.exchange[: -len(".events")], {})
        self._returned.discard(row.event_id)
        producer.publish(row.body, exchange=exchange, declare=[exchange], routing_key=row.routing_key,
                         mandatory=True, retry=False, serializer="json", message_id=row.event_id, delivery_mode=2,
                         headers={"kim.event_type": row.routing_key})
        if row.event_id not in self._returned:
            return "sent"
        if row.attempts + 1 < MAX_UNROUTABLE_ATTEMPTS:
            return "retry"  # no queue is bound for it (yet): try again later
        producer.publish(row.body, exchange=UNROUTED_EXCHANGE, declare=[UNROUTED_QUEUE], routing_key="",
                         retry=False, serializer="json", message_id=row.event_id, delivery_mode=2,
                         headers={"kim.exchange": row.exchange, "kim.event_type": row.routing_key})
        log.warning("outbox: %s %s has no subscriber, parked in %s", row.routing_key, row.event_id,
                    UNROUTED_QUEUE.name)
        return "sent"

    def _mark(self, session, outcomes):
        t = self.outbox.c
        now = _now()
        sent = [row.id for row, outcome in outcomes if outcome == "sent"]
        if sent:
            session.execute(update(self.outbox).where(t.id.in_(sent)).values(sent_at=now, attempts=t.attempts + 1))
        for row, outcome in outcomes:
            if outcome != "sent":
                delay = min(MAX_BACKOFF_SECONDS, 2 ** min(row.attempts, 5))
                session.execute(update(self.outbox).where(t.id == row.id).values(
                    attempts=row.attempts + 1, next_attempt_at=now + timedelta(seconds=delay)))

    def _get_producer(self) -> Producer:
        if self._producer is None:
            self._connection = Connection(self.amqp_uri, transport_options={"confirm_publish": True},
                                          connect_timeout=5)
            self._connection.ensure_connection(max_retries=1)
            self._producer = Producer(self._connection.channel(), on_return=self._on_return)
        return self._producer

    def _on_return(self, exception, exchange, routing_key, message):
        self._returned.add(message.properties.get("message_id"))

    def _disconnect(self):
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.release()
        self._connection = None
        self._producer = None


def _now():
    return datetime.now(timezone.utc)
