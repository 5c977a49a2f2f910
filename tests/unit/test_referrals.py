"""Referrals, unit by unit: the lifecycle table, matching on a small realistic catalogue, HSDS import/export, and
the service's entrypoints through nameko's worker_factory on a real (SQLite) database with casework and intake
stubbed (their contracts: casework.case_profile, intake.referral_facts)."""
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select, update

from services.referrals import catalogue, hsds, lifecycle, matching
from services.referrals import models as referrals_models
from services.referrals.service import ReferralsService, expire_due
from services.shared.auth import caller_from_claims
from services.shared.db import Transactions, WorkerDatabase, make_engine
from services.shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.shared.events import CATALOGUE, load_envelope
from services.shared.settings import Settings
from tests.conftest import KIERSPE, LUEDENSCHEID, MEINERZHAGEN

TODAY = date(2026, 11, 28)


class Caller:
    def __init__(self, role="case_manager", municipalities=(LUEDENSCHEID,), sub="cm-1", provider_id=None):
        self.caller = caller_from_claims({"sub": sub, "role": role, "municipalities": list(municipalities),
                                          "provider_id": provider_id})

    def current(self):
        return self.caller

    def require(self, permission):
        return self.caller.require(permission)


# the lifecycle table --------------------------------------------------------------------------------------------

TABLE = [  # status, step, actor, next status (None: 409)
    ("draft", "send", "staff", "sent"), ("draft", "cancel", "staff", "cancelled"),
    ("draft", "accept", "partner", None), ("draft", "expire", None, None),
    ("sent", "accept", "partner", "accepted"), ("sent", "decline", "partner", "declined"),
    ("sent", "expire", None, "expired"), ("sent", "cancel", "staff", "cancelled"), ("sent", "start", "partner", None),
    ("sent", "send", "staff", None), ("sent", "accept", "staff", None),
    ("accepted", "start", "partner", "in_progress"), ("accepted", "cancel", "staff", "cancelled"),
    ("accepted", "decline", "partner", None), ("accepted", "complete", "partner", None),
    ("accepted", "expire", None, None),
    ("in_progress", "complete", "partner", "completed"), ("in_progress", "cancel", "staff", "cancelled"),
    ("in_progress", "accept", "partner", None),
    *[(final, step, None, None) for final in ("declined", "completed", "cancelled", "expired")
      for step in lifecycle.STEPS],
]


@pytest.mark.parametrize("status,step,actor,expected", TABLE)
def test_lifecycle_table(status, step, actor, expected):
    if expected is None:
        with pytest.raises(Conflict) as refused:
            lifecycle.next_status(status, step, actor)
        assert "allowed steps" in refused.value.detail
    else:
        assert lifecycle.next_status(status, step, actor) == expected


def test_out_of_order_names_the_allowed_steps():
    with pytest.raises(Conflict) as refused:
        lifecycle.next_status("accepted", "complete", "partner")
    assert refused.value.detail == "a referral that is accepted cannot complete; allowed steps: start"
    with pytest.raises(Conflict) as closed:
        lifecycle.next_status("completed", "cancel")
    assert "none (the referral is closed)" in closed.value.detail
    assert lifecycle.allowed_steps("sent") == ["accept", "decline", "cancel", "expire"]


# matching ------------------------------------------------------------------------------------------------------

def offer(name, areas, **kw):
    base = {"id": str(uuid.uuid4()), "provider_id": "p-" + name.lower().replace(" ", "-")[:20], "name": name,
            "areas": areas, "municipalities": [LUEDENSCHEID], "languages": ["de"], "residence_statuses": [],
            "min_age": None, "max_age": None, "waiting_days": 0, "status": "active"}
    return {**base, **kw}


