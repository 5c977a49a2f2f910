"""Routes of providers, offers, referrals and the partners' inbox: thin translations to referrals' RPCs."""
from __future__ import annotations

from services.referrals.schemas import (CaseIdSchema, CompleteSchema, CreateOfferSchema, CreateProviderSchema,
                                        CreateReferralSchema, DeclineSchema, ExportQuerySchema, HsdsExportSchema,
                                        OfferIdSchema, OfferPageSchema, OfferQuerySchema, OfferSchema,
                                        PartnerInboxQuerySchema, PartnerReferralDetailSchema,
                                        PartnerReferralPageSchema, PartnerReferralSchema, ProviderPageSchema,
                                        ProviderSchema, ReferralIdSchema, ReferralPageSchema, ReferralQuerySchema,
                                        ReferralSchema, SuggestionPageSchema, SuggestionQuerySchema,
                                        UpdateOfferSchema)
from services.shared.auth import Permission as P
from services.shared.rpc import RpcProxy
from services.shared.schemas import PageQuerySchema

from ..http import Audit, Reply, route

OUT_OF_ORDER = "The step is out of order: the detail names the referral's status and its allowed steps"


class ReferralRoutes:
    """Mixed into GatewayService, whose `_call` makes the RPC calls."""

    referrals = RpcProxy("referrals")

    # the catalogue ---------------------------------------------------------------------------------------

    @route("POST", "/v1/providers", tag="catalogue", summary="Add a provider (Träger) to the catalogue",
           permission=P.OFFER_WRITE, body=CreateProviderSchema, responses={201: ProviderSchema},
           response_headers=("Location",), errors={409: "A provider with this id exists"})
    def create_provider(self, request, body):
        provider = self._call(self.referrals.create_provider, body)
        return Reply(provider, 201, {"Location": f"/v1/providers/{provider['id']}"})

    @route("GET", "/v1/providers", tag="catalogue", summary="List the providers", permission=P.OFFER_READ,
           query=PageQuerySchema, responses={200: ProviderPageSchema})
    def list_providers(self, request, query):
        return self._call(self.referrals.list_providers, query)

    @route("POST", "/v1/offers", tag="catalogue", summary="Add an offer (Regelangebot) of a provider",
           permission=P.OFFER_WRITE, body=CreateOfferSchema, responses={201: OfferSchema},
           response_headers=("Location",))
    def create_offer(self, request, body):
        offer = self._call(self.referrals.create_offer, body)
        return Reply(offer, 201, {"Location": f"/v1/offers/{offer['id']}"})

    @route("GET", "/v1/offers", tag="catalogue",
           summary="List offers, optionally serving a municipality, addressing a life area, given in a language",
           permission=P.OFFER_READ, query=OfferQuerySchema, responses={200: OfferPageSchema})
    def list_offers(self, request, query):
        return self._call(self.referrals.list_offers, query)

    @route("GET", "/v1/offers/export", tag="catalogue",
           summary="The catalogue as Open Referral HSDS 3.0 JSON (a paged response with `contents`)",
           permission=P.OFFER_READ, query=ExportQuerySchema, responses={200: HsdsExportSchema})
    def export_offers(self, request, query):
        return self._call(self.referrals.export_offers, query)

    @route("GET", "/v1/offers/<offer_id>", tag="catalogue", summary="Read an offer", permission=P.OFFER_READ,
           path_params=OfferIdSchema, responses={200: OfferSchema})
    def get_offer(self, request, offer_id):
        return self._call(self.referrals.get_offer, offer_id)

    @route("PATCH", "/v1/offers/<offer_id>", tag="catalogue",
           summary="Change an offer (e.g. pause it, record the current waiting time)", permission=P.OFFER_WRITE,
           path_params=OfferIdSchema, body=UpdateOfferSchema, responses={200: OfferSchema})
    def update_offer(self, request, offer_id, body):
        return self._call(self.referrals.update_offer, offer_id, body)

    # matching --------------------------------------------------------------------------------------------

    @route("GET", "/v1/cases/<case_id>/offer-suggestions", tag="referrals",
           summary="Offers for a case, ranked by fit (open needs, municipality, language, eligibility, waiting "
                   "time), each explaining which criteria matched or failed",
           permission=P.REFERRAL_READ, path_params=CaseIdSchema, query=SuggestionQuerySchema,
           responses={200: SuggestionPageSchema}, audit=Audit("case.offer_suggestions", "case_management",
                                                              "referral"))
    def offer_suggestions(self, request, case_id, query):
        return self._call(self.referrals.offer_suggestions, case_id, query)

    # referrals (staff) -----------------------------------------------------------------------------------

    @route("POST", "/v1/referrals", tag="referrals",
           summary="Draft a referral of a case's person to an offer (needs referral_sharing consent)",
           permission=P.REFERRAL_WRITE, body=CreateReferralSchema, responses={201: ReferralSchema},
           response_headers=("Location",),
           errors={404: "No such case or offer the caller may see",
                   409: "No referral_sharing consent; the offer is paused; an open referral to this offer "
                        "exists; or the case is closed"},
           audit=Audit("referral.create", "case_management", "referral"))
    def create_referral(self, request, body):
        referral = self._call(self.referrals.create_referral, body)
        return Reply(referral, 201, {"Location": f"/v1/referrals/{referral['id']}"})

    @route("GET", "/v1/referrals", tag="referrals", summary="List referrals, optionally of a case or in a status",
           permission=P.REFERRAL_READ, query=ReferralQuerySchema, responses={200: ReferralPageSchema},
           errors={404: "`case_id` names no case the caller may see"},
           audit=Audit("referral.list", "case_management", "referrals"))
    def list_referrals(self, request, query):
        return self._call(self.referrals.list_referrals, query)

    @route("GET", "/v1/referrals/<referral_id>", tag="referrals", summary="Read a referral",
           permission=P.REFERRAL_READ, path_params=ReferralIdSchema, responses={200: ReferralSchema},
           audit=Audit("referral.read", "case_management", "referral"))
    def get_referral(self, request, referral_id):
        return self._call(self.referrals.get_referral, referral_id)

    @route("POST", "/v1/referrals/<referral_id>/send", tag="referrals",
           summary="Send a draft referral to its provider (the consent is checked again)",
           permission=P.REFERRAL_WRITE, path_params=ReferralIdSchema, responses={200: ReferralSchema},
           errors={409: OUT_OF_ORDER + "; or referral_sharing consent is missing"},
           audit=Audit("referral.send", "case_management", "referral"))
    def send_referral(self, request, referral_id):
        return self._call(self.referrals.send_referral, referral_id)

    @route("POST", "/v1/referrals/<referral_id>/cancel", tag="referrals", summary="Cancel an open referral",
           permission=P.REFERRAL_WRITE, path_params=ReferralIdSchema, responses={200: ReferralSchema},
           errors={409: OUT_OF_ORDER}, audit=Audit("referral.cancel", "case_management", "referral"))
    def cancel_referral(self, request, referral_id):
        return self._call(self.referrals.cancel_referral, referral_id)

    # partners (partner tokens: the token's provider_id) --------------------------------------------------

    def _answer(self, referral_id, step, body=None):
        answer = self._call(self.referrals.answer_referral, referral_id, step, body)
        return Reply(answer["referral"], audit_subjects=[answer["subject"]])

    @route("POST", "/v1/referrals/<referral_id>/accept", tag="partners",
           summary="The provider accepts its referral", permission=P.REFERRAL_ANSWER,
           path_params=ReferralIdSchema, responses={200: PartnerReferralSchema}, errors={409: OUT_OF_ORDER},
           audit=Audit("referral.accept", "referral", "referral"))
    def accept_referral(self, request, referral_id):
        return self._answer(referral_id, "accept")

    @route("POST", "/v1/referrals/<referral_id>/decline", tag="partners",
           summary="The provider declines its referral, with a reason", permission=P.REFERRAL_ANSWER,
           path_params=ReferralIdSchema, body=DeclineSchema, responses={200: PartnerReferralSchema},
           errors={409: OUT_OF_ORDER}, audit=Audit("referral.decline", "referral", "referral"))
    def decline_referral(self, request, referral_id, body):
        return self._answer(referral_id, "decline", body)

    @route("POST", "/v1/referrals/<referral_id>/start", tag="partners",
           summary="The provider started working with the person", permission=P.REFERRAL_ANSWER,
           path_params=ReferralIdSchema, responses={200: PartnerReferralSchema}, errors={409: OUT_OF_ORDER},
           audit=Audit("referral.start", "referral", "referral"))
    def start_referral(self, request, referral_id):
        return self._answer(referral_id, "start")

    @route("POST", "/v1/referrals/<referral_id>/complete", tag="partners",
           summary="The provider completed its referral, with an outcome", permission=P.REFERRAL_ANSWER,
           path_params=ReferralIdSchema, body=CompleteSchema, responses={200: PartnerReferralSchema},
           errors={409: OUT_OF_ORDER}, audit=Audit("referral.complete", "referral", "referral"))
    def complete_referral(self, request, referral_id, body):
        return self._answer(referral_id, "complete", body)

    @route("GET", "/v1/partner/referrals", tag="partners",
           summary="The provider's inbox: its referrals from `sent` on, newest first (no personal data)",
           permission=P.REFERRAL_READ_OWN, query=PartnerInboxQuerySchema, responses={200: PartnerReferralPageSchema})
    def partner_inbox(self, request, query):
        return self._call(self.referrals.partner_inbox, query)

    @route("GET", "/v1/partner/referrals/<referral_id>", tag="partners",
           summary="One referral of the provider with the contact data the person's consent allows (audited)",
           permission=P.REFERRAL_READ_OWN, path_params=ReferralIdSchema,
           responses={200: PartnerReferralDetailSchema},
           errors={409: "The person has not granted (or withdrew) referral_sharing consent"},
           audit=Audit("referral.partner_read", "referral", "referral"))
    def partner_referral(self, request, referral_id):
        answer = self._call(self.referrals.partner_referral, referral_id)
        return Reply(answer["referral"], audit_subjects=[answer["subject"]])
