"""Referrals over the real broker and both databases: two partners, each with its own RabbitMQ user made by
`kim partners add`, each receiving only its own referral events (the reference partner service auto-accepts for
one of them); the broker refuses a binding to another provider's routing key; the partner reads the contact data
through the audited route; a consent withdrawal cancels open referrals; the expiry timer expires them."""
import json
import uuid

import eventlet
import pytest
from amqp.exceptions import AccessRefused
from kombu import Connection, Consumer, Exchange, Queue
from nameko.standalone.rpc import ClusterRpcProxy

from examples.partner_service.partner import build_service
from services.referrals import partners
from services.shared.settings import Settings
from tests.conftest import LUEDENSCHEID, person_body, poll

pytestmark = pytest.mark.integration
EXCHANGE = Exchange("kim.partners", type="topic", durable=True, no_declare=True)


@pytest.fixture
def partner_users(rabbit_config):
    """add(provider_id) -> the JSON `kim partners add` prints, for this test's vhost; users removed after."""
    settings = Settings.load({"AMQP_URI": rabbit_config["AMQP_URI"]})
    made = []

    def add(provider_id):
        made.append(provider_id)
        return partners.add_partner(settings, provider_id)
    yield add
    for provider_id in made:
        partners.remove_partner(settings, provider_id)


class Subscriber:
    """A partner's own consumer: its queue (within its prefix) bound to its routing keys."""

    def __init__(self, credentials, name="inbox", key=None):
        self.received = []
        self.connection = Connection(credentials["amqp_uri"])
        provider_id = credentials["provider_id"]
        self.queue = Queue(f"{credentials['queue_prefix']}{name}", exchange=EXCHANGE,
                           routing_key=key or f"referral.*.{provider_id}", durable=False, auto_delete=True)
        self.consumer = Consumer(self.connection.channel(), queues=[self.queue], callbacks=[self._on],
                                 accept=["json"])
        self.consumer.consume()
        self.thread = eventlet.spawn(self._drain)

    def _on(self, body, message):
        self.received.append((message.delivery_info["routing_key"], body))
        message.ack()

    def _drain(self):
        while True:
            try:
                self.connection.drain_events(timeout=0.2)
            except (TimeoutError, OSError):  # socket.timeout is a TimeoutError
                eventlet.sleep(0)

    def close(self):
        self.thread.kill()
        self.connection.release()


