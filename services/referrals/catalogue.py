"""The offer catalogue: providers (Träger) and their offers (Regelangebote). Plain Python over SQLAlchemy Core."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Connection, String, cast, delete, exists, func, insert, select, update

from services.shared.db import new_id
from services.shared.errors import Conflict, InvalidInput, NotFound
from services.shared.schemas import cursor_uuid, decode_typed_cursor, encode_cursor

from .models import Offer, OfferCoverage, Provider

PROVIDERS, OFFERS, COVERAGE = Provider.__table__, Offer.__table__, OfferCoverage.__table__
OFFER_FIELDS = ("name", "description", "areas", "municipalities", "locations", "languages", "residence_statuses",
                "min_age", "max_age", "eligibility_notes", "cost", "schedule", "capacity", "waiting_days", "status")


def now() -> datetime:
    return datetime.now(timezone.utc)


def offer_not_found(offer_id) -> NotFound:
    return NotFound(f"offer {offer_id} not found")


# providers ----------------------------------------------------------------------------------------------------

def create_provider(connection: Connection, data: dict) -> dict:
    if connection.scalar(select(PROVIDERS.c.id).where(PROVIDERS.c.id == data["id"])) is not None:
        raise Conflict(f"provider {data['id']} already exists")
    row = {**data, "created_at": now()}
    connection.execute(insert(PROVIDERS), row)
    return row


def upsert_provider(connection: Connection, data: dict) -> None:
    values = {k: v for k, v in data.items() if k != "id"}
    if connection.execute(update(PROVIDERS).where(PROVIDERS.c.id == data["id"]).values(**values)).rowcount == 0:
        connection.execute(insert(PROVIDERS), {**data, "created_at": now()})


def list_providers(connection: Connection, *, limit: int = 20, cursor: str | None = None) -> tuple[list, str | None]:
    query = select(PROVIDERS).order_by(PROVIDERS.c.id).limit(limit + 1)
    if cursor:
        (after,) = decode_typed_cursor(cursor, str)
        query = query.where(PROVIDERS.c.id > after)
    rows = [dict(r) for r in connection.execute(query).mappings()]
    return rows[:limit], (encode_cursor(rows[limit - 1]["id"]) if len(rows) > limit else None)


# offers -------------------------------------------------------------------------------------------------------

def _coverage(offer: dict) -> list[dict]:
    return [{"offer_id": offer["id"], "municipality": m, "area": a}
            for m in sorted(set(offer["municipalities"])) for a in sorted(set(offer["areas"]))]


def create_offer(connection: Connection, data: dict, offer_id: str | None = None) -> dict:
    if connection.scalar(select(PROVIDERS.c.id).where(PROVIDERS.c.id == data["provider_id"])) is None:
        raise InvalidInput("no such provider", {"provider_id": [f"provider {data['provider_id']} does not exist"]})
    at = now()
    offer = {**{f: data.get(f) for f in OFFER_FIELDS}, "provider_id": data["provider_id"],
             "id": offer_id or new_id(), "created_at": at, "updated_at": at, "version": 1}
    offer["locations"] = offer["locations"] or []
    offer["residence_statuses"] = offer["residence_statuses"] or []
    offer["waiting_days"] = offer["waiting_days"] or 0
    offer["status"] = offer["status"] or "active"
    connection.execute(insert(OFFERS), offer)
    connection.execute(insert(COVERAGE), _coverage(offer))
    return offer


def get_offer(connection: Connection, offer_id: str) -> dict:
    row = connection.execute(select(OFFERS).where(OFFERS.c.id == str(offer_id))).mappings().first()
    if row is None:
        raise offer_not_found(offer_id)
    return dict(row)


def update_offer(connection: Connection, offer_id: str, changes: dict) -> dict:
    offer = get_offer(connection, offer_id)
    merged = {**offer, **changes}
    if merged.get("min_age") is not None and merged.get("max_age") is not None and merged["min_age"] > merged["max_age"]:
        raise InvalidInput("body is invalid", {"max_age": ["min_age must not exceed max_age"]})
    values = {**changes, "updated_at": now(), "version": offer["version"] + 1}
    connection.execute(update(OFFERS).where(OFFERS.c.id == offer["id"]).values(**values))
    if "areas" in changes or "municipalities" in changes:
        connection.execute(delete(COVERAGE).where(COVERAGE.c.offer_id == offer["id"]))
        connection.execute(insert(COVERAGE), _coverage(merged))
    return {**merged, **values}


def list_offers(connection: Connection, *, municipality=None, area=None, language=None, provider_id=None,
                status=None, limit: int = 20, cursor: str | None = None) -> tuple[list, str | None]:
    query = select(OFFERS).order_by(OFFERS.c.id).limit(limit + 1)
    if municipality or area:
        covered = exists().where(COVERAGE.c.offer_id == OFFERS.c.id)
        if municipality:
            covered = covered.where(COVERAGE.c.municipality == municipality)
        if area:
            covered = covered.where(COVERAGE.c.area == area)
        query = query.where(covered)
    if language:  # validated as 2-3 lowercase letters: safe in a LIKE pattern
        query = query.where(cast(OFFERS.c.languages, String).like(f'%"{language}"%'))
    if provider_id:
        query = query.where(OFFERS.c.provider_id == provider_id)
    if status:
        query = query.where(OFFERS.c.status == status)
    if cursor:
        (after,) = decode_typed_cursor(cursor, cursor_uuid)
        query = query.where(OFFERS.c.id > after)
    rows = [dict(r) for r in connection.execute(query).mappings()]
    return rows[:limit], (encode_cursor(rows[limit - 1]["id"]) if len(rows) > limit else None)


class CatalogueIndex:
    """The catalogue in memory, by (municipality, area), for matching: reading and decoding hundreds of offers
    per request costs tens of milliseconds, the catalogue changes rarely. Each use asks the database for the
    catalogue's version (how many offers, the latest change), so every replica sees a change at once."""

    _VERSION = select(func.count(), func.max(OFFERS.c.updated_at)).select_from(OFFERS)

    def __init__(self):
        self.version = None
        self.by_key: dict[tuple[str, str], list[dict]] = {}

    def candidates(self, connection: Connection, municipality: str, areas) -> list[dict]:
        version = tuple(connection.execute(self._VERSION).one())
        if version != self.version:
            by_key: dict[tuple[str, str], list[dict]] = {}
            for row in connection.execute(select(OFFERS).order_by(OFFERS.c.id)).mappings():
                offer = dict(row)
                for m in offer["municipalities"]:
                    for a in offer["areas"]:
                        by_key.setdefault((m, a), []).append(offer)
            self.by_key, self.version = by_key, version
        seen, found = set(), []
        for area in sorted(set(areas)):
            for offer in self.by_key.get((municipality, area), ()):
                if offer["id"] not in seen:
                    seen.add(offer["id"])
                    found.append(offer)
        return found


_INDEXES: dict[str, CatalogueIndex] = {}


def candidate_offers(connection: Connection, municipality: str, areas: list[str]) -> list[dict]:
    """The offers serving `municipality` in any of `areas` (matching's candidates). Callers must not change
    the returned dicts (they are the index's)."""
    if not areas:
        return []
    index = _INDEXES.setdefault(str(connection.engine.url), CatalogueIndex())
    return index.candidates(connection, municipality, areas)


def all_offers(connection: Connection) -> list[dict]:
    return [dict(r) for r in connection.execute(select(OFFERS).order_by(OFFERS.c.id)).mappings()]


def providers_by_id(connection: Connection, ids) -> dict[str, dict]:
    rows = connection.execute(select(PROVIDERS).where(PROVIDERS.c.id.in_(sorted(set(ids))))).mappings()
    return {r["id"]: dict(r) for r in rows}
