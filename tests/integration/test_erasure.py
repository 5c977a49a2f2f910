"""GDPR export (Art. 15) and erasure (Art. 17) over the real broker and both databases: register, export (with
casework's case and analytics' archived events), erase, wait for every service's confirmation, then scan every
table of intake, casework, referrals and analytics."""
import json

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.conftest import person_body, poll

pytestmark = pytest.mark.integration


def holders(stack, service, *needles) -> dict:
    """{needle: [tables of the service's database whose rows contain it]}."""
    engine = create_engine(stack.urls[service])
    try:
        with engine.connect() as conn:
            tables = {name: json.dumps([list(r) for r in conn.execute(text(f'SELECT * FROM "{name}"'))],
                                       default=str)
                      for name in inspect(conn).get_table_names()}
    finally:
        engine.dispose()
    return {needle: sorted(name for name, rows in tables.items() if needle in rows) for needle in needles}


def test_export_then_erase_everywhere(stack, http, auth):
    officer, dpo = auth("intake_officer", sub="io-1"), auth("data_protection_officer", sub="dpo-1")
    registered = http.post(stack.url("/v1/persons"), json=person_body(given_name="Mariia", family_name="Erasova",
                                                                      birth_date="1979-03-21"), headers=officer)
    assert registered.status_code == 201, registered.text
    person = registered.json()
    case = poll(lambda: http.get(stack.url("/v1/cases"), params={"person_id": person["id"]},
                                 headers=auth("team_lead")).json()["items"])[0]

    def exported():  # once analytics has archived the registration too
        answer = http.get(stack.url(f"/v1/persons/{person['id']}/export"), headers=dpo)
        assert answer.status_code == 200, answer.text
        return answer.json() if answer.json()["analytics"] else None
    data = poll(exported)
    assert "person_registered" in {e["event_type"] for e in data["analytics"]} and data["referrals"] == []
    assert data["person"]["family_name"] == "Erasova" and data["person"]["birth_date"] == "1979-03-21"
    assert [c["id"] for c in data["cases"]] == [case["id"]] and data["consents"][0]["purpose"] == "case_management"
    assert http.get(stack.url(f"/v1/persons/{person['id']}/export"), headers=officer).status_code == 403

    erased = http.delete(stack.url(f"/v1/persons/{person['id']}"), headers=dpo)
    assert erased.status_code == 202, erased.text
    request = erased.json()
    assert request["status"] == "pending" and request["confirmations"] == {"casework": None, "referrals": None,
                                                                         "analytics": None}
    assert erased.headers["Location"] == f"/v1/erasures/{request['erasure_id']}"
    assert http.get(stack.url(f"/v1/persons/{person['id']}"), headers=officer).status_code == 404
    assert http.delete(stack.url(f"/v1/persons/{person['id']}"), headers=dpo).status_code == 404

    done = poll(lambda: (lambda r: r if r["status"] == "completed" else None)(
        http.get(stack.url(erased.headers["Location"]), headers=dpo).json()), timeout=20)
    assert all(done["confirmations"].values()) and done["completed_at"]

    intake = holders(stack, "intake", "Mariia", "Erasova", "1979-03-21", person["id"])
    casework = holders(stack, "casework", "Mariia", "Erasova", "1979-03-21", person["id"])
    assert intake == {"Mariia": [], "Erasova": [], "1979-03-21": [], person["id"]: ["erasure_requests", "persons"]}
    assert casework == {"Mariia": [], "Erasova": [], "1979-03-21": [], person["id"]: []}
    for service in ("referrals", "analytics"):  # analytics keeps the counts, under a pseudonym
        found = holders(stack, service, "Mariia", "Erasova", "1979-03-21", person["id"])
        assert found == {"Mariia": [], "Erasova": [], "1979-03-21": [], person["id"]: []}, service

    # the gateway's audit log keeps the ids (accountability, Art. 5(2)): who exported and erased
    audit = http.get(stack.url("/v1/audit"), params={"person_id": person["id"]}, headers=dpo).json()["items"]
    assert {"person.export", "person.erase", "erasure.read"} <= {e["action"] for e in audit}
