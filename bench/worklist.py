"""Benchmark: a case manager's worklist (services/casework/worklist.worklist: their open cases, each with its
next due item, the day's appointments, the no-contact flags) with many cases in the database.

    KIM_BENCH_DB=sqlite|postgresql .venv/bin/python bench/worklist.py [--cases 50000] [--per-manager 60]
                                                                      [--lists 300] [--json]

The cases are spread over case managers of one town, `--per-manager` each; every case gets two goals and
three actions (due dates around today, some done), a planned appointment for one case in five and a follow-up
date for every other one, written in bulk. Then `--lists` worklists of random case managers are built, each in
its own transaction as the service runs it. Target: p95 < 50 ms. It runs the domain code in this process (no
service, no broker: the query's own cost).
"""
from __future__ import annotations

import contextlib
import json
import random
import statistics
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from common import BENCH_DB, MUNICIPALITY, arguments, check, databases, log, percentile, table

from services.casework import models, worklist
from services.shared.auth import caller_from_claims
from services.shared.db import Transactions, make_engine
from services.shared.migrations import upgrade

STATUSES = ("assessment", "planning", "implementation", "monitoring", "closed")


@contextlib.contextmanager
def casework_url():
    with databases() as urls, tempfile.TemporaryDirectory(prefix="kim-bench-worklist-") as folder:
        url = urls.get("casework") or f"sqlite:///{Path(folder) / 'casework.db'}"
        upgrade("casework", url)
        yield url


def load(engine, rng: random.Random, cases: int, per_manager: int) -> list[str]:
    today = date.today()
    now = datetime.now(timezone.utc)
    managers = [f"cm-{i:05d}" for i in range(max(1, cases // per_manager))]
    batch = 5000
    for offset in range(0, cases, batch):
        rows, goals, actions, contacts = [], [], [], []
        for _ in range(offset, min(offset + batch, cases)):
            case_id = str(uuid.uuid4())
            opened = now - timedelta(days=rng.randrange(1, 400))
            rows.append(dict(id=case_id, person_id=str(uuid.uuid4()), municipality=MUNICIPALITY,
                             status=rng.choice(STATUSES), opened_at=opened, updated_at=opened,
                             assigned_to=rng.choice(managers), team=None, version=1, languages=[],
                             last_contact_at=opened + timedelta(days=rng.randrange(0, 30)),
                             follow_up_on=today + timedelta(days=rng.randrange(-10, 30)) if rng.random() < .5
                             else None))
            for g in range(2):
                goal_id = str(uuid.uuid4())
                goals.append(dict(id=goal_id, case_id=case_id, area="language", description="goal",
                                  target_date=today + timedelta(days=rng.randrange(-30, 200)) if g else None,
                                  status="open", agreed_with_person=True, created_at=opened, created_by="bench",
                                  updated_at=opened, version=1))
                for _a in range(1 + g):
                    actions.append(dict(id=str(uuid.uuid4()), goal_id=goal_id, case_id=case_id, kind="task",
                                        assignee="person", description="task",
                                        due_on=today + timedelta(days=rng.randrange(-20, 60)),
                                        status=rng.choice(("open", "open", "done")), created_at=opened,
                                        created_by="bench", version=1))
            if rng.random() < .2:
                contacts.append(dict(id=str(uuid.uuid4()), case_id=case_id, case_manager_id=rows[-1]["assigned_to"],
                                     status="planned", occurred_at=now + timedelta(hours=rng.randrange(1, 24 * 20)),
                                     channel="in_person", participants=[], recorded_by="bench", created_at=now,
                                     version=1))
        with engine.begin() as conn:
            conn.execute(models.Case.__table__.insert(), rows)
            conn.execute(models.Goal.__table__.insert(), goals)
            conn.execute(models.Action.__table__.insert(), actions)
            if contacts:
                conn.execute(models.Contact.__table__.insert(), contacts)
    return managers


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--per-manager", type=int, default=60)
    parser.add_argument("--lists", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(20261128)
    with casework_url() as url:
        engine = make_engine(url)
        tx = Transactions(engine, "casework", models.metadata)
        started = time.perf_counter()
        managers = load(engine, rng, args.cases, args.per_manager)
        load_seconds = time.perf_counter() - started
        log(f"{args.cases} cases loaded on {BENCH_DB} in {load_seconds:.1f} s")
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        callers = [caller_from_claims({"sub": rng.choice(managers), "role": "case_manager",
                                       "municipalities": [MUNICIPALITY], "team": None}) for _ in range(args.lists)]
        for caller in callers[:20]:  # warm-up
            with tx() as uow:
                worklist.worklist(uow.session, caller, date.today(), 30)
        times, sizes = [], []
        for caller in callers:
            began = time.perf_counter()
            with tx() as uow:
                result = worklist.worklist(uow.session, caller, date.today(), 30)
            times.append((time.perf_counter() - began) * 1000)
            sizes.append(len(result["cases"]))
        engine.dispose()

    figures = {"database": BENCH_DB, "cases": args.cases, "lists": args.lists,
               "load_seconds": round(load_seconds, 1),
               **{f"p{p}_ms": round(percentile(times, p), 2) for p in (50, 95, 99)},
               "mean_ms": round(statistics.fmean(times), 2), "max_ms": round(max(times), 2),
               "mean_cases_per_list": round(statistics.fmean(sizes), 1)}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(table([
        f"worklist on {BENCH_DB}: {args.lists} worklists with {args.cases} cases in the database",
        ("p50 / p95 / p99 ms", f"{figures['p50_ms']} / {figures['p95_ms']} / {figures['p99_ms']}",
         f"target p95 < 50 ms: {check(figures['p95_ms'] < 50)}"),
        ("mean / max ms", f"{figures['mean_ms']} / {figures['max_ms']}", ""),
        ("open cases per list", figures["mean_cases_per_list"], ""),
        ("loading s", figures["load_seconds"], "bulk inserts of 5,000 cases with goals, actions, appointments"),
    ]))


if __name__ == "__main__":
    main()
