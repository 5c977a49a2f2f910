"""Batch consumption: many events per transaction, without a nameko worker per event.

The platform's `@subscribe` spawns a worker per message and the queue consumer lets `KIM_MAX_WORKERS`
messages per queue be in flight, so a consumer handling one event per transaction is bound by the per-message
cost in nameko and by the commits and round trips per event; under load its backlog grows. A
`@batch_subscribe(producer, event_type, fold=function)` hands its validated envelope straight to one
`BatchFolder` per container, which folds up to BATCH_MAX events (whatever arrived within
the batch window of the first, or meanwhile) in one transaction, calling each subscription's
`fold(uow, envelopes, settings)` with its envelopes in arrival order, and acks the batch's messages only once
it committed: nothing is lost, a crash redelivers, and the fold's own idempotency (processed-event claims, an
archive by event_id) makes a redelivery change nothing. The more events wait, the fuller the batches and the
less each one costs, so a backlog drains instead of growing.

A failing batch is split in halves and each half folded again, down to the single failing event, whose
message then takes the subscription's own failure path (`Subscription.handle_result`): retry queue with
backoff, after KIM_EVENT_MAX_ATTEMPTS the dead-letter queue with the same headers; all good events of the
batch land in a few transactions. An unavailable database is not the events' fault: the batch is requeued
whole after a pause, no attempt counted (as `handle_result` does for one message).

On PostgreSQL up to CONCURRENT_FOLDS batches may fold at once (see there). Batches are cut from the deliveries
in order, and each acks what it committed only once the batch before it has settled all its messages (acked,
requeued, retried or dead-lettered): so one `basic.ack` of the latest delivery tag (`multiple`) acks a
committed batch, and nothing that is not settled yet.
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import partial

import eventlet
import eventlet.semaphore
from eventlet.event import Event
from marshmallow import ValidationError
from nameko.extensions import SharedExtension

from .connection import KimQueueConsumer
from .db import Database
from .errors import Unavailable
from .events import load_envelope
from .messaging import RETRY_PAUSE_SECONDS, Subscription
from .settings import Settings

log = logging.getLogger(__name__)

#: events folded in one transaction at most
BATCH_MAX = 500
#: a batch waits for more events in steps of BATCH_STEP_SECONDS while each step brings more, up to
#: BATCH_WINDOW_SECONDS: a lone event is folded after one step (the latency a person at a screen would notice),
#: a steady stream gathers into batches of many events (fewer transactions, commits and ack rounds), and a
#: refill of the prefetch after a full batch stops the wait as soon as it is in
BATCH_STEP_SECONDS = 0.02
BATCH_WINDOW_SECONDS = 0.2
#: unacked messages per subscription queue: enough to fill a batch from one busy event type
PREFETCH = 500
#: batches folded at once on PostgreSQL where every subscription of the service says its fold may run beside
#: itself (`concurrent=True`: it takes its row locks in one order; a rare deadlock fails a batch as an
#: unavailable database does, and it is requeued): one batch's Python work runs while another waits for the
#: server. A fold that reads before it decides (casework's assignment by load) keeps one batch at a time, and so
#: does SQLite, which writes one transaction at a time.
CONCURRENT_FOLDS = 2


class BatchQueueConsumer(KimQueueConsumer):
    """The platform's reconnecting consumer with a deeper prefetch (nameko's is KIM_MAX_WORKERS, sized for a
    worker per message). A separate shared extension, so the service's other consumers keep their own."""

    @property
    def prefetch_count(self):
        return PREFETCH

    def handle_message(self, provider, body, message):
        # in the consumer's thread, not a green thread per message as nameko does: the subscription only
        # validates the envelope and hands it on, and the folder's acks rely on the delivery order
        provider.handle_message(body, message)
        # a refill of the prefetch is hundreds of deliveries read without blocking: let the folds whose
        # database replies are in run between them, or every round trip of theirs waits for the whole refill
        eventlet.sleep(0)

    def _handle_undecodable(self, call):
        call()  # in delivery order too: the subscription hands it to the folder

    def ack_through(self, message):
        """Ack the message and every earlier delivery on its channel: one basic.ack for a folded batch. The
        folder settles batches in delivery order, so nothing earlier is still open (see BatchFolder.fold)."""
        if message.channel.connection:
            try:
                message.ack(multiple=True)
            except Exception as exc:  # as ack_message: unacked, the broker redelivers
                log.info("ack not sent (%s: %s): the broker redelivers the messages", type(exc).__name__, exc)


