"""The reports: read the pre-aggregated counters only (never the archive), then apply disclosure control.

Every report covers the municipalities in scope (one column each and, for more than one, their sum) and a
period `[from, to]` (ISO days, inclusive); "open" figures are taken at the end of the period. The barrier
report compares with the previous period of the same length.
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import func, select

from services.shared.events import CASE_OUTCOMES, CASE_STATUSES, LIFE_AREAS, NEED_LEVELS

from .disclosure import Table, cell, publish, safe_value
from .projections import COUNTERS as C
from .projections import ENTITIES, FUNNEL, MONTHLY, WAITS, _key

NEVER = (datetime.min.replace(tzinfo=timezone.utc), "")  # the sort key of a profile not saved yet

REPORTS = ("cases", "barriers", "referrals", "caseload", "outcomes", "needs")
PHASES = tuple(s for s in CASE_STATUSES if s != "closed")


def quarter(day: date) -> tuple[date, date]:
    first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    last = (date(first.year + (first.month + 2) // 12, (first.month + 2) % 12 + 1, 1) - timedelta(days=1))
    return first, last


def parse_period(text: str) -> tuple[date, date]:
    """`2026-Q3`, `2026-07` or `2026`."""
    text = text.strip()
    try:
        if "-Q" in text.upper():
            year, q = text.upper().split("-Q")
            if not 1 <= int(q) <= 4:
                raise ValueError
            return quarter(date(int(year), 3 * int(q) - 2, 1))
        if len(text) == 7:
            first = date.fromisoformat(text + "-01")
            nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            return first, nxt - timedelta(days=1)
        if len(text) == 4:
            return date(int(text), 1, 1), date(int(text), 12, 31)
    except ValueError:
        pass
    raise ValueError("a period is a quarter (2026-Q3), a month (2026-07) or a year (2026)")


def previous(start: date, end: date) -> tuple[date, date]:
    """The period before: the same number of whole months when the period is whole months (a quarter before a
    quarter), else the same number of days."""
    prev_end = start - timedelta(days=1)
    if start.day == 1 and (end + timedelta(days=1)).day == 1:
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        index = start.year * 12 + start.month - 1 - months
        return date(index // 12, index % 12 + 1, 1), prev_end
    return prev_end - (end - start), prev_end


def _month_of(day: date, whole_from: bool) -> str:
    """'YYYY-MM': the first month wholly on or after `day` (whole_from), or the last wholly on or before it."""
    if whole_from:
        return day.isoformat()[:7] if day.day == 1 else _next_month(day)
    return day.isoformat()[:7] if _ends_month(day) else (day.replace(day=1) - timedelta(days=1)).isoformat()[:7]


def _ends_month(day: date) -> bool:
    return (day + timedelta(days=1)).day == 1


def _next_month(day: date) -> str:
    """'YYYY-MM' of the month after `day`'s."""
    return (day.replace(day=28) + timedelta(days=4)).isoformat()[:7]


def median(histogram: list[tuple[int, int]]) -> float | None:
    """The median of values given as (value, count)."""
    total = sum(n for _, n in histogram)
    if total <= 0:
        return None
    ordered = sorted((v, n) for v, n in histogram if n > 0)
    lower = upper = None
    seen = 0
    for value, n in ordered:
        if lower is None and seen + n >= (total + 1) // 2:
            lower = value
        if seen + n >= total // 2 + 1:
            upper = value
            break
        seen += n
    return (lower + upper) / 2


