"""The assignment rule: who gets a new case (towns served, languages, load against capacity, absences, full ->
the town's queue), on a setup like a real district's, and the capacity rule."""
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from services.casework import domain, staff
from services.casework.models import Case, CaseAssignment, CaseManager
from services.shared.auth import caller_from_claims
from services.shared.settings import Settings
from tests.conftest import KIERSPE, LUEDENSCHEID, MEINERZHAGEN

TOWNS = [LUEDENSCHEID, MEINERZHAGEN, KIERSPE]
ADMIN = caller_from_claims({"sub": "admin", "role": "district_admin", "municipalities": TOWNS})
LEAD = caller_from_claims({"sub": "lead", "role": "team_lead", "municipalities": TOWNS})
SETTINGS = Settings()


# the rule itself, as a table -----------------------------------------------------------------------------------

def cand(name, languages=("de",), capacity=60, town_capacity=60, load=0, town_load=0, **kw):
    return staff.Candidate(id=name, username=name, team=None, languages=tuple(languages), capacity=capacity,
                           town_capacity=town_capacity, load=load, town_load=town_load, **kw)


@pytest.mark.parametrize("candidates, languages, expected", [
    ([], ["uk"], None),  # nobody serves the town: the queue
    ([cand("a"), cand("b")], ["uk"], "a"),  # equal: by username
    ([cand("a", load=10, town_load=10), cand("b")], ["uk"], "b"),  # lowest load
    ([cand("a"), cand("b", languages=("de", "uk"), load=30, town_load=30)], ["uk"], "b"),  # a shared language first
    ([cand("a"), cand("b", languages=("uk",), absent=True)], ["uk"], "a"),  # absent today: skipped
    ([cand("a"), cand("b", languages=("uk",), active=False)], ["uk"], "a"),  # inactive: skipped
    ([cand("a", load=60, town_load=60), cand("b", load=60, town_load=30, capacity=60)], [], None),  # full
    ([cand("a", town_capacity=24, town_load=24, load=24), cand("b", load=50, town_load=50)], [], "b"),  # town share full
    ([cand("a", capacity=30, town_capacity=30, load=15, town_load=15), cand("b", load=20, town_load=20)], [],
     "b"),  # relative load: 20/60 < 15/30
    ([cand("a", capacity=0, town_capacity=0)], [], None),  # no capacity at all
])
def test_choose(candidates, languages, expected):
    chosen = staff.choose(candidates, languages)
    assert (chosen.username if chosen else None) == expected


@pytest.mark.parametrize("hours, capacity, expected", [(39, None, 60), (19.5, None, 30), (30, None, 46),
                                                       (39, 45, 45), (10, 0, 0)])
def test_capacity_from_hours_pro_rata_unless_set(hours, capacity, expected):
    cm = CaseManager(hours_per_week=hours, capacity=capacity)
    assert staff.capacity_of(cm, SETTINGS) == expected
    assert staff.capacity_of(CaseManager(hours_per_week=39, capacity=None),
                             Settings(cases_per_full_time=50)) == 50


# a district's setup ------------------------------------------------------------------------------------------

def cm_body(username, employer, coverage, languages=("de",), hours=39, **kw):
    return {"name": username.title(), "username": username, "employer": employer, "languages": list(languages),
            "hours_per_week": hours, "coverage": coverage, "capacity": None, "team": None, "team_lead": False,
            "active": True, **kw}


WEEK = ["mon", "tue", "wed", "thu", "fri"]


@pytest.fixture
def district(casework_tx):
    """akoch: district, full-time in Lüdenscheid; bnowak: district, Mon+Tue in Lüdenscheid and Wed-Fri in
    Meinerzhagen, speaks Ukrainian; cyilmaz: employed by Meinerzhagen, half-time there, speaks Arabic."""
    with casework_tx() as uow:
        ids = {
            "akoch": staff.create_case_manager(uow.session, ADMIN, cm_body(
                "akoch", "district", [{"municipality": LUEDENSCHEID, "weekdays": WEEK}], ["de", "en"])).id,
            "bnowak": staff.create_case_manager(uow.session, ADMIN, cm_body(
                "bnowak", "district", [{"municipality": LUEDENSCHEID, "weekdays": ["mon", "tue"]},
                                       {"municipality": MEINERZHAGEN, "weekdays": ["wed", "thu", "fri"]}],
                ["de", "uk", "ru"])).id,
            "cyilmaz": staff.create_case_manager(uow.session, LEAD, cm_body(
                "cyilmaz", "municipality", [{"municipality": MEINERZHAGEN, "weekdays": WEEK}], ["de", "tr", "ar"],
                hours=19.5)).id,
        }
    return ids


