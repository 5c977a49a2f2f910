"""Merging two records of one person, linking a re-registration to the existing person, and birth dates known
by the year only: the domain and the nameko workers (worker_factory) on real SQLite databases."""
import uuid
from datetime import date, datetime, timezone

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from services.casework import domain as casework_domain
from services.casework.models import Case
from services.casework.service import CaseworkService
from services.intake.models import Consent, HouseholdMember, Person, PersonChange
from services.intake.service import IntakeService
from services.shared.db import WorkerDatabase
from services.shared.errors import Conflict, InvalidInput, LikelyDuplicate, NotFound, PreconditionFailed
from services.shared.events import build_envelope, load_envelope
from tests.conftest import LUEDENSCHEID, MEINERZHAGEN, person_body
from tests.unit.conftest import StubCaller


def intake(tx, settings, key=None, **caller):
    caller.setdefault("role", "intake_officer")
    caller.setdefault("sub", "io-1")
    return worker_factory(IntakeService, db=WorkerDatabase(tx, idempotency_key=key), caller=StubCaller(**caller),
                          settings=settings)


def register(tx, settings, **overrides):
    return intake(tx, settings).register_person(person_body(confirmed_new=True, **overrides))


def outbox(tx, event_type):
    with tx() as uow:
        return [b for b in uow.session.execute(select(uow.outbox.c.body)).scalars() if b["event_type"] == event_type]


def history(tx, person_id):
    with tx() as uow:
        return [(c.field, c.old_value, c.new_value, c.changed_by) for c in uow.session.scalars(
            select(PersonChange).where(PersonChange.person_id == person_id).order_by(PersonChange.id))]


# birth date or birth year only --------------------------------------------------------------------------------

def test_a_person_known_by_the_year_only_is_registered_announced_and_read(intake_tx, settings):
    body = person_body(confirmed_new=True)
    del body["birth_date"]
    person = intake(intake_tx, settings).register_person({**body, "birth_year": 1990})
    assert person["birth_date"] is None and person["birth_year"] == 1990
    read = intake(intake_tx, settings).get_person(person["id"])
    assert read["birth_date"] is None and read["birth_year"] == 1990 and read["merged_into"] is None
    (event,) = outbox(intake_tx, "person_registered")
    assert load_envelope(event)["payload"]["birth_year"] == 1990
    full = register(intake_tx, settings, given_name="Petro")
    assert full["birth_date"] == "1988-04-17" and full["birth_year"] == 1988


def without_birth_date(**overrides):
    body = person_body(**overrides)
    del body["birth_date"]
    return body


BAD_BIRTHS = [
    (without_birth_date(), "birth_date"),  # neither
    (person_body(birth_year=1988), "birth_year"),  # both
    (without_birth_date(birth_year=date.today().year + 1), "birth_year"),
    (without_birth_date(birth_year=1899), "birth_year"),
    (without_birth_date(birth_year="1990"), "birth_year"),  # a number, not a string
    (without_birth_date(birth_year=2026, arrival_date="2025-12-31"), "arrival_date"),  # arrived before birth
]


@pytest.mark.parametrize("body, field", BAD_BIRTHS, ids=[f for _, f in BAD_BIRTHS])
def test_birth_date_or_year_exactly_one_in_range_and_before_arrival(intake_tx, settings, body, field):
    with pytest.raises(InvalidInput) as refused:
        intake(intake_tx, settings).register_person(body)
    assert field in refused.value.fields


