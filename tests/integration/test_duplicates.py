"""The duplicate check on `POST /v1/persons`, over the real broker and both databases: a likely duplicate
answers 409 problem+json with the candidates (ids, scores, reasons; no names) and writes nothing; the
frontend's re-send with `confirmed_new: true` registers the person. All names are synthetic."""
import pytest

from tests.conftest import person_body, poll

pytestmark = pytest.mark.integration


def hassan(**overrides):
    return person_body(**{"given_name": "Mohammed", "family_name": "Al Hassan", "birth_date": "1991-06-15",
                          **overrides})


def test_a_likely_duplicate_answers_409_with_candidates_and_confirmed_new_registers(stack, http, auth):
    headers = auth("intake_officer")
    first = http.post(stack.url("/v1/persons"), json=hassan(), headers=headers)
    assert first.status_code == 201
    poll(lambda: stack.count("casework", "cases") == 1)

    key = {**headers, "Idempotency-Key": "dup-1"}
    again = hassan(given_name="Мухаммед", family_name="Аль-Хасан")
    refused = http.post(stack.url("/v1/persons"), json=again, headers=key)
    assert refused.status_code == 409 and refused.headers["Content-Type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"] == "urn:kim:problem:conflict" and problem["status"] == 409
    (candidate,) = problem["candidates"]
    assert candidate["id"] == first.json()["id"] and isinstance(candidate["score"], float)
    assert set(candidate) == {"id", "score", "why"} and candidate["why"][0] == "same_birth_date"
    assert "Mohammed" not in refused.text and "Hassan" not in refused.text  # ids only: no names
    assert stack.count("intake", "persons") == 1 and stack.count("intake", "outbox") == 1
    assert stack.count("intake", "idempotency_keys") == 0  # the 409 keeps no key
    assert stack.count("gateway", "audit_entries", "action = 'person.create' AND status = 409") == 1

    confirmed = http.post(stack.url("/v1/persons"), json={**again, "confirmed_new": True}, headers=key)
    assert confirmed.status_code == 201 and confirmed.json()["id"] != first.json()["id"]
    assert stack.count("intake", "persons") == 2
    poll(lambda: stack.count("casework", "cases") == 2)


def test_another_birth_date_is_no_candidate(stack, http, auth):
    headers = auth("intake_officer")
    assert http.post(stack.url("/v1/persons"), json=hassan(), headers=headers).status_code == 201
    other = hassan(given_name="Мухаммед", family_name="Аль-Хасан", birth_date="1991-06-16")
    assert http.post(stack.url("/v1/persons"), json=other, headers=headers).status_code == 201
    assert stack.count("intake", "persons") == 2


def test_the_409_is_documented(stack, http):
    spec = http.get(stack.url("/openapi.json")).json()
    conflict = spec["paths"]["/v1/persons"]["post"]["responses"]["409"]
    assert "application/problem+json" in conflict["content"]
    assert "candidates" in spec["components"]["schemas"]["Problem"]["properties"]
