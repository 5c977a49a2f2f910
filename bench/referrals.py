"""Benchmark: matching against a catalogue of 5,000 offers, and how fast a referral event reaches its partner.

    KIM_BENCH_DB=sqlite|postgresql .venv/bin/python bench/referrals.py [--offers 5000] [--matches 300]
        [--events 200] [--json]

Matching: `--offers` offers of 200 providers (each serving 1 to 5 of the 15 towns, 1 or 2 life areas, languages,
eligibility by status and age, waiting times, some paused) loaded into a fresh referrals database as `kim import
offers` does; then `--matches` rankings for random cases (3 or 4 open needs, a town, languages, status, birth
year), each the referrals service's own work for `GET /v1/cases/{id}/offer-suggestions`: the coverage-index query
of the candidate offers and their ranking with explanations (the two RPCs to casework and intake, each a few ms,
are not in this figure). Target: p95 < 50 ms.

Partner events: `kim up` in a fresh vhost, a partner's RabbitMQ user from `kim partners add` consuming its own
queue (bound to `referral.*.<provider_id>`), then `--events` referrals drafted and sent one after another through
the HTTP API; the latency is from sending `POST /v1/referrals/{id}/send` until the partner holds
`referral.sent.<provider_id>` (the request, the transaction with its outbox rows, the relay's confirmed publish,
the broker's routing). Target: p95 < 200 ms.
"""
from __future__ import annotations

import json
import random
import sys
import threading
import time
import urllib.request
import uuid
from datetime import date
from pathlib import Path

from common import BENCH_DB, arguments, check, databases, log, percentile, table, workspace, _kim_system  # noqa

from services.referrals import catalogue, matching
from services.referrals.models import metadata
from services.shared.db import Transactions, make_engine
from services.shared.events import LIFE_AREAS, RESIDENCE_STATUSES
from services.shared.migrations import upgrade
from services.shared.municipalities import MUNICIPALITIES

TOWNS = sorted(MUNICIPALITIES)
LANGUAGES = ["de", "en", "uk", "ru", "ar", "fa", "tr", "ro", "pl", "ti", "so", "ku"]
LEVELS = ["low", "medium", "high", "urgent"]


def synthetic_offer(rng: random.Random, i: int) -> dict:
    low = rng.choice([None, None, None, 12, 16, 18, 27])
    return {"provider_id": f"provider-{i % 200:03d}", "name": f"Angebot {i}", "description": "Beratung und Kurs",
            "areas": rng.sample(LIFE_AREAS, rng.choice([1, 1, 2])), "municipalities": rng.sample(TOWNS, rng.randint(1, 5)),
            "languages": ["de", *rng.sample(LANGUAGES[1:], rng.randint(0, 3))],
            "residence_statuses": rng.sample(RESIDENCE_STATUSES, 4) if rng.random() < 0.3 else [],
            "min_age": low, "max_age": (low + 15) if low is not None and rng.random() < 0.5 else None,
            "waiting_days": rng.choice([0, 0, 7, 14, 30, 60, 120]), "capacity": rng.choice([None, 10, 20, 50]),
            "status": "paused" if rng.random() < 0.1 else "active", "locations": [], "eligibility_notes": None,
            "cost": None, "schedule": None}


def load_catalogue(transactions, n: int) -> None:
    rng = random.Random(15)
    with transactions() as uow:
        for p in range(200):
            catalogue.upsert_provider(uow.connection, {"id": f"provider-{p:03d}", "name": f"Träger {p}"})
    for start in range(0, n, 500):
        with transactions() as uow:
            for i in range(start, min(n, start + 500)):
                catalogue.create_offer(uow.connection, synthetic_offer(rng, i))


def bench_matching(url: str, offers: int, runs: int) -> dict:
    upgrade("referrals", url)
    engine = make_engine(url)
    transactions = Transactions(engine, "referrals", metadata)
    try:
        started = time.perf_counter()
        load_catalogue(transactions, offers)
        log(f"{offers} offers loaded in {time.perf_counter() - started:.1f} s")
        rng, samples, candidates = random.Random(7), [], []
        today = date.today()
        for _ in range(runs):
            town = rng.choice(TOWNS)
            profile = {"case_id": str(uuid.uuid4()), "person_id": str(uuid.uuid4()), "municipality": town,
                       "status": "planning", "needs": [{"area": a, "level": rng.choice(LEVELS)}
                                                       for a in rng.sample(LIFE_AREAS, rng.choice([3, 4]))],
                       "open_barriers": []}
            facts = {"residence_status": rng.choice(RESIDENCE_STATUSES), "birth_year": rng.randint(1960, 2010),
                     "languages": rng.sample(LANGUAGES, 2), "interpreter_needed": rng.random() < 0.5}
            t0 = time.perf_counter()
            with transactions() as uow:
                found = catalogue.candidate_offers(uow.connection, town, [n["area"] for n in profile["needs"]])
            matching.rank(found, profile, facts, today=today, limit=20)
            samples.append((time.perf_counter() - t0) * 1000)
            candidates.append(len(found))
        return {"offers": offers, "runs": runs, "candidates_mean": round(sum(candidates) / len(candidates)),
                "p50_ms": round(percentile(samples, 50), 2), "p95_ms": round(percentile(samples, 95), 2),
                "max_ms": round(max(samples), 2)}
    finally:
        engine.dispose()


