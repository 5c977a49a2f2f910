"""The outbox relay: publishes committed outbox rows in batches with publisher confirms, then marks them sent.

Publishing is `mandatory`: a message no queue is bound for comes back (basic.return) and stays pending, so an
event sent before its consumer's queue exists is retried instead of dropped. A row is marked sent only after
the broker confirmed it; a crash between confirm and mark republishes it, which idempotent consumers absorb.
"""
from __future__ import annotations

import contextlib
import logging
import time
from datetime import datetime, timedelta, timezone

import eventlet
from eventlet.event import Event
from kombu import Connection, Exchange, Producer, Queue
from nameko.events import get_event_exchange
from sqlalchemy import and_, bindparam, or_, select, update

log = logging.getLogger(__name__)

BATCH = 100
MAX_BACKOFF_SECONDS = 30
CONFIRM_TIMEOUT_SECONDS = 10
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
            with self.engine.begin() as connection:
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
        """Publish a batch, wait for the broker's confirms once for all of it, then mark the outcomes. If the
        broker fails midway nothing is marked and the batch is published again (consumers deduplicate)."""
        if not rows:
            return
        for row in rows:
            self._returned.discard(row.event_id)
        self._publish_confirmed([(row.body, get_event_exchange(row.exchange[: -len(".events")], {}),
                                  row.routing_key, row.event_id, {"kim.event_type": row.routing_key})
                                 for row in rows], mandatory=True)
        outcomes, park = [], []
        for row in rows:
            if row.event_id not in self._returned:
                outcomes.append((row, "sent"))
            elif row.attempts + 1 < MAX_UNROUTABLE_ATTEMPTS:
                outcomes.append((row, "retry"))  # no queue is bound for it (yet): try again later
            else:
                park.append(row)
                outcomes.append((row, "sent"))
        if park:
            self._publish_confirmed([(row.body, UNROUTED_EXCHANGE, "", row.event_id,
                                      {"kim.exchange": row.exchange, "kim.event_type": row.routing_key})
                                     for row in park], mandatory=False)
            log.warning("outbox: %d event(s) without subscriber parked in %s", len(park), UNROUTED_QUEUE.name)
        mark(outcomes)

    def _publish_confirmed(self, messages, mandatory: bool):
        producer = self._get_producer()
        for body, exchange, routing_key, event_id, headers in messages:
            declare = [UNROUTED_QUEUE] if exchange is UNROUTED_EXCHANGE else [exchange]
            producer.publish(body, exchange=exchange, declare=declare, routing_key=routing_key,
                             mandatory=mandatory, retry=False, serializer="json", message_id=event_id,
                             delivery_mode=2, headers=headers)
            self._tag += 1
            self._unconfirmed.add(self._tag)
        deadline = time.monotonic() + CONFIRM_TIMEOUT_SECONDS
        while self._unconfirmed:
            if self._nacked:
                raise RuntimeError(f"broker refused {len(self._nacked)} message(s)")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no publisher confirm from the broker")
            self._connection.drain_events(timeout=remaining)

    def _on_confirm(self, delivery_tag, multiple, nacked=False):
        done = {t for t in self._unconfirmed if t <= delivery_tag} if multiple else {delivery_tag}
        self._unconfirmed -= done
        if nacked:
            self._nacked |= done

    def _mark(self, connection, outcomes):
        now = _now()
        sent = [row.id for row, outcome in outcomes if outcome == "sent"]
        if sent:
            connection.execute(self._mark_sent, {"ids": sent, "now": now})
        for row, outcome in outcomes:
            if outcome != "sent":
                delay = min(MAX_BACKOFF_SECONDS, 2 ** min(row.attempts, 5))
                connection.execute(self._mark_retry, {"row_id": row.id, "next": now + timedelta(seconds=delay)})

    def _get_producer(self) -> Producer:
        if self._producer is None:
            self._connection = Connection(self.amqp_uri, connect_timeout=5)
            self._connection.ensure_connection(max_retries=1)
            channel = self._connection.channel()
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_confirm)
            channel.events["basic_nack"].add(lambda tag, multiple: self._on_confirm(tag, multiple, nacked=True))
            self._producer = Producer(channel, on_return=self._on_return)
            self._tag, self._unconfirmed, self._nacked = 0, set(), set()
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