class Reports:
    def __init__(self, conn, municipalities: list[str], start: date, end: date, k: int):
        self.conn, self.munis, self.start, self.end, self.k = conn, sorted(municipalities), start, end, k
        self.many = len(self.munis) > 1

    # queries over the counters -----------------------------------------------------------------------------
    def _upto(self, metric: str, days: list[date], group) -> list[dict]:
        """Sums of `metric`'s rows up to and including each of `days`: whole months from the monthly rows (the
        day's own month too when the day ends it, as a period does), the rest of the day's month from the daily
        rows (see projections.expand). The monthly rows are read once for all the days (a report and its
        previous period), by month."""
        cols = [getattr(C.c, g) for g in group]
        # per day: the months counted whole (up to and excluding `upto`), and the daily rows' range if any
        upto = [_next_month(day) if _ends_month(day) else day.isoformat()[:7] for day in days]
        where = (C.c.metric == f"{metric}.m", C.c.municipality.in_(self.munis), C.c.start < max(upto))
        if len(days) == 1:
            monthly = [("", *row) for row in self.conn.execute(select(*cols, func.sum(C.c.n)).where(*where)
                                                                  .group_by(*cols))]
        else:
            monthly = self.conn.execute(select(C.c.start, *cols, func.sum(C.c.n)).where(*where)
                                        .group_by(C.c.start, *cols)).all()
        results = []
        for day, month in zip(days, upto):
            out: dict = {}
            for row in monthly:
                if row[0] < month:
                    out[tuple(row[1:-1])] = out.get(tuple(row[1:-1]), 0) + row[-1]
            if not _ends_month(day):
                for row in self.conn.execute(
                        select(*cols, func.sum(C.c.n)).where(C.c.metric == metric, C.c.municipality.in_(self.munis),
                                                             C.c.start >= month + "-01", C.c.start <= day.isoformat())
                        .group_by(*cols)):
                    out[tuple(row[:-1])] = out.get(tuple(row[:-1]), 0) + row[-1]
            results.append(out)
        return results

    def open_at(self, metric: str, day: date, *group) -> list:
        """(group values..., count) of `metric`'s spells open on `day`: entries minus exits up to it."""
        return self.open_on(metric, [day], *group)[0]

    def open_on(self, metric: str, days: list[date], *group) -> list[list]:
        """`open_at` for several days, reading the monthly rows once."""
        results = []
        for entries, exits in zip(self._upto(f"{metric}.in", days, group), self._upto(f"{metric}.out", days, group)):
            results.append([(*key, n - exits.get(key, 0)) for key, n in entries.items() if n - exits.get(key, 0)])
        return results

    def entered(self, metric: str, start: date, end: date, *group, exits: bool = False) -> list:
        """(group values..., count) of spells that began (or, `exits`, ended) within [start, end]."""
        cols = [getattr(C.c, g) for g in group]
        return self.conn.execute(
            select(*cols, func.sum(C.c.n)).where(
                C.c.metric == f"{metric}.{'out' if exits else 'in'}", C.c.municipality.in_(self.munis),
                C.c.end == "d", C.c.start >= start.isoformat(), C.c.start <= end.isoformat()).group_by(*cols)).all()

    def barrier_ages(self, days: list[date]) -> list[dict]:
        """For each of `days`: code -> [(age in days, count)] of the barriers unresolved on the day, by the month
        they were recorded (an age is taken from the middle of that month, or the day's own month start: ±15
        days)."""
        results = []
        for day, entries, exits in zip(days, self._upto("barrier.agein", days, ("a", "b")),
                                       self._upto("barrier.ageout", days, ("a", "b"))):
            ages: dict = {}
            for (code, recorded), n in entries.items():
                left = n - exits.get((code, recorded), 0)
                if left > 0:
                    middle = min(date.fromisoformat(recorded + "-15"), day)
                    ages.setdefault(code, []).append(((day - middle).days, left))
            results.append(ages)
        return results

    def during(self, metric: str, start: date, end: date, *group, by: str = "start", extra=()) -> list:
        """(group values..., sum) of `metric`'s rows dated (`by`) within [start, end]. A MONTHLY metric is read
        from its monthly rows for the whole months of the period and from its daily rows for the rest."""
        cols = [getattr(C.c, g) for g in group]
        column = getattr(C.c, by)
        first, last = _month_of(start, whole_from=True), _month_of(end, whole_from=False)
        if metric not in MONTHLY or by != "start" or first > last:  # the daily rows alone
            return self._sums(metric, cols, column >= start.isoformat(), column <= end.isoformat(), *extra)
        totals: dict = {}
        parts = [(f"{metric}.m", column >= first, column <= last)]
        if start.isoformat() < f"{first}-01":
            parts.append((metric, column >= start.isoformat(), column < f"{first}-01"))
        if end.isoformat() > f"{last}-31":
            parts.append((metric, column > f"{last}-31", column <= end.isoformat()))
        for name, *where in parts:
            for *key, n in self._sums(name, cols, *where, *extra):
                totals[tuple(key)] = totals.get(tuple(key), 0) + n
        return [(*key, n) for key, n in totals.items()]

    def _sums(self, metric: str, cols, *where) -> list:
        return self.conn.execute(select(*cols, func.sum(C.c.n)).where(
            C.c.metric == metric, C.c.municipality.in_(self.munis), *where).group_by(*cols)).all()

    def header(self, name: str) -> dict:
        return {"report": name, "municipalities": self.munis, "from": self.start.isoformat(),
                "to": self.end.isoformat(), "min_cell": self.k}

    def by_municipality(self, rows: list, keys) -> Table:
        counts = {(r[1], r[0]): r[2] for r in rows}
        return Table(list(keys), list(self.munis), counts, row_totals=self.many, col_totals=True)

    # the reports ------------------------------------------------------------------------------------------
    def cases(self) -> dict:
        phases = self.by_municipality(self.open_at("phase", self.end, "municipality", "a"), PHASES)
        opened = self.entered("case", self.start, self.end, "municipality")
        closed = self.entered("case", self.start, self.end, "municipality", exits=True)
        flows = {**{("opened", m): n for m, n in opened}, **{("closed", m): n for m, n in closed}}
        flow_table = Table(["opened", "closed"], list(self.munis), flows, row_totals=self.many, col_totals=False)
        waits = []
        for kind in ("first_contact", "first_referral"):
            hist = [(int(days), n) for days, n in self.during("arrival_wait", self.start, self.end, "end",
                                                              extra=(C.c.a == kind,))]
            count = sum(n for _, n in hist)
            waits.append({"from_arrival_to": kind, "persons": safe_value(count, count, self.k),
                          "median_days": safe_value(median(hist), count, self.k)})
        return {**self.header("cases"), "tables": {"open_by_phase": publish(phases, self.k),
                                                   "opened_and_closed": publish(flow_table, self.k)},
                "waits": waits}

    def _barrier_figures(self, days: list[date]):
        """(open cases, open barriers, barrier ages) on each of `days`."""
        cases = self.open_on("case", days, "municipality")
        barriers = self.open_on("barrier", days, "municipality", "a")
        return [(dict(open_cases), {(code, m): n for m, code, n in counts}, ages)
                for open_cases, counts, ages in zip(cases, barriers, self.barrier_ages(days))]

    def barriers(self) -> dict:
        prev_start, prev_end = previous(self.start, self.end)
        (open_cases, counts, ages), (p_open_cases, p_counts, p_ages) = self._barrier_figures([self.end, prev_end])
        codes = sorted({code for code, _ in counts} | {code for code, _ in p_counts})
        table = Table(codes, list(self.munis), counts, row_totals=self.many, col_totals=True)
        prev_table = Table(codes, list(self.munis), p_counts, row_totals=self.many, col_totals=True)
        cases_table = Table(["open_cases"], list(self.munis), {("open_cases", m): n for m, n in open_cases.items()},
                            row_totals=self.many, col_totals=False)
        published, prev_published = publish(table, self.k), publish(prev_table, self.k)
        cases_published = publish(cases_table, self.k)
        resolved = {}
        for code, days, n in self.during("barrier.resolved", self.start, self.end, "a", "b"):
            resolved.setdefault(code, []).append((int(days), n))
        total_cases = sum(open_cases.values())
        p_total_cases = sum(p_open_cases.values())
        ranking = []
        for row, prev_row in zip(published["rows"], prev_published["rows"]):
            code = row["key"]
            now = row["total"] if self.many else row["cells"][self.munis[0]]
            before = prev_row["total"] if self.many else prev_row["cells"][self.munis[0]]
            n_now = sum(v for (c, _), v in counts.items() if c == code)
            n_before = sum(v for (c, _), v in p_counts.items() if c == code)
            rate = round(100 * n_now / total_cases, 1) if total_cases else None
            p_rate = round(100 * n_before / p_total_cases, 1) if p_total_cases else None
            med, p_med = median(ages.get(code, [])), median(p_ages.get(code, []))
            hidden_now = now["suppressed"] or 0 < total_cases < self.k
            hidden_before = before["suppressed"] or 0 < p_total_cases < self.k
            solved = resolved.get(code, [])
            n_solved = sum(n for _, n in solved)
            ranking.append({
                "code": code, "open": now,
                "per_100_open_cases": cell(rate, hidden_now),
                "median_days_unresolved": safe_value(med, n_now, self.k, now["suppressed"]),
                "previous": {"open": before, "per_100_open_cases": cell(p_rate, hidden_before),
                             "median_days_unresolved": safe_value(p_med, n_before, self.k, before["suppressed"])},
                "change": {
                    "per_100_open_cases": cell(None if rate is None or p_rate is None else round(rate - p_rate, 1),
                                               hidden_now or hidden_before),
                    "median_days_unresolved": cell(None if med is None or p_med is None else med - p_med,
                                                   now["suppressed"] or before["suppressed"]
                                                   or 0 < n_now < self.k or 0 < n_before < self.k)},
                "resolved_in_period": safe_value(n_solved, n_solved, self.k),
                "median_days_to_resolve": safe_value(median(solved), n_solved, self.k),
                "per_municipality": {m: {"open": row["cells"][m], "per_100_open_cases": cell(
                    round(100 * counts.get((code, m), 0) / open_cases[m], 1) if open_cases.get(m) else None,
                    row["cells"][m]["suppressed"] or 0 < open_cases.get(m, 0) < self.k)} for m in self.munis},
            })
        ranking.sort(key=lambda r: (r["per_100_open_cases"]["value"] is None,
                                    -(r["per_100_open_cases"]["value"] or 0),
                                    -(r["median_days_unresolved"]["value"] or 0), r["code"]))
        return {**self.header("barriers"), "previous_period": {"from": prev_start.isoformat(),
                                                               "to": prev_end.isoformat()},
                "ranking": ranking, "tables": {"open_barriers": published, "open_barriers_previous": prev_published,
                                               "open_cases": cases_published}}

    def referrals(self) -> dict:
        stages = self.during("ref_stage", self.start, self.end, "a", "b", "c")
        counts = {((offer, area), stage): n for offer, area, stage, n in stages}
        keys = sorted({key for key, _ in counts})
        funnel = publish(Table(keys, list(FUNNEL), counts, row_totals=False, col_totals=True), self.k)
        waits_rows = self.during("ref_wait", self.start, self.end, "a", "b", "c", "end")
        hist: dict = {}
        for offer, area, kind, days, n in waits_rows:
            hist.setdefault((offer, area), {}).setdefault(kind, []).append((int(days), n))
        for row in funnel["rows"]:
            offer, area = row["key"]
            row["offer_id"], row["area"] = offer, area
            row["median_days"] = {}
            for kind, _, _ in WAITS:
                h = hist.get((offer, area), {}).get(kind, [])
                count = sum(n for _, n in h)
                row["median_days"][kind] = safe_value(median(h), count, self.k)
        declines = self.during("ref_decline", self.start, self.end, "c", "b")
        reasons = sorted({r for r, _, _ in declines})
        areas = sorted({a for _, a, _ in declines})
        decline_table = Table(reasons, areas, {(r, a): n for r, a, n in declines})
        return {**self.header("referrals"), "funnel": funnel,
                "tables": {"decline_reasons_by_area": publish(decline_table, self.k)}}

    def caseload(self) -> dict:
        """One row per case manager: the open cases assigned to their username against the capacity of their
        profile (`case_manager_saved` v2 names the username). A profile known from v1 events only (no
        username yet) and the load of a username without a profile stay rows of their own."""
        loads = {who: n for who, n in self.open_at("caseload", self.end, "a")}
        managers: dict = {}  # row key (the username, else the id) -> (case_manager_id, state)
        for entity_id, state in self._managers():
            key = state.get("username") or entity_id
            if key in managers:  # two profiles with one username (not in casework): the newest keeps its row
                key = entity_id
            if set(state.get("municipalities", [])) & set(self.munis) or key in loads:
                managers[key] = (entity_id, state)
        names = sorted(set(loads) | set(managers))
        table = publish(Table(names, ["open_cases"], {(w, "open_cases"): n for w, n in loads.items()},
                              row_totals=False, col_totals=True), self.k)
        rows = []
        for row in table["rows"]:
            key = row["key"]
            manager_id, state = managers.get(key, (None, {}))
            load = row["cells"]["open_cases"]
            capacity = state.get("capacity")
            rows.append({"case_manager_id": manager_id, "username": state.get("username") or
                         (key if key in loads else None), "open_cases": load, "capacity": capacity,
                         "active": state.get("active"), "employer": state.get("employer"),
                         "utilisation_percent": cell(round(100 * loads.get(key, 0) / capacity) if capacity else None,
                                                     load["suppressed"])})
        return {**self.header("caseload"), "case_managers": rows, "total": table["total"]}

    def _managers(self) -> list[tuple[str, dict]]:
        """(id, state) of every case manager's profile, the newest saved first."""
        found = [(r.entity_id, r.state or {}) for r in self.conn.execute(
            select(ENTITIES.c.entity_id, ENTITIES.c.state).where(ENTITIES.c.kind == "manager"))]
        found.sort(key=lambda r: (_key(*r[1]["saved"]) if r[1].get("saved") else NEVER, r[0]), reverse=True)
        return found

    def outcomes(self) -> dict:
        rows = self.during("outcome", self.start, self.end, "municipality", "a")
        table = self.by_municipality(rows, CASE_OUTCOMES)
        published = publish(table, self.k)
        goals: dict = {}
        for outcome, kind, n in self.during("goals", self.start, self.end, "a", "b"):
            goals.setdefault(outcome, {})[kind] = n
        for row in published["rows"]:
            outcome = row["key"]
            closed = sum(n for m, o, n in rows if o == outcome)
            hidden = (row["total"] if self.many else row["cells"][self.munis[0]])["suppressed"]
            g = goals.get(outcome, {})
            rate = round(100 * g.get("reached", 0) / g["total"]) if g.get("total") else None
            row["goals_reached_percent"] = safe_value(rate, closed, self.k, hidden)
        return {**self.header("outcomes"), "tables": {"closed_by_outcome": published}}

    def needs(self) -> dict:
        rows = self.open_at("needs", self.end, "a", "b")
        table = Table(list(LIFE_AREAS), list(NEED_LEVELS), {(a, lvl): n for a, lvl, n in rows})
        return {**self.header("needs"), "tables": {"open_cases_by_area_and_level": publish(table, self.k)}}

    def build(self, name: str) -> dict:
        if name not in REPORTS:
            raise ValueError(name)
        return getattr(self, name)()


