"""Routes of persons, consents, households and erasures: thin translations to intake's RPCs."""
from __future__ import annotations

from services.intake.erasure import ErasureIdSchema, ErasureSchema, PersonExportSchema
from services.intake.schemas import (ConsentPathSchema, ConsentRecordSchema, ConsentSchema, CreateHouseholdSchema,
                                     HouseholdIdSchema, HouseholdMemberSchema, HouseholdMembershipSchema,
                                     HouseholdSchema, MergePersonSchema, PersonHistoryPageSchema, PersonMergeSchema,
                                     PersonSchema, PersonSearchPageSchema, PersonSearchQuerySchema,
                                     RegisterPersonSchema, UpdatePersonSchema)
from services.shared.auth import Permission as P
from services.shared.rpc import RpcProxy
from services.shared.schemas import PageQuerySchema

from ..http import Audit, Reply, etag, route
from ..schemas import PersonPathSchema


class PersonRoutes:
    """Mixed into GatewayService, whose `_call` makes the RPC calls."""

    intake = RpcProxy("intake")

    # persons ---------------------------------------------------------------------------------------------

    @route("POST", "/v1/persons", tag="persons",
           summary="Register a newly arrived person (201), or link the registration to the person it duplicates "
                   "(200: send it again with `existing_person_id`, a candidate of the 409)",
           permission=P.PERSON_CREATE, body=RegisterPersonSchema, responses={201: PersonSchema, 200: PersonSchema},
           response_headers=("Location", "ETag"),
           errors={409: "Likely already registered: `candidates` lists who (ids, scores, reasons); send the "
                        "registration again with `existing_person_id` (a candidate: nobody is registered, 200 "
                        "answers the existing record), or with `confirmed_new: true`. Also: the "
                        "`existing_person_id` was merged into another record (the detail names it)"},
           audit=Audit("person.create", "case_management", "person"))
    def create_person(self, request, body):
        person = self._call(self.intake.register_person, body)
        linked = isinstance(body, dict) and bool(body.get("existing_person_id"))
        return Reply(person, 200 if linked else 201,
                     {"Location": f"/v1/persons/{person['id']}", "ETag": etag(person["version"])})

    @route("GET", "/v1/persons/<person_id>", tag="persons", summary="Read a person's record",
           permission=P.PERSON_READ, path_params=PersonPathSchema, responses={200: PersonSchema},
           response_headers=("ETag",),
           audit=Audit("person.read", "case_management", "person"))
    def get_person(self, request, person_id):
        person = self._call(self.intake.get_person, person_id)
        return Reply(person, headers={"ETag": etag(person["version"])})

    @route("PATCH", "/v1/persons/<person_id>", tag="persons",
           summary="Rectify fields of a person's record (Art. 16 GDPR; announced as person_updated)",
           permission=P.PERSON_UPDATE, path_params=PersonPathSchema, body=UpdatePersonSchema, if_match=True,
           responses={200: PersonSchema}, response_headers=("ETag",),
           audit=Audit("person.update", "case_management", "person"))
    def update_person(self, request, person_id, body, if_match):
        person = self._call(self.intake.update_person, person_id, if_match, body)
        return Reply(person, headers={"ETag": etag(person["version"])})

    @route("POST", "/v1/persons/<person_id>/merge", tag="persons",
           summary="Merge this record into `into` (two records of one person): it becomes read-only with "
                   "`merged_into`, the survivor gains the fields, consents and household it lacked; announced "
                   "as person_merged (casework moves the case). If-Match: this record's ETag",
           permission=P.PERSON_MERGE, path_params=PersonPathSchema, body=MergePersonSchema, if_match=True,
           responses={200: PersonMergeSchema},
           errors={409: "This record or `into` was merged already (the detail names the survivor)"},
           audit=Audit("person.merge", "case_management", "person"))
    def merge_person(self, request, person_id, body, if_match):
        return self._call(self.intake.merge_person, person_id, body, if_match)

    @route("GET", "/v1/persons/<person_id>/history", tag="persons",
           summary="Who changed which field of a person's record when, old -> new",
           permission=P.PERSON_HISTORY, path_params=PersonPathSchema, query=PageQuerySchema,
           responses={200: PersonHistoryPageSchema},
           audit=Audit("person.history", "case_management", "history"))
    def person_history(self, request, person_id, query):
        return self._call(self.intake.person_history, person_id, query)

    @route("GET", "/v1/persons", tag="persons",
           summary="Search persons of the caller's towns by name (tolerant of transliteration and typos) "
                   "and/or birth date",
           permission=P.PERSON_SEARCH, query=PersonSearchQuerySchema, responses={200: PersonSearchPageSchema},
           audit=Audit("person.search", "case_management", "persons"))
    def search_persons(self, request, query):
        return self._call(self.intake.search_persons, query)

    # GDPR Art. 15 (export) and Art. 17 (erasure) ----------------------------------------------------------

    @route("GET", "/v1/persons/<person_id>/export", tag="persons",
           summary="Everything every service holds on a person (Art. 15 GDPR): record, consents, history, "
                   "household memberships, cases",
           permission=P.PERSON_EXPORT, path_params=PersonPathSchema, responses={200: PersonExportSchema},
           audit=Audit("person.export", "data_protection", "export"))
    def export_person(self, request, person_id):
        return self._call(self.intake.export_person, person_id)

    @route("DELETE", "/v1/persons/<person_id>", tag="persons",
           summary="Erase a person everywhere (Art. 17 GDPR): intake at once, the other services confirm; "
                   "follow Location for the status",
           permission=P.PERSON_ERASE, path_params=PersonPathSchema, responses={202: ErasureSchema},
           response_headers=("Location",),
           audit=Audit("person.erase", "data_protection", "erasure"))
    def erase_person(self, request, person_id):
        erasure = self._call(self.intake.erase_person, person_id)
        return Reply(erasure, 202, {"Location": f"/v1/erasures/{erasure['erasure_id']}"})

    @route("GET", "/v1/erasures/<erasure_id>", tag="persons",
           summary="An erasure's status and each service's confirmation",
           permission=P.PERSON_ERASE, path_params=ErasureIdSchema, responses={200: ErasureSchema},
           audit=Audit("erasure.read", "data_protection", "erasure"))
    def get_erasure(self, request, erasure_id):
        return self._call(self.intake.get_erasure, erasure_id)

    # consents (GDPR Art. 6/7/9) ----------------------------------------------------------------------------

    @route("POST", "/v1/persons/<person_id>/consents", tag="persons",
           summary="Record that the person granted (or granted again) consent to a purpose",
           permission=P.CONSENT_WRITE, path_params=PersonPathSchema, body=ConsentSchema,
           responses={201: ConsentRecordSchema},
           audit=Audit("consent.grant", "case_management", "consent"))
    def grant_consent(self, request, person_id, body):
        return Reply(self._call(self.intake.grant_consent, person_id, body), 201)

    @route("POST", "/v1/persons/<person_id>/consents/<purpose>/withdrawal", tag="persons",
           summary="Withdraw the person's consent to a purpose, with immediate effect (announced as "
                   "consent_withdrawn)",
           permission=P.CONSENT_WRITE, path_params=ConsentPathSchema, responses={200: ConsentRecordSchema},
           audit=Audit("consent.withdraw", "case_management", "consent"))
    def withdraw_consent(self, request, person_id, purpose):
        return self._call(self.intake.withdraw_consent, person_id, purpose)

    # households ------------------------------------------------------------------------------------------

    @route("POST", "/v1/households", tag="households", summary="Create a household of registered persons",
           permission=P.HOUSEHOLD_WRITE, body=CreateHouseholdSchema, responses={201: HouseholdSchema},
           response_headers=("Location",), errors={409: "A member is already in a household"},
           audit=Audit("household.create", "case_management", "household"))
    def create_household(self, request, body):
        household = self._call(self.intake.create_household, body)
        return Reply(household, 201, {"Location": f"/v1/households/{household['id']}"})

    @route("POST", "/v1/households/<household_id>/members", tag="households",
           summary="Add a registered person to a household", permission=P.HOUSEHOLD_WRITE,
           path_params=HouseholdIdSchema, body=HouseholdMemberSchema, responses={201: HouseholdMembershipSchema},
           errors={409: "The person is already in a household"},
           audit=Audit("household.add_member", "case_management", "household"))
    def add_household_member(self, request, household_id, body):
        return Reply(self._call(self.intake.add_household_member, household_id, body), 201)

    @route("GET", "/v1/households/<household_id>", tag="households",
           summary="Read a household: its members' ids and relations", permission=P.HOUSEHOLD_READ,
           path_params=HouseholdIdSchema, responses={200: HouseholdSchema},
           audit=Audit("household.read", "case_management", "household"))
    def get_household(self, request, household_id):
        return self._call(self.intake.get_household, household_id)
