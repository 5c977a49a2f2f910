"""Assessments, the case plan (with mirrored referrals), contacts and appointments, barriers, the worklist and
casework's part of GDPR export/erasure: the domain and the nameko entrypoints on a real (SQLite) database."""
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import func, select, update

from services.casework import barriers as barrier_domain
from services.casework import models as m
from services.casework.service import CaseworkService
from services.shared.db import WorkerDatabase
from services.shared.errors import Conflict, Forbidden, InvalidInput, NotFound, PreconditionFailed
from services.shared.events import BARRIER_CODE_RE, LIFE_AREAS, build_envelope, load_envelope
from services.shared.settings import Settings
from tests.conftest import KIERSPE, LUEDENSCHEID
from tests.unit.conftest import StubCaller

CM = "asiebel"


def registered(person_id=None, municipality=LUEDENSCHEID):
    return load_envelope(build_envelope("intake", "person_registered", municipality, {
        "person_id": person_id or uuid.uuid4(), "municipality": municipality,
        "arrival_date": date(2026, 10, 2), "residence_status": "toleration",
        "languages": ["ar"], "birth_year": 1990}))


def casework(tx, **caller):
    caller.setdefault("sub", CM)
    return worker_factory(CaseworkService, db=WorkerDatabase(tx), caller=StubCaller(**caller),
                          settings=Settings.load())


def outbox(tx, event_type=None):
    with tx() as uow:
        bodies = [row.body for row in uow.session.execute(select(uow.outbox.c.body).order_by(uow.outbox.c.id))]
    return [b for b in bodies if event_type is None or b["event_type"] == event_type]


def set_case(tx, case_id, **values):
    # the cycle's transition route is the staff helper's; the unit tests set the phase directly
    with tx() as uow:
        uow.connection.execute(update(m.Case.__table__).where(m.Case.id == case_id).values(**values))


@pytest.fixture
def case(casework_tx):
    """A case in phase `assessment`, assigned to CM."""
    person_id = str(uuid.uuid4())
    case_id = casework(casework_tx).open_case(registered(person_id))
    set_case(casework_tx, case_id, status="assessment", assigned_to=CM)
    return {"id": case_id, "person_id": person_id}


AREAS = [{"area": "language", "need": "high", "priority": 1, "strengths": "speaks three languages",
          "notes": "waits for a course"},
         {"area": "housing", "need": "urgent", "priority": 2},
         {"area": "health", "need": "none"}]


# assessments ----------------------------------------------------------------------------------------------

def test_assessment_is_recorded_with_history_and_announced_with_needs_only(casework_tx, case):
    service = casework(casework_tx)
    first = service.record_assessment(case["id"], {"areas": AREAS, "summary": "first talk"})
    assert first["phase"] == "assessment" and [a["area"] for a in first["areas"]] == ["language", "housing",
                                                                                      "health"]
    set_case(casework_tx, case["id"], status="monitoring")
    second = service.record_assessment(case["id"], {"areas": [{"area": "language", "need": "low"}]})
    assert [a["id"] for a in service.list_assessments(case["id"])["items"]] == [first["id"], second["id"]]
    progress = {p["area"]: p["levels"] for p in service.assessment_progress(case["id"])["areas"]}
    assert [lv["need"] for lv in progress["language"]] == ["high", "low"]
    assert [lv["phase"] for lv in progress["language"]] == ["assessment", "monitoring"]
    assert [lv["need"] for lv in progress["housing"]] == ["urgent"] and progress["work"] == []
    events = outbox(casework_tx, "assessment_recorded")
    assert len(events) == 2
    payload = events[0]["payload"]
    assert payload["needs"] == [{"area": "language", "level": "high"}, {"area": "housing", "level": "urgent"},
                                {"area": "health", "level": "none"}]
    assert "notes" not in str(payload) and "three languages" not in str(events)


@pytest.mark.parametrize("phase", ["intake", "closed"])
def test_no_assessment_in_intake_or_closed(casework_tx, case, phase):
    set_case(casework_tx, case["id"], status=phase)
    with pytest.raises(Conflict):
        casework(casework_tx).record_assessment(case["id"], {"areas": AREAS})
    assert outbox(casework_tx, "assessment_recorded") == []