def test_duplicates_meet_across_full_dates_and_years(intake_tx, settings):
    full = register(intake_tx, settings, given_name="Mohammed", family_name="Al-Hassan", birth_date="1990-05-06")
    with pytest.raises(LikelyDuplicate) as year_only:  # the same name, the year only: a likely duplicate
        intake(intake_tx, settings).register_person(without_birth_date(
            given_name="Muhammad", family_name="Al Hassan", birth_year=1990))
    assert [(c["id"], c["why"][0]) for c in year_only.value.candidates] == [(full["id"], "same_birth_year")]
    vague = intake(intake_tx, settings).register_person(without_birth_date(
        given_name="Muhammad", family_name="Al Hassan", birth_year=1990, confirmed_new=True))
    with pytest.raises(LikelyDuplicate) as exact:  # a full date meets the same day first, then the year-only
        intake(intake_tx, settings).register_person(person_body(
            given_name="Mohammed", family_name="Al-Hassan", birth_date="1990-05-06"))
    assert [(c["id"], c["why"][0]) for c in exact.value.candidates] == [
        (full["id"], "same_birth_date"), (vague["id"], "same_birth_year")]
    # another year: nobody
    assert register(intake_tx, settings, given_name="Mohammed", family_name="Al-Hassan", birth_date="1991-05-06")


def test_search_by_date_finds_year_only_records_ranked_lower(intake_tx, settings):
    exact = register(intake_tx, settings, given_name="Olena", birth_date="1990-05-06")
    vague = intake(intake_tx, settings).register_person(without_birth_date(given_name="Oksana", birth_year=1990,
                                                                           confirmed_new=True))
    register(intake_tx, settings, given_name="Iryna", birth_date="1990-05-07")  # the year, another day
    register(intake_tx, settings, given_name="Maria", birth_date="1991-05-06")
    lead = intake(intake_tx, settings, role="team_lead")
    found = lead.search_persons({"birth_date": "1990-05-06"})
    assert [p["id"] for p in found["items"]] == [exact["id"], vague["id"]]
    assert len(lead.search_persons({"birth_year": "1990"})["items"]) == 3
    with pytest.raises(InvalidInput) as both:
        lead.search_persons({"birth_date": "1990-05-06", "birth_year": "1990"})
    assert list(both.value.fields) == ["birth_year"]


def test_rectification_between_a_day_and_a_year(intake_tx, settings):
    person = register(intake_tx, settings)
    service = intake(intake_tx, settings)
    vague = service.update_person(person["id"], 1, {"birth_year": 1987})
    assert vague["birth_date"] is None and vague["birth_year"] == 1987 and vague["version"] == 2
    assert sorted(history(intake_tx, person["id"])) == [("birth_date", "1988-04-17", None, "io-1"),
                                                        ("birth_year", 1988, 1987, "io-1")]
    exact = service.update_person(person["id"], 2, {"birth_date": "1987-02-03"})
    assert exact["birth_date"] == "1987-02-03" and exact["birth_year"] == 1987
    with pytest.raises(InvalidInput) as both:
        service.update_person(person["id"], 3, {"birth_date": "1987-02-03", "birth_year": 1987})
    assert list(both.value.fields) == ["birth_year"]
    assert service.update_person(person["id"], 3, {"birth_year": 1987})["birth_date"] is None
    with pytest.raises(InvalidInput) as before_birth:  # year-only: arriving in an earlier year is refused
        service.update_person(person["id"], 4, {"arrival_date": "1986-12-31"})
    assert list(before_birth.value.fields) == ["arrival_date"]
    assert service.update_person(person["id"], 4, {"arrival_date": "1987-01-01"})["version"] == 5


def test_the_new_residence_statuses_are_accepted(intake_tx, settings):
    for status in ("family_reunification", "skilled_worker"):
        person = register(intake_tx, settings, given_name=f"Status {status}", residence_status=status)
        assert person["residence_status"] == status
    assert {load_envelope(e)["payload"]["residence_status"] for e in outbox(intake_tx, "person_registered")} == {
        "family_reunification", "skilled_worker"}


# linking a re-registration ------------------------------------------------------------------------------------