CATALOGUE_OFFERS = [
    offer("Integrationskurs VHS", ["language"], languages=["de", "uk", "ar"], waiting_days=56),
    offer("Integrationskurs Schnellstart", ["language"], languages=["de"], waiting_days=0),
    offer("Jugendmigrationsdienst", ["education", "language"], min_age=12, max_age=27, languages=["de", "ar"]),
    offer("Jobcenter Eingliederung", ["work", "income"],
          residence_statuses=["recognised_refugee", "subsidiary_protection", "temporary_protection"]),
    offer("Migrationsberatung Erwachsene", ["residence", "family"], min_age=27, languages=["de", "uk", "ru"]),
    offer("Wohnungsamt", ["housing"], status="paused"),
]
PROFILE = {"case_id": str(uuid.uuid4()), "person_id": str(uuid.uuid4()), "municipality": LUEDENSCHEID,
           "status": "planning", "assigned_to": "cm-1",
           "needs": [{"area": "language", "level": "urgent"}, {"area": "work", "level": "high"},
                     {"area": "housing", "level": "medium"}, {"area": "health", "level": "none"}],
           "open_barriers": [{"code": "no_childcare", "area": "work"}]}
FACTS = {"person_id": PROFILE["person_id"], "municipality": LUEDENSCHEID, "residence_status": "temporary_protection",
         "birth_year": 1988, "languages": ["uk", "ru"], "interpreter_needed": True, "referral_sharing": True}


def by_name(items):
    return {s["offer"]["name"]: s for s in items}


def test_matching_ranks_by_need_language_and_waiting_and_explains():
    items = matching.rank(CATALOGUE_OFFERS, PROFILE, FACTS, today=TODAY)
    names = [s["offer"]["name"] for s in items]
    # urgent language need first: the course in a shared language despite its waiting list beats the German-only
    assert names[:2] == ["Integrationskurs VHS", "Integrationskurs Schnellstart"]
    vhs = by_name(items)["Integrationskurs VHS"]
    crit = {c["criterion"]: c for c in vhs["criteria"]}
    assert crit["need"] == {"criterion": "need", "matched": True, "detail": "addresses the open need language (urgent)",
                            "values": {"area": "language", "level": "urgent"}}  # for a screen in another language
    assert crit["language"]["detail"] == "shared language: uk" and crit["waiting_time"]["matched"] is False
    assert crit["waiting_time"]["detail"] == "waiting time 56 days" and crit["waiting_time"]["values"] == {"days": 56}
    assert crit["language"]["values"] == {"shared": ["uk"]}
    # the youth migration service (12-27) does not fit a person born 1988: ineligible, ranked after eligible ones
    jmd = by_name(items)["Jugendmigrationsdienst"]
    assert jmd["eligible"] is False and {c["criterion"]: c["matched"] for c in jmd["criteria"]}["age"] is False
    assert names.index("Jugendmigrationsdienst") > names.index("Jobcenter Eingliederung")
    job = by_name(items)["Jobcenter Eingliederung"]
    assert job["eligible"] and job["area"] == "work" and any(c["criterion"] == "barrier" for c in job["criteria"])
    # paused offers are left out unless asked for, then marked
    assert "Wohnungsamt" not in names
    paused = by_name(matching.rank(CATALOGUE_OFFERS, PROFILE, FACTS, today=TODAY, include_paused=True))["Wohnungsamt"]
    assert paused["eligible"] is False and paused["criteria"][-1] == {
        "criterion": "status", "matched": False, "detail": "paused: takes no referrals now",
        "values": {"status": "paused"}}


def test_matching_eligibility_by_status_and_age():
    asylum = {**FACTS, "residence_status": "asylum_procedure"}
    job = by_name(matching.rank(CATALOGUE_OFFERS, PROFILE, asylum, today=TODAY))["Jobcenter Eingliederung"]
    assert job["eligible"] is False
    status = {c["criterion"]: c for c in job["criteria"]}["residence_status"]
    assert status["detail"].startswith("not open to asylum_procedure")
    assert status["values"]["residence_status"] == "asylum_procedure" and "asylum_procedure" not in status["values"]["open_to"]
    young = {**FACTS, "birth_year": 2008, "languages": ["ar"]}
    profile = {**PROFILE, "needs": [{"area": "education", "level": "high"}]}
    (jmd,) = matching.rank(CATALOGUE_OFFERS, profile, young, today=TODAY)[:1]
    assert jmd["offer"]["name"] == "Jugendmigrationsdienst" and jmd["eligible"]
    # born 1999: 26 or 27 in 2026, still within 12-27; born 1998 (27 or 28) too; born 1997 no longer
    for year, fits in ((1999, True), (1998, True), (1997, False)):
        judged = matching.judge(CATALOGUE_OFFERS[2], profile, {**young, "birth_year": year},
                                matching.open_needs(profile), TODAY)
        assert judged["eligible"] is fits, year


