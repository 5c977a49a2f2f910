"""Projections: every consumed event is archived once (by event_id) and folded into the merged state of the
entities it describes; each entity's state yields the counters it contributes to, and an event replaces the
entity's old contributions by its new ones (a delta). So:

- idempotent: a redelivered event finds its archive row and changes nothing;
- order-tolerant: each fact keeps its own time and id (a resolution before its recording, a status change
  before the case's opening), and the contributions are a function of the merged facts only, so any order of
  the same events ends in the same counters;
- replayable: `rebuild` empties entities and counters and folds the archive again, in any order, to the same
  result.

Counters (models.Counter) are spells `[start, end)` of ISO days ('9999-12-31' while open) or single days
(`end` = '' or, for the duration histograms, the zero-padded number of days). Plain Python over a Core
connection: no nameko here.
"""
from __future__ import annotations

import copy
import json
from collections import Counter as Tally
from datetime import date, datetime, timezone
from functools import cache, lru_cache

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .models import ArchivedEvent, Counter, Entity

OPEN = "9999-12-31"  # the end of a spell that lasts
ARCHIVE = ArchivedEvent.__table__
ENTITIES = Entity.__table__
COUNTERS = Counter.__table__
#: referral stages counted in the funnel, in funnel order
FUNNEL = ("sent", "accepted", "declined", "in_progress", "completed", "cancelled", "expired")
WAITS = (("sent_to_accepted", "sent", "accepted"), ("accepted_to_completed", "accepted", "completed"),
         ("sent_to_completed", "sent", "completed"))


def jsonable(value):
    """A loaded envelope (UUIDs, dates, datetimes) as the JSON it was sent as. (Walked, not a JSON round trip:
    a third of the cost, and it is paid for every event consumed.)"""
    if isinstance(value, _JSON_SCALARS):
        return value
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


_JSON_SCALARS = (str, int, float, bool, type(None))


@lru_cache(maxsize=65536)
def utc_day(timestamp: str) -> str:
    """The UTC day of an ISO timestamp with an offset (events always carry one)."""
    moment = datetime.fromisoformat(timestamp)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.date().isoformat()


def days_between(start: str, end: str) -> int:
    return (date.fromisoformat(end) - date.fromisoformat(start)).days


def _key(ts: str, event_id: str) -> tuple:
    """Sort facts by their UTC time, ties by event id: the same order whatever order they arrived in."""
    return (_utc(ts), event_id)


@lru_cache(maxsize=65536)
def _utc(ts: str) -> datetime:
    moment = datetime.fromisoformat(ts)
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# the facts each event adds ----------------------------------------------------------------------------------

def _case(env, p):
    return [("case", p["case_id"], "", _merge_case)]


def _merge_case(state: dict, env: dict) -> None:
    p, eid, kind = env["payload"], env["event_id"], env["event_type"]
    state.setdefault("timeline", {})
    if kind == "case_opened":
        state["timeline"][eid] = [p["opened_at"], p["status"]]
        state["opened"] = True
    elif kind == "case_status_changed":
        state["timeline"][eid] = [p["changed_at"], p["to_status"]]
    elif kind == "case_closed":
        state["timeline"][eid] = [p["closed_at"], "closed"]
        state.setdefault("closures", {})[eid] = [p["closed_at"], p["outcome"], p["goals_total"],
                                                 p["goals_reached"]]
    elif kind == "case_assigned":
        state.setdefault("assignments", {})[eid] = [env["occurred_at"], p["assigned_to"]]
    elif kind == "case_reassigned":
        state.setdefault("assignments", {})[eid] = [p["reassigned_at"], p["assigned_to"]]
    elif kind == "assessment_recorded":
        state.setdefault("assessments", {})[p["assessment_id"]] = [
            p["assessed_at"], {need["area"]: need["level"] for need in p["needs"]}]


def _barrier(env, p):
    return [("barrier", p["barrier_id"], p["case_id"], _merge_barrier)]


def _merge_barrier(state: dict, env: dict) -> None:
    p = env["payload"]
    state.update(case_id=p["case_id"], code=p["code"], area=p["area"], recorded_on=p["recorded_on"])
    if env["event_type"] == "barrier_resolved":
        state["resolved_on"] = p["resolved_on"]


def _referral(env, p):
    facts = [("referral", p["referral_id"], p["case_id"], _merge_referral)]
    if p["status"] == "sent":
        facts.append(("person", p["person_id"], "", _first("first_referral", p["occurred_at"])))
    return facts