def new_case(tx, town=LUEDENSCHEID, languages=("ar",)):
    with tx() as uow:
        opened = domain.open_case(uow.connection, str(uuid.uuid4()), town, languages)
        case = uow.session.get(Case, opened["id"])
        assigned = staff.auto_assign(uow.session, case, SETTINGS)
        return assigned.assigned_to if assigned else None


def test_coverage_hours_follow_the_weekdays(casework_tx, district):
    with casework_tx() as uow:
        bnowak = staff.describe(uow.session, uow.session.get(CaseManager, district["bnowak"]), SETTINGS)
        cyilmaz = staff.describe(uow.session, uow.session.get(CaseManager, district["cyilmaz"]), SETTINGS)
    assert [(c["municipality"], c["hours_per_week"]) for c in bnowak["coverage"]] == [
        (LUEDENSCHEID, 15.6), (MEINERZHAGEN, 23.4)]
    assert bnowak["capacity"] == 60 and bnowak["capacity_from_hours"] is True
    assert cyilmaz["capacity"] == 30 and cyilmaz["employer_municipality"] == MEINERZHAGEN


def test_a_shared_language_first_then_the_lowest_load(casework_tx, district):
    assert new_case(casework_tx, LUEDENSCHEID, ["uk"]) == "bnowak"  # speaks Ukrainian, serves Lüdenscheid Mon+Tue
    assert new_case(casework_tx, LUEDENSCHEID, ["ar"]) == "akoch"  # nobody speaks Arabic here: lowest load
    # bnowak has 1 of 24 in Lüdenscheid (1/24), akoch 1 of 60 (1/60): akoch again
    assert new_case(casework_tx, LUEDENSCHEID, ["fa"]) == "akoch"
    assert new_case(casework_tx, MEINERZHAGEN, ["ar"]) == "cyilmaz"  # the municipal one speaks Arabic
    assert new_case(casework_tx, MEINERZHAGEN, ["ru"]) == "bnowak"
    assert new_case(casework_tx, KIERSPE, ["ar"]) is None  # nobody serves Kierspe: its queue


def test_absent_case_managers_get_no_new_cases(casework_tx, district):
    today = date.today()
    with casework_tx() as uow:
        staff.add_absence(uow.session, LEAD, district["bnowak"], {
            "starts_on": today - timedelta(days=1), "ends_on": today + timedelta(days=6),
            "deputy_id": district["akoch"], "kind": "holiday"})
        staff.add_absence(uow.session, LEAD, district["cyilmaz"], {  # over: counts no more
            "starts_on": today - timedelta(days=9), "ends_on": today - timedelta(days=1), "deputy_id": None,
            "kind": "sickness"})
    assert new_case(casework_tx, LUEDENSCHEID, ["uk"]) == "akoch"
    assert new_case(casework_tx, MEINERZHAGEN, ["uk"]) == "cyilmaz"


def test_a_deputy_must_serve_a_town_of_the_absent_one(casework_tx, district):
    from services.shared.errors import InvalidInput
    with casework_tx() as uow, pytest.raises(InvalidInput) as refused:
        staff.add_absence(uow.session, LEAD, district["akoch"], {
            "starts_on": date.today(), "ends_on": date.today(), "deputy_id": district["cyilmaz"], "kind": "other"})
    assert list(refused.value.fields) == ["deputy_id"]


def test_full_case_managers_leave_cases_in_the_queue_until_someone_has_room(casework_tx, district):
    with casework_tx() as uow:
        for username in ("akoch", "bnowak"):
            cm = uow.session.scalar(select(CaseManager).where(CaseManager.username == username))
            staff.update_case_manager(uow.session, ADMIN, cm.id, cm.version, {"capacity": 1})
    assert new_case(casework_tx, LUEDENSCHEID, ["de"]) == "akoch"
    assert new_case(casework_tx, LUEDENSCHEID, ["de"]) == "bnowak"  # share in Lüdenscheid: ceil(1 * 0.4) = 1
    assert new_case(casework_tx, LUEDENSCHEID, ["de"]) is None  # both full: the town's queue
    with casework_tx() as uow:
        queued = list(uow.session.scalars(select(Case).where(Case.assigned_to.is_(None))))
    assert len(queued) == 1
    with casework_tx() as uow:  # akoch gets room: the queue drains
        cm = uow.session.scalar(select(CaseManager).where(CaseManager.username == "akoch"))
        staff.update_case_manager(uow.session, ADMIN, cm.id, cm.version, {"capacity": 5})
        drained = staff.drain_queue(uow.session, [LUEDENSCHEID], SETTINGS)
        assert [c.assigned_to for c in drained] == ["akoch"]
        history = list(uow.session.scalars(select(CaseAssignment).where(CaseAssignment.case_id == drained[0].id)))
        assert [(h.automatic, h.assigned_by) for h in history] == [(True, "system")]