@pytest.mark.parametrize("body, field", [
    ({"areas": []}, "areas"),
    ({"areas": [{"area": "moon", "need": "low"}]}, "areas.0.area"),
    ({"areas": [{"area": "work", "need": "extreme"}]}, "areas.0.need"),
    ({"areas": [{"area": "work", "need": "low", "priority": 0}]}, "areas.0.priority"),
    ({"areas": [{"area": "work", "need": "low"}, {"area": "work", "need": "high"}]}, "areas.1.area"),
    ({"areas": [{"area": "work", "need": "low"}], "colour": "red"}, "colour"),
])
def test_bad_assessments_are_refused_naming_the_field(casework_tx, case, body, field):
    with pytest.raises(InvalidInput) as refused:
        casework(casework_tx).record_assessment(case["id"], body)
    assert field in refused.value.args[1]
    with casework_tx() as uow:
        assert uow.session.scalar(select(func.count()).select_from(m.Assessment)) == 0


def test_case_profile_has_latest_needs_and_open_barriers(casework_tx, case):
    service = casework(casework_tx)
    profile = service.case_profile(case["id"])
    assert profile == {"case_id": case["id"], "person_id": case["person_id"], "municipality": LUEDENSCHEID,
                       "status": "assessment", "assigned_to": CM, "needs": [], "open_barriers": []}
    service.record_assessment(case["id"], {"areas": AREAS})
    service.record_assessment(case["id"], {"areas": [{"area": "work", "need": "medium"},
                                                     {"area": "family", "need": "none"}]})
    kept = service.record_barrier(case["id"], {"code": "no_childcare_place"})
    gone = service.record_barrier(case["id"], {"code": "debts"})
    service.resolve_barrier(case["id"], gone["id"], {"how": "debt counselling"})
    profile = service.case_profile(case["id"])
    assert profile["needs"] == [{"area": "work", "level": "medium"}]
    assert profile["open_barriers"] == [{"code": "no_childcare_place", "area": "family"}]
    assert kept["area"] == "family"
    with pytest.raises(NotFound):  # another town's case is not there for the caller
        casework(casework_tx, municipalities=(KIERSPE,)).case_profile(case["id"])
    with pytest.raises(NotFound):  # a case manager does not see a colleague's case
        casework(casework_tx, sub="colleague").case_profile(case["id"])
    with pytest.raises(Forbidden):
        casework(casework_tx, role="district_admin").record_assessment(case["id"], {"areas": AREAS})


# the plan ---------------------------------------------------------------------------------------------------

def test_plan_goals_actions_overdue_and_versions(casework_tx, case):
    service = casework(casework_tx)
    past = (date.today() - timedelta(days=3)).isoformat()
    goal = service.create_goal(case["id"], {"area": "language", "description": "B1 certificate",
                                            "target_date": past, "agreed_with_person": True})
    assert goal["status"] == "open" and goal["version"] == 1
    task = service.create_action(case["id"], goal["id"], {"assignee": "person", "description": "register",
                                                          "due_on": past})
    later = service.create_action(case["id"], goal["id"], {"assignee": "case_manager", "description": "call",
                                                           "due_on": (date.today() + timedelta(days=5)).isoformat()})
    plan = service.get_plan(case["id"])
    (g,) = plan["goals"]
    assert g["overdue"] and [a["overdue"] for a in g["actions"]] == [True, False] and plan["overdue"] == 2
    assert {(i["kind"], i["id"]) for i in service.list_overdue({})["items"]} == {("goal", goal["id"]),
                                                                                  ("action", task["id"])}
    with pytest.raises(PreconditionFailed):
        service.update_action(case["id"], task["id"], 7, {"status": "done"})
    done = service.update_action(case["id"], task["id"], 1, {"status": "done"})
    assert done["status"] == "done" and done["done_at"] and done["version"] == 2 and not done["overdue"]
    reached = service.update_goal(case["id"], goal["id"], 1, {"status": "reached"})
    assert reached["version"] == 2 and not reached["overdue"] and len(reached["actions"]) == 2
    assert service.list_overdue({})["items"] == []
    with pytest.raises(Conflict):  # a reached goal takes no new actions
        service.create_action(case["id"], goal["id"], {"assignee": "person", "description": "x"})
    with pytest.raises(InvalidInput) as refused:
        service.update_goal(case["id"], goal["id"], 2, {})
    assert "body" in refused.value.args[1]
    with pytest.raises(InvalidInput) as refused:
        service.create_goal(case["id"], {"area": "language", "description": "", "target_date": "soon"})
    assert {"description", "target_date"} <= set(refused.value.args[1])
    with pytest.raises(NotFound):
        service.create_action(case["id"], str(uuid.uuid4()), {"assignee": "person", "description": "x"})
    assert later["due_on"]
    set_case(casework_tx, case["id"], status="closed")
    with pytest.raises(Conflict):
        service.create_goal(case["id"], {"area": "work", "description": "job"})


