"""The transactional outbox: nothing published for a rolled-back transaction; nothing lost when the broker is
away; nothing published twice."""
import socket
import uuid
from datetime import datetime, timezone

import eventlet
import pytest
from kombu import Connection, Queue
from nameko.events import get_event_exchange
from sqlalchemy import event, select, text

from services.intake import domain
from services.intake.models import Person, metadata
from services.intake.schemas import RegisterPersonSchema
from services.shared.auth import caller_from_claims
from services.shared import db
from services.shared.db import Transactions, make_engine
from services.shared.outbox import OutboxRelay
from services.shared.publisher import ConfirmedPublisher
from tests.conftest import LUEDENSCHEID, person_body, poll
from tests.integration.broker_proxy import Proxy

pytestmark = pytest.mark.integration

CALLER = caller_from_claims({"sub": "t", "role": "intake_officer", "municipalities": [LUEDENSCHEID]})


@pytest.fixture
def intake_db(db_urls):
    engine = make_engine(db_urls["intake"])
    yield Transactions(engine, "intake", metadata)
    engine.dispose()


@pytest.fixture
def start_relay():
    """start(transactions, amqp_uri): a relay and its publisher running, both stopped after the test."""
    running = []

    def start(transactions, amqp_uri):
        publisher = ConfirmedPublisher(amqp_uri)
        relay = OutboxRelay(transactions.engine, transactions.outbox, publisher, transactions.lock, 0.1)
        running.append((relay, publisher, eventlet.spawn(publisher.run), eventlet.spawn(relay.run)))
        return relay
    yield start
    for relay, publisher, *threads in running:
        relay.stop()
        publisher.stop()
        for thread in threads:
            thread.kill()


@pytest.fixture
def received(rabbit_config):
    """Messages that reach a queue bound to person_registered, as a list that fills itself."""
    messages = []
    queue = Queue("test-person-registered", exchange=get_event_exchange("intake", {}),
                  routing_key="person_registered", durable=False, auto_delete=False)
    conn = Connection(rabbit_config["AMQP_URI"])
    consumer = conn.Consumer([queue], callbacks=[lambda body, msg: (messages.append(body), msg.ack())])
    consumer.declare()
    consumer.consume()

    def drain():
        while True:
            try:
                conn.drain_events(timeout=0.1)
            except socket.timeout:
                eventlet.sleep(0.01)
            except Exception:
                return
    worker = eventlet.spawn(drain)
    yield messages
    worker.kill()
    conn.release()


def register(transactions):
    data = RegisterPersonSchema().load(person_body(confirmed_new=True))  # registered again and again
    with transactions() as uow:
        person = domain.register_person(uow.connection, data, CALLER, (LUEDENSCHEID,))
        uow.emit("person_registered", person["municipality"], domain.person_registered(person))
    return person


def pending(transactions):
    with transactions() as uow:
        return uow.session.execute(select(uow.outbox.c.event_id).where(uow.outbox.c.sent_at.is_(None))).all()


def attempts(transactions):
    with transactions() as uow:
        return [row.attempts for row in uow.session.execute(select(uow.outbox.c.attempts))]


def test_failure_after_writing_leaves_neither_row_nor_event(intake_db, received, rabbit_config, start_relay):
    start_relay(intake_db, rabbit_config["AMQP_URI"])
    with pytest.raises(RuntimeError):
        with intake_db() as uow:
            person = domain.register_person(uow.connection, RegisterPersonSchema().load(person_body()), CALLER,
                                            (LUEDENSCHEID,))
            uow.emit("person_registered", person["municipality"], domain.person_registered(person))
            raise RuntimeError("the handler fails after writing")
    eventlet.sleep(0.5)
    with intake_db() as uow:
        assert uow.session.scalar(select(Person.id)) is None
        assert uow.session.execute(select(uow.outbox.c.id)).first() is None
    assert received == []

    register(intake_db)  # the relay works: a committed one is published
    poll(lambda: len(received) == 1)


def test_event_published_after_the_broker_is_back_exactly_once(intake_db, received, rabbit_config, start_relay):
    proxy = Proxy()
    uri = rabbit_config["AMQP_URI"].replace("localhost:5672", f"127.0.0.1:{proxy.port}")
    assert str(proxy.port) in uri
    start_relay(intake_db, uri)
    try:
        register(intake_db)
        poll(lambda: len(received) == 1)  # the path works

        proxy.stop()  # the broker is away
        person = register(intake_db)
        eventlet.sleep(1.5)
        assert len(pending(intake_db)) == 1, "the event must stay in the outbox while the broker is away"
        assert len(received) == 1

        proxy.start()  # back
        poll(lambda: len(received) == 2, timeout=20)
        poll(lambda: not pending(intake_db))
        eventlet.sleep(1.0)
        assert len(received) == 2, "published exactly once"
        assert received[1]["payload"]["person_id"] == person["id"]
        with intake_db() as uow:
            assert len(uow.session.execute(select(uow.outbox.c.id)).all()) == 2
    finally:
        proxy.close()


