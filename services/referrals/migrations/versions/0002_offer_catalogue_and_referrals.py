"""offer catalogue and referrals

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 04:08:24.394869
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('providers',
    sa.Column('id', sa.String(length=63), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('website', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('offers',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('provider_id', sa.String(length=63), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('areas', sa.JSON(), nullable=False),
    sa.Column('municipalities', sa.JSON(), nullable=False),
    sa.Column('locations', sa.JSON(), nullable=False),
    sa.Column('languages', sa.JSON(), nullable=False),
    sa.Column('residence_statuses', sa.JSON(), nullable=False),
    sa.Column('min_age', sa.Integer(), nullable=True),
    sa.Column('max_age', sa.Integer(), nullable=True),
    sa.Column('eligibility_notes', sa.Text(), nullable=True),
    sa.Column('cost', sa.String(length=200), nullable=True),
    sa.Column('schedule', sa.String(length=500), nullable=True),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('waiting_days', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_offers_provider_id'), ['provider_id'], unique=False)

    op.create_table('offer_coverage',
    sa.Column('offer_id', sa.String(length=36), nullable=False),
    sa.Column('municipality', sa.String(length=8), nullable=False),
    sa.Column('area', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('offer_id', 'municipality', 'area')
    )
    with op.batch_alter_table('offer_coverage', schema=None) as batch_op:
        batch_op.create_index('ix_offer_coverage_lookup', ['municipality', 'area', 'offer_id'], unique=False)

    op.create_table('referrals',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('person_id', sa.String(length=36), nullable=False),
    sa.Column('municipality', sa.String(length=8), nullable=False),
    sa.Column('offer_id', sa.String(length=36), nullable=False),
    sa.Column('provider_id', sa.String(length=63), nullable=False),
    sa.Column('area', sa.String(length=20), nullable=False),
    sa.Column('goal_id', sa.String(length=36), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('languages', sa.JSON(), nullable=False),
    sa.Column('interpreter_needed', sa.Boolean(), nullable=False),
    sa.Column('decline_reason', sa.String(length=30), nullable=True),
    sa.Column('outcome', sa.String(length=30), nullable=True),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answer_due', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['offer_id'], ['offers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index('ix_referrals_case', ['case_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_referrals_offer_id'), ['offer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_referrals_person_id'), ['person_id'], unique=False)
        batch_op.create_index('ix_referrals_provider', ['provider_id', 'status'], unique=False)
        batch_op.create_index('ix_referrals_status_sent', ['status', 'sent_at'], unique=False)

    op.create_table('referral_transitions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('referral_id', sa.String(length=36), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('by', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['referral_id'], ['referrals.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('referral_transitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referral_transitions_referral_id'), ['referral_id'], unique=False)



def downgrade():
    with op.batch_alter_table('referral_transitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referral_transitions_referral_id'))

    op.drop_table('referral_transitions')
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index('ix_referrals_status_sent')
        batch_op.drop_index('ix_referrals_provider')
        batch_op.drop_index(batch_op.f('ix_referrals_person_id'))
        batch_op.drop_index(batch_op.f('ix_referrals_offer_id'))
        batch_op.drop_index('ix_referrals_case')

    op.drop_table('referrals')
    with op.batch_alter_table('offer_coverage', schema=None) as batch_op:
        batch_op.drop_index('ix_offer_coverage_lookup')

    op.drop_table('offer_coverage')
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_offers_provider_id'))

    op.drop_table('offers')
    op.drop_table('providers')
