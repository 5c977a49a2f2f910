"""`kim dlq`: what an operator does with the dead letters in `kim.dead-letters` (see messaging.py).

- `list` and `show` take the messages without acking them and let them go back (closing the channel returns
  every unacked message to the queue): reading removes nothing.
- `replay` re-publishes through the outbox path: the envelope is written into the producing service's outbox
  (the row with its event_id reset to unsent if it is still there, else inserted), and that service's relay
  publishes it with confirms to every subscriber of the event; consumers that already processed it ignore it
  (they deduplicate on event_id).
- `drop` discards one.

Every replay and drop is recorded in the consuming service's `dead_letter_log` (actor, reason, the dead letter)
before the dead letter is acked: nothing is removed without a record. A message that is not a valid envelope can
only be dropped; its record keeps the headers and a digest of the body, not the body (it was refused, possibly
because it carried personal data). Bodies are never logged.
"""
from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
from dataclasses import dataclass, field
from typing import Callable, Iterator, TextIO

from kombu import Connection, Queue
from marshmallow import ValidationError
from sqlalchemy import MetaData, insert, select, update

from .db import make_engine, platform_tables, utcnow
from .events import load_envelope
from .messaging import (ATTEMPTS_HEADER, CONSUMER_HEADER, DEAD_LETTER_QUEUE, ERROR_HEADER, EXCHANGE_HEADER,
                        FAILED_AT_HEADER, ROUTING_KEY_HEADER)
from .migrations import SERVICE_PACKAGES

#: the platform tables, for any service's database (they are the same in each)
_METADATA = MetaData()
OUTBOX, _ = platform_tables(_METADATA)
DEAD_LETTER_LOG = _METADATA.tables["dead_letter_log"]


class DeadLetterError(ValueError):
    """The operator's request cannot be carried out (unknown id, invalid envelope, no reason ...)."""


@dataclass
class DeadLetter:
    position: int  # 1-based, in queue order when it was read
    message: object = field(repr=False)  # the kombu message (unacked)
    headers: dict
    message_id: str | None
    body: object  # decoded; None if it could not be
    raw: bytes | str = field(repr=False)  # as received
    envelope: dict | None  # the body, if it is a valid envelope of a catalogued event
    invalid: str | None  # why it is not

    @property
    def event_id(self) -> str | None:
        if self.envelope is not None:
            return str(self.envelope["event_id"])
        if isinstance(self.body, dict) and isinstance(self.body.get("event_id"), str):
            return self.body["event_id"]
        return self.message_id

    @property
    def event_type(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("event_type"), str):
            return self.body["event_type"]
        return self.headers.get("kim.event_type")

    @property
    def consumer(self) -> str | None:
        return self.headers.get(CONSUMER_HEADER)

    def matches(self, ident: str) -> bool:
        return ident == str(self.position) or ident in (self.event_id, self.message_id)


def _legacy(body) -> bool:
    """Dead letters parked before the header format: {"body", "errors", "consumer"}."""
    return isinstance(body, dict) and set(body) == {"body", "errors", "consumer"}


def _dead_letter(position: int, message) -> DeadLetter:
    headers = dict(message.headers or {})
    try:
        body = message.decode()
    except Exception as exc:  # not JSON: it can only be dropped
        body, invalid = None, f"undecodable body ({type(exc).__name__})"
    else:
        invalid = None
    if _legacy(body):
        headers.setdefault(CONSUMER_HEADER, body["consumer"])
        headers.setdefault(ERROR_HEADER, f"ValidationError: {body['errors']}"[:200])
        headers.setdefault(ATTEMPTS_HEADER, 1)
        body = body["body"]
    envelope = None
    if invalid is None:
        try:
            envelope = load_envelope(body)
        except ValidationError as exc:
            invalid = f"not a valid envelope: {exc.messages}"
        except Exception as exc:
            invalid = f"not a valid envelope ({type(exc).__name__})"
    return DeadLetter(position, message, headers, message.properties.get("message_id"),
                      body, message.body, envelope and body, invalid)


