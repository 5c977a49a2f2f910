"""The district roll-up: where a municipality runs its own instance (its own vhost or broker), its events reach
the district instance's analytics through RabbitMQ shovels (the `rabbitmq_shovel` plugin).

Per producer exchange (`intake.events`, `casework.events`, `referrals.events`) of the municipal vhost:

- a durable queue `kim.rollup.<district>.<producer>` bound to the exchange with `#` collects every event, also
  while the shovel or the district is down (nothing is lost);
- a dynamic shovel moves it to the exchange of the same name in the district's vhost, keeping the routing key
  (the event type) and the message's properties (message_id = event_id), acking only after the district's
  broker confirmed (`on-confirm`).

A shovel delivers at least once (a restart may repeat what was not yet acked); analytics archives every event
once by its event_id, so nothing is counted twice. Events are pseudonymous by contract (ids, codes, dates).

`kim rollup add --from-vhost V --to-vhost D` sets them up for development; deploy/rabbitmq/ holds the same
declarations for the deployed brokers.
"""
from __future__ import annotations

import urllib.parse

from services.referrals.partners import ManagementApi, api_for
from services.shared.settings import Settings

PRODUCERS = ("intake", "casework", "referrals")


def _q(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def queue_name(to_vhost: str, producer: str) -> str:
    return f"kim.rollup.{to_vhost.strip('/') or 'default'}.{producer}"


def shovel_name(from_vhost: str, to_vhost: str, producer: str) -> str:
    return f"kim-rollup-{from_vhost.strip('/') or 'default'}-to-{to_vhost.strip('/') or 'default'}-{producer}"


def vhost_uri(amqp_uri: str, vhost: str) -> str:
    """The broker's AMQP URI with another vhost."""
    parts = urllib.parse.urlsplit(amqp_uri)
    scheme = "amqps" if parts.scheme == "amqps" else "amqp"  # kombu's pyamqp:// is amqp:// to RabbitMQ
    return urllib.parse.urlunsplit((scheme, parts.netloc, "/" + _q(vhost), "", ""))


def shovel_definitions(from_uri: str, to_uri: str, from_vhost: str, to_vhost: str) -> list[dict]:
    """The shovel parameters (as `rabbitmqctl set_parameter shovel NAME JSON` or the definitions file take
    them), one per producer."""
    return [{"vhost": from_vhost, "component": "shovel", "name": shovel_name(from_vhost, to_vhost, producer),
             "value": {"src-protocol": "amqp091", "src-uri": from_uri, "src-queue": queue_name(to_vhost, producer),
                       "dest-protocol": "amqp091", "dest-uri": to_uri, "dest-exchange": f"{producer}.events",
                       "ack-mode": "on-confirm", "reconnect-delay": 5, "dest-add-forward-headers": False}}
            for producer in PRODUCERS]


def add(settings: Settings, from_vhost: str, to_vhost: str, api: ManagementApi | None = None,
        from_uri: str | None = None, to_uri: str | None = None) -> list[str]:
    """Declare the exchanges, the durable collecting queues with their bindings and the shovels; idempotent.
    Returns the shovels' names."""
    api = api or api_for(settings)
    from_uri = from_uri or vhost_uri(settings.amqp_uri, from_vhost)
    to_uri = to_uri or vhost_uri(settings.amqp_uri, to_vhost)
    for vhost in (from_vhost, to_vhost):
        for producer in PRODUCERS:  # as nameko declares them: durable topic exchanges
            api.call("PUT", f"exchanges/{_q(vhost)}/{_q(producer + '.events')}", {"type": "topic", "durable": True})
    names = []
    for definition in shovel_definitions(from_uri, to_uri, from_vhost, to_vhost):
        producer = definition["value"]["dest-exchange"].removesuffix(".events")
        queue = definition["value"]["src-queue"]
        api.call("PUT", f"queues/{_q(from_vhost)}/{_q(queue)}", {"durable": True})
        api.call("POST", f"bindings/{_q(from_vhost)}/e/{_q(producer + '.events')}/q/{_q(queue)}",
                 {"routing_key": "#"})
        api.call("PUT", f"parameters/shovel/{_q(from_vhost)}/{_q(definition['name'])}",
                 {"value": definition["value"]})
        names.append(definition["name"])
    return names


def remove(settings: Settings, from_vhost: str, to_vhost: str, api: ManagementApi | None = None) -> None:
    """Delete the shovels (the collecting queues stay, with what they hold, until an operator deletes them)."""
    api = api or api_for(settings)
    for producer in PRODUCERS:
        try:
            api.call("DELETE", f"parameters/shovel/{_q(from_vhost)}/{_q(shovel_name(from_vhost, to_vhost, producer))}")
        except RuntimeError as exc:
            if "HTTP 404" not in str(exc):
                raise


def restart(settings: Settings, from_vhost: str, to_vhost: str, api: ManagementApi | None = None) -> None:
    """Restart the shovels (what an operator does after a network problem; a test does it to check that
    nothing is counted twice)."""
    api = api or api_for(settings)
    for producer in PRODUCERS:
        api.call("DELETE", f"shovels/vhost/{_q(from_vhost)}/{_q(shovel_name(from_vhost, to_vhost, producer))}"
                           f"/restart")


def status(settings: Settings, vhost: str, api: ManagementApi | None = None) -> list[dict]:
    api = api or api_for(settings)
    return [{"name": s.get("name"), "state": s.get("state")} for s in (api.call("GET", f"shovels/{_q(vhost)}") or [])]