def referral_event(case, status, referral_id, goal_id=None, event_id=None):
    envelope = load_envelope(build_envelope("referrals", f"referral_{status}", LUEDENSCHEID, {
        "referral_id": referral_id, "case_id": case["id"], "person_id": case["person_id"],
        "municipality": LUEDENSCHEID, "offer_id": "00000000-0000-4000-8000-000000000001", "goal_id": goal_id,
        "provider_id": "awo-mk", "area": "language", "status": status, "previous_status": None,
        "occurred_at": datetime.now(timezone.utc)}))
    if event_id:
        envelope["event_id"] = event_id
    return envelope


def test_referral_events_are_mirrored_idempotently_and_never_backwards(casework_tx, case):
    service = casework(casework_tx)
    goal = service.create_goal(case["id"], {"area": "language", "description": "course"})
    referral = str(uuid.uuid4())
    sent = referral_event(case, "sent", referral, goal["id"])
    assert service.mirror_referral(sent) == "sent"
    assert service.mirror_referral(sent) is None  # the same event again: claimed already
    assert service.mirror_referral(referral_event(case, "accepted", referral, goal["id"])) == "accepted"
    # out of order: a late `sent`, then a `draft`, do not move it back
    assert service.mirror_referral(referral_event(case, "sent", referral, goal["id"])) == "accepted"
    assert service.mirror_referral(referral_event(case, "draft", referral)) == "accepted"
    assert service.mirror_referral(referral_event(case, "completed", referral)) == "completed"
    # a terminal status stays
    assert service.mirror_referral(referral_event(case, "in_progress", referral)) == "completed"
    assert service.mirror_referral(referral_event(case, "cancelled", referral)) == "completed"
    (action,) = service.get_plan(case["id"])["goals"][0]["actions"]
    assert action["kind"] == "referral" and action["referral_id"] == referral and action["status"] == "completed"
    assert action["due_on"] is None and action["offer_id"] == "00000000-0000-4000-8000-000000000001"
    with pytest.raises(Conflict):  # the referrals service owns it
        service.update_action(case["id"], action["id"], action["version"], {"status": "done"})
    # first seen late in its life, with no or a foreign goal: kept, unattached
    other = str(uuid.uuid4())
    assert service.mirror_referral(referral_event(case, "in_progress", other, str(uuid.uuid4()))) == "in_progress"
    assert [a["referral_id"] for a in service.get_plan(case["id"])["actions_without_goal"]] == [other]
    # a case that is not (any more) here: nothing kept
    assert service.mirror_referral(referral_event({"id": str(uuid.uuid4()), "person_id": case["person_id"]},
                                                  "sent", str(uuid.uuid4()))) is None


# contacts and appointments ------------------------------------------------------------------------------