@contextlib.contextmanager
def taken(connection: Connection, queue_name: str = DEAD_LETTER_QUEUE.name) -> Iterator[list[DeadLetter]]:
    """Every dead letter, taken without ack; those not acked inside the block go back when it ends."""
    channel = connection.channel()
    try:
        try:  # passive: never declare it here (with another queue type than the services use)
            channel.queue_declare(queue=queue_name, passive=True)
        except connection.channel_errors:  # no such queue: nothing was ever dead-lettered
            yield []
            return
        queue = Queue(queue_name, channel=channel, no_declare=True)
        letters = []
        while (message := queue.get(no_ack=False, accept=["json"])) is not None:
            letters.append(_dead_letter(len(letters) + 1, message))
        yield letters
    finally:
        with contextlib.suppress(Exception):
            channel.close()  # returns the unacked messages to the queue, in their order


def list_dead_letters(connection: Connection) -> list[DeadLetter]:
    with taken(connection) as letters:
        return letters


def select_letters(letters: list[DeadLetter], ident: str) -> list[DeadLetter]:
    chosen = [letter for letter in letters if letter.matches(ident)]
    if not chosen:
        raise DeadLetterError(f"no dead letter {ident!r} (see `kim dlq list`)")
    return chosen


def _service_of(letter: DeadLetter) -> str:
    service = (letter.consumer or "").partition(".")[0]
    if service not in SERVICE_PACKAGES:
        raise DeadLetterError(f"dead letter {letter.position}: unknown consumer {letter.consumer!r}")
    return service


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def _record(letter: DeadLetter) -> dict:
    """The dead letter as it was: a valid envelope holds ids and pseudonymous facts only; an invalid body is
    kept as a digest (and its field names)."""
    record = {"message_id": letter.message_id, "headers": _jsonable(letter.headers)}
    if letter.envelope is not None:
        record["body"] = _jsonable(letter.body)
    else:
        raw = letter.raw.encode("utf-8") if isinstance(letter.raw, str) else (letter.raw or b"")
        record["body_sha256"] = hashlib.sha256(raw).hexdigest()
        record["body_fields"] = sorted(letter.body) if isinstance(letter.body, dict) else None
        record["invalid"] = (letter.invalid or "")[:500]
    return record


class _Engines:
    """One engine per database URL for the length of a command."""

    def __init__(self, db_url: Callable[[str], str]):
        self.db_url = db_url
        self._engines = {}

    def __call__(self, service: str):
        url = self.db_url(service)
        if url not in self._engines:
            self._engines[url] = make_engine(url)
        return self._engines[url]

    def close(self):
        for engine in self._engines.values():
            engine.dispose()


def _log(engines: _Engines, letter: DeadLetter, action: str, actor: str, reason: str) -> None:
    with engines(_service_of(letter)).begin() as connection:
        connection.execute(insert(DEAD_LETTER_LOG).values(
            recorded_at=utcnow(), action=action, event_id=(letter.event_id or "")[:36] or None,
            event_type=(letter.event_type or "")[:100] or None, consumer=letter.consumer[:200],
            actor=actor[:128], reason=reason[:500], message=_record(letter)))


def _to_outbox(engines: _Engines, letter: DeadLetter) -> str:
    """Put the envelope (as received) into its producer's outbox, unsent; 'reset' or 'inserted'."""
    body = _jsonable(letter.body)
    producer, event_id = body["producer"], body["event_id"]
    with engines(producer).begin() as connection:
        row = connection.execute(select(OUTBOX.c.id).where(OUTBOX.c.event_id == event_id)).first()
        if row is not None:
            connection.execute(update(OUTBOX).where(OUTBOX.c.id == row.id)
                               .values(sent_at=None, attempts=0, next_attempt_at=None))
            return "reset"
        connection.execute(insert(OUTBOX).values(
            event_id=event_id, exchange=f"{producer}.events", routing_key=body["event_type"], body=body,
            created_at=utcnow(), attempts=0))
        return "inserted"


def replay(connection: Connection, ident: str | None, db_url: Callable[[str], str], *, actor: str,
           reason: str = "", replay_all: bool = False) -> tuple[list[DeadLetter], list[DeadLetter]]:
    """Replay the dead letter(s) `ident` (position or event id), or all with replay_all; returns (replayed,
    skipped because not a valid envelope). Each is written to the outbox, recorded, then acked."""
    engines = _Engines(db_url)
    try:
        with taken(connection) as letters:
            chosen = letters if replay_all else select_letters(letters, ident)
            valid = [letter for letter in chosen if letter.envelope is not None]
            invalid = [letter for letter in chosen if letter.envelope is None]
            if not replay_all and invalid:
                raise DeadLetterError(f"dead letter {invalid[0].position} is {invalid[0].invalid}; it cannot be "
                                      f"replayed, only dropped (`kim dlq drop {invalid[0].position} --reason ...`)")
            for letter in valid:
                _service_of(letter)  # before anything is written
            for letter in valid:
                _to_outbox(engines, letter)
                _log(engines, letter, "replayed", actor, reason)
                letter.message.ack()
            return valid, invalid
    finally:
        engines.close()


