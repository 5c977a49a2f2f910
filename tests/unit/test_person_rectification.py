"""Rectification (PATCH a person's record), its history and the person search, through nameko's worker_factory on
a real (SQLite) database."""
import json

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from services.intake import models as intake_models
from services.intake.service import IntakeService
from services.shared.db import WorkerDatabase
from services.shared.errors import Forbidden, InvalidInput, NotFound, PreconditionFailed
from services.shared.events import load_envelope
from tests.conftest import KIERSPE, LUEDENSCHEID, MEINERZHAGEN, person_body
from tests.unit.conftest import StubCaller


def intake(tx, settings, role="intake_officer", **caller):
    return worker_factory(IntakeService, db=WorkerDatabase(tx), caller=StubCaller(role=role, **caller),
                          settings=settings)


def events(tx, event_type):
    with tx() as uow:
        bodies = uow.session.execute(select(uow.outbox.c.body).where(uow.outbox.c.routing_key == event_type)
                                     .order_by(uow.outbox.c.id)).scalars().all()
    return [json.loads(b) if isinstance(b, str) else b for b in bodies]


def register(tx, settings, **overrides):
    return intake(tx, settings).register_person(person_body(confirmed_new=True, **overrides))


def test_update_changes_fields_records_history_and_announces_only_non_personal_facts(intake_tx, settings):
    person = register(intake_tx, settings)
    updated = intake(intake_tx, settings, sub="io-7").update_person(
        person["id"], 1, {"family_name": "Коваленко", "residence_status": "residence_permit",
                          "birth_date": "1988-04-18", "languages": ["uk"]})
    assert updated["version"] == 2 and updated["family_name"] == "Коваленко"
    with intake_tx() as uow:
        stored = uow.session.get(intake_models.Person, person["id"])
        assert stored.family_name_latin == "kovalenko"
    history = intake(intake_tx, settings, role="data_protection_officer").person_history(person["id"], {})
    assert {(c["field"], json.dumps(c["old_value"]), json.dumps(c["new_value"]), c["changed_by"], c["version"])
            for c in history["items"]} == {
        ("family_name", '"Testperson"', '"\\u041a\\u043e\\u0432\\u0430\\u043b\\u0435\\u043d\\u043a\\u043e"',
         "io-7", 2),
        ("residence_status", '"temporary_protection"', '"residence_permit"', "io-7", 2),
        ("birth_date", '"1988-04-17"', '"1988-04-18"', "io-7", 2),
        ("languages", '["uk", "ru"]', '["uk"]', "io-7", 2)}
    assert history["next_cursor"] is None and history["municipality"] == LUEDENSCHEID
    (event,) = events(intake_tx, "person_updated")
    assert load_envelope(event)["schema_version"] == 1
    assert event["payload"] == {"person_id": person["id"], "municipality": LUEDENSCHEID, "version": 2,
                                "changed": ["residence_status", "languages"],
                                "residence_status": "residence_permit", "languages": ["uk"]}
    assert "1988" not in json.dumps(event) and "Testperson" not in json.dumps(event)


def test_update_checks_the_version_and_the_fields(intake_tx, settings):
    person = register(intake_tx, settings)
    with pytest.raises(PreconditionFailed):
        intake(intake_tx, settings).update_person(person["id"], 2, {"given_name": "Alena"})
    with pytest.raises(InvalidInput) as bad:
        intake(intake_tx, settings).update_person(person["id"], 1, {"residence_status": "tourist"})
    assert list(bad.value.fields) == ["residence_status"]
    with pytest.raises(InvalidInput) as unknown:
        intake(intake_tx, settings).update_person(person["id"], 1, {"shoe_size": 44})
    assert list(unknown.value.fields) == ["shoe_size"]
    with pytest.raises(InvalidInput) as before_birth:
        intake(intake_tx, settings).update_person(person["id"], 1, {"arrival_date": "1980-01-01"})
    assert list(before_birth.value.fields) == ["arrival_date"]
    with pytest.raises(InvalidInput):
        intake(intake_tx, settings).update_person(person["id"], 1, {})
    # unchanged values: nothing written, the version stays
    same = intake(intake_tx, settings).update_person(person["id"], 1, {"given_name": "Olena"})
    assert same["version"] == 1 and events(intake_tx, "person_updated") == []
    assert intake(intake_tx, settings, role="team_lead").person_history(person["id"], {})["items"] == []


