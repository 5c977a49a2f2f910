"""The referrals' commands as an operator runs them: kim token --provider, kim import/export offers, kim referrals
expire, kim partners add/remove (against the test's vhost)."""
import json
import os
import subprocess

import jwt
import pytest

from tests.conftest import BIN, KIERSPE, LUEDENSCHEID

pytestmark = pytest.mark.integration


def kim(*args, env=None):
    return subprocess.run([str(BIN / "kim"), *args], capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=60)


def test_partner_token_names_its_provider():
    out = kim("token", "--role", "partner", "--provider", "vhs-luedenscheid", "--municipality", LUEDENSCHEID)
    assert out.returncode == 0, out.stderr
    claims = jwt.decode(out.stdout.strip(), options={"verify_signature": False})
    assert claims["role"] == "partner" and claims["provider_id"] == "vhs-luedenscheid"


def test_import_export_and_expire(tmp_path):
    document = {"total_items": 2, "page_number": 1, "contents": [
        {"id": "kurs-1", "name": "Integrationskurs", "status": "active", "wait_time": "6 weeks",
         "organization": {"id": "vhs-mk", "name": "VHS Märkischer Kreis"}, "languages": [{"code": "de"}],
         "service_areas": [{"name": "Lüdenscheid"}, {"name": "Kierspe"}],
         "attributes": [{"taxonomy_term": {"taxonomy": "kim-life-area", "code": "language"}}],
         "minimum_age": 16},
        {"id": "broken", "name": "No area", "organization": {"name": "Somebody"}}]}
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    first = kim("import", "offers", str(path))
    assert first.returncode == 1  # one service failed: listed, the other imported
    summary = json.loads(first.stdout)
    assert (summary["created"], summary["failed"]) == (1, 1) and summary["errors"][0]["id"] == "broken"
    assert "areas" in summary["errors"][0]["errors"]
    assert json.loads(kim("import", "offers", str(path)).stdout)["updated"] == 1  # re-runnable
    exported = kim("export", "offers")
    assert exported.returncode == 0, exported.stderr
    (service,) = json.loads(exported.stdout)["contents"]
    assert service["organization"]["id"] == "vhs-mk" and service["wait_time"] == "42 days"
    assert {a["taxonomy_term"]["code"] for a in service["attributes"]} >= {LUEDENSCHEID, KIERSPE, "language"}
    expired = kim("referrals", "expire")
    assert expired.returncode == 0 and expired.stdout.startswith("0 referral(s) expired"), expired.stderr


def test_partners_add_prints_the_credentials(rabbit_config, rabbit_manager):
    env = {"AMQP_URI": rabbit_config["AMQP_URI"]}
    added = kim("partners", "add", "cli-partner-1", env=env)
    try:
        assert added.returncode == 0, added.stderr
        printed = json.loads(added.stdout)
        assert {"amqp_uri", "username", "password", "exchange", "routing_pattern", "queue_prefix"} <= set(printed)
        assert printed["exchange"] == "kim.partners" and printed["routing_pattern"] == "referral.*.cli-partner-1"
        assert printed["queue_prefix"] == "partner.cli-partner-1." and len(printed["password"]) >= 24
        assert printed["amqp_uri"].endswith(f"/{rabbit_config['vhost']}")
        perms = rabbit_manager._get("users", printed["username"], "permissions")
        assert [p["configure"] for p in perms] == [r"^partner\.cli\-partner\-1\..*$"]
        topics = rabbit_manager._get("users", printed["username"], "topic-permissions")
        assert [(t["exchange"], t["read"], t["write"]) for t in topics] == [
            ("kim.partners", r"^referral\.([a-z_]+|\*)\.cli\-partner\-1$", "^$")]
        bindings = rabbit_manager.get_queue_bindings(rabbit_config["vhost"], "partner.cli-partner-1.referrals")
        assert "referral.*.cli-partner-1" in {b["routing_key"] for b in bindings}
        assert kim("partners", "add", "Not Valid", env=env).returncode == 2
    finally:
        assert kim("partners", "remove", "cli-partner-1", env=env).returncode == 0
