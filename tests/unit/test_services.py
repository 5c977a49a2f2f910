"""Each service entrypoint, through nameko's own test tools, on a real (SQLite) database."""
import uuid
from datetime import date

import pytest
from nameko.containers import ServiceContainer
from nameko.rpc import Rpc, RpcProxy as NamekoRpcProxy
from nameko.testing.services import entrypoint_hook, worker_factory
from sqlalchemy import func, select

from gateway.service import GatewayService
from services.casework import models as casework_models
from services.casework.service import CaseworkService
from services.intake import models as intake_models
from services.intake.service import IntakeService
from services.shared import rpc as shared_rpc
from services.shared.db import WorkerDatabase
from services.shared.errors import Forbidden, InvalidInput, NotFound
from services.shared.events import build_envelope, load_envelope
from services.shared.settings import Settings
from tests.conftest import KIERSPE, LUEDENSCHEID, MEINERZHAGEN, person_body
from tests.unit.conftest import StubCaller


def count(tx, table):
    with tx() as uow:
        return uow.session.scalar(select(func.count()).select_from(table))


def outbox_bodies(tx):
    with tx() as uow:
        return [row.body for row in uow.session.execute(select(uow.outbox.c.body).order_by(uow.outbox.c.id))]


def intake(tx, settings, **caller):
    return worker_factory(IntakeService, db=WorkerDatabase(tx), caller=StubCaller(**caller), settings=settings)


# intake ----------------------------------------------------------------------------------------------------


def test_register_person_stores_and_announces_pseudonymously(intake_tx, settings):
    person = intake(intake_tx, settings, role="intake_officer").register_person(person_body())
    assert uuid.UUID(person["id"]) and person["consents"][0]["purpose"] == "case_management"
    assert count(intake_tx, intake_models.Person.__table__) == 1
    (event,) = outbox_bodies(intake_tx)
    assert event["event_type"] == "person_registered" and event["municipality"] == LUEDENSCHEID
    assert event["payload"] == {"person_id": person["id"], "municipality": LUEDENSCHEID,
                                "arrival_date": "2026-10-02", "residence_status": "temporary_protection",
                                "languages": ["uk", "ru"], "birth_year": 1988}


def test_register_person_with_an_idempotency_key_stores_and_announces_once(intake_tx, settings):
    def register(body, key="key-1"):
        service = worker_factory(IntakeService, db=WorkerDatabase(intake_tx, idempotency_key=key),
                                 caller=StubCaller(role="intake_officer"), settings=settings)
        return service.register_person(body)
    first = register(person_body())
    assert register(person_body()) == first
    assert count(intake_tx, intake_models.Person.__table__) == 1 and len(outbox_bodies(intake_tx)) == 1
    with pytest.raises(InvalidInput) as refused:
        register(person_body(given_name="Anna"))
    assert list(refused.value.fields) == ["Idempotency-Key"]
    assert register(person_body(confirmed_new=True), key="key-2")["id"] != first["id"]  # past the duplicate check
    assert count(intake_tx, intake_models.Person.__table__) == 2


def test_register_person_refuses_roles_and_towns(intake_tx, settings):
    with pytest.raises(Forbidden):
        intake(intake_tx, settings, role="analyst").register_person(person_body())
    with pytest.raises(Forbidden):
        intake(intake_tx, settings, municipalities=(KIERSPE,)).register_person(person_body())
    with pytest.raises(InvalidInput) as error:
        intake(intake_tx, settings.__class__.load({"KIM_MUNICIPALITIES": MEINERZHAGEN})).register_person(
            person_body())
    assert "municipality" in error.value.fields
    assert count(intake_tx, intake_models.Person.__table__) == 0 and outbox_bodies(intake_tx) == []


def test_get_person_of_another_town_is_not_found(intake_tx, settings):
    person = intake(intake_tx, settings).register_person(person_body())
    assert intake(intake_tx, settings).get_person(person["id"])["family_name"] == "Testperson"
    with pytest.raises(NotFound):
        intake(intake_tx, settings, municipalities=(MEINERZHAGEN,)).get_person(person["id"])
    with pytest.raises(NotFound):
        intake(intake_tx, settings).get_person(str(uuid.uuid4()))


def test_register_person_through_the_container_reads_the_caller_from_the_context(
        rabbit_config, container_factory, sqlite_urls, make_token):
    container = container_factory(IntakeService, {**rabbit_config, "KIM_INTAKE_DB_URL": sqlite_urls["intake"]})
    container.start()
    with entrypoint_hook(container, "register_person",
                         context_data={"auth_token": make_token("intake_officer")}) as register:
        assert register(person_body())["municipality"] == LUEDENSCHEID
    with entrypoint_hook(container, "register_person") as register:
        with pytest.raises(Exception) as error:
            register(person_body())
        assert "Unauthenticated" in type(error.value).__name__


# casework --------------------------------------------------------------------------------------------------


def registered(person_id=None, municipality=LUEDENSCHEID):
    return load_envelope(build_envelope("intake", "person_registered", municipality, {
        "person_id": person_id or uuid.uuid4(), "municipality": municipality,
        "arrival_date": date(2026, 10, 2), "residence_status": "toleration",
        "languages": ["ar"], "birth_year": 1990}))


