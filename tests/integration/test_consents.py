"""Consents over the real broker and both databases: grant, withdraw (announced on `intake.events`, casework
stops the case work), refusals naming the field, and the audit entries."""
import json

import pytest
from kombu import Connection, Queue
from nameko.events import get_event_exchange

from services.shared.events import load_envelope
from tests.conftest import LUEDENSCHEID, MEINERZHAGEN, person_body, poll

pytestmark = pytest.mark.integration

GRANT = {"purpose": "referral_sharing", "granted_at": "2026-10-06T10:00:00Z", "basis": "oral_with_interpreter"}


@pytest.fixture
def world(stack, http, auth):
    officer = auth("intake_officer", sub="io-1")
    person = http.post(stack.url("/v1/persons"), json=person_body(), headers=officer)
    assert person.status_code == 201, person.text
    return stack, person.json(), officer


def test_grant_and_withdraw_are_recorded_announced_and_audited(world, http, auth):
    stack, person, officer = world
    lead = auth("team_lead", sub="lead-1")
    base = stack.url(f"/v1/persons/{person['id']}/consents")

    granted = http.post(base, json=GRANT, headers={**lead, "Idempotency-Key": "grant-1"})
    assert granted.status_code == 201, granted.text
    assert granted.json() == {"person_id": person["id"], "municipality": LUEDENSCHEID,
                              "purpose": "referral_sharing", "granted_at": "2026-10-06T10:00:00+00:00",
                              "basis": "oral_with_interpreter", "recorded_by": "lead-1",
                              "withdrawn_at": None, "withdrawn_by": None}
    again = http.post(base, json=GRANT, headers={**lead, "Idempotency-Key": "grant-1"})
    assert again.status_code == 201 and again.json() == granted.json()
    (event,) = stack.events("consent_granted")
    assert load_envelope(event)["payload"]["purpose"] == "referral_sharing"
    assert event["payload"] == {"person_id": person["id"], "municipality": LUEDENSCHEID,
                                "purpose": "referral_sharing", "granted_at": "2026-10-06T10:00:00+00:00"}

    # a listener of our own on intake.events, bound before the withdrawal
    with Connection(stack.config["AMQP_URI"]) as conn:
        queue = Queue("test.consent_withdrawn", exchange=get_event_exchange("intake", {}),
                      routing_key="consent_withdrawn", auto_delete=False)
        queue(conn.channel()).declare()
        withdrawn = http.post(f"{base}/referral_sharing/withdrawal", headers=officer)
        assert withdrawn.status_code == 200, withdrawn.text
        record = withdrawn.json()
        assert record["withdrawn_by"] == "io-1" and record["withdrawn_at"] and record["purpose"] == "referral_sharing"
        message = conn.SimpleQueue(queue).get(timeout=10)
        message.ack()
    published = load_envelope(message.payload)
    assert published["event_type"] == "consent_withdrawn" and published["producer"] == "intake"
    assert message.payload["payload"] == {"person_id": person["id"], "municipality": LUEDENSCHEID,
                                     "purpose": "referral_sharing", "withdrawn_at": record["withdrawn_at"]}
    assert "Olena" not in json.dumps(message.payload) and "Testperson" not in json.dumps(message.payload)

    read = http.get(stack.url(f"/v1/persons/{person['id']}"), headers=lead).json()
    assert {(c["purpose"], c["withdrawn_at"] is None) for c in read["consents"]} == {
        ("case_management", True), ("referral_sharing", False)}

    # withdrawn already: refused, nothing announced
    twice = http.post(f"{base}/referral_sharing/withdrawal", headers=officer)
    assert twice.status_code == 422 and twice.headers["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in twice.json()["errors"]] == ["purpose"]
    assert len(stack.events("consent_withdrawn")) == 1

    audit = stack.rows("gateway", "SELECT * FROM audit_entries WHERE action LIKE 'consent.%' ORDER BY id")
    assert [(e["action"], e["actor"], e["status"]) for e in audit] == [
        ("consent.grant", "lead-1", 201), ("consent.grant", "lead-1", 201), ("consent.withdraw", "io-1", 200),
        ("consent.withdraw", "io-1", 422)]
    assert all(e["person_id"] == person["id"] and e["municipality"] == LUEDENSCHEID
               and e["purpose"] == "case_management" for e in audit)


def test_withdrawing_case_management_stops_the_case_work(world, http, auth):
    stack, person, officer = world
    lead = auth("team_lead")
    case = poll(lambda: http.get(stack.url("/v1/cases"), params={"person_id": person["id"]},
                                 headers=lead).json()["items"])[0]
    response = http.post(stack.url(f"/v1/persons/{person['id']}/consents/case_management/withdrawal"),
                         headers=officer)
    assert response.status_code == 200, response.text
    poll(lambda: http.get(stack.url(f"/v1/cases/{case['id']}"), headers=lead).json()["status"] == "closed")
    assert stack.count("casework", "processed_events") == 2  # person_registered, consent_withdrawn


@pytest.mark.parametrize("change, field", [({"basis": "nodded"}, "basis"), ({"purpose": "marketing"}, "purpose"),
                                           ({"basis": None}, "basis")])
def test_bad_purpose_or_basis_is_refused_naming_the_field(world, http, change, field):
    stack, person, officer = world
    response = http.post(stack.url(f"/v1/persons/{person['id']}/consents"), json={**GRANT, **change},
                         headers=officer)
    assert response.status_code == 422 and response.headers["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert stack.count("intake", "consents") == 1 and stack.events("consent_granted") == []


def test_bad_purpose_in_the_path_is_refused_at_the_edge(world, http):
    stack, person, officer = world
    response = http.post(stack.url(f"/v1/persons/{person['id']}/consents/marketing/withdrawal"), headers=officer)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["purpose"]
    upper = http.post(stack.url(f"/v1/persons/{person['id'].upper()}/consents"), json=GRANT, headers=officer)
    assert upper.status_code == 422 and [e["field"] for e in upper.json()["errors"]] == ["person_id"]


def test_registration_without_case_management_consent_is_refused(stack, http, auth):
    officer = auth("intake_officer")
    for consents in ([], [GRANT]):
        response = http.post(stack.url("/v1/persons"), json=person_body(consents=consents), headers=officer)
        assert response.status_code == 422 and response.headers["Content-Type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == ["consents"]
    no_basis = person_body(consents=[{"purpose": "case_management", "granted_at": "2026-10-05T09:30:00Z"}])
    response = http.post(stack.url("/v1/persons"), json=no_basis, headers=officer)
    assert response.status_code == 422 and [e["field"] for e in response.json()["errors"]] == ["consents.0.basis"]
    assert stack.count("intake", "persons") == 0 and stack.count("intake", "outbox") == 0


def test_who_may_record_consents(world, http, auth):
    stack, person, officer = world
    base = stack.url(f"/v1/persons/{person['id']}/consents")
    assert http.post(base, json=GRANT, headers=auth("case_manager")).status_code == 403
    assert http.post(base, json=GRANT, headers=auth("district_admin")).status_code == 403
    assert http.post(base, json=GRANT, headers=auth("intake_officer", [MEINERZHAGEN])).status_code == 404
    assert http.post(f"{base}/case_management/withdrawal", headers=auth("team_lead", [MEINERZHAGEN])).status_code \
        == 404
    assert stack.count("intake", "consents", "withdrawn_at IS NULL") == 1
