"""GDPR export (Art. 15) and erasure (Art. 17), entrypoint by entrypoint, through nameko's worker_factory on real
(SQLite) databases."""
import dataclasses
import json
import uuid

import eventlet
import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import inspect, select, text

from services.analytics import models as analytics_models
from services.analytics.service import AnalyticsService
from services.casework.service import CaseworkService
from services.intake.service import IntakeService
from services.referrals import models as referrals_models
from services.referrals.service import ReferralsService
from services.shared.db import Transactions, WorkerDatabase, make_engine
from services.shared.errors import Forbidden, NotFound, Unavailable
from services.shared.events import build_envelope, load_envelope
from tests.conftest import LUEDENSCHEID, MEINERZHAGEN, person_body
from tests.unit.conftest import StubCaller


def intake(tx, settings, **caller):
    return worker_factory(IntakeService, db=WorkerDatabase(tx), caller=StubCaller(**caller), settings=settings)


def casework(tx, **caller):
    return worker_factory(CaseworkService, db=WorkerDatabase(tx), caller=StubCaller(**caller))


def outbox(tx, event_type):
    with tx() as uow:
        return [row.body for row in uow.connection.execute(
            select(uow.outbox.c.body).where(uow.outbox.c.routing_key == event_type).order_by(uow.outbox.c.id))]


def dump_all(tx) -> str:
    """Every row of every table of the database, as one text."""
    with tx() as uow:
        names = inspect(uow.connection).get_table_names()
        return json.dumps({n: [list(r) for r in uow.connection.execute(text(f'SELECT * FROM "{n}"'))]
                           for n in names}, default=str)


def registration_event(intake_tx) -> dict:
    (event,) = outbox(intake_tx, "person_registered")
    return event


@pytest.fixture
def registered(intake_tx, casework_tx, settings):
    person = intake(intake_tx, settings, role="intake_officer").register_person(person_body())
    (event,) = outbox(intake_tx, "person_registered")
    case_id = casework(casework_tx).open_case(load_envelope(event))
    return person, case_id


def test_export_holds_intake_data_and_casework_cases(intake_tx, casework_tx, settings, registered):
    person, case_id = registered
    cases = casework(casework_tx, role="data_protection_officer").export_person(person["id"])
    assert [c["id"] for c in cases] == [case_id]
    service = intake(intake_tx, settings, role="data_protection_officer")
    service.casework.export_person.return_value = cases
    referrals = [{"id": str(uuid.uuid4()), "person_id": person["id"], "status": "sent", "transitions": []}]
    service.referrals.export_person.return_value = referrals
    service.analytics.export_person.return_value = [json.loads(json.dumps(registration_event(intake_tx)))]
    export = service.export_person(person["id"])
    service.casework.export_person.assert_called_once_with(person["id"])
    service.referrals.export_person.assert_called_once_with(person["id"])
    assert export["referrals"] == referrals and export["analytics"][0]["event_type"] == "person_registered"
    service.analytics.export_person.assert_called_once_with(person["id"])
    assert export["person"]["given_name"] == "Olena" and export["person"]["birth_date"] == "1988-04-17"
    assert [c["purpose"] for c in export["consents"]] == ["case_management"]
    assert export["history"] == [] and export["households"] == [] and export["cases"] == cases
    json.dumps(export)  # JSON as it is


def test_export_and_erasure_need_the_permission_and_the_town(intake_tx, casework_tx, settings, registered):
    person, _ = registered
    for role in ("intake_officer", "case_manager", "district_admin"):
        with pytest.raises(Forbidden):
            intake(intake_tx, settings, role=role).export_person(person["id"])
        with pytest.raises(Forbidden):
            intake(intake_tx, settings, role=role).erase_person(person["id"])
        with pytest.raises(Forbidden):
            casework(casework_tx, role=role).export_person(person["id"])
    with pytest.raises(NotFound):
        intake(intake_tx, settings, role="team_lead", municipalities=[MEINERZHAGEN]).export_person(person["id"])
    with pytest.raises(NotFound):
        intake(intake_tx, settings, role="team_lead", municipalities=[MEINERZHAGEN]).erase_person(person["id"])
    assert casework(casework_tx, role="team_lead", municipalities=[MEINERZHAGEN]).export_person(person["id"]) == []


@pytest.mark.parametrize("silent", ["casework", "referrals", "analytics"])
def test_export_answers_503_when_a_service_is_silent(intake_tx, settings, registered, silent):
    person, _ = registered
    service = intake(intake_tx, dataclasses.replace(settings, rpc_timeout=0.1), role="team_lead")
    for name in ("casework", "referrals", "analytics"):
        getattr(service, name).export_person.return_value = []
    getattr(service, silent).export_person.side_effect = lambda *_: eventlet.sleep(1)
    with pytest.raises(Unavailable, match=silent):
        service.export_person(person["id"])


