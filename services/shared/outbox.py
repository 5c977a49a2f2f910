"""The outbox relay: publishes committed outbox rows in batches through the service's confirmed publisher, then
marks them sent.

Publishing is `mandatory`: a message no queue is bound for comes back (basic.return) and stays pending, so an
event sent before its consumer's queue exists is retried instead of dropped. A row is marked sent only after
the broker confirmed it; a crash between confirm and mark republishes it, which idempotent consumers absorb.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import eventlet
from eventlet.event import Event
from kombu import Exchange, Queue
from nameko.amqp.publish import UndeliverableMessage
from nameko.events import get_event_exchange
from sqlalchemy import and_, bindparam, or_, select, update

from .publisher import ConfirmedPublisher

log = logging.getLogger(__name__)

BATCH = 100
MAX_BACKOFF_SECONDS = 30
#: how long the relay lets commits that follow closely join one batch: a few ms when events come one by one,
#: longer once they come in numbers (BUSY_FLUSH rows or more in the last batch), for fewer, larger batches
COALESCE_SECONDS = 0.005
BUSY_COALESCE_SECONDS = 0.05
BUSY_FLUSH = 4
#: after this many unroutable tries (about two minutes: start-up races and rolling deploys are over), an event
#: nobody subscribes to is parked in the durable `kim.unrouted` queue, from where an operator can replay it
MAX_UNROUTABLE_ATTEMPTS = 8
UNROUTED_EXCHANGE = Exchange("kim.unrouted", type="fanout", durable=True)
UNROUTED_QUEUE = Queue("kim.unrouted", exchange=UNROUTED_EXCHANGE, durable=True)
#: exchanges besides the services' `<service>.events` an outbox row may name (`UnitOfWork.emit_to`)
TOPIC_EXCHANGES = {"kim.partners": Exchange("kim.partners", type="topic", durable=True)}


def _exchange(name: str):
    if name in TOPIC_EXCHANGES:
        return TOPIC_EXCHANGES[name]
    return get_event_exchange(name[: -len(".events")], {})


class OutboxRelay:
    def __init__(self, engine, outbox, publisher: ConfirmedPublisher, lock=None, poll_seconds: float = 1.0,
                 unrouted_queue: Queue = UNROUTED_QUEUE):
        self.engine = engine
        self.unrouted_queue = unrouted_queue  # a quorum queue with KIM_QUORUM_QUEUES
        self.outbox = outbox
        self.publisher = publisher
        self.lock = lock
        self.poll_seconds = poll_seconds
        self._wake = Event()
        self._running = True
        # built once; each run only binds parameters
        t = outbox.c
        self._due_rows = (
            select(t.id, t.event_id, t.exchange, t.routing_key, t.body, t.attempts)
            .where(and_(t.sent_at.is_(None), or_(t.next_attempt_at.is_(None), t.next_attempt_at <= bindparam("now"))))
            .order_by(t.id).limit(BATCH)
            .with_for_update(skip_locked=True))
        self._mark_sent = (update(outbox).where(t.id.in_(bindparam("ids", expanding=True)))
                           .values(sent_at=bindparam("now"), attempts=t.attempts + 1))
        self._mark_retry = (update(outbox).where(t.id == bindparam("row_id"))
                            .values(attempts=t.attempts + 1, next_attempt_at=bindparam("next")))

    def wake(self):
        if not self._wake.ready():
            self._wake.send(True)

    def stop(self):
        self._running = False
        self.wake()

    def run(self):
        failures = last = 0
        while self._running:
            try:
                while self._running and (last := self.flush()) == BATCH:
                    pass
                failures = 0
                timeout = self.poll_seconds
            except Exception as exc:  # broker or database down: keep the rows, retry with backoff
                failures += 1
                timeout = min(MAX_BACKOFF_SECONDS, 0.5 * 2 ** min(failures, 6))
                log.warning("outbox relay: %s (retry in %.1fs)", exc, timeout)
            with eventlet.Timeout(timeout, False):
                self._wake.wait()
                eventlet.sleep(BUSY_COALESCE_SECONDS if last >= BUSY_FLUSH else COALESCE_SECONDS)
            self._wake = Event()

    def flush(self) -> int:
        """Publish one batch of due rows; returns how many rows it looked at."""
        if self.lock is None:
            # PostgreSQL: the rows stay locked (SKIP LOCKED) while they are published, so that replicas of a
            # service never publish the same row
            with self.engine.begin() as connection:
                # an index scan in id order, never a bitmap scan: only an index scan marks the index entries
                # of rows already sent as dead, so that the next read skips them (see create_unsent_outbox_index).
                # The marks need not wait for the WAL flush: a mark lost in a crash of the server republishes
                # its rows, as a crash between confirm and mark does, and the consumers deduplicate.
                connection.exec_driver_sql("SET LOCAL enable_bitmapscan = off; SET LOCAL synchronous_commit = off")
                rows = self._due(connection)
                self._publish_and_mark(rows, lambda outcomes: self._mark(connection, outcomes))
            return len(rows)
        # SQLite: one relay per process; the green lock is held for the reads and writes, not the publishes
        with self.lock, self.engine.begin() as connection:
            rows = self._due(connection)

        def mark(outcomes):
            with self.lock, self.engine.begin() as connection:
                self._mark(connection, outcomes)
        self._publish_and_mark(rows, mark)
        return len(rows)

    def _due(self, connection):
        return connection.execute(self._due_rows, {"now": _now()}).all()

    def _publish_and_mark(self, rows, mark):
        """Publish a batch (the publisher waits once for all its confirms), then mark the outcomes. If the broker
        fails midway nothing is marked and the batch is published again (consumers deduplicate)."""
        if not rows:
            return
        failures = self.publisher.publish_many([
            (row.body, dict(exchange=_exchange(row.exchange),
                            routing_key=row.routing_key, mandatory=True, message_id=row.event_id,
                            headers={"kim.event_type": row.routing_key}))
            for row in rows])
        outcomes, park = [], []
        for row, failure in zip(rows, failures):
            if failure is None:
                outcomes.append((row, "sent"))
            elif not isinstance(failure, UndeliverableMessage):
                raise failure
            elif row.attempts + 1 < MAX_UNROUTABLE_ATTEMPTS:
                outcomes.append((row, "retry"))  # no queue is bound for it (yet): try again later
            else:
                park.append(row)
                outcomes.append((row, "sent"))
        if park:
            for failure in self.publisher.publish_many([
                    (row.body, dict(exchange=UNROUTED_EXCHANGE, routing_key="", declare=[self.unrouted_queue],
                                    message_id=row.event_id,
                                    headers={"kim.exchange": row.exchange, "kim.event_type": row.routing_key}))
                    for row in park]):
                if failure is not None:
                    raise failure
            log.warning("outbox: %d event(s) without subscriber parked in %s", len(park), UNROUTED_QUEUE.name)
        mark(outcomes)

    def _mark(self, connection, outcomes):
        now = _now()
        sent = [row.id for row, outcome in outcomes if outcome == "sent"]
        if sent:
            connection.execute(self._mark_sent, {"ids": sent, "now": now})
        for row, outcome in outcomes:
            if outcome != "sent":
                delay = min(MAX_BACKOFF_SECONDS, 2 ** min(row.attempts, 5))
                connection.execute(self._mark_retry, {"row_id": row.id, "next": now + timedelta(seconds=delay)})


def _now():
    return datetime.now(timezone.utc)
