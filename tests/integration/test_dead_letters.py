"""Retries with backoff, the dead-letter queue and `kim dlq`, over the real RabbitMQ (a vhost per test) and both
databases."""
import json
import time
from types import SimpleNamespace

import pytest
from kombu import Connection
from nameko.events import get_event_exchange
from sqlalchemy import create_engine, text

from services.cli import main
from services.intake.models import metadata as intake_metadata
from services.shared import messaging
from services.shared.db import Transactions, make_engine
from services.shared.events import PersonRegisteredV1, build_envelope
from services.shared.messaging import subscribe
from tests.conftest import LUEDENSCHEID, poll

pytestmark = pytest.mark.integration

QUEUE = "evt-intake-person_registered--flaky.handle"


def payload(person_id="0b7a3c1e-5d4f-4e2a-9c8b-1a2b3c4d5e6f"):
    return PersonRegisteredV1().load({
        "person_id": person_id, "municipality": LUEDENSCHEID, "arrival_date": "2026-10-02",
        "residence_status": "other", "languages": ["ar"], "birth_year": 1990})


def publish(amqp_uri, body):
    with Connection(amqp_uri) as conn:
        conn.Producer(serializer="json").publish(
            body, exchange=get_event_exchange("intake", {}), routing_key="person_registered",
            message_id=body.get("event_id"), headers={"kim.event_type": "person_registered"})


def ready(amqp_uri, name):
    """Messages ready in a queue now (a passive declare: the management API's numbers lag by seconds)."""
    with Connection(amqp_uri) as conn:
        return conn.default_channel.queue_declare(queue=name, passive=True).message_count


def get_dead_letters(amqp_uri):
    """Take every dead letter (acked: the test's own queue)."""
    letters = []
    with Connection(amqp_uri) as conn:
        queue = conn.SimpleQueue(messaging.dead_letter_queue(False))
        while True:
            try:
                message = queue.get(timeout=0.2)
            except queue.Empty:
                return letters
            message.ack()
            letters.append(message)


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(messaging, "RETRY_BASE_SECONDS", 0.2)


@pytest.fixture
def flaky(runner_factory, rabbit_config, fast_retries):
    """start(failures, max_attempts): a service whose handler fails `failures` times, then succeeds; returns
    the record of its calls (monotonic time, envelope) and successes."""
    calls, done = [], []

    class Flaky:
        name = "flaky"

        @subscribe("intake", "person_registered")
        def handle(self, envelope):
            calls.append((time.monotonic(), envelope))
            if len(calls) <= Flaky.failures:
                raise RuntimeError(f"failure {len(calls)}")
            done.append(str(envelope["event_id"]))

    def start(failures, max_attempts=4):
        Flaky.failures = failures
        runner = runner_factory({**rabbit_config, "serializer": "json", "KIM_EVENT_MAX_ATTEMPTS": max_attempts},
                                Flaky)
        runner.start()
        return calls, done
    return start


def test_a_handler_that_always_fails_ends_in_the_dead_letters_after_k_attempts_with_growing_delays(
        flaky, rabbit_config):
    calls, done = flaky(failures=99, max_attempts=4)
    event = build_envelope("intake", "person_registered", LUEDENSCHEID, payload())
    publish(rabbit_config["AMQP_URI"], event)

    letters = poll(lambda: get_dead_letters(rabbit_config["AMQP_URI"]), timeout=10)
    assert len(calls) == 4 and not done
    gaps = [later[0] - earlier[0] for earlier, later in zip(calls, calls[1:])]
    for gap, delay in zip(gaps, (0.2, 0.4, 0.8)):  # 0.2 s, doubling
        assert delay - 0.05 <= gap < delay + 1.0, gaps
    assert gaps[0] < gaps[1] < gaps[2]
    (letter,) = letters
    assert letter.payload == event  # the body as it was published
    assert letter.properties["message_id"] == event["event_id"]
    headers = letter.headers
    assert headers["kim.consumer"] == "flaky.handle" and headers["kim.attempts"] == 4
    assert headers["kim.exchange"] == "intake.events" and headers["kim.routing_key"] == "person_registered"
    assert headers["kim.error"] == "RuntimeError: failure 4" and headers["kim.event_type"] == "person_registered"
    assert headers["kim.failed_at"].endswith("+00:00")
    # not lost, and no fifth attempt pending: neither the retry queue nor the subscription queue holds a copy
    assert ready(rabbit_config["AMQP_URI"], f"{QUEUE}.retry") == 0 and ready(rabbit_config["AMQP_URI"], QUEUE) == 0
    assert len(calls) == 4


