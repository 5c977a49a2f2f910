import eventlet

eventlet.monkey_patch()  # first of all: nameko's pytest plugin no longer does it

import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import psycopg2  # noqa: E402
import pytest  # noqa: E402
import requests  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from services.shared.auth import issue_token  # noqa: E402
from services.shared.migrations import upgrade  # noqa: E402
from services.shared.settings import Settings  # noqa: E402

TEST_SECRET = "test-only-secret-0123456789abcdef0123456789abcdef"
PG_ADMIN_DSN = "host=127.0.0.1 port=5432 dbname=postgres user=postgres"
SERVICES = ("intake", "casework", "referrals", "analytics", "gateway")
LUEDENSCHEID, MEINERZHAGEN, KIERSPE = "05962032", "05962036", "05962028"


def _preflight() -> str | None:
    """What the suite needs running, checked once: None, or one line saying what to start or enable."""
    import urllib.request

    api = os.environ.get("KIM_TEST_RABBITMQ_API", "http://127.0.0.1:15672")
    try:
        urllib.request.urlopen(
            urllib.request.Request(f"{api}/api/overview",
                                   headers={"Authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="}), timeout=3).close()
    except Exception as exc:
        return (f"RabbitMQ's management API does not answer at {api} ({type(exc).__name__}): start "
                f"RabbitMQ (`rabbitmq-server -detached`) and run `rabbitmq-plugins enable rabbitmq_management`")
    try:
        psycopg2.connect(PG_ADMIN_DSN, connect_timeout=3).close()
    except Exception as exc:
        return (f"PostgreSQL does not answer on 127.0.0.1:5432 ({type(exc).__name__}): start it "
                f"(`pg_ctlcluster --skip-systemctl-redirect <version> main start`)")
    return None


def pytest_sessionstart(session):
    if session.config.option.collectonly:
        return
    missing = _preflight()
    if missing:
        pytest.exit(missing, returncode=4)


def person_body(**overrides):
    body = {"given_name": "Olena", "family_name": "Testperson", "birth_date": "1988-04-17",
            "municipality": LUEDENSCHEID, "arrival_date": "2026-10-02",
            "residence_status": "temporary_protection", "languages": ["uk", "ru"],
            "consents": [{"purpose": "case_management", "granted_at": "2026-10-05T09:30:00Z",
                          "basis": "signed_form"}]}
    body.update(overrides)
    return body


