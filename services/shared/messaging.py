"""Event subscription with a validated envelope, retries with backoff and a dead-letter queue for poison events.

A handler that fails gets its message published (same body and headers, plus `kim.attempts` and `kim.error`)
to the subscription queue's retry queue `<queue>.retry` with a per-message expiration (1 s, 2 s, 4 s ..., at most
60 s); the broker dead-letters it back to the subscription queue when it expires. After `KIM_EVENT_MAX_ATTEMPTS`
failed attempts it is published to the `kim.dead-letters` queue instead, with headers naming the consumer, the
original exchange and routing key, the attempts, the error and the time (`FAILURE_HEADERS`). A message that is
not a valid envelope of a catalogued event goes there at once. The original is acked only after the broker
confirmed the copy; if that publish fails the original is requeued: nothing is lost. `kim dlq` (dlq.py) lists,
shows, replays and drops dead letters.

Retry queues expire messages at their head only: a message behind one with a longer delay waits for it (the
delay is a minimum). With `KIM_QUORUM_QUEUES` every durable queue declared here is a quorum queue (RabbitMQ
3.10+ expires and dead-letters per-message TTLs on quorum queues too; the retry queues then dead-letter
at-least-once).
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from functools import partial

import eventlet
from kombu import Connection, Exchange, Queue
from marshmallow import ValidationError
from nameko.events import EventHandler
from nameko.exceptions import ContainerBeingKilled

from .connection import KimQueueConsumer
from .errors import Unavailable
from .events import load_envelope
from .publisher import SharedPublisher
from .settings import Settings

log = logging.getLogger(__name__)

DEAD_LETTER_EXCHANGE = Exchange("kim.dead-letters", type="fanout", durable=True)
DEAD_LETTER_QUEUE = Queue("kim.dead-letters", exchange=DEAD_LETTER_EXCHANGE, durable=True)
#: the first retry's delay; each further one doubles it, up to RETRY_MAX_SECONDS
RETRY_BASE_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0
#: the pause before requeueing a message whose retry or dead letter could not be published (broker trouble)
RETRY_PAUSE_SECONDS = 1.0
ERROR_MAX_CHARS = 200
QUORUM = {"x-queue-type": "quorum"}

ATTEMPTS_HEADER = "kim.attempts"
ERROR_HEADER = "kim.error"
CONSUMER_HEADER = "kim.consumer"
EXCHANGE_HEADER = "kim.exchange"  # where the event was first published (the outbox's kim.unrouted uses it too)
ROUTING_KEY_HEADER = "kim.routing_key"
FAILED_AT_HEADER = "kim.failed_at"
FAILURE_HEADERS = (ATTEMPTS_HEADER, ERROR_HEADER, CONSUMER_HEADER, EXCHANGE_HEADER, ROUTING_KEY_HEADER,
                   FAILED_AT_HEADER)
#: message properties a retry or dead letter keeps (the body is republished byte for byte)
_KEPT_PROPERTIES = ("content_type", "content_encoding", "message_id", "correlation_id", "type", "app_id")


def queue_arguments(quorum: bool) -> dict:
    return dict(QUORUM) if quorum else {}


def dead_letter_queue(quorum: bool = False) -> Queue:
    return Queue(DEAD_LETTER_QUEUE.name, exchange=DEAD_LETTER_EXCHANGE, durable=True,
                 queue_arguments=queue_arguments(quorum))


def retry_queue(queue_name: str, quorum: bool = False) -> Queue:
    """`<queue>.retry`: no consumer; an expired message goes back to `queue_name` through the default exchange."""
    arguments = {**queue_arguments(quorum), "x-dead-letter-exchange": "", "x-dead-letter-routing-key": queue_name}
    if quorum:  # a quorum queue can dead-letter at-least-once (it needs reject-publish overflow)
        arguments.update({"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"})
    return Queue(f"{queue_name}.retry", durable=True, queue_arguments=arguments)


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones (1, 2, 3, ...)."""
    return min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** min(max(attempts - 1, 0), 16))


