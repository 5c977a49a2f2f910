"""What the benchmarks share: a fresh RabbitMQ vhost and data folder, the KIM system and the echo floor as
subprocesses, a cheap threaded HTTP load generator and the percentile maths.

`python bench/common.py serve echo_rpc|echo_http` runs one echo-floor service (what `kim run` is to KIM).
The benchmark process itself never imports nameko or monkey-patches: its threads are plain OS threads.
"""
from __future__ import annotations

import base64
import collections
import contextlib
import http.client
import itertools
import json
import math
import os
import queue
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

BROKER = os.environ.get("BENCH_BROKER", "guest:guest@127.0.0.1")
MANAGEMENT_URL = os.environ.get("BENCH_RABBITMQ_API", "http://127.0.0.1:15672/api")
KIM = str(Path(sys.executable).with_name("kim"))  # the venv's `kim`, beside the python running us
MUNICIPALITY = "05962032"


def log(message: str) -> None:
    """Progress goes to stderr, so `--json` output on stdout stays clean."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# the broker: one throw-away vhost per run ---------------------------------------------------------------

def _management(method: str, path: str, body: dict | None = None) -> None:
    user = BROKER.split("@")[0]
    request = urllib.request.Request(
        f"{MANAGEMENT_URL}/{path}", method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": "Basic " + base64.b64encode(user.encode()).decode()})
    urllib.request.urlopen(request, timeout=10).close()


def _vhost(action: str, name: str) -> None:
    """Create or delete a vhost through the management API; where that plugin is off, through rabbitmqctl."""
    try:
        if action == "add":
            _management("PUT", f"vhosts/{name}", {})
            _management("PUT", f"permissions/{name}/guest", {"configure": ".*", "write": ".*", "read": ".*"})
        else:
            _management("DELETE", f"vhosts/{name}")
        return
    except urllib.error.HTTPError:
        raise
    except urllib.error.URLError:  # no management API listening
        pass
    commands = ([["add_vhost", name], ["set_permissions", "-p", name, "guest", ".*", ".*", ".*"]]
                if action == "add" else [["delete_vhost", name]])
    for command in commands:
        subprocess.run(["rabbitmqctl", "-q", *command], check=True, stdout=subprocess.DEVNULL)


@contextlib.contextmanager
def workspace():
    """(amqp_uri, folder): a fresh vhost and temporary folder, both removed afterwards."""
    vhost = f"kim-bench-{uuid.uuid4().hex[:8]}"
    _vhost("add", vhost)
    try:
        with tempfile.TemporaryDirectory(prefix="kim-bench-") as folder:
            yield f"amqp://{BROKER}:5672/{vhost}", folder
    finally:
        _vhost("delete", vhost)


# the systems under test ---------------------------------------------------------------------------------

@dataclass
class Target:
    host: str
    port: int
    token: str = ""
    processes: dict = field(default_factory=dict)  # name -> pid (or a function listing pids) that serve it
    env: dict = field(default_factory=dict)  # the environment `kim` commands for this system need (tokens)

    def headers(self, **extra) -> dict:
        auth = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {"Content-Type": "application/json", **auth, **extra}


def _drain(stream, tail: collections.deque, seen: threading.Event, marker: str) -> None:
    """Read a child's stdout to the end (a full pipe would block it), keeping the last lines for errors."""
    for line in stream:
        tail.append(line.rstrip())
        if marker in line:
            seen.set()