def test_a_registration_links_to_the_existing_person_instead_of_registering_again(intake_tx, settings):
    existing = register(intake_tx, settings, given_name="Mohammed", family_name="Al-Hassan")
    again = person_body(given_name="Muhammad", family_name="Al Hassan", arrival_date="2026-10-03")
    with pytest.raises(LikelyDuplicate) as refused:
        intake(intake_tx, settings).register_person(again)
    (candidate,) = refused.value.candidates
    linked = intake(intake_tx, settings, key="l-1").register_person({**again, "existing_person_id": candidate["id"]})
    assert linked["id"] == existing["id"] and linked["given_name"] == "Mohammed" and linked["version"] == 1
    assert intake(intake_tx, settings, key="l-1").register_person(
        {**again, "existing_person_id": candidate["id"]}) == linked  # a retry
    with intake_tx() as uow:
        assert uow.session.query(Person).count() == 1
    assert history(intake_tx, existing["id"]) == [
        ("registration_linked", None, ["given_name", "family_name", "arrival_date"], "io-1")]
    assert len(outbox(intake_tx, "person_registered")) == 1  # nothing announced


def test_linking_refuses_what_is_not_a_live_person_of_the_town(intake_tx, settings):
    existing = register(intake_tx, settings)
    other_town = intake(intake_tx, settings, municipalities=[MEINERZHAGEN]).register_person(
        person_body(municipality=MEINERZHAGEN, confirmed_new=True))
    both_towns = intake(intake_tx, settings, municipalities=[LUEDENSCHEID, MEINERZHAGEN])
    for person_id, caller in ((str(uuid.uuid4()), intake(intake_tx, settings)),
                              (other_town["id"], intake(intake_tx, settings)),  # invisible: like missing
                              (other_town["id"], both_towns)):  # visible, but another town than the body's
        with pytest.raises(InvalidInput) as refused:
            caller.register_person(person_body(existing_person_id=person_id))
        assert list(refused.value.fields) == ["existing_person_id"]
    with pytest.raises(InvalidInput) as contradictory:
        intake(intake_tx, settings).register_person(person_body(existing_person_id=existing["id"],
                                                                confirmed_new=True))
    assert list(contradictory.value.fields) == ["existing_person_id"]


# merging --------------------------------------------------------------------------------------------------------

FULL = dict(sex="female", phone="+49 2351 123456", address={"street": "Sauerfelder Str. 5", "postal_code": "58511",
                                                            "city": "Lüdenscheid"})


@pytest.fixture
def pair(intake_tx, settings):
    """The survivor (registered first, little known) and a duplicate with more fields, a household, and
    consents: case_management (which the survivor has too) and statistics (which it has not)."""
    survivor = register(intake_tx, settings, given_name="Mohammed", family_name="Al-Hassan")
    stats = {"purpose": "statistics", "granted_at": "2026-10-05T09:31:00Z", "basis": "signed_form"}
    duplicate = register(intake_tx, settings, given_name="Muhammad", family_name="Al Hassan",
                         consents=[*person_body()["consents"], stats], **FULL)
    household = intake(intake_tx, settings).create_household(
        {"members": [{"person_id": duplicate["id"], "relation": "head"}]})
    return survivor, duplicate, household


