"""Logging with the request id in every line, in the gateway and in every service worker."""
from __future__ import annotations

import logging
import threading

from nameko.extensions import DependencyProvider

_current = threading.local()  # green-thread local once eventlet has monkey-patched threading


def set_request_id(request_id: str | None) -> None:
    _current.request_id = request_id


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.request_id = getattr(_current, "request_id", None) or "-"
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter(
        f"%(asctime)s %(levelname)s {service} [%(request_id)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class RequestLogContext(DependencyProvider):
    """Puts the request id that travelled with the call into this worker's log lines."""

    def worker_setup(self, worker_ctx):
        set_request_id(worker_ctx.data.get("request_id"))

    def worker_teardown(self, worker_ctx):
        set_request_id(None)
