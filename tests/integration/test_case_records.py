"""Assessment, plan, contacts, barriers and the worklist through the gateway, over the real broker and both
databases; casework's part of the GDPR export and erasure."""
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from kombu import Connection
from nameko.events import get_event_exchange

from services.shared.events import build_envelope
from tests.conftest import LUEDENSCHEID, person_body, poll

pytestmark = pytest.mark.integration

CASE_TABLES = ("assessments", "goals", "actions", "contacts", "barriers", "case_assignments", "case_transitions")


def open_case(stack, http, lead):
    person = http.post(stack.url("/v1/persons"), json=person_body(confirmed_new=True), headers=lead)
    assert person.status_code == 201, person.text
    person_id = person.json()["id"]
    case = poll(lambda: http.get(stack.url("/v1/cases"), params={"person_id": person_id},
                                 headers=lead).json()["items"])[0]
    moved = http.post(stack.url(f"/v1/cases/{case['id']}/transitions"),
                      json={"to": "assessment", "reason": "fits the programme"}, headers=lead)
    assert moved.status_code in (200, 201), moved.text
    return person_id, case["id"]


def test_assess_plan_contact_and_barrier_through_the_gateway(stack, http, auth):
    lead = auth("team_lead", sub="lead")
    person_id, case_id = open_case(stack, http, lead)
    base = stack.url(f"/v1/cases/{case_id}")

    # assessment, then a re-assessment: progress per area
    areas = [{"area": "language", "need": "high", "priority": 1, "notes": "A1 only"},
             {"area": "housing", "need": "urgent", "priority": 2, "strengths": "knows the town"}]
    first = http.post(f"{base}/assessments", json={"areas": areas}, headers=lead)
    assert first.status_code == 201, first.text
    again = http.post(f"{base}/assessments", json={"areas": [{"area": "language", "need": "medium"}]},
                      headers=lead)
    assert again.status_code == 201
    assert len(http.get(f"{base}/assessments", headers=lead).json()["items"]) == 2
    progress = {a["area"]: a["levels"] for a in http.get(f"{base}/assessments/progress", headers=lead)
                .json()["areas"]}
    assert [level["need"] for level in progress["language"]] == ["high", "medium"]
    bad = http.post(f"{base}/assessments", json={"areas": [{"area": "language", "need": "dire"}]}, headers=lead)
    assert bad.status_code == 422 and "areas.0.need" in [e["field"] for e in bad.json()["errors"]]

    # the plan: a goal, a task past its due date, done with If-Match
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    goal = http.post(f"{base}/goals", json={"area": "language", "description": "B1 by summer",
                                            "agreed_with_person": True}, headers=lead)
    assert goal.status_code == 201, goal.text
    action = http.post(f"{base}/goals/{goal.json()['id']}/actions",
                       json={"assignee": "person", "description": "register for the course", "due_on": yesterday},
                       headers=lead)
    assert action.status_code == 201, action.text
    plan = http.get(f"{base}/plan", headers=lead).json()
    assert plan["overdue"] == 1 and plan["goals"][0]["actions"][0]["overdue"] is True
    assert [i["id"] for i in http.get(stack.url("/v1/overdue"), headers=lead).json()["items"]] == [
        action.json()["id"]]
    stale = http.patch(f"{base}/actions/{action.json()['id']}", json={"status": "done"},
                       headers={**lead, "If-Match": '"9"'})
    assert stale.status_code == 412
    done = http.patch(f"{base}/actions/{action.json()['id']}", json={"status": "done"},
                      headers={**lead, "If-Match": action.headers["ETag"]})
    assert done.status_code == 200 and done.json()["status"] == "done" and done.headers["ETag"] == '"2"'

    # a contact held, an appointment planned
    now = datetime.now(timezone.utc)
    contact = http.post(f"{base}/contacts", json={
        "occurred_at": (now - timedelta(hours=1)).isoformat(), "duration_minutes": 30, "channel": "in_person",
        "place": "Rathaus", "interpreter_language": "ar", "participants": ["person"], "summary": "intro talk",
        "follow_up_on": (date.today() + timedelta(days=7)).isoformat()}, headers=lead)
    assert contact.status_code == 201, contact.text
    planned = http.post(f"{base}/contacts", json={"status": "planned", "channel": "video",
                                                  "occurred_at": (now + timedelta(days=1)).isoformat()},
                        headers=lead)
    assert planned.status_code == 201
    future = http.post(f"{base}/contacts", json={"channel": "phone",
                                                 "occurred_at": (now + timedelta(days=3)).isoformat()}, headers=lead)
    assert future.status_code == 422 and "occurred_at" in [e["field"] for e in future.json()["errors"]]
    assert len(http.get(f"{base}/contacts", headers=lead).json()["items"]) == 2
    appointments = http.get(stack.url("/v1/appointments"), params={"case_manager": "lead"}, headers=lead).json()
    assert [a["id"] for a in appointments["items"]] == [planned.json()["id"]]

    # a barrier of the catalogue, recorded and resolved
    codes = http.get(stack.url("/v1/barrier-codes"), headers=lead).json()["codes"]
    assert {"code": "no_childcare_place", "area": "family", "label_de": "Kein Kita- oder Betreuungsplatz",
            "label_en": "No childcare place"} in codes
    unknown = http.post(f"{base}/barriers", json={"code": "no_unicorn"}, headers=lead)
    assert unknown.status_code == 422 and "code" in [e["field"] for e in unknown.json()["errors"]]
    noted = (date.today() - timedelta(days=3)).isoformat()
    barrier = http.post(f"{base}/barriers", json={"code": "no_childcare_place", "area": "family",
                                                  "noted_at": noted}, headers=lead)
    assert barrier.status_code == 201, barrier.text
    early = http.post(f"{base}/barriers/{barrier.json()['id']}/resolution",
                      json={"how": "place found", "resolved_at": (date.today() - timedelta(days=5)).isoformat()},
                      headers=lead)
    assert early.status_code == 422 and "resolved_at" in [e["field"] for e in early.json()["errors"]]
    resolved = http.post(f"{base}/barriers/{barrier.json()['id']}/resolution",
                         json={"how": "Kita place found", "resolved_at": date.today().isoformat()}, headers=lead)
    assert resolved.status_code == 200 and resolved.json()["resolved_at"] == date.today().isoformat()
    twice = http.post(f"{base}/barriers/{barrier.json()['id']}/resolution", json={"how": "again"}, headers=lead)
    assert twice.status_code == 409
    assert http.get(f"{base}/barriers", headers=lead).json()["items"][0]["how"] == "Kita place found"

    # events in casework's outbox: ids, codes, levels and dates only
    (recorded,) = stack.events("barrier_recorded", "casework")
    assert recorded["payload"] == {"case_id": case_id, "person_id": person_id, "municipality":
                                   recorded["payload"]["municipality"], "barrier_id": barrier.json()["id"],
                                   "code": "no_childcare_place", "area": "family", "recorded_on": noted}
    assert stack.events("barrier_resolved", "casework")[0]["payload"]["resolved_on"] == date.today().isoformat()
    assessed = stack.events("assessment_recorded", "casework")
    assert [n["level"] for n in assessed[0]["payload"]["needs"]] == ["high", "urgent"]
    (held,) = stack.events("contact_recorded", "casework")
    assert held["payload"]["contact_id"] == contact.json()["id"] and held["payload"]["channel"] == "in_person"
    everything = str(stack.rows("casework", "SELECT body FROM outbox"))
    for secret in ("A1 only", "knows the town", "Rathaus", "intro talk", "Kita place found", "B1 by summer"):
        assert secret not in everything

    # the worklist of the lead: the case with its follow-up next
    worklist = http.get(stack.url("/v1/worklist"), headers=lead)
    assert worklist.status_code == 200, worklist.text
    (mine,) = [c for c in worklist.json()["cases"] if c["case_id"] == case_id]
    assert mine["next_due"]["kind"] in ("follow_up", "appointment") and mine["overdue"] == 0

    # the export carries every record
    (exported,) = http.get(stack.url(f"/v1/persons/{person_id}/export"), headers=lead).json()["cases"]
    for table in ("assessments", "goals", "actions", "contacts", "barriers", "case_transitions"):
        assert exported[table], table
    assert exported["contacts"][0]["summary"] in ("intro talk", None)