# CSV -----------------------------------------------------------------------------------------------------------

CSV_COLUMNS = ("report", "from", "to", "section", "row", "column", "value", "suppressed")


def to_csv(report: dict) -> str:
    """Long format, one figure a line; a suppressed figure has an empty value and `suppressed` = 1."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    base = (report["report"], report["from"], report["to"])

    def key_text(key):
        return "/".join(map(str, key)) if isinstance(key, (list, tuple)) else str(key)

    def emit(section, row, column, value):
        writer.writerow((*base, section, key_text(row), column,
                         "" if value["suppressed"] or value["value"] is None else value["value"],
                         int(value["suppressed"])))

    def walk(section, row, prefix, data):
        for name, value in data.items():
            if isinstance(value, dict) and set(value) == {"value", "suppressed"}:
                emit(section, row, f"{prefix}{name}", value)
            elif isinstance(value, dict):
                walk(section, row, f"{prefix}{name}.", value)

    for name, table in report.get("tables", {}).items():
        for row in table["rows"]:
            walk(name, row["key"], "", {**row["cells"], **({"total": row["total"]} if "total" in row else {})})
        for column, value in table.get("total", {}).items():
            emit(name, "total", column, value)
    for item in report.get("ranking", []):
        walk("ranking", item["code"], "", item)
    if "funnel" in report:
        for row in report["funnel"]["rows"]:
            walk("funnel", row["key"], "", {**row["cells"], "median_days": row["median_days"]})
        for column, value in report["funnel"].get("total", {}).items():
            emit("funnel", "total", column, value)
    for item in report.get("case_managers", []):
        walk("caseload", item["case_manager_id"] or item["username"], "", item)
    for item in report.get("waits", []):
        walk("waits", item["from_arrival_to"], "", item)
    return out.getvalue()