def _http(target, method, path, body=None, token=None):
    request = urllib.request.Request(f"http://{target.host}:{target.port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {token or target.token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def bench_partner_events(amqp_uri: str, folder: str, urls: dict, n: int) -> dict:
    from kombu import Connection, Consumer, Exchange, Queue

    from services.referrals import partners
    from services.shared.settings import Settings

    with _kim_system(amqp_uri, folder, urls, 120) as target:
        referrals_url = urls.get("referrals") or f"sqlite:///{Path(folder) / 'referrals.db'}"
        engine = make_engine(referrals_url)  # the district loads its catalogue (as `kim import offers` does)
        transactions = Transactions(engine, "referrals", metadata)
        provider = f"bench-{uuid.uuid4().hex[:6]}"
        with transactions() as uow:
            catalogue.upsert_provider(uow.connection, {"id": provider, "name": "Bench-Träger"})
            offer_ids = [catalogue.create_offer(uow.connection, {**synthetic_offer(random.Random(i), i),
                                                                 "provider_id": provider, "status": "active",
                                                                 "municipalities": TOWNS})["id"]
                         for i in range(n)]
        engine.dispose()
        settings = Settings.load({"AMQP_URI": amqp_uri})
        credentials = partners.add_partner(settings, provider)
        received: dict[str, float] = {}
        try:
            person = _http(target, "POST", "/v1/persons", {
                "given_name": "Bench", "family_name": "Partner", "birth_date": "1990-01-01",
                "municipality": "05962032", "arrival_date": "2026-10-01", "residence_status": "temporary_protection",
                "languages": ["uk"], "consents": [
                    {"purpose": "case_management", "granted_at": "2026-10-05T09:30:00Z", "basis": "signed_form"},
                    {"purpose": "referral_sharing", "granted_at": "2026-10-05T09:30:00Z", "basis": "signed_form"}]})
            case = None
            for _ in range(100):
                items = _http(target, "GET", f"/v1/cases?person_id={person['id']}")["items"]
                if items:
                    case = items[0]
                    break
                time.sleep(0.1)
            with Connection(credentials["amqp_uri"]) as conn:
                queue = Queue(f"{credentials['queue_prefix']}bench", routing_key=f"referral.*.{provider}",
                              exchange=Exchange("kim.partners", type="topic", no_declare=True), auto_delete=True)

                def on_message(body, message):
                    received[body["payload"]["referral_id"]] = time.perf_counter()
                    message.ack()
                consumer = Consumer(conn.channel(), queues=[queue], callbacks=[on_message], accept=["json"])
                consumer.consume()
                stop = threading.Event()

                def drain():
                    while not stop.is_set():
                        try:
                            conn.drain_events(timeout=0.2)
                        except TimeoutError:
                            pass
                thread = threading.Thread(target=drain, daemon=True)
                thread.start()
                sent_at, samples = {}, []
                for offer_id in offer_ids:
                    draft = _http(target, "POST", "/v1/referrals", {"case_id": case["id"], "offer_id": offer_id})
                    sent_at[draft["id"]] = time.perf_counter()
                    _http(target, "POST", f"/v1/referrals/{draft['id']}/send")
                    deadline = time.monotonic() + 5
                    while draft["id"] not in received and time.monotonic() < deadline:
                        time.sleep(0.001)
                    if draft["id"] in received:
                        samples.append((received[draft["id"]] - sent_at[draft["id"]]) * 1000)
                stop.set()
                thread.join()
        finally:
            partners.remove_partner(settings, provider)
        return {"events": n, "received": len(samples), "p50_ms": round(percentile(samples, 50), 1),
                "p95_ms": round(percentile(samples, 95), 1), "max_ms": round(max(samples), 1) if samples else None}


def main() -> int:
    parser = arguments(__doc__)
    parser.add_argument("--offers", type=int, default=5000)
    parser.add_argument("--matches", type=int, default=300)
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    with workspace() as (amqp_uri, folder):
        with databases() as urls:  # the matching catalogue in a database of its own
            url = urls.get("referrals") or f"sqlite:///{Path(folder) / 'matching.db'}"
            figures = {"db": BENCH_DB, "matching": bench_matching(url, args.offers, args.matches)}
        with databases() as urls:  # `kim up` on empty databases (SQLite: files in a folder of its own)
            system = Path(folder) / "system"
            system.mkdir()
            figures["partner_events"] = bench_partner_events(amqp_uri, str(system), urls, args.events)
    if args.json:
        print(json.dumps(figures))
    else:
        m, p = figures["matching"], figures["partner_events"]
        print(table([
            f"referrals ({BENCH_DB})",
            (f"matching p95 over {m['offers']} offers", f"{m['p95_ms']} ms",
             f"{check(m['p95_ms'] < 50)} (target < 50 ms; p50 {m['p50_ms']} ms, {m['candidates_mean']} candidates "
             f"on average)"),
            (f"partner event p95 ({p['received']}/{p['events']})", f"{p['p95_ms']} ms",
             f"{check(p['p95_ms'] < 200)} (target < 200 ms; p50 {p['p50_ms']} ms, max {p['max_ms']} ms)"),
        ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
