"""Analytics over the real broker and both databases: events published to the producers' exchanges are
archived once and projected; the report routes answer JSON and CSV with suppressed cells marked; only
analysts and district admins read them, each only their towns; and a registration through the gateway
reaches analytics as person_registered and case_opened."""
import csv
import io
import random
from datetime import date

import pytest
from kombu import Connection
from nameko.events import get_event_exchange
from sqlalchemy import create_engine

from services.analytics import projections, synthetic
from tests.conftest import KIERSPE, LUEDENSCHEID, MEINERZHAGEN, person_body, poll

pytestmark = pytest.mark.integration

TOWNS = (LUEDENSCHEID, MEINERZHAGEN)
PERIOD = {"from": "2026-07-01", "to": "2026-09-30"}


def publish(amqp_uri, envelopes):
    """As the producers' outbox relays publish: to `<producer>.events`, routing key = event type."""
    with Connection(amqp_uri) as conn:
        producer = conn.Producer(serializer="json")
        for envelope in envelopes:
            producer.publish(envelope, exchange=get_event_exchange(envelope["producer"], {}),
                             routing_key=envelope["event_type"], message_id=envelope["event_id"],
                             declare=[get_event_exchange(envelope["producer"], {})])


def snapshot(url):
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return projections.counter_snapshot(conn)
    finally:
        engine.dispose()


@pytest.fixture
def analytics(start_stack, db_urls):
    return start_stack(db_urls, services=("analytics", "gateway"))


def test_published_events_are_archived_once_and_reported(analytics, http, auth, tmp_path):
    stack = analytics
    events = synthetic.stream(150, TOWNS, seed=21, first_day=date(2026, 5, 1), days=120)
    shuffled = list(events)
    random.Random(1).shuffle(shuffled)  # out of order, and some twice
    publish(stack.config["AMQP_URI"], shuffled + shuffled[:40])
    poll(lambda: stack.count("analytics", "analytics_events") == len(events), timeout=60)

    # the same as folding the stream in order, without a broker
    from services.shared.migrations import upgrade
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    upgrade("analytics", reference)
    engine = create_engine(reference)
    with engine.begin() as conn:
        for envelope in events:
            projections.ingest(conn, envelope)
    engine.dispose()
    poll(lambda: snapshot(stack.urls["analytics"]) == snapshot(reference), timeout=20)

    district = auth("district_admin", TOWNS)
    response = http.get(stack.url("/v1/analytics/barriers"), params=PERIOD, headers=district)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["municipalities"] == sorted(TOWNS) and data["ranking"]
    for row in data["ranking"]:
        for c in (row["open"], *(m["open"] for m in row["per_municipality"].values())):
            assert c["suppressed"] or c["value"] == 0 or c["value"] >= 5

    as_csv = http.get(stack.url("/v1/analytics/referrals"), params=PERIOD, headers={**district,
                                                                                 "Accept": "text/csv"})
    assert as_csv.status_code == 200 and as_csv.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert rows and {"section", "row", "column", "value", "suppressed"} <= set(rows[0])
    assert all(r["value"] == "" for r in rows if r["suppressed"] == "1")

    for name in ("cases", "caseload", "outcomes", "needs"):
        response = http.get(stack.url(f"/v1/analytics/{name}"), params=PERIOD, headers=district)
        assert response.status_code == 200 and response.json()["report"] == name, response.text

    page = http.get(stack.url("/v1/analytics/report"), params={"period": "2026-Q3"}, headers=district)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert page.text.count("<svg") == 3
    pdf = http.get(stack.url("/v1/analytics/report"), params={"period": "2026-Q3", "format": "pdf"},
                   headers=district)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-1.4") and pdf.content.rstrip().endswith(b"%%EOF")


def test_report_routes_scope_and_validate(analytics, http, auth):
    stack = analytics
    town = auth("analyst", [LUEDENSCHEID])
    mine = http.get(stack.url("/v1/analytics/cases"), params=PERIOD, headers=town)
    assert mine.status_code == 200 and mine.json()["municipalities"] == [LUEDENSCHEID]
    other = http.get(stack.url("/v1/analytics/cases"), params={**PERIOD, "municipality": KIERSPE}, headers=town)
    assert other.status_code == 403
    backwards = http.get(stack.url("/v1/analytics/cases"), params={"from": "2026-09-30", "to": "2026-07-01"},
                         headers=town)
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "to"
    bad_period = http.get(stack.url("/v1/analytics/report"), params={"period": "2026-Q9"}, headers=town)
    assert bad_period.status_code == 422
    assert http.get(stack.url("/v1/analytics/cases"), headers=auth("case_manager")).status_code == 403


def test_a_registration_reaches_analytics(start_stack, db_urls, http, auth):
    stack = start_stack(db_urls, services=("intake", "casework", "analytics", "gateway"))
    lead = auth("team_lead", [LUEDENSCHEID])
    created = http.post(stack.url("/v1/persons"), json=person_body(), headers=lead)
    assert created.status_code == 201, created.text
    poll(lambda: stack.count("analytics", "analytics_events", "event_type = 'case_opened'") == 1, timeout=20)
    assert stack.count("analytics", "analytics_events", "event_type = 'person_registered'") == 1
    today = date.today().isoformat()
    data = http.get(stack.url("/v1/analytics/cases"), params={"from": today, "to": today},
                    headers=auth("analyst", [LUEDENSCHEID])).json()
    opened = data["tables"]["opened_and_closed"]["rows"][0]
    assert opened["key"] == "opened" and opened["cells"][LUEDENSCHEID] == {"value": None, "suppressed": True}


