"""Latin transliterations of names (duplicate check and search) and who recorded a consent on what basis

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('given_name_latin', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('family_name_latin', sa.String(length=200), nullable=True))
        batch_op.create_index('ix_persons_birth_date', ['birth_date'], unique=False)
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recorded_by', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('basis', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('withdrawn_by', sa.String(length=128), nullable=True))


def downgrade():
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_column('withdrawn_by')
        batch_op.drop_column('basis')
        batch_op.drop_column('recorded_by')
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_index('ix_persons_birth_date')
        batch_op.drop_column('family_name_latin')
        batch_op.drop_column('given_name_latin')
