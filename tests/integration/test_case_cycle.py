"""Case managers, automatic assignment, reassignment and the case-management cycle over the real broker and both
databases: a person registered through the gateway is assigned to the right case manager; a team lead
reassigns with history; a case goes through the cycle to closed; a consent withdrawal closes it."""
import pytest

from tests.conftest import LUEDENSCHEID, MEINERZHAGEN, person_body, poll

pytestmark = pytest.mark.integration

WEEK = ["mon", "tue", "wed", "thu", "fri"]


def create(http, stack, headers, body):
    response = http.post(stack.url("/v1/case-managers"), json=body, headers=headers)
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"/v1/case-managers/{response.json()['id']}"
    return response.json()


@pytest.fixture
def district(stack, http, auth):
    """A district case manager full-time in Lüdenscheid, another Mon+Tue there (speaks Ukrainian) and Wed-Fri in
    Meinerzhagen, and a municipal one of Meinerzhagen."""
    admin = auth("district_admin", [LUEDENSCHEID, MEINERZHAGEN], sub="admin-1")
    lead = auth("team_lead", [LUEDENSCHEID, MEINERZHAGEN], sub="lead-1")
    akoch = create(http, stack, admin, {
        "name": "A. Koch", "username": "akoch", "employer": "district", "languages": ["de", "en"],
        "hours_per_week": 39, "team": "north", "coverage": [{"municipality": LUEDENSCHEID, "weekdays": WEEK}]})
    bnowak = create(http, stack, admin, {
        "name": "B. Nowak", "username": "bnowak", "employer": "district", "languages": ["de", "uk", "ru"],
        "hours_per_week": 39, "team": "north",
        "coverage": [{"municipality": LUEDENSCHEID, "weekdays": ["mon", "tue"]},
                     {"municipality": MEINERZHAGEN, "weekdays": ["wed", "thu", "fri"]}]})
    cyilmaz = create(http, stack, lead, {
        "name": "C. Yilmaz", "username": "cyilmaz", "employer": "municipality", "languages": ["de", "ar"],
        "hours_per_week": 19.5, "coverage": [{"municipality": MEINERZHAGEN, "weekdays": WEEK}]})
    return {"akoch": akoch, "bnowak": bnowak, "cyilmaz": cyilmaz, "admin": admin, "lead": lead}


def register(http, stack, headers, **body):
    response = http.post(stack.url("/v1/persons"), json=person_body(confirmed_new=True, **body), headers=headers)
    assert response.status_code == 201, response.text
    person = response.json()
    return poll(lambda: http.get(stack.url("/v1/cases"), params={"person_id": person["id"]},
                                 headers=headers).json()["items"])[0]


def test_a_registered_person_is_assigned_to_the_right_case_manager(stack, http, district):
    lead = district["lead"]
    case = register(http, stack, lead, languages=["uk"])  # Lüdenscheid: bnowak speaks Ukrainian
    assert (case["assigned_to"], case["case_manager_id"], case["team"]) == ("bnowak", district["bnowak"]["id"],
                                                                          "north")
    assert case["languages"] == ["uk"] and case["allowed_transitions"] == ["assessment", "paused", "closed"]
    other = register(http, stack, lead, languages=["ar"], municipality=MEINERZHAGEN)
    assert other["assigned_to"] == "cyilmaz"
    (assigned, _) = [e for e in stack.events("case_assigned", "casework")]
    assert assigned["payload"] == {"case_id": case["id"], "person_id": case["person_id"],
                                   "municipality": LUEDENSCHEID, "assigned_to": "bnowak", "team": "north"}
    saved = stack.events("case_manager_saved", "casework")
    assert len(saved) == 3 and "Nowak" not in repr(saved)
    # the case manager sees it, and a team lead sees the team's caseload
    mine = http.get(stack.url("/v1/cases"), params={"case_manager_id": district["bnowak"]["id"]}, headers=lead)
    assert [c["id"] for c in mine.json()["items"]] == [case["id"]]
    load = http.get(stack.url("/v1/teams/north/caseload"), headers=lead).json()
    assert {r["username"]: r["active_cases"] for r in load["case_managers"]} == {"akoch": 0, "bnowak": 1}


