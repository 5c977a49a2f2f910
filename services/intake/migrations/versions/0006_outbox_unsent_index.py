"""outbox: a partial index over the unsent rows, for the relay

Revision ID: 0006
Revises: 0005
"""
from services.shared.migrations import create_unsent_outbox_index, drop_unsent_outbox_index

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    create_unsent_outbox_index()


def downgrade():
    drop_unsent_outbox_index()
