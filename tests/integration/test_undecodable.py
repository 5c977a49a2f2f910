"""A message a service cannot decode (not JSON, or JSON nested deeper than the decoder allows) never vanishes
and its body is never logged: an RPC request is answered with 422 at once, an event is dead-lettered."""
import json
import logging

import pytest
from kombu import Connection, Exchange, Queue
from nameko.events import get_event_exchange

from tests.conftest import poll

pytestmark = pytest.mark.integration
DEEP = ("[" * 5000 + "]" * 5000).encode()  # more than the JSON decoder's recursion allows
SECRET = b'"given_name": "Olena-Undecodable"'


@pytest.fixture
def running(start_stack, sqlite_urls):
    return start_stack(sqlite_urls, services=("intake", "casework"))


@pytest.mark.parametrize("body", [DEEP, b"{" + SECRET + b", not json"])
def test_an_undecodable_rpc_request_is_answered_422_at_once(running, body, caplog):
    caplog.set_level(logging.INFO)
    amqp_uri = running.config["AMQP_URI"]
    with Connection(amqp_uri) as conn:
        replies = Queue("test.undecodable.replies", Exchange("nameko-rpc", type="topic", durable=True),
                        routing_key="test.undecodable.replies", auto_delete=True)
        replies(conn.default_channel).declare()
        conn.default_channel.basic_publish(
            conn.default_channel.prepare_message(body, content_type="application/json",
                                                 properties={"reply_to": "test.undecodable.replies",
                                                             "correlation_id": "c-1"}),
            exchange="nameko-rpc", routing_key="intake.register_person")
        reply = poll(lambda: replies(conn.default_channel).get(no_ack=True), timeout=5)
    assert reply.properties["correlation_id"] == "c-1"
    error = json.loads(reply.body)["error"]
    assert error["exc_type"] == "InvalidInput" and "could not be decoded" in error["value"]
    assert running.count("intake", "persons") == 0
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "undecodable message on rpc-intake" in logged and "Olena" not in logged and "[[[" not in logged


def test_an_undecodable_event_is_dead_lettered(running, caplog):
    amqp_uri = running.config["AMQP_URI"]
    dead = Queue("kim.dead-letters", Exchange("kim.dead-letters", type="fanout", durable=True), durable=True)
    with Connection(amqp_uri) as conn:
        dead(conn.default_channel).declare()
        conn.default_channel.basic_publish(
            conn.default_channel.prepare_message(b"{" + SECRET + b" broken", content_type="application/json",
                                                 properties={"message_id": "e-undecodable"}),
            exchange=get_event_exchange("intake", {}).name, routing_key="person_registered")
        parked = poll(lambda: dead(conn.default_channel).get(no_ack=True), timeout=5)
    assert parked.body.startswith(b"{" + SECRET)  # kept as it came, for the operator (`kim dlq show`)
    assert parked.headers["kim.consumer"] == "casework.open_case" and parked.headers["kim.attempts"] == 1
    assert parked.properties["message_id"] == "e-undecodable"
    assert "Olena" not in "\n".join(r.getMessage() for r in caplog.records)
    assert running.count("casework", "cases") == 0