# the service on a real database -----------------------------------------------------------------------------------

@pytest.fixture
def tx(sqlite_urls):
    engine = make_engine(sqlite_urls["referrals"])
    yield Transactions(engine, "referrals", referrals_models.metadata)
    engine.dispose()


def service(tx, profile=PROFILE, facts=FACTS, **caller):
    worker = worker_factory(ReferralsService, db=WorkerDatabase(tx), caller=Caller(**caller),
                            settings=Settings.load())
    worker.casework.case_profile.side_effect = lambda case_id: {**profile, "case_id": case_id}
    worker.intake.referral_facts.return_value = facts
    return worker


def events(tx, exchange=None):
    with tx() as uow:
        query = select(uow.outbox.c.exchange, uow.outbox.c.routing_key, uow.outbox.c.body).order_by(uow.outbox.c.id)
        rows = uow.connection.execute(query).all()
    return [(r.exchange, r.routing_key, r.body) for r in rows if exchange is None or r.exchange == exchange]


@pytest.fixture
def offers(tx):
    lead = service(tx, role="team_lead")
    lead.create_provider({"id": "vhs-luedenscheid", "name": "VHS Lüdenscheid", "email": "kurse@vhs.example"})
    lead.create_provider({"id": "jobcenter-mk", "name": "Jobcenter Märkischer Kreis"})
    course = lead.create_offer({"provider_id": "vhs-luedenscheid", "name": "Integrationskurs", "areas": ["language"],
                                "municipalities": [LUEDENSCHEID, KIERSPE], "languages": ["de", "uk"],
                                "waiting_days": 21, "locations": [{"name": "VHS", "postal_code": "58507"}]})
    job = lead.create_offer({"provider_id": "jobcenter-mk", "name": "Eingliederung", "areas": ["work"],
                             "municipalities": [MEINERZHAGEN], "languages": ["de"]})
    return course, job


def test_catalogue_routes_filter_and_validate(tx, offers):
    course, job = offers
    reader = service(tx, role="intake_officer")
    assert [o["id"] for o in reader.list_offers({"municipality": LUEDENSCHEID})["items"]] == [course["id"]]
    assert [o["id"] for o in reader.list_offers({"area": "work"})["items"]] == [job["id"]]
    assert [o["id"] for o in reader.list_offers({"language": "uk"})["items"]] == [course["id"]]
    assert reader.list_offers({"municipality": KIERSPE, "area": "work"})["items"] == []
    with pytest.raises(Forbidden):
        reader.create_provider({"id": "x-y", "name": "X"})
    lead = service(tx, role="team_lead")
    with pytest.raises(InvalidInput) as bad:
        lead.create_offer({"provider_id": "nobody", "name": "X", "areas": ["flying"], "municipalities": ["1"],
                           "languages": ["DE"], "min_age": 30, "max_age": 20})
    assert {"areas.0", "municipalities.0", "languages.0"} <= set(bad.value.fields)
    with pytest.raises(InvalidInput) as unknown:
        lead.create_offer({"provider_id": "nobody", "name": "X", "areas": ["work"], "municipalities": [KIERSPE],
                           "languages": ["de"]})
    assert "provider_id" in unknown.value.fields
    with pytest.raises(Conflict):
        lead.create_provider({"id": "jobcenter-mk", "name": "again"})
    paused = lead.update_offer(course["id"], {"status": "paused", "waiting_days": 90})
    assert paused["status"] == "paused" and paused["version"] == 2 and paused["waiting_days"] == 90
    moved = lead.update_offer(job["id"], {"municipalities": [KIERSPE]})
    assert [o["id"] for o in reader.list_offers({"municipality": KIERSPE, "area": "work"})["items"]] == [job["id"]]
    assert moved["municipalities"] == [KIERSPE]