def test_a_handler_that_fails_twice_then_succeeds_processes_the_event_exactly_once(
        flaky, rabbit_config):
    calls, done = flaky(failures=2, max_attempts=4)
    event = build_envelope("intake", "person_registered", LUEDENSCHEID, payload())
    publish(rabbit_config["AMQP_URI"], event)

    poll(lambda: done, timeout=10)
    assert done == [event["event_id"]] and len(calls) == 3
    assert all(str(envelope["event_id"]) == event["event_id"] for _, envelope in calls)
    # nothing left anywhere: no copy in the retry queue, none requeued, no dead letter
    assert ready(rabbit_config["AMQP_URI"], f"{QUEUE}.retry") == 0 and ready(rabbit_config["AMQP_URI"], QUEUE) == 0
    assert get_dead_letters(rabbit_config["AMQP_URI"]) == []
    assert len(calls) == 3 and done == [event["event_id"]]


def test_quorum_queues_when_the_setting_says_so(start_stack, sqlite_urls, rabbit_config, rabbit_manager,
                                                 monkeypatch, fast_retries):
    stack = start_stack(sqlite_urls, services=("intake", "casework"), KIM_QUORUM_QUEUES="true",
                        KIM_EVENT_MAX_ATTEMPTS=2)
    vhost = rabbit_config["vhost"]
    for name in ("rpc-intake", "rpc-casework", "evt-intake-person_registered--casework.open_case"):
        assert rabbit_manager.get_queue(vhost, name)["type"] == "quorum", name
    # the retry queue (a quorum queue too) brings a failed event back, then it is dead-lettered
    engine = create_engine(stack.urls["casework"])
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE cases RENAME TO cases_away"))
    engine.dispose()
    event = build_envelope("intake", "person_registered", LUEDENSCHEID, payload())
    publish(rabbit_config["AMQP_URI"], event)
    poll(lambda: any(q["name"] == "kim.dead-letters" for q in rabbit_manager.get_queues(vhost))
         and ready(rabbit_config["AMQP_URI"], "kim.dead-letters") == 1, timeout=10)
    retry = rabbit_manager.get_queue(vhost, "evt-intake-person_registered--casework.open_case.retry")
    assert retry["type"] == "quorum" and retry["arguments"]["x-dead-letter-strategy"] == "at-least-once"
    assert rabbit_manager.get_queue(vhost, "kim.dead-letters")["type"] == "quorum"
    monkeypatch.setenv("AMQP_URI", rabbit_config["AMQP_URI"])
    assert main(["dlq", "show", event["event_id"]]) == 0  # reading a quorum dead-letter queue works too


# kim dlq --------------------------------------------------------------------------------------------------------

@pytest.fixture
def operator_env(monkeypatch, rabbit_config, db_urls):
    """`kim dlq` as an operator runs it: settings from the environment."""
    monkeypatch.setenv("AMQP_URI", rabbit_config["AMQP_URI"])
    for service, url in db_urls.items():
        monkeypatch.setenv(f"KIM_{service.upper()}_DB_URL", url)


def sql(url, statement, **params):
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            return conn.execute(text(statement), params).all() if statement.lstrip().upper().startswith("SELECT") \
                else conn.execute(text(statement), params)
    finally:
        engine.dispose()


def log_rows(url):
    rows = sql(url, "SELECT action, event_id, event_type, consumer, actor, reason, message FROM dead_letter_log")
    return [SimpleNamespace(**{**row._asdict(), "message": json.loads(row.message)
                               if isinstance(row.message, str) else row.message}) for row in rows]


