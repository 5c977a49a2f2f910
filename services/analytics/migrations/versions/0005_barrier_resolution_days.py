"""analytics: `barrier.resolved` counters (days to resolution, on the day resolved) from the barrier spells

The barrier report's time to resolve read every resolved barrier's (recorded, resolved) row of the towns and
kept those resolved in the period; the new rows are keyed by the day resolved, so the report reads the
period's rows alone. The projections write them from now on; this derives them from the rows already there.

Revision ID: 0005
Revises: 0004
"""
from collections import Counter
from datetime import date

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

COUNTERS = sa.table("analytics_counters", *(sa.column(name) for name in
                                            ("metric", "municipality", "a", "b", "c", "start", "end", "n")))
C = COUNTERS.c


def upgrade():
    bind = op.get_bind()
    rows = bind.execute(sa.select(C.municipality, C.a, C.start, C.end, sa.func.sum(C.n))
                        .where(C.metric == "barrier", C.c == "resolved")
                        .group_by(C.municipality, C.a, C.start, C.end))
    tally: Counter = Counter()
    for municipality, code, recorded_on, resolved_on, n in rows:
        days = (date.fromisoformat(resolved_on) - date.fromisoformat(recorded_on)).days
        tally[(municipality, code, str(days), resolved_on)] += n
    values = [{"metric": "barrier.resolved", "municipality": m, "a": code, "b": days, "c": "", "start": day,
               "end": "d", "n": n} for (m, code, days, day), n in tally.items() if n]
    for i in range(0, len(values), 1000):
        bind.execute(sa.insert(COUNTERS), values[i:i + 1000])


def downgrade():
    op.get_bind().execute(sa.delete(COUNTERS).where(C.metric == "barrier.resolved"))