def test_hsds_export_import_round_trip(tx, offers, sqlite_urls, tmp_path):
    course, _ = offers
    page = service(tx, role="team_lead").export_offers({})
    assert page["total_items"] == 2 and page["contents"][0]["organization"]["name"]
    exported = {s["id"]: s for s in page["contents"]}[course["id"]]
    assert exported["status"] == "active" and exported["wait_time"] == "21 days"
    assert {"code": "uk"} in exported["languages"]
    assert {a["taxonomy_term"]["code"] for a in exported["attributes"]} >= {"language", LUEDENSCHEID, KIERSPE}
    # into a fresh catalogue: as a page, a list and a single service; a second import updates
    engine = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    from services.shared.migrations import upgrade
    upgrade("referrals", f"sqlite:///{tmp_path / 'other.db'}")
    other = Transactions(engine, "referrals", referrals_models.metadata)
    assert hsds.import_document(other, page).as_dict() == {"services": 2, "created": 2, "updated": 0, "failed": 0,
                                                           "errors": []}
    assert hsds.import_document(other, page["contents"]).updated == 2
    single = {**exported, "status": "temporarily closed", "wait_time": "3 weeks"}
    assert hsds.import_document(other, single).updated == 1
    with other() as uow:
        again = catalogue.get_offer(uow.connection, course["id"])
    assert again["status"] == "paused" and again["waiting_days"] == 21 and again["municipalities"] == [LUEDENSCHEID,
                                                                                                        KIERSPE]
    bad = hsds.import_document(other, [{"id": "x", "name": "No areas", "organization": {"name": "Some Org"}}, 7])
    assert bad.failed == 2 and "areas" in bad.errors[0]["errors"]
    engine.dispose()


def test_referral_lifecycle_with_events(tx, offers):
    course, job = offers
    manager = service(tx)
    referral = manager.create_referral({"case_id": PROFILE["case_id"], "offer_id": course["id"],
                                        "goal_id": str(uuid.uuid4()), "note": "Bitte Rückruf vormittags"})
    assert referral["status"] == "draft" and referral["area"] == "language" and referral["allowed_steps"] == [
        "send", "cancel"]
    assert referral["languages"] == ["uk", "ru"] and referral["interpreter_needed"] is True
    with pytest.raises(Conflict, match="open referral"):
        manager.create_referral({"case_id": PROFILE["case_id"], "offer_id": course["id"]})
    sent = manager.send_referral(referral["id"])
    assert sent["status"] == "sent" and sent["answer_due"]
    partner = service(tx, role="partner", municipalities=(), sub="vhs-bot", provider_id="vhs-luedenscheid")
    other = service(tx, role="partner", municipalities=(), sub="jc-bot", provider_id="jobcenter-mk")
    with pytest.raises(NotFound):
        other.answer_referral(referral["id"], "accept")
    assert [r["id"] for r in partner.partner_inbox({})["items"]] == [referral["id"]]
    assert other.partner_inbox({})["items"] == []
    with pytest.raises(Conflict, match="allowed steps: accept, decline"):
        partner.answer_referral(referral["id"], "start")
    accepted = partner.answer_referral(referral["id"], "accept")
    assert accepted["referral"]["status"] == "accepted" and "person_id" not in accepted["referral"]
    assert accepted["subject"] == {"person_id": PROFILE["person_id"], "case_id": PROFILE["case_id"],
                                   "municipality": LUEDENSCHEID}
    partner.answer_referral(referral["id"], "start")
    with pytest.raises(InvalidInput):
        partner.answer_referral(referral["id"], "complete", {"outcome": "great"})
    done = partner.answer_referral(referral["id"], "complete", {"outcome": "goal_reached"})["referral"]
    assert done["status"] == "completed" and done["outcome"] == "goal_reached" and done["allowed_steps"] == []
    lifecycle_events = [rk for ex, rk, _ in events(tx, "referrals.events")]
    assert lifecycle_events == ["referral_draft", "referral_sent", "referral_accepted", "referral_in_progress",
                                "referral_completed"]
    partner_events = events(tx, "kim.partners")
    assert [rk for _, rk, _ in partner_events] == [
        "referral.sent.vhs-luedenscheid", "referral.accepted.vhs-luedenscheid",
        "referral.in_progress.vhs-luedenscheid", "referral.completed.vhs-luedenscheid"]
    for _, _, body in partner_events:
        envelope = load_envelope(body)  # valid against the catalogue ("partners", ...)
        assert envelope["producer"] == "partners"
        assert PROFILE["person_id"] not in str(body) and PROFILE["case_id"] not in str(body)
        assert "Rückruf" not in str(body)
    sent_event = load_envelope(events(tx, "referrals.events")[1][2])["payload"]
    assert sent_event["goal_id"] and str(sent_event["case_id"]) == PROFILE["case_id"]