def test_a_batch_with_a_duplicate_and_a_poison_event_lands_the_good_ones_once(start_stack, db_urls, monkeypatch,
                                                                              tmp_path):
    """The batch consumer folds many events per transaction; one event that cannot be folded fails alone: it is
    retried and then dead-lettered with the platform's headers, every other event lands exactly once."""
    from services.shared import messaging
    from services.shared.migrations import upgrade
    from tests.integration.test_dead_letters import get_dead_letters

    events = synthetic.stream(30, TOWNS, seed=33, first_day=date(2026, 5, 1), days=120)
    poison = next(e for e in events if e["event_type"] == "barrier_recorded")
    good = [e for e in events if e is not poison]
    merge = projections._merge_barrier

    def failing_merge(state, envelope):
        if envelope["event_id"] == poison["event_id"]:
            raise RuntimeError("cannot fold this one")
        merge(state, envelope)
    monkeypatch.setattr(projections, "_merge_barrier", failing_merge)
    monkeypatch.setattr(messaging, "RETRY_BASE_SECONDS", 0.2)
    stack = start_stack(db_urls, services=("analytics",), KIM_EVENT_MAX_ATTEMPTS=2)

    publish(stack.config["AMQP_URI"], events + events[:5])  # the first five twice, all in a batch or two
    (letter,) = poll(lambda: get_dead_letters(stack.config["AMQP_URI"]), timeout=30)
    assert letter.properties["message_id"] == poison["event_id"]
    assert letter.headers["kim.consumer"] == "analytics.on_casework_barrier_recorded"
    assert letter.headers["kim.attempts"] == 2 and letter.headers["kim.error"] == "RuntimeError: cannot fold this one"
    assert letter.headers["kim.exchange"] == "casework.events"
    assert letter.headers["kim.routing_key"] == "barrier_recorded"
    poll(lambda: stack.count("analytics", "analytics_events") == len(good), timeout=30)

    # the good ones exactly once: the counters equal folding them once without a broker
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    upgrade("analytics", reference)
    engine = create_engine(reference)
    monkeypatch.setattr(projections, "_merge_barrier", merge)
    with engine.begin() as conn:
        projections.ingest_many(conn, good)
    engine.dispose()
    assert snapshot(stack.urls["analytics"]) == snapshot(reference)
    assert stack.count("analytics", "analytics_events") == len(good)


def test_a_stream_with_unfit_deliveries_is_settled_whole(start_stack, db_urls, rabbit_config, rabbit_manager):
    """Batches are acked with one basic.ack of their latest delivery: an undecodable body and an invalid
    envelope among the events are dead-lettered in their turn, every event lands once, and once the service
    stops, nothing is left unacked in its queues (an ack that covered too little would leave messages behind;
    one that covered a dead-lettered delivery twice would close the channel)."""
    events = synthetic.stream(120, TOWNS, seed=35, first_day=date(2026, 5, 1), days=120)
    opened = next(e for e in events if e["event_type"] == "case_opened")
    invalid = {**opened, "event_id": "66666666-6666-4666-8666-666666666666", "municipality": "00000000"}
    stack = start_stack(db_urls, services=("analytics",))
    amqp_uri = stack.config["AMQP_URI"]
    half = len(events) // 2
    publish(amqp_uri, events[:half] + [invalid])
    with Connection(amqp_uri) as conn:
        conn.default_channel.basic_publish(
            conn.default_channel.prepare_message(b'{"broken', content_type="application/json",
                                                 properties={"message_id": "e-undecodable"}),
            exchange=get_event_exchange("casework", {}).name, routing_key="case_opened")
    publish(amqp_uri, events[half:])
    poll(lambda: stack.count("analytics", "analytics_events") == len(events), timeout=60)
    letters = []

    def dead_letters():  # raw: one of them is not JSON
        with Connection(amqp_uri) as conn:
            while (message := conn.default_channel.basic_get("kim.dead-letters", no_ack=True)) is not None:
                letters.append(message.properties["message_id"])
        return len(letters) == 2
    poll(dead_letters, timeout=30)
    assert sorted(letters) == sorted([invalid["event_id"], "e-undecodable"])

    stack.runner.stop()  # what was not acked goes back to the queues
    vhost = rabbit_config["vhost"]
    queues = [q["name"] for q in rabbit_manager.get_queues(vhost) if q["name"].endswith("--analytics")
              or "--analytics." in q["name"]]
    assert queues
    with Connection(amqp_uri) as conn:
        left = {name: conn.default_channel.queue_declare(queue=name, passive=True).message_count for name in queues}
    assert set(left.values()) == {0}, left
    assert stack.count("analytics", "analytics_events") == len(events)
