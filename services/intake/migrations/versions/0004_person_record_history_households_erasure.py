"""the full person record, its history, households, merges and erasure requests

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

PERSON_COLUMNS = (
    ('sex', sa.String(length=20)),
    ('nationalities', sa.JSON()),
    ('mother_tongues', sa.JSON()),
    ('german_level', sa.String(length=2)),
    ('municipality_arrival_date', sa.Date()),
    ('address_street', sa.String(length=200)),
    ('address_postal_code', sa.String(length=10)),
    ('address_city', sa.String(length=100)),
    ('phone', sa.String(length=40)),
    ('email', sa.String(length=254)),
    ('preferred_channel', sa.String(length=20)),
    ('interpreter_needed', sa.Boolean()),
    ('residence_valid_until', sa.Date()),
    ('merged_into', sa.String(length=36)),
    ('erased_at', sa.DateTime(timezone=True)),
)


def upgrade():
    with op.batch_alter_table('persons', schema=None) as batch_op:
        for name, type_ in PERSON_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
    op.create_table('person_history',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_by', sa.String(length=128), nullable=False),
    sa.Column('field', sa.String(length=60), nullable=False),
    sa.Column('old_value', sa.JSON(), nullable=True),
    sa.Column('new_value', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_person_history_person_id', 'person_history', ['person_id', 'id'], unique=False)
    op.create_table('households',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('municipality', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('household_members',
    sa.Column('household_id', sa.String(length=36), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('relation', sa.String(length=30), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('household_id', 'person_id')
    )
    op.create_index('ix_household_members_person_id', 'household_members', ['person_id'], unique=False)
    op.create_table('erasure_requests',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('municipality', sa.String(length=8), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('requested_by', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('confirmations', sa.JSON(), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_erasure_requests_person_id', 'erasure_requests', ['person_id'], unique=False)


def downgrade():
    op.drop_index('ix_erasure_requests_person_id', table_name='erasure_requests')
    op.drop_table('erasure_requests')
    op.drop_index('ix_household_members_person_id', table_name='household_members')
    op.drop_table('household_members')
    op.drop_table('households')
    op.drop_index('ix_person_history_person_id', table_name='person_history')
    op.drop_table('person_history')
    with op.batch_alter_table('persons', schema=None) as batch_op:
        for name, _ in reversed(PERSON_COLUMNS):
            batch_op.drop_column(name)