def test_bad_referrals(tx, offers):
    course, job = offers
    manager = service(tx)
    with pytest.raises(InvalidInput) as elsewhere:  # the job centre offer serves Meinerzhagen only
        manager.create_referral({"case_id": PROFILE["case_id"], "offer_id": job["id"]})
    assert "does not serve municipality 05962032" in elsewhere.value.fields["offer_id"][0]
    with pytest.raises(InvalidInput):
        manager.create_referral({"case_id": PROFILE["case_id"], "offer_id": str(uuid.uuid4())})
    service(tx, role="team_lead").update_offer(course["id"], {"status": "paused"})
    with pytest.raises(Conflict, match="paused"):
        manager.create_referral({"case_id": PROFILE["case_id"], "offer_id": course["id"]})
    service(tx, role="team_lead").update_offer(course["id"], {"status": "active"})
    no_consent = service(tx, facts={**FACTS, "referral_sharing": False})
    with pytest.raises(Conflict, match="referral_sharing"):
        no_consent.create_referral({"case_id": PROFILE["case_id"], "offer_id": course["id"]})
    # consent withdrawn between draft and send: refused at send
    draft = manager.create_referral({"case_id": PROFILE["case_id"], "offer_id": course["id"]})
    with pytest.raises(Conflict, match="referral_sharing"):
        no_consent.send_referral(draft["id"])
    with pytest.raises(NotFound):  # another town's referral
        service(tx, role="team_lead", municipalities=(MEINERZHAGEN,)).get_referral(draft["id"])
    with pytest.raises(Forbidden):
        service(tx, role="partner", municipalities=(), provider_id="vhs-luedenscheid").send_referral(draft["id"])
    partner = service(tx, role="partner", municipalities=(), provider_id="vhs-luedenscheid")
    with pytest.raises(NotFound):  # a draft never reached the provider
        partner.answer_referral(draft["id"], "accept")


def test_export_of_a_persons_referrals_with_their_history(tx, offers):
    course, _ = offers
    manager = service(tx)
    referral = manager.create_referral({"case_id": PROFILE["case_id"], "offer_id": course["id"],
                                        "note": "Bitte Rückruf vormittags"})
    manager.send_referral(referral["id"])
    service(tx, role="partner", municipalities=(), sub="vhs-bot", provider_id="vhs-luedenscheid").answer_referral(
        referral["id"], "decline", {"reason": "no_capacity"})
    (exported,) = service(tx, role="data_protection_officer", sub="dpo").export_person(PROFILE["person_id"])
    assert exported["id"] == referral["id"] and exported["note"] == "Bitte Rückruf vormittags"
    assert exported["status"] == "declined" and exported["decline_reason"] == "no_capacity"
    assert [(t["from_status"], t["to_status"], t["by"]) for t in exported["transitions"]] == [
        (None, "draft", "cm-1"), ("draft", "sent", "cm-1"), ("sent", "declined", "provider:vhs-luedenscheid")]
    assert service(tx, role="data_protection_officer", municipalities=[MEINERZHAGEN]).export_person(
        PROFILE["person_id"]) == []  # another town's
    for role in ("case_manager", "intake_officer"):
        with pytest.raises(Forbidden):
            service(tx, role=role).export_person(PROFILE["person_id"])
    with pytest.raises(Forbidden):
        service(tx, role="partner", municipalities=(), provider_id="vhs-luedenscheid").export_person(
            PROFILE["person_id"])
    with pytest.raises(InvalidInput):
        service(tx, role="team_lead").export_person("not-a-uuid")


