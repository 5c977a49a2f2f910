"""Analytics: projections from scripted event streams (duplicates, out-of-order delivery), rebuild equals the
incremental result, the reports and their disclosure control, the service's scope rules."""
import base64
import random
from datetime import date, datetime, timezone

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from services.analytics import projections, synthetic
from services.analytics.disclosure import check_min_cell
from services.analytics.models import metadata
from services.analytics.reports import Reports, median, parse_period, to_csv
from services.analytics.service import AnalyticsService
from services.shared.barrier_codes import catalogue
from services.shared.db import Transactions, make_engine
from services.shared.errors import Forbidden, InvalidInput
from services.shared.events import build_envelope
from tests.conftest import KIERSPE, LUEDENSCHEID, MEINERZHAGEN
from tests.unit.conftest import StubCaller

TOWNS = (LUEDENSCHEID, MEINERZHAGEN)
CASE = "11111111-1111-4111-8111-111111111111"
PERSON = "22222222-2222-4222-8222-222222222222"
BARRIER = "33333333-3333-4333-8333-333333333333"


@pytest.fixture
def engine(sqlite_urls):
    engine = make_engine(sqlite_urls["analytics"])
    yield engine
    engine.dispose()


@pytest.fixture
def any_engine(db_urls):
    """SQLite and PostgreSQL (where each row is locked before it is read, merges' survivors too)."""
    engine = make_engine(db_urls["analytics"])
    yield engine
    engine.dispose()


def fold(engine, envelopes):
    with engine.begin() as conn:
        return [projections.ingest(conn, e) for e in envelopes]


def snapshot(engine):
    with engine.connect() as conn:
        return projections.counter_snapshot(conn)


def report(engine, name, munis=TOWNS, start=date(2026, 7, 1), end=date(2026, 9, 30), k=5):
    with engine.connect() as conn:
        return Reports(conn, list(munis), start, end, k).build(name)


def barrier_events():
    base = {"case_id": CASE, "person_id": PERSON, "municipality": LUEDENSCHEID}
    opened = build_envelope("casework", "case_opened", LUEDENSCHEID,
                            {**base, "status": "intake", "opened_at": datetime(2026, 7, 1, 9, tzinfo=timezone.utc)})
    barrier = {**base, "barrier_id": BARRIER, "code": "no_childcare", "area": "work", "recorded_on": date(2026, 7, 3)}
    recorded = build_envelope("casework", "barrier_recorded", LUEDENSCHEID, barrier)
    resolved = build_envelope("casework", "barrier_resolved", LUEDENSCHEID, {**barrier, "resolved_on": date(2026, 8, 10)})
    return opened, recorded, resolved


def test_barrier_resolved_before_recorded_ends_the_same(engine, sqlite_urls):
    opened, recorded, resolved = barrier_events()
    fold(engine, [opened, resolved, recorded])
    late = snapshot(engine)
    spell = ("barrier", LUEDENSCHEID, "no_childcare", "work", "resolved", "2026-07-03", "2026-08-10")
    assert late[spell] == 1
    assert [k for k in late if k[0] == "barrier"] == [spell]  # no open spell left behind


def test_duplicates_change_nothing(engine):
    opened, recorded, resolved = barrier_events()
    assert fold(engine, [opened, recorded, resolved]) == [True, True, True]
    before = snapshot(engine)
    assert fold(engine, [resolved, opened, recorded, resolved]) == [False] * 4
    assert snapshot(engine) == before


def test_any_order_of_a_stream_gives_the_same_counters(sqlite_urls, tmp_path):
    from services.shared.migrations import upgrade

    events = synthetic.stream(40, TOWNS, seed=7)
    results = []
    for attempt in range(3):
        url = f"sqlite:///{tmp_path / f'order{attempt}.db'}"
        upgrade("analytics", url)
        engine = make_engine(url)
        shuffled = list(events)
        if attempt:
            random.Random(attempt).shuffle(shuffled)
            shuffled += shuffled[:25]  # and some duplicates
        fold(engine, shuffled)
        results.append(snapshot(engine))
        engine.dispose()
    assert results[0] and results[0] == results[1] == results[2]


def test_rebuild_equals_incremental(engine):
    fold(engine, synthetic.stream(60, TOWNS, seed=3))
    incremental = snapshot(engine)
    seen = []
    replayed = projections.rebuild(engine, progress=seen.append, chunk=100)
    assert snapshot(engine) == incremental
    assert replayed == seen[-1] > 0 and seen[0] == 0


