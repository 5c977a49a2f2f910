"""Adversarial tests of the gateway, against the whole system on the real broker (in-process `stack`): each
reproduces a finding of the security review and checks that it stays fixed. docs/security.md maps them to ASVS."""
import gc
import json
import logging
import random
import re
import socket
import statistics
import string
import time
import uuid

import eventlet
import pytest
import requests
from sqlalchemy import create_engine, text

from gateway.http import (MAX_JSON_DEPTH, MISSING_TOKEN_DETAIL, ROUTES, UNAUTHENTICATED_DETAIL, ApiServer,
                          json_depth_exceeds)
from gateway.service import GatewayService
from services.shared.logs import SafeFormatter, escape_control
from tests.conftest import KIERSPE, LUEDENSCHEID, MEINERZHAGEN, person_body, poll

pytestmark = pytest.mark.integration

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def entries(stack, where="1=1"):
    engine = create_engine(stack.urls["gateway"])
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(f"SELECT * FROM audit_entries WHERE {where} "
                                                                "ORDER BY id"))]
    finally:
        engine.dispose()


@pytest.fixture
def gw(start_stack, sqlite_urls):
    return start_stack(sqlite_urls)


def register(stack, http, headers, **overrides):
    person = http.post(stack.url("/v1/persons"), json=person_body(**overrides), headers=headers).json()
    case = poll(lambda: http.get(stack.url("/v1/cases"), params={"person_id": person["id"]},
                                 headers=headers).json()["items"])[0]
    return person, case


@pytest.fixture
def world(gw, http, auth):
    lead = auth("team_lead", [LUEDENSCHEID], sub="lead-1")
    person, case = register(gw, http, lead)
    return gw, person, case, lead


def spellings(value: str) -> dict[str, str]:
    """Every other way to write the same UUID."""
    return {"upper": value.upper(), "no-dashes": value.replace("-", ""), "braces": "{" + value + "}",
            "urn": "urn:uuid:" + value, "mixed": re.sub("[a-f]", lambda m: m.group().upper(), value, count=1),
            "upper-urn": "URN:UUID:" + value,
            "trailing-newline": value + "\n", "padded": " " + value}


# 1. audit bypass by id spelling -----------------------------------------------------------------------------

@pytest.mark.parametrize("spelling", list(spellings(str(uuid.uuid4()))))
def test_every_other_spelling_of_an_id_is_refused_and_leaves_no_anonymous_read(world, http, spelling):
    stack, person, case, lead = world
    before = len(entries(stack))
    probes = [(f"/v1/persons/{spellings(person['id'])[spelling]}", None, "person_id"),
              (f"/v1/cases/{spellings(case['id'])[spelling]}", None, "case_id"),
              ("/v1/cases", {"person_id": spellings(person["id"])[spelling]}, "person_id")]
    for path, params, field in probes:
        response = http.get(stack.url(path), params=params, headers=lead)
        assert response.status_code in (404, 422), (path, params, response.status_code)
        assert response.headers["Content-Type"] == "application/problem+json"
        assert "Testperson" not in response.text
        if response.status_code == 422:
            assert field in [e["field"] for e in response.json()["errors"]], response.text
    new = entries(stack)[before:]
    # nothing was read, and no entry claims a successful read without naming whose record it was
    assert all(e["status"] != 200 for e in new)


def test_canonical_reads_are_audited_under_the_returned_records_ids(world, http):
    stack, person, case, lead = world
    before = len(entries(stack))
    assert http.get(stack.url(f"/v1/persons/{person['id']}"), headers=lead).status_code == 200
    assert http.get(stack.url(f"/v1/cases/{case['id']}"), headers=lead).status_code == 200
    assert http.get(stack.url("/v1/cases"), params={"person_id": person["id"]}, headers=lead).status_code == 200
    new = entries(stack)[before:]
    assert [e["action"] for e in new] == ["person.read", "case.read", "case.list"]
    assert all(e["person_id"] == person["id"] and e["municipality"] == LUEDENSCHEID for e in new)
    assert new[1]["case_id"] == new[2]["case_id"] == case["id"]
    # no successful read of personal data is ever filed without whose data it was
    assert not [e for e in entries(stack) if e["status"] == 200 and e["action"] != "case.list"
                and e["person_id"] is None]


# 2. deep JSON -------------------------------------------------------------------------------------------------