def _terminate(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


#: `KIM_BENCH_DB=postgresql` benchmarks on PostgreSQL (fresh databases on BENCH_PG, dropped afterwards), as
#: the deployed instances run; the default is the embedded SQLite
BENCH_DB = os.environ.get("KIM_BENCH_DB", "sqlite")
BENCH_PG = os.environ.get("BENCH_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432")
SERVICES = ("intake", "casework", "referrals", "analytics", "gateway")


@contextlib.contextmanager
def databases():
    """{service: URL} for `kim up`: empty (SQLite under its data folder) or fresh PostgreSQL databases."""
    if BENCH_DB == "sqlite":
        yield {}
        return
    if BENCH_DB != "postgresql":
        raise SystemExit(f"KIM_BENCH_DB must be sqlite or postgresql, not {BENCH_DB!r}")
    from sqlalchemy import create_engine, text

    admin = create_engine(f"{BENCH_PG}/postgres", isolation_level="AUTOCOMMIT")
    names = {s: f"kim_bench_{s}_{uuid.uuid4().hex[:8]}" for s in SERVICES}
    with admin.connect() as conn:
        for name in names.values():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield {s: f"{BENCH_PG}/{name}" for s, name in names.items()}
    finally:
        with admin.connect() as conn:
            for name in names.values():
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def kim_system(amqp_uri: str, folder: str, timeout: float = 90):
    """`kim up` in the fresh vhost, with SQLite files in `folder` (or PostgreSQL, see BENCH_DB); yields a Target
    with a case manager's token."""
    with databases() as urls, _kim_system(amqp_uri, folder, urls, timeout) as target:
        yield target


@contextlib.contextmanager
def _kim_system(amqp_uri: str, folder: str, urls: dict, timeout: float):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not (k.startswith("KIM_") and k.endswith("_DB_URL"))}
    env.update(KIM_DATA_DIR=folder, AMQP_URI=amqp_uri, KIM_GATEWAY_ADDRESS=f"127.0.0.1:{port}",
               KIM_JWT_SECRET=secrets.token_urlsafe(48))
    env.update({f"KIM_{s.upper()}_DB_URL": url for s, url in urls.items()})
    errors = open(Path(folder) / "kim.log", "w")
    proc = subprocess.Popen([KIM, "up"], env=env, stdout=subprocess.PIPE, stderr=errors, text=True,
                            start_new_session=True)  # we stop it ourselves, also on Ctrl-C
    tail, up = collections.deque(maxlen=20), threading.Event()
    threading.Thread(target=_drain, args=(proc.stdout, tail, up, "KIM is up"), daemon=True).start()
    try:
        deadline = time.monotonic() + timeout
        while not up.wait(0.2):
            if proc.poll() is not None or time.monotonic() > deadline:
                errors.flush()  # the folder goes away with us: quote the log's end
                raise RuntimeError(f"`kim up` did not come up (exit {proc.returncode}); stdout: {list(tail)}; "
                                   f"log: {Path(errors.name).read_text()[-2000:]}")
        token = subprocess.run([KIM, "token", "--role", "case_manager", "--municipality", MUNICIPALITY], env=env,
                               check=True, capture_output=True, text=True).stdout.strip()
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        names = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[-2].decode() for pid in children}
        database = {"postgresql": postgres_processes} if urls else {}
        yield Target("127.0.0.1", port, token,
                     {name: int(pid) for pid, name in names.items()} | broker_process() | database, env)
    finally:
        if proc.poll() is not None:  # it died under load: say why before its folder goes away
            errors.flush()
            log(f"`kim up` exited early ({proc.returncode}); log: {Path(errors.name).read_text()[-3000:]}")
        _terminate(proc)
        errors.close()


@contextlib.contextmanager
def floor_and_kim():
    """(amqp_uri, echo floor, KIM): both systems running in one fresh vhost and folder."""
    with workspace() as (amqp_uri, folder), echo_floor(amqp_uri, folder) as echo, \
            kim_system(amqp_uri, folder) as kim:
        yield amqp_uri, echo, kim


@contextlib.contextmanager
def echo_floor(amqp_uri: str, folder: str, timeout: float = 60):
    """The machine's floor: nameko HTTP entrypoint -> RpcProxy -> another process's @rpc echo -> back."""
    port = free_port()
    env = {**os.environ, "AMQP_URI": amqp_uri, "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}"}
    errors = open(Path(folder) / "echo.log", "w")
    procs = [subprocess.Popen([sys.executable, __file__, "serve", name], env=env, stdout=errors, stderr=errors,
                              start_new_session=True) for name in ("echo_rpc", "echo_http")]
    target = Target("127.0.0.1", port, processes={name: p.pid for name, p in zip(("echo_rpc", "echo_http"), procs)}
                    | broker_process())
    try:
        deadline = time.monotonic() + timeout
        while True:  # ready once a request makes the whole round trip
            with contextlib.suppress(OSError, http.client.HTTPException):
                if Client(target).request("POST", "/echo", b"{}", target.headers())[0] == 200:
                    break
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                errors.flush()
                raise RuntimeError(f"the echo floor did not come up; log: {Path(errors.name).read_text()[-2000:]}")
            time.sleep(0.2)
        yield target
    finally:
        for proc in procs:
            _terminate(proc)
        errors.close()


