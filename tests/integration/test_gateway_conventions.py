"""The gateway's conventions: OpenAPI and docs, request ids, CORS, pagination, ETag/If-Match, metrics, 500s."""
import re

import pytest

from gateway.http import ROUTES
from gateway.service import GatewayService
from tests.conftest import LUEDENSCHEID, person_body, poll

pytestmark = pytest.mark.integration


@pytest.fixture
def gw(start_stack, sqlite_urls):
    return start_stack(sqlite_urls, KIM_CORS_ORIGINS="https://kim.luedenscheid.example.org")


def test_openapi_documents_every_route_with_its_errors(gw, http):
    spec = http.get(gw.url("/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    for route in ROUTES:
        operation = spec["paths"][route.openapi_path][route.method.lower()]
        assert operation["operationId"] == route.name
        for status in route.responses:
            assert str(status) in operation["responses"]
        assert "500" in operation["responses"]
        if route.permission is not None:
            assert {"401", "403"} <= set(operation["responses"]) and operation["security"] == [{"bearer": []}]
        if route.body is not None:
            assert {"413", "415", "422"} <= set(operation["responses"])
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert documented == {(r.method, r.openapi_path) for r in ROUTES}
    assert "Problem" in spec["components"]["schemas"]
    assert spec["paths"]["/v1/persons"]["post"]["requestBody"]["content"]["application/json"]["schema"]


def test_docs_page_works_offline(gw, http):
    page = http.get(gw.url("/docs"))
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assets = re.findall(r'(?:src|href)="(/docs/[^"]+)"', page.text)
    assert len(assets) >= 4
    for asset in assets:
        response = http.get(gw.url(asset))
        assert response.status_code == 200 and len(response.content) > 50, asset
    assert not re.search(r'(?:src|href)="https?://', page.text)
    assert http.get(gw.url("/docs/..%2f..%2fsetup.py")).status_code == 404


def test_request_id_in_and_out(gw, http):
    response = http.get(gw.url("/health"), headers={"X-Request-ID": "frontend-42"})
    assert response.headers["X-Request-ID"] == "frontend-42"
    generated = http.get(gw.url("/health"), headers={"X-Request-ID": "bad id with spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["X-Request-ID"])
    problem = http.get(gw.url("/v1/cases"), headers={"X-Request-ID": "frontend-43"})
    assert problem.json()["request_id"] == "frontend-43"


def test_request_id_travels_into_events(gw, http, auth):
    http.post(gw.url("/v1/persons"), json=person_body(), headers={**auth(), "X-Request-ID": "trace-me"})
    from sqlalchemy import create_engine, text
    engine = create_engine(gw.urls["intake"])
    with engine.connect() as conn:
        body = conn.execute(text("SELECT body FROM outbox")).scalar_one()
    engine.dispose()
    assert "trace-me" in str(body)


def test_cors_per_origin(gw, http):
    allowed = "https://kim.luedenscheid.example.org"
    response = http.get(gw.url("/health"), headers={"Origin": allowed})
    assert response.headers["Access-Control-Allow-Origin"] == allowed
    assert "Access-Control-Allow-Origin" not in http.get(gw.url("/health"),
                                                         headers={"Origin": "https://evil.example"}).headers
    preflight = http.options(gw.url("/v1/persons"), headers={
        "Origin": allowed, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type"})
    assert preflight.status_code == 204 and "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]


def test_etag_and_if_match_prevent_lost_updates(gw, http, auth):
    lead = auth("team_lead")
    created = http.post(gw.url("/v1/case-managers"), headers=lead, json={
        "name": "Test CM", "username": "cm-1", "employer": "municipality", "hours_per_week": 39,
        "coverage": [{"municipality": LUEDENSCHEID, "weekdays": ["mon"]}]})
    assert created.status_code == 201, created.text
    url = gw.url(created.headers["Location"])
    etag = http.get(url, headers=lead).headers["ETag"]
    body = {"capacity": 40}
    assert http.patch(url, json=body, headers=lead).status_code == 428
    first = http.patch(url, json=body, headers={**lead, "If-Match": etag})
    assert first.status_code == 200 and first.headers["ETag"] == '"2"'
    second = http.patch(url, json={"capacity": 30}, headers={**lead, "If-Match": etag})
    assert second.status_code == 412 and second.headers["Content-Type"] == "application/problem+json"
    assert http.get(url, headers=lead).json()["capacity"] == 40
    assert http.patch(url, json=body, headers={**lead, "If-Match": "garbage"}).status_code == 422


def test_cursor_pagination_over_http(gw, http, auth):
    lead = auth("team_lead")
    ids = {http.post(gw.url("/v1/persons"), json=person_body(confirmed_new=True), headers=lead).json()["id"]
           for _ in range(5)}  # the same person five times: past the duplicate check
    poll(lambda: len(http.get(gw.url("/v1/cases"), params={"limit": 100}, headers=lead).json()["items"]) == 5)
    seen, cursor = [], None
    while True:
        page = http.get(gw.url("/v1/cases"), params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                        headers=lead).json()
        seen += [c["person_id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)


def test_metrics_count_requests_per_route_and_status(gw, http, auth):
    http.get(gw.url("/v1/cases"), headers=auth())
    http.get(gw.url("/v1/cases"))
    text = http.get(gw.url("/metrics")).text
    assert re.search(r'kim_http_requests_total\{method="GET",route="/v1/cases",status="200"\} 1\.0', text)
    assert re.search(r'kim_http_requests_total\{method="GET",route="/v1/cases",status="401"\} 1\.0', text)
    assert 'kim_http_request_duration_seconds_bucket{le="0.05",method="GET",route="/v1/cases"}' in text


def test_ready_reports_each_dependency(gw, http):
    ready = http.get(gw.url("/ready"))
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"broker": "ok", "intake": "ok", "casework": "ok", "referrals": "ok",
                                      "analytics": "ok"}


def test_unexpected_error_is_a_500_problem_with_request_id(gw, http, auth, monkeypatch):
    def explode(self, *args, **kwargs):
        raise RuntimeError("secret internals /etc/passwd")
    monkeypatch.setattr(GatewayService, "_call", explode)
    response = http.get(gw.url("/v1/cases"), headers={**auth(), "X-Request-ID": "boom-1"})
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["request_id"] == "boom-1"
    assert "secret internals" not in response.text and "Traceback" not in response.text


def test_unknown_route_and_method(gw, http):
    assert http.get(gw.url("/v2/nothing")).json()["status"] == 404
    response = http.delete(gw.url("/v1/persons"))
    assert response.status_code == 405 and response.headers["Content-Type"] == "application/problem+json"


def test_openapi_documents_the_headers_each_route_sends(gw, http, auth):
    spec = http.get(gw.url("/openapi.json")).json()
    created = spec["paths"]["/v1/persons"]["post"]["responses"]["201"]["headers"]
    assert {"Location", "ETag", "X-Request-ID"} <= set(created)
    response = http.post(gw.url("/v1/persons"), json=person_body(), headers=auth())
    assert all(name in response.headers for name in ("Location", "ETag", "X-Request-ID"))
    for route in ROUTES:
        for status, documented in spec["paths"][route.openapi_path][route.method.lower()]["responses"].items():
            assert "X-Request-ID" in documented["headers"], (route.name, status)
