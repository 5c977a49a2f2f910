"""Every route that touches personal data leaves exactly one audit entry; the log is append-only."""
import json

import eventlet
import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import DBAPIError

from gateway.audit import AuditLog
from gateway.http import ROUTES
from gateway.service import GatewayService  # noqa: F401  (fills ROUTES)
from services.shared.auth import ROLE_PERMISSIONS, Role
from tests.conftest import LUEDENSCHEID, MEINERZHAGEN, person_body, poll
from tests.integration import test_authorisation_matrix as matrix

pytestmark = pytest.mark.integration

#: the person and case routes, checked one by one below (which person each entry names); every other audited
#: route is called as the authorisation matrix calls it, and must leave one entry for its request
PERSON_ROUTES = {"create_person", "get_person", "update_person", "person_history", "search_persons",
                 "export_person", "erase_person", "get_erasure", "grant_consent", "withdraw_consent",
                 "create_household", "add_household_member", "get_household", "list_cases", "get_case"}
AUDITED = [r for r in ROUTES if r.audit is not None and r.name in PERSON_ROUTES]
OTHER_AUDITED = [r for r in ROUTES if r.audit is not None and r.name not in PERSON_ROUTES]
CONSENT = {"purpose": "statistics", "granted_at": "2026-10-06T10:00:00Z", "basis": "signed_form"}


def entries(stack):
    engine = create_engine(stack.urls["gateway"])
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM audit_entries ORDER BY id"))]
    engine.dispose()
    return rows


def test_personal_data_routes_are_audited():
    assert {r.name for r in AUDITED + OTHER_AUDITED} >= {
        "create_person", "get_person", "list_cases", "get_case", "assign_case", "grant_consent", "withdraw_consent",
        "update_person", "person_history", "search_persons", "create_household", "add_household_member",
        "get_household"}


def _world(stack, http, auth):
    lead = auth("team_lead", [LUEDENSCHEID], sub="lead-1")
    response = http.post(stack.url("/v1/persons"), json=person_body(), headers=lead)
    person = response.json()
    case = poll(lambda: http.get(stack.url("/v1/cases"), params={"person_id": person["id"]},
                                 headers=lead).json()["items"])[0]
    return stack, person, case, lead


@pytest.fixture
def world(stack, http, auth):
    return _world(stack, http, auth)


@pytest.fixture
def route_world(start_stack, sqlite_urls, http, auth):
    """For the per-route tests: which entries a route writes is the gateway's doing, the same on either
    database (the log's own storage is tested on both below)."""
    return _world(start_stack(sqlite_urls), http, auth)