def _merge_referral(state: dict, env: dict) -> None:
    p = env["payload"]
    state.update(offer_id=p["offer_id"], provider_id=p["provider_id"], area=p["area"])
    steps = state.setdefault("steps", {})
    if p["status"] not in steps or _key(p["occurred_at"], env["event_id"]) < _key(*steps[p["status"]]):
        steps[p["status"]] = [p["occurred_at"], env["event_id"]]
    if p.get("decline_reason"):
        state["decline_reason"] = p["decline_reason"]
    if p.get("outcome"):
        state["outcome"] = p["outcome"]


def _first(field: str, ts: str):
    def merge(state: dict, env: dict) -> None:
        if field not in state or _key(ts, env["event_id"]) < _key(*state[field]):
            state[field] = [ts, env["event_id"]]
    return merge


def _contact(env, p):
    return [("person", p["person_id"], "", _first("first_contact", p["occurred_at"]))]


def _person_registered(env, p):
    def merge(state, env):
        state["arrival"] = [1, p["arrival_date"]]
        state["municipality"] = p["municipality"]
    return [("person", p["person_id"], "", merge)]


def _person_updated(env, p):
    def merge(state, env):
        # the newest version's arrival date wins, whichever update arrived last
        if "arrival_date" in p and p.get("arrival_date") and p["version"] >= state.get("arrival", [0])[0]:
            state["arrival"] = [p["version"], p["arrival_date"]]
    return [("person", p["person_id"], "", merge)] if "arrival_date" in (p.get("changed") or []) else []


def _case_manager(env, p):
    def merge(state, env):
        at = [env["occurred_at"], env["event_id"]]
        if "saved" not in state or _key(*at) >= _key(*state["saved"]):
            state.update(saved=at, capacity=p["capacity"],
                         municipalities=p["municipalities"], active=p["active"], employer=p["employer"])
        # v2 names the username cases are assigned to (v1 did not): the newest v2 one holds, so a v1 event
        # (archived, or delivered late) never takes it away
        if p.get("username") and ("named" not in state or _key(*at) >= _key(*state["named"])):
            state.update(named=at, username=p["username"])
    return [("manager", p["case_manager_id"], "", merge)]


#: the facts of a person merged away that its survivor takes over (the earlier wins); its arrival stays its own
MERGED_FACTS = ("first_contact", "first_referral")


def _person_merged(env, p):
    """The merged-away person is marked (the earliest merge wins, should there be two); _fold then moves its
    facts to the survivor, now and whenever a late event of it arrives, and it counts no more itself."""
    mark = [p["merged_at"], env["event_id"], str(p["into_person_id"])]

    def merge(state, env):
        if "merged_into" not in state or _key(*mark[:2]) < _key(*state["merged_into"][:2]):
            state["merged_into"] = mark
    return [("person", str(p["person_id"]), "", merge)]


FACTS = {
    "case_opened": _case, "case_status_changed": _case, "case_closed": _case, "case_assigned": _case,
    "case_reassigned": _case, "assessment_recorded": _case,
    "barrier_recorded": _barrier, "barrier_resolved": _barrier,
    "contact_recorded": _contact,
    "person_registered": _person_registered, "person_updated": _person_updated,
    "case_manager_saved": _case_manager, "person_merged": _person_merged,
    **{f"referral_{status}": _referral for status in FUNNEL + ("draft",)},
}
#: the events analytics consumes: (producer, event_type)
CONSUMED = tuple(sorted({("intake", t) for t in ("person_registered", "person_updated", "person_erased",
                                                  "person_merged")}
                        | {("casework", t) for t in FACTS if t.startswith(("case_", "assessment", "barrier",
                                                                           "contact"))}
                        | {("referrals", f"referral_{s}") for s in FUNNEL + ("draft",)}))


# what an entity's state contributes ---------------------------------------------------------------------------

def case_timeline(state: dict) -> list[tuple[str, str]]:
    """(day, status) in order, consecutive repeats dropped."""
    entries = sorted(((_key(ts, eid), ts, status) for eid, (ts, status) in state.get("timeline", {}).items()))
    out: list[tuple[str, str]] = []
    for _, ts, status in entries:
        if not out or out[-1][1] != status:
            out.append((utc_day(ts), status))
    return out


