"""Open Referral HSDS 3.0 JSON for the catalogue: export (a paged response with `contents`) and import (a single
service, a list of services, or a paged response with `contents`).

Mapping: HSDS `organization` = provider, `service` = offer. KIM's own codes travel as HSDS `attributes` with
taxonomy terms of three taxonomies: `kim-life-area` (LIFE_AREAS), `kim-residence-status` (eligible statuses) and
`de-ags` (municipalities served, official AGS codes; `service_areas` name them too). Paused offers are
`"status": "temporarily closed"`; the waiting time is `wait_time` ("14 days"); capacity is a `capacities` entry.
Import is re-runnable: a service id that is a UUID is the offer's id (else a UUID derived from it), so a second
import of the same file updates instead of duplicating.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from marshmallow import ValidationError
from sqlalchemy import Connection, select

from services.shared.errors import flatten_errors
from services.shared.events import PROVIDER_ID_RE
from services.shared.municipalities import MUNICIPALITIES

from . import catalogue
from .schemas import CreateOfferSchema, CreateProviderSchema

AREA_TAXONOMY, STATUS_TAXONOMY, AGS_TAXONOMY = "kim-life-area", "kim-residence-status", "de-ags"
_NAMESPACE = uuid.UUID("6f1c3c2e-9b1d-4d7e-9a55-1f0f3e8a2b61")
_AGS_BY_NAME = {name.casefold(): ags for ags, name in MUNICIPALITIES.items()}
_PROVIDER_RE = re.compile(PROVIDER_ID_RE)


def _term(taxonomy: str, code: str) -> dict:
    return {"taxonomy_term": {"code": code, "taxonomy": taxonomy, "name": code}}


def to_service(offer: dict, provider: dict) -> dict:
    """One offer as an HSDS 3.0 service with its organization nested."""
    phones = [{"number": provider["phone"]}] if provider.get("phone") else []
    return {
        "id": offer["id"],
        "organization_id": provider["id"],
        "name": offer["name"],
        "description": offer.get("description"),
        "status": "active" if offer["status"] == "active" else "temporarily closed",
        "eligibility_description": offer.get("eligibility_notes"),
        "minimum_age": offer.get("min_age"),
        "maximum_age": offer.get("max_age"),
        "fees_description": offer.get("cost"),
        "wait_time": f"{offer.get('waiting_days') or 0} days",
        "languages": [{"code": code} for code in offer["languages"]],
        "schedules": [{"description": offer["schedule"]}] if offer.get("schedule") else [],
        "capacities": [{"maximum": offer["capacity"]}] if offer.get("capacity") is not None else [],
        "service_areas": [{"name": MUNICIPALITIES[m], "description": f"AGS {m}"} for m in offer["municipalities"]],
        "service_at_locations": [{"location": {
            "name": loc.get("name"), "location_type": "physical",
            "addresses": [{"address_1": loc.get("address"), "postal_code": loc.get("postal_code"),
                           "city": loc.get("city"), "country": "DE", "address_type": "physical"}]}}
            for loc in offer.get("locations") or []],
        "attributes": ([_term(AREA_TAXONOMY, a) for a in offer["areas"]]
                       + [_term(STATUS_TAXONOMY, s) for s in offer.get("residence_statuses") or []]
                       + [_term(AGS_TAXONOMY, m) for m in offer["municipalities"]]),
        "organization": {"id": provider["id"], "name": provider["name"], "description": provider.get("description"),
                         "email": provider.get("email"), "website": provider.get("website"), "phones": phones},
    }


def export_page(connection: Connection, page: int = 1, per_page: int = 100) -> dict:
    """A paged HSDS response of the whole catalogue, offers ordered by id."""
    offers = catalogue.all_offers(connection)
    total = len(offers)
    chunk = offers[(page - 1) * per_page: page * per_page]
    providers = catalogue.providers_by_id(connection, [o["provider_id"] for o in chunk])
    pages = max(1, -(-total // per_page))
    return {"total_items": total, "total_pages": pages, "page_number": page, "size": len(chunk),
            "first_page": page == 1, "last_page": page >= pages, "empty": not chunk,
            "contents": [to_service(o, providers[o["provider_id"]]) for o in chunk]}


def services_of(document) -> list:
    """A single service, a list, or a paged response with `contents`."""
    if isinstance(document, list):
        return document
    if isinstance(document, dict) and isinstance(document.get("contents"), list):
        return document["contents"]
    if isinstance(document, dict):
        return [document]
    raise ValueError("an HSDS document is a service object, a list of services or a page with `contents`")


def _provider_id(org: dict) -> str:
    raw = str(org.get("id") or "")
    if _PROVIDER_RE.fullmatch(raw):
        return raw
    slug = re.sub(r"[^a-z0-9]+", "-", str(org.get("name") or raw).casefold()).strip("-")[:63]
    return slug if _PROVIDER_RE.fullmatch(slug) else f"org-{uuid.uuid5(_NAMESPACE, raw).hex[:12]}"


def _codes(service: dict, taxonomy: str) -> list[str]:
    codes = []
    for attribute in service.get("attributes") or []:
        term = (attribute or {}).get("taxonomy_term") or {}
        if term.get("taxonomy") == taxonomy and term.get("code"):
            codes.append(str(term["code"]))
    return codes


def _waiting_days(text) -> int:
    match = re.search(r"(\d+)\s*(day|tag|week|woche|month|monat)?", str(text or ""), re.IGNORECASE)
    if not match:
        return 0
    unit = (match.group(2) or "day").lower()
    return int(match.group(1)) * (7 if unit.startswith(("week", "woche")) else 30 if unit.startswith("mon") else 1)


def offer_id_of(service: dict) -> str:
    raw = str(service.get("id") or "")
    try:
        return str(uuid.UUID(raw)) if raw else str(uuid.uuid4())
    except ValueError:
        return str(uuid.uuid5(_NAMESPACE, raw))


def from_service(service: dict) -> tuple[dict, dict]:
    """(provider data, offer data) as the create schemas expect them, not yet validated."""
    org = service.get("organization") or {"id": service.get("organization_id"), "name": service.get("organization_id")}
    phones = org.get("phones") or []
    provider = {"id": _provider_id(org), "name": org.get("name") or _provider_id(org),
                "description": org.get("description"), "email": org.get("email") or None,
                "phone": (phones[0] or {}).get("number") if phones else None, "website": org.get("website") or None}
    municipalities = _codes(service, AGS_TAXONOMY) or [
        _AGS_BY_NAME.get(str((area or {}).get("name", "")).casefold(), str((area or {}).get("name")))
        for area in service.get("service_areas") or []]
    locations = []
    for sal in service.get("service_at_locations") or []:
        loc = (sal or {}).get("location") or {}
        address = ((loc.get("addresses") or [{}])[0]) or {}
        locations.append({"name": loc.get("name") or address.get("city") or "location",
                          "address": address.get("address_1"), "postal_code": address.get("postal_code"),
                          "city": address.get("city")})
    capacities = service.get("capacities") or []
    offer = {
        "provider_id": provider["id"], "name": service.get("name"), "description": service.get("description"),
        "areas": _codes(service, AREA_TAXONOMY), "municipalities": list(dict.fromkeys(municipalities)),
        "locations": locations,
        "languages": [str((lang or {}).get("code") or "") for lang in service.get("languages") or []],
        "residence_statuses": _codes(service, STATUS_TAXONOMY),
        "min_age": service.get("minimum_age"), "max_age": service.get("maximum_age"),
        "eligibility_notes": service.get("eligibility_description"), "cost": service.get("fees_description"),
        "schedule": "; ".join(s.get("description") for s in service.get("schedules") or [] if s.get("description"))
                    or None,
        "capacity": (capacities[0] or {}).get("maximum") if capacities else None,
        "waiting_days": _waiting_days(service.get("wait_time")),
        "status": "active" if service.get("status", "active") == "active" else "paused",
    }
    return ({k: v for k, v in provider.items() if v is not None or k == "id"},
            {k: v for k, v in offer.items() if v is not None})


@dataclass
class ImportSummary:
    services: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    errors: list = field(default_factory=list)  # [{"index", "id", "errors"}]

    def as_dict(self) -> dict:
        return {"services": self.services, "created": self.created, "updated": self.updated, "failed": self.failed,
                "errors": self.errors}


def import_document(transactions, document) -> ImportSummary:
    """Each service in its own transaction: a bad one is reported (with its fields) and the rest imported."""
    summary = ImportSummary()
    for index, service in enumerate(services_of(document)):
        summary.services += 1
        if not isinstance(service, dict):
            summary.failed += 1
            summary.errors.append({"index": index, "id": None, "errors": {"body": ["not an object"]}})
            continue
        try:
            raw_provider, raw_offer = from_service(service)
            provider = CreateProviderSchema().load(raw_provider)
            offer = CreateOfferSchema().load(raw_offer)
        except ValidationError as exc:
            summary.failed += 1
            summary.errors.append({"index": index, "id": service.get("id"), "errors": flatten_errors(exc.messages)})
            continue
        offer_id = offer_id_of(service)
        with transactions() as uow:
            catalogue.upsert_provider(uow.connection, provider)
            exists = uow.connection.scalar(select(catalogue.OFFERS.c.id).where(catalogue.OFFERS.c.id == offer_id))
            if exists:
                catalogue.update_offer(uow.connection, offer_id, {k: v for k, v in offer.items()
                                                                  if k != "provider_id"})
                summary.updated += 1
            else:
                catalogue.create_offer(uow.connection, offer, offer_id)
                summary.created += 1
    return summary