@pytest.mark.parametrize("route", AUDITED, ids=[r.name for r in AUDITED])
def test_each_call_leaves_exactly_one_entry(route_world, http, route):
    stack, person, case, lead = route_world
    before = entries(stack)
    path = route.path.replace("<person_id>", person["id"]).replace("<case_id>", case["id"])
    path = path.replace("<purpose>", "case_management")
    headers = {**lead, "X-Request-ID": f"audit-{route.name}"}
    if route.name == "grant_consent":
        response = http.post(stack.url(path), json=CONSENT, headers=headers)
    elif route.name == "create_household":  # the world's person as its one member: one entry, under its id
        response = http.post(stack.url(path), json={"members": [{"person_id": person["id"], "relation": "head"}]},
                             headers=headers)
    elif "<household_id>" in path:  # a household of another person; the world's person added to it, or read
        other = http.post(stack.url("/v1/persons"), json=person_body(confirmed_new=True, given_name="Petro"),
                          headers=lead).json()["id"]
        first = person["id"] if route.name == "get_household" else other
        household = http.post(stack.url("/v1/households"), json={"members": [{"person_id": first,
                                                                              "relation": "head"}]},
                              headers=lead).json()
        path = path.replace("<household_id>", household["id"])
        before = entries(stack)
        if route.method == "POST":
            response = http.post(stack.url(path), json={"person_id": person["id"], "relation": "spouse"},
                                 headers=headers)
        else:
            response = http.get(stack.url(path), headers=headers)
    elif route.method == "POST":  # the world's person again: confirmed as a new one past the duplicate check
        response = http.post(stack.url(path), json=person_body(confirmed_new=True), headers=headers)
    elif route.method == "PATCH":
        etag = http.get(stack.url(path), headers=lead).headers["ETag"]
        before = entries(stack)
        response = http.patch(stack.url(path), json={"languages": ["uk"]}, headers={**headers, "If-Match": etag})
    elif route.name in ("erase_person", "get_erasure"):  # a person of its own, erased
        person = http.post(stack.url("/v1/persons"), json=person_body(confirmed_new=True), headers=lead).json()
        if route.name == "get_erasure":
            path = http.delete(stack.url(f"/v1/persons/{person['id']}"), headers=lead).headers["Location"]
            before = entries(stack)
            response = http.get(stack.url(path), headers=headers)
        else:
            before = entries(stack)
            response = http.delete(stack.url(f"/v1/persons/{person['id']}"), headers=headers)
    elif route.name == "search_persons":  # finds the world's person: one entry, under its id
        response = http.get(stack.url(path), params={"q": "Testperson"}, headers=headers)
    else:
        response = http.get(stack.url(path), params={"person_id": person["id"]} if "<" not in route.path else None,
                            headers=headers)
    assert response.status_code in (200, 201, 202), response.text
    new = entries(stack)[len(before):]
    assert len(new) == 1
    entry = new[0]
    assert entry["action"] == route.audit.action and entry["actor"] == "lead-1" and entry["role"] == "team_lead"
    assert entry["request_id"] == f"audit-{route.name}" and entry["status"] == response.status_code
    gdpr = route.name in ("export_person", "erase_person", "get_erasure")  # the data subject's rights
    assert entry["municipality"] == LUEDENSCHEID
    assert entry["purpose"] == ("data_protection" if gdpr else "case_management")
    expected_person = response.json()["id"] if route.name == "create_person" else person["id"]
    assert entry["person_id"] == expected_person
    # ids only: nothing of the person's data is in the log
    assert "Testperson" not in repr(entry) and "Olena" not in repr(entry)


@pytest.mark.parametrize("route", OTHER_AUDITED, ids=[r.name for r in OTHER_AUDITED])
def test_every_other_audited_route_leaves_one_entry_per_request(route_world, http, auth, route):
    stack, person, case, lead = route_world
    role = next(r for r in (Role.TEAM_LEAD, Role.DISTRICT_ADMIN, Role.ANALYST, Role.PARTNER,
                            Role.DATA_PROTECTION_OFFICER) if route.permission in ROLE_PERMISSIONS[r])
    request_id = f"audit-{route.name}"
    headers = {**auth(role.value, [LUEDENSCHEID], sub="actor-1",
                      provider_id="provider-1" if role is Role.PARTNER else None), "X-Request-ID": request_id}
    response = matrix.call(http, stack, route, headers, person, case)
    assert response.status_code in (200, 201, 202), response.text
    mine = [e for e in entries(stack) if e["request_id"] == request_id]
    assert len(mine) == 1
    (entry,) = mine
    assert entry["action"] == route.audit.action and entry["actor"] == "actor-1" and entry["role"] == role.value
    assert entry["status"] == response.status_code and entry["municipality"] == LUEDENSCHEID
    if "<case_id>" in route.path and route.name != "close_case":  # the world's case: its person is named
        assert entry["person_id"] == person["id"] and entry["case_id"] == case["id"]
    assert "Testperson" not in repr(entry) and "Olena" not in repr(entry)


def test_refused_read_is_audited_too(world, http, auth):
    stack, person, case, lead = world
    before = len(entries(stack))
    other = auth("case_manager", [MEINERZHAGEN], sub="snoop")
    assert http.get(stack.url(f"/v1/persons/{person['id']}"), headers=other).status_code == 404
    (entry,) = entries(stack)[before:]
    assert entry["actor"] == "snoop" and entry["status"] == 404 and entry["municipality"] == MEINERZHAGEN


