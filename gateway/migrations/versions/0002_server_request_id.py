"""audit entries keep a server-generated request id beside the client's

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN (no batch copy of the table): existing rows are not updated, so the append-only
    # triggers of 0001 neither fire nor get lost with a recreated table.
    op.add_column('audit_entries', sa.Column('server_request_id', sa.String(length=32), nullable=True))
    op.create_index('ix_audit_server_request', 'audit_entries', ['server_request_id'], unique=False)


def downgrade():
    op.drop_index('ix_audit_server_request', table_name='audit_entries')
    # SQLite >= 3.35 drops a column in place; the triggers stay
    op.drop_column('audit_entries', 'server_request_id')