def case_closed_on(state: dict) -> str | None:
    timeline = case_timeline(state)
    return timeline[-1][0] if timeline and timeline[-1][1] == "closed" else None


def contributions(kind: str, municipality: str, state: dict | None, related: dict | None = None) -> Tally:
    """The counters (metric, municipality, a, b, c, start, end) -> weight this state describes."""
    return expand(_contributions(kind, municipality, state, related))


#: spell metrics; reports count them through their `.in`/`.out` rows (see expand)
SPELLS = ("case", "phase", "caseload", "needs", "barrier")
#: dated facts also counted per month (`<metric>.m`, start = 'YYYY-MM'): a report over whole months reads those
#: rows, a thirtieth of the daily ones (the referral funnel reads tens of thousands of daily rows a quarter)
MONTHLY = ("ref_stage", "ref_wait")


def expand(spells: Tally) -> Tally:
    """Each spell [start, end) also counts as an entry on its start day and an exit on its end day, once per
    day (`<metric>.in`/`.out`, `end` = 'd') and once per month (`<metric>.in.m`/`.out.m`, `start` = 'YYYY-MM'). "Open on
    day D" is then the entries minus the exits up to D: whole months from the monthly rows, D's month from the daily
    ones, so a report reads a few rows per month and dimension however many cases there are. Barrier spells keep their
    (start, end) row and add age rows by the month recorded (`.age`), for the median time unresolved, and a resolved one
    counts its days to resolution on the day it was resolved (`barrier.resolved`: b = days), so the time to resolve
    within a period is read from that period's rows alone. Other spells are only counted through their entries and
    exits."""
    out: Tally = Tally()
    for key, weight in spells.items():
        metric, m, a, b, c, start, end = key
        if metric not in SPELLS:
            out[key] += weight
            if metric in MONTHLY:
                out[(f"{metric}.m", m, a, b, c, start[:7], end)] += weight
            continue
        if metric == "barrier":
            out[key] += weight
            out[("barrier.agein", m, a, start[:7], "", start, "d")] += weight
            out[("barrier.agein.m", m, a, start[:7], "", start[:7], "m")] += weight
            if end != OPEN:
                out[("barrier.ageout", m, a, start[:7], "", end, "d")] += weight
                out[("barrier.ageout.m", m, a, start[:7], "", end[:7], "m")] += weight
            if c == "resolved":
                out[resolution(m, a, start, end)] += weight
            c = ""
        out[(f"{metric}.in", m, a, b, c, start, "d")] += weight
        out[(f"{metric}.in.m", m, a, b, c, start[:7], "m")] += weight
        if end != OPEN:
            out[(f"{metric}.out", m, a, b, c, end, "d")] += weight
            out[(f"{metric}.out.m", m, a, b, c, end[:7], "m")] += weight
    return out


def resolution(municipality: str, code: str, recorded_on: str, resolved_on: str) -> tuple:
    """The `barrier.resolved` counter of a barrier resolved on `resolved_on`: its days to resolution in `b`."""
    days = (date.fromisoformat(resolved_on) - date.fromisoformat(recorded_on)).days
    return ("barrier.resolved", municipality, code, str(days), "", resolved_on, "d")