def poll(fn, timeout=10.0, interval=0.05):
    """Call fn until it returns something truthy; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@pytest.fixture(autouse=True)
def kim_env(monkeypatch, tmp_path):
    for name in ("KIM_MUNICIPALITIES", "KIM_CORS_ORIGINS", "KIM_JWT_ALGORITHMS", "KIM_JWT_PUBLIC_KEY_FILE",
                 "KIM_JWT_JWKS_FILE", *(f"KIM_{s.upper()}_DB_URL" for s in SERVICES)):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KIM_JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("KIM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KIM_OUTBOX_POLL_SECONDS", "0.2")
    monkeypatch.setenv("KIM_RPC_TIMEOUT", "3")


@pytest.fixture
def settings():
    return Settings.load()


@pytest.fixture
def make_token(settings):
    def make(role="case_manager", municipalities=(LUEDENSCHEID,), sub=None, **kwargs):
        return issue_token(settings, sub=sub or f"test-{role}", role=role, municipalities=list(municipalities),
                           **kwargs)
    return make


@pytest.fixture
def auth(make_token):
    """Authorization headers for a role: auth("team_lead", [KIERSPE])."""
    def headers(role="case_manager", municipalities=(LUEDENSCHEID,), **kwargs):
        return {"Authorization": f"Bearer {make_token(role, municipalities, **kwargs)}"}
    return headers


@pytest.fixture(params=["sqlite", "postgresql"])
def db_backend(request):
    return request.param


class MigratedTemplates:
    """Every service's schema migrated once per test session, then copied for each test: a SQLite file copy, or
    `CREATE DATABASE ... TEMPLATE` on PostgreSQL (a test still gets fresh, migrated databases of its own). The
    PostgreSQL copies are made and dropped ahead of time by a real OS thread (a database costs PostgreSQL a
    quarter of a second to create), so the tests seldom wait for one."""

    AHEAD = 2  # sets of databases kept ready

    def __init__(self, folder: Path):
        self.folder = folder
        self.suffix = uuid.uuid4().hex[:8]
        self.pg_templates: dict[str, str] = {}
        self._work = None  # the OS thread's queue of jobs: ("create", None) / ("drop", names) / None to stop
        self._ready = None  # sets of databases made ahead: ({service: url}, [names]) or an exception
        self._thread = None

    def sqlite(self, target: Path) -> dict:
        urls = {}
        for s in SERVICES:
            template = self.folder / f"{s}.db"
            if not template.exists():
                upgrade(s, f"sqlite:///{template}")
            shutil.copyfile(template, target / f"{s}.db")
            urls[s] = f"sqlite:///{target / f'{s}.db'}"
        return urls

    def postgresql(self) -> tuple[dict, list]:
        if self._thread is None:
            self._start()
        self._work.put(("create", None))  # the next test's set, while this one runs
        while True:  # the hub keeps running while we wait (a real queue's get would block it)
            try:
                made = self._ready.get_nowait()
                break
            except Exception as exc:  # queue.Empty of the unpatched queue module
                if type(exc).__name__ != "Empty":
                    raise
                eventlet.sleep(0.01)
        if isinstance(made, BaseException):
            raise made
        return made

    def release(self, names: list) -> None:
        self._work.put(("drop", names))

    def _start(self) -> None:
        real_queue = eventlet.patcher.original("queue")
        real_threading = eventlet.patcher.original("threading")
        self._work, self._ready = real_queue.Queue(), real_queue.Queue()
        for _ in range(self.AHEAD - 1):
            self._work.put(("create", None))
        self._thread = real_threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        admin = psycopg2.connect(PG_ADMIN_DSN)
        admin.autocommit = True
        try:
            with admin.cursor() as cur:
                for s in SERVICES:
                    name = f"kim_template_{s}_{self.suffix}"
                    cur.execute(f'CREATE DATABASE "{name}"')
                    upgrade(s, f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}")
                    self.pg_templates[s] = name
            while (job := self._work.get()) is not None:
                kind, names = job
                with admin.cursor() as cur:
                    if kind == "drop":
                        for name in names:
                            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                        continue
                    suffix = uuid.uuid4().hex[:10]
                    created = {s: f"kim_test_{s}_{suffix}" for s in SERVICES}
                    for s, name in created.items():
                        cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.pg_templates[s]}"')
                self._ready.put(({s: f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
                                  for s, name in created.items()}, list(created.values())))
        except BaseException as exc:  # the waiting test fails with it
            self._ready.put(exc)
        finally:
            admin.close()

    def drop(self) -> None:
        if self._thread is None:
            return
        self._work.put(None)
        self._thread.join(60)
        leftovers = []
        while not self._ready.empty():
            made = self._ready.get_nowait()
            if not isinstance(made, BaseException):
                leftovers.extend(made[1])
        admin = psycopg2.connect(PG_ADMIN_DSN)
        admin.autocommit = True
        with admin.cursor() as cur:
            for name in leftovers + list(self.pg_templates.values()):
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def migrated(tmp_path_factory):
    templates = MigratedTemplates(tmp_path_factory.mktemp("migrated"))
    yield templates
    templates.drop()


@pytest.fixture
def db_urls(db_backend, tmp_path, migrated):
    """A fresh, migrated database per service: SQLite files, or PostgreSQL databases dropped afterwards."""
    if db_backend == "sqlite":
        yield migrated.sqlite(tmp_path)
        return
    urls, created = migrated.postgresql()
    yield urls
    migrated.release(created)


@pytest.fixture
def sqlite_urls(tmp_path, migrated):
    return migrated.sqlite(tmp_path)


@dataclass
class Stack:
    base_url: str
    config: dict
    urls: dict
    runner: object

    def url(self, path):
        return self.base_url + path

    def rows(self, service, sql) -> list[dict]:
        engine = create_engine(self.urls[service])
        try:
            with engine.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(text(sql))]
        finally:
            engine.dispose()

    def events(self, event_type, service="intake") -> list[dict]:
        """The envelopes of `event_type` in a service's outbox, oldest first."""
        bodies = [r["body"] for r in self.rows(service, f"SELECT body FROM outbox WHERE routing_key = "
                                                        f"'{event_type}' ORDER BY id")]
        return [json.loads(b) if isinstance(b, str) else b for b in bodies]

    def count(self, service, table, where="1=1"):
        engine = create_engine(self.urls[service])
        try:
            with engine.connect() as conn:
                return conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar_one()
        finally:
            engine.dispose()