def test_erasure_removes_every_casework_row(stack, http, auth):
    lead = auth("team_lead", sub="lead")
    person_id, case_id = open_case(stack, http, lead)
    base = stack.url(f"/v1/cases/{case_id}")
    assert http.post(f"{base}/assessments", json={"areas": [{"area": "work", "need": "low"}]},
                     headers=lead).status_code == 201
    goal = http.post(f"{base}/goals", json={"area": "work", "description": "job"}, headers=lead).json()
    assert http.post(f"{base}/goals/{goal['id']}/actions", json={"assignee": "third_party", "description": "x"},
                     headers=lead).status_code == 201
    assert http.post(f"{base}/contacts", json={"channel": "phone", "occurred_at": datetime.now(timezone.utc)
                                               .isoformat()}, headers=lead).status_code == 201
    assert http.post(f"{base}/barriers", json={"code": "debts"}, headers=lead).status_code == 201
    for table in CASE_TABLES[:5]:
        assert stack.count("casework", table, f"case_id = '{case_id}'") == 1, table
    assert http.delete(stack.url(f"/v1/persons/{person_id}"), headers=lead).status_code == 202
    assert poll(lambda: stack.count("casework", "cases", f"id = '{case_id}'") == 0)
    assert stack.count("casework", "assessment_areas") == 0  # the only assessment was the erased case's
    for table in CASE_TABLES:
        rows = stack.rows("casework", f"SELECT * FROM {table}")
        assert not [r for r in rows if case_id in str(r) or person_id in str(r)], table