def test_merge_fills_moves_and_makes_the_record_read_only(intake_tx, settings, pair):
    survivor, duplicate, household = pair
    done = intake(intake_tx, settings, key="m-1").merge_person(duplicate["id"], {"into": survivor["id"]}, 1)
    assert (done["person_id"], done["into_person_id"], done["municipality"]) == (
        duplicate["id"], survivor["id"], LUEDENSCHEID)
    assert done["filled"] == ["address", "phone", "sex"] and done["consents_moved"] == ["statistics"]
    assert done["household_moved"] is True
    kept = done["survivor"]
    assert kept["sex"] == "female" and kept["address"] == FULL["address"] and kept["version"] == 2
    assert kept["given_name"] == "Mohammed"  # what the survivor has stays
    assert sorted(c["purpose"] for c in kept["consents"]) == ["case_management", "statistics"]
    # a retry with the same key answers the same merge
    assert intake(intake_tx, settings, key="m-1").merge_person(duplicate["id"], {"into": survivor["id"]}, 1) == done

    service = intake(intake_tx, settings)
    merged = service.get_person(duplicate["id"])
    assert merged["merged_into"] == survivor["id"] and merged["version"] == 2
    assert [c["purpose"] for c in merged["consents"]] == ["case_management"]  # its own record of it stays
    assert service.get_household(household["id"])["members"][0]["person_id"] == survivor["id"]
    for write in (lambda: service.update_person(duplicate["id"], 2, {"given_name": "X"}),
                  lambda: service.grant_consent(duplicate["id"], {"purpose": "statistics", "basis": "oral",
                                                                  "granted_at": "2026-10-06T10:00:00Z"}),
                  lambda: service.withdraw_consent(duplicate["id"], "case_management"),
                  lambda: service.merge_person(duplicate["id"], {"into": survivor["id"]}, 2)):
        with pytest.raises(Conflict) as refused:
            write()
        assert survivor["id"] in refused.value.detail
    assert service.search_persons({"q": "Hassan"})["items"][0]["id"] == survivor["id"]
    assert len(service.search_persons({"q": "Hassan"})["items"]) == 1

    changes = history(intake_tx, survivor["id"])
    assert ("merged_from", None, duplicate["id"], "io-1") in changes
    assert ("phone", None, "+49 2351 123456", "io-1") in changes and ("sex", None, "female", "io-1") in changes
    assert ("consents_moved", None, ["statistics"], "io-1") in changes
    assert history(intake_tx, duplicate["id"]) == [("merged_into", None, survivor["id"], "io-1")]
    (event,) = outbox(intake_tx, "person_merged")
    payload = load_envelope(event)["payload"]
    assert (str(payload["person_id"]), str(payload["into_person_id"]), payload["municipality"]) == (
        duplicate["id"], survivor["id"], LUEDENSCHEID)
    assert set(event["payload"]) == {"person_id", "into_person_id", "municipality", "merged_at"}


def test_merge_refusals(intake_tx, settings, pair):
    survivor, duplicate, _ = pair
    service = intake(intake_tx, settings)
    with pytest.raises(InvalidInput) as itself:
        service.merge_person(duplicate["id"], {"into": duplicate["id"]})
    assert list(itself.value.fields) == ["into"]
    with pytest.raises(InvalidInput) as missing:
        service.merge_person(duplicate["id"], {"into": str(uuid.uuid4())})
    assert list(missing.value.fields) == ["into"]
    with pytest.raises(InvalidInput) as bad:
        service.merge_person(duplicate["id"], {"into": "not-an-id"})
    assert list(bad.value.fields) == ["into"]
    with pytest.raises(NotFound):
        service.merge_person(str(uuid.uuid4()), {"into": survivor["id"]})
    with pytest.raises(NotFound):  # another town's person: like a missing one
        intake(intake_tx, settings, municipalities=[MEINERZHAGEN]).merge_person(duplicate["id"],
                                                                                {"into": survivor["id"]})
    with pytest.raises(PreconditionFailed):
        service.merge_person(duplicate["id"], {"into": survivor["id"]}, 7)
    other_town = intake(intake_tx, settings, municipalities=[MEINERZHAGEN]).register_person(
        person_body(municipality=MEINERZHAGEN, confirmed_new=True))
    with pytest.raises(InvalidInput) as elsewhere:
        intake(intake_tx, settings, municipalities=[LUEDENSCHEID, MEINERZHAGEN]).merge_person(
            duplicate["id"], {"into": other_town["id"]})
    assert list(elsewhere.value.fields) == ["into"] and MEINERZHAGEN not in str(elsewhere.value.fields)
    erased = register(intake_tx, settings, given_name="Erased")
    intake(intake_tx, settings, role="team_lead").erase_person(erased["id"])
    with pytest.raises(InvalidInput):
        service.merge_person(duplicate["id"], {"into": erased["id"]})
    service.merge_person(duplicate["id"], {"into": survivor["id"]})
    third = register(intake_tx, settings, given_name="Third")
    with pytest.raises(Conflict) as into_merged:
        service.merge_person(third["id"], {"into": duplicate["id"]})
    assert survivor["id"] in into_merged.value.detail
    with pytest.raises(Exception) as no_permission:
        intake(intake_tx, settings, role="case_manager").merge_person(third["id"], {"into": survivor["id"]})
    assert type(no_permission.value).__name__ == "Forbidden"
    assert outbox(intake_tx, "person_merged") and len(outbox(intake_tx, "person_merged")) == 1