def casework(tx, **caller):
    return worker_factory(CaseworkService, db=WorkerDatabase(tx), caller=StubCaller(**caller),
                          settings=Settings())


def case_managers(lead, *names_and_teams):
    """Case managers of Lüdenscheid without room (capacity 0): no automatic assignment, only by hand."""
    return {name: lead.create_case_manager({
        "name": name, "username": name, "employer": "municipality", "hours_per_week": 39, "capacity": 0,
        "team": team, "coverage": [{"municipality": LUEDENSCHEID, "weekdays": ["mon"]}]})["id"]
        for name, team in names_and_teams}


def test_open_case_is_idempotent(casework_tx):
    service = casework(casework_tx)
    event = registered()
    case_id = service.open_case(event)
    assert case_id is not None
    assert service.open_case(event) is None  # redelivery
    assert service.open_case(registered(event["payload"]["person_id"])) is None  # same person, new event
    assert count(casework_tx, casework_models.Case.__table__) == 1
    (opened,) = outbox_bodies(casework_tx)
    assert opened["event_type"] == "case_opened" and opened["payload"]["case_id"] == case_id
    assert service.get_case(case_id)["status"] == "intake"


def test_case_manager_sees_own_team_and_unassigned_cases(casework_tx):
    lead = casework(casework_tx, role="team_lead", sub="lead")
    ids = [lead.open_case(registered()) for _ in range(4)]
    cms = case_managers(lead, ("cm-1", None), ("cm-2", "north"), ("cm-3", "south"))
    lead.assign_case(ids[0], {"case_manager_id": cms["cm-1"], "reason": "first"})
    lead.assign_case(ids[1], {"case_manager_id": cms["cm-2"], "reason": "first"})
    lead.assign_case(ids[2], {"case_manager_id": cms["cm-3"], "reason": "first"})
    # ids[3] stays unassigned
    seen = {c["id"] for c in casework(casework_tx, team="north").list_cases({"limit": 100})["items"]}
    assert seen == {ids[0], ids[1], ids[3]}
    with pytest.raises(NotFound):
        casework(casework_tx, team="north").get_case(ids[2])
    assert len(lead.list_cases({})["items"]) == 4


def test_list_cases_pages_with_a_cursor(casework_tx):
    service = casework(casework_tx)
    ids = {service.open_case(registered()) for _ in range(5)}
    seen, cursor, pages = [], None, 0
    while True:
        page = service.list_cases({"limit": 2, **({"cursor": cursor} if cursor else {})})
        seen += [c["id"] for c in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and len(seen) == 5 and set(seen) == ids
    with pytest.raises(InvalidInput):
        service.list_cases({"cursor": "bm9wZQ"})


def test_assign_case_by_hand_needs_a_reason_and_a_team_lead(casework_tx):
    lead = casework(casework_tx, role="team_lead", sub="lead")
    case_id = lead.open_case(registered())
    cms = case_managers(lead, ("cm-1", "north"))
    assert lead.assign_case(case_id, {"case_manager_id": cms["cm-1"], "reason": "speaks Arabic"})["version"] == 2
    with pytest.raises(InvalidInput):
        lead.assign_case(case_id, {"case_manager_id": cms["cm-1"]})
    with pytest.raises(Forbidden):
        casework(casework_tx).assign_case(case_id, {"case_manager_id": None, "reason": "back"})
    assert [b["event_type"] for b in outbox_bodies(casework_tx)] == ["case_opened", "case_manager_saved",
                                                                     "case_reassigned"]


def test_purge_keeps_recent_and_unsent_events(casework_tx):
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import update

    from services.shared.db import purge_event_log

    service = casework(casework_tx)
    old, recent = registered(), registered()
    service.open_case(old)
    service.open_case(recent)
    long_ago = datetime.now(timezone.utc) - timedelta(days=40)
    with casework_tx() as uow:
        first = uow.session.execute(select(func.min(uow.outbox.c.id))).scalar_one()
        uow.session.execute(update(uow.outbox).values(sent_at=long_ago).where(uow.outbox.c.id == first))
        uow.session.execute(update(uow.processed).values(processed_at=long_ago)
                            .where(uow.processed.c.event_id == str(old["event_id"])))
    assert purge_event_log(casework_tx, keep_days=30) == 2
    with casework_tx() as uow:
        assert len(uow.session.execute(select(uow.outbox.c.id)).all()) == 1  # unsent: kept whatever its age
        assert [r.event_id for r in uow.session.execute(select(uow.processed.c.event_id))] == [str(recent["event_id"])]


@pytest.mark.parametrize("service_cls", [IntakeService, CaseworkService, GatewayService])
def test_rpc_goes_through_the_shared_publisher_only(service_cls, rabbit_config):
    """nameko's own `rpc` or `RpcProxy` beside ours would put a second consumer on the service's queue (calls
    then fail at random with MethodNotFound) or publish outside the shared confirmed channel."""
    container = ServiceContainer(service_cls, {**rabbit_config, "serializer": "json"})
    rpcs = [e for e in container.entrypoints if isinstance(e, Rpc)]
    proxies = [d for d in container.dependencies if isinstance(d, NamekoRpcProxy)]
    assert rpcs or proxies
    assert all(isinstance(e.rpc_consumer, shared_rpc._RpcConsumer) for e in rpcs)
    assert all(isinstance(d, shared_rpc.RpcProxy) for d in proxies)
