"""Consents (GDPR Art. 6/7/9): grant, withdraw, refusals and the events, through nameko's worker_factory."""
import uuid
from datetime import datetime, timezone

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from services.casework.service import CaseworkService
from services.intake import models as intake_models
from services.intake.service import IntakeService
from services.shared.auth import ROLE_PERMISSIONS, Permission, Role
from services.shared.db import WorkerDatabase
from services.shared.errors import Forbidden, InvalidInput, NotFound
from services.shared.events import build_envelope, load_envelope
from tests.conftest import LUEDENSCHEID, MEINERZHAGEN, person_body
from tests.unit.conftest import StubCaller
from tests.unit.test_services import outbox_bodies, registered

GRANT = {"purpose": "statistics", "granted_at": "2026-10-06T10:00:00Z", "basis": "oral_with_interpreter"}


def intake(tx, settings, role="intake_officer", key=None, **caller):
    return worker_factory(IntakeService, db=WorkerDatabase(tx, idempotency_key=key),
                          caller=StubCaller(role=role, **caller), settings=settings)


@pytest.fixture
def person(intake_tx, settings):
    return intake(intake_tx, settings, sub="io-1").register_person(person_body())


def consents(tx, person_id):
    with tx() as uow:
        return uow.session.scalars(select(intake_models.Consent).where(
            intake_models.Consent.person_id == person_id).order_by(intake_models.Consent.id)).all()


def test_who_may_record_consents():
    may = {role for role, permissions in ROLE_PERMISSIONS.items() if Permission.CONSENT_WRITE in permissions}
    assert may == {Role.INTAKE_OFFICER, Role.TEAM_LEAD}


def test_registration_records_who_and_on_what_basis(intake_tx, person):
    (consent,) = consents(intake_tx, person["id"])
    assert (consent.purpose, consent.basis, consent.recorded_by) == ("case_management", "signed_form", "io-1")
    assert person["consents"][0]["basis"] == "signed_form" and person["consents"][0]["recorded_by"] == "io-1"


@pytest.mark.parametrize("body_consents", [[], [{**GRANT}]], ids=["none", "only-statistics"])
def test_registration_without_case_management_consent_is_refused(intake_tx, settings, body_consents):
    with pytest.raises(InvalidInput) as refused:
        intake(intake_tx, settings).register_person(person_body(consents=body_consents))
    assert list(refused.value.fields) == ["consents"]
    assert outbox_bodies(intake_tx) == []


def test_registration_needs_the_basis(intake_tx, settings):
    body = person_body(consents=[{"purpose": "case_management", "granted_at": "2026-10-05T09:30:00Z"}])
    with pytest.raises(InvalidInput) as refused:
        intake(intake_tx, settings).register_person(body)
    assert list(refused.value.fields) == ["consents.0.basis"]


def test_grant_records_and_announces_pseudonymously(intake_tx, settings, person):
    consent = intake(intake_tx, settings, role="team_lead", sub="lead-1").grant_consent(person["id"], GRANT)
    assert consent == {"person_id": person["id"], "municipality": LUEDENSCHEID, "purpose": "statistics",
                       "granted_at": "2026-10-06T10:00:00+00:00", "basis": "oral_with_interpreter",
                       "recorded_by": "lead-1", "withdrawn_at": None, "withdrawn_by": None}
    event = outbox_bodies(intake_tx)[-1]
    assert event["event_type"] == "consent_granted" and event["municipality"] == LUEDENSCHEID
    assert event["payload"] == {"person_id": person["id"], "municipality": LUEDENSCHEID, "purpose": "statistics",
                                "granted_at": "2026-10-06T10:00:00+00:00"}
    assert load_envelope(event)["payload"]["purpose"] == "statistics"


def test_grant_with_an_idempotency_key_records_once(intake_tx, settings, person):
    first = intake(intake_tx, settings, key="k-1").grant_consent(person["id"], GRANT)
    assert intake(intake_tx, settings, key="k-1").grant_consent(person["id"], GRANT) == first
    assert len(consents(intake_tx, person["id"])) == 2 and len(outbox_bodies(intake_tx)) == 2
    with pytest.raises(InvalidInput):
        intake(intake_tx, settings, key="k-1").grant_consent(person["id"], {**GRANT, "basis": "oral"})


@pytest.mark.parametrize("change, field", [({"basis": "nodded"}, "basis"), ({"purpose": "marketing"}, "purpose"),
                                           ({"granted_at": "2999-01-01T00:00:00Z"}, "granted_at"),
                                           ({"basis": None}, "basis"), ({"note": "x"}, "note")])
def test_grant_refuses_bad_input(intake_tx, settings, person, change, field):
    with pytest.raises(InvalidInput) as refused:
        intake(intake_tx, settings).grant_consent(person["id"], {**GRANT, **change})
    assert field in refused.value.fields
    assert len(consents(intake_tx, person["id"])) == 1


