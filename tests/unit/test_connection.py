"""Backoff and the broker link's log: once per state change, not once per attempt."""
import logging

from services.shared import connection
from services.shared.connection import BrokerLink, backoff


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    for attempt in range(30):
        ceiling = min(connection.BACKOFF_CAP_SECONDS, connection.BACKOFF_BASE_SECONDS * 2 ** attempt)
        delays = [backoff(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len({round(backoff(3), 6) for _ in range(20)}) > 1  # jitter: replicas do not knock in step
    assert max(backoff(100) for _ in range(50)) <= connection.BACKOFF_CAP_SECONDS


def test_the_link_logs_lost_still_down_every_minute_and_back(caplog):
    caplog.set_level(logging.INFO, logger="services.shared.connection")
    now = [0.0]
    link = BrokerLink("publisher", clock=lambda: now[0])
    delays = []
    for _ in range(200):  # 200 failed attempts over 100 s
        delays.append(link.lost(ConnectionRefusedError(111, "ECONNREFUSED")))
        now[0] += 0.5
    link.back()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3, messages
    assert messages[0].startswith("publisher: RabbitMQ unreachable (ConnectionRefusedError")
    assert messages[1].startswith("publisher: RabbitMQ still unreachable after 60 s")
    assert messages[2] == "publisher: RabbitMQ reachable again after 100.0 s"
    assert delays[0] <= connection.BACKOFF_BASE_SECONDS and max(delays) <= connection.BACKOFF_CAP_SECONDS
    assert link.up and link.attempts == 0
    link.back()  # already up: nothing more to say
    assert len(caplog.records) == 3


def test_an_ack_on_a_dead_socket_does_not_kill_the_consumer():
    """nameko's queue consumer catches only amqp's ConnectionError here: a reset socket killed the container."""
    from unittest.mock import Mock

    from nameko.containers import ServiceContainer

    from services.shared.connection import KimQueueConsumer

    class Service:
        name = "service"

    consumer = KimQueueConsumer().bind(ServiceContainer(Service, {"AMQP_URI": "memory://"}))
    message = Mock()
    message.ack.side_effect = ConnectionResetError(104, "Connection reset by peer")
    message.requeue.side_effect = OSError("Server unexpectedly closed connection")
    consumer.ack_message(message)  # the broker redelivers it on the next connection
    consumer.requeue_message(message)
    assert message.ack.called and message.requeue.called
