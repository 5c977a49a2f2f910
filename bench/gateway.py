"""Benchmark: authenticated `GET /v1/cases/{id}` through the gateway, against the machine's floor (a bare nameko
HTTP -> RPC echo) measured in the same run.

    .venv/bin/python bench/gateway.py [--persons 5] [--concurrency 20] [--duration 10] [--json]

Target: throughput >= 60 % of the echo floor.
"""
from __future__ import annotations

import json
import time
import uuid
from collections import Counter

from common import (BENCH_DB, Client, against_floor, arguments, check, closed_loop, floor_and_kim, log,
                    round_ratios, summarize, table)
from intake import person_body


def open_cases(kim, persons: int, timeout: float = 30) -> list[str]:
    """Register `persons` persons and return their case ids once casework has opened every case."""
    client = Client(kim)
    person_ids = []
    for i in range(persons):
        status, body = client.request("POST", "/v1/persons", person_body(i), kim.headers())
        if status != 201:
            raise RuntimeError(f"POST /v1/persons answered {status}: {body[:300]!r}")
        person_ids.append(json.loads(body)["id"])
    cases, deadline = {}, time.monotonic() + timeout
    while len(cases) < persons:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(cases)} of {persons} cases opened within {timeout:.0f}s")
        for person_id in set(person_ids) - set(cases):
            status, body = client.request("GET", f"/v1/cases?person_id={person_id}", None, kim.headers())
            items = json.loads(body).get("items") if status == 200 else None
            if items:
                cases[person_id] = items[0]["id"]
        time.sleep(0.1)
    return list(cases.values())


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--persons", type=int, default=5, help="persons (and so cases) to read")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of each measurement, all rounds")
    args = parser.parse_args()
    c, warmup = args.concurrency, 2 * args.concurrency

    with floor_and_kim() as (_, echo, kim):
        body = json.dumps({"case_id": str(uuid.uuid4())}).encode()  # about a case read's request size
        case_ids = open_cases(kim, args.persons)

        def echo_request(i):
            return "POST", "/echo", body, echo.headers()

        def read_case(i):
            return "GET", f"/v1/cases/{case_ids[i % len(case_ids)]}", None, kim.headers()
        closed_loop(echo, echo_request, c, n=warmup)
        closed_loop(kim, read_case, c, n=warmup)
        log(f"echo floor and GET /v1/cases/{{id}}: {args.rounds} alternating rounds of "
            f"{args.duration / args.rounds:g} s each, concurrency {c}")
        floor_run, read_run = against_floor(
            args.rounds, echo, lambda: closed_loop(echo, echo_request, c, duration=args.duration / args.rounds),
            kim, lambda: closed_loop(kim, read_case, c, duration=args.duration / args.rounds))

    floor = summarize(floor_run["samples"], floor_run["elapsed"])
    samples, elapsed = read_run["samples"], read_run["elapsed"]
    reads = {**summarize(samples, elapsed), "failures": dict(Counter(s.status for s in samples if s.status != 200))}
    figures = {"database": BENCH_DB, "concurrency": c, "duration_s": args.duration, "echo_floor": floor, "get_case": reads,
               "get_case_pct_of_floor": round(100 * reads["rps"] / floor["rps"], 1),
               "pct_of_floor_per_round": round_ratios(read_run, floor_run),
               "cpu_ms_per_request": {"echo_floor": floor_run["cpu"], "get_case": read_run["cpu"]}}
    if args.json:
        print(json.dumps(figures, indent=2))
        return

    def latencies(s):
        return f"p50/p95/p99 {s['p50_ms']} / {s['p95_ms']} / {s['p99_ms']} ms"
    print(table([
        f"closed loop on {BENCH_DB}, {args.duration:g} s each in {args.rounds} alternating rounds, concurrency {c}",
        ("echo floor req/s", floor["rps"], latencies(floor)),
        ("GET /v1/cases/{id} req/s", reads["rps"],
         f"{latencies(reads)}; errors {reads['errors']} {reads['failures'] or ''}"),
        ("  % of echo floor", f"{figures['get_case_pct_of_floor']} %",
         f"target >= 60 %: {check(figures['get_case_pct_of_floor'] >= 60)}; "
         f"per round {figures['pct_of_floor_per_round']}"),
        *[(f"  {name}: CPU ms per request", cpu["total"], ", ".join(f"{k} {v}" for k, v in cpu.items() if k != "total"))
          for name, cpu in figures["cpu_ms_per_request"].items()],
    ]))


if __name__ == "__main__":
    main()