def test_grant_refuses_roles_other_towns_and_missing_persons(intake_tx, settings, person):
    with pytest.raises(Forbidden):
        intake(intake_tx, settings, role="case_manager").grant_consent(person["id"], GRANT)
    with pytest.raises(NotFound):
        intake(intake_tx, settings, municipalities=(MEINERZHAGEN,)).grant_consent(person["id"], GRANT)
    with pytest.raises(NotFound):
        intake(intake_tx, settings).grant_consent(str(uuid.uuid4()), GRANT)
    with pytest.raises(InvalidInput) as refused:
        intake(intake_tx, settings).grant_consent(person["id"].upper(), GRANT)
    assert list(refused.value.fields) == ["person_id"]
    assert len(consents(intake_tx, person["id"])) == 1


def test_withdrawal_takes_effect_at_once_and_is_announced(intake_tx, settings, person):
    service = intake(intake_tx, settings, sub="io-2")
    service.grant_consent(person["id"], GRANT)
    service.grant_consent(person["id"], {**GRANT, "basis": "signed_form"})  # granted again: both in force
    withdrawn = service.withdraw_consent(person["id"], "statistics")
    assert withdrawn["purpose"] == "statistics" and withdrawn["withdrawn_by"] == "io-2"
    assert withdrawn["withdrawn_at"] is not None and withdrawn["basis"] == "signed_form"
    stats = [c for c in consents(intake_tx, person["id"]) if c.purpose == "statistics"]
    assert len(stats) == 2 and all(c.withdrawn_at is not None and c.withdrawn_by == "io-2" for c in stats)
    event = outbox_bodies(intake_tx)[-1]
    assert event["event_type"] == "consent_withdrawn"
    assert event["payload"] == {"person_id": person["id"], "municipality": LUEDENSCHEID, "purpose": "statistics",
                                "withdrawn_at": withdrawn["withdrawn_at"]}
    # the person's record shows it too
    record = service.get_person(person["id"])
    assert {(c["purpose"], c["withdrawn_at"] is None) for c in record["consents"]} == {
        ("case_management", True), ("statistics", False)}


def test_withdrawing_what_is_not_granted_is_refused(intake_tx, settings, person):
    service = intake(intake_tx, settings)
    for purpose in ("statistics", "referral_sharing"):
        with pytest.raises(InvalidInput) as refused:
            service.withdraw_consent(person["id"], purpose)
        assert list(refused.value.fields) == ["purpose"]
    service.withdraw_consent(person["id"], "case_management")  # allowed: the case work must stop
    with pytest.raises(InvalidInput):
        service.withdraw_consent(person["id"], "case_management")  # already withdrawn
    with pytest.raises(InvalidInput) as refused:
        service.withdraw_consent(person["id"], "marketing")
    assert list(refused.value.fields) == ["purpose"]
    assert [b["event_type"] for b in outbox_bodies(intake_tx)] == ["person_registered", "consent_withdrawn"]


def test_withdrawal_refuses_roles_and_other_towns(intake_tx, settings, person):
    with pytest.raises(Forbidden):
        intake(intake_tx, settings, role="case_manager").withdraw_consent(person["id"], "case_management")
    with pytest.raises(NotFound):
        intake(intake_tx, settings, municipalities=(MEINERZHAGEN,)).withdraw_consent(person["id"],
                                                                                       "case_management")
    assert all(c.withdrawn_at is None for c in consents(intake_tx, person["id"]))


def test_withdrawal_with_an_idempotency_key_answers_the_retry(intake_tx, settings, person):
    first = intake(intake_tx, settings, key="w-1").withdraw_consent(person["id"], "case_management")
    assert intake(intake_tx, settings, key="w-1").withdraw_consent(person["id"], "case_management") == first
    assert [b["event_type"] for b in outbox_bodies(intake_tx)] == ["person_registered", "consent_withdrawn"]


# casework reacts -------------------------------------------------------------------------------------------


def withdrawn(person_id, purpose="case_management"):
    return load_envelope(build_envelope("intake", "consent_withdrawn", LUEDENSCHEID, {
        "person_id": person_id, "municipality": LUEDENSCHEID, "purpose": purpose,
        "withdrawn_at": datetime(2026, 10, 7, 8, tzinfo=timezone.utc)}))


def test_casework_closes_the_case_when_case_management_consent_is_withdrawn(casework_tx):
    service = worker_factory(CaseworkService, db=WorkerDatabase(casework_tx), caller=StubCaller())
    event = registered()
    person_id = event["payload"]["person_id"]
    case_id = service.open_case(event)
    assert service.stop_case_work(withdrawn(person_id, "statistics")) is None
    assert service.get_case(case_id)["status"] == "intake"
    stop = withdrawn(person_id)
    assert service.stop_case_work(stop) == case_id
    case = service.get_case(case_id)
    assert case["status"] == "closed" and case["version"] == 2
    assert service.stop_case_work(stop) is None  # redelivery
    assert service.stop_case_work(withdrawn(person_id)) is None  # a second withdrawal: already closed
    assert service.get_case(case_id)["version"] == 2
    assert service.stop_case_work(withdrawn(uuid.uuid4())) is None  # no case: nothing to do
