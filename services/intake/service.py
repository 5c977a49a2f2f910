"""Intake service: registers newly arrived persons and announces them as `person_registered`."""
from __future__ import annotations

import eventlet

from services.shared.auth import CallerProvider, Permission
from services.shared.db import Database
from services.shared.dependencies import SettingsProvider
from services.shared.errors import Unavailable
from services.shared.rpc import RpcProxy, rpc
from services.shared.schemas import load_or_raise, schema
from services.shared.service import ServiceBase

from . import domain
from .models import metadata
from .schemas import (ConsentPathSchema, ConsentRecordSchema, ConsentSchema, PersonIdSchema, PersonSchema,
                      RegisterPersonSchema)


class IntakeService(ServiceBase):
    name = "intake"

    db = Database(metadata)
    caller = CallerProvider()
    settings = SettingsProvider()
    casework = RpcProxy("casework")  # need to know: may this case manager read a case of the person?

    @rpc
    def register_person(self, data):
        caller = self.caller.require(Permission.PERSON_CREATE)
        payload = load_or_raise(schema(RegisterPersonSchema), data)
        with self.db.transaction() as uow:
            earlier = uow.idempotent("register_person", caller.sub, data)
            if earlier is not None:  # a retry of a registration that did commit: answer it again
                return schema(PersonSchema).dump(domain.get_person(uow.session, earlier, caller))
            person = domain.register_person(uow.connection, payload, caller, self.settings.municipalities)
            uow.remember(person["id"])
            uow.emit("person_registered", person["municipality"], domain.person_registered(person))
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

    def _sees_a_case_of(self, person_id) -> bool:
        """Asks casework with the caller's token (it travels in the worker context): the case rule lives there."""
        try:
            # shorter than the gateway's own wait, so the caller hears 503 from here rather than a lost reply
            with eventlet.Timeout(self.settings.rpc_timeout * 0.8):
                page = self.casework.list_cases({"person_id": str(person_id), "limit": 1})
        except eventlet.Timeout:
            raise Unavailable("casework did not answer in time; try again") from None
        return bool(page["items"])