@pytest.mark.parametrize("db_backend", ["postgresql"])
def test_the_relay_marks_rows_sent_without_waiting_for_the_wal_flush(intake_db, received, rabbit_config,
                                                                    start_relay):
    """A mark lost in a crash of the server only republishes (consumers deduplicate): its commit is asynchronous,
    while the registration's own commit is not."""
    last, seen = {}, set()

    def statement(connection, cursor, sql, *_):
        last[connection] = " ".join(sql.split()[:2])

    def commit(connection):  # (the transaction's last statement, its synchronous_commit)
        seen.add((last.get(connection), connection.exec_driver_sql("SHOW synchronous_commit").scalar()))
    event.listen(intake_db.engine, "before_cursor_execute", statement)
    event.listen(intake_db.engine, "commit", commit)
    start_relay(intake_db, rabbit_config["AMQP_URI"])
    register(intake_db)
    poll(lambda: len(received) == 1 and not pending(intake_db))
    assert ("INSERT INTO", "on") in seen  # the registration and its outbox row
    assert ("UPDATE outbox", "off") in seen  # the relay's mark
    assert ("UPDATE outbox", "on") not in seen


def test_event_nobody_subscribes_to_is_retried_then_parked(intake_db, rabbit_config, monkeypatch, start_relay):
    from services.shared import outbox
    monkeypatch.setattr(outbox, "MAX_UNROUTABLE_ATTEMPTS", 2)
    start_relay(intake_db, rabbit_config["AMQP_URI"])
    person = register(intake_db)  # no queue is bound to intake.events in this vhost
    poll(lambda: attempts(intake_db) == [1])
    assert len(pending(intake_db)) == 1, "returned by the broker: kept for a retry"
    poll(lambda: not pending(intake_db), timeout=10)
    with Connection(rabbit_config["AMQP_URI"]) as conn:
        message = conn.SimpleQueue(outbox.UNROUTED_QUEUE).get(timeout=5)
        assert message.payload["payload"]["person_id"] == person["id"]
        assert message.headers["kim.exchange"] == "intake.events"
        message.ack()


def test_a_transaction_writes_all_its_outbox_rows_in_one_statement(intake_db):
    statements = []
    event.listen(intake_db.engine, "before_cursor_execute",
                 lambda _c, _cur, sql, *_: statements.append(sql) if sql.startswith("INSERT INTO outbox") else None)
    with intake_db() as uow:
        for _ in range(3):
            uow.emit("consent_granted", LUEDENSCHEID, {
                "person_id": str(uuid.uuid4()), "purpose": "statistics", "municipality": LUEDENSCHEID,
                "granted_at": datetime.now(timezone.utc)})
    with intake_db() as uow:
        rows = uow.connection.execute(select(intake_db.outbox.c.routing_key)).scalars().all()
    assert rows == ["consent_granted"] * 3
    assert len(statements) == 1


def test_claim_many_claims_each_event_once_per_consumer(intake_db):
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    with intake_db() as uow:
        assert uow.claim_many("test.consumer", [a, b, a]) == {a, b}  # a redelivery within the batch too
    with intake_db() as uow:
        assert uow.claim_many("test.consumer", [a, c]) == {c}
        assert uow.claim_many("other.consumer", [a]) == {a}
        assert uow.claim_many("test.consumer", []) == set()


def test_a_postgresql_connection_is_pinged_only_after_idling_and_replaced_if_dead(migrated, monkeypatch):
    urls, created = migrated.postgresql()
    engine = make_engine(urls["intake"])
    pings = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: (pings.append(conn), ping(conn))[1])
    try:
        backend = "SELECT pg_backend_pid()"
        with engine.connect() as conn:
            first = conn.execute(text(backend)).scalar()
        with engine.connect() as conn:  # used a moment ago: no round trip for a ping
            assert conn.execute(text(backend)).scalar() == first
        assert pings == []
        admin = make_engine(urls["intake"])
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        admin.dispose()
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # every checkout counts as after idling
        with engine.connect() as conn:  # the dead connection is found by the ping and replaced
            assert conn.execute(text(backend)).scalar() != first
        assert len(pings) >= 1
    finally:
        engine.dispose()
        migrated.release(created)