def test_update_and_history_keep_the_town_and_role_rules(intake_tx, settings):
    person = register(intake_tx, settings)
    with pytest.raises(NotFound):
        intake(intake_tx, settings, municipalities=(MEINERZHAGEN,)).update_person(person["id"], 1,
                                                                                  {"given_name": "Alena"})
    with pytest.raises(Forbidden):
        intake(intake_tx, settings, role="case_manager").update_person(person["id"], 1, {"given_name": "Alena"})
    with pytest.raises(Forbidden):
        intake(intake_tx, settings).person_history(person["id"], {})  # intake officers rectify, not audit
    with pytest.raises(NotFound):
        intake(intake_tx, settings, role="team_lead", municipalities=(KIERSPE,)).person_history(person["id"], {})
    with pytest.raises(Forbidden):  # moving a person to a town outside the token
        intake(intake_tx, settings).update_person(person["id"], 1, {"municipality": MEINERZHAGEN})


def test_history_is_paged(intake_tx, settings):
    person = register(intake_tx, settings)
    for version, name in enumerate(("Alena", "Olena", "Helena"), start=1):
        intake(intake_tx, settings).update_person(person["id"], version, {"given_name": name})
    lead = intake(intake_tx, settings, role="team_lead")
    first = lead.person_history(person["id"], {"limit": 2})
    second = lead.person_history(person["id"], {"limit": 2, "cursor": first["next_cursor"]})
    assert [c["new_value"] for c in first["items"] + second["items"]] == ["Alena", "Olena", "Helena"]
    assert second["next_cursor"] is None
    with pytest.raises(InvalidInput):
        lead.person_history(person["id"], {"cursor": "bm90LWEtY3Vyc29y"})


def test_search_is_tolerant_of_transliteration_and_typos_and_keeps_to_the_towns(intake_tx, settings):
    mueller = register(intake_tx, settings, given_name="Jürgen", family_name="Müller")
    kovalenko = register(intake_tx, settings, given_name="Оксана", family_name="Коваленко", birth_date="1990-01-02")
    register(intake_tx, settings, given_name="Anna", family_name="Schmidt")
    other = intake(intake_tx, settings, municipalities=(MEINERZHAGEN,)).register_person(
        person_body(given_name="Hans", family_name="Müller", municipality=MEINERZHAGEN))
    officer = intake(intake_tx, settings)

    def ids(**query):
        return [p["id"] for p in officer.search_persons(query)["items"]]

    assert ids(q="Mueller") == [mueller["id"]] and other["id"] not in ids(q="Muller")
    assert ids(q="Kovalenko") == [kovalenko["id"]]
    assert ids(q="Kowalenko Oksana") == [kovalenko["id"]]  # a typo, and the names in either order
    assert ids(q="Муллер") == [mueller["id"]]
    assert ids(q="Mueller", municipality=MEINERZHAGEN) == []  # not a town of the caller
    assert ids(birth_date="1990-01-02") == [kovalenko["id"]]
    assert ids(q="Zyxw") == []
    with pytest.raises(InvalidInput) as nothing:
        officer.search_persons({})
    assert list(nothing.value.fields) == ["q"]
    with pytest.raises(Forbidden):
        intake(intake_tx, settings, role="case_manager").search_persons({"q": "Mueller"})
    # erased and merged persons are not found
    with intake_tx() as uow:
        uow.session.get(intake_models.Person, mueller["id"]).merged_into = kovalenko["id"]
    assert ids(q="Mueller") == []


def test_search_is_paged(intake_tx, settings):
    found = {register(intake_tx, settings, given_name=name, family_name="Müller")["id"]
             for name in ("Anna", "Berta", "Clara")}
    officer = intake(intake_tx, settings)
    first = officer.search_persons({"q": "Müller", "limit": 2})
    second = officer.search_persons({"q": "Müller", "limit": 2, "cursor": first["next_cursor"]})
    assert len(first["items"]) == 2 and second["next_cursor"] is None
    assert {p["id"] for p in first["items"] + second["items"]} == found
