"""Faults injected into a running `kim up` with load in flight, on SQLite and PostgreSQL: the broker stopped, a
service killed -9 mid-handler, PostgreSQL restarted while the relay works, the gateway killed mid-request.

After recovery every 201 has exactly one person and one case, no event is lost (outboxes drained, the
consumer's processed set complete, analytics' archive holding every person's registration and case), nothing
is doubled, and the stack is still up. The broker and PostgreSQL
are private to this suite (harness.py), so stopping them disturbs nothing else.

The 60 s outage runs with `make faults` (KIM_FAULTS_LONG=1), which also collects the figures
(KIM_FAULTS_REPORT) for docs/reliability.md.
"""
import json
import os
import signal
import time
import uuid

import pytest
import requests

from tests.conftest import poll
from tests.faults.harness import KimSystem, Load, PrivateBroker, PrivatePostgres, SERVICES, dump, settle

pytestmark = pytest.mark.integration
LONG = os.environ.get("KIM_FAULTS_LONG") == "1"


@pytest.fixture(scope="module")
def broker():
    node = PrivateBroker().start()
    yield node
    node.shutdown()


@pytest.fixture(scope="module")
def postgres():
    cluster = PrivatePostgres().start()
    yield cluster
    cluster.shutdown()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request):
    return request.param


@pytest.fixture
def system(request, broker, backend, tmp_path):
    """`kim up` in a fresh vhost of the private broker, on fresh databases of the backend."""
    vhost = f"faults-{uuid.uuid4().hex[:8]}"
    broker.add_vhost(vhost)
    urls = None
    if backend == "postgresql":
        postgres = request.getfixturevalue("postgres")
        suffix = uuid.uuid4().hex[:8]
        urls = dict(zip(SERVICES, postgres.create_databases(f"kim_{s}_{suffix}" for s in SERVICES).values()))
    kim = KimSystem(tmp_path, broker.uri + vhost, urls).start()
    # a partner's queue for casework's events, so that they are routable and its outbox drains
    broker.bind_listener("casework.events", "partner.casework", vhost)
    yield kim
    assert kim.stop() == 0, kim.log.read_text()[-3000:]


def record(request, name: str, report, **facts):
    """Append the figures to KIM_FAULTS_REPORT (for `make faults`)."""
    path = os.environ.get("KIM_FAULTS_REPORT")
    if path:
        with open(path, "a") as out:
            out.write(json.dumps({"case": name, "test": request.node.name, **facts, **report.as_row()}) + "\n")


def assert_recovered(system, load, report, allow_dropped=False):
    detail = f"{dump(report)}\n{load.bad_answers[:3]}\n" + system.log.read_text()[-3000:]
    assert report.registrations == load.total, detail
    assert report.answered_201 == load.total, detail  # every registration got through in the end
    assert report.bad_answers == 0, detail  # every other answer was a 503 problem+json with Retry-After
    if not allow_dropped:
        assert report.dropped == 0, detail
    assert report.lost == 0 and report.doubled == 0, detail
    assert report.persons == load.total, detail
    assert report.outbox_pending == {"intake": 0, "casework": 0}, detail
    assert report.unprocessed_events == 0, detail
    assert report.not_in_analytics == 0, detail  # analytics archived (and so counted) every registration
    assert system.running(), detail
    poll(lambda: _ready(system), 30, 0.2)  # a restarted process may still be starting


def _ready(system) -> bool:
    try:
        return requests.get(f"{system.url}/ready", timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


def assert_fault_hit_the_load(load, at: float):
    """The fault came while registrations were still under way (not after the load was done)."""
    assert max(o.done_at for o in load.outcomes if o.done_at) > at + 1


def restarts(system) -> list[str]:
    return [line for line in system.log.read_text().splitlines() if "kim up:" in line and "exited with" in line]


@pytest.mark.parametrize("outage", [5] + ([60] if LONG else []))
def test_rabbitmq_outage_under_load(request, system, broker, outage):
    load = Load(system, total=300, clients=8, pause=0.15, give_up_after=outage + 90).start()
    time.sleep(2)
    broker.stop_app()
    stopped = time.time()
    assert load.outcomes and len(load.outcomes) < load.total  # the outage comes in the middle of the load
    time.sleep(outage)
    broker.start_app()
    back = time.time()
    load.join(outage + 200)
    report = settle(system, load, back)
    record(request, "RabbitMQ stopped", report, outage_seconds=round(back - stopped, 1))
    assert_recovered(system, load, report)
    assert report.seconds_to_last_case <= 10, dump(report)
    assert restarts(system) == []  # no process went down: they rode it out


@pytest.mark.parametrize("victim", ["casework", "intake"])
def test_service_killed_mid_handler(request, system, victim):
    load = Load(system, total=200, clients=8, pause=0.2).start()
    time.sleep(2)
    system.kill(victim, signal.SIGKILL)
    killed = time.time()
    load.join(200)
    report = settle(system, load, killed)
    record(request, f"{victim} killed -9", report, outage_seconds=None)
    assert_recovered(system, load, report)
    assert_fault_hit_the_load(load, killed)
    assert len(restarts(system)) == 1 and f"{victim} exited with -9" in restarts(system)[0]


def test_postgresql_restarted_during_relay(request, broker, postgres, tmp_path):
    vhost = f"faults-{uuid.uuid4().hex[:8]}"
    broker.add_vhost(vhost)
    suffix = uuid.uuid4().hex[:8]
    urls = dict(zip(SERVICES, postgres.create_databases(f"kim_{s}_{suffix}" for s in SERVICES).values()))
    system = KimSystem(tmp_path, broker.uri + vhost, urls).start()
    broker.bind_listener("casework.events", "partner.casework", vhost)
    try:
        load = Load(system, total=200, clients=8, pause=0.2).start()
        time.sleep(2)
        postgres.restart()
        back = time.time()
        load.join(200)
        report = settle(system, load, back)
        record(request, "PostgreSQL restarted", report, outage_seconds=None)
        assert_recovered(system, load, report)
        assert_fault_hit_the_load(load, back)
        assert restarts(system) == []
    finally:
        assert system.stop() == 0


def test_gateway_killed_mid_request(request, system):
    load = Load(system, total=200, clients=8, pause=0.2).start()
    time.sleep(2)
    system.kill("gateway", signal.SIGKILL)
    killed = time.time()
    load.join(200)
    report = settle(system, load, killed)
    record(request, "gateway killed -9", report, outage_seconds=None)
    # the requests in flight lose their connection with the process: clients retry with their keys
    assert_recovered(system, load, report, allow_dropped=True)
    assert_fault_hit_the_load(load, killed)
    assert report.dropped > 0
    assert len(restarts(system)) == 1
