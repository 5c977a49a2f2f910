"""outbox: a partial index over the unsent rows, for the relay

Revision ID: 0004
Revises: 0003
"""
from services.shared.migrations import create_unsent_outbox_index, drop_unsent_outbox_index

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    create_unsent_outbox_index()


def downgrade():
    drop_unsent_outbox_index()
