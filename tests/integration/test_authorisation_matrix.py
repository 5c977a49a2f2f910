"""The authorisation matrix, generated from the gateway's route table: every route × every role × own/other
municipality × no/expired/forged/alg=none/wrong-audience token, asserting the exact status."""
import inspect
import time

import jwt
import pytest

from gateway.http import ROUTES, Route
from gateway.service import GatewayService
from services.shared.auth import ROLE_PERMISSIONS, Role
from tests.conftest import LUEDENSCHEID, MEINERZHAGEN, TEST_SECRET, person_body, poll

pytestmark = pytest.mark.integration

OWN, OTHER = LUEDENSCHEID, MEINERZHAGEN
BAD_TOKENS = ("none", "expired", "forged", "alg_none", "wrong_audience")
OBJECT_ROUTES = {"get_person", "get_case", "assign_case", "grant_consent", "withdraw_consent",  # another town's: 404
                 "update_person", "person_history", "export_person", "erase_person", "get_erasure",
                 "add_household_member", "get_household"}
SUCCESS = {"create_person": 201, "grant_consent": 201, "erase_person": 202, "create_household": 201,
           "add_household_member": 201}
CONSENT = {"purpose": "statistics", "granted_at": "2026-10-06T10:00:00Z", "basis": "signed_form"}


def token_for(kind, role="team_lead"):
    now = int(time.time())
    claims = {"sub": "m", "role": role, "municipalities": [OWN], "iss": "kim-dev", "aud": "kim-api",
              "iat": now, "nbf": now, "exp": now + 600, "provider_id": "provider-1"}
    if kind == "expired":
        claims["exp"] = now - 3600
    if kind == "wrong_audience":
        claims["aud"] = "another-api"
    if kind == "alg_none":
        return jwt.encode(claims, None, algorithm="none")
    secret = "forged-secret-forged-secret-forged-secret" if kind == "forged" else TEST_SECRET
    return jwt.encode(claims, secret, algorithm="HS256")


def expected_status(route, role, town):
    if route.permission not in ROLE_PERMISSIONS[role]:
        return 403
    if town == OTHER and route.name in OBJECT_ROUTES:
        return 404
    if town == OTHER and route.name == "create_person":
        return 403  # may not register for a town outside the token
    if town == OTHER and route.name == "create_household":
        return 422  # the member is a person of another town: refused like a missing one
    return SUCCESS.get(route.name, 200)


@pytest.fixture
def world(start_stack, sqlite_urls, http, auth):
    stack = start_stack(sqlite_urls)
    lead = auth("team_lead", [OWN])
    person = http.post(stack.url("/v1/persons"), json=person_body(municipality=OWN), headers=lead).json()
    case = poll(lambda: http.get(stack.url("/v1/cases"), params={"person_id": person["id"]},
                                 headers=lead).json()["items"])[0]
    return stack, person, case


_HOUSEHOLDS = {}  # the world person's household, created once per world (keyed by the person's id)


def _fresh_person(http, stack):
    response = http.post(stack.url("/v1/persons"), json=person_body(municipality=OWN, confirmed_new=True),
                         headers=_lead_headers())
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _household(http, stack, person_id):
    response = http.post(stack.url("/v1/households"), json={"members": [{"person_id": person_id,
                                                                          "relation": "head"}]},
                         headers=_lead_headers())
    assert response.status_code == 201, response.text
    return response.json()["id"]


