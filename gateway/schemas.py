"""Schemas of the gateway's own routes; the domain routes reuse the services' schemas."""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from services.shared.events import utc_datetime
from services.shared.schemas import CanonicalUUID, PageQuerySchema

DOC_ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png",
              "index.css", "kim-init.js")


class AuditQuerySchema(PageQuerySchema):
    class Meta:
        unknown = RAISE

    person_id = CanonicalUUID(load_default=None)
    case_id = CanonicalUUID(load_default=None)


class AuditEntrySchema(Schema):
    id = fields.Integer()
    at = utc_datetime()
    actor = fields.String(metadata={"description": "the token's sub"})
    role = fields.String()
    action = fields.String()
    purpose = fields.String()
    person_id = fields.String(allow_none=True)
    case_id = fields.String(allow_none=True)
    municipality = fields.String(allow_none=True)
    request_id = fields.String(metadata={"description": "the caller's X-Request-ID, or one the gateway made"})
    server_request_id = fields.String(allow_none=True,
                                      metadata={"description": "the gateway's own id of the request (unique)"})
    status = fields.Integer(metadata={"description": "HTTP status the request was answered with"})


class AuditPageSchema(Schema):
    items = fields.List(fields.Nested(AuditEntrySchema))
    next_cursor = fields.String(allow_none=True)


class HealthSchema(Schema):
    status = fields.String(validate=validate.OneOf(["ok", "unavailable"]))
    checks = fields.Dict(keys=fields.String(), values=fields.String())


class PersonPathSchema(Schema):
    person_id = CanonicalUUID(required=True)


class CasePathSchema(Schema):
    case_id = CanonicalUUID(required=True)


class AssetPathSchema(Schema):
    asset = fields.String(required=True, validate=validate.OneOf(DOC_ASSETS))