def test_contacts_held_and_planned(casework_tx, case):
    service = casework(casework_tx)
    now = datetime.now(timezone.utc)
    held = service.record_contact(case["id"], {
        "occurred_at": (now - timedelta(hours=2)).isoformat(), "duration_minutes": 45, "channel": "home_visit",
        "place": "Wohnung", "interpreter_language": "ar", "participants": ["person", "interpreter"],
        "summary": "talked about the course", "follow_up_on": (date.today() + timedelta(days=7)).isoformat()})
    assert held["status"] == "held" and held["case_manager_id"] == CM
    planned = service.record_contact(case["id"], {"status": "planned", "channel": "in_person",
                                                  "occurred_at": (now + timedelta(days=2)).isoformat()})
    (event,) = outbox(casework_tx, "contact_recorded")
    assert event["payload"] == {"case_id": case["id"], "person_id": case["person_id"], "contact_id": held["id"],
                                "municipality": LUEDENSCHEID,
                                "occurred_at": event["payload"]["occurred_at"], "channel": "home_visit",
                                "duration_minutes": 45, "interpreter_language": "ar"}
    with casework_tx() as uow:
        row = uow.session.get(m.Case, case["id"])
        assert row.follow_up_on == date.today() + timedelta(days=7) and row.last_contact_at is not None
    appointments = service.list_appointments({})["items"]
    assert [a["id"] for a in appointments] == [planned["id"]] and appointments[0]["person_id"] == case["person_id"]
    assert service.list_appointments({"case_manager": "someone-else"})["items"] == []
    page = service.list_contacts(case["id"], {"limit": 1})
    assert [c["id"] for c in page["items"]] == [planned["id"]]
    assert [c["id"] for c in service.list_contacts(case["id"], {"cursor": page["next_cursor"]})["items"]] == [
        held["id"]]
    with pytest.raises(InvalidInput) as refused:  # not held yet: it lies in the future
        service.update_contact(case["id"], planned["id"], 1, {"status": "held"})
    assert "occurred_at" in refused.value.args[1]
    cancelled = service.update_contact(case["id"], planned["id"], 1, {"status": "cancelled"})
    assert cancelled["status"] == "cancelled" and cancelled["version"] == 2
    with pytest.raises(Conflict):
        service.update_contact(case["id"], planned["id"], 2, {"status": "held"})
    assert len(outbox(casework_tx, "contact_recorded")) == 1


def test_planned_appointment_marked_held_is_announced(casework_tx, case):
    service = casework(casework_tx)
    now = datetime.now(timezone.utc)
    planned = service.record_contact(case["id"], {"status": "planned", "channel": "video",
                                                  "occurred_at": (now + timedelta(minutes=5)).isoformat()})
    held = service.update_contact(case["id"], planned["id"], 1, {"status": "held", "duration_minutes": 20,
                                                                 "occurred_at": now.isoformat()})
    assert held["status"] == "held"
    (event,) = outbox(casework_tx, "contact_recorded")
    assert event["payload"]["contact_id"] == planned["id"] and event["payload"]["duration_minutes"] == 20


@pytest.mark.parametrize("body, field", [
    ({"channel": "in_person", "occurred_at": "2099-01-01T10:00:00+00:00"}, "occurred_at"),
    ({"status": "planned", "channel": "in_person", "occurred_at": "2020-01-01T10:00:00+00:00"}, "occurred_at"),
    ({"channel": "pigeon", "occurred_at": "2026-01-01T10:00:00+00:00"}, "channel"),
    ({"channel": "phone", "occurred_at": "2026-01-01T10:00:00"}, "occurred_at"),
    ({"channel": "phone", "occurred_at": "2026-01-01T10:00:00+00:00", "duration_minutes": -5},
     "duration_minutes"),
    ({"channel": "phone", "occurred_at": "2026-01-01T10:00:00+00:00", "interpreter_language": "Arabic"},
     "interpreter_language"),
    ({"status": "cancelled", "channel": "phone", "occurred_at": "2026-01-01T10:00:00+00:00"}, "status"),
])
def test_bad_contacts_are_refused(casework_tx, case, body, field):
    with pytest.raises(InvalidInput) as refused:
        casework(casework_tx).record_contact(case["id"], body)
    assert field in refused.value.args[1]
    with casework_tx() as uow:
        assert uow.session.scalar(select(func.count()).select_from(m.Contact)) == 0


def test_cases_without_contact_are_flagged(casework_tx, case):
    service = casework(casework_tx)
    long_ago = datetime.now(timezone.utc) - timedelta(days=40)
    set_case(casework_tx, case["id"], opened_at=long_ago)
    flagged = service.list_flagged_cases({})
    assert flagged["days"] == 30 and [c["case_id"] for c in flagged["items"]] == [case["id"]]
    assert flagged["items"][0]["days_without_contact"] >= 40
    assert service.list_flagged_cases({"days": 50})["items"] == []
    service.record_contact(case["id"], {"channel": "phone", "occurred_at": datetime.now(timezone.utc).isoformat()})
    assert service.list_flagged_cases({})["items"] == []


# barriers ---------------------------------------------------------------------------------------------------