def call(http, stack, route, headers, person, case):
    path = route.path.replace("<person_id>", person["id"]).replace("<case_id>", case["id"])
    if route.name == "create_household":  # a fresh person each time: one household per person
        return http.post(stack.url(path), json={"members": [{"person_id": _fresh_person(http, stack),
                                                             "relation": "head"}]}, headers=headers)
    if route.name == "add_household_member":
        path = path.replace("<household_id>", _household(http, stack, _fresh_person(http, stack)))
        return http.post(stack.url(path), json={"person_id": _fresh_person(http, stack), "relation": "child"},
                         headers=headers)
    if route.name == "get_household":  # the world person's: a case manager of the town sees its case
        if person["id"] not in _HOUSEHOLDS:
            _HOUSEHOLDS[person["id"]] = _household(http, stack, person["id"])
        path = path.replace("<household_id>", _HOUSEHOLDS[person["id"]])
    path = path.replace("<asset>", "swagger-ui.css").replace("<purpose>", "statistics")
    if route.name == "grant_consent":
        return http.post(stack.url(path), json=CONSENT, headers=headers)
    if route.name == "withdraw_consent":  # granted first, by a team lead of the town, so there is one to withdraw
        granted = http.post(stack.url(path.removesuffix("/statistics/withdrawal")), json=CONSENT,
                            headers=_lead_headers())
        assert granted.status_code == 201, granted.text
        return http.post(stack.url(path), headers=headers)
    if route.name == "create_person":  # the same person for every role: past the duplicate check
        return http.post(stack.url(path), json=person_body(municipality=OWN, confirmed_new=True), headers=headers)
    if route.name == "update_person":  # the current version, read by a team lead of the town
        version = http.get(stack.url(path), headers=_lead_headers()).headers["ETag"]
        return http.patch(stack.url(path), json={"languages": ["uk"]}, headers={**headers, "If-Match": version})
    if route.name in ("erase_person", "get_erasure"):  # a person of its own per call, erased by a team lead
        fresh = http.post(stack.url("/v1/persons"), json=person_body(municipality=OWN, confirmed_new=True),
                          headers=_lead_headers())
        assert fresh.status_code == 201, fresh.text
        if route.name == "erase_person":
            return http.delete(stack.url(route.path.replace("<person_id>", fresh.json()["id"])), headers=headers)
        erased = http.delete(stack.url(f"/v1/persons/{fresh.json()['id']}"), headers=_lead_headers())
        assert erased.status_code == 202, erased.text
        return http.get(stack.url(erased.headers["Location"]), headers=headers)
    if route.name == "search_persons":
        return http.get(stack.url(path), params={"q": person["family_name"]}, headers=headers)
    if route.name == "assign_case":
        version = http.get(stack.url(path), headers=_lead_headers()).headers["ETag"]
        return http.patch(stack.url(path), json={"assigned_to": None, "team": None},
                          headers={**headers, "If-Match": version})
    params = {"person_id": person["id"]} if route.name in ("list_cases", "read_audit") else None
    return http.request(route.method, stack.url(path), params=params, headers=headers)


def _lead_headers():
    return {"Authorization": f"Bearer {token_for('valid')}"}


@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_route_authorisation(world, http, auth, route):
    stack, person, case = world
    wrong = []
    if route.permission is None:
        response = call(http, stack, route, {}, person, case)
        if response.status_code != 200:
            wrong.append(("public", response.status_code))
    else:
        for role in Role:
            for town in (OWN, OTHER):
                headers = auth(role.value, [town], provider_id="provider-1" if role is Role.PARTNER else None)
                response = call(http, stack, route, headers, person, case)
                if response.status_code != expected_status(route, role, town):
                    wrong.append((role.value, town, response.status_code, expected_status(route, role, town)))
                elif town == OTHER and response.status_code == 200 and "items" in response.json():
                    if response.json()["items"]:
                        wrong.append((role.value, town, "sees another town's items"))
        for kind in BAD_TOKENS:
            headers = {} if kind == "none" else {"Authorization": f"Bearer {token_for(kind)}"}
            response = call(http, stack, route, headers, person, case)
            if response.status_code != 401:
                wrong.append((kind, response.status_code, 401))
            elif response.headers["Content-Type"] != "application/problem+json":
                wrong.append((kind, "not a problem+json"))
    assert wrong == []


def test_route_table_covers_every_http_entrypoint():
    declared = {name for name, member in inspect.getmembers(GatewayService)
                if callable(member) and any(isinstance(e, Route) for e in getattr(member, "nameko_entrypoints", ()))}
    assert declared == {r.name for r in ROUTES}