def _contributions(kind: str, municipality: str, state: dict | None, related: dict | None = None) -> Tally:
    out: Tally = Tally()
    if not state:  # none yet (or the empty row a lock created)
        return out
    m = municipality
    if kind == "case":
        timeline = case_timeline(state)
        if not timeline:
            return out
        closed = timeline[-1][0] if timeline[-1][1] == "closed" else None
        out[("case", m, "", "", "", timeline[0][0], closed or OPEN)] += 1
        for (day, status), nxt in zip(timeline, timeline[1:] + [(OPEN, None)]):
            if status != "closed" and day < nxt[0]:
                out[("phase", m, status, "", "", day, nxt[0])] += 1
        end = closed or OPEN
        for spell in _spells(state.get("assignments", {}), end):
            if spell[1]:
                out[("caseload", m, spell[1], "", "", spell[0], spell[2])] += 1
        for start, needs, stop in _spells(state.get("assessments", {}), end):
            for area, level in needs.items():
                out[("needs", m, area, level, "", start, stop)] += 1
        if closed and state.get("closures"):
            ts, outcome, total, reached = max(state["closures"].items(), key=lambda i: _key(i[1][0], i[0]))[1]
            out[("outcome", m, outcome, "", "", closed, "")] += 1
            out[("goals", m, outcome, "total", "", closed, "")] += total
            out[("goals", m, outcome, "reached", "", closed, "")] += reached
    elif kind == "barrier":
        ends = [(state["resolved_on"], "resolved")] if state.get("resolved_on") else []
        closed = (related or {}).get("closed_on")
        if closed:
            ends.append((closed, "case_closed"))
        end, how = min(ends) if ends else (OPEN, "")
        end = max(end, state["recorded_on"])
        out[("barrier", m, state["code"], state["area"], how, state["recorded_on"], end)] += 1
    elif kind == "referral":
        steps = state.get("steps", {})
        if not steps:
            return out
        cohort = utc_day(steps["sent"][0]) if "sent" in steps else min(utc_day(ts) for ts, _ in steps.values())
        offer, area = state["offer_id"], state["area"]
        for stage in FUNNEL:
            if stage in steps:
                out[("ref_stage", m, offer, area, stage, cohort, "")] += 1
        if "declined" in steps:
            out[("ref_decline", m, offer, area, state.get("decline_reason") or "other", cohort, "")] += 1
        if "completed" in steps and state.get("outcome"):
            out[("ref_outcome", m, offer, area, state["outcome"], cohort, "")] += 1
        for name, first, then in WAITS:
            if first in steps and then in steps:
                days = max(0, days_between(utc_day(steps[first][0]), utc_day(steps[then][0])))
                out[("ref_wait", m, offer, area, name, cohort, f"{days:05d}")] += 1
    elif kind == "person":
        if state.get("merged_into"):  # its survivor counts for it
            return out
        arrival = state.get("arrival")
        for name in ("first_contact", "first_referral"):
            if arrival and state.get(name):
                day = utc_day(state[name][0])
                days = max(0, days_between(arrival[1], day))
                out[("arrival_wait", m, name, "", "", day, f"{days:05d}")] += 1
    return out


def _spells(facts: dict, end: str) -> list[tuple]:
    """(start day, value, stop day) per fact {id: [ts, value]}: each lasts until the next one or `end`;
    spells of no length are dropped."""
    ordered = sorted(((_key(ts, fid), ts, value) for fid, (ts, value) in facts.items()))
    out = []
    for (_, ts, value), nxt in zip(ordered, ordered[1:] + [None]):
        start = utc_day(ts)
        stop = min(utc_day(nxt[1]) if nxt else OPEN, end)
        if start < stop:
            out.append((start, value, stop))
    return out


# folding events in ------------------------------------------------------------------------------------------

# PostgreSQL: the bulk writes send their rows as one JSON array parameter, unpacked by the server
# (json_array_elements), in one round trip. An executemany would cost a round trip per row (psycopg2), and
# SQLAlchemy's multi-row VALUES ("insertmanyvalues") spends more Python time per row than the fold itself, and
# the server more time parsing the literals. The rows keep their order: counters and entities are locked in it.
_PG_ROWS = "FROM json_array_elements(%(rows)s::json) AS r"
_PG_ARCHIVE = ("INSERT INTO analytics_events (event_id, producer, event_type, municipality, person_id, occurred_at,"
               " envelope, received_at) SELECT r->>0, r->>1, r->>2, r->>3, r->>4, (r->>5)::timestamptz, r->6,"
               f" %(now)s {_PG_ROWS} ON CONFLICT (event_id) DO NOTHING RETURNING event_id")
_PG_COUNTERS = ('INSERT INTO analytics_counters (metric, municipality, a, b, c, start, "end", n)'
                f" SELECT r->>0, r->>1, r->>2, r->>3, r->>4, r->>5, r->>6, (r->>7)::int {_PG_ROWS}"
                ' ON CONFLICT (metric, municipality, a, b, c, start, "end")'
                " DO UPDATE SET n = analytics_counters.n + excluded.n")
_PG_ENTITIES = ("INSERT INTO analytics_entities (kind, entity_id, parent, municipality, state)"
                f" SELECT r->>0, r->>1, r->>2, r->>3, r->4 {_PG_ROWS} ON CONFLICT (kind, entity_id) ")
_PG_ENTITY_UPSERT = _PG_ENTITIES + ("DO UPDATE SET state = excluded.state, municipality = excluded.municipality,"
                                    " parent = excluded.parent")