def test_erasure_erases_everywhere_and_completes_on_confirmation(intake_tx, casework_tx, settings, registered,
                                                                 sqlite_urls):
    person, case_id = registered
    engine = make_engine(sqlite_urls["analytics"])
    analytics_tx = Transactions(engine, "analytics", analytics_models.metadata)
    statistics = worker_factory(AnalyticsService, db=WorkerDatabase(analytics_tx))
    (registration,) = outbox(intake_tx, "person_registered")
    assert statistics.on_intake_person_registered(load_envelope(registration)) is True
    assert person["id"] in dump_all(analytics_tx)

    def analytics_export(**caller):
        return worker_factory(AnalyticsService, db=WorkerDatabase(analytics_tx),
                              caller=StubCaller(**caller)).export_person(person["id"])
    (archived,) = analytics_export(role="data_protection_officer")
    assert archived["event_type"] == "person_registered" and archived["payload"]["person_id"] == person["id"]
    assert analytics_export(role="team_lead", municipalities=[MEINERZHAGEN]) == []
    with pytest.raises(Forbidden):
        analytics_export(role="analyst")
    dpo = intake(intake_tx, settings, role="data_protection_officer", sub="dpo-1")
    request = dpo.erase_person(person["id"])
    assert request["status"] == "pending" and request["confirmations"] == {"casework": None, "referrals": None,
                                                                         "analytics": None}
    with pytest.raises(NotFound):
        intake(intake_tx, settings, role="team_lead").get_person(person["id"])
    with pytest.raises(NotFound):
        dpo.erase_person(person["id"])  # erased already
    (erased,) = outbox(intake_tx, "person_erased")
    assert erased["payload"] == {"person_id": person["id"], "municipality": LUEDENSCHEID,
                                 "erasure_id": request["erasure_id"]}

    worker = casework(casework_tx)
    assert worker.erase_person_data(load_envelope(erased)) == 1
    assert worker.erase_person_data(load_envelope(erased)) is None  # a redelivery
    (confirmed,) = outbox(casework_tx, "erasure_confirmed")
    assert confirmed["payload"] == {"erasure_id": request["erasure_id"], "service": "casework"}
    assert person["id"] not in dump_all(casework_tx)

    listener = intake(intake_tx, settings)
    assert listener.record_erasure_confirmation(load_envelope(confirmed)) == "pending"  # referrals has not yet
    assert listener.record_erasure_confirmation(load_envelope(confirmed)) is None
    assert dpo.get_erasure(request["erasure_id"])["status"] == "pending"

    referrals_engine = make_engine(sqlite_urls["referrals"])  # the referrals service erases and confirms too
    referrals_tx = Transactions(referrals_engine, "referrals", referrals_models.metadata)
    assert worker_factory(ReferralsService, db=WorkerDatabase(referrals_tx)).erase_person_data(
        load_envelope(erased)) == 0
    (from_referrals,) = outbox(referrals_tx, "erasure_confirmed")
    referrals_engine.dispose()
    assert listener.record_referrals_erasure_confirmation(load_envelope(from_referrals)) == "pending"

    # analytics replaces the person's id by a pseudonym in what it archived and confirms (counts stay)
    assert statistics.on_intake_person_erased(load_envelope(erased)) is True
    assert statistics.on_intake_person_erased(load_envelope(erased)) is False  # a redelivery confirms nothing more
    (from_analytics,) = outbox(analytics_tx, "erasure_confirmed")
    assert person["id"] not in dump_all(analytics_tx) and analytics_export(role="data_protection_officer") == []
    engine.dispose()
    assert from_analytics["payload"] == {"erasure_id": request["erasure_id"], "service": "analytics"}
    assert listener.record_analytics_erasure_confirmation(load_envelope(from_analytics)) == "completed"
    status = dpo.get_erasure(request["erasure_id"])
    assert status["status"] == "completed" and status["confirmations"]["casework"] and status["completed_at"]
    assert status["confirmations"]["referrals"] and status["confirmations"]["analytics"]
    everything = dump_all(intake_tx)
    assert "Olena" not in everything and "Testperson" not in everything and "1988-04-17" not in everything
    with intake_tx() as uow:
        holders = [n for n in inspect(uow.connection).get_table_names()
                   if person["id"] in json.dumps([list(r) for r in uow.connection.execute(
                       text(f'SELECT * FROM "{n}"'))], default=str)]
    assert sorted(holders) == ["erasure_requests", "persons"]
    with pytest.raises(NotFound):
        intake(intake_tx, settings, role="team_lead", municipalities=[MEINERZHAGEN]).get_erasure(
            request["erasure_id"])


def test_confirmation_of_an_unknown_erasure_changes_nothing(intake_tx, settings):
    event = load_envelope(build_envelope("casework", "erasure_confirmed", LUEDENSCHEID,
                                         {"erasure_id": uuid.uuid4(), "service": "casework"}))
    assert intake(intake_tx, settings).record_erasure_confirmation(event) is None
