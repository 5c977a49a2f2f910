"""Alembic, one migration history per service (`services/<name>/migrations`, `gateway/migrations`)."""
from __future__ import annotations

from importlib import import_module, resources

from alembic import command
from alembic.config import Config
from sqlalchemy import pool

from .settings import Settings

#: service name -> the package that holds its models and migrations
SERVICE_PACKAGES = {
    "intake": "services.intake",
    "casework": "services.casework",
    "referrals": "services.referrals",
    "analytics": "services.analytics",
    "gateway": "gateway",
}


def alembic_config(service: str, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files(SERVICE_PACKAGES[service]).joinpath("migrations")))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["service"] = service
    return cfg


def upgrade(service: str, url: str | None = None, revision: str = "head") -> None:
    if url is None:
        settings = Settings.load()
        if settings.uses_data_dir(service):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        url = settings.db_url(service)
    command.upgrade(alembic_config(service, url), revision)


def run_env(context) -> None:
    """The body of every service's migrations/env.py."""
    from sqlalchemy import engine_from_config

    service = context.config.attributes["service"]
    metadata = import_module(f"{SERVICE_PACKAGES[service]}.models").metadata
    if context.is_offline_mode():
        context.configure(url=context.config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                          literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(context.config.get_section(context.config.config_ini_section, {}),
                                prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


# the platform tables' own schema changes, one function each, called from every service's migration -----

def create_unsent_outbox_index() -> None:
    """The relay reads the unsent rows in id order. On PostgreSQL an index on `sent_at` keeps the old versions
    of the rows marked sent (sent_at NULL) until vacuum, so that read grew with every event published; a
    partial index over the unsent rows, read in its own order, is scanned as an index scan, which marks the
    dead entries it meets so that later reads skip them."""
    from alembic import op
    from sqlalchemy import text

    op.create_index("ix_outbox_unsent", "outbox", ["id"], postgresql_where=text("sent_at IS NULL"),
                    sqlite_where=text("sent_at IS NULL"))


def drop_unsent_outbox_index() -> None:
    from alembic import op

    op.drop_index("ix_outbox_unsent", table_name="outbox")