_PG_PLACEHOLDERS = _PG_ENTITIES + "DO NOTHING"


def _pg_bulk(conn, statement: str, rows: list[list], **params):
    return conn.exec_driver_sql(statement, {"rows": json.dumps(rows), **params})


# SQLite: the same upserts as an executemany of plain tuples, which sqlite3 runs in C (SQLAlchemy's parameter
# processing per row cost about half as much again as SQLite's own work); statements built once, as building
# one costs more than running it
@cache
def _sqlite_counter_upsert() -> str:
    ins = _sqlite_insert(COUNTERS, ("metric", "municipality", "a", "b", "c", "start", "end", "n"))
    return str(ins.on_conflict_do_update(index_elements=["metric", "municipality", "a", "b", "c", "start", "end"],
                                         set_={"n": COUNTERS.c.n + ins.excluded.n}).compile(dialect=sqlite.dialect()))


@cache
def _sqlite_entity_upsert() -> str:
    ins = _sqlite_insert(ENTITIES, ("kind", "entity_id", "parent", "municipality", "state"))
    return str(ins.on_conflict_do_update(index_elements=["kind", "entity_id"], set_={
        "state": ins.excluded.state, "municipality": ins.excluded.municipality, "parent": ins.excluded.parent,
    }).compile(dialect=sqlite.dialect()))


@cache
def _sqlite_archive():
    return sqlite_insert(ARCHIVE).on_conflict_do_nothing(index_elements=["event_id"]).returning(ARCHIVE.c.event_id)


def _sqlite_insert(table, columns: tuple[str, ...]):
    """INSERT of `columns` in this order: the rows are tuples in it."""
    return sqlite_insert(table).values({column: bindparam(column) for column in columns})


def _archive_fields(envelope: dict) -> list:
    """An archive row's columns from the envelope, in _ARCHIVE_COLUMNS order (occurred_at as sent: ISO)."""
    return [envelope["event_id"], envelope["producer"], envelope["event_type"], envelope["municipality"],
            envelope["payload"].get("person_id") or "", envelope["occurred_at"], envelope]


_ARCHIVE_COLUMNS = ("event_id", "producer", "event_type", "municipality", "person_id", "occurred_at", "envelope")


def archive_many(conn, envelopes: list[dict]) -> set[str]:
    """Store the envelopes (JSON form, distinct event ids) in one statement; returns the event ids actually
    inserted (the others were there already). ON CONFLICT DO NOTHING RETURNING tells them apart even when a
    concurrent transaction inserts the same event at the same moment: exactly one of the two gets it back.
    (An executemany: SQLAlchemy sends it as multi-row INSERTs of a cached statement, "insertmanyvalues".)"""
    if not envelopes:
        return set()
    now = datetime.now(timezone.utc)
    rows = [_archive_fields(e) for e in envelopes]
    if conn.dialect.name == "sqlite":
        result = conn.execute(_sqlite_archive(), [
            {**dict(zip(_ARCHIVE_COLUMNS, row)), "occurred_at": datetime.fromisoformat(row[5]), "received_at": now}
            for row in rows])
    else:
        result = _pg_bulk(conn, _PG_ARCHIVE, rows, now=now)
    return {row[0] for row in result}


def ingest(conn, envelope: dict) -> bool:
    """Archive and project one envelope (JSON form) in the caller's transaction; False for a duplicate."""
    return ingest_many(conn, [envelope])[0]


def ingest_many(conn, envelopes: list[dict]) -> list[bool]:
    """Archive and project envelopes (JSON form) in the caller's transaction, in the given order; for each,
    False if it is a duplicate (archived before, or earlier in the same list). The same result as `ingest` one
    by one, in a handful of statements for the whole list: the archive in one insert, the entities touched
    read (and on PostgreSQL locked) in one query per kind, written back in one upsert, the counters in one
    (plus one read of a case's barriers per case whose closure changes)."""
    if any(e["event_type"] == "person_erased" for e in envelopes):
        # an erasure rewrites archive and entity rows by person: fold around it one event at a time
        results = []
        for envelope in envelopes:
            fresh = archive_many(conn, [envelope])
            if fresh:
                project(conn, envelope)
            results.append(bool(fresh))
        return results
    distinct: dict[str, dict] = {}
    for envelope in envelopes:
        distinct.setdefault(envelope["event_id"], envelope)
    fresh = archive_many(conn, list(distinct.values()))
    results, todo = [], []
    for envelope in envelopes:
        new = envelope["event_id"] in fresh
        fresh.discard(envelope["event_id"])  # a second copy in the same list is a duplicate
        results.append(new)
        if new:
            todo.append(envelope)
    project_many(conn, todo)
    return results


