"""What every service has in common: a health RPC the gateway's /ready asks, and the request id in its logs."""
from __future__ import annotations

from sqlalchemy import func, select

from .logs import RequestLogContext
from .rpc import rpc


class ServiceBase:
    name: str
    db = None  # each service declares `db = Database(metadata)`
    log_context = RequestLogContext()

    @rpc
    def health(self):
        """Answers when the service, its database and its RPC queue work; reports the outbox backlog."""
        with self.db.transaction() as uow:
            outbox = uow.outbox
            pending = uow.connection.execute(
                select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))).scalar_one()
        return {"service": self.name, "status": "ok", "outbox_pending": pending}
