"""The authorisation matrix, generated from the gateway's route table: every route × every role × own/other
municipality × no/expired/forged/alg=none/wrong-audience token, asserting the exact status."""
import inspect
import time
import uuid

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
                 "add_household_member", "get_household", "merge_person"}
SUCCESS = {"create_person": 201, "grant_consent": 201, "erase_person": 202, "create_household": 201,
           "add_household_member": 201}
# case managers, assignment and the cycle (staff.py, cycle.py): another town's case manager, team or case is 404
OBJECT_ROUTES |= {"get_case_manager", "update_case_manager", "add_absence", "list_absences",
                  "case_manager_caseload", "team_caseload", "case_assignments", "change_case_status",
                  "case_transitions", "close_case"}
SUCCESS |= {"create_case_manager": 201, "add_absence": 201}
# assessments, plan, contacts, barriers (case_records.py): another town's case is 404
OBJECT_ROUTES |= {"record_assessment", "list_assessments", "assessment_progress", "get_plan", "create_goal",
                  "update_goal", "create_action", "update_action", "record_contact", "list_contacts",
                  "update_contact", "record_barrier", "list_barriers", "resolve_barrier"}
SUCCESS |= {"record_assessment": 201, "create_goal": 201, "create_action": 201, "record_contact": 201,
            "record_barrier": 201}
# the catalogue, referrals and the partners (referrals.py): another town's case or referral is 404; a partner's
# referrals are its provider's (token claim provider_id), whatever towns its token names
REFERRAL_ROUTES = {"create_provider", "list_providers", "create_offer", "list_offers", "export_offers", "get_offer",
                   "update_offer", "offer_suggestions", "create_referral", "list_referrals", "get_referral",
                   "send_referral", "cancel_referral", "accept_referral", "decline_referral", "start_referral",
                   "complete_referral", "partner_inbox", "partner_referral"}
OBJECT_ROUTES |= {"offer_suggestions", "create_referral", "get_referral", "send_referral", "cancel_referral"}
SUCCESS |= {"create_provider": 201, "create_offer": 201, "create_referral": 201}
#: lists of no town's data (the district's catalogue; a partner's own inbox): their items are no leak
TOWNLESS_LISTS = {"list_providers", "list_offers", "partner_inbox"}
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
    if route.name == "merge_person":  # two fresh persons of the town each time: a merge is done once
        merged, survivor = _fresh_person(http, stack), _fresh_person(http, stack)
        return http.post(stack.url(route.path.replace("<person_id>", merged)), json={"into": survivor},
                         headers={**headers, "If-Match": '"1"'})
    if route.name == "search_persons":
        return http.get(stack.url(path), params={"q": person["family_name"]}, headers=headers)
    referrals_answer = _referrals_call(http, stack, route, path, headers, person, case)
    if referrals_answer is not None:
        return referrals_answer
    staff_answer = _staff_call(http, stack, route, path, headers, person, case)
    if staff_answer is not None:
        return staff_answer
    records_answer = _records_call(http, stack, route, path, headers, case)
    if records_answer is not None:
        return records_answer
    params = {"person_id": person["id"]} if route.name in ("list_cases", "read_audit") else None
    return http.request(route.method, stack.url(path), params=params, headers=headers)


_CASE_MANAGERS = {}  # the world's case managers of the town (municipal and district), keyed by the person's id


def _claims(headers) -> dict:
    try:
        return jwt.decode(headers["Authorization"].split()[1], options={"verify_signature": False})
    except Exception:
        return {}


def _case_managers(http, stack, person_id) -> dict:
    """One municipal and one district case manager of the town, without room (capacity 0: no automatic
    assignment takes the world's case away from the town's queue)."""
    if person_id not in _CASE_MANAGERS:
        made = {}
        for employer, role in (("municipality", "team_lead"), ("district", "district_admin")):
            response = http.post(stack.url("/v1/case-managers"), headers={
                "Authorization": f"Bearer {token_for('valid', role)}"}, json={
                "name": "Matrix CM", "username": f"matrix-{employer}-{person_id[:8]}", "employer": employer,
                "hours_per_week": 39, "capacity": 0, "team": "matrix",
                "coverage": [{"municipality": OWN, "weekdays": ["mon"]}]})
            assert response.status_code == 201, response.text
            made[employer] = response.json()["id"]
        _CASE_MANAGERS[person_id] = made
    return _CASE_MANAGERS[person_id]


