"""Benchmark: analytics' ingest (events/s through the broker into `kim run analytics`) and its barrier and
funnel reports over many events.

    KIM_BENCH_DB=sqlite|postgresql .venv/bin/python bench/analytics.py [--ingest 20000] [--events 1000000]
        [--reports 200] [--json]

Ingest: `kim run analytics` in a fresh vhost, then `--ingest` synthetic events (services/analytics/synthetic.py:
whole case histories, valid envelopes) published to the producers' exchanges as their outbox relays publish
them; the figure is events archived and projected per second, from the first publish until the last is in the
database (the service's batch consumer folds up to 500 events per transaction: services/shared/batch.py).
Target: >= 2,000 events/s.

Reports: `--events` events folded into a fresh database by the projection code (`ingest_many`, in
transactions of 500 as the consumer does), then `--reports` barrier and funnel reports each, for random towns
(one, or all and their sum) and quarters. They read the pre-aggregated counters only, so their cost does not grow with
the archive. Target: p95 < 100 ms.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from common import (BENCH_DB, KIM, _terminate, arguments, check, databases, log, percentile, table,  # noqa: E402
                    workspace)

from services.analytics import projections, synthetic
from services.analytics.reports import Reports, parse_period
from services.shared.municipalities import MUNICIPALITIES

TOWNS = sorted(MUNICIPALITIES)[:6]


def events(n: int, seed: int) -> list[dict]:
    out: list[dict] = []
    chunk = 0
    while len(out) < n:
        out += synthetic.stream(200, TOWNS, seed=seed + chunk, first_day=date(2025, 1, 1), days=720)
        chunk += 1
    return out[:n]


def count_archived(url: str) -> int:
    from sqlalchemy import create_engine, func, select

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(projections.ARCHIVE)).scalar_one()
    except Exception:
        return 0
    finally:
        engine.dispose()


def ingest(n: int) -> dict:
    from kombu import Connection, Exchange

    batch = events(n, seed=1)
    with workspace() as (amqp_uri, folder), databases() as urls:
        url = urls.get("analytics") or f"sqlite:///{Path(folder) / 'analytics.db'}"
        env = {**os.environ, "AMQP_URI": amqp_uri, "KIM_DATA_DIR": folder, "KIM_ANALYTICS_DB_URL": url,
               "KIM_LOG_LEVEL": "WARNING", "KIM_JWT_SECRET": "bench-secret-bench-secret-bench-secret-0123"}
        subprocess.run([KIM, "migrate", "analytics"], env=env, check=True, stdout=subprocess.DEVNULL)
        log_file = open(Path(folder) / "analytics.log", "w")
        proc = subprocess.Popen([KIM, "run", "analytics"], env=env, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while subprocess.run([KIM, "health", "analytics"], env=env, capture_output=True).returncode != 0:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("kim run analytics did not start")
                time.sleep(0.5)
            log(f"publishing {n} events ({BENCH_DB})")
            started = time.monotonic()
            with Connection(amqp_uri) as conn:
                producer = conn.Producer(serializer="json")
                exchanges = {p: Exchange(f"{p}.events", type="topic", durable=True)
                             for p in ("intake", "casework", "referrals")}
                for envelope in batch:
                    producer.publish(envelope, exchange=exchanges[envelope["producer"]],
                                     routing_key=envelope["event_type"], message_id=envelope["event_id"])
            published = time.monotonic() - started
            while (done := count_archived(url)) < n:
                if time.monotonic() - started > 600 or proc.poll() is not None:
                    raise SystemExit(f"only {done} of {n} events arrived")
                time.sleep(0.25)
            elapsed = time.monotonic() - started
        finally:
            _terminate(proc)
            log_file.close()
        # batches put back whole (an unavailable database, or a deadlock between two folds on PostgreSQL)
        requeued = (Path(folder) / "analytics.log").read_text().count("requeued")
    return {"events": n, "publish_s": round(published, 2), "seconds": round(elapsed, 2),
            "events_per_s": round(n / elapsed), "requeued_batches": requeued}


def time_reports(engine, rounds: int) -> dict[str, list[float]]:
    """ms per barrier and funnel report, for random towns (one, or all six and their sum) and quarters."""
    rng = random.Random(7)
    timings: dict[str, list[float]] = {"barriers": [], "referrals": []}
    for i in range(rounds):
        for name in timings:
            towns = [rng.choice(TOWNS)] if i % 2 else TOWNS
            start, end = parse_period(f"{rng.choice((2025, 2026))}-Q{rng.randint(1, 4)}")
            t0 = time.perf_counter()
            with engine.connect() as conn:
                Reports(conn, towns, start, end, 5).build(name)
            timings[name].append((time.perf_counter() - t0) * 1000)
    return timings


def reports(n: int, rounds: int) -> dict:
    from sqlalchemy import create_engine

    from services.shared.migrations import upgrade

    with tempfile.TemporaryDirectory(prefix="kim-bench-analytics-") as folder, databases() as urls:
        url = urls.get("analytics") or f"sqlite:///{Path(folder) / 'analytics.db'}"
        upgrade("analytics", url)
        engine = create_engine(url)
        log(f"folding {n} events into the projections ({BENCH_DB})")
        started, done, seed = time.monotonic(), 0, 1000
        while done < n:
            batch = events(min(5000, n - done), seed=seed)
            seed += 100
            for i in range(0, len(batch), 500):  # as the service's batch consumer folds them
                with engine.begin() as conn:
                    projections.ingest_many(conn, batch[i:i + 500])
            done += len(batch)
            if done % 100000 < 5000:
                log(f"  {done} events, {done / (time.monotonic() - started):.0f}/s")
        folded = time.monotonic() - started
        timings = time_reports(engine, rounds)
        vacuumed = {}
        if BENCH_DB == "postgresql":  # what autovacuum does in a running system (migration 0007 makes it often)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE analytics_counters")
            vacuumed = {f"{name}_p95_ms_vacuumed": round(percentile(t, 95), 1)
                        for name, t in time_reports(engine, rounds).items()}
        with engine.connect() as conn:
            from sqlalchemy import func, select
            counters = conn.execute(select(func.count()).select_from(projections.COUNTERS)).scalar_one()
        engine.dispose()
    return {"events": n, "fold_events_per_s": round(n / folded), "counter_rows": counters,
            **{f"{name}_p50_ms": round(percentile(t, 50), 1) for name, t in timings.items()},
            **{f"{name}_p95_ms": round(percentile(t, 95), 1) for name, t in timings.items()}, **vacuumed}


def main() -> int:
    parser = arguments(__doc__)
    parser.add_argument("--ingest", type=int, default=20000, help="events published to the running service")
    parser.add_argument("--events", type=int, default=1_000_000, help="events behind the reports")
    parser.add_argument("--reports", type=int, default=200, help="reports of each kind")
    args = parser.parse_args()
    figures = {"db": BENCH_DB, "ingest": ingest(args.ingest), "reports": reports(args.events, args.reports)}
    if args.json:
        print(json.dumps(figures))
        return 0
    i, r = figures["ingest"], figures["reports"]
    print(table([
        f"analytics on {BENCH_DB}",
        ("ingest through the broker", f"{i['events_per_s']}/s",
         f"{i['events']} events in {i['seconds']} s; target >= 2,000/s: {check(i['events_per_s'] >= 2000)}"),
        ("  batches requeued", i["requeued_batches"], "a deadlock between two folds, or the database away"),
        ("fold (rebuild path)", f"{r['fold_events_per_s']}/s", f"{r['events']} events, {r['counter_rows']} counters"),
        ("barrier report p95", f"{r['barriers_p95_ms']} ms",
         f"p50 {r['barriers_p50_ms']} ms; target < 100 ms: {check(r['barriers_p95_ms'] < 100)}"),
        ("funnel report p95", f"{r['referrals_p95_ms']} ms",
         f"p50 {r['referrals_p50_ms']} ms; target < 100 ms: {check(r['referrals_p95_ms'] < 100)}"),
        *([("  after VACUUM ANALYZE: barrier / funnel p95",
            f"{r['barriers_p95_ms_vacuumed']} / {r['referrals_p95_ms_vacuumed']} ms",
            "as autovacuum leaves the counters in a running system")] if "barriers_p95_ms_vacuumed" in r else []),
    ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