def test_a_year_only_survivor_takes_the_full_date_of_its_year(intake_tx, settings):
    vague = intake(intake_tx, settings).register_person(without_birth_date(birth_year=1988, confirmed_new=True))
    exact = register(intake_tx, settings)
    done = intake(intake_tx, settings).merge_person(exact["id"], {"into": vague["id"]})
    assert done["filled"] == ["birth_date"] and done["survivor"]["birth_date"] == "1988-04-17"


def test_the_household_stays_when_the_survivor_has_one(intake_tx, settings, pair):
    survivor, duplicate, household = pair
    own = intake(intake_tx, settings).create_household({"members": [{"person_id": survivor["id"],
                                                                      "relation": "head"}]})
    done = intake(intake_tx, settings).merge_person(duplicate["id"], {"into": survivor["id"]})
    assert done["household_moved"] is False
    with intake_tx() as uow:
        members = uow.session.execute(select(HouseholdMember.household_id, HouseholdMember.person_id)).all()
        assert [tuple(m) for m in members] == [(own["id"], survivor["id"])]
        assert uow.session.query(Consent).filter_by(person_id=survivor["id"]).count() == 2


# casework follows ---------------------------------------------------------------------------------------------

def merged_event(person_id, into):
    return load_envelope(build_envelope("intake", "person_merged", LUEDENSCHEID, {
        "person_id": person_id, "into_person_id": into, "municipality": LUEDENSCHEID,
        "merged_at": datetime(2026, 10, 8, 9, tzinfo=timezone.utc)}))


def open_case(tx, person_id):
    with tx() as uow:
        return casework_domain.open_case(uow.connection, person_id, LUEDENSCHEID)["id"]


def cases(tx):
    with tx() as uow:
        return {c.id: (c.person_id, c.status, c.outcome) for c in uow.session.scalars(select(Case))}


def casework(tx):
    return worker_factory(CaseworkService, db=WorkerDatabase(tx), caller=StubCaller())


def test_the_case_follows_the_survivor(casework_tx):
    merged, survivor = str(uuid.uuid4()), str(uuid.uuid4())
    case = open_case(casework_tx, merged)
    event = merged_event(merged, survivor)
    assert casework(casework_tx).follow_merge(event) == "moved"
    assert cases(casework_tx) == {case: (survivor, "intake", None)}
    assert casework(casework_tx).follow_merge(event) is None  # a redelivery
    assert casework(casework_tx).follow_merge(merged_event(str(uuid.uuid4()), survivor)) == "none"


def test_of_two_open_cases_the_merged_persons_is_closed(casework_tx):
    merged, survivor = str(uuid.uuid4()), str(uuid.uuid4())
    merged_case, survivor_case = open_case(casework_tx, merged), open_case(casework_tx, survivor)
    assert casework(casework_tx).follow_merge(merged_event(merged, survivor)) == "closed"
    assert cases(casework_tx) == {merged_case: (merged, "closed", "other"), survivor_case: (survivor, "intake", None)}
    with casework_tx() as uow:
        events = [b["event_type"] for b in uow.session.execute(select(uow.outbox.c.body)).scalars()]
    assert events == ["case_status_changed", "case_closed"]


def test_an_open_case_swaps_with_the_survivors_closed_one(casework_tx):
    merged, survivor = str(uuid.uuid4()), str(uuid.uuid4())
    merged_case, survivor_case = open_case(casework_tx, merged), open_case(casework_tx, survivor)
    with casework_tx() as uow:
        uow.session.get(Case, survivor_case).status = "closed"
    assert casework(casework_tx).follow_merge(merged_event(merged, survivor)) == "swapped"
    assert cases(casework_tx) == {merged_case: (survivor, "intake", None), survivor_case: (merged, "closed", None)}
