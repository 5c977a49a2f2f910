"""Merge, link and year-only birth dates over the real broker and both databases: the gateway's routes (bad
input named, If-Match, the town rule), `person_merged` in intake's outbox, casework following it (the merged
person's second case closed with outcome `other`, announced), and the audit entries."""
import json

import pytest

from services.shared.events import load_envelope
from tests.conftest import LUEDENSCHEID, MEINERZHAGEN, person_body, poll

pytestmark = pytest.mark.integration


def year_only(**overrides):
    body = person_body(**overrides)
    del body["birth_date"]
    return body


def case_of(stack, http, headers, person_id):
    return poll(lambda: http.get(stack.url("/v1/cases"), params={"person_id": person_id},
                                 headers=headers).json()["items"], timeout=20)[0]


def test_link_then_merge_across_intake_and_casework(stack, http, auth):
    officer, lead = auth("intake_officer", sub="io-1"), auth("team_lead", sub="tl-1")
    first = http.post(stack.url("/v1/persons"), json=person_body(given_name="Mohammed", family_name="Al-Hassan"),
                      headers=officer)
    assert first.status_code == 201, first.text
    survivor = first.json()

    # the same person again: 409 with the candidate; sent again with existing_person_id: 200, nobody new
    again = person_body(given_name="Muhammad", family_name="Al Hassan")
    conflict = http.post(stack.url("/v1/persons"), json=again, headers=officer)
    assert conflict.status_code == 409 and [c["id"] for c in conflict.json()["candidates"]] == [survivor["id"]]
    linked = http.post(stack.url("/v1/persons"), json={**again, "existing_person_id": survivor["id"]},
                       headers=officer)
    assert linked.status_code == 200, linked.text
    assert linked.json()["id"] == survivor["id"] and linked.headers["Location"] == f"/v1/persons/{survivor['id']}"
    bad_link = http.post(stack.url("/v1/persons"), json={**again, "existing_person_id": "nobody"}, headers=officer)
    assert bad_link.status_code == 422 and [e["field"] for e in bad_link.json()["errors"]] == ["existing_person_id"]
    assert stack.count("intake", "persons") == 1

    # a second record after all (confirmed new), with a phone the survivor lacks; both get a case
    second = http.post(stack.url("/v1/persons"), json={**again, "confirmed_new": True, "phone": "+49 2351 99887"},
                       headers=officer)
    assert second.status_code == 201, second.text
    duplicate = second.json()
    survivor_case, duplicate_case = (case_of(stack, http, lead, p["id"]) for p in (survivor, duplicate))

    url = stack.url(f"/v1/persons/{duplicate['id']}/merge")
    assert http.post(url, json={"into": survivor["id"]}, headers=officer).status_code == 428
    for body, field in (({}, "into"), ({"into": "x"}, "into"), ({"into": duplicate["id"]}, "into"),
                        ({"into": survivor["id"], "extra": 1}, "extra")):
        bad = http.post(url, json=body, headers={**officer, "If-Match": '"1"'})
        assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == [field], (body, bad.text)
    elsewhere = auth("intake_officer", [MEINERZHAGEN])
    assert http.post(url, json={"into": survivor["id"]}, headers={**elsewhere, "If-Match": '"1"'}).status_code == 404
    assert http.post(url, json={"into": survivor["id"]},
                     headers={**auth("case_manager"), "If-Match": '"1"'}).status_code == 403
    assert http.post(url, json={"into": survivor["id"]}, headers={**officer, "If-Match": '"7"'}).status_code == 412

    merged = http.post(url, json={"into": survivor["id"]}, headers={**officer, "If-Match": '"1"'})
    assert merged.status_code == 200, merged.text
    assert merged.json()["filled"] == ["phone"] and merged.json()["survivor"]["phone"] == "+49 2351 99887"
    again_merge = http.post(url, json={"into": survivor["id"]}, headers={**officer, "If-Match": '"2"'})
    assert again_merge.status_code == 409 and survivor["id"] in again_merge.json()["detail"]

    read = http.get(stack.url(f"/v1/persons/{duplicate['id']}"), headers=officer)
    assert read.status_code == 200 and read.json()["merged_into"] == survivor["id"]
    patch = http.patch(stack.url(f"/v1/persons/{duplicate['id']}"), json={"given_name": "X"},
                       headers={**officer, "If-Match": read.headers["ETag"]})
    assert patch.status_code == 409 and survivor["id"] in patch.json()["detail"]
    consent = http.post(stack.url(f"/v1/persons/{duplicate['id']}/consents"), headers=officer,
                        json={"purpose": "statistics", "granted_at": "2026-10-06T10:00:00Z", "basis": "oral"})
    assert consent.status_code == 409

    (event,) = stack.events("person_merged")
    assert load_envelope(event)["producer"] == "intake"
    assert event["payload"]["person_id"] == duplicate["id"] and event["payload"]["into_person_id"] == survivor["id"]
    assert "Hassan" not in json.dumps(event) and "99887" not in json.dumps(event)

    # casework consumed it: the merged person's second case is closed (outcome other), the survivor's stays
    poll(lambda: stack.count("casework", "processed_events", "consumer = 'casework.follow_merge'") == 1, timeout=20)
    closed = http.get(stack.url(f"/v1/cases/{duplicate_case['id']}"), headers=lead).json()
    assert closed["status"] == "closed" and closed["person_id"] == duplicate["id"]
    assert http.get(stack.url(f"/v1/cases/{survivor_case['id']}"), headers=lead).json()["status"] != "closed"
    (closing,) = [e for e in stack.events("case_closed", "casework") if e["payload"]["case_id"] == duplicate_case["id"]]
    assert closing["payload"]["outcome"] == "other"

    audit = stack.rows("gateway", "SELECT action, status, person_id FROM audit_entries WHERE action = 'person.merge' "
                                  "ORDER BY id")
    assert [a["status"] for a in audit] == [428, 422, 422, 422, 422, 404, 403, 412, 200, 409]
    assert {a["person_id"] for a in audit if a["status"] == 200} == {duplicate["id"]}


