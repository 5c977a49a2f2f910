"""Event subscription with a validated envelope, a dead-letter queue for poison messages and retries.

nameko acks or requeues but never rejects, so a broker dead-letter exchange would never fire: a message that
is not a valid envelope of a catalogued event is parked in the `kim.dead-letters` queue (and acked), and a
handler that fails is requeued after a pause, so nothing is lost and nothing spins.
"""
from __future__ import annotations

import logging
from functools import partial

import eventlet
from kombu import Connection, Exchange, Queue
from marshmallow import ValidationError
from nameko.events import EventHandler

from .events import load_envelope
from .publisher import SharedPublisher

log = logging.getLogger(__name__)

DEAD_LETTER_EXCHANGE = Exchange("kim.dead-letters", type="fanout", durable=True)
DEAD_LETTER_QUEUE = Queue("kim.dead-letters", exchange=DEAD_LETTER_EXCHANGE, durable=True)
RETRY_PAUSE_SECONDS = 1.0


class Subscription(EventHandler):
    """`@subscribe("intake", "person_registered")`: the method receives the validated envelope (a dict)."""

    shared_publisher = SharedPublisher()

    def __init__(self, source_service, event_type, **kwargs):
        kwargs.setdefault("requeue_on_error", True)
        super().__init__(source_service, event_type, **kwargs)

    def handle_message(self, body, message):
        try:
            envelope = load_envelope(body)
        except ValidationError as exc:
            self._park(body, message, exc.messages)
            return
        context_data = self.unpack_message_headers(message)
        if envelope.get("request_id"):
            context_data["request_id"] = envelope["request_id"]
        self.container.spawn_worker(
            self, (envelope,), {}, context_data=context_data,
            handle_result=partial(self.handle_result, message))

    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        if exc_info is not None:
            log.error("handler %s failed on %s, requeued", self.method_name, message.properties.get("message_id"),
                      exc_info=exc_info)
            eventlet.sleep(RETRY_PAUSE_SECONDS)
        return super().handle_result(message, worker_ctx, result, exc_info)

    def _park(self, body, message, errors):
        log.error("invalid event on %s parked in %s: %s", self.event_type, DEAD_LETTER_QUEUE.name, errors)
        self.shared_publisher.publisher.publish(
            {"body": body, "errors": errors, "consumer": f"{self.container.service_name}.{self.method_name}"},
            exchange=DEAD_LETTER_EXCHANGE, declare=[DEAD_LETTER_QUEUE], routing_key="")
        self.queue_consumer.ack_message(message)


subscribe = Subscription.decorator


def check_broker(amqp_uri: str, timeout: float) -> None:
    """Raises unless RabbitMQ at amqp_uri accepts a connection."""
    with Connection(amqp_uri, connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=1)