def test_barrier_catalogue_is_valid_data():
    import re
    codes = barrier_domain.catalogue()
    assert len(codes) >= 20
    for entry in codes.values():
        assert re.fullmatch(BARRIER_CODE_RE, entry["code"]) and entry["area"] in LIFE_AREAS
        assert entry["label_de"] and entry["label_en"]
    for code in ("integration_course_waiting_list", "no_childcare_place", "qualification_not_recognised",
                 "no_housing", "missing_documents", "no_transport", "no_digital_access", "discrimination",
                 "debts", "legal_status_unresolved", "school_place_missing", "benefits_pending"):
        assert code in codes


def test_barriers_recorded_and_resolved(casework_tx, case):
    service = casework(casework_tx)
    assert len(service.barrier_codes()["codes"]) == len(barrier_domain.catalogue())
    noted = (date.today() - timedelta(days=10)).isoformat()
    barrier = service.record_barrier(case["id"], {"code": "integration_course_waiting_list", "noted_at": noted,
                                                  "note": "BAMF waiting list"})
    assert barrier["area"] == "language" and barrier["noted_at"] == noted and barrier["resolved_at"] is None
    with pytest.raises(InvalidInput) as refused:
        service.resolve_barrier(case["id"], barrier["id"], {"how": "x",
                                                            "resolved_at": (date.today() - timedelta(days=11))
                                                            .isoformat()})
    assert "resolved_at" in refused.value.args[1]
    resolved = service.resolve_barrier(case["id"], barrier["id"], {"how": "course place found"})
    assert resolved["resolved_at"] == date.today().isoformat() and resolved["how"] == "course place found"
    with pytest.raises(Conflict):
        service.resolve_barrier(case["id"], barrier["id"], {"how": "again"})
    with pytest.raises(NotFound):
        service.resolve_barrier(case["id"], str(uuid.uuid4()), {"how": "x"})
    assert [b["id"] for b in service.list_barriers(case["id"])["items"]] == [barrier["id"]]
    recorded, solved = outbox(casework_tx, "barrier_recorded"), outbox(casework_tx, "barrier_resolved")
    assert recorded[0]["payload"] == {"case_id": case["id"], "person_id": case["person_id"],
                                      "municipality": LUEDENSCHEID, "barrier_id": barrier["id"], "code": "integration_course_waiting_list",
                                      "area": "language", "recorded_on": noted}
    assert solved[0]["payload"]["resolved_on"] == date.today().isoformat()
    assert "BAMF" not in str(recorded) and "course place" not in str(solved)


@pytest.mark.parametrize("body, field", [
    ({"code": "no_unicorn"}, "code"),
    ({"code": "Not A Code"}, "code"),
    ({"code": "debts", "area": "moon"}, "area"),
    ({"code": "debts", "noted_at": "2999-01-01"}, "noted_at"),
    ({}, "code"),
])
def test_bad_barriers_are_refused_naming_the_field(casework_tx, case, body, field):
    with pytest.raises(InvalidInput) as refused:
        casework(casework_tx).record_barrier(case["id"], body)
    assert field in refused.value.args[1]
    assert outbox(casework_tx, "barrier_recorded") == []


# the worklist -------------------------------------------------------------------------------------------------

def test_worklist_has_next_due_items_appointments_and_flags(casework_tx, case):
    service = casework(casework_tx)
    today = date.today()
    goal = service.create_goal(case["id"], {"area": "work", "description": "job",
                                            "target_date": (today + timedelta(days=30)).isoformat()})
    task = service.create_action(case["id"], goal["id"], {"assignee": "case_manager", "description": "call",
                                                          "due_on": (today - timedelta(days=1)).isoformat()})
    other = casework(casework_tx).open_case(registered())
    set_case(casework_tx, other, status="planning", assigned_to=CM, follow_up_on=today + timedelta(days=2),
             opened_at=datetime.now(timezone.utc) - timedelta(days=45))
    foreign = casework(casework_tx).open_case(registered())
    set_case(casework_tx, foreign, status="planning", assigned_to="colleague")
    worklist = service.worklist({"date": today.isoformat()})
    assert worklist["case_manager"] == CM and worklist["date"] == today.isoformat()
    cases = {c["case_id"]: c for c in worklist["cases"]}
    assert set(cases) == {case["id"], other}
    assert cases[case["id"]]["next_due"] == {"kind": "action", "id": task["id"],
                                            "due_on": (today - timedelta(days=1)).isoformat(), "overdue": True}
    assert cases[case["id"]]["overdue"] == 1
    assert cases[other]["next_due"]["kind"] == "follow_up" and cases[other]["no_contact_flag"]
    assert not cases[case["id"]]["no_contact_flag"]
    assert [c["case_id"] for c in worklist["cases"]] == [case["id"], other]  # the overdue item first
    with pytest.raises(InvalidInput):
        service.worklist({"date": "tomorrow"})