def project(conn, envelope: dict, replay: bool = False) -> None:
    if envelope["event_type"] == "person_erased":
        if not replay:  # a replayed erasure already did its work (the archive holds the pseudonym)
            erase(conn, envelope["payload"]["person_id"])
        return
    project_many(conn, [envelope])


def project_many(conn, envelopes: list[dict]) -> None:
    """Fold envelopes (no erasures) in, in order, each seeing the states the ones before it left."""
    facts = [(envelope, FACTS[envelope["event_type"]](envelope, envelope["payload"]))
             for envelope in envelopes if envelope["event_type"] in FACTS]
    if not facts:
        return
    keys: dict[tuple, tuple] = {}
    for envelope, entity_facts in facts:
        for kind, entity_id, parent, _ in entity_facts:
            if kind == "barrier":  # its case too: the case's closure ends the barrier's spell
                keys.setdefault(("case", parent), ("", envelope["municipality"]))
            keys.setdefault((kind, entity_id), (parent, envelope["municipality"]))
    states = _States(conn)
    states.load(keys)
    delta: Tally = Tally()
    for envelope, entity_facts in facts:
        for kind, entity_id, parent, merge in entity_facts:
            _fold(states, envelope, kind, entity_id, parent, merge, delta)
    states.flush()
    _apply(conn, {key: -weight for key, weight in delta.items() if weight})


def _fold(states, envelope, kind, entity_id, parent, merge, delta: Tally) -> None:
    old, old_municipality = states.get(kind, entity_id)
    new = copy.deepcopy(old) if old else {}
    merge(new, envelope)
    municipality = new.get("municipality") or old_municipality or envelope["municipality"]
    related = _related(states, kind, parent)
    delta.update(contributions(kind, old_municipality, old, related))
    delta.subtract(contributions(kind, municipality, new, related))
    states.put(kind, entity_id, parent, municipality, new)
    if kind == "case" and case_closed_on(old or {}) != case_closed_on(new):
        _recount_barriers(states, entity_id, case_closed_on(old or {}), case_closed_on(new), delta)
    if kind == "person" and new.get("merged_into"):
        _absorb(states, entity_id, new, envelope["municipality"], delta)


def _absorb(states, entity_id: str, merged: dict, municipality: str, delta: Tally, seen=()) -> None:
    """A merged-away person's facts join its survivor's (the earlier of each wins: any order, any number of
    times, the same result), and on along a chain of merges (A into B, B into C)."""
    survivor = merged["merged_into"][2]
    seen = (*seen, entity_id)
    if survivor in seen:  # a cycle of merges cannot happen in intake; do not loop on one
        return
    # a late event of the merged person: its survivor was not read with the batch (PostgreSQL: locked now)
    states.ensure("person", survivor, municipality)
    old, old_municipality = states.get("person", survivor)
    new = copy.deepcopy(old) if old else {}
    for field in MERGED_FACTS:
        if merged.get(field) and (field not in new or _key(*merged[field]) < _key(*new[field])):
            new[field] = merged[field]
    if new == (old or {}):
        return
    new_municipality = new.get("municipality") or old_municipality or municipality
    delta.update(contributions("person", old_municipality, old))
    delta.subtract(contributions("person", new_municipality, new))
    states.put("person", survivor, "", new_municipality, new)
    if new.get("merged_into"):
        _absorb(states, survivor, new, municipality, delta, seen)


#: PostgreSQL lock order: case before barrier (a barrier's event reads its case; a case's closure recounts its
#: barriers) and referral before person, as the one-event fold always did; within a kind by id. Any two
#: transactions therefore take their shared locks in the same order: no deadlock. (Except the survivor of a
#: merged person, read when a late event of the merged one shows the merge: rare, and a deadlock there only
#: fails the batch, which is retried.)
LOCK_ORDER = ("case", "barrier", "referral", "person", "manager")
_STATES = select(ENTITIES.c.entity_id, ENTITIES.c.state, ENTITIES.c.municipality, ENTITIES.c.parent).where(
    ENTITIES.c.kind == bindparam("kind"), ENTITIES.c.entity_id.in_(bindparam("ids", expanding=True))
).order_by(ENTITIES.c.entity_id)
_STATES_LOCKED = _STATES.with_for_update()


