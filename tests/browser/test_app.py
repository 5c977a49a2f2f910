"""The web app in a real browser (Debian's headless Chromium, driven by Playwright) against `kim up`.

The browser part runs in a child process of its own (tests/browser/flows.py, no eventlet); this test starts the
system, runs it and asserts on its JSON report: every flow passed, and axe-core found no serious or critical
violation and no script error on any screen. Screenshots: tests/browser/artifacts/ (the README's worklist.png
and case.png are refreshed from there with KIM_UPDATE_SCREENSHOTS=1)."""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

HERE = Path(__file__).parent
CHROMIUM = Path(os.environ.get("KIM_CHROMIUM", "/usr/bin/chromium"))

pytestmark = pytest.mark.integration


def run_flows(url: str, tmp_path: Path, *flows: str, timeout: int = 240, env: dict | None = None) -> dict:
    if not CHROMIUM.exists():
        message = f"no Chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    out = tmp_path / "browser.json"
    env = {**{key: value for key, value in os.environ.items() if not key.startswith("EVENTLET")}, **(env or {})}
    done = subprocess.run([sys.executable, str(HERE / "flows.py"), url, str(out), *flows], env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0 and out.exists(), done.stdout + done.stderr
    return json.loads(out.read_text(encoding="utf-8"))


def assert_report(report: dict, flows: tuple):
    for name in flows:
        result = report["flows"].get(name)
        assert result and result["ok"], (name, result and result.get("traceback"), result and result.get("page_errors"))
    assert report["screens"], "no screen was checked"
    for screen in report["screens"]:
        serious = [v for v in screen["violations"] if v["impact"] in ("serious", "critical")]
        assert serious == [], (screen["name"], serious)
        assert screen["errors"] == [], (screen["name"], screen["errors"])
        assert (HERE.parents[1] / screen["screenshot"]).stat().st_size > 0


def test_the_web_app_in_a_browser(kim_up, tmp_path):
    """Intake officer (register, errors next to fields, duplicates, search, rectify with a 412, a 503 retried
    with the same Idempotency-Key, household), data protection officer (audit, export, erasure), and the
    casework flow: case manager, team lead, partner, analyst."""
    system = kim_up()
    started = time.time()
    flows = ("intake_and_privacy", "casework")
    report = run_flows(system.url, tmp_path, *flows)
    assert_report(report, flows)
    names = {screen["name"] for screen in report["screens"]}
    assert {"05-duplicates", "21-worklist", "23-case", "24-partner-inbox", "26-team", "27-analytics"} <= names
    for shot in ("worklist", "case"):  # the README's views (KIM_UPDATE_SCREENSHOTS=1 puts them in docs/)
        made = (HERE / "artifacts" / f"{shot}.png").stat()
        assert made.st_size > 0 and made.st_mtime >= started


def test_no_development_sign_in_beside_a_real_issuer(kim_up):
    """With KIM_OIDC_ISSUER configured the development sign-in does not exist, even when asked for."""
    system = kim_up(KIM_OIDC_ISSUER="https://login.kreis.example/realms/kim", KIM_DEV_SIGNIN="1")
    config = requests.get(f"{system.url}/app/config.json", timeout=10).json()
    assert config["dev_signin"] is False and config["oidc"]["issuer"] == "https://login.kreis.example/realms/kim"
    answer = requests.post(f"{system.url}/app/dev-token", json={"role": "team_lead", "municipalities": ["05962032"]},
                           timeout=10)
    assert answer.status_code == 404, answer.text
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert "access_token" not in answer.text


def test_oidc_sign_in_with_pkce_in_a_browser(kim_up, tmp_path):
    """With an issuer configured (a fake one, tests/browser/fake_issuer.py, whose key the gateway trusts as a
    real provider's, RS256 only): the app offers only the OIDC sign-in, goes through the issuer with PKCE and
    back, is signed in and its API calls succeed with that token; a tampered state is refused."""
    from tests.browser.fake_issuer import make_keys

    key, jwks = make_keys(tmp_path / "issuer")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    issuer_url = f"http://127.0.0.1:{port}"
    system = kim_up(KIM_OIDC_ISSUER=issuer_url, KIM_DEV_SIGNIN="1", KIM_JWT_ALGORITHMS="RS256",
                    KIM_JWT_JWKS_FILE=str(jwks), KIM_JWT_ISSUER=issuer_url, KIM_JWT_AUDIENCE="kim-api")
    log = (tmp_path / "issuer.log").open("w")
    issuer = subprocess.Popen([sys.executable, str(HERE / "fake_issuer.py"), str(port), str(key),
                               f"{system.url}/app/"], stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                if requests.get(f"{issuer_url}/.well-known/openid-configuration", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        csp = requests.get(f"{system.url}/app/", timeout=10).headers["Content-Security-Policy"]
        assert f"connect-src 'self' {issuer_url};" in csp, csp
        report = run_flows(system.url, tmp_path, "oidc", timeout=120, env={
            "KIM_TEST_OIDC_ISSUER": issuer_url, "KIM_TEST_OIDC_KEY": str(key), "KIM_BROWSER_KEEP_ARTIFACTS": "1"})
    finally:
        issuer.terminate()
        issuer.wait(timeout=10)
        log.close()
    assert_report(report, ("oidc",))
    assert {"30-oidc-signin", "31-oidc-signed-in", "32-oidc-state-refused"} <= {s["name"] for s in report["screens"]}
