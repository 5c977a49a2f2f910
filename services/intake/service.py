"""Intake service: registers newly arrived persons and announces them as `person_registered`."""
from __future__ import annotations

import eventlet

from services.shared.auth import CallerProvider, Permission
from services.shared.db import Database
from services.shared.dependencies import SettingsProvider
from services.shared.errors import Unavailable
from services.shared.messaging import subscribe
from services.shared.rpc import RpcProxy, rpc
from services.shared.schemas import PageQuerySchema, load_or_raise, schema
from services.shared.service import ServiceBase

from . import domain, erasure, households, merge
from .models import metadata
from .schemas import (ConsentPathSchema, ConsentRecordSchema, ConsentSchema, MergePersonSchema, PersonHistoryPageSchema,
                      PersonIdSchema, PersonMergeSchema, PersonSchema, PersonSearchPageSchema,
                      PersonSearchQuerySchema, RegisterPersonSchema, UpdatePersonSchema)
from .schemas import (CreateHouseholdSchema, HouseholdIdSchema, HouseholdMemberSchema, HouseholdMembershipSchema,
                      HouseholdSchema)


class IntakeService(ServiceBase):
    name = "intake"

    db = Database(metadata)
    caller = CallerProvider()
    settings = SettingsProvider()
    casework = RpcProxy("casework")  # need to know: may this case manager read a case of the person?
    analytics = RpcProxy("analytics")  # its part of a person's export

    @rpc
    def register_person(self, data):
        """Register a new person (announced as `person_registered`). With `existing_person_id` (after a 409, the
        candidate is this person) nobody is registered: the existing record is the answer (domain.
        link_registration)."""
        caller = self.caller.require(Permission.PERSON_CREATE)
        payload = load_or_raise(schema(RegisterPersonSchema), data)
        if payload.get("existing_person_id"):
            return self._link_registration(caller, data, payload)
        if self.db.at_once_possible:  # PostgreSQL: most registrations meet nobody born the same day
            with self.db.at_once() as statement:
                person = domain.register_at_once(statement, payload, caller, self.settings.municipalities, data,
                                                 "register_person")
            if person is not None:
                return schema(PersonSchema).dump(person)
        with self.db.transaction() as uow:
            earlier = uow.idempotent("register_person", caller.sub, data)
            if earlier is not None:  # a retry of a registration that did commit: answer it again
                return schema(PersonSchema).dump(domain.get_person(uow.session, earlier, caller))
            person = domain.register_person(uow.connection, payload, caller, self.settings.municipalities)
            uow.remember(person["id"])
            uow.emit("person_registered", person["municipality"], domain.person_registered(person))
            return schema(PersonSchema).dump(person)

    def _link_registration(self, caller, data, payload):
        with self.db.transaction() as uow:
            earlier = uow.idempotent("link_registration", caller.sub, data)
            if earlier is not None:
                return schema(PersonSchema).dump(domain.get_person(uow.session, earlier, caller))
            person = domain.link_registration(uow.session, payload, caller, self.settings.municipalities)
            uow.remember(person.id)
            return schema(PersonSchema).dump(person)

    @rpc
    def get_person(self, person_id):
        caller = self.caller.require(Permission.PERSON_READ)
        query = load_or_raise(schema(PersonIdSchema), {"person_id": person_id}, "path")
        # asked before the person is read, so a missing person and one the caller may not see cost the same
        if domain.needs_a_visible_case(caller) and not self._sees_a_case_of(query["person_id"]):
            raise domain.person_not_found(query["person_id"])
        with self.db.transaction() as uow:
            return schema(PersonSchema).dump(domain.get_person(uow.session, query["person_id"], caller))

    @rpc
    def update_person(self, person_id, expected_version, data):
        """Rectify fields of a person's record (Art. 16 GDPR): version checked, each changed field in
        `person_history`, announced as `person_updated` (non-personal fields only), all in one transaction."""
        caller = self.caller.require(Permission.PERSON_UPDATE)
        query = load_or_raise(schema(PersonIdSchema), {"person_id": person_id}, "path")
        payload = load_or_raise(schema(UpdatePersonSchema), data)
        with self.db.transaction() as uow:
            person, changed = domain.update_person(uow.session, query["person_id"], payload, caller,
                                                   int(expected_version), self.settings.municipalities)
            if changed:
                uow.emit("person_updated", person.municipality, domain.person_updated(person, changed))
            return schema(PersonSchema).dump(person)

    @rpc
    def person_history(self, person_id, query):
        caller = self.caller.require(Permission.PERSON_HISTORY)
        path = load_or_raise(schema(PersonIdSchema), {"person_id": person_id}, "path")
        page = load_or_raise(schema(PageQuerySchema), query, "query")
        with self.db.transaction() as uow:
            return schema(PersonHistoryPageSchema).dump(
                domain.person_history(uow.connection, path["person_id"], caller, **page))

    @rpc
    def search_persons(self, query):
        """Persons of the caller's towns by name (tolerant of transliteration and typos) and/or birth date.
        Case managers have no `person:search` (need to know): they find persons through their cases."""
        caller = self.caller.require(Permission.PERSON_SEARCH)
        params = load_or_raise(schema(PersonSearchQuerySchema), query, "query")
        with self.db.transaction() as uow:
            persons, next_cursor = domain.search_persons(uow.session, caller, **params)
            return schema(PersonSearchPageSchema).dump({"items": persons, "next_cursor": next_cursor})

    @rpc
    def merge_person(self, person_id, data, expected_version=None):
        """Merge the record `person_id` into `data["into"]` (services/intake/merge.py): the record becomes
        read-only, the survivor gains what it lacked; announced as `person_merged` (casework moves the case)."""
        caller = self.caller.require(Permission.PERSON_MERGE)
        query = load_or_raise(schema(PersonIdSchema), {"person_id": person_id}, "path")
        payload = load_or_raise(schema(MergePersonSchema), data)
        with self.db.transaction() as uow:
            earlier = uow.idempotent("merge_person", caller.sub, {"person_id": person_id, **data})
            if earlier is not None:  # a retry of a merge that did commit: answer it again
                return schema(PersonMergeSchema).dump(merge.merge_view(uow.session, earlier, caller))
            done = merge.merge_person(uow.session, query["person_id"], payload["into"], caller,
                                      None if expected_version is None else int(expected_version))
            uow.remember(done["person_id"])
            uow.emit("person_merged", done["municipality"], merge.person_merged(done))
            return schema(PersonMergeSchema).dump(done)

    @rpc
    def grant_consent(self, person_id, data):
        """Record a granted (or granted again) purpose; announced as `consent_granted`."""
        caller = self.caller.require(Permission.CONSENT_WRITE)
        query = load_or_raise(schema(PersonIdSchema), {"person_id": person_id}, "path")
        payload = load_or_raise(schema(ConsentSchema), data)
        with self.db.transaction() as uow:
            earlier = uow.idempotent("grant_consent", caller.sub, {"person_id": person_id, **data})
            if earlier is not None:  # a retry of a grant that did commit: answer it again
                return schema(ConsentRecordSchema).dump(
                    domain.consent_record(uow.connection, earlier, query["person_id"], caller))
            consent = domain.grant_consent(uow.connection, query["person_id"], payload, caller)
            uow.remember(str(consent["id"]))
            uow.emit("consent_granted", consent["municipality"], domain.consent_granted(consent))
            return schema(ConsentRecordSchema).dump(consent)

    @rpc
    def withdraw_consent(self, person_id, purpose):
        """Withdraw a purpose at once; `consent_withdrawn`, in the same transaction, tells the other services to
        stop using the person's data for it."""
        caller = self.caller.require(Permission.CONSENT_WRITE)
        query = load_or_raise(schema(ConsentPathSchema), {"person_id": person_id, "purpose": purpose}, "path")
        with self.db.transaction() as uow:
            earlier = uow.idempotent("withdraw_consent", caller.sub, query | {"person_id": person_id})
            if earlier is not None:
                return schema(ConsentRecordSchema).dump(
                    domain.consent_record(uow.connection, earlier, query["person_id"], caller))
            consent = domain.withdraw_consent(uow.connection, query["person_id"], query["purpose"], caller)
            uow.remember(str(consent["id"]))
            uow.emit("consent_withdrawn", consent["municipality"], domain.consent_withdrawn(consent))
            return schema(ConsentRecordSchema).dump(consent)

    # households ------------------------------------------------------------------------------------------

    @rpc
    def create_household(self, data):
        caller = self.caller.require(Permission.HOUSEHOLD_WRITE)
        payload = load_or_raise(schema(CreateHouseholdSchema), data)
        with self.db.transaction() as uow:
            earlier = uow.idempotent("create_household", caller.sub, data)
            if earlier is not None:
                return schema(HouseholdSchema).dump(households.get_household(uow.connection, earlier, caller))
            household = households.create_household(uow.connection, payload, caller)
            uow.remember(household["id"])
            return schema(HouseholdSchema).dump(household)

    @rpc
    def add_household_member(self, household_id, data):
        caller = self.caller.require(Permission.HOUSEHOLD_WRITE)
        query = load_or_raise(schema(HouseholdIdSchema), {"household_id": household_id}, "path")
        payload = load_or_raise(schema(HouseholdMemberSchema), data)
        with self.db.transaction() as uow:
            earlier = uow.idempotent("add_household_member", caller.sub, {"household_id": household_id, **data})
            if earlier is not None:
                return schema(HouseholdMembershipSchema).dump(
                    households.membership(uow.connection, query["household_id"], earlier, caller))
            member = households.add_member(uow.connection, query["household_id"], payload, caller)
            uow.remember(member["person_id"])
            return schema(HouseholdMembershipSchema).dump(member)

    @rpc
    def get_household(self, household_id):
        """Town rule; a case manager besides needs a case of some member they may read (need to know), else
        404 like a missing household."""
        caller = self.caller.require(Permission.HOUSEHOLD_READ)
        query = load_or_raise(schema(HouseholdIdSchema), {"household_id": household_id}, "path")
        with self.db.transaction() as uow:
            household = households.get_household(uow.connection, query["household_id"], caller)
        if domain.needs_a_visible_case(caller) and not any(self._sees_a_case_of(m["person_id"])
                                                           for m in household["members"]):
            raise households.household_not_found(query["household_id"])
        return schema(HouseholdSchema).dump(household)

    # GDPR Art. 15 (export) and Art. 17 (erasure) ----------------------------------------------------------

    @rpc
    def export_person(self, person_id):
        """Everything every service holds on the person: intake's own data, casework's cases of the person,
        referrals' referrals of them and the events analytics archived about them (each asked with the caller's
        token; 503 if one does not answer)."""
        caller = self.caller.require(Permission.PERSON_EXPORT)
        query = load_or_raise(schema(PersonIdSchema), {"person_id": person_id}, "path")
        with self.db.transaction() as uow:
            export = erasure.export_person(uow.connection, query["person_id"], caller)
        pid = export["person_id"]
        export["cases"] = self._ask("casework", lambda: self.casework.export_person(pid))
        export["referrals"] = self._ask("referrals", lambda: self.referrals.export_person(pid))
        export["analytics"] = self._ask("analytics", lambda: self.analytics.export_person(pid))
        return schema(erasure.PersonExportSchema).dump(export)

    @rpc
    def erase_person(self, person_id):
        """Erase the person's personal data now and announce `person_erased`, in one transaction; the other
        services confirm with `erasure_confirmed`."""
        caller = self.caller.require(Permission.PERSON_ERASE)
        query = load_or_raise(schema(PersonIdSchema), {"person_id": person_id}, "path")
        with self.db.transaction() as uow:
            request = erasure.erase_person(uow.connection, query["person_id"], caller)
            uow.emit("person_erased", request["municipality"], erasure.person_erased(request))
            return schema(erasure.ErasureSchema).dump(request)

    @rpc
    def get_erasure(self, erasure_id):
        caller = self.caller.require(Permission.PERSON_ERASE)
        query = load_or_raise(schema(erasure.ErasureIdSchema), {"erasure_id": erasure_id}, "path")
        with self.db.transaction() as uow:
            return schema(erasure.ErasureSchema).dump(erasure.get_erasure(uow.connection, query["erasure_id"],
                                                                          caller))

    @subscribe("casework", "erasure_confirmed")
    def record_erasure_confirmation(self, envelope):
        return self._confirm_erasure("intake.record_erasure_confirmation", envelope)

    @subscribe("analytics", "erasure_confirmed")
    def record_analytics_erasure_confirmation(self, envelope):
        return self._confirm_erasure("intake.record_analytics_erasure_confirmation", envelope)

    def _confirm_erasure(self, consumer: str, envelope):
        """A service's `erasure_confirmed`: once per event; an erasure of another instance is no business here."""
        with self.db.transaction() as uow:
            if not uow.claim(consumer, envelope["event_id"]):
                return None
            payload = envelope["payload"]
            done = erasure.confirm_erasure(uow.connection, str(payload["erasure_id"]), payload["service"])
            return done and done["status"]

    def _ask(self, service: str, call):
        """Calls another service with the caller's token (it travels in the worker context), within a time
        shorter than the gateway's own wait, so the caller hears 503 from here rather than a lost reply."""
        try:
            with eventlet.Timeout(self.settings.rpc_timeout * 0.8):
                return call()
        except eventlet.Timeout:
            raise Unavailable(f"{service} did not answer in time; try again") from None

    def _sees_a_case_of(self, person_id) -> bool:
        """The case visibility rule lives in casework: ask it."""
        page = self._ask("casework", lambda: self.casework.list_cases({"person_id": str(person_id), "limit": 1}))
        return bool(page["items"])

    # for referrals ---------------------------------------------------------------------------------------------
    # (services/intake/referral_facts.py; owned by the referrals work)

    referrals = RpcProxy("referrals")  # may this provider read the person's contact? (an open referral of it)

    @rpc
    def referral_facts(self, person_id):
        """Matching's and a referral's facts of a person of the caller's towns, and whether referral_sharing
        consent is in force: {person_id, municipality, residence_status, birth_year, languages,
        interpreter_needed, referral_sharing}."""
        from . import referral_facts

        caller = self.caller.current()
        if not (caller.may(Permission.REFERRAL_WRITE) or caller.may(Permission.REFERRAL_READ)):
            caller.require(Permission.REFERRAL_READ)
        query = load_or_raise(schema(PersonIdSchema), {"person_id": person_id}, "path")
        with self.db.transaction() as uow:
            return schema(referral_facts.ReferralFactsSchema).dump(
                referral_facts.referral_facts(uow.connection, query["person_id"], caller))

    @rpc
    def partner_contact(self, person_id):
        """The contact data a provider may read for its open referral of the person, while referral_sharing is
        granted (else 409). Referrals is asked (with the partner's token) whether the provider has such a
        referral: 404 otherwise, like a missing person."""
        from . import referral_facts

        caller = self.caller.require(Permission.REFERRAL_READ_OWN)
        query = load_or_raise(schema(PersonIdSchema), {"person_id": person_id}, "path")
        try:
            with eventlet.Timeout(self.settings.rpc_timeout * 0.6):
                refers = self.referrals.provider_refers(str(query["person_id"]))
        except eventlet.Timeout:
            raise Unavailable("referrals did not answer in time; try again") from None
        if not refers or not caller.provider_id:
            raise domain.person_not_found(query["person_id"])
        with self.db.transaction() as uow:
            return schema(referral_facts.PartnerContactSchema).dump(
                referral_facts.partner_contact(uow.connection, query["person_id"]))

    @subscribe("referrals", "erasure_confirmed")
    def record_referrals_erasure_confirmation(self, envelope):
        return self._confirm_erasure("intake.record_referrals_erasure_confirmation", envelope)