def test_dpo_reads_the_log_of_their_town_only(world, http, auth):
    stack, person, case, lead = world
    own = http.get(stack.url("/v1/audit"), params={"person_id": person["id"]},
                   headers=auth("data_protection_officer", [LUEDENSCHEID]))
    assert own.status_code == 200
    actions = [e["action"] for e in own.json()["items"]]
    assert actions[0] == "person.create" and "case.list" in actions
    other = http.get(stack.url("/v1/audit"), params={"person_id": person["id"]},
                     headers=auth("data_protection_officer", [MEINERZHAGEN]))
    assert other.json()["items"] == []
    assert http.get(stack.url("/v1/audit"), params={"person_id": person["id"]},
                    headers=auth("case_manager")).status_code == 403
    missing = http.get(stack.url("/v1/audit"), headers=auth("district_admin"))
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "person_id"


def test_audit_log_pages(world, http, auth):
    stack, person, case, lead = world
    for _ in range(4):
        http.get(stack.url(f"/v1/persons/{person['id']}"), headers=lead)
    dpo = auth("data_protection_officer", [LUEDENSCHEID])
    seen, cursor = [], None
    while True:
        params = {"person_id": person["id"], "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = http.get(stack.url("/v1/audit"), params=params, headers=dpo).json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == len([e for e in entries(stack) if e["person_id"] == person["id"]])


def test_audit_log_is_append_only(world):
    stack = world[0]
    engine = create_engine(stack.urls["gateway"])
    try:
        for statement in ("UPDATE audit_entries SET actor = 'someone-else'", "DELETE FROM audit_entries"):
            with pytest.raises(DBAPIError):
                with engine.begin() as conn:
                    conn.execute(text(statement))
    finally:
        engine.dispose()
    assert all(e["actor"] == "lead-1" for e in entries(stack))


def test_a_read_that_cannot_be_audited_is_not_answered(world, http):
    stack, person, case, lead = world
    engine = create_engine(stack.urls["gateway"])
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_entries RENAME TO audit_entries_away"))
    engine.dispose()
    response = http.get(stack.url(f"/v1/persons/{person['id']}"), headers=lead)
    assert response.status_code == 503 and "Retry-After" in response.headers  # fail closed, retryable
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "Testperson" not in response.text and "could not be audited" in response.json()["detail"]


@pytest.mark.parametrize("db_backend", ["postgresql"])
def test_on_postgresql_each_batch_of_entries_is_one_statement_without_a_transaction(stack, http, auth):
    audit = next(d for c in stack.runner.containers for d in c.dependencies if isinstance(d, AuditLog))
    batches, in_transactions = [], []
    event.listen(audit.autocommit, "before_cursor_execute",
                 lambda conn, cursor, sql, params, *rest: batches.append(json.loads(params["rows"])))
    event.listen(audit.engine, "before_cursor_execute",
                 lambda conn, cursor, sql, *rest: in_transactions.append(sql) if "audit_entries" in sql else None)
    lead = auth("team_lead", [LUEDENSCHEID], sub="lead-1")
    person = http.post(stack.url("/v1/persons"), json=person_body(), headers=lead).json()
    reads = eventlet.GreenPool().imap(
        lambda _: http.get(stack.url(f"/v1/persons/{person['id']}"), headers=lead).status_code, range(12))
    assert list(reads) == [200] * 12

    logged = [e for e in entries(stack) if e["person_id"] == person["id"]]
    assert len(logged) == 13 and in_transactions == []
    written = [row for batch in batches for row in batch]
    assert sorted(row[3] for row in written) == ["person.create"] + ["person.read"] * 12
    assert {(row[1], row[5], row[10]) for row in written} == {("lead-1", person["id"], 201),
                                                              ("lead-1", person["id"], 200)}
