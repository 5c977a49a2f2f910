"""Referrals service: the offer catalogue, matching, the referral lifecycle and the partners' events.

Every lifecycle change is `referral_<status>` on `referrals.events` (casework mirrors it as a plan action,
analytics counts it) and, from `sent` on, `referral.<status>.<provider_id>` on the `kim.partners` topic
exchange (the provider's own subscription), both through the outbox in the step's transaction.
"""
from __future__ import annotations

import logging

import eventlet
from nameko.timer import Timer

from services.shared.auth import CallerProvider, Permission
from services.shared.db import Database
from services.shared.dependencies import SettingsProvider
from services.shared.erasure import forget_person_in_platform_tables
from services.shared.errors import InvalidInput, Unavailable
from services.shared.events import PARTNER_EXCHANGE, partner_routing_key
from services.shared.messaging import subscribe
from services.shared.rpc import RpcProxy, rpc
from services.shared.schemas import load_or_raise, schema
from services.shared.service import ServiceBase
from services.shared.settings import Settings

from . import catalogue, domain, hsds, lifecycle, matching
from .models import metadata
from .schemas import (CaseIdSchema, CompleteSchema, CreateOfferSchema, CreateProviderSchema, CreateReferralSchema,
                      DeclineSchema, ExportQuerySchema, HsdsExportSchema, OfferIdSchema, OfferPageSchema,
                      OfferQuerySchema, OfferSchema, PartnerInboxQuerySchema, PartnerReferralDetailSchema,
                      PartnerReferralPageSchema, PartnerReferralSchema, ProviderPageSchema, ProviderSchema,
                      ReferralExportSchema, ReferralIdSchema, ReferralPageSchema,
                      ReferralQuerySchema, ReferralSchema, SuggestionPageSchema, SuggestionQuerySchema)
from services.shared.schemas import PageQuerySchema, PersonIdSchema

log = logging.getLogger(__name__)
SYSTEM = "system"


class ExpiryTimer(Timer):
    """nameko's timer, its interval from KIM_REFERRAL_EXPIRY_CHECK_SECONDS."""

    def setup(self):
        super().setup()
        self.interval = Settings.load(self.container.config).referral_expiry_check_seconds


def emit_change(uow, referral: dict) -> None:
    """The referral's lifecycle event, and the provider's partner event once it has been sent."""
    uow.emit(f"referral_{referral['status']}", referral["municipality"], domain.referral_event(referral))
    if domain.tells_partner(referral):
        uow.emit_to(PARTNER_EXCHANGE, partner_routing_key(referral["status"], referral["provider_id"]), "partners",
                    f"referral_{referral['status']}", referral["municipality"], domain.partner_event(referral))