def deep(levels: int, leaf="x") -> str:
    return "[" * levels + json.dumps(leaf) + "]" * levels


def test_depth_scan_counts_arrays_and_objects_and_skips_strings():
    assert not json_depth_exceeds(deep(MAX_JSON_DEPTH))
    assert json_depth_exceeds(deep(MAX_JSON_DEPTH + 1))
    assert json_depth_exceeds('{"a":' * 40 + "1" + "}" * 40)
    assert not json_depth_exceeds(json.dumps({"s": "[" * 1000 + '\\"{{{{' * 100}))
    assert json_depth_exceeds("[" * 60000)  # no recursion limit involved


@pytest.mark.parametrize("body", [deep(960), '{"given_name": ' + deep(100) + "}", "[" * 60000,
                                  '{"a":' * 33 + "1" + "}" * 33])
def test_deeply_nested_json_is_refused_before_any_rpc(gw, http, auth, body, monkeypatch):
    calls = []
    monkeypatch.setattr(GatewayService, "_call", lambda self, *a, **k: calls.append(a))
    started = time.perf_counter()
    response = http.post(gw.url("/v1/persons"), data=body, headers={**auth(), "Content-Type": "application/json"})
    assert response.status_code == 422 and response.headers["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["body"]
    assert time.perf_counter() - started < 1 and calls == []


def test_deep_json_floods_leave_health_and_reads_fast(world, http, auth):
    stack, person, case, lead = world
    body = deep(960)
    pool = eventlet.GreenPool(40)

    def flood(_):
        with requests.Session() as s:
            return s.post(stack.url("/v1/persons"), data=body,
                          headers={**lead, "Content-Type": "application/json"}).status_code

    def timed(path):
        with requests.Session() as s:
            started = time.perf_counter()
            status = s.get(stack.url(path), headers=lead).status_code
            return status, time.perf_counter() - started

    timed("/health")  # warm up
    gc.collect()  # the garbage of earlier tests in this process is not what is measured here
    flooding = [pool.spawn(flood, i) for i in range(20)]
    eventlet.sleep(0)
    health = pool.spawn(timed, "/health")
    reads = [pool.spawn(timed, f"/v1/persons/{person['id']}") for _ in range(3)]
    assert [g.wait() for g in flooding] == [422] * 20
    (h_status, h_seconds), answers = health.wait(), [r.wait() for r in reads]
    assert h_status == 200 and h_seconds < 0.05, h_seconds
    assert [status for status, _ in answers] == [200] * 3
    assert statistics.median(seconds for _, seconds in answers) < 0.2, answers


def test_health_needs_no_worker_slot(start_stack, sqlite_urls, http, auth, monkeypatch):
    stack = start_stack(sqlite_urls, max_workers=2)
    monkeypatch.setattr(GatewayService, "_call", lambda self, *a, **k: eventlet.sleep(1))
    pool = eventlet.GreenPool(10)
    slow = [pool.spawn(requests.get, stack.url("/v1/cases"), headers=auth()) for _ in range(3)]
    eventlet.sleep(0.2)  # every worker slot is taken now
    started = time.perf_counter()
    assert requests.get(stack.url("/health")).status_code == 200
    assert time.perf_counter() - started < 0.05
    assert requests.get(stack.url("/metrics")).status_code == 200
    for g in slow:
        g.wait()


# 3. metrics stay bounded ------------------------------------------------------------------------------------

def raw_requests(host, port, lines: list[bytes]) -> list[int]:
    """Send requests over one keep-alive connection (fast); returns the status codes."""
    statuses = []
    with socket.create_connection((host, port)) as sock:
        reader = sock.makefile("rb")
        for line in lines:
            sock.sendall(line + b"\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            status = int(reader.readline().split()[1])
            length = 0
            while (header := reader.readline()) not in (b"\r\n", b""):
                name, _, value = header.decode("latin1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            reader.read(length)
            statuses.append(status)
    return statuses


def test_made_up_methods_and_paths_do_not_grow_the_metrics(gw, http):
    host, port = gw.base_url.removeprefix("http://").split(":")
    rng = random.Random(7)
    lines = []
    for i in range(10_000):
        method = "".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 12)))
        path = "/" + "".join(rng.choices(string.ascii_lowercase, k=8)) if i % 2 else "/v1/cases"
        lines.append(f"{method} {path} HTTP/1.1".encode())
    pool = eventlet.GreenPool(4)
    statuses = [s for chunk in pool.imap(lambda c: raw_requests(host, int(port), c),
                                         [lines[i::4] for i in range(4)]) for s in chunk]
    assert set(statuses) == {405}
    one = http.request("FOOBAR", gw.url("/v1/cases"))
    assert one.status_code == 405 and one.headers["Content-Type"] == "application/problem+json"
    assert one.headers["Allow"] == "GET, HEAD"
    metrics = http.get(gw.url("/metrics"))
    assert len(metrics.content) < 100_000
    methods = set(re.findall(r'method="([^"]*)"', metrics.text))
    assert methods <= {"GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS", "HEAD", "other"}
    routes = set(re.findall(r'route="([^"]*)"', metrics.text))
    assert routes <= {"unmatched"} | {r.path for r in ROUTES}
    assert re.search(r'kim_http_requests_total\{method="other",route="unmatched",status="405"\} 10001\.0',
                     metrics.text)