def envelope(event_type, payload):
    from services.shared.events import build_envelope
    return load_envelope(build_envelope("intake", event_type, LUEDENSCHEID, payload))


def test_consent_withdrawal_cancels_open_referrals_and_erasure_deletes(tx, offers):
    course, _ = offers
    manager = service(tx)
    referral = manager.create_referral({"case_id": PROFILE["case_id"], "offer_id": course["id"]})
    manager.send_referral(referral["id"])
    worker = service(tx)
    statistics = envelope("consent_withdrawn", {"person_id": PROFILE["person_id"], "municipality": LUEDENSCHEID,
                                                "purpose": "statistics", "withdrawn_at": datetime.now(timezone.utc)})
    assert worker.cancel_on_withdrawal(statistics) == 0
    withdrawn = envelope("consent_withdrawn", {"person_id": PROFILE["person_id"], "municipality": LUEDENSCHEID,
                                               "purpose": "referral_sharing",
                                               "withdrawn_at": datetime.now(timezone.utc)})
    assert worker.cancel_on_withdrawal(withdrawn) == 1
    assert worker.cancel_on_withdrawal(withdrawn) is None  # a redelivery changes nothing
    assert manager.get_referral(referral["id"])["status"] == "cancelled"
    assert events(tx, "kim.partners")[-1][1] == "referral.cancelled.vhs-luedenscheid"
    again = manager.create_referral({"case_id": PROFILE["case_id"], "offer_id": course["id"]})
    erasure_id = uuid.uuid4()
    erased = envelope("person_erased", {"person_id": PROFILE["person_id"], "municipality": LUEDENSCHEID,
                                        "erasure_id": erasure_id})
    assert worker.erase_person_data(erased) == 2
    with pytest.raises(NotFound):
        manager.get_referral(again["id"])
    remaining = events(tx)
    assert all(PROFILE["person_id"] not in str(body) for _, _, body in remaining)
    confirmed = [load_envelope(b) for ex, rk, b in remaining if rk == "erasure_confirmed"]
    assert confirmed[0]["payload"] == {"erasure_id": erasure_id, "service": "referrals"}


def test_expiry_pass(tx, offers):
    course, _ = offers
    manager = service(tx)
    referral = manager.create_referral({"case_id": PROFILE["case_id"], "offer_id": course["id"]})
    manager.send_referral(referral["id"])
    assert expire_due(tx, expiry_days=14) == 0
    with tx() as uow:  # sent 15 days ago
        uow.connection.execute(update(referrals_models.Referral.__table__).values(
            sent_at=datetime.now(timezone.utc) - timedelta(days=15)))
    assert expire_due(tx, expiry_days=14) == 1
    assert manager.get_referral(referral["id"])["status"] == "expired"
    assert events(tx, "kim.partners")[-1][1] == "referral.expired.vhs-luedenscheid"
    assert expire_due(tx, expiry_days=14) == 0


def test_partner_catalogue_entries_are_versioned_and_personal_data_free():
    partner_keys = [k for k in CATALOGUE if k[0] == "partners"]
    assert {k[1] for k in partner_keys} == {"referral_sent", "referral_accepted", "referral_declined",
                                            "referral_in_progress", "referral_completed", "referral_cancelled",
                                            "referral_expired"}
    fields = CATALOGUE[partner_keys[0]]._declared_fields
    assert not {"person_id", "case_id", "note"} & set(fields)


def test_the_fast_fit_agrees_with_the_explained_judgement():
    needs = matching.open_needs(PROFILE)
    for facts in (FACTS, {**FACTS, "residence_status": "asylum_procedure", "birth_year": 2010, "languages": ["ar"]},
                  {**FACTS, "birth_year": None}):
        for offer in CATALOGUE_OFFERS:
            judged = matching.judge(offer, PROFILE, facts, needs, TODAY)
            assert matching.fit(offer, PROFILE, facts, needs, TODAY) == (judged["eligible"], judged["score"]), \
                offer["name"]