def test_birth_year_only_over_http(stack, http, auth):
    officer = auth("intake_officer")
    created = http.post(stack.url("/v1/persons"), json=year_only(birth_year=1990, residence_status="skilled_worker"),
                        headers=officer)
    assert created.status_code == 201, created.text
    assert created.json()["birth_date"] is None and created.json()["birth_year"] == 1990
    exact = http.post(stack.url("/v1/persons"), json=person_body(given_name="Petro", birth_date="1990-03-04",
                                                                 residence_status="family_reunification"),
                      headers=officer)
    assert exact.status_code == 201, exact.text
    for body, field in ((year_only(), "birth_date"), (person_body(birth_year=1990), "birth_year"),
                        (year_only(birth_year=3000), "birth_year"), (year_only(birth_year=1850), "birth_year"),
                        (year_only(birth_year=1990.5), "birth_year"),
                        (year_only(birth_year=2026, arrival_date="2025-01-01"), "arrival_date")):
        bad = http.post(stack.url("/v1/persons"), json=body, headers=officer)
        assert bad.status_code == 422 and field in [e["field"] for e in bad.json()["errors"]], (body, bad.text)
    found = http.get(stack.url("/v1/persons"), params={"birth_date": "1990-03-04"}, headers=officer)
    assert found.status_code == 200, found.text
    assert [p["id"] for p in found.json()["items"]] == [exact.json()["id"], created.json()["id"]]
    bad_search = http.get(stack.url("/v1/persons"), params={"birth_year": "nineteen"}, headers=officer)
    assert bad_search.status_code == 422 and [e["field"] for e in bad_search.json()["errors"]] == ["birth_year"]

    events = {e["payload"]["person_id"]: e["payload"] for e in stack.events("person_registered")}
    assert events[created.json()["id"]]["birth_year"] == 1990
    assert events[created.json()["id"]]["residence_status"] == "skilled_worker"
    poll(lambda: stack.count("casework", "cases") == 2, timeout=20)
    assert stack.rows("intake", f"SELECT birth_date, birth_year FROM persons WHERE id = '{created.json()['id']}'") \
        == [{"birth_date": None, "birth_year": 1990}]
    assert LUEDENSCHEID == created.json()["municipality"]
