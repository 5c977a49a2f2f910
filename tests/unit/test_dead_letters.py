"""Retries with backoff, dead letters and quorum queues, on the extensions themselves (nameko's test tools and
stand-ins for the broker); tests/integration/test_dead_letters.py runs the same over the real RabbitMQ."""
from types import SimpleNamespace
from unittest.mock import Mock

import pytest
from nameko.containers import ServiceContainer
from nameko.testing.utils import get_extension

from services.casework.service import CaseworkService
from services.shared import dlq, messaging
from services.shared.errors import Unavailable
from services.shared.events import PersonRegisteredV1, build_envelope
from services.shared.messaging import Subscription, describe_error, retry_delay, subscribe
from services.shared.rpc import _RpcConsumer
from tests.conftest import LUEDENSCHEID

AMQP = {"AMQP_URI": "amqp://guest:guest@127.0.0.1:5672/unused", "serializer": "json"}
QUEUE = "evt-intake-person_registered--listener.handle"


class Listener:
    name = "listener"

    @subscribe("intake", "person_registered")
    def handle(self, envelope):
        raise RuntimeError("never called here")


def subscription(**config):
    container = ServiceContainer(Listener, {**AMQP, **config})
    entrypoint = get_extension(container, Subscription)
    entrypoint.setup()
    entrypoint.shared_publisher = Mock()
    entrypoint.queue_consumer = Mock()
    return entrypoint


def envelope():
    return build_envelope("intake", "person_registered", LUEDENSCHEID, PersonRegisteredV1().load({
        "person_id": "0b7a3c1e-5d4f-4e2a-9c8b-1a2b3c4d5e6f", "municipality": LUEDENSCHEID,
        "arrival_date": "2026-10-02", "residence_status": "other", "languages": ["ar"], "birth_year": 1990}))


def message(attempts=None, body=b'{"x": 1}', **headers):
    if attempts is not None:
        headers["kim.attempts"] = attempts
    first = attempts is None
    return SimpleNamespace(
        body=body, content_type="application/json", payload={"event_id": "e-1"},
        headers={"nameko.call_id_stack": ["a"], "kim.event_type": "person_registered", **headers},
        properties={"message_id": "e-1", "content_type": "application/json", "content_encoding": "utf-8"},
        delivery_info={"exchange": "intake.events" if first else "", "routing_key": "person_registered" if first
                       else QUEUE})


def failed(entrypoint, msg, exc=RuntimeError("database away")):
    entrypoint.handle_result(msg, Mock(), None, (type(exc), exc, None))
    return entrypoint.shared_publisher.publisher.publish


def test_backoff_doubles_and_is_capped(monkeypatch):
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert retry_delay(7) == 60 and retry_delay(1000) == 60
    monkeypatch.setattr(messaging, "RETRY_BASE_SECONDS", 0.1)
    assert [retry_delay(n) for n in (1, 2, 3)] == [0.1, 0.2, 0.4]


def test_error_is_type_and_first_line_truncated():
    assert describe_error(RuntimeError("boom\n[SQL: SELECT 1]")) == "RuntimeError: boom"
    assert describe_error(KeyError()) == "KeyError"
    long = describe_error(ValueError("x" * 500))
    assert len(long) == 200 and long.startswith("ValueError: xxx") and long.endswith("...")


