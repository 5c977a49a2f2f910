"""Rectification, history and search over the real broker and both databases: If-Match (428/412), a bad field
named (422), the history old -> new with who, `person_updated` in the outbox without personal data, search
tolerant of transliteration, never another town's person, and the audit entries."""
import json

import pytest

from services.shared.events import load_envelope
from tests.conftest import LUEDENSCHEID, MEINERZHAGEN, person_body

pytestmark = pytest.mark.integration


@pytest.fixture
def world(stack, http, auth):
    officer = auth("intake_officer", sub="io-1")
    person = http.post(stack.url("/v1/persons"), json=person_body(given_name="Jürgen", family_name="Müller"),
                       headers=officer)
    assert person.status_code == 201, person.text
    return stack, person.json(), officer


def test_rectification_needs_if_match_records_history_and_announces_pseudonymously(world, http, auth):
    stack, person, officer = world
    url = stack.url(f"/v1/persons/{person['id']}")
    change = {"family_name": "Mueller-Schmidt", "residence_status": "residence_permit"}

    without = http.patch(url, json=change, headers=officer)
    assert without.status_code == 428 and without.headers["Content-Type"] == "application/problem+json"
    done = http.patch(url, json=change, headers={**officer, "If-Match": '"1"'})
    assert done.status_code == 200, done.text
    assert done.headers["ETag"] == '"2"' and done.json()["family_name"] == "Mueller-Schmidt"
    stale = http.patch(url, json={"given_name": "Juri"}, headers={**officer, "If-Match": '"1"'})
    assert stale.status_code == 412
    bad = http.patch(url, json={"birth_date": "not-a-date"}, headers={**officer, "If-Match": '"2"'})
    assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["birth_date"]
    assert http.get(url, headers=officer).headers["ETag"] == '"2"'

    history = http.get(f"{url}/history", headers=auth("data_protection_officer"))
    assert history.status_code == 200, history.text
    assert [(c["field"], c["old_value"], c["new_value"], c["changed_by"], c["version"])
            for c in history.json()["items"]] == [
        ("family_name", "Müller", "Mueller-Schmidt", "io-1", 2),
        ("residence_status", "temporary_protection", "residence_permit", "io-1", 2)]
    assert http.get(f"{url}/history", headers=officer).status_code == 403

    (event,) = stack.events("person_updated")
    assert load_envelope(event)["producer"] == "intake"
    assert event["payload"] == {"person_id": person["id"], "municipality": LUEDENSCHEID, "version": 2,
                                "changed": ["residence_status"], "residence_status": "residence_permit"}
    for personal in ("Müller", "Mueller", "Jürgen", "1988"):
        assert personal not in json.dumps(event, ensure_ascii=False)

    audit = stack.rows("gateway", "SELECT * FROM audit_entries WHERE action LIKE 'person.%' "
                                   "AND action != 'person.create' ORDER BY id")
    assert [(e["action"], e["status"]) for e in audit] == [
        ("person.update", 428), ("person.update", 200), ("person.update", 412), ("person.update", 422),
        ("person.read", 200), ("person.history", 200), ("person.history", 403)]
    assert all(e["person_id"] == person["id"] for e in audit)


def test_search_is_tolerant_of_transliteration_and_keeps_to_the_towns(world, http, auth):
    stack, mueller, officer = world
    kovalenko = http.post(stack.url("/v1/persons"), json=person_body(given_name="Оксана", family_name="Коваленко",
                                                                    birth_date="1990-05-06"), headers=officer)
    assert kovalenko.status_code == 201, kovalenko.text
    other_town = http.post(stack.url("/v1/persons"), json=person_body(
        given_name="Hans", family_name="Müller", municipality=MEINERZHAGEN),
        headers=auth("intake_officer", [MEINERZHAGEN]))
    assert other_town.status_code == 201, other_town.text

    def search(q, headers=officer):
        response = http.get(stack.url("/v1/persons"), params={"q": q}, headers=headers)
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    assert search("Mueller") == [mueller["id"]]
    assert search("Kovalenko") == [kovalenko.json()["id"]]
    assert other_town.json()["id"] not in search("Muller")
    assert http.get(stack.url("/v1/persons"), params={"q": "Mueller"}, headers=auth("case_manager")).status_code \
        == 403
    assert http.get(stack.url("/v1/persons"), params={"name": "x"}, headers=officer).status_code == 422

    audit = stack.rows("gateway", "SELECT * FROM audit_entries WHERE action = 'person.search' ORDER BY id")
    assert [e["person_id"] for e in audit[:3]] == [mueller["id"], kovalenko.json()["id"], mueller["id"]]