def test_kim_dlq_lists_then_replays_through_the_outbox(start_stack, db_urls, operator_env, rabbit_config,
                                                       fast_retries, capsys):
    stack = start_stack(db_urls, services=("intake", "casework"), KIM_EVENT_MAX_ATTEMPTS=3)
    sql(db_urls["casework"], "ALTER TABLE cases RENAME TO cases_away")  # casework's handler fails
    engine = make_engine(db_urls["intake"])
    with Transactions(engine, "intake", intake_metadata)() as uow:  # intake announces a registration
        event = uow.emit("person_registered", LUEDENSCHEID, payload())
    engine.dispose()
    event_id = event["event_id"]

    def listed():
        capsys.readouterr()
        assert main(["dlq", "list"]) == 0
        return [line for line in capsys.readouterr().out.splitlines() if event_id in line]
    (line,) = poll(listed, timeout=10)
    assert "person_registered" in line and "casework.open_case" in line and " 3 " in line
    assert line.split("+00:00", 1)[1].strip()  # the error (its type and first line)
    (again,) = listed()  # listing removed nothing
    assert again == line

    assert main(["dlq", "show", "1"]) == 0
    shown = capsys.readouterr().out
    assert f'"event_id": "{event_id}"' in shown and '"kim.attempts": 3' in shown

    sql(db_urls["casework"], "ALTER TABLE cases_away RENAME TO cases")  # fixed
    assert main(["dlq", "replay", event_id, "--actor", "ops-1", "--reason", "table restored"]) == 0
    assert "through the intake outbox" in capsys.readouterr().out
    poll(lambda: stack.count("casework", "cases") == 1, timeout=10)
    poll(lambda: stack.count("intake", "outbox", "sent_at IS NOT NULL") == 1)  # the reset row, published again
    assert stack.count("intake", "outbox") == 1 and stack.count("casework", "processed_events") == 1
    (row,) = log_rows(db_urls["casework"])
    assert (row.action, row.event_id, row.event_type, row.consumer, row.actor, row.reason) == (
        "replayed", event_id, "person_registered", "casework.open_case", "ops-1", "table restored")
    assert row.message["body"] == event and row.message["headers"]["kim.attempts"] == 3
    assert main(["dlq", "list"]) == 0
    assert "0 dead letter(s)" in capsys.readouterr().out


def test_kim_dlq_drop_needs_a_reason_and_records_it(start_stack, db_urls, operator_env, rabbit_config, capsys):
    start_stack(db_urls, services=("casework",))
    valid = build_envelope("intake", "person_registered", LUEDENSCHEID, payload())
    poison = {**valid, "payload": {**valid["payload"], "given_name": "Olena"}}  # personal data: refused
    publish(rabbit_config["AMQP_URI"], poison)

    def listed():
        capsys.readouterr()
        main(["dlq", "list"])
        return [line for line in capsys.readouterr().out.splitlines() if poison["event_id"] in line]
    (line,) = poll(listed, timeout=10)
    assert "[invalid envelope]" in line and "casework.open_case" in line

    with pytest.raises(SystemExit) as exit_:
        main(["dlq", "drop", "1"])
    assert exit_.value.code == 2 and "--reason" in capsys.readouterr().err
    assert main(["dlq", "drop", "1", "--reason", "  "]) == 2
    assert main(["dlq", "replay", "1"]) == 2
    assert "only dropped" in capsys.readouterr().err
    assert log_rows(db_urls["casework"]) == []
    assert len(listed()) == 1  # still there

    assert main(["dlq", "drop", poison["event_id"], "--actor", "ops-2", "--reason", "carried a name"]) == 0
    (row,) = log_rows(db_urls["casework"])
    assert (row.action, row.event_id, row.consumer, row.actor, row.reason) == (
        "dropped", poison["event_id"], "casework.open_case", "ops-2", "carried a name")
    assert "Olena" not in json.dumps(row.message) and row.message["body_sha256"]
    assert "given_name" in row.message["headers"]["kim.error"]
    assert listed() == []