def test_partners_see_only_their_own_referrals(stack, http, auth, make_token, partner_users, container_factory,
                                               rabbit_config):
    suffix = uuid.uuid4().hex[:6]
    vhs, jobcenter = f"vhs-{suffix}", f"jc-{suffix}"
    lead = auth("team_lead", sub="tl-1")
    for provider_id, name in ((vhs, "VHS Lüdenscheid"), (jobcenter, "Jobcenter MK")):
        created = http.post(stack.url("/v1/providers"), json={"id": provider_id, "name": name}, headers=lead)
        assert created.status_code == 201, created.text
    offers = {}
    for provider_id, area in ((vhs, "language"), (jobcenter, "work")):
        created = http.post(stack.url("/v1/offers"), json={
            "provider_id": provider_id, "name": f"Angebot {area}", "areas": [area], "municipalities": [LUEDENSCHEID],
            "languages": ["de", "uk"]}, headers=lead)
        assert created.status_code == 201, created.text
        offers[provider_id] = created.json()["id"]

    # the partners' users, as `kim partners add` makes them; the broker enforces their topic permissions
    vhs_user, jc_user = partner_users(vhs), partner_users(jobcenter)
    assert vhs_user["routing_pattern"] == f"referral.*.{vhs}" and vhs_user["exchange"] == "kim.partners"
    assert vhs_user["username"] == f"partner-{vhs}" and vhs_user["password"]
    for key in (f"referral.*.{jobcenter}", "referral.#", "#"):
        with Connection(vhs_user["amqp_uri"]) as conn, pytest.raises(AccessRefused):
            Queue(f"partner.{vhs}.spy", exchange=EXCHANGE, routing_key=key, auto_delete=True)(conn.channel()).declare()
    with Connection(vhs_user["amqp_uri"]) as conn, pytest.raises(AccessRefused):  # a queue outside its prefix
        Queue(f"partner.{jobcenter}.spy", exchange=EXCHANGE, routing_key=f"referral.*.{vhs}",
              auto_delete=True)(conn.channel()).declare()
    jc_inbox = Subscriber(jc_user)
    vhs_token = make_token("partner", (), sub="vhs-bot", provider_id=vhs)
    PartnerService = build_service(vhs, stack.base_url, vhs_token)
    partner = container_factory(PartnerService, {"AMQP_URI": vhs_user["amqp_uri"], "serializer": "json"})
    partner.start()
    try:
        person = http.post(stack.url("/v1/persons"), json=person_body(consents=[
            {"purpose": "case_management", "granted_at": "2026-10-05T09:30:00Z", "basis": "signed_form"},
            {"purpose": "referral_sharing", "granted_at": "2026-10-05T09:31:00Z", "basis": "signed_form"}],
            phone="+49 2351 123456", email="olena@example.org"), headers=lead)
        assert person.status_code == 201, person.text
        person = person.json()
        case = poll(lambda: http.get(stack.url("/v1/cases"), params={"person_id": person["id"]},
                                     headers=lead).json()["items"])[0]
        suggestions = http.get(stack.url(f"/v1/cases/{case['id']}/offer-suggestions"), headers=lead)
        assert suggestions.status_code == 200, suggestions.text
        assert suggestions.json()["case_id"] == case["id"]

        referrals = {}
        for provider_id in (vhs, jobcenter):
            created = http.post(stack.url("/v1/referrals"), json={"case_id": case["id"],
                                                                  "offer_id": offers[provider_id],
                                                                  "note": "Rückruf bitte vormittags"}, headers=lead)
            assert created.status_code == 201, created.text
            referrals[provider_id] = created.json()
            assert referrals[provider_id]["status"] == "draft"
        again = http.post(stack.url("/v1/referrals"), json={"case_id": case["id"], "offer_id": offers[vhs]},
                          headers=lead)
        assert again.status_code == 409 and "open referral" in again.json()["detail"]
        for provider_id in (vhs, jobcenter):
            sent = http.post(stack.url(f"/v1/referrals/{referrals[provider_id]['id']}/send"), headers=lead)
            assert sent.status_code == 200 and sent.json()["status"] == "sent", sent.text

        # the reference partner auto-accepts its own referral through the gateway
        vhs_id, jc_id = referrals[vhs]["id"], referrals[jobcenter]["id"]
        poll(lambda: http.get(stack.url(f"/v1/referrals/{vhs_id}"), headers=lead).json()["status"] == "accepted",
             timeout=20)
        poll(lambda: len(PartnerService.received) >= 2, timeout=10)  # sent, then its own accepted
        assert {e["payload"]["referral_id"] for e in PartnerService.received} == {vhs_id}
        assert [e["event_type"] for e in PartnerService.received][:2] == ["referral_sent", "referral_accepted"]
        poll(lambda: jc_inbox.received, timeout=10)
        assert [(key, body["payload"]["referral_id"]) for key, body in jc_inbox.received] == [
            (f"referral.sent.{jobcenter}", jc_id)]
        for _, body in jc_inbox.received:
            text = json.dumps(body)
            assert person["id"] not in text and case["id"] not in text and "Rückruf" not in text
            assert body["payload"]["languages"] == ["uk", "ru"] and body["schema_version"] == 1

        # answers: another provider's referral is 404; out of order 409 naming the allowed steps
        jc = auth("partner", (), sub="jc-bot", provider_id=jobcenter)
        assert http.post(stack.url(f"/v1/referrals/{vhs_id}/start"), headers=jc).status_code == 404
        early = http.post(stack.url(f"/v1/referrals/{jc_id}/complete"), json={"outcome": "goal_reached"},
                          headers=jc)
        assert early.status_code == 409 and "allowed steps: accept, decline" in early.json()["detail"]
        # a partner inside the district's network may answer by RPC, its token in the call's context
        jc_token = make_token("partner", (), sub="jc-bot", provider_id=jobcenter)
        with ClusterRpcProxy({"AMQP_URI": rabbit_config["AMQP_URI"], "serializer": "json"}, timeout=10,
                             context_data={"auth_token": jc_token}) as rpc:
            declined = rpc.referrals.answer_referral(jc_id, "decline", {"reason": "no_capacity"})
        assert declined["referral"]["status"] == "declined" and declined["referral"]["decline_reason"] == "no_capacity"
        assert "person_id" not in declined["referral"]
        inbox = http.get(stack.url("/v1/partner/referrals"), headers=jc).json()["items"]
        assert [r["id"] for r in inbox] == [jc_id]
        assert http.get(stack.url("/v1/referrals"), headers=jc).status_code == 403

        # the partner reads the contact data the consent allows: audited with the person's id
        vhs_headers = {"Authorization": f"Bearer {vhs_token}"}
        detail = http.get(stack.url(f"/v1/partner/referrals/{vhs_id}"), headers=vhs_headers)
        assert detail.status_code == 200, detail.text
        assert detail.json()["contact"]["given_name"] == "Olena" and detail.json()["contact"]["phone"]
        assert "person_id" not in detail.json()
        assert http.get(stack.url(f"/v1/partner/referrals/{vhs_id}"), headers=jc).status_code == 404
        audit = http.get(stack.url("/v1/audit"), params={"person_id": person["id"]},
                         headers=auth("district_admin")).json()["items"]
        assert {"referral.partner_read", "referral.accept", "referral.create", "referral.send"} <= {
            e["action"] for e in audit}

        # the lifecycle on referrals.events for casework and analytics
        assert [e["payload"]["status"] for e in stack.events("referral_sent", "referrals")] == ["sent", "sent"]

        # withdrawing referral_sharing cancels the open referral and tells its provider; contact data stops
        withdrawn = http.post(stack.url(f"/v1/persons/{person['id']}/consents/referral_sharing/withdrawal"),
                              headers=lead)
        assert withdrawn.status_code == 200, withdrawn.text
        poll(lambda: http.get(stack.url(f"/v1/referrals/{vhs_id}"), headers=lead).json()["status"] == "cancelled",
             timeout=20)
        poll(lambda: any(e["event_type"] == "referral_cancelled" for e in PartnerService.received), timeout=10)
        assert http.get(stack.url(f"/v1/partner/referrals/{vhs_id}"), headers=vhs_headers).status_code in (404, 409)
        refused = http.post(stack.url("/v1/referrals"), json={"case_id": case["id"], "offer_id": offers[vhs]},
                            headers=lead)
        assert refused.status_code == 409 and "referral_sharing" in refused.json()["detail"]
        assert all(key.endswith(f".{jobcenter}") for key, _ in jc_inbox.received)
    finally:
        jc_inbox.close()
        partner.stop()


