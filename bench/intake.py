"""Benchmark: registering persons through the gateway (`POST /v1/persons`) and the lag until their cases open,
against the machine's floor (a bare nameko HTTP -> RPC echo) measured in the same run. A third phase in the same
alternating rounds registers with `confirmed_new: true`, which skips the duplicate check: what the check costs.

    .venv/bin/python bench/intake.py [--n 2000] [--concurrency 20] [--rate 100] [--duration 10] [--json]

Targets: throughput >= 50 % of the echo floor; p99 < 150 ms at 100 req/s; every case opened within 1 s.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from datetime import date, timedelta

from common import (BENCH_DB, MUNICIPALITY, against_floor, arguments, check, closed_loop, floor_and_kim, log,
                    open_loop, percentile, round_ratios, summarize, table)


def person_body(i: int, confirmed_new: bool = False) -> bytes:
    """Synthetic data only. Each person its own birth date, so the duplicate check runs on every registration (as
    in production) and finds no likely duplicate; the phases' offsets (0, 1e6, 2e6, 3e6) get their own ranges."""
    birth = date(1930, 1, 1) + timedelta(days=(i // 1_000_000) * 9000 + i % 1_000_000)
    return json.dumps({
        "given_name": "Test", "family_name": f"Person{i}", "birth_date": birth.isoformat(),
        "municipality": MUNICIPALITY, "arrival_date": "2026-10-02", "residence_status": "temporary_protection",
        "languages": ["uk"], "consents": [{"purpose": "case_management", "granted_at": "2026-10-05T09:30:00Z",
                                           "basis": "signed_form"}],
        **({"confirmed_new": True} if confirmed_new else {}),
    }).encode()


class CaseEventListener(threading.Thread):
    """Notes when each person's casework events (`case_opened` by default) arrive: `arrived[event_type]` maps a
    person id to the perf_counter at arrival. Its exclusive queues are bound in __init__, so before any load
    starts; a plain thread with kombu, no eventlet."""

    def __init__(self, amqp_uri: str, event_types=("case_opened",)):
        super().__init__(daemon=True)
        from kombu import Connection, Exchange, Queue

        self.arrived: dict[str, dict[str, float]] = {kind: {} for kind in event_types}
        self._stopping = threading.Event()
        self._conn = Connection(amqp_uri)
        exchange = Exchange("casework.events", type="topic", durable=True)  # as nameko declares it
        name = f"bench.casework.{uuid.uuid4().hex[:8]}"
        queues = [Queue(f"{name}.{kind}", exchange, routing_key=kind, exclusive=True) for kind in event_types]
        self._consumer = self._conn.Consumer(queues, callbacks=[self._on_message], no_ack=True, accept=["json"])
        self._consumer.consume()

    def _on_message(self, body, message):
        kind = message.delivery_info.get("routing_key")
        self.arrived[kind].setdefault(body["payload"]["person_id"], time.perf_counter())

    def run(self):
        while not self._stopping.is_set():
            try:
                self._conn.drain_events(timeout=0.2)
            except TimeoutError:
                pass

    def wait_for(self, person_ids, timeout: float, event_type: str = "case_opened") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(p in self.arrived[event_type] for p in person_ids):
            time.sleep(0.1)

    def stop(self):
        self._stopping.set()
        self.join(5)
        self._conn.release()


def registered(samples) -> dict[str, float]:
    """person id -> when its POST returned, for the successful registrations."""
    return {json.loads(s.body)["id"]: s.end for s in samples if s.status == 201}


def case_lag(returned: dict[str, float], arrived: dict[str, float]) -> dict:
    lags = [(arrived[p] - t) * 1000 for p, t in returned.items() if p in arrived]
    within = sum(1 for lag in lags if lag <= 1000)
    return {"persons": len(returned), "opened": len(lags), "within_1s": within,
            "within_1s_pct": round(100 * within / len(returned), 1) if returned else 0.0,
            **{f"p{p}_ms": round(percentile(lags, p), 1) for p in (50, 95, 99)},
            "max_ms": round(max(lags, default=float("nan")), 1)}


def statuses(samples) -> dict:
    return dict(Counter(s.status for s in samples if s.status != 201))


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--n", type=int, default=2000, help="persons to register in the closed loop")
    parser.add_argument("--rate", type=float, default=100.0, help="req/s of the open-loop phase")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of the open-loop phase")
    parser.add_argument("--case-timeout", type=float, default=60.0, help="seconds to wait for late cases")
    args = parser.parse_args()
    c, warmup = args.concurrency, 2 * args.concurrency

    with floor_and_kim() as (amqp_uri, echo, kim):
        def echo_request(i):
            return "POST", "/echo", person_body(i), echo.headers()

        def register(offset, confirmed_new=False):
            return lambda i: ("POST", "/v1/persons", person_body(offset + i, confirmed_new), kim.headers())
        listener = CaseEventListener(amqp_uri)
        listener.start()
        try:
            closed_loop(echo, echo_request, c, n=warmup)
            closed_loop(kim, register(1_000_000), c, n=warmup)  # first connections, caches; not counted
            per_round = args.n // args.rounds
            log(f"echo floor and intake: {args.rounds} alternating rounds of {per_round} requests, concurrency {c}")
            offsets, unchecked_offsets = iter(range(0, args.n, per_round)), iter(range(3_000_000, 4_000_000, per_round))
            floor_run, intake_run, unchecked_run = against_floor(
                args.rounds, echo, lambda: closed_loop(echo, echo_request, c, n=per_round),
                kim, lambda: closed_loop(kim, register(next(offsets)), c, n=per_round),
                lambda: closed_loop(kim, register(next(unchecked_offsets), confirmed_new=True), c, n=per_round))
            closed, elapsed = intake_run["samples"], intake_run["elapsed"]
            closed_returned = registered(closed)
            # a drained backlog before the next phase
            listener.wait_for(closed_returned | registered(unchecked_run["samples"]), args.case_timeout)
            log(f"intake: open loop at {args.rate:g} req/s for {args.duration:g} s")
            fixed, fixed_elapsed = open_loop(kim, register(2_000_000), args.rate, args.duration)
            fixed_returned = registered(fixed)
            listener.wait_for(fixed_returned, args.case_timeout)
        finally:
            listener.stop()

    floor = summarize(floor_run["samples"], floor_run["elapsed"])
    intake = {**summarize(closed, elapsed, ok=(201,)), "failures": statuses(closed)}
    unchecked = {**summarize(unchecked_run["samples"], unchecked_run["elapsed"], ok=(201,)),
                 "failures": statuses(unchecked_run["samples"])}
    rate = {**summarize(fixed, fixed_elapsed, ok=(201,)), "failures": statuses(fixed), "target_rps": args.rate}
    figures = {
        "database": BENCH_DB, "concurrency": c, "echo_floor": floor, "intake": intake,
        "intake_pct_of_floor": round(100 * intake["rps"] / floor["rps"], 1),
        "pct_of_floor_per_round": round_ratios(intake_run, floor_run),
        "without_duplicate_check": unchecked,
        "without_duplicate_check_pct_of_floor": round(100 * unchecked["rps"] / floor["rps"], 1),
        "cpu_ms_per_request": {"echo_floor": floor_run["cpu"], "intake": intake_run["cpu"],
                               "without_duplicate_check": unchecked_run["cpu"]},
        "case_lag": case_lag(closed_returned, listener.arrived["case_opened"]),
        "open_loop": rate, "open_loop_case_lag": case_lag(fixed_returned, listener.arrived["case_opened"]),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    lag, fixed_lag = figures["case_lag"], figures["open_loop_case_lag"]

    def latencies(s):
        return f"{s['p50_ms']} / {s['p95_ms']} / {s['p99_ms']}"
    print(table([
        f"closed loop on {BENCH_DB}, {args.n} requests each in {args.rounds} alternating rounds, concurrency {c}",
        ("echo floor req/s", floor["rps"], f"p50/p95/p99 {latencies(floor)} ms"),
        ("POST /v1/persons req/s", intake["rps"], f"p50/p95/p99 {latencies(intake)} ms; "
                                                  f"errors {intake['errors']} {intake['failures'] or ''}"),
        ("  % of echo floor", f"{figures['intake_pct_of_floor']} %",
         f"target >= 50 %: {check(figures['intake_pct_of_floor'] >= 50)}; "
         f"per round {figures['pct_of_floor_per_round']}"),
        ("  CPU ms per request", figures["cpu_ms_per_request"]["intake"]["total"],
         ", ".join(f"{k} {v}" for k, v in figures["cpu_ms_per_request"]["intake"].items() if k != "total")),
        ("  without the duplicate check req/s", unchecked["rps"],
         f"{figures['without_duplicate_check_pct_of_floor']} % of the floor (confirmed_new: true); "
         f"CPU ms per request {figures['cpu_ms_per_request']['without_duplicate_check']['total']}; "
         f"errors {unchecked['errors']} {unchecked['failures'] or ''}"),
        ("  echo floor: CPU ms per request", figures["cpu_ms_per_request"]["echo_floor"]["total"],
         ", ".join(f"{k} {v}" for k, v in figures["cpu_ms_per_request"]["echo_floor"].items() if k != "total")),
        ("  case lag ms", latencies(lag), f"max {lag['max_ms']}; opened {lag['opened']}/{lag['persons']}"),
        ("  cases opened within 1 s", f"{lag['within_1s_pct']} %",
         f"target 100 %: {check(lag['within_1s'] == lag['persons'] > 0)}"),
        "",
        f"open loop, {args.rate:g} req/s for {args.duration:g} s",
        ("POST /v1/persons req/s", rate["rps"], f"errors {rate['errors']} {rate['failures'] or ''}"),
        ("  p50 / p95 / p99 ms", latencies(rate), f"target p99 < 150 ms: {check(rate['p99_ms'] < 150)}"),
        ("  case lag ms", latencies(fixed_lag),
         f"max {fixed_lag['max_ms']}; opened {fixed_lag['opened']}/{fixed_lag['persons']}"),
        ("  cases opened within 1 s", f"{fixed_lag['within_1s_pct']} %",
         f"target 100 %: {check(fixed_lag['within_1s'] == fixed_lag['persons'] > 0)}"),
    ]))


if __name__ == "__main__":
    main()
