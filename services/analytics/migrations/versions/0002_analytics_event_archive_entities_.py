"""analytics: event archive, entities, counters

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 04:37:18.106627
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('analytics_counters',
    sa.Column('metric', sa.String(length=24), nullable=False),
    sa.Column('municipality', sa.String(length=8), nullable=False),
    sa.Column('a', sa.String(length=128), nullable=False),
    sa.Column('b', sa.String(length=64), nullable=False),
    sa.Column('c', sa.String(length=64), nullable=False),
    sa.Column('start', sa.String(length=10), nullable=False),
    sa.Column('end', sa.String(length=10), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('metric', 'municipality', 'a', 'b', 'c', 'start', 'end')
    )
    with op.batch_alter_table('analytics_counters', schema=None) as batch_op:
        batch_op.create_index('ix_analytics_counters_spell', ['metric', 'municipality', 'end', 'start'], unique=False)
        batch_op.create_index('ix_analytics_counters_start', ['metric', 'municipality', 'start'], unique=False)

    op.create_table('analytics_entities',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('entity_id', sa.String(length=128), nullable=False),
    sa.Column('parent', sa.String(length=36), nullable=False),
    sa.Column('municipality', sa.String(length=8), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'entity_id')
    )
    with op.batch_alter_table('analytics_entities', schema=None) as batch_op:
        batch_op.create_index('ix_analytics_entities_parent', ['kind', 'parent'], unique=False)

    op.create_table('analytics_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('producer', sa.String(length=32), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('municipality', sa.String(length=8), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('envelope', sa.JSON(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_id')
    )
    with op.batch_alter_table('analytics_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_analytics_events_person_id'), ['person_id'], unique=False)



def downgrade():
    with op.batch_alter_table('analytics_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_analytics_events_person_id'))

    op.drop_table('analytics_events')
    with op.batch_alter_table('analytics_entities', schema=None) as batch_op:
        batch_op.drop_index('ix_analytics_entities_parent')

    op.drop_table('analytics_entities')
    with op.batch_alter_table('analytics_counters', schema=None) as batch_op:
        batch_op.drop_index('ix_analytics_counters_start')
        batch_op.drop_index('ix_analytics_counters_spell')

    op.drop_table('analytics_counters')
