"""Benchmark: automatic assignment at the intake benchmark's full load. Every registered person's case must be
opened AND assigned within 1 s of the registration's answer (issue 14).

    KIM_BENCH_DB=sqlite|postgresql .venv/bin/python bench/assignment.py [--duration 15] [--concurrency 20] [--json]

A realistic staff for the town is created through the gateway first (a district admin's token): a district case
manager full-time, a district one on two weekdays, a municipal one, with languages and capacity for the whole run.
Then persons are registered back to back by `--concurrency` clients (the intake benchmark's closed loop, its full
load) for `--duration` seconds. Casework opens and assigns each case in one transaction (`open_case`), so both
events leave its outbox together; the lag is the time from the POST's answer until `case_assigned` arrives on the
broker. A case opened but never assigned (no case manager eligible) is counted as unassigned.
"""
from __future__ import annotations

import json
import subprocess

from common import (BENCH_DB, KIM, MUNICIPALITY, Client, arguments, check, closed_loop, cpu_seconds, kim_system,
                    log, percentile, summarize, table, workspace)
from intake import CaseEventListener, person_body, registered, statuses

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
STAFF = [  # twice over, room for 6,000 cases (above a run's registrations): the rule, not a full caseload, is measured
    {"name": "Bench District Full", "username": "bench.district.full", "employer": "district",
     "languages": ["de", "uk", "ru"], "hours_per_week": 39, "capacity": 1000,
     "coverage": [{"municipality": MUNICIPALITY, "weekdays": WEEKDAYS}]},
    {"name": "Bench District Part", "username": "bench.district.part", "employer": "district",
     "languages": ["de", "ar"], "hours_per_week": 16, "capacity": 1000,
     "coverage": [{"municipality": MUNICIPALITY, "weekdays": ["tue", "thu"]}]},
    {"name": "Bench Municipal", "username": "bench.municipal", "employer": "municipality",
     "languages": ["de", "uk", "en"], "hours_per_week": 30, "capacity": 1000,
     "coverage": [{"municipality": MUNICIPALITY, "weekdays": WEEKDAYS}]},
]
STAFF += [{**cm, "name": f"{cm['name']} 2", "username": f"{cm['username']}2"} for cm in STAFF]


def wait_for_cases(listener: CaseEventListener, person_ids, timeout: float) -> None:
    """Until every person's case is assigned, or all are opened (the rest then get 2 s more to be assigned)."""
    listener.wait_for(person_ids, timeout, "case_opened")
    listener.wait_for(person_ids, 2, "case_assigned")


def create_staff(kim) -> None:
    """District case managers by a district admin, the municipal one by the town's team lead."""
    client = Client(kim)
    for body in STAFF:
        role = "district_admin" if body["employer"] == "district" else "team_lead"
        token = subprocess.run([KIM, "token", "--role", role, "--municipality", MUNICIPALITY],
                               env=kim.env, check=True, capture_output=True, text=True).stdout.strip()
        status, data = client.request("POST", "/v1/case-managers", json.dumps(body).encode(),
                                      {**kim.headers(), "Authorization": f"Bearer {token}"})
        if status != 201:
            raise SystemExit(f"creating case manager {body['username']}: {status} {data[:500]!r}")


def lag_figures(returned: dict[str, float], listener: CaseEventListener) -> dict:
    opened, assigned = listener.arrived["case_opened"], listener.arrived["case_assigned"]
    lags = [(assigned[p] - t) * 1000 for p, t in returned.items() if p in assigned]
    opened_lags = [(opened[p] - t) * 1000 for p, t in returned.items() if p in opened]
    within = sum(1 for lag in lags if lag <= 1000)
    return {"persons": len(returned), "opened": len(opened_lags), "assigned": len(lags),
            "unassigned": sum(1 for p in returned if p in opened and p not in assigned),
            "never_opened": sum(1 for p in returned if p not in opened),
            "within_1s": within, "within_1s_pct": round(100 * within / len(returned), 1) if returned else 0.0,
            **{f"p{p}_ms": round(percentile(lags, p), 1) for p in (50, 95, 99)},
            "max_ms": round(max(lags, default=float("nan")), 1),
            "opened_p99_ms": round(percentile(opened_lags, 99), 1)}