def publish_referral(stack, case_id, person_id, referral_id, goal_id, status):
    body = build_envelope("referrals", f"referral_{status}", LUEDENSCHEID, {
        "referral_id": referral_id, "case_id": case_id, "person_id": person_id, "municipality": LUEDENSCHEID,
        "offer_id": "00000000-0000-4000-8000-000000000002", "goal_id": goal_id, "provider_id": "caritas-mk",
        "area": "language", "status": status, "previous_status": None, "occurred_at": datetime.now(timezone.utc)})
    with Connection(stack.config["AMQP_URI"]) as conn:
        conn.Producer(serializer="json").publish(
            body, exchange=get_event_exchange("referrals", {}), routing_key=body["event_type"],
            message_id=body["event_id"], headers={"kim.event_type": body["event_type"]})
    return body


def test_referral_events_over_the_broker_fill_the_plan(stack, http, auth):
    lead = auth("team_lead", sub="lead")
    person_id, case_id = open_case(stack, http, lead)
    goal = http.post(stack.url(f"/v1/cases/{case_id}/goals"), json={"area": "language", "description": "course"},
                     headers=lead).json()
    referral_id = str(uuid.uuid4())

    def mirrored():
        actions = http.get(stack.url(f"/v1/cases/{case_id}/plan"), headers=lead).json()["goals"][0]["actions"]
        return actions[0]["status"] if actions else None

    publish_referral(stack, case_id, person_id, referral_id, goal["id"], "accepted")
    assert poll(lambda: mirrored() == "accepted")
    late = publish_referral(stack, case_id, person_id, referral_id, goal["id"], "sent")  # out of order
    publish_referral(stack, case_id, person_id, referral_id, goal["id"], "completed")
    assert poll(lambda: mirrored() == "completed")
    assert poll(lambda: stack.count("casework", "processed_events",
                                    f"event_id = '{late['event_id']}'") == 1)
    assert mirrored() == "completed" and stack.count("casework", "actions", f"referral_id = '{referral_id}'") == 1


def test_a_referral_made_in_referrals_appears_in_the_case_plan(stack, http, auth):
    """End to end: the referrals service (which reads casework.case_profile) makes and sends a referral for a
    goal; its events put the referral under the goal in casework's plan."""
    lead = auth("team_lead", sub="lead")
    person_id, case_id = open_case(stack, http, lead)
    granted = http.post(stack.url(f"/v1/persons/{person_id}/consents"), headers=lead, json={
        "purpose": "referral_sharing", "granted_at": "2026-10-06T10:00:00Z", "basis": "signed_form"})
    assert granted.status_code == 201, granted.text
    provider = http.post(stack.url("/v1/providers"), json={"id": "provider-1", "name": "Test provider"},
                         headers=lead)
    assert provider.status_code == 201, provider.text
    offer = http.post(stack.url("/v1/offers"), headers=lead, json={
        "provider_id": "provider-1", "name": "Language course", "areas": ["language"],
        "municipalities": [LUEDENSCHEID], "languages": ["de"]})
    assert offer.status_code == 201, offer.text
    goal = http.post(stack.url(f"/v1/cases/{case_id}/goals"), json={"area": "language", "description": "B1"},
                     headers=lead).json()
    referral = http.post(stack.url("/v1/referrals"), headers=lead, json={
        "case_id": case_id, "offer_id": offer.json()["id"], "goal_id": goal["id"]})
    assert referral.status_code == 201, referral.text
    sent = http.post(stack.url(f"/v1/referrals/{referral.json()['id']}/send"), headers=lead)
    assert sent.status_code == 200, sent.text

    def mirrored():
        actions = http.get(stack.url(f"/v1/cases/{case_id}/plan"), headers=lead).json()["goals"][0]["actions"]
        return actions and actions[0]["status"]

    assert poll(lambda: mirrored() == "sent")
    (action,) = http.get(stack.url(f"/v1/cases/{case_id}/plan"), headers=lead).json()["goals"][0]["actions"]
    assert action["kind"] == "referral" and action["referral_id"] == referral.json()["id"]
    assert action["offer_id"] == offer.json()["id"]
