"""The full person record and households over the real broker and both databases."""
import pytest

from tests.conftest import MEINERZHAGEN, person_body, poll

pytestmark = pytest.mark.integration

FULL = dict(sex="diverse", nationalities=["SY"], mother_tongues=["ar", "ku"], german_level="B1",
            municipality_arrival_date="2026-10-04", address={"street": "Am Hohen Hagen 3", "postal_code": "58509",
                                                             "city": "Lüdenscheid"},
            phone="+49 151 2345678", email="test.person@example.org", preferred_channel="phone",
            interpreter_needed=False, residence_valid_until="2029-10-01")
BAD = [("sex", "f", "sex"), ("nationalities", ["DEU"], "nationalities.0"), ("mother_tongues", ["ar-SY"],
       "mother_tongues.0"), ("german_level", "A3", "german_level"),
       ("municipality_arrival_date", "2026-09-30", "municipality_arrival_date"),
       ("address", {"street": "Am Hohen Hagen 3", "postal_code": "ABCDE", "city": "L"}, "address.postal_code"),
       ("address", {"street": "x" * 201, "postal_code": "58509", "city": "L"}, "address.street"),
       ("address", {"postal_code": "58509", "city": "L"}, "address.street"),
       ("phone", "+49 (2351) 1", "phone"), ("email", "a@", "email"), ("preferred_channel", "pigeon",
       "preferred_channel"), ("interpreter_needed", 1, "interpreter_needed"),
       ("residence_valid_until", "2029-13-01", "residence_valid_until")]


def test_the_full_record_round_trips(stack, http, auth):
    officer = auth("intake_officer")
    created = http.post(stack.url("/v1/persons"), json=person_body(**FULL), headers=officer)
    assert created.status_code == 201, created.text
    read = http.get(stack.url(f"/v1/persons/{created.json()['id']}"), headers=officer).json()
    assert {name: read[name] for name in FULL} == FULL
    assert {name: created.json()[name] for name in FULL} == FULL


@pytest.mark.parametrize("name, value, field", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_a_bad_field_is_422_naming_it(start_stack, sqlite_urls, http, auth, name, value, field):
    stack = start_stack(sqlite_urls)
    response = http.post(stack.url("/v1/persons"), json=person_body(**{name: value}), headers=auth("intake_officer"))
    assert response.status_code == 422 and response.headers["Content-Type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]], response.json()
    assert stack.count("intake", "persons") == 0


def _register(stack, http, headers, **overrides):
    response = http.post(stack.url("/v1/persons"), json=person_body(confirmed_new=True, **overrides),
                         headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_households(stack, http, auth):
    officer = auth("intake_officer", sub="io-1")
    a, b, c = (_register(stack, http, officer, given_name=n) for n in ("Amal", "Bashar", "Celin"))
    body = {"members": [{"person_id": a, "relation": "head"}, {"person_id": b, "relation": "spouse"}]}
    created = http.post(stack.url("/v1/households"), json=body, headers={**officer, "Idempotency-Key": "hh-1"})
    assert created.status_code == 201, created.text
    household = created.json()
    assert created.headers["Location"] == f"/v1/households/{household['id']}"
    again = http.post(stack.url("/v1/households"), json=body, headers={**officer, "Idempotency-Key": "hh-1"})
    assert again.status_code == 201 and again.json() == household
    assert stack.count("intake", "households") == 1

    url = stack.url(f"/v1/households/{household['id']}")
    added = http.post(url + "/members", json={"person_id": c, "relation": "child"}, headers=officer)
    assert added.status_code == 201, added.text
    read = http.get(url, headers=auth("team_lead"))
    assert read.status_code == 200
    assert {m["person_id"]: m["relation"] for m in read.json()["members"]} == {a: "head", b: "spouse", c: "child"}

    # one household at most
    d = _register(stack, http, officer, given_name="Dilan")
    twice = http.post(stack.url("/v1/households"), json={"members": [{"person_id": d, "relation": "head"},
                                                                     {"person_id": a, "relation": "parent"}]},
                      headers=officer)
    assert twice.status_code == 409 and twice.headers["Content-Type"] == "application/problem+json"
    assert http.post(url + "/members", json={"person_id": c, "relation": "child"},
                     headers=officer).status_code == 409

    # another town's person: refused like a missing one, naming the member
    other = _register(stack, http, auth("intake_officer", [MEINERZHAGEN]), municipality=MEINERZHAGEN)
    answers = []
    for ghost in (other, "00000000-0000-4000-8000-000000000000"):
        response = http.post(stack.url("/v1/households"), json={"members": [{"person_id": d, "relation": "head"},
                                                                            {"person_id": ghost, "relation": "child"}]},
                             headers=officer)
        assert response.status_code == 422
        answers.append([(e["field"], e["detail"]) for e in response.json()["errors"]])
    assert answers[0] == answers[1] and answers[0][0][0] == "members.1.person_id"
    # another town's household: 404; a case manager of the town reads it once a member's case is open (need to know)
    assert http.get(url, headers=auth("team_lead", [MEINERZHAGEN])).status_code == 404
    assert poll(lambda: http.get(url, headers=auth("case_manager")).status_code == 200)
    assert stack.count("intake", "household_members") == 3
