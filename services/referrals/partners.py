"""`kim partners add PROVIDER_ID`: one RabbitMQ user per partner, through RabbitMQ's management API.

What the partner's user may do on the vhost (RabbitMQ permissions are regular expressions):

- configure and write only queues named `partner.<provider_id>.…` (declare, delete, bind its own queues);
- read its own queues and the `kim.partners` exchange (binding needs read on the exchange);
- topic permissions on `kim.partners`: read (= bind) only `referral.<event>.<provider_id>` or
  `referral.*.<provider_id>`, write nothing. So the broker itself refuses a binding to another provider's key (ACCESS_REFUSED).

The command also declares the durable topic exchange and a durable queue `partner.<provider_id>.referrals`
bound to `referral.*.<provider_id>`, so events published before the partner first connects wait for it.
"""
from __future__ import annotations

import base64
import json
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request

from services.shared.events import PARTNER_EXCHANGE, PROVIDER_ID_RE
from services.shared.settings import Settings


def username(provider_id: str) -> str:
    return f"partner-{provider_id}"


def queue_prefix(provider_id: str) -> str:
    return f"partner.{provider_id}."


def routing_pattern(provider_id: str) -> str:
    return f"referral.*.{provider_id}"


def permissions(provider_id: str) -> dict:
    own = f"^{re.escape(queue_prefix(provider_id))}.*$"
    return {"configure": own, "write": own,
            "read": f"^({re.escape(queue_prefix(provider_id))}.*|{re.escape(PARTNER_EXCHANGE)})$"}


def topic_permissions(provider_id: str) -> dict:
    """Bind only `referral.<event>.<provider_id>` or `referral.*.<provider_id>` (never `#`, never another id)."""
    return {"exchange": PARTNER_EXCHANGE, "write": "^$",
            "read": rf"^referral\.([a-z_]+|\*)\.{re.escape(provider_id)}$"}


class ManagementApi:
    def __init__(self, base_url: str, user: str, password: str):
        self.base_url = base_url.rstrip("/")
        self._auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def call(self, method: str, path: str, body=None):
        request = urllib.request.Request(f"{self.base_url}/api/{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": self._auth, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"RabbitMQ management API {method} {path}: HTTP {exc.code}") from None


def _broker(settings: Settings) -> tuple[urllib.parse.SplitResult, str]:
    uri = urllib.parse.urlsplit(settings.amqp_uri)
    vhost = urllib.parse.unquote(uri.path[1:]) if len(uri.path) > 1 else "/"
    return uri, vhost


def api_for(settings: Settings) -> ManagementApi:
    uri, _ = _broker(settings)
    user = settings.rabbitmq_admin_user or urllib.parse.unquote(uri.username or "guest")
    password = settings.rabbitmq_admin_password or urllib.parse.unquote(uri.password or "guest")
    return ManagementApi(settings.rabbitmq_api, user, password)


def add_partner(settings: Settings, provider_id: str, api: ManagementApi | None = None) -> dict:
    """Create (or re-key: a new password) the partner's user; returns what the partner needs, as JSON data."""
    if not re.fullmatch(PROVIDER_ID_RE, provider_id):
        raise ValueError(f"provider id {provider_id!r} must match {PROVIDER_ID_RE}")
    api = api or api_for(settings)
    uri, vhost = _broker(settings)
    v = urllib.parse.quote(vhost, safe="")
    user, password = username(provider_id), secrets.token_urlsafe(24)
    queue = f"{queue_prefix(provider_id)}referrals"
    api.call("PUT", f"exchanges/{v}/{urllib.parse.quote(PARTNER_EXCHANGE)}", {"type": "topic", "durable": True})
    api.call("PUT", f"queues/{v}/{urllib.parse.quote(queue)}",
             {"durable": True, "arguments": {"x-queue-type": "quorum"} if settings.quorum_queues else {}})
    api.call("POST", f"bindings/{v}/e/{urllib.parse.quote(PARTNER_EXCHANGE)}/q/{urllib.parse.quote(queue)}",
             {"routing_key": routing_pattern(provider_id)})
    api.call("PUT", f"users/{urllib.parse.quote(user)}", {"password": password, "tags": ""})
    api.call("PUT", f"permissions/{v}/{urllib.parse.quote(user)}", permissions(provider_id))
    api.call("PUT", f"topic-permissions/{v}/{urllib.parse.quote(user)}", topic_permissions(provider_id))
    host = uri.hostname or "127.0.0.1"
    netloc = f"{urllib.parse.quote(user)}:{urllib.parse.quote(password, safe='')}@{host}" + (
        f":{uri.port}" if uri.port else "")
    return {"provider_id": provider_id, "amqp_uri": f"{uri.scheme}://{netloc}/{v if vhost != '/' else '%2F'}",
            "username": user, "password": password, "exchange": PARTNER_EXCHANGE,
            "routing_pattern": routing_pattern(provider_id), "queue_prefix": queue_prefix(provider_id),
            "queue": queue}


def remove_partner(settings: Settings, provider_id: str, api: ManagementApi | None = None) -> None:
    """Delete the partner's user (its queue stays until an operator deletes it)."""
    api = api or api_for(settings)
    try:
        api.call("DELETE", f"users/{urllib.parse.quote(username(provider_id))}")
    except RuntimeError as exc:
        if "HTTP 404" not in str(exc):
            raise
