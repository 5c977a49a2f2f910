"""`kim up`'s supervision, driven with stand-in processes and a stand-in clock."""
import pytest

from services import supervisor as sup
from services.supervisor import GaveUp, Supervisor


class FakeProcess:
    def __init__(self, name):
        self.name = name
        self.returncode = None

    def poll(self):
        return self.returncode

    def die(self, code=1):
        self.returncode = code


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def world(monkeypatch):
    monkeypatch.setattr(sup.random, "uniform", lambda a, b: 1.0)
    spawned, said, clock = [], [], Clock()

    def spawn(name):
        spawned.append(FakeProcess(name))
        return spawned[-1]
    supervisor = Supervisor(("intake", "casework", "gateway"), spawn, said.append, clock)
    supervisor.start()
    return supervisor, spawned, said, clock


def test_a_dead_service_is_restarted_after_a_backoff_and_logged(world):
    supervisor, spawned, said, clock = world
    spawned[0].die(-9)
    clock.now += 40
    supervisor.check()
    assert len(spawned) == 3 and "intake exited with -9 after 40.0 s; restarting in 0.5 s" in said
    assert set(supervisor.running()) == {"casework", "gateway"}
    clock.now += 0.6
    supervisor.check()
    assert len(spawned) == 4 and spawned[3].name == "intake" and "restarting intake" in said
    assert set(supervisor.running()) == {"intake", "casework", "gateway"}


def test_quick_deaths_back_off_longer_and_a_service_that_cannot_start_gives_up(world):
    supervisor, spawned, said, clock = world
    delays = []
    for _ in range(sup.MAX_QUICK_DEATHS - 1):
        spawned[-1 if spawned[-1].name == "gateway" else 2].die(1)
        clock.now += 1
        supervisor.check()
        restart_at = supervisor.children["gateway"].restart_at
        delays.append(round(restart_at - clock.now, 2))
        clock.now = restart_at
        supervisor.check()
    assert delays == [0.5, 1.0, 2.0, 4.0]
    spawned[-1].die(3)
    with pytest.raises(GaveUp, match="gateway could not start: it exited 5 times in a row .* \\(last exit code 3\\)"):
        supervisor.check()


def test_a_service_that_ran_long_enough_starts_a_fresh_count(world):
    supervisor, spawned, said, clock = world
    for _ in range(sup.MAX_QUICK_DEATHS + 2):  # each death after a stable run: never gives up
        current = [p for p in spawned if p.name == "casework"][-1]
        clock.now += sup.STABLE_SECONDS + 1
        current.die(1)
        supervisor.check()
        assert supervisor.children["casework"].quick_deaths == 1
        clock.now = supervisor.children["casework"].restart_at
        supervisor.check()


def test_the_suite_stops_at_once_with_one_line_when_the_management_api_is_missing(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/unit/test_supervisor.py", "-k", "restarted"],
                            cwd=root, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "KIM_TEST_RABBITMQ_API": "http://127.0.0.1:9"})
    assert result.returncode == 4
    output = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert "rabbitmq-plugins enable rabbitmq_management" in output[0]
    assert len(output) <= 3, output  # the reason (pytest repeats it in its closing banner), not a hundred errors
    assert "passed" not in result.stdout and "Traceback" not in result.stdout + result.stderr
