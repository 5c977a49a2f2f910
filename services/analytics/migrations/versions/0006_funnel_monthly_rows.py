"""analytics: monthly rows (`ref_stage.m`, `ref_wait.m`) for the referral funnel, summed from the daily rows

A quarter's funnel read every referral's daily rows of the period; a report over whole months now reads the
monthly rows. The projections write them from now on; this derives them from the rows already there.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

METRICS = ("ref_stage", "ref_wait")
COUNTERS = sa.table("analytics_counters", *(sa.column(name) for name in
                                            ("metric", "municipality", "a", "b", "c", "start", "end", "n")))
C = COUNTERS.c


def upgrade():
    month = sa.func.substr(C.start, 1, 7)
    op.get_bind().execute(sa.insert(COUNTERS).from_select(
        ["metric", "municipality", "a", "b", "c", "start", "end", "n"],
        sa.select(C.metric + ".m", C.municipality, C.a, C.b, C.c, month, C.end, sa.func.sum(C.n))
        .where(C.metric.in_(METRICS)).group_by(C.metric, C.municipality, C.a, C.b, C.c, month, C.end)
        .having(sa.func.sum(C.n) != 0)))


def downgrade():
    op.get_bind().execute(sa.delete(COUNTERS).where(C.metric.in_([f"{m}.m" for m in METRICS])))
