"""Erasure (Art. 17 GDPR) of a person from a service's platform tables: the outbox, the idempotency keys and the
dead-letter log may name the person's id. The processed-event marks hold event ids only and stay."""
from __future__ import annotations

from sqlalchemy import Connection, String, cast, delete, or_


def forget_person_in_platform_tables(connection: Connection, metadata, person_id: str,
                                     keep_event_types: tuple[str, ...] = ()) -> int:
    """Delete the outbox rows (sent or not, except those of `keep_event_types`), idempotency keys and dead-letter
    records that name `person_id`. Returns how many rows went."""
    person_id = str(person_id)
    pattern = f"%{person_id}%"
    tables = metadata.tables
    outbox = tables["outbox"]
    query = delete(outbox).where(cast(outbox.c.body, String).like(pattern))
    if keep_event_types:
        query = query.where(outbox.c.routing_key.notin_(keep_event_types))
    gone = connection.execute(query).rowcount
    keys = tables["idempotency_keys"]
    gone += connection.execute(delete(keys).where(keys.c.resource_id == person_id)).rowcount
    dead = tables["dead_letter_log"]
    gone += connection.execute(delete(dead).where(or_(cast(dead.c.message, String).like(pattern)))).rowcount
    return gone