# 4. case lists are traceable ----------------------------------------------------------------------------------

@pytest.mark.parametrize("db_backend", ["sqlite", "postgresql"])
def test_a_case_list_leaves_one_entry_per_returned_case(stack, http, auth, db_backend):
    own = auth("team_lead", [LUEDENSCHEID])
    other = auth("team_lead", [MEINERZHAGEN])
    a, case_a = register(stack, http, own)
    b, case_b = register(stack, http, other, municipality=MEINERZHAGEN)
    both = auth("team_lead", [LUEDENSCHEID, MEINERZHAGEN], sub="two-towns")
    before = len(entries(stack))
    page = http.get(stack.url("/v1/cases"), headers={**both, "X-Request-ID": "list-1"}).json()
    assert {c["id"] for c in page["items"]} == {case_a["id"], case_b["id"]}
    new = entries(stack)[before:]
    assert len(new) == 2 and {e["request_id"] for e in new} == {"list-1"}
    assert {(e["person_id"], e["case_id"], e["municipality"]) for e in new} == {
        (a["id"], case_a["id"], LUEDENSCHEID), (b["id"], case_b["id"], MEINERZHAGEN)}
    # each town's DPO finds the list read by person_id, and only their own town's
    for person, town in ((a, LUEDENSCHEID), (b, MEINERZHAGEN)):
        found = http.get(stack.url("/v1/audit"), params={"person_id": person["id"]},
                         headers=auth("data_protection_officer", [town])).json()["items"]
        assert [e for e in found if e["action"] == "case.list" and e["actor"] == "two-towns"]
        assert all(e["municipality"] == town for e in found)
    # an empty list still leaves one entry
    before = len(entries(stack))
    empty = http.get(stack.url("/v1/cases"), headers=auth("team_lead", [KIERSPE], sub="empty")).json()
    assert empty["items"] == []
    (entry,) = entries(stack)[before:]
    assert entry["actor"] == "empty" and entry["municipality"] == KIERSPE and entry["case_id"] is None


# 5. the low findings --------------------------------------------------------------------------------------------

def test_failed_authentication_is_audited_without_the_token(world, http):
    stack, person, case, lead = world
    before = len(entries(stack))
    forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."
    for headers in ({}, {"Authorization": f"Bearer {forged}"}, {"Authorization": "Bearer not.a.jwt"}):
        response = http.get(stack.url(f"/v1/persons/{person['id']}"), headers=headers)
        assert response.status_code == 401
        # a fixed text: nothing of the JWT library's internals
        assert response.json()["detail"] in (UNAUTHENTICATED_DETAIL, MISSING_TOKEN_DETAIL)
        assert not re.search(r"jwt|signature|segments|decode|padding|header", response.text, re.I)
    new = entries(stack)[before:]
    assert [e["action"] for e in new] == ["auth.failed"] * 3
    assert all(e["person_id"] == person["id"] and e["status"] == 401 for e in new)
    assert forged not in repr(new) and "not.a.jwt" not in repr(new)


def test_client_request_ids_may_collide_the_server_ids_do_not(world, http):
    stack, person, case, lead = world
    for _ in range(2):
        http.get(stack.url(f"/v1/persons/{person['id']}"), headers={**lead, "X-Request-ID": "same"})
    same = entries(stack, "request_id = 'same'")
    assert len(same) == 2
    assert all(re.fullmatch(r"[0-9a-f]{32}", e["server_request_id"]) for e in same)
    assert same[0]["server_request_id"] != same[1]["server_request_id"]