def serve(name: str) -> None:
    """Run one echo-floor service in this process, configured like KIM's services (json, 10 workers)."""
    import eventlet
    eventlet.monkey_patch()
    from nameko.containers import ServiceContainer
    from nameko.rpc import RpcProxy, rpc
    from nameko.web.handlers import http as http_entrypoint

    class EchoRpc:
        name = "bench_echo"

        @rpc
        def echo(self, body):
            return body

    class EchoHttp:
        name = "bench_echo_http"
        backend = RpcProxy("bench_echo")

        @http_entrypoint("POST", "/echo")
        def echo(self, request):
            return self.backend.echo(request.get_data(as_text=True))

    config = {"AMQP_URI": os.environ["AMQP_URI"], "WEB_SERVER_ADDRESS": os.environ["WEB_SERVER_ADDRESS"],
              "serializer": "json", "max_workers": 10}
    container = ServiceContainer({"echo_rpc": EchoRpc, "echo_http": EchoHttp}[name], config)
    signal.signal(signal.SIGTERM, lambda *_: eventlet.spawn_n(container.stop))
    container.start()
    container.wait()


# the load generator -------------------------------------------------------------------------------------

@dataclass
class Sample:
    i: int
    start: float  # perf_counter; in the open loop the *scheduled* send time (no coordinated omission)
    end: float
    status: int  # 0: the connection failed
    body: bytes


class Client:
    """One keep-alive connection; plain http.client, so the client costs little CPU."""

    def __init__(self, target: Target):
        self.target = target
        self.conn = http.client.HTTPConnection(target.host, target.port, timeout=30)

    def request(self, method: str, path: str, body: bytes | None, headers: dict) -> tuple[int, bytes]:
        try:
            self.conn.request(method, path, body, headers)
            response = self.conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # reconnects on the next request
            return 0, b""


def _started(worker, count: int) -> list[threading.Thread]:
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


def closed_loop(target: Target, make, concurrency: int, n: int | None = None, duration: float | None = None):
    """`concurrency` threads send make(i) -> (method, path, body, headers) back to back until n requests or
    `duration` seconds are done. Returns (samples, elapsed seconds)."""
    counter, samples = itertools.count(), []
    ready = threading.Barrier(concurrency + 1)
    stop_at = [math.inf]

    def worker():
        client = Client(target)
        client.conn.connect()
        ready.wait()
        while True:
            i = next(counter)
            if (n is not None and i >= n) or time.perf_counter() >= stop_at[0]:
                break
            method, path, body, headers = make(i)
            start = time.perf_counter()
            status, data = client.request(method, path, body, headers)
            samples.append(Sample(i, start, time.perf_counter(), status, data))
        client.conn.close()

    threads = _started(worker, concurrency)
    ready.wait()  # every thread has connected
    t0 = time.perf_counter()
    if duration:
        stop_at[0] = t0 + duration
    for thread in threads:
        thread.join()
    return samples, max((s.end for s in samples), default=t0) - t0


def open_loop(target: Target, make, rate: float, duration: float, pool: int = 64):
    """Send make(i) at a fixed rate whatever the answers take; latency counts from the scheduled time."""
    jobs, samples = queue.SimpleQueue(), []

    def worker():
        client = Client(target)
        while (job := jobs.get()) is not None:
            i, due = job
            method, path, body, headers = make(i)
            status, data = client.request(method, path, body, headers)
            samples.append(Sample(i, due, time.perf_counter(), status, data))
        client.conn.close()

    threads = _started(worker, pool)
    t0 = time.perf_counter() + 0.05
    for i in range(int(rate * duration)):
        due = t0 + i / rate
        time.sleep(max(0.0, due - time.perf_counter()))
        jobs.put((i, due))
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join()
    return samples, max((s.end for s in samples), default=t0) - t0


# the figures ----------------------------------------------------------------------------------------------

def broker_process() -> dict:
    pids = subprocess.run(["pgrep", "-f", "beam.smp"], capture_output=True, text=True).stdout.split()
    return {"rabbitmq": int(pids[0])} if pids else {}