def stack_config(rabbit_config, web_config, urls):
    config = {**rabbit_config, **web_config, "serializer": "json"}
    config.update({f"KIM_{s.upper()}_DB_URL": url for s, url in urls.items()})
    return config


@pytest.fixture
def start_stack(rabbit_config, web_config, runner_factory):
    """Start some of the services (default all) in this process, over the real broker, in their own vhost."""
    from gateway.service import GatewayService
    from services.casework.service import CaseworkService
    from services.analytics.service import AnalyticsService
    from services.intake.service import IntakeService
    from services.referrals.service import ReferralsService

    classes = {"intake": IntakeService, "casework": CaseworkService, "referrals": ReferralsService,
               "analytics": AnalyticsService, "gateway": GatewayService}

    def start(urls, services=SERVICES, **extra_config):
        config = {**stack_config(rabbit_config, web_config, urls), **extra_config}
        runner = runner_factory(config, *(classes[s] for s in services))
        runner.start()
        return Stack(f"http://{web_config['WEB_SERVER_ADDRESS']}", config, urls, runner)
    return start


@pytest.fixture
def stack(start_stack, db_urls):
    """The whole system (intake, casework, gateway) on the real broker and the db_backend's databases."""
    return start_stack(db_urls)


BIN = Path(sys.executable).parent  # the venv's `kim`


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def kim_up(rabbit_config, tmp_path):
    """start(**env): `kim up` as an operator runs it (each service its own process) in this test's vhost and
    data folder, logging to a file (a pipe nobody reads would fill up and block the services); stopped after
    the test. The process has `.url`, `.env` and `.log`."""
    started = []

    def start(**extra_env):
        env = {**os.environ, "AMQP_URI": rabbit_config["AMQP_URI"], "KIM_DATA_DIR": str(tmp_path / "data"),
               "KIM_GATEWAY_ADDRESS": f"127.0.0.1:{free_port()}", "KIM_LOG_LEVEL": "WARNING", **extra_env}
        env.pop("KIM_JWT_SECRET")  # `kim up` generates and keeps one
        log = tmp_path / "kim.log"
        proc = subprocess.Popen([str(BIN / "kim"), "up"], env=env, stdout=log.open("w"),
                                stderr=subprocess.STDOUT, text=True)
        started.append(proc)
        proc.log, proc.env = log, env
        up = poll(lambda: proc.poll() is not None or "KIM is up" in log.read_text(), timeout=90)
        assert up and proc.poll() is None, log.read_text()
        proc.url = f"http://{env['KIM_GATEWAY_ADDRESS']}"
        assert f"KIM is up: {proc.url}" in log.read_text()
        return proc
    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def kim_token(system, role="team_lead") -> str:
    """A token the running `kim up` accepts (it signs with the secret it generated)."""
    out = subprocess.run([str(BIN / "kim"), "token", "--role", role, "--municipality", LUEDENSCHEID],
                         env=system.env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session