# GDPR: export and erasure of every casework record --------------------------------------------------------

def fill_case(service, tx, case):
    """One record of each kind for the case (assignments and transitions written directly: the cycle's)."""
    service.record_assessment(case["id"], {"areas": AREAS})
    goal = service.create_goal(case["id"], {"area": "language", "description": "B1"})
    service.create_action(case["id"], goal["id"], {"assignee": "person", "description": "register"})
    service.mirror_referral(referral_event(case, "sent", str(uuid.uuid4()), goal["id"]))
    service.record_contact(case["id"], {"channel": "phone", "occurred_at": datetime.now(timezone.utc).isoformat(),
                                        "summary": "first call"})
    service.record_barrier(case["id"], {"code": "debts"})
    now = datetime.now(timezone.utc)
    with tx() as uow:
        uow.connection.execute(m.CaseAssignment.__table__.insert().values(
            case_id=case["id"], assigned_to=CM, previous_assigned_to=None, team=None, automatic=True,
            reason=None, assigned_by="system", assigned_at=now))
        uow.connection.execute(m.CaseTransition.__table__.insert().values(
            case_id=case["id"], from_status="intake", to_status="assessment", reason="fits", changed_by=CM,
            changed_at=now))


def test_export_has_every_record_of_the_case(casework_tx, case):
    fill_case(casework(casework_tx), casework_tx, case)
    (exported,) = casework(casework_tx, role="team_lead", sub="lead").export_person(case["person_id"])
    assert exported["id"] == case["id"]
    for table in ("assessments", "goals", "actions", "contacts", "barriers", "case_assignments",
                  "case_transitions"):
        assert exported[table], table
    assert {a["area"] for a in exported["assessments"][0]["areas"]} == {"language", "housing", "health"}
    assert {a["kind"] for a in exported["actions"]} == {"task", "referral"}
    assert exported["contacts"][0]["summary"] == "first call"
    assert exported["case_transitions"][0]["reason"] == "fits"


def test_erasure_removes_every_casework_row_of_the_person(casework_tx, case):
    service = casework(casework_tx)
    fill_case(service, casework_tx, case)
    kept = casework(casework_tx).open_case(registered())
    set_case(casework_tx, kept, status="assessment", assigned_to=CM)
    service.record_barrier(kept, {"code": "debts"})
    erased = load_envelope(build_envelope("intake", "person_erased", LUEDENSCHEID, {
        "person_id": case["person_id"], "municipality": LUEDENSCHEID, "erasure_id": str(uuid.uuid4())}))
    service.erase_person_data(erased)
    with casework_tx() as uow:
        for table in m.metadata.sorted_tables:
            for row in uow.connection.execute(select(table)):
                text = str(tuple(row))
                assert case["id"] not in text and case["person_id"] not in text, (table.name, text)
        assert uow.session.scalar(select(func.count()).select_from(m.Barrier)) == 1  # the other case's


def test_appointments_of_a_case_manager_by_id(casework_tx, case):
    service = casework(casework_tx)
    with pytest.raises(NotFound):
        service.case_manager_appointments(str(uuid.uuid4()), {})
    planned = service.record_contact(case["id"], {"status": "planned", "channel": "phone", "occurred_at": (
        datetime.now(timezone.utc) + timedelta(days=1)).isoformat()})
    cm_id, now = str(uuid.uuid4()), datetime.now(timezone.utc)
    with casework_tx() as uow:
        uow.session.add(m.CaseManager(id=cm_id, username=CM, display_name="A. Siebel", employer="district",
                                      languages=["de"], hours_per_week=39, active=True, created_at=now,
                                      updated_at=now, version=1))
    assert [a["id"] for a in service.case_manager_appointments(cm_id, {})["items"]] == [planned["id"]]
    with pytest.raises(InvalidInput) as refused:
        service.case_manager_appointments(cm_id, {"from": "2026-12-02T00:00:00Z", "to": "2026-12-01T00:00:00Z"})
    assert "to" in refused.value.args[1]