def postgres_processes() -> list[int]:
    """Every PostgreSQL server process now (its backends come and go with the services' connections)."""
    return [int(pid) for pid in subprocess.run(["pgrep", "-x", "postgres"], capture_output=True,
                                               text=True).stdout.split()]


def cpu_seconds(pid) -> float:
    """User + system CPU time a process (or a function listing processes) has used so far."""
    if callable(pid):
        return sum(cpu_seconds(p) for p in pid())
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_cpu(target: Target, phase, spent: collections.Counter):
    """Wrap a phase so that the CPU seconds its target's processes spend during it add up in `spent`."""
    def run():
        before = {name: cpu_seconds(pid) for name, pid in target.processes.items()}
        result = phase()
        for name, pid in target.processes.items():
            spent[name] += cpu_seconds(pid) - before[name]
        return result
    return run


def cpu_ms_per_request(spent: collections.Counter, requests: int) -> dict:
    per = {name: round(1000 * seconds / requests, 2) for name, seconds in sorted(spent.items())} if requests else {}
    return {**per, "total": round(sum(per.values()), 2)}


def arguments(doc: str):
    """The options every benchmark shares; each adds its own."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=4, help="alternating floor/system rounds")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser


def interleaved(rounds: int, *phases) -> list[dict]:
    """Run each phase (a callable returning (samples, elapsed)) once per round, alternating, so that the drift of
    a shared, noisy machine hits the floor and the system alike. Per phase: all samples, the summed elapsed
    time and each round's req/s."""
    out = [{"samples": [], "elapsed": 0.0, "round_rps": []} for _ in phases]
    for _ in range(rounds):
        for acc, phase in zip(out, phases):
            samples, elapsed = phase()
            acc["samples"] += samples
            acc["elapsed"] += elapsed
            acc["round_rps"].append(len(samples) / elapsed if elapsed else 0.0)
    return out


def against_floor(rounds: int, echo: Target, echo_phase, kim: Target, kim_phase, *more_kim_phases) -> tuple[dict, ...]:
    """The floor's and KIM's phase(s) in alternating rounds (see `interleaved`); each side's result also holds the
    CPU ms per request of its processes under "cpu"."""
    phases = [(echo, echo_phase), (kim, kim_phase)] + [(kim, phase) for phase in more_kim_phases]
    spent = [collections.Counter() for _ in phases]
    runs = interleaved(rounds, *(with_cpu(target, phase, cpu) for (target, phase), cpu in zip(phases, spent)))
    for run, cpu in zip(runs, spent):
        run["cpu"] = cpu_ms_per_request(cpu, len(run["samples"]))
    return tuple(runs)


def round_ratios(system: dict, floor: dict) -> list[float]:
    """The system's throughput as % of the floor's, round by round."""
    return [round(100 * s / f, 1) for s, f in zip(system["round_rps"], floor["round_rps"]) if f]


def percentile(values, p: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default); nan for no values."""
    values = sorted(values)
    if not values:
        return math.nan
    k = (len(values) - 1) * p / 100
    lo = math.floor(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def summarize(samples, elapsed: float, ok=(200,)) -> dict:
    """Throughput of the successful requests and their latency percentiles in milliseconds."""
    good = [(s.end - s.start) * 1000 for s in samples if s.status in ok]
    return {"requests": len(samples), "errors": len(samples) - len(good),
            "rps": round(len(good) / elapsed, 1) if elapsed else 0.0,
            **{f"p{p}_ms": round(percentile(good, p), 1) for p in (50, 95, 99)},
            "max_ms": round(max(good, default=math.nan), 1)}


def table(rows) -> str:
    """rows: (label, value, note) triples, or a string for a heading line."""
    cells = [r for r in rows if not isinstance(r, str)]
    width = max(len(str(r[0])) for r in cells), max(len(str(r[1])) for r in cells)
    return "\n".join(r if isinstance(r, str) else f"{r[0]:<{width[0]}}  {r[1]:>{width[1]}}  {r[2]}".rstrip()
                     for r in rows)


def check(ok: bool) -> str:
    return "ok" if ok else "MISSED"


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"] and len(sys.argv) == 3:
        serve(sys.argv[2])
    else:
        sys.exit("usage: common.py serve echo_rpc|echo_http")