def test_case_closure_ends_its_open_barriers(engine):
    opened, recorded, _ = barrier_events()
    closed = build_envelope("casework", "case_closed", LUEDENSCHEID, {
        "case_id": CASE, "person_id": PERSON, "municipality": LUEDENSCHEID, "closed_at": datetime(2026, 8, 1, 10, tzinfo=timezone.utc),
        "outcome": "moved_away", "goals_total": 2, "goals_reached": 1})
    fold(engine, [closed, recorded, opened])  # the closure first
    counters = snapshot(engine)
    assert counters[("barrier", LUEDENSCHEID, "no_childcare", "work", "case_closed", "2026-07-03", "2026-08-01")] == 1
    assert counters[("case.in", LUEDENSCHEID, "", "", "", "2026-07-01", "d")] == 1
    assert counters[("case.out.m", LUEDENSCHEID, "", "", "", "2026-08", "m")] == 1
    assert counters[("outcome", LUEDENSCHEID, "moved_away", "", "", "2026-08-01", "")] == 1


def test_erasure_pseudonymises_the_archive_and_keeps_the_counts(engine):
    events = synthetic.case_stream(LUEDENSCHEID, date(2026, 7, 1), random.Random(5))
    person = events[0]["payload"]["person_id"]
    fold(engine, events)
    before = snapshot(engine)
    erased = build_envelope("intake", "person_erased", LUEDENSCHEID, {
        "person_id": person, "municipality": LUEDENSCHEID, "erasure_id": "44444444-4444-4444-8444-444444444444"})
    fold(engine, [erased])
    with engine.connect() as conn:
        archived = [r.envelope for r in conn.execute(select(projections.ARCHIVE.c.envelope))]
        entities = [r.entity_id for r in conn.execute(select(projections.ENTITIES.c.entity_id))]
    assert person not in str(archived) and person not in entities
    assert snapshot(engine) == before
    projections.rebuild(engine)
    assert snapshot(engine) == before


def test_barrier_report_ranks_per_100_open_cases_with_suppression(engine):
    fold(engine, synthetic.stream(400, TOWNS, seed=11, first_day=date(2026, 3, 1), days=200))
    data = report(engine, "barriers")
    assert data["previous_period"] == {"from": "2026-04-01", "to": "2026-06-30"}
    ranking = data["ranking"]
    assert {r["code"] for r in ranking} <= set(synthetic.BARRIER_CODES) and ranking
    published = [r["per_100_open_cases"]["value"] for r in ranking if not r["per_100_open_cases"]["suppressed"]]
    assert published == sorted(published, reverse=True)
    for r in ranking:
        for c in (r["open"], r["previous"]["open"], *(m["open"] for m in r["per_municipality"].values())):
            assert c["suppressed"] or c["value"] == 0 or c["value"] >= 5
            assert (c["value"] is None) == c["suppressed"]
    top = ranking[0]
    assert top["median_days_unresolved"]["value"] > 0 and "per_100_open_cases" in top["change"]


def test_small_counts_are_suppressed_and_marked(engine):
    opened, recorded, _ = barrier_events()
    fold(engine, [opened, recorded])
    data = report(engine, "barriers", munis=[LUEDENSCHEID])
    row = data["ranking"][0]
    assert row["open"] == {"value": None, "suppressed": True}
    assert row["per_100_open_cases"]["suppressed"] and row["median_days_unresolved"]["suppressed"]
    csv_text = to_csv(data)
    assert "no_childcare" in csv_text and ",,1" in csv_text  # empty value, suppressed = 1


def test_every_report_builds_and_renders_csv(engine):
    fold(engine, synthetic.stream(200, TOWNS, seed=2, first_day=date(2026, 5, 1), days=120))
    for name in ("cases", "barriers", "referrals", "caseload", "outcomes", "needs"):
        data = report(engine, name)
        assert data["report"] == name and data["municipalities"] == sorted(TOWNS)
        lines = to_csv(data).splitlines()
        assert lines[0].startswith("report,from,to,section") and len(lines) > 1, name
    funnel = report(engine, "referrals")["funnel"]
    assert funnel["total"]["sent"]["value"] >= funnel["total"]["accepted"]["value"] or \
        funnel["total"]["accepted"]["suppressed"]
    caseload = report(engine, "caseload")["case_managers"]
    assert {(m["case_manager_id"], m["username"]) for m in caseload} == {
        (synthetic.manager_id(who), who) for who in ("cm-a", "cm-b", "cm-c")}  # one row each: load and capacity
    assert all(m["capacity"] == 40 for m in caseload)


