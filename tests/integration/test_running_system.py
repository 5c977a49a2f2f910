"""The system as an operator runs it: `kim up` starts every service as its own process; it answers, is fuzzed
with schemathesis against its own /openapi.json, and stops cleanly on SIGTERM."""
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import LUEDENSCHEID, person_body, poll

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def system(rabbit_config, tmp_path):
    env = {**os.environ, "AMQP_URI": rabbit_config["AMQP_URI"], "KIM_DATA_DIR": str(tmp_path / "data"),
           "KIM_GATEWAY_ADDRESS": f"127.0.0.1:{free_port()}", "KIM_LOG_LEVEL": "WARNING"}
    env.pop("KIM_JWT_SECRET")  # `kim up` generates and keeps one
    # a file, not a pipe: a pipe nobody reads fills up and blocks the services' logging
    log = tmp_path / "kim.log"
    proc = subprocess.Popen([str(BIN / "kim"), "up"], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            text=True)
    proc.log = log
    up = poll(lambda: proc.poll() is not None or "KIM is up" in log.read_text(), timeout=90)
    assert up and proc.poll() is None, log.read_text()
    proc.url = f"http://{env['KIM_GATEWAY_ADDRESS']}"
    proc.env = env
    assert f"KIM is up: {proc.url}" in log.read_text()
    yield proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=30)


def token(system, role="team_lead"):
    out = subprocess.run([str(BIN / "kim"), "token", "--role", role, "--municipality", LUEDENSCHEID],
                         env=system.env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_kim_up_serves_and_stops_cleanly(system):
    headers = {"Authorization": f"Bearer {token(system)}"}
    person = requests.post(f"{system.url}/v1/persons", json=person_body(), headers=headers, timeout=10).json()
    case = poll(lambda: requests.get(f"{system.url}/v1/cases", params={"person_id": person["id"]},
                                     headers=headers, timeout=10).json()["items"])
    assert case[0]["status"] == "intake"
    assert (Path(system.env["KIM_DATA_DIR"]) / "intake.db").exists()
    for name in ("gateway", "intake", "casework"):  # the containers' health check
        assert subprocess.run([str(BIN / "kim"), "health", name], env=system.env, timeout=30).returncode == 0

    system.send_signal(signal.SIGTERM)
    assert system.wait(timeout=30) == 0
    rest = system.log.read_text()
    assert "stopping" in rest
    assert "Traceback" not in rest
    # a clean stop: nothing left for the container to kill (it would say so as a warning)
    assert not [line for line in rest.splitlines() if " WARNING " in line or " ERROR " in line]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{system.url}/health", timeout=2)
    assert subprocess.run([str(BIN / "kim"), "health", "gateway"], env=system.env, timeout=30,
                          capture_output=True).returncode == 1


def test_services_do_not_outlive_a_killed_supervisor(system):
    children = subprocess.run(["pgrep", "-P", str(system.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) == 3
    system.kill()  # SIGKILL: `kim up` cannot stop its services itself
    system.wait()
    poll(lambda: not any(Path(f"/proc/{pid}").exists() for pid in children), timeout=20)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(system):
    result = subprocess.run(
        [str(BIN / "schemathesis"), "run", f"{system.url}/openapi.json",
         "-H", f"Authorization: Bearer {token(system)}",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                     "response_schema_conformance,negative_data_rejection",
         "--max-examples", os.environ.get("KIM_FUZZ_EXAMPLES", "25"), "--workers", "2", "--seed", "1"],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:] + system.log.read_text()[-4000:]
    assert "passed" in result.stdout