class BatchFolder(SharedExtension):
    """Collects the envelopes of all the container's batch subscriptions and folds them in batches."""

    def setup(self):
        self.database = next(d for d in self.container.dependencies if isinstance(d, Database))
        self.settings = Settings.load(self.container.config)
        self.pending: list[tuple] = []  # (envelope as JSON, subscription, message)
        self.wake = Event()
        self.thread = None
        self.folding: set = set()  # the green threads of the batches being folded
        self.last_done: Event | None = None  # sent once the last batch handed out has all its messages settled

    def start(self):
        # after every setup: the database's engine is made in its own
        concurrent = (self.database.engine.dialect.name != "sqlite"
                      and all(e.concurrent for e in self.container.entrypoints if isinstance(e, BatchSubscription)))
        self.slots = eventlet.semaphore.Semaphore(CONCURRENT_FOLDS if concurrent else 1)
        self.thread = self.container.spawn_managed_thread(self._run)

    def stop(self):
        # a batch cut short rolls back; its messages are unacked and come back (the archive makes them no-ops
        # if they had committed)
        if self.thread is not None:
            self.thread.kill()
            self.thread = None
        for thread in list(self.folding):
            thread.kill()

    def kill(self):
        self.stop()

    def submit(self, subscription, envelope: dict, message) -> None:
        self.pending.append((envelope, subscription, message))
        if not self.wake.ready():
            self.wake.send(True)

    def _run(self):
        while True:
            if not self.pending:
                self.wake.wait()
            self.wake = Event()
            self.slots.acquire()  # the next batch gathers while the others fold
            self._gather()
            batch, self.pending = self.pending[:BATCH_MAX], self.pending[BATCH_MAX:]
            if not batch:
                self.slots.release()
                continue
            done = Event()
            thread = self.container.spawn_managed_thread(partial(self._fold_batch, batch, self.last_done, done))
            self.last_done = done
            self.folding.add(thread)
            thread.link(self._folded)

    def _fold_batch(self, batch: list[tuple], after: Event | None, done: Event) -> None:
        valid = []
        for entry in batch:
            if isinstance(entry[0], Unfit):
                entry[0].settle()
            else:
                valid.append(entry)
        if valid:
            self.fold(valid, after)
        # only once all its messages are settled: a batch cut short (stop(), or a fault that kills the
        # container) leaves `done` unsent, so no later batch's ack covers what it did not settle
        done.send(True)

    def _folded(self, thread) -> None:
        self.folding.discard(thread)
        self.slots.release()

    def _gather(self) -> None:
        """Let messages arriving meanwhile join the batch, while they keep coming (see BATCH_STEP_SECONDS)."""
        for _ in range(round(BATCH_WINDOW_SECONDS / BATCH_STEP_SECONDS)):
            before = len(self.pending)
            if before >= BATCH_MAX:
                return
            eventlet.sleep(BATCH_STEP_SECONDS)
            if len(self.pending) == before:
                return

    def fold(self, batch: list[tuple], after: Event | None = None) -> None:
        """Fold the batch in one transaction and ack it once the batch before it (`after`) settled all its
        messages; on failure halve it (see the module's doc)."""
        try:
            with self.database.transactions() as uow:
                for fold, envelopes in _by_fold(batch).items():
                    fold(uow, envelopes, self.settings)
        except Unavailable as exc:
            log.warning("could not fold %d events now (%s): requeued", len(batch), exc)
            eventlet.sleep(RETRY_PAUSE_SECONDS)
            for _, subscription, message in batch:
                subscription.queue_consumer.requeue_message(message)
            return
        except Exception:
            if len(batch) == 1:
                _, subscription, message = batch[0]
                log.exception("could not fold event %s", message.properties.get("message_id"))
                subscription.handle_result(message, None, exc_info=sys.exc_info())
                return
            failed = True
        else:
            failed = False
        if failed:  # outside the except block: the halves' own failures are not chained to this one
            half = len(batch) // 2
            self.fold(batch[:half], after)
            self.fold(batch[half:], after)
            return
        if after is not None:
            after.wait()
        for subscription, message in _last_per_channel(batch):
            subscription.queue_consumer.ack_through(message)


class Unfit:
    """A delivery that is not an event to fold (undecodable, or not a valid envelope): the folder settles it in
    its turn (`settle` dead-letters it), so no batch's ack covers it before that."""

    __slots__ = ("settle",)

    def __init__(self, settle: Callable[[], None]):
        self.settle = settle


def _last_per_channel(batch: list[tuple]) -> list[tuple]:
    """(subscription, message) of the batch's latest delivery on each channel (one, unless it reconnected)."""
    last: dict[int, tuple] = {}
    for _, subscription, message in batch:
        key = id(message.channel)
        if key not in last or message.delivery_tag > last[key][1].delivery_tag:
            last[key] = (subscription, message)
    return list(last.values())


def _by_fold(batch: list[tuple]) -> dict[Callable, list[dict]]:
    """The batch's envelopes per fold function, each in arrival order."""
    grouped: dict[Callable, list[dict]] = {}
    for envelope, subscription, _ in batch:
        grouped.setdefault(subscription.fold, []).append(envelope)
    return grouped


class BatchSubscription(Subscription):
    """`@batch_subscribe("intake", "person_registered", fold=open_cases)`: the platform's subscription (queue,
    validation, retries, dead letters), but the envelope goes to the container's BatchFolder, which calls
    `fold(uow, envelopes, settings)`; the decorated method is not run by the consumer (it handles one
    envelope when called directly, e.g. by a test)."""

    queue_consumer = BatchQueueConsumer()
    folder = BatchFolder()

    def __init__(self, source_service, event_type, fold: Callable, concurrent: bool = False, **kwargs):
        self.fold = fold
        self.concurrent = concurrent
        super().__init__(source_service, event_type, **kwargs)

    def handle_message(self, body, message):
        try:
            envelope = load_envelope(body)
        except ValidationError as exc:
            envelope = Unfit(partial(self._park, message, exc))
        self.folder.submit(self, envelope, message)

    def decode_failed(self, message, exc):
        self.folder.submit(self, Unfit(partial(super().decode_failed, message, exc)), message)


batch_subscribe = BatchSubscription.decorator