def test_absent_and_queue_then_reassignment_by_a_team_lead_with_history(stack, http, auth, district):
    lead = district["lead"]
    absence = http.post(stack.url(f"/v1/case-managers/{district['bnowak']['id']}/absences"), headers=lead,
                        json={"from": "2020-01-01", "to": "2099-12-31", "deputy_id": district["akoch"]["id"],
                              "kind": "sickness"})
    assert absence.status_code == 201, absence.text
    assert absence.json()["from"] == "2020-01-01" and absence.json()["deputy_id"] == district["akoch"]["id"]
    case = register(http, stack, lead, languages=["uk"])
    assert case["assigned_to"] == "akoch"  # bnowak is absent
    # the team lead moves it, with a reason
    url = stack.url(f"/v1/cases/{case['id']}/assignment")
    assert http.post(url, json={"case_manager_id": district["cyilmaz"]["id"], "reason": "x"},
                     headers=lead).status_code == 422  # cyilmaz does not serve Lüdenscheid
    assert http.post(url, json={"case_manager_id": district["bnowak"]["id"], "reason": "x"},
                     headers=auth("case_manager", sub="akoch")).status_code == 403
    moved = http.post(url, json={"case_manager_id": district["bnowak"]["id"], "reason": "speaks Ukrainian"},
                      headers=lead)
    assert moved.status_code == 200, moved.text
    assert moved.json()["assigned_to"] == "bnowak" and moved.headers["ETag"] == '"3"'
    history = http.get(stack.url(f"/v1/cases/{case['id']}/assignments"), headers=lead).json()["items"]
    assert [(h["assigned_to"], h["automatic"], h["assigned_by"], h["reason"]) for h in history] == [
        ("akoch", True, "system", None), ("bnowak", False, "lead-1", "speaks Ukrainian")]
    (reassigned,) = stack.events("case_reassigned", "casework")
    assert (reassigned["payload"]["assigned_to"], reassigned["payload"]["previous_assigned_to"]) == (
        "bnowak", "akoch")
    assert "Ukrainian" not in repr(reassigned)


def test_through_the_cycle_to_closed(stack, http, auth, district):
    case = register(http, stack, district["lead"], languages=["uk"])
    bnowak = auth("case_manager", [LUEDENSCHEID], sub="bnowak", team="north")
    stranger = auth("case_manager", [LUEDENSCHEID], sub="someone", team="south")
    url = stack.url(f"/v1/cases/{case['id']}/transitions")
    assert http.post(url, json={"to": "assessment"}, headers=stranger).status_code == 404
    refused = http.post(url, json={"to": "monitoring", "reason": "skip"}, headers=bnowak)
    assert refused.status_code == 409 and "allowed: assessment, paused, closed" in refused.json()["detail"]
    for to, reason in (("assessment", "first talk"), ("planning", None), ("paused", "travelling"),
                       ("planning", "back"), ("implementation", None), ("monitoring", None)):
        response = http.post(url, json={"to": to, "reason": reason}, headers=bnowak)
        assert response.status_code == 200, response.text
    closed = http.post(stack.url(f"/v1/cases/{case['id']}/closure"), headers=bnowak,
                       json={"outcome": "handed_over", "evaluation": [], "note": "to the job centre"})
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed" and closed.json()["outcome"] == "handed_over"
    again = http.post(stack.url(f"/v1/cases/{case['id']}/closure"), headers=bnowak, json={"outcome": "other"})
    assert again.status_code == 409
    steps = http.get(url, headers=bnowak).json()["items"]
    assert [s["to"] for s in steps] == ["assessment", "planning", "paused", "planning", "implementation",
                                        "monitoring", "closed"]
    assert steps[2]["reason"] == "travelling" and steps[-1]["changed_by"] == "bnowak"
    changes = stack.events("case_status_changed", "casework")
    assert [(e["payload"]["from_status"], e["payload"]["to_status"]) for e in changes][-1] == ("monitoring",
                                                                                             "closed")
    (done,) = stack.events("case_closed", "casework")
    assert done["payload"]["outcome"] == "handed_over" and done["payload"]["goals_total"] == 0
    assert "job centre" not in repr(changes + [done])
    audit = stack.rows("gateway", "SELECT action, person_id, case_id FROM audit_entries WHERE action = 'case.close'")
    assert audit == [{"action": "case.close", "person_id": case["person_id"], "case_id": case["id"]},
                     {"action": "case.close", "person_id": None, "case_id": case["id"]}]  # the refused one


