"""docs/asyncapi.yaml against the marshmallow event schemas: every referrals and partner event of the catalogue
has its message, each payload schema names exactly the schema's fields (required ones required, enums and
patterns as validated), and the partner channel is the kim.partners topic exchange with routing key
referral.<status>.<provider_id>."""
from pathlib import Path

import pytest
import yaml
from marshmallow import fields, validate

from services.shared.events import CATALOGUE, EnvelopeSchema, PARTNER_EXCHANGE, PARTNER_STATUSES

ROOT = Path(__file__).resolve().parents[2]
DOC = yaml.safe_load((ROOT / "docs/asyncapi.yaml").read_text(encoding="utf-8"))
KEYS = sorted(k for k in CATALOGUE if k[0] in ("referrals", "partners"))


def resolve(ref: str) -> dict:
    node = DOC
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def check_object(json_schema: dict, marshmallow_schema) -> list:
    wrong = []
    declared = marshmallow_schema._declared_fields
    if set(json_schema["properties"]) != set(declared):
        wrong.append(("fields", sorted(set(json_schema["properties"]) ^ set(declared))))
    if set(json_schema.get("required", [])) != {n for n, f in declared.items() if f.required}:
        wrong.append(("required", json_schema.get("required")))
    for name, field in declared.items():
        spec = json_schema["properties"].get(name, {})
        inner, inner_spec = (field.inner, spec.get("items", {})) if isinstance(field, fields.List) else (field, spec)
        types = spec.get("type") if isinstance(spec.get("type"), list) else [spec.get("type")]
        if field.allow_none != ("null" in types):
            wrong.append((name, "nullable"))
        if isinstance(field, fields.List) != ("array" in types):
            wrong.append((name, "array"))
        for v in inner.validators:
            if isinstance(v, validate.OneOf) and set(inner_spec.get("enum", [])) - {None} != set(v.choices):
                wrong.append((name, "enum"))
            if isinstance(v, validate.Regexp) and inner_spec.get("pattern") != v.regex.pattern:
                wrong.append((name, "pattern"))
        if isinstance(inner, fields.UUID) and inner_spec.get("format") != "uuid":
            wrong.append((name, "uuid"))
        if isinstance(inner, (fields.DateTime,)) and inner_spec.get("format") != "date-time":
            wrong.append((name, "date-time"))
        if isinstance(inner, fields.Date) and not isinstance(inner, fields.DateTime) and inner_spec.get("format") != "date":
            wrong.append((name, "date"))
    return wrong


def test_it_is_asyncapi_2_6_with_every_message_referenced():
    assert DOC["asyncapi"].startswith("2.6")
    referenced = set()
    for channel in DOC["channels"].values():
        message = channel["subscribe"]["message"]
        referenced |= {m["$ref"] for m in message.get("oneOf", [message])}
    assert referenced == {f"#/components/messages/{name}" for name in DOC["components"]["messages"]}


@pytest.mark.parametrize("key", KEYS, ids=lambda k: f"{k[0]}.{k[1]}.v{k[2]}")
def test_every_event_and_field_is_described(key):
    producer, event_type, version = key
    message = DOC["components"]["messages"][f"{producer}.{event_type}.v{version}"]
    assert message["name"] == event_type and message["x-kim-producer"] == producer
    assert message["x-kim-schema-version"] == version
    envelope_ref, specific = message["payload"]["allOf"]
    assert check_object(resolve(envelope_ref["$ref"]), EnvelopeSchema) == []
    assert specific["properties"]["event_type"]["const"] == event_type
    assert specific["properties"]["producer"]["const"] == producer
    assert specific["properties"]["schema_version"]["const"] == version
    assert check_object(resolve(specific["properties"]["payload"]["$ref"]), CATALOGUE[key]) == []


def test_partner_channel_is_the_topic_exchange_per_provider():
    (name,) = [n for n in DOC["channels"] if n.startswith("referral.")]
    channel = DOC["channels"][name]
    assert name == "referral.{status}.{provider_id}"
    assert channel["bindings"]["amqp"]["exchange"] == {"name": PARTNER_EXCHANGE, "type": "topic", "durable": True,
                                                       "autoDelete": False, "vhost": "/"}
    assert channel["parameters"]["status"]["schema"]["enum"] == list(PARTNER_STATUSES)
    partner_messages = {m["$ref"].rsplit("/", 1)[1] for m in channel["subscribe"]["message"]["oneOf"]}
    assert partner_messages == {f"partners.{e}.v{v}" for p, e, v in KEYS if p == "partners"}
    payload = resolve("#/components/schemas/PartnerReferralEventV1")["properties"]
    assert not {"person_id", "case_id", "note"} & set(payload)
