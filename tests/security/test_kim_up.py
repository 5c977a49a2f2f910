"""The adversarial probes against the system as an operator runs it (`kim up`, every service its own process),
with a valid staff token; afterwards its log holds no forged line, no raw control character and no ERROR."""
import random
import re
import string
import time

import pytest
import requests

from tests.conftest import kim_token as token, person_body, poll

pytestmark = pytest.mark.integration

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


@pytest.fixture
def system(kim_up):
    return kim_up(KIM_LOG_LEVEL="INFO", KIM_RPC_TIMEOUT="5")  # INFO: every request is a line to check


def test_adversarial_probes_against_kim_up(system):
    url, lead = system.url, {"Authorization": f"Bearer {token(system)}"}
    with requests.Session() as http:
        person = http.post(f"{url}/v1/persons", json=person_body(), headers=lead, timeout=10).json()
        case = poll(lambda: http.get(f"{url}/v1/cases", params={"person_id": person["id"]}, headers=lead,
                                     timeout=10).json()["items"])[0]

        # 1. other spellings of an id are refused at the edge, naming the field
        pid, cid = person["id"], case["id"]
        for spelled in (pid.upper(), pid.replace("-", ""), "{" + pid + "}", "urn:uuid:" + pid):
            for path, params, field in ((f"/v1/persons/{spelled}", None, "person_id"),
                                        (f"/v1/cases/{spelled.replace(pid, cid)}", None, "case_id"),
                                        ("/v1/cases", {"person_id": spelled}, "person_id")):
                response = http.get(url + path, params=params, headers=lead, timeout=10)
                assert response.status_code == 422, (path, params, response.text)
                assert field in [e["field"] for e in response.json()["errors"]]
        assert http.get(f"{url}/v1/persons/{pid}", headers=lead, timeout=10).status_code == 200
        dpo = {"Authorization": f"Bearer {token(system, 'data_protection_officer')}"}
        audit = http.get(f"{url}/v1/audit", params={"person_id": pid}, headers=dpo, timeout=10).json()["items"]
        assert {"person.create", "case.list", "person.read"} <= {e["action"] for e in audit}
        assert all(e["person_id"] == pid for e in audit)

        # 2. deep JSON is refused at once, not after the RPC timeout
        started = time.perf_counter()
        response = http.post(f"{url}/v1/persons", data="[" * 960 + "]" * 960,
                             headers={**lead, "Content-Type": "application/json"}, timeout=10)
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "body"
        assert time.perf_counter() - started < 1

        # 3. made-up methods are answered 405 and counted as "other"
        rng = random.Random(3)
        for _ in range(300):
            method = "".join(rng.choices(string.ascii_uppercase, k=8))
            assert http.request(method, f"{url}/v1/x{rng.random()}", timeout=10).status_code == 405
        metrics = http.get(f"{url}/metrics", timeout=10).text
        assert len(metrics) < 100_000
        assert set(re.findall(r'method="([^"]*)"', metrics)) <= {"GET", "POST", "PATCH", "PUT", "DELETE",
                                                                  "OPTIONS", "HEAD", "other"}

        # 5. log injection probes; headers
        for path in ("/docs/x%0d%0a2026-11-28 00:00:00,000 ERROR gateway [-] forged: line", "/docs/%00%1b[2J",
                     "/v1/persons/%0d%0aforged%00"):
            response = http.get(url + path, headers=lead, timeout=10)
            assert response.status_code in (404, 422)
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        http.get(f"{url}/v1/cases", headers={"Authorization": "Bearer \x1b[2J.x.y"}, timeout=10)
        read = http.get(f"{url}/v1/cases/{cid}", headers=lead, timeout=10)
        assert read.headers["Cache-Control"] == "no-store" and "Server" not in read.headers

    system.terminate()
    assert system.wait(timeout=30) == 0
    lines = system.log.read_text(encoding="utf-8", errors="replace").split("\n")
    assert not [line for line in lines if CONTROL.search(line)]
    assert not [line for line in lines if "forged" in line and not line.startswith("20")]
    assert not [line for line in lines if " ERROR " in line or "Traceback" in line]
    # and no personal data or credential: the name, the birth date, the token
    body = person_body()
    secrets_ = (body["given_name"], body["family_name"], body["birth_date"], lead["Authorization"].split()[1])
    assert not [line for line in lines if any(secret in line for secret in secrets_)]