def test_open_on_a_day_from_entries_and_exits_equals_the_spells(engine):
    """The reports count open barriers from monthly and daily entry/exit rows (monthly alone on a month's last
    day): the same as counting the (start, end) spells directly, on any day, and the ages by month recorded add
    up to the same."""
    fold(engine, synthetic.stream(300, TOWNS, seed=12, first_day=date(2026, 1, 10), days=300))
    spells = {k: n for k, n in snapshot(engine).items() if k[0] == "barrier"}
    rng = random.Random(3)
    days = [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 1), date(2026, 6, 30), date(2026, 12, 31)] + [
        date(2026, rng.randint(1, 12), rng.randint(1, 28)) for _ in range(8)]
    with engine.connect() as conn:
        for day in days:
            d = day.isoformat()
            expected = {}
            for (_, m, code, _, _, start, end), n in spells.items():
                if start <= d < end:
                    expected[(m, code)] = expected.get((m, code), 0) + n
            reports = Reports(conn, list(TOWNS), day, day, 5)
            assert {(m, code): n for m, code, n in reports.open_at("barrier", day, "municipality", "a")} == expected
            ages = reports.barrier_ages([day])[0]
            for code in {code for _, code in expected}:
                assert sum(n for _, n in ages[code]) == sum(n for (_, c), n in expected.items() if c == code)
        # several days at once (a report and its previous period) read the monthly rows once: same figures
        reports = Reports(conn, list(TOWNS), days[0], days[-1], 5)
        assert [sorted(rows) for rows in reports.open_on("barrier", days, "municipality", "a")] == [
            sorted(reports.open_at("barrier", day, "municipality", "a")) for day in days]
        assert reports.barrier_ages(days) == [reports.barrier_ages([day])[0] for day in days]


def test_period_parsing_and_median():
    assert parse_period("2026-Q3") == (date(2026, 7, 1), date(2026, 9, 30))
    assert parse_period("2026-Q4") == (date(2026, 10, 1), date(2026, 12, 31))
    assert parse_period("2026-02") == (date(2026, 2, 1), date(2026, 2, 28))
    with pytest.raises(ValueError):
        parse_period("2026-Q5")
    assert median([(1, 1), (3, 1), (10, 1)]) == 3
    assert median([(1, 2), (3, 2)]) == 2
    assert median([]) is None


def test_min_cell_below_three_is_refused():
    assert check_min_cell(3) == 3
    with pytest.raises(ValueError):
        check_min_cell(2)


def service(engine, role="analyst", municipalities=(LUEDENSCHEID,)):
    svc = worker_factory(AnalyticsService, caller=StubCaller(role, municipalities))
    svc.db.transaction.side_effect = lambda: Transactions(engine, "analytics", metadata)()
    svc.min_cell = 5
    return svc


def test_service_scopes_to_the_callers_municipalities(engine):
    fold(engine, synthetic.stream(50, TOWNS, seed=4))
    svc = service(engine, municipalities=(LUEDENSCHEID,))
    data = svc.report("cases", {"from": "2026-04-01", "to": "2026-09-30"})
    assert data["municipalities"] == [LUEDENSCHEID]
    with pytest.raises(Forbidden):
        svc.report("cases", {"municipality": MEINERZHAGEN})
    with pytest.raises(InvalidInput):
        svc.report("cases", {"from": "2026-09-30", "to": "2026-04-01"})
    district = service(engine, "district_admin", (LUEDENSCHEID, MEINERZHAGEN, KIERSPE))
    data = district.report("outcomes", {"from": "2026-04-01", "to": "2026-12-31"})
    assert data["municipalities"] == sorted((LUEDENSCHEID, MEINERZHAGEN, KIERSPE))
    assert "total" in data["tables"]["closed_by_outcome"]["rows"][0]  # their sum
    with pytest.raises(Forbidden):
        service(engine, "case_manager").report("cases", {})


def test_a_batch_folds_to_the_same_counters_as_one_event_at_a_time(sqlite_urls, tmp_path):
    from services.shared.migrations import upgrade

    events = synthetic.stream(60, TOWNS, seed=11)
    shuffled = list(events)
    random.Random(5).shuffle(shuffled)
    shuffled += shuffled[:30]  # duplicates, in the same batch
    snapshots = []
    for name in ("one", "batch"):
        url = f"sqlite:///{tmp_path / f'{name}.db'}"
        upgrade("analytics", url)
        engine = make_engine(url)
        if name == "one":
            results = fold(engine, shuffled)
        else:
            with engine.begin() as conn:
                results = projections.ingest_many(conn, shuffled[:200])
                results += projections.ingest_many(conn, shuffled[200:])
        assert results == [True] * len(events) + [False] * 30
        snapshots.append(snapshot(engine))
        engine.dispose()
    assert snapshots[0] and snapshots[0] == snapshots[1]


