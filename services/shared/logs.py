"""Logging with the request id in every line, in the gateway and in every service worker."""
from __future__ import annotations

import logging
import threading

from nameko.extensions import DependencyProvider

_current = threading.local()  # green-thread local once eventlet has monkey-patched threading


def set_request_id(request_id: str | None) -> None:
    _current.request_id = request_id


#: C0 and C1 control characters, DEL and the Unicode line/paragraph separators: never raw in a log line
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7f, *range(0x80, 0xa0))}
_CONTROL.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", 0x2028: "\\u2028", 0x2029: "\\u2029"})
_CONTROL_KEEP_NEWLINE = {**_CONTROL, ord("\n"): "\n"}


def escape_control(text: str, keep_newlines: bool = False) -> str:
    """`text` with every control character made a visible escape (\\r, \\n, \\x00, \\x1b, ...): what a caller
    sends cannot forge a log line or drive a terminal."""
    return text.translate(_CONTROL_KEEP_NEWLINE if keep_newlines else _CONTROL)


class SafeFormatter(logging.Formatter):
    """A formatter that escapes control characters in every record: the message with its arguments, the
    request id, and the text of exceptions (whose lines stay lines)."""

    def formatMessage(self, record):
        safe = logging.makeLogRecord(record.__dict__)
        safe.message = escape_control(record.message)
        safe.name = escape_control(str(record.name))
        safe.request_id = escape_control(str(getattr(record, "request_id", "-")))
        return super().formatMessage(safe)

    def formatException(self, ei):
        return _continuation(super().formatException(ei))

    def formatStack(self, stack_info):
        return _continuation(super().formatStack(stack_info))


def _continuation(text: str) -> str:
    """A multi-line text (a traceback) with each line escaped and marked as a continuation: an exception message
    cannot start a line that looks like a record of its own."""
    return "\n".join("| " + escape_control(line) for line in text.split("\n"))


class ExpectedErrorsFilter(logging.Filter):
    """nameko logs every exception a worker raises at ERROR with its traceback. An expected refusal (a 4xx:
    invalid input, unauthenticated, forbidden, not found, conflict) is not an error of the system: it is logged
    at INFO, one line, without the traceback."""

    LOGGER = "nameko.containers"

    @classmethod
    def install(cls):
        logger = logging.getLogger(cls.LOGGER)
        if not any(isinstance(f, cls) for f in logger.filters):
            logger.addFilter(cls())

    def filter(self, record):
        exc = record.exc_info[1] if record.exc_info else None
        status = getattr(exc, "status", None) if exc is not None else None
        if status is None and exc is not None:
            status = getattr(exc, "code", None)  # werkzeug's HTTPException
        if isinstance(status, int) and 400 <= status < 500:
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.request_id = getattr(_current, "request_id", None) or "-"
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(SafeFormatter(
        f"%(asctime)s %(levelname)s {service} [%(request_id)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    ExpectedErrorsFilter.install()


class RequestLogContext(DependencyProvider):
    """Puts the request id that travelled with the call into this worker's log lines."""

    def worker_setup(self, worker_ctx):
        set_request_id(worker_ctx.data.get("request_id"))

    def worker_teardown(self, worker_ctx):
        set_request_id(None)