def test_expiry_timer_expires_unanswered_referrals(start_stack, sqlite_urls, http, auth):
    stack = start_stack(sqlite_urls, KIM_REFERRAL_EXPIRY_DAYS="0.00002", KIM_REFERRAL_EXPIRY_CHECK_SECONDS="0.5")
    lead = auth("team_lead", sub="tl-1")
    assert http.post(stack.url("/v1/providers"), json={"id": "vhs-expiry", "name": "VHS"},
                     headers=lead).status_code == 201
    offer = http.post(stack.url("/v1/offers"), json={"provider_id": "vhs-expiry", "name": "Kurs",
                                                     "areas": ["language"], "municipalities": [LUEDENSCHEID],
                                                     "languages": ["de"]}, headers=lead).json()
    person = http.post(stack.url("/v1/persons"), json=person_body(consents=[
        {"purpose": "case_management", "granted_at": "2026-10-05T09:30:00Z", "basis": "signed_form"},
        {"purpose": "referral_sharing", "granted_at": "2026-10-05T09:31:00Z", "basis": "signed_form"}]),
        headers=lead).json()
    case = poll(lambda: http.get(stack.url("/v1/cases"), params={"person_id": person["id"]},
                                 headers=lead).json()["items"])[0]
    referral = http.post(stack.url("/v1/referrals"), json={"case_id": case["id"], "offer_id": offer["id"]},
                         headers=lead).json()
    assert http.post(stack.url(f"/v1/referrals/{referral['id']}/send"), headers=lead).status_code == 200
    expired = poll(lambda: (lambda r: r if r["status"] == "expired" else None)(
        http.get(stack.url(f"/v1/referrals/{referral['id']}"), headers=lead).json()), timeout=15)
    assert expired["allowed_steps"] == []
    assert [e["payload"]["previous_status"] for e in stack.events("referral_expired", "referrals")] == ["sent"]
    (partner_row,) = stack.rows("referrals", "SELECT routing_key FROM outbox WHERE exchange = 'kim.partners' "
                                             "AND routing_key LIKE 'referral.expired.%'")
    assert partner_row["routing_key"] == "referral.expired.vhs-expiry"
