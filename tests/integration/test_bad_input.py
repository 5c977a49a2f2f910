"""Bad input gets a 4xx problem naming the field, and nothing is stored."""
import pytest

from tests.conftest import person_body

pytestmark = pytest.mark.integration

CASES = [
    ("missing field", {k: v for k, v in person_body().items() if k != "birth_date"}, 422, "birth_date"),
    ("wrong type", person_body(languages="uk"), 422, "languages"),
    ("wrong nested type", person_body(consents=[{"purpose": "case_management", "granted_at": 5}]), 422,
     "consents.0.granted_at"),
    ("unknown field", person_body(nickname="Oli"), 422, "nickname"),
    ("bad postal code", person_body(address={"street": "A 1", "postal_code": "5851", "city": "L"}), 422,
     "address.postal_code"),
    ("bad phone", person_body(phone="02351 000000"), 422, "phone"),
    ("unknown municipality", person_body(municipality="05962099"), 422, "municipality"),
    ("future birth date", person_body(birth_date="2999-01-01"), 422, "birth_date"),
    ("arrival before birth", person_body(arrival_date="1980-01-01"), 422, "arrival_date"),
    ("bad residence status", person_body(residence_status="tourist"), 422, "residence_status"),
    ("bad language code", person_body(languages=["Ukrainian"]), 422, "languages.0"),
    ("empty name", person_body(given_name=""), 422, "given_name"),
    ("not an object", [person_body()], 422, "body"),
]


@pytest.mark.parametrize("label, body, status, field", CASES, ids=[c[0] for c in CASES])
def test_invalid_body_is_rejected_and_nothing_stored(stack, http, auth, label, body, status, field):
    response = http.post(stack.url("/v1/persons"), json=body, headers=auth("intake_officer"))
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and problem["request_id"] == response.headers["X-Request-ID"]
    assert field in [e["field"] for e in problem["errors"]], problem
    assert stack.count("intake", "persons") == 0 and stack.count("intake", "outbox") == 0


def test_malformed_json_is_a_bad_request(stack, http, auth):
    response = http.post(stack.url("/v1/persons"), data=b'{"given_name": "Olena",',
                         headers={**auth("intake_officer"), "Content-Type": "application/json"})
    assert response.status_code == 400  # malformed syntax (RFC 9110); a well-formed body with bad values is 422
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "body"
    assert stack.count("intake", "persons") == 0


def test_wrong_content_type(stack, http, auth):
    response = http.post(stack.url("/v1/persons"), data=b"given_name=Olena",
                         headers={**auth("intake_officer"), "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415
    assert response.headers["Content-Type"] == "application/problem+json"


def test_oversized_body(stack, http, auth):
    body = person_body(given_name="x" * (70 * 1024))
    response = http.post(stack.url("/v1/persons"), json=body, headers=auth("intake_officer"))
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"
    assert stack.count("intake", "persons") == 0


def test_oversized_chunked_body(stack, http, auth):
    def chunks():
        yield b'{"given_name": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'
    response = http.post(stack.url("/v1/persons"), data=chunks(),
                         headers={**auth("intake_officer"), "Content-Type": "application/json"})
    assert response.status_code == 413
    assert stack.count("intake", "persons") == 0


@pytest.mark.parametrize("params, field", [({"limit": "0"}, "limit"), ({"limit": "abc"}, "limit"),
                                           ({"person_id": "nope"}, "person_id"), ({"cursor": "!!"}, "cursor"),
                                           ({"sort": "name"}, "sort")])
def test_invalid_query(stack, http, auth, params, field):
    response = http.get(stack.url("/v1/cases"), params=params, headers=auth("case_manager"))
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


def test_invalid_path_id(stack, http, auth):
    response = http.get(stack.url("/v1/persons/not-a-uuid"), headers=auth("case_manager"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "person_id"