def test_batch_folder_lands_good_events_once_and_fails_only_the_poison_one(engine):
    from types import SimpleNamespace

    from services.analytics.service import fold_events
    from services.shared.batch import BatchFolder

    acked, failed = [], []  # acked: the latest delivery each basic.ack (multiple) covers
    consumer = SimpleNamespace(ack_through=acked.append, requeue_message=pytest.fail)
    subscription = SimpleNamespace(queue_consumer=consumer, fold=fold_events,
                                   handle_result=lambda message, ctx, exc_info: failed.append((message, exc_info)))
    folder = BatchFolder()
    folder.database = SimpleNamespace(transactions=Transactions(engine, "analytics", metadata))
    folder.settings = None
    opened, recorded, resolved = barrier_events()
    poison = {**recorded, "event_id": "55555555-5555-4555-8555-555555555555",
              "payload": {k: v for k, v in recorded["payload"].items() if k != "code"}}
    envelopes = [opened, recorded, poison, resolved, opened]  # the last one a duplicate
    channel = object()
    messages = [SimpleNamespace(properties={"message_id": e["event_id"]}, n=n, channel=channel, delivery_tag=n + 1)
                for n, e in enumerate(envelopes)]
    folder.fold([(e, subscription, m) for e, m in zip(envelopes, messages)])

    # the halves around the poison one, each acked through its latest delivery after its commit
    assert [m.n for m in acked] == [1, 4]
    ((message, exc_info),) = failed  # the poison one alone takes the retry/dead-letter path
    assert message.n == 2 and isinstance(exc_info[1], KeyError)
    with engine.connect() as conn:
        archived = conn.execute(select(projections.ARCHIVE.c.event_id)).scalars().all()
    assert sorted(archived) == sorted(e["event_id"] for e in (opened, recorded, resolved))
    reference = make_engine("sqlite://")
    metadata.create_all(reference)
    fold(reference, [opened, recorded, resolved])
    assert snapshot(engine) == snapshot(reference)
    reference.dispose()


def test_pdf_is_one_valid_page(engine):
    fold(engine, synthetic.stream(100, TOWNS, seed=9, first_day=date(2026, 5, 1), days=120))
    pdf = base64.b64decode(service(engine).steering_report({"period": "2026-Q3", "format": "pdf"})["pdf"])
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF") and pdf.count(b"/Type /Page ") == 1
    xref = int(pdf.rsplit(b"startxref", 1)[1].split()[0])
    assert pdf[xref:xref + 4] == b"xref"
    for number, offset in enumerate(pdf[xref:].split(b"\n")[3:9], 1):  # every object where the table says
        assert pdf[int(offset[:10]):].startswith(f"{number} 0 obj".encode())


def test_steering_report_is_one_self_contained_page(engine):
    fold(engine, synthetic.stream(200, TOWNS, seed=9, first_day=date(2026, 5, 1), days=120))
    page = service(engine, municipalities=(MEINERZHAGEN,)).steering_report({"period": "2026-Q3"})
    html = page["html"]
    assert page["from"] == "2026-07-01" and html.count("<svg") == 3
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in html and "src=" not in html


def test_steering_report_speaks_german_by_default_and_english_on_request(engine):
    fold(engine, synthetic.stream(200, TOWNS, seed=9, first_day=date(2026, 5, 1), days=120))
    towns = (LUEDENSCHEID, MEINERZHAGEN)
    ranked = [r["code"] for r in report(engine, "barriers", munis=towns)["ranking"][:12]]
    assert ranked, "the synthetic stream records barriers"
    german = service(engine, municipalities=towns).steering_report({"period": "2026-Q3"})["html"]
    english = service(engine, municipalities=towns).steering_report({"period": "2026-Q3", "lang": "en"})["html"]
    assert '<html lang="de">' in german and "Rangfolge der Hürden" in german and "versandt" in german
    assert '<html lang="en">' in english and "Barrier ranking" in english and ">sent<" in english
    for code in ranked:  # barriers by their catalogue's names, never as codes
        assert catalogue()[code]["label_de"] in german and catalogue()[code]["label_en"] in english
        assert code not in german and code not in english
    pdf = base64.b64decode(service(engine, municipalities=towns).steering_report(
        {"period": "2026-Q3", "format": "pdf"})["pdf"])
    assert "Rangfolge der Hürden".encode("latin-1") in pdf  # umlauts in the standard font's encoding
    for code in ranked[:5]:  # as PDF text: its parentheses escaped
        name = catalogue()[code]["label_de"][:40].replace("(", "\\(").replace(")", "\\)")
        assert name.encode("latin-1") in pdf, name


