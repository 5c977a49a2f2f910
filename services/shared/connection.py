"""Riding out broker outages: capped exponential backoff with jitter, a log of the link's state (lost, still
down every minute, back) instead of a line per attempt, and a queue consumer that reconnects for ever.

nameko's `QueueConsumer` (kombu's `ConsumerMixin`) logs every reconnection attempt with a traceback, backs off
linearly up to 30 s (so after a long outage it may take half a minute to notice the broker is back) and dies on
any error that is not one of the transport's connection errors, which takes the whole container down.
"""
from __future__ import annotations

import logging
import random
import time
from contextlib import contextmanager
from functools import partial

import eventlet
from greenlet import GreenletExit
from nameko.messaging import QueueConsumer
from nameko.rpc import ReplyListener

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 0.25
BACKOFF_CAP_SECONDS = 5.0  # so a service notices the broker's return within seconds, whatever the outage
STILL_DOWN_EVERY_SECONDS = 60


def backoff(attempt: int, base: float = BACKOFF_BASE_SECONDS, cap: float = BACKOFF_CAP_SECONDS) -> float:
    """Seconds to wait before retry `attempt` (0, 1, ...): exponential, capped, with jitter (half to full), so
    that the services of an instance do not all knock at the same moment."""
    ceiling = min(cap, base * 2 ** min(attempt, 16))
    return random.uniform(ceiling / 2, ceiling)


class BrokerLink:
    """The state of one component's connection to RabbitMQ, logged once per change: lost, still down (every
    minute), back."""

    def __init__(self, component: str, clock=time.monotonic):
        self.component = component
        self.clock = clock
        self.down_since: float | None = None
        self.attempts = 0
        self._reported_at = 0.0

    @property
    def up(self) -> bool:
        return self.down_since is None

    def lost(self, exc: BaseException) -> float:
        """Record a failed attempt; returns the seconds to wait before the next one."""
        now = self.clock()
        if self.down_since is None:
            self.down_since = self._reported_at = now
            log.warning("%s: RabbitMQ unreachable (%s); retrying until it is back", self.component, _reason(exc))
        elif now - self._reported_at >= STILL_DOWN_EVERY_SECONDS:
            self._reported_at = now
            log.warning("%s: RabbitMQ still unreachable after %.0f s (%s)", self.component, now - self.down_since,
                        _reason(exc))
        delay = backoff(self.attempts)
        self.attempts += 1
        return delay

    def back(self) -> None:
        if self.down_since is not None:
            log.info("%s: RabbitMQ reachable again after %.1f s", self.component, self.clock() - self.down_since)
        self.down_since = None
        self.attempts = 0


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


class KimQueueConsumer(QueueConsumer):
    """The container's one AMQP consumer, reconnecting for ever with backoff; its thread never dies of a
    broker error, so neither does the container."""

    def __init__(self):
        super().__init__()
        self.link = BrokerLink("consumer")

    def run(self, _tokens=1, **kwargs):
        # kombu's loop, without its token bucket and its traceback per lost connection, and for every error
        while not self.should_stop:
            try:
                for _ in self.consume(limit=None, **kwargs):
                    pass
            except GreenletExit:
                raise
            except Exception as exc:
                if self.should_stop:
                    break
                eventlet.sleep(self.link.lost(exc))

    @contextmanager
    def establish_connection(self):
        with self.create_connection() as conn:
            while True:
                try:
                    conn.ensure_connection(max_retries=0)  # one try; the backoff is ours
                    break
                except Exception as exc:
                    if self.should_stop:
                        raise
                    conn.collect()
                    eventlet.sleep(self.link.lost(exc))
            yield conn

    def get_consumers(self, consumer_cls, channel):
        # nameko's, plus a decode-error handler per provider: kombu's own logs the raw body (personal data in
        # the logs) and the message vanishes; here the provider answers or dead-letters it
        for provider in self._providers:
            consumer = consumer_cls(queues=[provider.queue], callbacks=[partial(self.handle_message, provider)],
                                    accept=self.accept, on_decode_error=partial(self._undecodable, provider))
            consumer.qos(prefetch_count=self.prefetch_count)
            self._consumers[provider] = consumer
        return self._consumers.values()

    def _undecodable(self, provider, message, exc):
        log.error("undecodable message on %s (message id %s, correlation id %s, %s, %d bytes): %s; body not logged",
                  provider.queue.name, message.properties.get("message_id"),
                  message.properties.get("correlation_id"), message.content_type, len(message.body or b""),
                  type(exc).__name__)
        handler = getattr(provider, "decode_failed", None)
        if handler is None:  # e.g. a reply that cannot be read: nobody to answer
            self.ack_message(message)
            return
        self._handle_undecodable(partial(handler, message, exc))

    def _handle_undecodable(self, call):
        self.container.spawn_managed_thread(call)  # it publishes (a dead letter): not in the consumer's thread

    def ack_message(self, message):
        # nameko catches only amqp's ConnectionError here; a reset socket (OSError) would kill the worker's
        # container. Unacked, the broker redelivers the message to the next connection.
        try:
            super().ack_message(message)
        except Exception as exc:
            log.info("ack not sent (%s): the broker redelivers the message", _reason(exc))

    def requeue_message(self, message):
        try:
            super().requeue_message(message)
        except Exception as exc:
            log.info("requeue not sent (%s): the broker redelivers the message", _reason(exc))

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        self.link.back()
        super().on_consume_ready(connection, channel, consumers, **kwargs)

    def on_connection_error(self, exc, interval):  # pragma: no cover - establish_connection retries itself
        self.link.lost(exc)


class KimReplyListener(ReplyListener):
    queue_consumer = KimQueueConsumer()
