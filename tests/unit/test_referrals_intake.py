"""Intake's RPCs for referrals (services/intake/referral_facts.py): the facts matching needs, with the
referral_sharing consent, and the contact data a provider may read while that consent is granted."""

import pytest
from nameko.testing.services import worker_factory

from services.intake.service import IntakeService
from services.shared.auth import caller_from_claims
from services.shared.db import WorkerDatabase
from services.shared.errors import Conflict, Forbidden, NotFound
from tests.conftest import LUEDENSCHEID, MEINERZHAGEN, person_body


class Caller:
    def __init__(self, role="case_manager", municipalities=(LUEDENSCHEID,), provider_id=None):
        self.caller = caller_from_claims({"sub": "x-1", "role": role, "municipalities": list(municipalities),
                                          "provider_id": provider_id})

    def current(self):
        return self.caller

    def require(self, permission):
        return self.caller.require(permission)


def intake(tx, settings, **caller):
    return worker_factory(IntakeService, db=WorkerDatabase(tx), caller=Caller(**caller), settings=settings)


@pytest.fixture
def person(intake_tx, settings):
    return intake(intake_tx, settings, role="intake_officer").register_person(person_body(
        phone="+49 2351 1234", email="olena@example.org", preferred_channel="phone", interpreter_needed=True))


def test_referral_facts_with_and_without_sharing_consent(intake_tx, settings, person):
    facts = intake(intake_tx, settings).referral_facts(person["id"])
    assert facts == {"person_id": person["id"], "municipality": LUEDENSCHEID,
                     "residence_status": "temporary_protection", "birth_year": 1988, "languages": ["uk", "ru"],
                     "interpreter_needed": True, "referral_sharing": False}
    intake(intake_tx, settings, role="team_lead").grant_consent(person["id"], {
        "purpose": "referral_sharing", "granted_at": "2026-10-06T10:00:00Z", "basis": "signed_form"})
    assert intake(intake_tx, settings, role="district_admin").referral_facts(person["id"])["referral_sharing"]
    intake(intake_tx, settings, role="team_lead").withdraw_consent(person["id"], "referral_sharing")
    assert intake(intake_tx, settings).referral_facts(person["id"])["referral_sharing"] is False
    with pytest.raises(NotFound):  # another town's person, like a missing one
        intake(intake_tx, settings, municipalities=(MEINERZHAGEN,)).referral_facts(person["id"])
    with pytest.raises(Forbidden):
        intake(intake_tx, settings, role="analyst").referral_facts(person["id"])


def test_partner_contact_needs_an_open_referral_and_the_consent(intake_tx, settings, person):
    partner = intake(intake_tx, settings, role="partner", municipalities=(), provider_id="vhs-1")
    partner.referrals.provider_refers.return_value = True
    with pytest.raises(Conflict, match="referral_sharing"):
        partner.partner_contact(person["id"])
    intake(intake_tx, settings, role="team_lead").grant_consent(person["id"], {
        "purpose": "referral_sharing", "granted_at": "2026-10-06T10:00:00Z", "basis": "signed_form"})
    contact = partner.partner_contact(person["id"])
    assert contact == {"given_name": "Olena", "family_name": "Testperson", "phone": "+49 2351 1234",
                       "email": "olena@example.org", "preferred_channel": "phone", "languages": ["uk", "ru"],
                       "interpreter_needed": True}
    partner.referrals.provider_refers.assert_called_with(person["id"])
    partner.referrals.provider_refers.return_value = False  # no open referral of this provider: like missing
    with pytest.raises(NotFound):
        partner.partner_contact(person["id"])
    with pytest.raises(Forbidden):
        intake(intake_tx, settings, role="team_lead").partner_contact(person["id"])