class _States:
    """The entity rows one transaction folds into, read once (one query per kind) and written back once.

    PostgreSQL: workers or instances may fold concurrently, so each row is created empty if new and locked
    before it is read (else two events of one case could each merge into the same old state), in LOCK_ORDER.
    SQLite runs one writing transaction at a time anyway."""

    def __init__(self, conn):
        self.conn = conn
        self.rows: dict[tuple, list] = {}  # (kind, id) -> [state or None, municipality or None, parent]
        self.dirty: set[tuple] = set()

    def load(self, keys: dict[tuple, tuple]) -> None:
        """keys: (kind, entity_id) -> (parent, municipality for a placeholder row)."""
        conn, postgres = self.conn, self.conn.dialect.name != "sqlite"
        by_kind: dict[str, list] = {}
        for key in keys:
            by_kind.setdefault(key[0], []).append(key[1])
        for kind in sorted(by_kind, key=lambda k: LOCK_ORDER.index(k) if k in LOCK_ORDER else len(LOCK_ORDER)):
            ids = sorted(set(by_kind[kind]))
            if postgres:
                _pg_bulk(conn, _PG_PLACEHOLDERS, [[kind, i, keys[(kind, i)][0], keys[(kind, i)][1], {}] for i in ids])
            found = {row.entity_id: row for row in conn.execute(_STATES_LOCKED if postgres else _STATES,
                                                                  {"kind": kind, "ids": ids})}
            for i in ids:
                row = found.get(i)
                self.rows[(kind, i)] = ([row.state or None, row.municipality, row.parent] if row
                                        else [None, None, keys[(kind, i)][0]])

    def ensure(self, kind: str, entity_id: str, municipality: str) -> None:
        """Read (and on PostgreSQL lock) a row the batch did not know it needed."""
        if (kind, entity_id) not in self.rows:
            self.load({(kind, entity_id): ("", municipality)})

    def get(self, kind: str, entity_id: str) -> tuple:
        state, municipality, _ = self.rows.get((kind, entity_id), (None, None, ""))
        return state, municipality

    def put(self, kind, entity_id, parent, municipality, state) -> None:
        self.rows[(kind, entity_id)] = [state, municipality, parent]
        self.dirty.add((kind, entity_id))

    def children(self, kind: str, parent: str) -> list[tuple]:
        """(state, municipality) of the stored `kind` rows under `parent`, as this transaction has them."""
        rows = {row.entity_id: (row.state, row.municipality)
                for row in self.conn.execute(_CHILDREN_IDS, {"kind": kind, "parent": parent})}
        for (k, entity_id), (state, municipality, row_parent) in self.rows.items():
            if k == kind and row_parent == parent and state:
                rows[entity_id] = (state, municipality)
        return [rows[i] for i in sorted(rows)]

    def flush(self) -> None:
        if not self.dirty:
            return
        rows = [(k, i, self.rows[(k, i)]) for k, i in sorted(self.dirty)]
        if self.conn.dialect.name == "sqlite":
            self.conn.exec_driver_sql(_sqlite_entity_upsert(), [(k, i, row[2], row[1], json.dumps(row[0]))
                                                                 for k, i, row in rows])
        else:
            _pg_bulk(self.conn, _PG_ENTITY_UPSERT, [[k, i, row[2], row[1], row[0]] for k, i, row in rows])
        self.dirty.clear()


_CHILDREN_IDS = select(ENTITIES.c.entity_id, ENTITIES.c.state, ENTITIES.c.municipality).where(
    ENTITIES.c.kind == bindparam("kind"), ENTITIES.c.parent == bindparam("parent"))


def _related(states, kind: str, parent: str) -> dict | None:
    """A barrier's case: its closure ends the barrier's spell (a closed case has no open barriers)."""
    if kind != "barrier":
        return None
    state, _ = states.get("case", parent)
    return {"closed_on": case_closed_on(state)} if state else None


def _recount_barriers(states, case_id: str, old_closed, new_closed, delta: Tally) -> None:
    for state, municipality in states.children("barrier", case_id):
        delta.update(contributions("barrier", municipality, state, {"closed_on": old_closed}))
        delta.subtract(contributions("barrier", municipality, state, {"closed_on": new_closed}))