def _staff_call(http, stack, route, path, headers, person, case):
    """Routes of case managers, assignment and the cycle; None for other routes."""
    claims = _claims(headers)
    district = claims.get("role") == "district_admin"  # writes district case managers, team leads municipal
    if route.name == "create_case_manager":
        town = (claims.get("municipalities") or [OWN])[0]
        return http.post(stack.url(path), headers=headers, json={
            "name": "New CM", "username": f"new-{uuid.uuid4().hex[:12]}", "employer":
            "district" if district else "municipality", "hours_per_week": 39,
            "coverage": [{"municipality": town, "weekdays": ["tue"]}]})
    if "<case_manager_id>" in path or "<team_id>" in path or route.name == "assign_case":
        cms = _case_managers(http, stack, person["id"])
        path = path.replace("<case_manager_id>", cms["district" if district else "municipality"])
        path = path.replace("<team_id>", "matrix")
        if route.name == "update_case_manager":
            version = http.get(stack.url(path), headers=_lead_headers()).headers["ETag"]
            return http.patch(stack.url(path), json={"languages": ["de", "tr"]},
                              headers={**headers, "If-Match": version})
        if route.name == "add_absence":
            return http.post(stack.url(path), json={"from": "2026-12-01", "to": "2026-12-02"}, headers=headers)
        if route.name == "assign_case":
            return http.post(stack.url(path), json={"case_manager_id": cms["municipality"], "reason": "matrix"},
                             headers=headers)
        return http.request(route.method, stack.url(path), headers=headers)
    if route.name == "change_case_status":  # the next phase the world's case may move to
        allowed = http.get(stack.url(f"/v1/cases/{case['id']}"), headers=_lead_headers()).json()[
            "allowed_transitions"]
        return http.post(stack.url(path), json={"to": next(t for t in allowed if t != "closed"), "reason": "m"},
                         headers=headers)
    if route.name == "close_case":  # a fresh case each time: a case is closed once
        fresh = _fresh_person(http, stack)
        fresh_case = poll(lambda: http.get(stack.url("/v1/cases"), params={"person_id": fresh},
                                           headers=_lead_headers()).json()["items"])[0]
        return http.post(stack.url(route.path.replace("<case_id>", fresh_case["id"])),
                         json={"outcome": "other", "evaluation": []}, headers=headers)
    return None


_REFERRAL_WORLD = {}  # per world person: an offer of provider-1 (the partner tokens' provider), consent granted
#: the steps a referral takes (by a team lead, then provider-1) before the route's own step
_REFERRAL_STEPS = {"accept_referral": ("send",), "decline_referral": ("send",), "start_referral": ("send", "accept"),
                   "complete_referral": ("send", "accept", "start"), "partner_referral": ("send",)}
_REFERRAL_BODIES = {"decline_referral": {"reason": "no_capacity"}, "complete_referral": {"outcome": "goal_reached"},
                    "update_offer": {"waiting_days": 7}}


def _new_offer(http, stack):
    response = http.post(stack.url("/v1/offers"), headers=_lead_headers(), json={
        "provider_id": "provider-1", "name": "Matrix offer", "areas": ["language"], "municipalities": [OWN],
        "languages": ["de"]})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _referral_world(http, stack, person):
    if person["id"] not in _REFERRAL_WORLD:
        lead = _lead_headers()
        made = http.post(stack.url("/v1/providers"), json={"id": "provider-1", "name": "Matrix provider"},
                         headers=lead)
        assert made.status_code == 201, made.text
        granted = http.post(stack.url(f"/v1/persons/{person['id']}/consents"),
                            json={**CONSENT, "purpose": "referral_sharing"}, headers=lead)
        assert granted.status_code == 201, granted.text
        _REFERRAL_WORLD[person["id"]] = _new_offer(http, stack)
    return _REFERRAL_WORLD[person["id"]]


def _new_referral(http, stack, case, steps=()):
    lead, partner = _lead_headers(), {"Authorization": f"Bearer {token_for('valid', 'partner')}"}
    created = http.post(stack.url("/v1/referrals"), json={"case_id": case["id"], "offer_id": _new_offer(http, stack)},
                        headers=lead)
    assert created.status_code == 201, created.text
    referral_id = created.json()["id"]
    for step in steps:
        done = http.post(stack.url(f"/v1/referrals/{referral_id}/{step}"), headers=lead if step == "send" else partner,
                         json={} if step != "send" else None)
        assert done.status_code == 200, done.text
    return referral_id