def test_a_failure_goes_to_the_retry_queue_with_backoff_then_the_original_is_acked():
    entrypoint = subscription()
    publish = failed(entrypoint, message())
    (body,), kwargs = publish.call_args
    assert body == b'{"x": 1}' and kwargs["content_type"] == "application/json"  # the body byte for byte
    assert kwargs["exchange"] == "" and kwargs["routing_key"] == f"{QUEUE}.retry" and kwargs["mandatory"]
    assert kwargs["expiration"] == 1.0 and kwargs["message_id"] == "e-1"
    headers = kwargs["headers"]
    assert headers["kim.attempts"] == 1 and headers["kim.error"] == "RuntimeError: database away"
    assert headers["kim.exchange"] == "intake.events" and headers["kim.routing_key"] == "person_registered"
    assert headers["nameko.call_id_stack"] == ["a"] and headers["kim.event_type"] == "person_registered"
    (retry,) = kwargs["declare"]
    assert retry.name == f"{QUEUE}.retry" and retry.durable
    assert retry.queue_arguments == {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": QUEUE}
    entrypoint.queue_consumer.ack_message.assert_called_once()
    entrypoint.queue_consumer.requeue_message.assert_not_called()

    publish = failed(entrypoint, message(attempts=2, **{"kim.exchange": "intake.events",
                                                        "kim.routing_key": "person_registered",
                                                        "x-death": [{"count": 2}]}))
    kwargs = publish.call_args.kwargs
    assert kwargs["expiration"] == 4.0 and kwargs["headers"]["kim.attempts"] == 3
    assert kwargs["headers"]["kim.exchange"] == "intake.events" and "x-death" not in kwargs["headers"]


def test_the_last_attempt_goes_to_the_dead_letters_with_the_failure_headers():
    entrypoint = subscription(KIM_EVENT_MAX_ATTEMPTS="3")
    publish = failed(entrypoint, message(attempts=2, **{"kim.exchange": "intake.events",
                                                        "kim.routing_key": "person_registered"}))
    kwargs = publish.call_args.kwargs
    assert kwargs["exchange"].name == "kim.dead-letters" and "expiration" not in kwargs
    assert [q.name for q in kwargs["declare"]] == ["kim.dead-letters"] and kwargs["mandatory"]
    headers = kwargs["headers"]
    assert headers["kim.consumer"] == "listener.handle" and headers["kim.attempts"] == 3
    assert headers["kim.exchange"] == "intake.events" and headers["kim.routing_key"] == "person_registered"
    assert headers["kim.error"] == "RuntimeError: database away" and headers["kim.failed_at"].endswith("+00:00")
    assert kwargs["message_id"] == "e-1"
    entrypoint.queue_consumer.ack_message.assert_called_once()


def test_when_the_copy_cannot_be_published_the_original_is_requeued(monkeypatch):
    monkeypatch.setattr(messaging, "RETRY_PAUSE_SECONDS", 0)
    entrypoint = subscription()
    entrypoint.shared_publisher.publisher.publish.side_effect = OSError("broker away")
    failed(entrypoint, message())
    entrypoint.queue_consumer.requeue_message.assert_called_once()
    entrypoint.queue_consumer.ack_message.assert_not_called()


def test_a_database_outage_counts_no_attempt_and_requeues(monkeypatch):
    monkeypatch.setattr(messaging, "RETRY_PAUSE_SECONDS", 0)
    entrypoint = subscription(KIM_EVENT_MAX_ATTEMPTS="2")
    publish = failed(entrypoint, message(attempts=1), Unavailable("the database is not available right now"))
    publish.assert_not_called()  # neither a retry copy nor a dead letter
    entrypoint.queue_consumer.requeue_message.assert_called_once()
    entrypoint.queue_consumer.ack_message.assert_not_called()


def test_an_invalid_envelope_is_dead_lettered_at_once():
    entrypoint = subscription()
    poison = {**envelope(), "payload": {"given_name": "Olena"}}
    msg = message(body=b"{...}")
    msg.payload = poison
    msg.properties.pop("message_id")
    entrypoint.handle_message(poison, msg)
    kwargs = entrypoint.shared_publisher.publisher.publish.call_args.kwargs
    assert kwargs["exchange"].name == "kim.dead-letters"
    assert kwargs["message_id"] == poison["event_id"]
    assert kwargs["headers"]["kim.attempts"] == 1 and kwargs["headers"]["kim.consumer"] == "listener.handle"
    assert kwargs["headers"]["kim.error"].startswith("ValidationError: ") and "Olena" not in kwargs["headers"]["kim.error"]
    entrypoint.queue_consumer.ack_message.assert_called_once()


def test_a_success_is_acked():
    entrypoint = subscription()
    entrypoint.handle_result(message(), Mock(), "ok", None)
    entrypoint.queue_consumer.ack_message.assert_called_once()
    entrypoint.shared_publisher.publisher.publish.assert_not_called()


@pytest.mark.parametrize("quorum", [False, True])
def test_quorum_queues_follow_the_setting(quorum):
    entrypoint = subscription(KIM_QUORUM_QUEUES=str(quorum).lower())
    expected = {"x-queue-type": "quorum"} if quorum else {}
    assert (entrypoint.queue.queue_arguments or {}) == expected and entrypoint.queue.name == QUEUE
    assert entrypoint.queue.routing_key == "person_registered" and entrypoint.queue.exchange.name == "intake.events"
    assert entrypoint.retry_queue.queue_arguments.get("x-queue-type") == expected.get("x-queue-type")
    assert (entrypoint.dead_letter_queue.queue_arguments or {}) == expected

    container = ServiceContainer(CaseworkService, {**AMQP, "KIM_QUORUM_QUEUES": str(quorum).lower()})
    consumer = get_extension(container, _RpcConsumer)
    consumer.setup()
    assert consumer.queue.name == "rpc-casework" and consumer.queue.routing_key == "casework.*"
    assert (consumer.queue.queue_arguments or {}) == expected


def test_replay_inserts_the_envelope_into_the_producers_outbox_when_its_row_is_gone(sqlite_urls):
    from sqlalchemy import select

    body = envelope()
    letter = dlq.DeadLetter(1, Mock(), {"kim.consumer": "casework.open_case"}, body["event_id"], body, b"",
                            body, None)
    engines = dlq._Engines(sqlite_urls.__getitem__)
    try:
        assert dlq._to_outbox(engines, letter) == "inserted"
        assert dlq._to_outbox(engines, letter) == "reset"
        with engines("intake").connect() as conn:
            (row,) = conn.execute(select(dlq.OUTBOX)).all()
        assert row.event_id == body["event_id"] and row.exchange == "intake.events"
        assert row.routing_key == "person_registered" and row.sent_at is None and row.body == body
    finally:
        engines.close()