def test_a_consent_withdrawal_closes_the_case_with_consent_withdrawn(stack, http, auth, district):
    case = register(http, stack, district["lead"], languages=["uk"])
    officer = auth("intake_officer", sub="io-1")
    response = http.post(stack.url(f"/v1/persons/{case['person_id']}/consents/case_management/withdrawal"),
                         headers=officer)
    assert response.status_code == 200, response.text
    poll(lambda: stack.events("case_closed", "casework"))
    (closed,) = stack.events("case_closed", "casework")
    assert closed["payload"]["outcome"] == "consent_withdrawn"
    (changed,) = stack.events("case_status_changed", "casework")
    assert (changed["payload"]["from_status"], changed["payload"]["to_status"]) == ("intake", "closed")
    steps = http.get(stack.url(f"/v1/cases/{case['id']}/transitions"), headers=district["lead"]).json()["items"]
    assert [(s["to"], s["changed_by"]) for s in steps] == [("closed", "system")]


def test_case_manager_profile_read_and_patch_with_if_match(stack, http, auth, district):
    admin, lead = district["admin"], district["lead"]
    url = stack.url(f"/v1/case-managers/{district['akoch']['id']}")
    read = http.get(url, headers=auth("case_manager", [LUEDENSCHEID]))
    assert read.status_code == 200 and read.json()["capacity"] == 60 and read.headers["ETag"] == '"1"'
    assert http.patch(url, json={"capacity": 40}, headers=lead).status_code == 428
    assert http.patch(url, json={"capacity": 40}, headers={**lead, "If-Match": '"1"'}).status_code == 403
    patched = http.patch(url, json={"capacity": 40}, headers={**admin, "If-Match": '"1"'})
    assert patched.status_code == 200 and patched.json()["capacity"] == 40 and patched.headers["ETag"] == '"2"'
    assert http.patch(url, json={"capacity": 50}, headers={**admin, "If-Match": '"1"'}).status_code == 412
    listed = http.get(stack.url("/v1/case-managers"), params={"municipality": MEINERZHAGEN}, headers=lead).json()
    assert {c["username"] for c in listed["items"]} == {"bnowak", "cyilmaz"}
    other_town = auth("team_lead", ["05962028"])
    assert http.get(url, headers=other_town).status_code == 404


def test_nobody_serves_the_town_the_case_waits_in_its_queue_until_a_case_manager_comes(stack, http, auth):
    kierspe = "05962028"
    lead = auth("team_lead", [kierspe], sub="lead-k")
    case = register(http, stack, lead, municipality=kierspe, languages=["fa"])
    assert case["assigned_to"] is None and case["case_manager_id"] is None
    queue = http.get(stack.url("/v1/cases"), params={"unassigned": "true", "municipality": kierspe}, headers=lead)
    assert [c["id"] for c in queue.json()["items"]] == [case["id"]]
    assert stack.events("case_assigned", "casework") == []
    create(http, stack, lead, {"name": "D. K.", "username": "dk", "employer": "municipality",
                               "hours_per_week": 30, "coverage": [{"municipality": kierspe, "weekdays": WEEK}]})
    assert http.get(stack.url(f"/v1/cases/{case['id']}"), headers=lead).json()["assigned_to"] == "dk"
    (assigned,) = stack.events("case_assigned", "casework")
    assert assigned["payload"]["case_id"] == case["id"]
    assert http.get(stack.url("/v1/cases"), params={"unassigned": "true"}, headers=lead).json()["items"] == []
