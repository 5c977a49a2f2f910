"""birth date or birth year only: birth_date nullable, birth_year (backfilled from birth_date)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""
from datetime import date

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

persons = sa.table('persons', sa.column('birth_date', sa.Date()), sa.column('birth_year', sa.Integer()),
                   sa.column('erased_at', sa.DateTime(timezone=True)))


def upgrade():
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('birth_year', sa.Integer(), nullable=True))
        batch_op.alter_column('birth_date',
               existing_type=sa.DATE(),
               nullable=True)
        batch_op.create_index('ix_persons_birth_year_date', ['birth_year', 'birth_date'], unique=False)
    # every registered person had a full date; erased persons' placeholder date goes (erasure empties both now)
    op.execute(persons.update().where(persons.c.erased_at.is_(None))
               .values(birth_year=sa.cast(sa.extract('year', persons.c.birth_date), sa.Integer())))
    op.execute(persons.update().where(persons.c.erased_at.is_not(None)).values(birth_date=None))


def downgrade():
    # a year-only person gets 1 January of the year; an erased one the old placeholder, 1900-01-01
    op.execute(persons.update().where(persons.c.birth_date.is_(None), persons.c.birth_year.is_not(None))
               .values(birth_date=sa.func.date(sa.cast(persons.c.birth_year, sa.String()) + '-01-01')))
    op.execute(persons.update().where(persons.c.birth_date.is_(None))
               .values(birth_date=sa.literal(date(1900, 1, 1), sa.Date())))
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_index('ix_persons_birth_year_date')
        batch_op.alter_column('birth_date',
               existing_type=sa.DATE(),
               nullable=False)
        batch_op.drop_column('birth_year')
