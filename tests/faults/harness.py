"""The fault suite's tools: a private RabbitMQ node and PostgreSQL cluster (so stopping them disturbs nothing
else on the machine), `kim up` as an operator runs it, a retrying registration load and the after-the-fault
accounting.

Used by tests/faults (the short cases, in `make test`) and bench/faults.py (the long ones, `make faults`).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from tests.conftest import BIN, free_port, kim_token, person_body, poll

SERVICES = ("intake", "casework", "analytics", "gateway")


def server_folder(kind: str) -> Path:
    """A folder the server's own user can reach (pytest's tmp_path is private to root)."""
    base = Path(tempfile.gettempdir()) / "kim-faults"
    base.mkdir(mode=0o755, exist_ok=True)
    base.chmod(0o755)
    return Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=base))


def _as_owner(owner: str, command: list[str], **kwargs):
    """Run a server command as its own system user (neither RabbitMQ nor PostgreSQL runs as root)."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", owner, "--", *command]
    return subprocess.run(command, **kwargs)


class PrivateBroker:
    """A RabbitMQ node of its own (own name, port, data), stopped and started like a real broker restart."""

    def __init__(self):
        self.folder = folder = server_folder("rabbitmq")
        self.port = free_port()
        self.node = f"kimfault{self.port}@localhost"
        self.env = {**os.environ, "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_PORT": str(self.port),
                    "RABBITMQ_DIST_PORT": str(free_port()), "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
                    "RABBITMQ_LOG_BASE": str(folder / "log"), "RABBITMQ_PID_FILE": str(folder / "pid"),
                    "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "plugins"),
                    "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq")}
        self.uri = f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self) -> "PrivateBroker":
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "plugins").write_text("[].\n")
        (self.folder / "rabbitmq.conf").write_text("loopback_users = none\n")
        shutil.chown(self.folder, "rabbitmq")
        subprocess.run(["rabbitmq-server", "-detached"], env=self.env, check=True, capture_output=True)
        self._await()
        return self

    def _ctl(self, *args, check=True, timeout=60):
        return subprocess.run(["rabbitmqctl", "-q", "-n", self.node, *args], env=self.env, check=check,
                              capture_output=True, text=True, timeout=timeout)

    def _await(self):
        poll(lambda: self._ctl("await_startup", check=False).returncode == 0, 60, 0.5)

    def add_vhost(self, name: str):
        self._ctl("add_vhost", name)
        self._ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")

    def bind_listener(self, exchange: str, queue: str, vhost: str = ""):
        """A durable queue for every event on `exchange`, as a partner service would bind: with it, events
        without a KIM consumer are routable, so the outboxes drain."""
        from kombu import Connection, Exchange, Queue

        with Connection(self.uri + vhost) as conn:
            Queue(queue, Exchange(exchange, type="topic", durable=True), routing_key="#",
                  durable=True)(conn.default_channel).declare()

    def stop_app(self):
        self._ctl("stop_app")

    def start_app(self):
        self._ctl("start_app")
        self._await()

    def shutdown(self):
        self._ctl("stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


class PrivatePostgres:
    """A PostgreSQL cluster of its own (initdb in a temporary folder, its own port), restartable at will."""

    def __init__(self):
        self.folder = server_folder("postgres")
        self.port = free_port()
        versions = sorted(Path("/usr/lib/postgresql").iterdir())
        self.bin = versions[-1] / "bin"

    def start(self) -> "PrivatePostgres":
        self.folder.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.folder, "postgres")
        _as_owner("postgres", [str(self.bin / "initdb"), "-D", str(self.folder / "data"), "-A", "trust",
                               "-U", "postgres", "--no-sync"], check=True, capture_output=True)
        self._pg_ctl("start")
        return self

    def _pg_ctl(self, action: str, *extra):
        _as_owner("postgres", [str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-w", "-t", "60",
                               "-l", str(self.folder / "log"),
                               "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off",
                               *extra, action], check=True, capture_output=True)

    def create_databases(self, names) -> dict[str, str]:
        import psycopg2

        admin = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        admin.autocommit = True
        with admin.cursor() as cur:
            for name in names:
                cur.execute(f'CREATE DATABASE "{name}"')
        admin.close()
        return {n: f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{n}" for n in names}

    def restart(self):
        self._pg_ctl("restart", "-m", "fast")

    def shutdown(self):
        try:
            self._pg_ctl("stop", "-m", "immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)


class KimSystem:
    """`kim up` as its own process, against the given broker and databases."""

    def __init__(self, folder: Path, amqp_uri: str, db_urls: dict[str, str] | None = None, **extra_env):
        self.folder = folder
        self.db_urls = db_urls or {s: f"sqlite:///{folder / 'data' / f'{s}.db'}" for s in SERVICES}
        self.url = None
        self.env = {**os.environ, "AMQP_URI": amqp_uri, "KIM_DATA_DIR": str(folder / "data"),
                    "KIM_GATEWAY_ADDRESS": f"127.0.0.1:{free_port()}", "KIM_LOG_LEVEL": "INFO",
                    "KIM_RPC_TIMEOUT": "3", "KIM_OUTBOX_POLL_SECONDS": "0.5", **extra_env}
        self.env.pop("KIM_JWT_SECRET", None)
        for service in SERVICES:
            self.env.pop(f"KIM_{service.upper()}_DB_URL", None)
        if db_urls:
            self.env.update({f"KIM_{s.upper()}_DB_URL": url for s, url in db_urls.items()})
        self.log = folder / "kim.log"
        self.proc = None

    def start(self, timeout: float = 90) -> "KimSystem":
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([str(BIN / "kim"), "up"], env=self.env, stdout=self.log.open("w"),
                                     stderr=subprocess.STDOUT)
        poll(lambda: self.proc.poll() is not None or "KIM is up" in self.log.read_text(), timeout, 0.2)
        assert self.proc.poll() is None, self.log.read_text()[-4000:]
        self.url = f"http://{self.env['KIM_GATEWAY_ADDRESS']}"
        return self

    def token(self, role: str = "team_lead") -> str:
        return kim_token(self, role)

    def pids(self) -> dict[str, int]:
        """The running service processes of this `kim up`, by name."""
        found = {}
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        for pid in map(int, out.split()):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"run" in argv:
                found[argv[argv.index(b"run") + 1].decode()] = pid
        return found

    def kill(self, service: str, sig=signal.SIGKILL) -> int:
        pid = self.pids()[service]
        os.kill(pid, sig)
        return pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 40) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode

    def query(self, service: str, sql: str):
        engine = create_engine(self.db_urls[service])
        try:
            with engine.connect() as conn:
                return conn.execute(text(sql)).all()
        finally:
            engine.dispose()


@dataclass
class Outcome:
    key: str
    statuses: list = field(default_factory=list)  # every answer, in order: an int, or "dropped"
    person_id: str | None = None
    done_at: float | None = None


@dataclass
class Load:
    """`clients` threads register `total` persons; each registration has its own Idempotency-Key and is
    retried with it (after a 503 or a dropped connection) until it answers 201 or `give_up_after` passes."""

    system: KimSystem
    total: int = 300
    clients: int = 8
    give_up_after: float = 120.0
    pause: float = 0.0  # between a client's registrations: stretches the load over the fault
    outcomes: list[Outcome] = field(default_factory=list)
    bad_answers: list = field(default_factory=list)  # anything but 201 and 503 problem+json

    def __post_init__(self):
        self._next = iter(range(self.total))
        self._lock = threading.Lock()
        self._threads = []
        self._token = self.system.token()

    def start(self) -> "Load":
        for _ in range(self.clients):
            thread = threading.Thread(target=self._client, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def join(self, timeout: float = 300) -> "Load":
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self._threads), "the load did not finish"
        return self

    def _take(self):
        with self._lock:
            return next(self._next, None)

    def _client(self):
        session = requests.Session()
        headers = {"Authorization": f"Bearer {self._token}"}
        while (index := self._take()) is not None:
            outcome = Outcome(key=str(uuid.uuid4()))
            # one birth date for all: past the duplicate check
            body = person_body(given_name=f"Fault{index}", birth_date="1990-01-01", confirmed_new=True)
            deadline = time.monotonic() + self.give_up_after
            while time.monotonic() < deadline:
                try:
                    response = session.post(f"{self.system.url}/v1/persons", json=body, timeout=30,
                                            headers={**headers, "Idempotency-Key": outcome.key})
                except requests.RequestException:
                    outcome.statuses.append("dropped")
                    session = requests.Session()
                    time.sleep(0.5)
                    continue
                outcome.statuses.append(response.status_code)
                if response.status_code == 201:
                    outcome.person_id = response.json()["id"]
                    outcome.done_at = time.time()
                    break
                if response.status_code != 503 or \
                        response.headers.get("Content-Type") != "application/problem+json" or \
                        "Retry-After" not in response.headers:
                    self.bad_answers.append((response.status_code, response.text[:300]))
                    break
                time.sleep(min(1.0, float(response.headers["Retry-After"])))
            with self._lock:
                self.outcomes.append(outcome)
            if self.pause:
                time.sleep(self.pause)

    def count(self, status) -> int:
        return sum(o.statuses.count(status) for o in self.outcomes)


@dataclass
class Report:
    registrations: int
    answered_201: int
    answered_503: int
    dropped: int
    bad_answers: int
    persons: int
    lost: int  # a 201 without its person, or without a case after the wait
    doubled: int  # more persons than registrations answered 201, or more than one case for a person
    outbox_pending: dict
    unprocessed_events: int
    seconds_to_last_case: float | None  # the longest a case took after `since` (the fault's end) or its person
    not_in_analytics: int  # a 201 whose person_registered or case_opened analytics has not archived

    def as_row(self) -> dict:
        return self.__dict__.copy()


def settle(system: KimSystem, load: Load, since: float, timeout: float = 30) -> Report:
    """Wait until every 201 has its case and the outboxes are drained (or timeout), then account."""
    ids = {o.person_id for o in load.outcomes if o.person_id}

    def cases():
        rows = system.query("casework", "SELECT person_id, count(*) FROM cases GROUP BY person_id")
        return {person_id: count for person_id, count in rows}

    def drained():
        return all(system.query(s, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")[0][0] == 0
                   for s in ("intake", "casework"))
    def in_analytics() -> dict[str, set]:
        rows = system.query("analytics", "SELECT event_type, person_id FROM analytics_events "
                                         "WHERE event_type IN ('person_registered', 'case_opened')")
        seen: dict[str, set] = {"person_registered": set(), "case_opened": set()}
        for event_type, person_id in rows:
            seen[event_type].add(person_id)
        return seen

    def counted() -> bool:
        seen = in_analytics()
        return ids <= seen["person_registered"] and ids <= seen["case_opened"]
    try:  # every case opened, outboxes drained, both events archived by analytics
        poll(lambda: ids <= set(cases()) and drained() and counted(), timeout, 0.2)
    except AssertionError:
        pass
    case_counts = cases()
    persons = {r[0] for r in system.query("intake", "SELECT id FROM persons")}
    registered_events = system.query("intake",
                                     "SELECT count(*) FROM outbox WHERE routing_key = 'person_registered'")[0][0]
    processed = system.query("casework",
                             "SELECT count(*) FROM processed_events WHERE consumer = 'casework.open_case'")[0][0]
    created = {r[0]: _utc(r[1]) for r in system.query("intake", "SELECT id, created_at FROM persons")}
    opened = {r[0]: _utc(r[1]) for r in system.query("casework", "SELECT person_id, opened_at FROM cases")}
    # how long each case took once it could be opened: after its person was stored and the broker was back
    lags = [opened[p].timestamp() - max(created[p].timestamp(), since) for p in opened if p in created]
    seconds = round(max(0.0, *lags), 2) if lags else None
    archived = in_analytics()
    return Report(
        registrations=len(load.outcomes), answered_201=load.count(201), answered_503=load.count(503),
        dropped=load.count("dropped"), bad_answers=len(load.bad_answers), persons=len(persons),
        lost=len(ids - persons) + len(ids - set(case_counts)),
        doubled=max(0, len(persons) - len(ids)) + sum(1 for n in case_counts.values() if n > 1),
        outbox_pending={s: system.query(s, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")[0][0]
                        for s in ("intake", "casework")},
        unprocessed_events=registered_events - processed,
        seconds_to_last_case=seconds,
        not_in_analytics=len(ids - (archived["person_registered"] & archived["case_opened"])))


def _utc(value):
    from datetime import datetime, timezone

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def log_problems(system: KimSystem) -> list[str]:
    """Lines of the `kim up` log that say a process died or a thread crashed."""
    pattern = re.compile(r"Traceback|exited with|thread exited|stopping$")
    return [line for line in system.log.read_text().splitlines() if pattern.search(line)]


def dump(report: Report) -> str:
    return json.dumps(report.as_row(), indent=None)