def test_kim_analytics_rebuild_and_kim_report(engine, sqlite_urls, monkeypatch, tmp_path, capsys):
    from services.cli import main

    fold(engine, synthetic.stream(120, TOWNS, seed=6, first_day=date(2026, 6, 1), days=90))
    before = snapshot(engine)
    monkeypatch.setenv("KIM_ANALYTICS_DB_URL", sqlite_urls["analytics"])
    assert main(["analytics", "rebuild"]) == 0
    assert snapshot(engine) == before
    out = capsys.readouterr()
    assert "rebuilt the projections from" in out.out and "rows" in out.err  # the progress bar
    html, pdf = tmp_path / "report.html", tmp_path / "report.pdf"
    assert main(["report", "--municipality", MEINERZHAGEN, "--period", "2026-Q3", "--out", str(html)]) == 0
    assert main(["report", "--municipality", MEINERZHAGEN, "--period", "2026-Q3", "--out", str(pdf)]) == 0
    assert "<svg" in html.read_text() and "Meinerzhagen" in html.read_text()
    assert pdf.read_bytes().startswith(b"%PDF")
    assert main(["report", "--period", "2026-Q9", "--out", str(html)]) == 2
    monkeypatch.setenv("KIM_ANALYTICS_MIN_CELL", "2")
    assert main(["report", "--period", "2026-Q3", "--out", str(html)]) == 2  # refused, like the service


def test_the_service_refuses_to_start_below_three():
    from types import SimpleNamespace

    from services.analytics.service import MinCell

    provider = MinCell()
    provider.container = SimpleNamespace(config={"KIM_ANALYTICS_MIN_CELL": "2"})
    with pytest.raises(ValueError, match="at least 3"):
        provider.setup()
    provider.container = SimpleNamespace(config={"KIM_ANALYTICS_MIN_CELL": "4"})
    provider.setup()
    assert provider.get_dependency(None) == 4


# caseload: loads (by username) joined to profiles (by id, case_manager_saved v2 names the username) -----------

MANAGER = "66666666-6666-4666-8666-666666666666"
LEGACY = "77777777-7777-4777-8777-777777777777"


def manager_saved(manager_id, at, capacity, username=None, town=LUEDENSCHEID):
    payload = {"case_manager_id": manager_id, "employer": "municipality", "municipalities": [town],
               "capacity": capacity, "active": True}
    if username:
        payload["username"] = username
    return build_envelope("casework", "case_manager_saved", town, payload, schema_version=2 if username else 1,
                          occurred_at=at)


def assigned_cases(username, n, seed, town=LUEDENSCHEID):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        case, person = synthetic._uid(rng), synthetic._uid(rng)
        base = {"case_id": case, "person_id": person, "municipality": town}
        out.append(build_envelope("casework", "case_opened", town, {
            **base, "status": "intake", "opened_at": datetime(2026, 7, 2, 9, tzinfo=timezone.utc)}))
        out.append(build_envelope("casework", "case_assigned", town, {**base, "assigned_to": username, "team": None},
                                  occurred_at=datetime(2026, 7, 2, 9, tzinfo=timezone.utc)))
    return out


def test_case_manager_saved_v2_names_a_staff_username_only():
    from marshmallow import ValidationError

    from services.shared.events import load_envelope

    at = datetime(2026, 7, 1, tzinfo=timezone.utc)
    assert load_envelope(manager_saved(MANAGER, at, 30, "asiebel"))["payload"]["username"] == "asiebel"
    assert load_envelope(manager_saved(MANAGER, at, 30))["schema_version"] == 1  # v1 stays catalogued
    with pytest.raises(ValueError):
        manager_saved(MANAGER, at, 30, "Anna Siebel")  # a name is no staff id
    v1 = manager_saved(MANAGER, at, 30)
    with pytest.raises(ValidationError):  # v1 has no username; v2 requires it
        load_envelope({**v1, "payload": {**v1["payload"], "username": "asiebel"}})
    with pytest.raises(ValidationError):
        load_envelope({**v1, "schema_version": 2})


