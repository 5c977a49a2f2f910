"""RFC 9457 problem details: every error the gateway answers is one of these."""
from __future__ import annotations

import json

from marshmallow import Schema, fields
from werkzeug.wrappers import Response

PROBLEM_TYPE = "urn:kim:problem:"
TITLES = {400: "Bad request", 401: "Unauthenticated", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 412: "Precondition failed", 413: "Request body too large",
          414: "URI too long", 415: "Unsupported media type", 422: "Invalid input", 428: "Precondition required",
          431: "Request header fields too large", 500: "Internal error", 501: "Not implemented",
          503: "Service unavailable"}
SLUGS = {400: "bad-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found",
         405: "method-not-allowed", 409: "conflict", 412: "precondition-failed", 413: "body-too-large",
         414: "uri-too-long", 415: "unsupported-media-type", 422: "invalid-input", 428: "precondition-required",
         431: "headers-too-large", 500: "internal-error", 501: "not-implemented", 503: "service-unavailable"}


class FieldErrorSchema(Schema):
    field = fields.String(metadata={"description": "dotted path of the offending field, e.g. consents.0.granted_at"})
    detail = fields.String()


class CandidateSchema(Schema):
    id = fields.UUID(metadata={"description": "a person who may be the one being registered"})
    score = fields.Float(metadata={"description": "how alike, 0..1"})
    why = fields.List(fields.String(), metadata={
        "description": "machine-readable reasons, e.g. same_birth_date, given_name_similar, family_name_same, "
                       "names_swapped"})


class ProblemSchema(Schema):
    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    instance = fields.String()
    request_id = fields.String()
    errors = fields.List(fields.Nested(FieldErrorSchema))
    candidates = fields.List(fields.Nested(CandidateSchema), metadata={
        "description": "409 on POST /v1/persons: the likely existing persons, best first (read one with "
                       "GET /v1/persons/{id}; or send the registration again with confirmed_new: true)"})


def problem(status: int, detail: str | None = None, *, errors: dict[str, list[str]] | None = None,
            request_id: str | None = None, instance: str | None = None, headers=None,
            extra: dict | None = None) -> Response:
    """`extra`: further members of this kind of problem (RFC 9457 extensions), e.g. a 409's candidates."""
    body = {"type": PROBLEM_TYPE + SLUGS.get(status, str(status)), "title": TITLES.get(status, "Error"),
            "status": status, "detail": detail or TITLES.get(status, "Error")}
    if instance:
        body["instance"] = instance
    if request_id:
        body["request_id"] = request_id
    if errors:
        body["errors"] = [{"field": field, "detail": message}
                          for field, messages in errors.items() for message in messages]
    for name, value in (extra or {}).items():
        body.setdefault(name, value)  # never overrides the standard members
    return Response(json.dumps(body), status=status, headers=headers,
                    content_type="application/problem+json")
