"""analytics: counters keyed (metric, municipality, start, ...), clustered on SQLite

The reports sum counters by metric, towns and a range of `start` days; with the key in that order the rows a
report reads lie together (on SQLite the table is WITHOUT ROWID, so the key is the table), and the separate
index on (metric, municipality, start) is no longer needed. Rows are copied unchanged.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

COLUMNS = 'metric, municipality, a, b, c, start, "end", n'


def _rebuild_sqlite(key: str, rowid: bool) -> None:
    op.execute(f"""CREATE TABLE analytics_counters_new (
        metric VARCHAR(24) NOT NULL, municipality VARCHAR(8) NOT NULL, a VARCHAR(128) NOT NULL,
        b VARCHAR(64) NOT NULL, c VARCHAR(64) NOT NULL, start VARCHAR(10) NOT NULL, "end" VARCHAR(10) NOT NULL,
        n INTEGER NOT NULL, PRIMARY KEY ({key})){'' if rowid else ' WITHOUT ROWID'}""")
    op.execute(f"INSERT INTO analytics_counters_new ({COLUMNS}) SELECT {COLUMNS} FROM analytics_counters")
    op.execute("DROP TABLE analytics_counters")
    op.execute("ALTER TABLE analytics_counters_new RENAME TO analytics_counters")
    op.execute('CREATE INDEX ix_analytics_counters_spell ON analytics_counters (metric, municipality, "end", start)')


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite('metric, municipality, start, a, b, c, "end"', rowid=False)
        return
    op.drop_index("ix_analytics_counters_start", table_name="analytics_counters")
    op.drop_constraint("analytics_counters_pkey", "analytics_counters", type_="primary")
    op.create_primary_key("analytics_counters_pkey", "analytics_counters",
                          ["metric", "municipality", "start", "a", "b", "c", "end"])


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite('metric, municipality, a, b, c, start, "end"', rowid=True)
        op.execute("CREATE INDEX ix_analytics_counters_start ON analytics_counters (metric, municipality, start)")
        return
    op.drop_constraint("analytics_counters_pkey", "analytics_counters", type_="primary")
    op.create_primary_key("analytics_counters_pkey", "analytics_counters",
                          ["metric", "municipality", "a", "b", "c", "start", "end"])
    op.create_index("ix_analytics_counters_start", "analytics_counters", ["metric", "municipality", "start"])
