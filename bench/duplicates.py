"""Benchmark: the duplicate check of a registration (services/intake/domain.likely_duplicates: one query on the
birth_date index, then the name matching) against many registered synthetic persons.

    KIM_BENCH_DB=sqlite|postgresql .venv/bin/python bench/duplicates.py [--persons 100000] [--checks 1000] [--json]

The persons are registered with the domain function (confirmed_new, so loading runs no checks), in
transactions of 2,000; 5 % of them carry the placeholder birth date 1 January of their year, as many
registrations do, so some dates have far more candidates than the rest. Then `--checks` registrations are
checked, each in its own transaction as the service runs it, half of them variants of a registered person
(a likely duplicate), half new names. Target: p95 < 50 ms. It runs the domain code in this process, one
check at a time (no service, no broker: the check's own cost).
"""
from __future__ import annotations

import contextlib
import json
import random
import statistics
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from common import BENCH_DB, MUNICIPALITY, arguments, check, databases, log, percentile, table

from services.intake import domain, models
from services.shared.auth import caller_from_claims
from services.shared.db import Transactions, make_engine
from services.shared.migrations import upgrade

# synthetic names only, in the scripts and spellings registrations come in
GIVEN = ["Mohammed", "Мухаммед", "Ahmad", "Olena", "Олена", "Oleksandr", "Олександр", "Fatima", "فاطمة", "Yusuf",
         "Ayşe", "Mehmet", "Hussein", "حسين", "Dmytro", "Iryna", "Ірина", "Omar", "Khaled", "Mariam", "Sergii",
         "Natalia", "Наталія", "Ali", "Aisha", "Yulia", "Юлія", "Hassan", "Amir", "Oksana", "Giorgos", "Emine"]
FAMILY = ["Al Hassan", "Аль-Хасан", "Kovalenko", "Коваленко", "Shevchenko", "Шевченко", "Haddad", "Nasser",
          "ناصر", "Yılmaz", "Demir", "Karimi", "Rahimi", "Bondarenko", "Бондаренко", "Melnyk", "Мельник",
          "Khalil", "خليل", "Mansour", "Tkachenko", "Ткаченко", "Öztürk", "Darwish", "Saleh", "Papadopoulos",
          "Kravchuk", "Moroz", "Abdullah", "Sahin", "Popescu", "Hosseini"]
START, DAYS = date(1950, 1, 1), 70 * 365
GRANTED = datetime(2026, 10, 5, 9, 30, tzinfo=timezone.utc)


def synthetic(rng: random.Random, i: int) -> dict:
    if rng.random() < 0.05:
        birth = date(rng.randrange(1950, 2020), 1, 1)
    else:
        birth = START + timedelta(days=rng.randrange(DAYS))
    return {"given_name": rng.choice(GIVEN), "family_name": rng.choice(FAMILY),
            "birth_date": birth, "municipality": MUNICIPALITY, "arrival_date": date(2026, 10, 2),
            "residence_status": "temporary_protection", "languages": ["uk"],
            "consents": [{"purpose": "case_management", "granted_at": GRANTED, "basis": "signed_form"}],
            "confirmed_new": True}


@contextlib.contextmanager
def intake_url():
    """A fresh, migrated intake database: a SQLite file, or a PostgreSQL database dropped afterwards."""
    with databases() as urls, tempfile.TemporaryDirectory(prefix="kim-bench-dup-") as folder:
        url = urls.get("intake") or f"sqlite:///{Path(folder) / 'intake.db'}"
        upgrade("intake", url)
        yield url


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--persons", type=int, default=100_000, help="registered persons to check against")
    parser.add_argument("--checks", type=int, default=1000, help="duplicate checks to time")
    args = parser.parse_args()
    rng = random.Random(20261128)
    caller = caller_from_claims({"sub": "bench", "role": "intake_officer", "municipalities": [MUNICIPALITY],
                                 "team": None})
    with intake_url() as url:
        engine = make_engine(url)
        tx = Transactions(engine, "intake", models.metadata)
        started = time.perf_counter()
        registered, batch = [], 2000
        for offset in range(0, args.persons, batch):
            with tx() as uow:
                for i in range(offset, min(offset + batch, args.persons)):
                    person = synthetic(rng, i)
                    domain.register_person(uow.connection, person, caller, (MUNICIPALITY,))
                    if rng.random() < 0.02:
                        registered.append(person)
        load_seconds = time.perf_counter() - started
        log(f"{args.persons} persons registered on {BENCH_DB} in {load_seconds:.1f} s")
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE persons")

        probes = []
        for i in range(args.checks):
            if i % 2 == 0:  # a registered person again, as registered or with given and family name swapped
                again = dict(rng.choice(registered))
                if i % 4 == 2:
                    again.update(given_name=again["family_name"], family_name=again["given_name"])
                probes.append(again)
            else:
                probes.append(synthetic(rng, i))
        for probe in probes[:20]:  # warm-up: connections, statement caches
            with tx() as uow:
                domain.likely_duplicates(uow.connection, probe, caller)
        times, found, candidates_seen = [], 0, []
        for probe in probes:
            began = time.perf_counter()
            with tx() as uow:
                candidates = domain.likely_duplicates(uow.connection, probe, caller)
            times.append((time.perf_counter() - began) * 1000)
            found += bool(candidates)
            candidates_seen.append(len(candidates))
        engine.dispose()

    figures = {"database": BENCH_DB, "persons": args.persons, "checks": args.checks,
               "load_seconds": round(load_seconds, 1),
               **{f"p{p}_ms": round(percentile(times, p), 2) for p in (50, 95, 99)},
               "mean_ms": round(statistics.fmean(times), 2), "max_ms": round(max(times), 2),
               "checks_with_candidates": found}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(table([
        f"duplicate check on {BENCH_DB}: {args.checks} checks against {args.persons} registered persons",
        ("p50 / p95 / p99 ms", f"{figures['p50_ms']} / {figures['p95_ms']} / {figures['p99_ms']}",
         f"target p95 < 50 ms: {check(figures['p95_ms'] < 50)}"),
        ("mean / max ms", f"{figures['mean_ms']} / {figures['max_ms']}", ""),
        ("checks with candidates", found, "half the checks are a registered person again"),
        ("loading s", figures["load_seconds"], "domain.register_person, 2,000 per transaction"),
    ]))


if __name__ == "__main__":
    main()