def test_caseload_is_one_row_per_case_manager_with_load_and_capacity(any_engine):
    engine = any_engine
    day = datetime(2026, 7, 1, tzinfo=timezone.utc)
    events = [
        manager_saved(MANAGER, day, 25),  # archived v1: no username yet
        manager_saved(MANAGER, day.replace(day=5), 30, "asiebel"),
        manager_saved(LEGACY, day, 20),  # known from v1 only: a row of its own, no load joined
        *assigned_cases("asiebel", 6, seed=1),
        *assigned_cases("ghost", 2, seed=2),  # no profile: its load still shows (suppressed: 2 people)
        *assigned_cases("shadow", 1, seed=3),
    ]
    fold(engine, events)
    data = report(engine, "caseload", munis=[LUEDENSCHEID])
    rows = {(m["case_manager_id"], m["username"]): m for m in data["case_managers"]}
    assert set(rows) == {(MANAGER, "asiebel"), (LEGACY, None), (None, "ghost"), (None, "shadow")}
    mine = rows[(MANAGER, "asiebel")]
    assert mine["open_cases"] == {"value": 6, "suppressed": False} and mine["capacity"] == 30
    assert mine["utilisation_percent"] == {"value": 20, "suppressed": False}
    assert rows[(LEGACY, None)]["capacity"] == 20 and rows[(LEGACY, None)]["open_cases"]["value"] == 0
    for small in ("ghost", "shadow"):  # disclosure control holds on the joined rows
        assert rows[(None, small)]["open_cases"] == {"value": None, "suppressed": True}
        assert rows[(None, small)]["utilisation_percent"]["suppressed"]
    assert data["total"]["open_cases"] == {"value": 9, "suppressed": False}
    lines = to_csv(data).splitlines()
    assert any(line.split(",")[4] == MANAGER and ",open_cases,6," in line for line in lines)
    assert any(line.split(",")[4] == "ghost" and line.endswith(",,1") for line in lines)

    # any order, duplicates, and a rebuild from the archive: the same rows; a late v1 keeps the username
    before = snapshot(engine)
    reference = make_engine("sqlite://")
    metadata.create_all(reference)
    shuffled = list(reversed(events)) + events[:3]
    fold(reference, shuffled)
    with reference.connect() as conn:
        again = Reports(conn, [LUEDENSCHEID], date(2026, 7, 1), date(2026, 9, 30), 5).build("caseload")
    assert again["case_managers"] == data["case_managers"]
    reference.dispose()
    projections.rebuild(engine)
    assert snapshot(engine) == before and report(engine, "caseload", munis=[LUEDENSCHEID]) == data
    # a newer profile without a username (an older producer) changes the capacity, not the join
    fold(engine, [manager_saved(MANAGER, day.replace(day=20), 40)])
    rows = {(m["case_manager_id"], m["username"]): m
            for m in report(engine, "caseload", munis=[LUEDENSCHEID])["case_managers"]}
    assert rows[(MANAGER, "asiebel")]["capacity"] == 40 and rows[(MANAGER, "asiebel")]["open_cases"]["value"] == 6


# person_merged: the merged-away person's facts move to the survivor; it is counted once ----------------------

MERGED = "88888888-8888-4888-8888-888888888888"
SURVIVOR = "99999999-9999-4999-8999-999999999999"
OFFER = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"


def person_events(person, arrival, contact_day, referral_day=None, seed=0):
    rng = random.Random(seed)
    case = synthetic._uid(rng)
    base = {"case_id": case, "person_id": person, "municipality": LUEDENSCHEID}
    out = [build_envelope("intake", "person_registered", LUEDENSCHEID, {
        "person_id": person, "municipality": LUEDENSCHEID, "arrival_date": arrival,
        "residence_status": "temporary_protection", "languages": ["uk"], "birth_year": 1990}),
        build_envelope("casework", "contact_recorded", LUEDENSCHEID, {
            **base, "contact_id": synthetic._uid(rng), "channel": "in_person", "duration_minutes": 30,
            "interpreter_language": None, "occurred_at": datetime.combine(contact_day, datetime.min.time(),
                                                                          timezone.utc)})]
    if referral_day:
        out.append(build_envelope("referrals", "referral_sent", LUEDENSCHEID, {
            **base, "referral_id": synthetic._uid(rng), "offer_id": OFFER, "provider_id": "vhs-luedenscheid",
            "area": "language", "status": "sent", "previous_status": "draft",
            "occurred_at": datetime.combine(referral_day, datetime.min.time(), timezone.utc)}))
    return out


def merge_events():
    merged = person_events(MERGED, date(2026, 6, 1), date(2026, 7, 10), date(2026, 7, 15), seed=1)
    survivor = person_events(SURVIVOR, date(2026, 6, 20), date(2026, 7, 20), seed=2)
    merge = build_envelope("intake", "person_merged", LUEDENSCHEID, {
        "person_id": MERGED, "into_person_id": SURVIVOR, "municipality": LUEDENSCHEID,
        "merged_at": datetime(2026, 7, 25, 12, tzinfo=timezone.utc)})
    return merged, survivor, merge


def waits(counters):
    return {k: n for k, n in counters.items() if k[0] == "arrival_wait" and n}


