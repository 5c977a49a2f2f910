"""The full person record and households, through nameko's worker_factory on a real (SQLite) database."""
from datetime import date, timedelta

import pytest
from nameko.testing.services import worker_factory

from services.intake.service import IntakeService
from services.shared.db import WorkerDatabase
from services.shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.conftest import LUEDENSCHEID, MEINERZHAGEN, person_body

FULL = dict(sex="female", nationalities=["UA", "RU"], mother_tongues=["uk"], german_level="A2",
            municipality_arrival_date="2026-10-03", address={"street": "Sauerfelder Str. 5", "postal_code": "58511",
                                                             "city": "Lüdenscheid"},
            phone="+49 2351 123456", email="olena@example.org", preferred_channel="messenger",
            interpreter_needed=True, residence_valid_until="2027-03-04")


def intake(tx, settings, key=None, **caller):
    caller.setdefault("role", "intake_officer")
    from tests.unit.conftest import StubCaller
    return worker_factory(IntakeService, db=WorkerDatabase(tx, idempotency_key=key), caller=StubCaller(**caller),
                          settings=settings)


def register(tx, settings, **overrides):
    return intake(tx, settings).register_person(person_body(confirmed_new=True, **overrides))


def test_the_full_record_is_stored_read_and_never_announced(intake_tx, settings):
    person = register(intake_tx, settings, **FULL)
    read = intake(intake_tx, settings).get_person(person["id"])
    for name, value in FULL.items():
        assert person[name] == value and read[name] == value, name
    from sqlalchemy import select
    with intake_tx() as uow:
        (body,) = uow.session.execute(select(uow.outbox.c.body)).scalars()
    assert set(body["payload"]) == {"person_id", "municipality", "arrival_date", "residence_status", "languages",
                                    "birth_year"}


def test_the_new_fields_are_optional(intake_tx, settings):
    person = register(intake_tx, settings)
    assert person["address"] is None and person["sex"] is None and person["nationalities"] is None


BAD = [("sex", "x", "sex"), ("nationalities", ["XX"], "nationalities.0"), ("nationalities", ["ua"], "nationalities.0"),
       ("mother_tongues", ["Ukrainian"], "mother_tongues.0"), ("german_level", "B3", "german_level"),
       ("municipality_arrival_date", "2026-10-01", "municipality_arrival_date"),
       ("municipality_arrival_date", (date.today() + timedelta(days=2)).isoformat(), "municipality_arrival_date"),
       ("address", {"street": "A 1", "postal_code": "5851", "city": "L"}, "address.postal_code"),
       ("address", {"street": "A\u202e1", "postal_code": "58511", "city": "L"}, "address.street"),
       ("address", {"street": "A 1", "postal_code": "58511", "city": " "}, "address.city"),
       ("address", {"street": "A 1", "postal_code": "58511", "city": "L", "x": 1}, "address.x"),
       ("phone", "02351 123456", "phone"), ("phone", "+49 12", "phone"), ("phone", "+49 2351-123", "phone"),
       ("email", "not-an-email", "email"), ("preferred_channel", "fax", "preferred_channel"),
       ("interpreter_needed", "yes", "interpreter_needed"), ("residence_valid_until", "soon", "residence_valid_until")]


@pytest.mark.parametrize("name, value, field", BAD, ids=[f"{b[0]}={b[1]!r}" for b in BAD])
def test_each_bad_field_is_refused_naming_it(intake_tx, settings, name, value, field):
    with pytest.raises(InvalidInput) as refused:
        register(intake_tx, settings, **{name: value})
    assert field in refused.value.fields


# households -------------------------------------------------------------------------------------------------

def test_household_create_add_read(intake_tx, settings):
    a, b, c = (register(intake_tx, settings, given_name=n)["id"] for n in ("Olena", "Petro", "Mykola"))
    service = intake(intake_tx, settings, key="hh-1")
    body = {"members": [{"person_id": a, "relation": "head"}, {"person_id": b, "relation": "spouse"}]}
    household = service.create_household(body)
    assert household["municipality"] == LUEDENSCHEID
    assert [(m["person_id"], m["relation"]) for m in household["members"]] == sorted(
        [(a, "head"), (b, "spouse")], key=lambda m: m[0])
    assert intake(intake_tx, settings, key="hh-1").create_household(body) == household  # a retry
    added = intake(intake_tx, settings).add_household_member(household["id"], {"person_id": c, "relation": "child"})
    assert added["person_id"] == c and added["household_id"] == household["id"]
    read = intake(intake_tx, settings, role="team_lead").get_household(household["id"])
    assert {m["person_id"]: m["relation"] for m in read["members"]} == {a: "head", b: "spouse", c: "child"}


def test_a_person_is_in_one_household_at_most(intake_tx, settings):
    a, b = (register(intake_tx, settings, given_name=n)["id"] for n in ("Olena", "Petro"))
    service = intake(intake_tx, settings)
    first = service.create_household({"members": [{"person_id": a, "relation": "head"}]})
    with pytest.raises(Conflict):
        service.create_household({"members": [{"person_id": b, "relation": "head"},
                                               {"person_id": a, "relation": "spouse"}]})
    second = service.create_household({"members": [{"person_id": b, "relation": "head"}]})
    with pytest.raises(Conflict):
        service.add_household_member(second["id"], {"person_id": a, "relation": "sibling"})
    assert len(service.get_household(first["id"])["members"]) == 1


def test_members_must_be_persons_of_the_callers_towns_and_of_one_town(intake_tx, settings):
    own = register(intake_tx, settings)["id"]
    other = intake(intake_tx, settings, municipalities=(MEINERZHAGEN,)).register_person(
        person_body(municipality=MEINERZHAGEN))["id"]
    service = intake(intake_tx, settings)
    missing = "00000000-0000-4000-8000-000000000000"
    for ghost in (other, missing):  # another town's person is refused exactly like a missing one
        with pytest.raises(InvalidInput) as refused:
            service.create_household({"members": [{"person_id": own, "relation": "head"},
                                                  {"person_id": ghost, "relation": "child"}]})
        assert refused.value.fields == {"members.1.person_id": ["no such person"]}
    both = intake(intake_tx, settings, municipalities=(LUEDENSCHEID, MEINERZHAGEN))
    with pytest.raises(InvalidInput) as refused:
        both.create_household({"members": [{"person_id": own, "relation": "head"},
                                           {"person_id": other, "relation": "child"}]})
    assert "members" in refused.value.fields
    with pytest.raises(InvalidInput) as refused:
        service.create_household({"members": [{"person_id": own, "relation": "head"},
                                              {"person_id": own, "relation": "child"}]})
    assert "members.1.person_id" in refused.value.fields
    with pytest.raises(InvalidInput) as refused:
        service.create_household({"members": [{"person_id": own, "relation": "cousin"}]})
    assert "members.0.relation" in refused.value.fields
    household = service.create_household({"members": [{"person_id": own, "relation": "head"}]})
    with pytest.raises(NotFound):  # another town's household: like a missing one
        intake(intake_tx, settings, municipalities=(MEINERZHAGEN,)).get_household(household["id"])


def test_household_permissions(intake_tx, settings):
    with pytest.raises(Forbidden):
        intake(intake_tx, settings, role="case_manager").create_household({"members": []})
    with pytest.raises(Forbidden):
        intake(intake_tx, settings, role="data_protection_officer").get_household(
            "00000000-0000-4000-8000-000000000000")