class ReferralsService(ServiceBase):
    name = "referrals"

    db = Database(metadata)
    caller = CallerProvider()
    settings = SettingsProvider()
    casework = RpcProxy("casework")  # case_profile: the case's town, person, needs and barriers
    intake = RpcProxy("intake")  # referral_facts: residence status, birth year, languages, referral_sharing

    # catalogue ----------------------------------------------------------------------------------------------

    @rpc
    def create_provider(self, data):
        caller = self.caller.require(Permission.OFFER_WRITE)
        payload = load_or_raise(schema(CreateProviderSchema), data)
        with self.db.transaction() as uow:
            earlier = uow.idempotent("create_provider", caller.sub, data)
            if earlier is None:
                uow.remember(payload["id"])
                provider = catalogue.create_provider(uow.connection, payload)
            else:
                provider = catalogue.providers_by_id(uow.connection, [earlier])[earlier]
            return schema(ProviderSchema).dump(provider)

    @rpc
    def list_providers(self, query):
        self.caller.require(Permission.OFFER_READ)
        params = load_or_raise(schema(PageQuerySchema), query, "query")
        with self.db.transaction() as uow:
            items, next_cursor = catalogue.list_providers(uow.connection, **params)
            return schema(ProviderPageSchema).dump({"items": items, "next_cursor": next_cursor})

    @rpc
    def create_offer(self, data):
        caller = self.caller.require(Permission.OFFER_WRITE)
        payload = load_or_raise(schema(CreateOfferSchema), data)
        with self.db.transaction() as uow:
            earlier = uow.idempotent("create_offer", caller.sub, data)
            if earlier is not None:
                return schema(OfferSchema).dump(catalogue.get_offer(uow.connection, earlier))
            offer = catalogue.create_offer(uow.connection, payload)
            uow.remember(offer["id"])
            return schema(OfferSchema).dump(offer)

    @rpc
    def list_offers(self, query):
        self.caller.require(Permission.OFFER_READ)
        params = load_or_raise(schema(OfferQuerySchema), query, "query")
        with self.db.transaction() as uow:
            items, next_cursor = catalogue.list_offers(uow.connection, **params)
            return schema(OfferPageSchema).dump({"items": items, "next_cursor": next_cursor})

    @rpc
    def get_offer(self, offer_id):
        self.caller.require(Permission.OFFER_READ)
        path = load_or_raise(schema(OfferIdSchema), {"offer_id": offer_id}, "path")
        with self.db.transaction() as uow:
            return schema(OfferSchema).dump(catalogue.get_offer(uow.connection, path["offer_id"]))

    @rpc
    def update_offer(self, offer_id, data):
        """Change fields of an offer, e.g. pause it or record the current waiting time."""
        from .schemas import UpdateOfferSchema

        self.caller.require(Permission.OFFER_WRITE)
        path = load_or_raise(schema(OfferIdSchema), {"offer_id": offer_id}, "path")
        changes = load_or_raise(schema(UpdateOfferSchema), data)
        with self.db.transaction() as uow:
            return schema(OfferSchema).dump(catalogue.update_offer(uow.connection, str(path["offer_id"]), changes))

    @rpc
    def export_offers(self, query):
        """The catalogue as Open Referral HSDS 3.0 JSON, paged (`contents`)."""
        self.caller.require(Permission.OFFER_READ)
        params = load_or_raise(schema(ExportQuerySchema), query, "query")
        with self.db.transaction() as uow:
            return schema(HsdsExportSchema).dump(hsds.export_page(uow.connection, **params))

    # matching -----------------------------------------------------------------------------------------------

    @rpc
    def offer_suggestions(self, case_id, query):
        """Offers for a case, ranked by fit, each with the criteria that matched or failed."""
        self.caller.require(Permission.REFERRAL_READ)
        path = load_or_raise(schema(CaseIdSchema), {"case_id": case_id}, "path")
        params = load_or_raise(schema(SuggestionQuerySchema), query, "query")
        profile = self._ask(lambda: self.casework.case_profile(str(path["case_id"])), "casework")
        facts = self._ask(lambda: self.intake.referral_facts(profile["person_id"]), "intake")
        needs = matching.open_needs(profile)
        with self.db.transaction() as uow:
            offers = catalogue.candidate_offers(uow.connection, profile["municipality"], list(needs))
        items = matching.rank(offers, profile, facts, limit=params["limit"], include_paused=params["include_paused"])
        return schema(SuggestionPageSchema).dump({"case_id": profile["case_id"], "person_id": profile["person_id"],
                                                  "municipality": profile["municipality"], "items": items})

    # referrals (staff) ----------------------------------------------------------------------------------------

    @rpc
    def create_referral(self, data):
        """A draft referral; needs the person's referral_sharing consent (409 without)."""
        caller = self.caller.require(Permission.REFERRAL_WRITE)
        payload = load_or_raise(schema(CreateReferralSchema), data)
        profile = self._ask(lambda: self.casework.case_profile(str(payload["case_id"])), "casework")
        facts = self._ask(lambda: self.intake.referral_facts(profile["person_id"]), "intake")
        with self.db.transaction() as uow:
            earlier = uow.idempotent("create_referral", caller.sub, data)
            if earlier is not None:  # a retry of a create that did commit: answer it again
                return schema(ReferralSchema).dump(domain.with_steps(
                    domain.get_for_staff(uow.connection, earlier, caller)))
            referral = domain.create_referral(uow.connection, payload, profile, facts, caller)
            uow.remember(referral["id"])
            emit_change(uow, referral)
            return schema(ReferralSchema).dump(referral)

    @rpc
    def list_referrals(self, query):
        caller = self.caller.require(Permission.REFERRAL_READ)
        params = load_or_raise(schema(ReferralQuerySchema), query, "query")
        if params.get("case_id"):  # the case visibility rule lives in casework (a case manager's need to know)
            self._ask(lambda: self.casework.case_profile(str(params["case_id"])), "casework")
        with self.db.transaction() as uow:
            items, next_cursor = domain.list_referrals(uow.connection, caller, **params)
            return schema(ReferralPageSchema).dump({"items": items, "next_cursor": next_cursor})

    @rpc
    def export_person(self, person_id):
        """Art. 15: the person's referrals in the caller's towns with their history (permission `person:export`),
        for intake's export."""
        caller = self.caller.require(Permission.PERSON_EXPORT)
        path = load_or_raise(schema(PersonIdSchema), {"person_id": person_id}, "path")
        with self.db.transaction() as uow:
            referrals = domain.export_referrals_of(uow.connection, path["person_id"], caller)
        return schema(ReferralExportSchema).dump(referrals, many=True)

    @rpc
    def get_referral(self, referral_id):
        caller = self.caller.require(Permission.REFERRAL_READ)
        path = load_or_raise(schema(ReferralIdSchema), {"referral_id": referral_id}, "path")
        with self.db.transaction() as uow:
            referral = domain.get_for_staff(uow.connection, path["referral_id"], caller)
        self._sees_case(referral)
        return schema(ReferralSchema).dump(domain.with_steps(referral))

    @rpc
    def send_referral(self, referral_id):
        """draft -> sent; the consent is checked again (it may have been withdrawn since the draft)."""
        caller = self.caller.require(Permission.REFERRAL_WRITE)
        path = load_or_raise(schema(ReferralIdSchema), {"referral_id": referral_id}, "path")
        with self.db.transaction() as uow:
            referral = domain.get_for_staff(uow.connection, path["referral_id"], caller)
        self._sees_case(referral)
        lifecycle.next_status(referral["status"], "send", "staff")  # 409 before asking intake
        facts = self._ask(lambda: self.intake.referral_facts(referral["person_id"]), "intake")
        domain.require_sharing(facts)
        return self._step(caller, path["referral_id"], "send", "staff")

    @rpc
    def cancel_referral(self, referral_id):
        caller = self.caller.require(Permission.REFERRAL_WRITE)
        path = load_or_raise(schema(ReferralIdSchema), {"referral_id": referral_id}, "path")
        with self.db.transaction() as uow:
            referral = domain.get_for_staff(uow.connection, path["referral_id"], caller)
        self._sees_case(referral)
        return self._step(caller, path["referral_id"], "cancel", "staff")

    def _step(self, caller, referral_id, step, actor, **kwargs):
        with self.db.transaction() as uow:
            referral = domain.get_for_staff(uow.connection, referral_id, caller, lock=True)
            changed = domain.transition(uow.connection, referral, step, caller.sub, actor=actor,
                                        expiry_days=self.settings.referral_expiry_days, **kwargs)
            emit_change(uow, changed)
            return schema(ReferralSchema).dump(domain.with_steps(changed))

    # partners -----------------------------------------------------------------------------------------------

    @rpc
    def answer_referral(self, referral_id, step, data=None):
        """A provider's answer (partner token): step is accept | decline (data {"reason"}) | start | complete
        (data {"outcome"}). Another provider's referral answers 404; an answer out of order 409 naming the
        allowed steps. Returns {"referral": the partner's view, "subject": ids for the gateway's audit}."""
        caller = self.caller.require(Permission.REFERRAL_ANSWER)
        path = load_or_raise(schema(ReferralIdSchema), {"referral_id": referral_id}, "path")
        if step not in lifecycle.PARTNER_STEPS:
            raise InvalidInput("unknown step", {"step": [f"one of {', '.join(lifecycle.PARTNER_STEPS)}"]})
        body = {} if data is None else data
        extra = {}
        if step == "decline":
            extra["reason"] = load_or_raise(schema(DeclineSchema), body)["reason"]
        elif step == "complete":
            extra["outcome"] = load_or_raise(schema(CompleteSchema), body)["outcome"]
        elif body:
            raise InvalidInput("body is invalid", {"body": [f"{step} takes no fields"]})
        with self.db.transaction() as uow:
            referral = domain.get_for_partner(uow.connection, path["referral_id"], caller, lock=True)
            changed = domain.transition(uow.connection, referral, step, f"provider:{caller.provider_id}",
                                        actor="partner", **extra)
            emit_change(uow, changed)
            return {"referral": schema(PartnerReferralSchema).dump(domain.with_steps(changed)),
                    "subject": _subject(changed)}

    @rpc
    def partner_inbox(self, query):
        """The provider's referrals (from `sent` on), newest first; no person or case ids."""
        caller = self.caller.require(Permission.REFERRAL_READ_OWN)
        params = load_or_raise(schema(PartnerInboxQuerySchema), query, "query")
        with self.db.transaction() as uow:
            items, next_cursor = domain.partner_inbox(uow.connection, caller, **params)
            return schema(PartnerReferralPageSchema).dump({"items": items, "next_cursor": next_cursor})

    @rpc
    def partner_referral(self, referral_id):
        """One referral of the provider with the contact data the consent allows (asked of intake with the
        partner's token). Returns {"referral", "subject"} like answer_referral."""
        caller = self.caller.require(Permission.REFERRAL_READ_OWN)
        path = load_or_raise(schema(ReferralIdSchema), {"referral_id": referral_id}, "path")
        with self.db.transaction() as uow:
            referral = domain.get_for_partner(uow.connection, path["referral_id"], caller)
        view = domain.with_steps(referral)
        view["contact"] = self._ask(lambda: self.intake.partner_contact(referral["person_id"]), "intake")
        return {"referral": schema(PartnerReferralDetailSchema).dump(view), "subject": _subject(referral)}

    @rpc
    def provider_refers(self, person_id):
        """For intake.partner_contact: has the calling provider an open referral of the person?"""
        caller = self.caller.require(Permission.REFERRAL_READ_OWN)
        with self.db.transaction() as uow:
            return domain.provider_refers(uow.connection, str(person_id), caller.provider_id)

    # consent, erasure, expiry ---------------------------------------------------------------------------------

    @subscribe("intake", "consent_withdrawn")
    def cancel_on_withdrawal(self, envelope):
        """Without referral_sharing (or case_management) consent no referral may go on: cancel the open ones."""
        with self.db.transaction() as uow:
            if not uow.claim("referrals.cancel_on_withdrawal", envelope["event_id"]):
                return None
            payload = envelope["payload"]
            if payload["purpose"] not in ("referral_sharing", "case_management"):
                return 0
            cancelled = 0
            for referral in domain.open_referrals_of(uow.connection, str(payload["person_id"])):
                changed = domain.transition(uow.connection, referral, "cancel", f"{SYSTEM}:consent_withdrawn")
                emit_change(uow, changed)
                cancelled += 1
            return cancelled

    @subscribe("intake", "person_erased")
    def erase_person_data(self, envelope):
        """Art. 17: tell the providers of open sent referrals they are cancelled (no person id in that event),
        delete the person's referrals and every platform row naming the person, confirm `erasure_confirmed`."""
        with self.db.transaction() as uow:
            if not uow.claim("referrals.erase_person_data", envelope["event_id"]):
                return None
            payload = envelope["payload"]
            person_id = str(payload["person_id"])
            for referral in domain.open_referrals_of(uow.connection, person_id):
                changed = domain.transition(uow.connection, referral, "cancel", f"{SYSTEM}:erasure")
                if domain.tells_partner(changed):
                    uow.emit_to(PARTNER_EXCHANGE, partner_routing_key("cancelled", changed["provider_id"]),
                                "partners", "referral_cancelled", changed["municipality"],
                                domain.partner_event(changed))
            erased = domain.erase_referrals_of(uow.connection, person_id)
            forget_person_in_platform_tables(uow.connection, metadata, person_id)
            uow.emit("erasure_confirmed", payload["municipality"],
                     {"erasure_id": payload["erasure_id"], "service": "referrals"})
            return erased

    @ExpiryTimer.decorator(interval=3600)
    def expire_due(self):
        """Referrals sent KIM_REFERRAL_EXPIRY_DAYS ago without an answer expire (`kim referrals expire` runs
        the same pass at once)."""
        return expire_due(self.db.transaction, self.settings.referral_expiry_days)

    # helpers --------------------------------------------------------------------------------------------------

    def _ask(self, call, service: str):
        """Another service, with the caller's token, within less than the gateway's own wait (then 503)."""
        try:
            with eventlet.Timeout(self.settings.rpc_timeout * 0.8):
                return call()
        except eventlet.Timeout:
            raise Unavailable(f"{service} did not answer in time; try again") from None

    def _sees_case(self, referral: dict) -> None:
        """A case manager reads a referral only if they may read its case (casework decides; 404 otherwise)."""
        caller = self.caller.current()
        if domain.is_staff(caller) and caller.role.value == "case_manager":
            self._ask(lambda: self.casework.case_profile(referral["case_id"]), "casework")


def _subject(referral: dict) -> dict:
    return {"person_id": referral["person_id"], "case_id": referral["case_id"],
            "municipality": referral["municipality"]}


def expire_due(transactions, expiry_days: float) -> int:
    """One expiry pass: each due referral in its own transaction (a concurrent answer wins: its 409 is skipped)."""
    from services.shared.errors import Conflict

    with transactions() as uow:
        due = domain.due_for_expiry(uow.connection, expiry_days)
    expired = 0
    for referral in due:
        try:
            with transactions() as uow:
                current = domain._row(uow.connection, referral["id"], lock=True)
                if current is None:
                    continue
                changed = domain.transition(uow.connection, current, "expire", f"{SYSTEM}:expiry")
                emit_change(uow, changed)
                expired += 1
        except Conflict:
            continue
    if expired:
        log.info("expired %d unanswered referral(s)", expired)
    return expired
