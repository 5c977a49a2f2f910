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
from .schemas import PersonIdSchema, PersonSchema, RegisterPersonSchema


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

    def _sees_a_case_of(self, person_id) -> bool:
        """Asks casework with the caller's token (it travels in the worker context): the case rule lives there."""
        try:
            # shorter than the gateway's own wait, so the caller hears 503 from here rather than a lost reply
            with eventlet.Timeout(self.settings.rpc_timeout * 0.8):
                page = self.casework.list_cases({"person_id": str(person_id), "limit": 1})
        except eventlet.Timeout:
            raise Unavailable("casework did not answer in time; try again") from None
        return bool(page["items"])
