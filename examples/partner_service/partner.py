"""A reference partner service: what a provider (Träger) runs to receive its KIM referrals and answer them.

It connects to KIM's RabbitMQ with the credentials `kim partners add PROVIDER_ID` printed (a user that may bind
only to `referral.<event>.<PROVIDER_ID>` on the `kim.partners` topic exchange, and declare only queues named
`partner.<PROVIDER_ID>.…`), binds its own durable queue, and auto-accepts every `referral_sent` event.

It answers through KIM's HTTP gateway with a partner token (`kim token --role partner --provider PROVIDER_ID
--municipality AGS`, in production one from the district's OIDC provider): `POST /v1/referrals/{id}/accept`.
That is the way for a partner outside the district's network; partners inside it may call the RPC
`referrals.answer_referral(referral_id, "accept")` with the token in the worker context instead.

Events carry no personal data: to contact the person, read `GET /v1/partner/referrals/{id}` (audited; the
contact data the person's referral_sharing consent allows).

Run it (after `pip install nameko requests`):

    PARTNER_PROVIDER_ID=vhs-luedenscheid KIM_GATEWAY_URL=https://kim.example/ PARTNER_TOKEN=... \\
        nameko run partner --broker 'amqp://partner-vhs-luedenscheid:PASSWORD@rabbit.example/%2F'
"""
from __future__ import annotations

import logging
import os

import requests
from kombu import Exchange, Queue
from nameko.extensions import DependencyProvider
from nameko.messaging import consume

log = logging.getLogger("partner")

#: the exchange exists (KIM declares it); the partner may not (and need not) declare it
PARTNER_EXCHANGE = Exchange("kim.partners", type="topic", durable=True, no_declare=True)


class Gateway(DependencyProvider):
    """KIM's HTTP API with the partner's token."""

    def __init__(self, url: str | None = None, token: str | None = None):
        self.url, self.token = url, token

    def setup(self):
        self.url = (self.url or os.environ.get("KIM_GATEWAY_URL", "http://127.0.0.1:8000")).rstrip("/")
        self.token = self.token or os.environ.get("PARTNER_TOKEN", "")
        self.session = requests.Session()

    def get_dependency(self, worker_ctx):
        return self

    def answer(self, referral_id: str, step: str, body: dict | None = None) -> int:
        response = self.session.post(f"{self.url}/v1/referrals/{referral_id}/{step}", json=body,
                                     headers={"Authorization": f"Bearer {self.token}"}, timeout=10)
        if response.status_code not in (200, 409):  # 409: already answered (a redelivery): nothing to do
            response.raise_for_status()
        return response.status_code


def build_service(provider_id: str, gateway_url: str | None = None, token: str | None = None,
                  queue_name: str = "auto-accept"):
    """The service class for one provider (its queue and binding are named after the provider)."""
    queue = Queue(f"partner.{provider_id}.{queue_name}", exchange=PARTNER_EXCHANGE,
                  routing_key=f"referral.*.{provider_id}", durable=True)

    class PartnerService:
        name = f"partner_{provider_id.replace('-', '_')}"
        gateway = Gateway(gateway_url, token)
        received: list = []  # what this process saw (for the curious, and the tests)

        @consume(queue, requeue_on_error=True)
        def on_referral_event(self, envelope):
            payload = envelope["payload"]
            PartnerService.received.append(envelope)
            log.info("referral %s is %s", payload["referral_id"], payload["status"])
            if envelope["event_type"] == "referral_sent":
                self.gateway.answer(payload["referral_id"], "accept")

    return PartnerService


if os.environ.get("PARTNER_PROVIDER_ID"):  # `nameko run partner`
    PartnerService = build_service(os.environ["PARTNER_PROVIDER_ID"])