def describe_error(exc: BaseException) -> str:
    """The exception's type and the first line of its message, at most ERROR_MAX_CHARS long."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    described = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return described if len(described) <= ERROR_MAX_CHARS else described[:ERROR_MAX_CHARS - 3] + "..."


class Subscription(EventHandler):
    """`@subscribe("intake", "person_registered")`: the method receives the validated envelope (a dict)."""

    queue_consumer = KimQueueConsumer()
    shared_publisher = SharedPublisher()

    def __init__(self, source_service, event_type, **kwargs):
        kwargs.setdefault("requeue_on_error", True)
        super().__init__(source_service, event_type, **kwargs)

    def setup(self):
        super().setup()  # EventHandler.setup builds the (durable) queue and registers it
        settings = Settings.load(self.container.config)
        self.consumer_name = f"{self.container.service_name}.{self.method_name}"
        self.max_attempts = max(1, settings.event_max_attempts)
        quorum = settings.quorum_queues
        if quorum and self.queue.durable and not self.queue.auto_delete and not self.queue.exclusive:
            self.queue = Queue(self.queue.name, exchange=self.queue.exchange, routing_key=self.queue.routing_key,
                               durable=True, queue_arguments=queue_arguments(True))
        self.retry_queue = retry_queue(self.queue.name, quorum)
        self.dead_letter_queue = dead_letter_queue(quorum)

    def handle_message(self, body, message):
        try:
            envelope = load_envelope(body)
        except ValidationError as exc:
            self._park(message, exc)
            return
        context_data = {key: value for key, value in self.unpack_message_headers(message).items()
                        if key not in FAILURE_HEADERS and not key.startswith("x-")}  # not the retry bookkeeping
        if envelope.get("request_id"):
            context_data["request_id"] = envelope["request_id"]
        try:
            self.container.spawn_worker(
                self, (envelope,), {}, context_data=context_data,
                handle_result=partial(self.handle_result, message))
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)

    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        if exc_info is None:
            self.queue_consumer.ack_message(message)
            return result, exc_info
        event_id = message.properties.get("message_id")
        if isinstance(exc_info[1], Unavailable):
            # the database is away: not the event's fault, so no attempt is counted; back after a pause
            log.warning("handler %s could not process event %s now (%s): requeued", self.consumer_name, event_id,
                        exc_info[1])
            eventlet.sleep(RETRY_PAUSE_SECONDS)
            self.queue_consumer.requeue_message(message)
            return result, exc_info
        attempts = _attempts(message) + 1
        error = describe_error(exc_info[1])
        if attempts >= self.max_attempts:
            log.error("handler %s failed on event %s (attempt %d of %d): dead-lettered", self.consumer_name,
                      event_id, attempts, self.max_attempts)  # nameko logged the traceback
            self._move(message, lambda: self._dead_letter(message, attempts, error))
        else:
            delay = retry_delay(attempts)
            log.warning("handler %s failed on event %s (attempt %d of %d): retried in %.1fs", self.consumer_name,
                        event_id, attempts, self.max_attempts, delay)
            self._move(message, lambda: self._retry(message, attempts, error, delay))
        return result, exc_info

    def _park(self, message, exc: ValidationError):
        """Not a valid envelope of a catalogued event: dead-lettered at once (a retry cannot help)."""
        log.error("invalid event %s on %s dead-lettered in %s: %s", message.properties.get("message_id"),
                  self.event_type, DEAD_LETTER_QUEUE.name, describe_error(exc))
        self._move(message, lambda: self._dead_letter(message, 1, describe_error(exc)))

    def decode_failed(self, message, exc):
        """A body kombu could not decode at all: dead-lettered at once, like an invalid envelope."""
        self._move(message, lambda: self._dead_letter(message, 1, describe_error(exc)))

    def _move(self, message, publish):
        """Ack the message once `publish` (a retry or a dead letter) was confirmed; else requeue it."""
        try:
            publish()
        except Exception as exc:
            log.warning("%s: could not move event %s on (%s); requeued", self.consumer_name,
                        message.properties.get("message_id"), describe_error(exc))
            eventlet.sleep(RETRY_PAUSE_SECONDS)
            self.queue_consumer.requeue_message(message)
            return
        self.queue_consumer.ack_message(message)

    def _headers(self, message, attempts: int, error: str) -> dict:
        headers = {key: value for key, value in (message.headers or {}).items() if not key.startswith("x-")}
        # the first delivery came from the producer's exchange; retries come back through the default exchange
        headers.setdefault(EXCHANGE_HEADER, message.delivery_info.get("exchange", ""))
        headers.setdefault(ROUTING_KEY_HEADER, message.delivery_info.get("routing_key", ""))
        headers.update({ATTEMPTS_HEADER: attempts, ERROR_HEADER: error})
        return headers

    def _retry(self, message, attempts: int, error: str, delay: float):
        self.shared_publisher.publisher.publish(
            _body(message), exchange="", routing_key=self.retry_queue.name, declare=[self.retry_queue],
            mandatory=True, expiration=delay, headers=self._headers(message, attempts, error),
            **_kept_properties(message))

    def _dead_letter(self, message, attempts: int, error: str):
        headers = {**self._headers(message, attempts, error), CONSUMER_HEADER: self.consumer_name,
                   FAILED_AT_HEADER: datetime.now(timezone.utc).isoformat()}
        properties = _kept_properties(message)
        if "message_id" not in properties and isinstance(event_id := _payload_event_id(message), str):
            properties["message_id"] = event_id[:255]
        self.shared_publisher.publisher.publish(
            _body(message), exchange=DEAD_LETTER_EXCHANGE, routing_key="", declare=[self.dead_letter_queue],
            mandatory=True, headers=headers, **properties)


def _payload_event_id(message):
    try:
        payload = message.payload
    except Exception:  # not decodable: no event id to take
        return None
    return payload.get("event_id") if isinstance(payload, dict) else None


def _attempts(message) -> int:
    try:
        return max(0, int((message.headers or {}).get(ATTEMPTS_HEADER, 0)))
    except (TypeError, ValueError):
        return 0


def _body(message):
    """The body as received (bytes, with its content type kept), else decoded to be serialised again."""
    return message.body if message.content_type else message.payload


def _kept_properties(message) -> dict:
    return {name: message.properties[name] for name in _KEPT_PROPERTIES if message.properties.get(name)}


subscribe = Subscription.decorator


def check_broker(amqp_uri: str, timeout: float) -> None:
    """Raises unless RabbitMQ at amqp_uri accepts a connection."""
    with Connection(amqp_uri, connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=0)