def test_security_headers(world, http):
    stack, person, case, lead = world
    for path, headers in ((f"/v1/persons/{person['id']}", lead), ("/v1/cases", {}), ("/health", {}),
                          ("/docs/swagger-ui.css", {}), ("/nothing", {})):
        response = http.get(stack.url(path), headers=headers)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert "Server" not in response.headers, path
        if path.startswith("/v1"):
            assert response.headers["Cache-Control"] == "no-store", path


def test_eventlets_own_error_pages_name_no_server(gw):
    host, port = gw.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        headers = "".join(f"X-H{i}: {i}\r\n" for i in range(150))
        sock.sendall(f"GET /health HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431") or head.startswith(b"HTTP/1.0 431"), head
    assert b"\r\nServer:" not in head and b"Python" not in answer and b"eventlet" not in answer.lower()
    assert json.loads(body)["status"] == 431
    too_long = requests.get(gw.url("/v1/cases"), params={"x": "y" * 9000})
    assert too_long.status_code == 414 and too_long.headers["Content-Type"] == "application/problem+json"
    assert too_long.json()["status"] == 414 and "Server" not in too_long.headers


def test_the_server_times_out_idle_and_slow_clients_and_caps_connections(gw):
    (container,) = [c for c in gw.runner.containers if c.service_name == "gateway"]
    server = container.shared_extensions[ApiServer]
    assert server._serv.socket_timeout == ApiServer.SOCKET_TIMEOUT <= 60
    assert server._serv.keepalive == ApiServer.KEEPALIVE_TIMEOUT <= 60
    assert server._connections.balance <= ApiServer.MAX_CONNECTIONS


def test_ready_is_cached(gw, http, monkeypatch):
    import gateway.service as service
    calls = []
    real = service.check_broker
    monkeypatch.setattr(service, "check_broker", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(GatewayService, "_ready_cache", None)
    for _ in range(5):
        assert http.get(gw.url("/ready")).status_code == 200
    assert len(calls) == 1
    monkeypatch.setattr(GatewayService, "_ready_cache", (time.monotonic() - 1, None))
    assert http.get(gw.url("/ready")).status_code == 200 and len(calls) == 2


def test_escape_control():
    assert escape_control("a\r\nb\x00c\x1b[31md\u2028") == "a\\r\\nb\\x00c\\x1b[31md\\u2028"
    assert escape_control("ü ok") == "ü ok"


def test_log_injection_and_expected_errors(world, http, auth, caplog):
    stack, person, case, lead = world
    caplog.set_level(logging.DEBUG)
    probes = ["/docs/x%0d%0a2026-11-28 00:00:00,000 ERROR gateway [-] forged: line",
              "/docs/%00%1b[31mred", "/v1/persons/%0d%0aforged", "/v1/cases/%1b%00"]
    for path in probes:
        response = http.get(stack.url(path), headers=lead)
        assert response.status_code in (404, 422) and response.headers["Content-Type"] == "application/problem+json"
        assert not CONTROL.search(response.text) and "\n" not in response.text  # JSON-escaped at most
    http.get(stack.url("/v1/cases"), headers={"Authorization": "Bearer \x1b[2Jx.y.z"})
    http.get(stack.url("/v1/cases"), headers={**auth(sub="evil\x1b[2J"), "X-Request-ID": "a\x1bb"})
    http.post(stack.url("/v1/persons"), json=person_body(given_name="\r\nforged\x00"), headers=lead)
    http.get(stack.url("/v1/cases"), params={"person_id": "\r\nforged\x00"}, headers=lead)
    eventlet.sleep(0.2)
    formatter = SafeFormatter("%(asctime)s %(levelname)s gw [%(request_id)s] %(name)s: %(message)s")
    for record in caplog.records:
        record.request_id = getattr(record, "request_id", "-")
        line = formatter.format(record)
        first, *rest = line.split("\n")
        assert not CONTROL.search(line), line
        assert all(more.startswith("| ") for more in rest), line
        # an expected refusal is no error and carries no traceback
        assert record.levelno < logging.ERROR, line
        assert "forged: line" not in record.getMessage()
