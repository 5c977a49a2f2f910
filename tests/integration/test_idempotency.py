"""`Idempotency-Key` on POST, over the real broker and both databases: a retry answers the first result again,
also when the first answer was a 503 whose work did commit; another body with the same key is refused."""
import eventlet
import pytest

from services.intake import domain as intake_domain
from tests.conftest import person_body, poll

pytestmark = pytest.mark.integration


def persons(stack):
    return stack.count("intake", "persons")


def test_the_same_key_and_body_answer_the_first_result_again(stack, http, auth):
    headers = {**auth("team_lead"), "Idempotency-Key": "3f0c1c8e-first"}
    first = http.post(stack.url("/v1/persons"), json=person_body(), headers=headers)
    again = http.post(stack.url("/v1/persons"), json=person_body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Location"] == first.headers["Location"]
    assert persons(stack) == 1
    poll(lambda: stack.count("casework", "cases") == 1)

    other = http.post(stack.url("/v1/persons"), json=person_body(given_name="Anna"), headers=headers)
    assert other.status_code == 422 and other.headers["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in other.json()["errors"]] == ["Idempotency-Key"]
    assert persons(stack) == 1

    without_key = auth("team_lead")
    for _ in range(2):
        assert http.post(stack.url("/v1/persons"), json=person_body(confirmed_new=True),  # past the duplicate check
                         headers=without_key).status_code == 201
    assert persons(stack) == 3


def test_keys_are_per_client(stack, http, auth):
    body = person_body(confirmed_new=True)  # the same person twice: past the duplicate check
    a = http.post(stack.url("/v1/persons"), json=body, headers={**auth("team_lead", sub="lead-a"),
                                                                 "Idempotency-Key": "shared"})
    b = http.post(stack.url("/v1/persons"), json=body, headers={**auth("team_lead", sub="lead-b"),
                                                                 "Idempotency-Key": "shared"})
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]


@pytest.mark.parametrize("key", ["", "a" * 256, "bad key with spaces", "ключ"])
def test_a_malformed_key_is_refused_naming_the_header(stack, http, auth, key):
    response = http.post(stack.url("/v1/persons"), json=person_body(),
                         headers={**auth("team_lead"), "Idempotency-Key": key.encode("utf-8").decode("latin-1")})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["Idempotency-Key"]
    assert persons(stack) == 0


def test_a_retry_after_a_503_whose_work_committed_creates_no_second_person(start_stack, db_urls, http, auth,
                                                                           monkeypatch):
    stack = start_stack(db_urls, KIM_RPC_TIMEOUT="0.5")
    new_person = intake_domain.new_person  # on both paths of a registration (in one statement and in a unit of work)

    def slow_new_person(*args, **kwargs):
        eventlet.sleep(1.0)  # longer than the gateway waits: it answers 503, the registration still commits
        return new_person(*args, **kwargs)
    monkeypatch.setattr(intake_domain, "new_person", slow_new_person)
    headers = {**auth("team_lead"), "Idempotency-Key": "retry-me"}
    first = http.post(stack.url("/v1/persons"), json=person_body(), headers=headers)
    assert first.status_code == 503 and first.headers["Content-Type"] == "application/problem+json"
    assert "Retry-After" in first.headers and "Idempotency-Key" in first.json()["detail"]
    poll(lambda: persons(stack) == 1)

    monkeypatch.setattr(intake_domain, "new_person", new_person)
    retry = http.post(stack.url("/v1/persons"), json=person_body(), headers=headers)
    assert retry.status_code == 201
    assert persons(stack) == 1
    assert stack.count("intake", "persons", f"id = '{retry.json()['id']}'") == 1


def test_the_openapi_document_names_the_header_and_the_503(stack, http):
    operation = http.get(stack.url("/openapi.json")).json()["paths"]["/v1/persons"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in operation["parameters"])
    assert "Idempotency-Key" in operation["responses"]["503"]["description"]
    assert "Idempotency-Key" in operation["responses"]["422"]["description"]
