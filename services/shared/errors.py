"""Errors that cross the RPC boundary as themselves (nameko re-raises them as these classes in the caller),
so the gateway can turn each into the right HTTP problem without parsing strings."""
from __future__ import annotations

from nameko.exceptions import deserialize_to_instance


class KimError(Exception):
    status = 500
    title = "Internal error"

    @property
    def detail(self) -> str:
        return str(self.args[0]) if self.args else self.title


@deserialize_to_instance
class InvalidInput(KimError):
    """args: (detail, {field path: [messages]})"""

    status = 422
    title = "Invalid input"

    @property
    def fields(self) -> dict:
        return self.args[1] if len(self.args) > 1 else {}


@deserialize_to_instance
class Unauthenticated(KimError):
    status = 401
    title = "Unauthenticated"


@deserialize_to_instance
class Forbidden(KimError):
    status = 403
    title = "Forbidden"


@deserialize_to_instance
class NotFound(KimError):
    status = 404
    title = "Not found"


@deserialize_to_instance
class LikelyDuplicate(KimError):
    """args: (detail, [{"id", "score", "why"}]): the person may already be registered. Candidates carry ids,
    scores and reasons only, never names (a candidate is read through the audited GET /v1/persons/{id})."""

    status = 409
    title = "Conflict"

    @property
    def candidates(self) -> list[dict]:
        """As sent; nameko's serialisation turns the scores into strings on the way, so they are floats again."""
        return [{"id": str(c["id"]), "score": float(c["score"]), "why": list(c["why"])}
                for c in (self.args[1] if len(self.args) > 1 else [])]


@deserialize_to_instance
class PreconditionFailed(KimError):
    status = 412
    title = "Precondition failed"


@deserialize_to_instance
class Conflict(KimError):
    """The request contradicts the current state (e.g. a person already in another household)."""

    status = 409
    title = "Conflict"


@deserialize_to_instance
class Unavailable(KimError):
    """Something the service needs (its database, another service) is away for a moment: the caller may
    retry."""

    status = 503
    title = "Service unavailable"


def flatten_errors(messages, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested error dict -> {"consents.0.granted_at": ["..."]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                path = prefix or "body"
            flat.update(flatten_errors(value, path))
    elif isinstance(messages, (list, tuple)):
        if all(isinstance(m, str) for m in messages):
            flat[prefix or "body"] = list(messages)
        else:
            for index, value in enumerate(messages):
                flat.update(flatten_errors(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "body"] = [str(messages)]
    return flat