def test_person_merged_counts_the_person_once_with_the_earliest_facts(engine):
    merged, survivor, merge = merge_events()
    assert ("intake", "person_merged") in projections.CONSUMED
    fold(engine, merged + survivor)
    assert sum(waits(snapshot(engine)).values()) == 3  # two people before the merge
    assert fold(engine, [merge, merge]) == [True, False]
    # one person: the survivor's arrival, the earliest first contact and first referral of the two records
    expected = {("arrival_wait", LUEDENSCHEID, "first_contact", "", "", "2026-07-10", "00020"): 1,
                ("arrival_wait", LUEDENSCHEID, "first_referral", "", "", "2026-07-15", "00025"): 1}
    assert waits(snapshot(engine)) == expected
    whole = snapshot(engine)
    projections.rebuild(engine)
    assert snapshot(engine) == whole
    cases = report(engine, "cases", munis=[LUEDENSCHEID], k=3)  # no cell of 1 published
    assert all(w["persons"]["suppressed"] for w in cases["waits"])


@pytest.mark.parametrize("order", ["merge_first", "merge_between", "reversed", "twice_shuffled"])
def test_person_merged_folds_in_any_order_and_once(any_engine, order):
    engine = any_engine
    merged, survivor, merge = merge_events()
    reference = make_engine("sqlite://")
    metadata.create_all(reference)
    fold(reference, merged + survivor + [merge])
    expected = snapshot(reference)
    reference.dispose()
    stream = {"merge_first": [merge] + merged + survivor,  # the merge before either person's events
              "merge_between": survivor + [merge] + merged,
              "reversed": list(reversed(merged + survivor + [merge])),
              "twice_shuffled": merged + survivor + [merge] + survivor + [merge] + merged}[order]
    if order == "twice_shuffled":
        random.Random(4).shuffle(stream)
    fold(engine, stream)
    assert snapshot(engine) == expected
    with engine.begin() as conn:  # and in one batch
        conn.execute(projections.COUNTERS.delete())
        conn.execute(projections.ENTITIES.delete())
        conn.execute(projections.ARCHIVE.delete())
        projections.ingest_many(conn, stream)
    assert snapshot(engine) == expected


def test_a_merge_chain_and_an_erased_survivor(any_engine):
    engine = any_engine
    merged, survivor, merge = merge_events()
    third = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
    later = person_events(third, date(2026, 6, 25), date(2026, 7, 30), seed=3)
    onward = build_envelope("intake", "person_merged", LUEDENSCHEID, {
        "person_id": SURVIVOR, "into_person_id": third, "municipality": LUEDENSCHEID,
        "merged_at": datetime(2026, 8, 1, tzinfo=timezone.utc)})
    fold(engine, [onward] + later + [merge] + merged + survivor)  # A into B, B into C; A's facts reach C
    assert waits(snapshot(engine)) == {
        ("arrival_wait", LUEDENSCHEID, "first_contact", "", "", "2026-07-10", "00015"): 1,
        ("arrival_wait", LUEDENSCHEID, "first_referral", "", "", "2026-07-15", "00020"): 1}
    before = snapshot(engine)
    fold(engine, [build_envelope("intake", "person_erased", LUEDENSCHEID, {
        "person_id": third, "municipality": LUEDENSCHEID, "erasure_id": "cccccccc-cccc-4ccc-8ccc-cccccccccccc"})])
    with engine.connect() as conn:
        archived = [r.envelope for r in conn.execute(select(projections.ARCHIVE.c.envelope))]
        entities = [(r.entity_id, r.state) for r in conn.execute(select(projections.ENTITIES.c.entity_id,
                                                                        projections.ENTITIES.c.state))]
    assert third not in str(archived) and third not in str(entities)
    assert snapshot(engine) == before
    projections.rebuild(engine)
    assert snapshot(engine) == before


def _resolved_in(counters: dict, start: date, end: date) -> dict:
    """code -> sorted days to resolution of the barriers resolved in [start, end], from the barrier spell rows."""
    days: dict = {}
    for (metric, _, code, _, how, recorded, resolved), n in counters.items():
        if metric == "barrier" and how == "resolved" and start.isoformat() <= resolved <= end.isoformat():
            span = (date.fromisoformat(resolved) - date.fromisoformat(recorded)).days
            days.setdefault(code, []).extend([span] * n)
    return {code: sorted(spans) for code, spans in days.items()}