def _referrals_call(http, stack, route, path, headers, person, case):
    """Routes of the catalogue, referrals and partners; None for other routes."""
    if route.name not in REFERRAL_ROUTES:
        return None
    path = path.replace("<offer_id>", _referral_world(http, stack, person))
    if "<referral_id>" in path:
        path = path.replace("<referral_id>", _new_referral(http, stack, case, _REFERRAL_STEPS.get(route.name, ())))
    body = _REFERRAL_BODIES.get(route.name)
    if route.name == "create_provider":
        body = {"id": f"p-{uuid.uuid4().hex[:12]}", "name": "Another provider"}
    if route.name == "create_offer":
        body = {"provider_id": "provider-1", "name": "Matrix offer", "areas": ["work"], "municipalities": [OWN],
                "languages": ["de"]}
    if route.name == "create_referral":  # a fresh offer each time: one open referral per case and offer
        body = {"case_id": case["id"], "offer_id": _new_offer(http, stack)}
    return http.request(route.method, stack.url(path), json=body, headers=headers)


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
                elif (town == OTHER and response.status_code == 200
                      and response.headers["Content-Type"].startswith("application/json")  # not an HTML report
                      and "items" in response.json() and route.name not in TOWNLESS_LISTS):
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


def _records_call(http, stack, route, path, headers, case):
    """Assessments, plan, contacts, barriers: the world case moved on to `assessment` (by a team lead of the
    town; again each call, refused once it is there), and the goal, action, appointment or barrier a route
    changes created by the team lead first. None: not such a route."""
    lead = _lead_headers()
    base = stack.url(f"/v1/cases/{case['id']}")
    if route.name in ("record_assessment", "create_goal", "create_action", "update_goal", "update_action",
                      "record_contact", "update_contact", "record_barrier", "resolve_barrier"):
        http.post(f"{base}/transitions", json={"to": "assessment", "reason": "matrix"}, headers=lead)
    if route.name == "record_assessment":
        return http.post(stack.url(path), json={"areas": [{"area": "work", "need": "low"}]}, headers=headers)
    if route.name == "create_goal":
        return http.post(stack.url(path), json={"area": "work", "description": "a job"}, headers=headers)
    if route.name in ("create_action", "update_goal", "update_action"):
        goal = http.post(f"{base}/goals", json={"area": "work", "description": "a job"}, headers=lead)
        assert goal.status_code == 201, goal.text
        path = path.replace("<goal_id>", goal.json()["id"])
        if route.name == "create_action":
            return http.post(stack.url(path), json={"assignee": "person", "description": "apply"}, headers=headers)
        if route.name == "update_goal":
            return http.patch(stack.url(path), json={"agreed_with_person": True},
                              headers={**headers, "If-Match": '"1"'})
        action = http.post(f"{base}/goals/{goal.json()['id']}/actions",
                           json={"assignee": "person", "description": "apply"}, headers=lead)
        assert action.status_code == 201, action.text
        return http.patch(stack.url(path.replace("<action_id>", action.json()["id"])), json={"status": "done"},
                          headers={**headers, "If-Match": '"1"'})
    if route.name == "record_contact":
        return http.post(stack.url(path), json={"channel": "phone", "occurred_at": "2026-10-06T10:00:00Z"},
                         headers=headers)
    if route.name == "update_contact":
        planned = http.post(f"{base}/contacts", json={"status": "planned", "channel": "phone",
                                                      "occurred_at": "2099-10-06T10:00:00Z"}, headers=lead)
        assert planned.status_code == 201, planned.text
        return http.patch(stack.url(path.replace("<contact_id>", planned.json()["id"])),
                          json={"status": "cancelled"}, headers={**headers, "If-Match": '"1"'})
    if route.name == "record_barrier":
        return http.post(stack.url(path), json={"code": "debts"}, headers=headers)
    if route.name == "resolve_barrier":
        barrier = http.post(f"{base}/barriers", json={"code": "debts"}, headers=lead)
        assert barrier.status_code == 201, barrier.text
        return http.post(stack.url(path.replace("<barrier_id>", barrier.json()["id"])), json={"how": "paid"},
                         headers=headers)
    return None