def _apply(conn, delta: dict) -> None:
    if not delta:
        return
    # in key order: concurrent transactions lock the counter rows they share in the same order (no deadlock)
    rows = sorted((k[0], k[1], k[2] or "", k[3] or "", k[4] or "", k[5], k[6], weight) for k, weight in delta.items())
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(_sqlite_counter_upsert(), rows)
    else:
        _pg_bulk(conn, _PG_COUNTERS, rows)


def events_of_person(conn, person_id: str, municipalities: list[str]) -> list[dict]:
    """The archived envelopes about the person in these towns, oldest first."""
    return [row.envelope for row in conn.execute(
        select(ARCHIVE.c.envelope).where(ARCHIVE.c.person_id == person_id, ARCHIVE.c.municipality.in_(municipalities))
        .order_by(ARCHIVE.c.occurred_at, ARCHIVE.c.id))]


def erase(conn, person_id: str) -> None:
    """Art. 17: the person's id is replaced by a random pseudonym in the archive and the entities, so nothing
    here links to the person any more; the counters (anonymous aggregates) and a rebuild stay as they were."""
    import uuid

    pseudonym = str(uuid.uuid4())
    for row in conn.execute(select(ARCHIVE.c.id, ARCHIVE.c.envelope).where(ARCHIVE.c.person_id == person_id)).all():
        envelope = dict(row.envelope)
        envelope["payload"] = {**envelope["payload"], "person_id": pseudonym}
        conn.execute(update(ARCHIVE).where(ARCHIVE.c.id == row.id).values(envelope=envelope, person_id=pseudonym))
    conn.execute(update(ENTITIES).where(ENTITIES.c.kind == "person", ENTITIES.c.entity_id == person_id)
                 .values(entity_id=pseudonym))
    # a merge into the person names it as the survivor: in the archive and in the merged one's state
    for row in conn.execute(select(ARCHIVE.c.id, ARCHIVE.c.envelope, ARCHIVE.c.person_id)
                            .where(ARCHIVE.c.event_type == "person_merged")).all():
        if row.envelope["payload"].get("into_person_id") != person_id:
            continue
        envelope = dict(row.envelope)
        envelope["payload"] = {**envelope["payload"], "into_person_id": pseudonym}
        conn.execute(update(ARCHIVE).where(ARCHIVE.c.id == row.id).values(envelope=envelope))
        merged = conn.execute(select(ENTITIES.c.state).where(ENTITIES.c.kind == "person",
                                                             ENTITIES.c.entity_id == row.person_id)).scalar()
        if merged and (merged.get("merged_into") or [None] * 3)[2] == person_id:
            merged = {**merged, "merged_into": [*merged["merged_into"][:2], pseudonym]}
            conn.execute(update(ENTITIES).where(ENTITIES.c.kind == "person", ENTITIES.c.entity_id == row.person_id)
                         .values(state=merged))


# rebuild ----------------------------------------------------------------------------------------------------

def rebuild(engine, progress=None, chunk: int = 2000) -> int:
    """Empty entities and counters and fold the whole archive in again; returns the events replayed."""
    with engine.begin() as conn:
        total = conn.execute(select(func.count()).select_from(ARCHIVE)).scalar_one()
        conn.execute(delete(COUNTERS))
        conn.execute(delete(ENTITIES))
    done, last_id = 0, 0
    if progress:
        progress(0)
    while True:
        with engine.begin() as conn:
            rows = conn.execute(select(ARCHIVE.c.id, ARCHIVE.c.envelope).where(ARCHIVE.c.id > last_id)
                                .order_by(ARCHIVE.c.id).limit(chunk)).all()
            # replayed erasures already did their work (the archive holds the pseudonyms)
            project_many(conn, [row.envelope for row in rows if row.envelope["event_type"] != "person_erased"])
        if not rows:
            break
        last_id = rows[-1].id
        done += len(rows)
        if progress:
            progress(done)
    return total


def counter_snapshot(conn) -> dict:
    """Every non-zero counter: what `rebuild` must reproduce."""
    return {tuple(r[:7]): r[7] for r in conn.execute(
        select(COUNTERS.c.metric, COUNTERS.c.municipality, COUNTERS.c.a, COUNTERS.c.b, COUNTERS.c.c,
               COUNTERS.c.start, COUNTERS.c.end, COUNTERS.c.n).where(COUNTERS.c.n != 0))}