def test_time_to_resolve_is_read_from_the_period_and_equals_the_spells(engine):
    fold(engine, synthetic.stream(400, TOWNS, seed=13, first_day=date(2026, 3, 1), days=200))
    expected = _resolved_in(snapshot(engine), date(2026, 7, 1), date(2026, 9, 30))
    ranking = {r["code"]: r for r in report(engine, "barriers", k=3)["ranking"]}
    assert expected
    for code, spans in expected.items():
        row = ranking[code]
        assert row["resolved_in_period"]["value"] == (len(spans) if len(spans) >= 3 else None)
        if len(spans) >= 3:
            assert row["median_days_to_resolve"]["value"] == median([(d, 1) for d in spans])


def test_migration_derives_the_resolution_counters_from_the_barrier_spells(tmp_path):
    from services.analytics.models import Counter
    from services.shared.migrations import upgrade

    url = f"sqlite:///{tmp_path / 'analytics.db'}"
    upgrade("analytics", url, revision="0004")
    engine = make_engine(url)
    fold(engine, synthetic.stream(200, TOWNS, seed=17, first_day=date(2026, 3, 1), days=200))
    folded = snapshot(engine)
    assert any(key[0] == "barrier.resolved" for key in folded)
    with engine.begin() as conn:  # as a database folded before 0005 was: no resolution counters
        conn.execute(Counter.__table__.delete().where(Counter.metric == "barrier.resolved"))
    upgrade("analytics", url, revision="0005")
    assert snapshot(engine) == folded
    engine.dispose()


def test_migration_derives_the_funnels_monthly_rows_from_the_daily_ones(tmp_path):
    from services.analytics.models import Counter
    from services.shared.migrations import upgrade

    url = f"sqlite:///{tmp_path / 'analytics.db'}"
    upgrade("analytics", url, revision="0005")
    engine = make_engine(url)
    fold(engine, synthetic.stream(200, TOWNS, seed=19, first_day=date(2026, 3, 1), days=200))
    folded = snapshot(engine)
    assert any(key[0] == "ref_stage.m" for key in folded) and any(key[0] == "ref_wait.m" for key in folded)
    with engine.begin() as conn:  # as a database folded before 0006 was: daily rows only
        conn.execute(Counter.__table__.delete().where(Counter.metric.in_(["ref_stage.m", "ref_wait.m"])))
    upgrade("analytics", url)
    assert snapshot(engine) == folded
    engine.dispose()


@pytest.mark.parametrize("period", [("2026-07-01", "2026-09-30"), ("2026-07-05", "2026-09-12"),
                                    ("2026-07-03", "2026-07-20"), ("2026-06-30", "2026-08-01")])
def test_funnel_over_whole_and_partial_months_equals_the_daily_rows(engine, period):
    """Whole months from the monthly rows, the rest from the daily ones: the same sums as the daily rows alone."""
    fold(engine, synthetic.stream(400, TOWNS, seed=23, first_day=date(2026, 3, 1), days=200))
    start, end = (date.fromisoformat(d) for d in period)
    with engine.connect() as conn:
        reports = Reports(conn, list(TOWNS), start, end, 5)
        for metric, group in (("ref_stage", ("a", "b", "c")), ("ref_wait", ("a", "b", "c", "end"))):
            daily = reports._sums(metric, [getattr(projections.COUNTERS.c, g) for g in group],
                                  projections.COUNTERS.c.start >= period[0],
                                  projections.COUNTERS.c.start <= period[1])
            monthly_and_daily = reports.during(metric, start, end, *group)
            assert daily and sorted(map(tuple, monthly_and_daily)) == sorted(map(tuple, daily))


def test_postgresql_vacuums_the_counters_often(any_engine):
    if any_engine.dialect.name != "postgresql":
        assert any_engine.dialect.name == "sqlite"  # no autovacuum there: nothing to set
        return
    with any_engine.connect() as conn:
        options = conn.exec_driver_sql(
            "SELECT reloptions FROM pg_class WHERE relname = 'analytics_counters'").scalar() or []
    assert "autovacuum_vacuum_scale_factor=0.01" in options and "autovacuum_analyze_scale_factor=0.01" in options


def test_a_loaded_envelope_is_folded_as_the_json_it_was_sent_as():
    """What the consumer validated (UUIDs, dates, datetimes) goes back to its JSON form for the archive and
    the projections: the same as a JSON round trip, for every event type the synthetic stream has."""
    import json

    from services.shared.events import load_envelope

    sent = synthetic.stream(40, TOWNS, seed=4, first_day=date(2026, 5, 1), days=120)
    assert len({e["event_type"] for e in sent}) >= 8
    for envelope in sent:
        loaded = load_envelope(json.loads(json.dumps(envelope)))
        round_trip = json.loads(json.dumps(loaded, default=lambda o: getattr(o, "isoformat", o.__str__)()))
        assert projections.jsonable(loaded) == round_trip == envelope
