"""The walking skeleton over the real broker and real databases: HTTP → intake → event → casework."""
import json

import eventlet
import pytest
from kombu import Connection
from nameko.events import get_event_exchange
from nameko.rpc import rpc

from services.shared.events import PersonRegisteredV1, build_envelope
from tests.conftest import KIERSPE, LUEDENSCHEID, MEINERZHAGEN, person_body, poll

pytestmark = pytest.mark.integration


def register(http, stack, headers, **overrides):
    response = http.post(stack.url("/v1/persons"), json=person_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    return response


def case_of(http, stack, headers, person_id):
    def find():
        items = http.get(stack.url("/v1/cases"), params={"person_id": person_id}, headers=headers).json()["items"]
        return items
    return poll(find)


@pytest.fixture
def core_stack(start_stack, db_urls):
    """intake, casework and the gateway only: no other service subscribes to their events."""
    return start_stack(db_urls, services=("intake", "casework", "gateway"))


def test_register_person_opens_exactly_one_case(core_stack, http, auth):
    stack = core_stack
    headers = auth("case_manager")
    response = register(http, stack, headers)
    person = response.json()
    assert response.headers["Location"] == f"/v1/persons/{person['id']}"
    assert person["family_name"] == "Testperson" and person["municipality"] == LUEDENSCHEID

    cases = case_of(http, stack, headers, person["id"])
    assert len(cases) == 1
    case = cases[0]
    assert case["status"] == "intake" and case["person_id"] == person["id"]

    read = http.get(stack.url(f"/v1/cases/{case['id']}"), headers=headers)
    assert read.status_code == 200 and read.json()["id"] == case["id"]
    assert read.headers["ETag"] == '"1"'
    assert http.get(stack.url(f"/v1/persons/{person['id']}"), headers=headers).json()["given_name"] == "Olena"

    # person_registered was published and marked sent; case_opened waits in casework's outbox until a
    # subscriber's queue exists (none in this test)
    poll(lambda: stack.count("intake", "outbox", "sent_at IS NULL") == 0)
    assert stack.count("intake", "outbox") == 1 and stack.count("casework", "outbox") == 1
    # the relay tried it: it declared casework's exchange itself and the broker returned the message
    poll(lambda: stack.count("casework", "outbox", "attempts >= 1 AND next_attempt_at IS NOT NULL"))
    with Connection(stack.config["AMQP_URI"]) as conn:
        get_event_exchange("casework", {})(conn.channel()).declare(passive=True)


def test_duplicate_event_changes_nothing(stack, http, auth):
    headers = auth("case_manager")
    person = register(http, stack, headers).json()
    case_of(http, stack, headers, person["id"])

    # deliver the very same event again, by hand
    engine_rows = _outbox_bodies(stack, "intake")
    assert len(engine_rows) == 1
    with Connection(stack.config["AMQP_URI"]) as conn:
        conn.Producer(serializer="json").publish(
            engine_rows[0], exchange=get_event_exchange("intake", {}), routing_key="person_registered")
    poll(lambda: stack.count("casework", "processed_events") == 1)
    eventlet.sleep(0.5)  # give a second (wrong) case time to appear
    assert stack.count("casework", "cases", f"person_id = '{person['id']}'") == 1
    assert stack.count("casework", "outbox") == 1  # and no second case_opened


def test_redelivered_event_with_new_id_still_opens_one_case(stack, http, auth):
    """Idempotent at the domain too: a replay under another event id (e.g. republished) adds no case."""
    headers = auth("case_manager")
    person = register(http, stack, headers).json()
    case_of(http, stack, headers, person["id"])
    body = _outbox_bodies(stack, "intake")[0]
    replay = build_envelope("intake", "person_registered", body["municipality"],
                            PersonRegisteredV1().load(body["payload"]))
    with Connection(stack.config["AMQP_URI"]) as conn:
        conn.Producer(serializer="json").publish(
            replay, exchange=get_event_exchange("intake", {}), routing_key="person_registered")
    poll(lambda: stack.count("casework", "processed_events") == 2)
    assert stack.count("casework", "cases") == 1


def test_other_municipality_answers_404(stack, http, auth):
    own = auth("case_manager", [LUEDENSCHEID])
    other = auth("case_manager", [MEINERZHAGEN])
    person = register(http, stack, own).json()
    case = case_of(http, stack, own, person["id"])[0]
    assert http.get(stack.url(f"/v1/persons/{person['id']}"), headers=other).status_code == 404
    assert http.get(stack.url(f"/v1/cases/{case['id']}"), headers=other).status_code == 404
    listed = http.get(stack.url("/v1/cases"), params={"person_id": person["id"]}, headers=other)
    assert listed.status_code == 200 and listed.json()["items"] == []


def test_authentication_and_roles(stack, http, auth, make_token):
    assert http.get(stack.url("/v1/cases")).status_code == 401
    bad = http.get(stack.url("/v1/cases"), headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and bad.headers["Content-Type"] == "application/problem+json"
    expired = make_token("case_manager", ttl=-3600)
    assert http.get(stack.url("/v1/cases"), headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    forbidden = http.get(stack.url("/v1/cases"), headers=auth("analyst"))
    assert forbidden.status_code == 403 and forbidden.json()["status"] == 403
    denied = http.post(stack.url("/v1/persons"), json=person_body(municipality=LUEDENSCHEID),
                       headers=auth("intake_officer", [KIERSPE]))
    assert denied.status_code == 403
    assert stack.count("intake", "persons") == 0


def test_service_bypassing_the_gateway_needs_a_token(stack):
    """The services check the caller themselves: an RPC call without a valid token is refused."""
    from nameko.standalone.rpc import ServiceRpcProxy
    from services.shared.errors import Unauthenticated

    with ServiceRpcProxy("intake", stack.config) as intake:
        with pytest.raises(Unauthenticated):
            intake.register_person(person_body())
    with ServiceRpcProxy("intake", stack.config, context_data={"auth_token": "forged"}) as intake:
        with pytest.raises(Unauthenticated):
            intake.register_person(person_body())
    assert stack.count("intake", "persons") == 0


def test_missing_service_gives_503(start_stack, sqlite_urls, http, auth):
    stack = start_stack(sqlite_urls, services=("gateway",))
    response = http.get(stack.url("/v1/cases"), headers=auth("case_manager"))
    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    assert http.get(stack.url("/ready")).status_code == 503
    assert http.get(stack.url("/health")).status_code == 200


class SlowCasework:
    name = "casework"

    @rpc
    def list_cases(self, query):
        eventlet.sleep(30)


def test_slow_service_gives_503_within_the_timeout(start_stack, sqlite_urls, http, auth, container_factory):
    stack = start_stack(sqlite_urls, services=("gateway",), KIM_RPC_TIMEOUT="1")
    container_factory(SlowCasework, stack.config).start()
    started = eventlet.hubs.get_hub().clock()
    response = http.get(stack.url("/v1/cases"), headers=auth("case_manager"))
    elapsed = eventlet.hubs.get_hub().clock() - started
    assert response.status_code == 503
    assert elapsed < 3


def _outbox_bodies(stack, service):
    from sqlalchemy import create_engine, text
    engine = create_engine(stack.urls[service])
    with engine.connect() as conn:
        rows = [r[0] for r in conn.execute(text("SELECT body FROM outbox ORDER BY id"))]
    engine.dispose()
    return [json.loads(r) if isinstance(r, str) else r for r in rows]


def test_poison_event_is_parked_not_lost_and_opens_nothing(core_stack):
    stack = core_stack
    from services.shared.messaging import DEAD_LETTER_QUEUE

    valid = build_envelope("intake", "person_registered", LUEDENSCHEID, PersonRegisteredV1().load({
        "person_id": "0b7a3c1e-5d4f-4e2a-9c8b-1a2b3c4d5e6f", "municipality": LUEDENSCHEID,
        "arrival_date": "2026-10-02", "residence_status": "other", "languages": ["ar"], "birth_year": 1990}))
    poison = {**valid, "payload": {**valid["payload"], "given_name": "Olena"}}  # personal data: refused
    with Connection(stack.config["AMQP_URI"]) as conn:
        conn.Producer(serializer="json").publish(
            poison, exchange=get_event_exchange("intake", {}), routing_key="person_registered")
        parked = conn.SimpleQueue(DEAD_LETTER_QUEUE).get(timeout=10)
        assert parked.payload == poison  # the body as it came; what went wrong is in the headers
        assert "given_name" in parked.headers["kim.error"] and parked.headers["kim.attempts"] == 1
        assert parked.headers["kim.consumer"] == "casework.open_case"
        assert parked.properties["message_id"] == poison["event_id"]
        parked.ack()
    assert stack.count("casework", "cases") == 0 and stack.count("casework", "processed_events") == 0


def test_failing_handler_is_retried_until_it_succeeds(start_stack, sqlite_urls, http, auth):
    """Nothing is lost when casework's database fails for a while: the event is requeued, not dropped."""
    from sqlalchemy import create_engine, text

    stack = start_stack(sqlite_urls)
    engine = create_engine(stack.urls["casework"])
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE cases RENAME TO cases_away"))
    person = register(http, stack, auth("case_manager")).json()
    poll(lambda: stack.count("intake", "outbox", "sent_at IS NOT NULL") == 1)
    eventlet.sleep(1.5)  # the handler has failed at least once by now
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE cases_away RENAME TO cases"))
    engine.dispose()
    cases = case_of(http, stack, auth("case_manager"), person["id"])
    assert len(cases) == 1 and stack.count("casework", "processed_events") == 1