def load_average() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--duration", type=float, default=15.0,
                        help="seconds of registrations at full load (the staff has room for 60,000 cases)")
    parser.add_argument("--case-timeout", type=float, default=60.0, help="seconds to wait for late cases")
    parser.add_argument("--no-staff", action="store_true",
                        help="no case managers (every case queued): the open_case path without the assignment")
    args = parser.parse_args()
    c = args.concurrency

    with workspace() as (amqp_uri, folder), kim_system(amqp_uri, folder) as kim:
        if not args.no_staff:
            create_staff(kim)
        listener = CaseEventListener(amqp_uri, ("case_opened", "case_assigned"))
        listener.start()
        try:
            closed_loop(kim, lambda i: ("POST", "/v1/persons", person_body(1_000_000 + i), kim.headers()), c,
                        n=2 * c)  # first connections, caches; not counted
            load_before = load_average()
            cpu_before = {name: cpu_seconds(pid) for name, pid in kim.processes.items()}
            log(f"registering at full load (closed loop, concurrency {c}) for {args.duration:g} s "
                f"on {BENCH_DB}; load average {load_before}")
            samples, elapsed = closed_loop(
                kim, lambda i: ("POST", "/v1/persons", person_body(i), kim.headers()), c, duration=args.duration)
            load_after = load_average()
            returned = registered(samples)
            wait_for_cases(listener, returned, args.case_timeout)
            # CPU per registration of each process, the catch-up after the load included
            cpu = {name: round(1000 * (cpu_seconds(pid) - cpu_before[name]) / max(1, len(returned)), 2)
                   for name, pid in kim.processes.items()}
        finally:
            listener.stop()

    intake = {**summarize(samples, elapsed, ok=(201,)), "failures": statuses(samples)}
    lag = lag_figures(returned, listener)
    figures = {"database": BENCH_DB, "concurrency": c, "duration_s": args.duration, "intake": intake,
               "assignment_lag": lag, "cpu_ms_per_registration": cpu, "load_average": {"before": load_before, "after": load_after}}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(table([
        f"automatic assignment on {BENCH_DB}: registrations at full load (concurrency {c}) for {args.duration:g} s, "
        f"{len(STAFF)} case managers; load average {load_before} -> {load_after}",
        ("POST /v1/persons req/s", intake["rps"], f"p50/p95/p99 {intake['p50_ms']} / {intake['p95_ms']} / "
                                                  f"{intake['p99_ms']} ms; errors {intake['errors']} "
                                                  f"{intake['failures'] or ''}"),
        ("registered persons", lag["persons"], f"opened {lag['opened']}, assigned {lag['assigned']}, "
                                               f"unassigned {lag['unassigned']}, never opened {lag['never_opened']}"),
        ("answer -> assigned ms p50/p95/p99", f"{lag['p50_ms']} / {lag['p95_ms']} / {lag['p99_ms']}",
         f"max {lag['max_ms']}"),
        ("opened and assigned within 1 s", f"{lag['within_1s_pct']} %",
         f"target 100 %: {check(lag['within_1s'] == lag['persons'] > 0)}"),
        ("cases left unassigned", lag["unassigned"] + lag["never_opened"],
         f"target 0: {check(lag['unassigned'] + lag['never_opened'] == 0)}"),
        ("CPU ms per registration", round(sum(cpu.values()), 1),
         ", ".join(f"{name} {ms}" for name, ms in sorted(cpu.items(), key=lambda kv: -kv[1]))),
    ]))


if __name__ == "__main__":
    main()
