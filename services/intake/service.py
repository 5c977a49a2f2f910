"""Intake service: registers newly arrived persons and announces them as `person_registered`."""
from __future__ import annotations

from services.shared.auth import CallerProvider, Permission
from services.shared.db import Database
from services.shared.dependencies import SettingsProvider
from services.shared.rpc import rpc
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

    @rpc
    def register_person(self, data):
        caller = self.caller.require(Permission.PERSON_CREATE)
        payload = load_or_raise(schema(RegisterPersonSchema), data)
        with self.db.transaction() as uow:
            person = domain.register_person(uow.connection, payload, caller, self.settings.municipalities)
            uow.emit("person_registered", person["municipality"], domain.person_registered(person))
            return schema(PersonSchema).dump(person)

    @rpc
    def get_person(self, person_id):
        caller = self.caller.require(Permission.PERSON_READ)
        query = load_or_raise(schema(PersonIdSchema), {"person_id": person_id}, "path")
        with self.db.transaction() as uow:
            return schema(PersonSchema).dump(domain.get_person(uow.session, query["person_id"], caller))