def test_who_may_write_which_case_manager(casework_tx, district):
    from services.shared.errors import Forbidden, InvalidInput, NotFound
    with casework_tx() as uow:
        with pytest.raises(Forbidden):  # district case managers: district_admin
            staff.create_case_manager(uow.session, LEAD, cm_body("x1", "district", [
                {"municipality": LUEDENSCHEID, "weekdays": WEEK}]))
        with pytest.raises(Forbidden):  # municipal ones: team_lead
            staff.create_case_manager(uow.session, ADMIN, cm_body("x2", "municipality", [
                {"municipality": LUEDENSCHEID, "weekdays": WEEK}]))
        lead_of_one = caller_from_claims({"sub": "l", "role": "team_lead", "municipalities": [KIERSPE]})
        with pytest.raises(InvalidInput) as refused:  # only the caller's towns
            staff.create_case_manager(uow.session, lead_of_one, cm_body("x3", "municipality", [
                {"municipality": LUEDENSCHEID, "weekdays": WEEK}]))
        assert list(refused.value.fields) == ["coverage.0.municipality"]
        with pytest.raises(NotFound):  # another town's case manager: 404
            staff.get_case_manager(uow.session, lead_of_one, district["akoch"])


def test_a_batch_assigns_as_one_case_after_another_would(casework_tx, district):
    """The batch consumer's `auto_assign_many` (one read of the candidates per town, loads counted in memory)
    picks whom `auto_assign` case by case picks, across towns served by the same case manager."""
    wanted = [(LUEDENSCHEID, ["uk"]), (MEINERZHAGEN, ["ru"]), (LUEDENSCHEID, ["ar"]), (MEINERZHAGEN, ["ar"]),
              (LUEDENSCHEID, ["fa"]), (KIERSPE, ["ar"]), (MEINERZHAGEN, ["uk"]), (LUEDENSCHEID, ["uk"])] * 3
    one_by_one = [new_case(casework_tx, town, languages) for town, languages in wanted]
    with casework_tx() as uow:  # back to no cases, then the same in one batch
        uow.session.execute(CaseAssignment.__table__.delete())
        uow.session.execute(Case.__table__.delete())
    with casework_tx() as uow:
        ids = [domain.open_case(uow.connection, str(uuid.uuid4()), town, languages)["id"]
               for town, languages in wanted]
        cases = [uow.session.get(Case, i) for i in ids]
        assigned = staff.auto_assign_many(uow.session, cases, SETTINGS)
        in_batch = [c.assigned_to for c in cases]
    assert len(assigned) == sum(1 for a in one_by_one if a)
    # per town the same sequence of choices (the batch takes the towns one after another)
    for town in TOWNS:
        assert ([a for (t, _), a in zip(wanted, in_batch) if t == town]
                == [a for (t, _), a in zip(wanted, one_by_one) if t == town])
    assert None in in_batch and "bnowak" in in_batch  # Kierspe's queue; the shared case manager got cases


def test_a_case_manager_set_inactive_hands_their_open_cases_over(casework_tx, district):
    """akoch leaves: their open Lüdenscheid cases go to bnowak (who serves Lüdenscheid) by the rule, with the
    handover in the history; a closed case stays theirs; with nobody left in the town the cases wait in its queue."""
    mine = [new_case(casework_tx, LUEDENSCHEID, ["en"]) for _ in range(3)]
    assert mine == ["akoch"] * 3
    with casework_tx() as uow:
        cases = list(uow.session.scalars(select(Case).where(Case.assigned_to == "akoch").order_by(Case.id)))
        cases[0].status = "closed"
        akoch = uow.session.get(CaseManager, district["akoch"])
        staff.update_case_manager(uow.session, ADMIN, akoch.id, akoch.version, {"active": False})
        moved = staff.hand_over_cases(uow.session, akoch, SETTINGS)
    assert sorted((c.assigned_to, previous) for c, previous in moved) == [("bnowak", "akoch")] * 2
    with casework_tx() as uow:
        history = staff.assignments_of(uow.session, moved[0][0].id)
        assert [(h.assigned_to, h.assigned_by, h.reason) for h in history] == [
            ("akoch", "system", None), (None, "system", "case manager inactive: handed over"),
            ("bnowak", "system", None)]
        assert uow.session.get(Case, cases[0].id).assigned_to == "akoch"  # closed: stays as it was
        bnowak = uow.session.get(CaseManager, district["bnowak"])
        staff.update_case_manager(uow.session, ADMIN, bnowak.id, bnowak.version, {"active": False})
        queued = staff.hand_over_cases(uow.session, bnowak, SETTINGS)
    assert [(c.assigned_to, c.team, previous) for c, previous in queued] == [(None, None, "bnowak")] * 2