def drop(connection: Connection, ident: str, db_url: Callable[[str], str], *, actor: str,
         reason: str) -> DeadLetter:
    """Drop one dead letter: recorded with the reason, then acked."""
    if not (reason or "").strip():
        raise DeadLetterError("dropping a dead letter needs a reason (--reason)")
    engines = _Engines(db_url)
    try:
        with taken(connection) as letters:
            chosen = select_letters(letters, ident)
            if len(chosen) > 1:
                raise DeadLetterError(f"{ident!r} names {len(chosen)} dead letters (positions "
                                      f"{', '.join(str(letter.position) for letter in chosen)}): give a position")
            (letter,) = chosen
            _log(engines, letter, "dropped", actor, reason.strip())
            letter.message.ack()
            return letter
    finally:
        engines.close()


# output -------------------------------------------------------------------------------------------------------

LIST_HEADER = "POS  EVENT ID                              EVENT TYPE         CONSUMER                 ATTEMPTS  " \
              "FAILED AT                         ERROR"


def format_line(letter: DeadLetter) -> str:
    error = letter.headers.get(ERROR_HEADER) or ""
    if letter.invalid:
        error = f"[invalid envelope] {error}"
    return (f"{letter.position:<4} {letter.event_id or '-':<37} {letter.event_type or '-':<18} "
            f"{letter.consumer or '-':<24} {letter.headers.get(ATTEMPTS_HEADER, '-')!s:<9} "
            f"{letter.headers.get(FAILED_AT_HEADER) or '-':<33} {error}")


def format_full(letter: DeadLetter) -> str:
    lines = [f"position:    {letter.position}", f"message_id:  {letter.message_id}",
             f"consumer:    {letter.consumer}",
             f"origin:      {letter.headers.get(EXCHANGE_HEADER)} / {letter.headers.get(ROUTING_KEY_HEADER)}",
             f"attempts:    {letter.headers.get(ATTEMPTS_HEADER)}", f"error:       {letter.headers.get(ERROR_HEADER)}",
             f"failed at:   {letter.headers.get(FAILED_AT_HEADER)}"]
    if letter.invalid:
        lines.append(f"INVALID:     {letter.invalid} (it can only be dropped)")
    lines += ["headers:", json.dumps(_jsonable(letter.headers), indent=2, sort_keys=True),
              "envelope:" if letter.envelope is not None else "body:",
              json.dumps(_jsonable(letter.body), indent=2, sort_keys=True)]
    return "\n".join(lines)


def command(settings, args, out: TextIO) -> int:
    """`kim dlq list|show|replay|drop` (args from the argparse section in cli.py)."""
    actor = getattr(args, "actor", None) or getpass.getuser()
    with Connection(settings.amqp_uri, connect_timeout=5) as connection:
        if args.action == "list":
            letters = list_dead_letters(connection)
            print(LIST_HEADER, file=out)
            for letter in letters:
                print(format_line(letter), file=out)
            print(f"{len(letters)} dead letter(s)", file=out)
        elif args.action == "show":
            with taken(connection) as letters:
                print("\n\n".join(format_full(letter) for letter in select_letters(letters, args.id)), file=out)
        elif args.action == "replay":
            if bool(args.id) == bool(args.all):
                raise DeadLetterError("replay takes an ID or --all")
            replayed, skipped = replay(connection, args.id, settings.db_url, actor=actor, reason=args.reason or "",
                                       replay_all=args.all)
            for letter in replayed:
                print(f"replayed {letter.event_id} ({letter.event_type}, {letter.consumer}) through the "
                      f"{letter.body['producer']} outbox", file=out)
            for letter in skipped:
                print(f"skipped {letter.position}: {letter.invalid}; only `kim dlq drop` removes it", file=out)
        elif args.action == "drop":
            letter = drop(connection, args.id, settings.db_url, actor=actor, reason=args.reason)
            print(f"dropped {letter.event_id} ({letter.consumer}); recorded in its dead_letter_log", file=out)
    return 0
