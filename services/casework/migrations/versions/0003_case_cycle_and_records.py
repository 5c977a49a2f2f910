"""case managers, the case cycle, assessments, plans, contacts, barriers

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 04:03:39.272736
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('assessments',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('phase', sa.String(length=20), nullable=False),
    sa.Column('assessed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('assessed_by', sa.String(length=128), nullable=False),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.create_index('ix_assessments_case', ['case_id', 'assessed_at'], unique=False)

    op.create_table('barriers',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('area', sa.String(length=20), nullable=False),
    sa.Column('recorded_on', sa.Date(), nullable=False),
    sa.Column('recorded_by', sa.String(length=128), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('resolved_on', sa.Date(), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.Column('resolved_by', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('barriers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_barriers_case_id'), ['case_id'], unique=False)

    op.create_table('case_assignments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('case_manager_id', sa.String(length=36), nullable=True),
    sa.Column('assigned_to', sa.String(length=128), nullable=True),
    sa.Column('previous_assigned_to', sa.String(length=128), nullable=True),
    sa.Column('team', sa.String(length=64), nullable=True),
    sa.Column('automatic', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('assigned_by', sa.String(length=128), nullable=False),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('case_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_assignments_case_id'), ['case_id'], unique=False)

    op.create_table('case_transitions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=False),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('changed_by', sa.String(length=128), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('case_transitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_transitions_case_id'), ['case_id'], unique=False)

    op.create_table('contacts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('case_manager_id', sa.String(length=128), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=True),
    sa.Column('interpreter_language', sa.String(length=3), nullable=True),
    sa.Column('participants', sa.JSON(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('follow_up_on', sa.Date(), nullable=True),
    sa.Column('recorded_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index('ix_contacts_case_at', ['case_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_contacts_case_manager_at', ['case_manager_id', 'occurred_at'], unique=False)

    op.create_table('goals',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('area', sa.String(length=20), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('target_date', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('agreed_with_person', sa.Boolean(), nullable=False),
    sa.Column('evaluation', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('goals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_goals_case_id'), ['case_id'], unique=False)

    op.create_table('teams',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('lead_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('actions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('goal_id', sa.String(length=36), nullable=True),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('assignee', sa.String(length=20), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('referral_id', sa.String(length=36), nullable=True),
    sa.Column('offer_id', sa.String(length=36), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['goal_id'], ['goals.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('referral_id')
    )
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.create_index('ix_actions_case_due', ['case_id', 'due_on'], unique=False)

    op.create_table('assessment_areas',
    sa.Column('assessment_id', sa.String(length=36), nullable=False),
    sa.Column('area', sa.String(length=20), nullable=False),
    sa.Column('need_level', sa.String(length=10), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=True),
    sa.Column('strengths', sa.Text(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['assessment_id'], ['assessments.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('assessment_id', 'area')
    )
    op.create_table('case_managers',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('username', sa.String(length=128), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('employer', sa.String(length=20), nullable=False),
    sa.Column('employer_municipality', sa.String(length=8), nullable=True),
    sa.Column('team_id', sa.String(length=64), nullable=True),
    sa.Column('languages', sa.JSON(), nullable=False),
    sa.Column('hours_per_week', sa.Float(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('absences',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('case_manager_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('deputy_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['case_manager_id'], ['case_managers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('absences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_absences_case_manager_id'), ['case_manager_id'], unique=False)

    op.create_table('coverages',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('case_manager_id', sa.String(length=36), nullable=False),
    sa.Column('municipality', sa.String(length=8), nullable=False),
    sa.Column('weekdays', sa.JSON(), nullable=False),
    sa.Column('hours_per_week', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['case_manager_id'], ['case_managers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('coverages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coverages_case_manager_id'), ['case_manager_id'], unique=False)
        batch_op.create_index('ix_coverages_municipality', ['municipality'], unique=False)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('languages', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('paused_from', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('outcome', sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column('evaluation', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('last_contact_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('follow_up_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('case_manager_id', sa.String(length=36), nullable=True))
        batch_op.create_index('ix_cases_case_manager_status', ['case_manager_id', 'status', 'municipality'],
                              unique=False)
        batch_op.create_index('ix_cases_assigned_status', ['assigned_to', 'status'], unique=False)



def downgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_assigned_status')
        batch_op.drop_index('ix_cases_case_manager_status')
        batch_op.drop_column('case_manager_id')
        batch_op.drop_column('follow_up_on')
        batch_op.drop_column('last_contact_at')
        batch_op.drop_column('evaluation')
        batch_op.drop_column('outcome')
        batch_op.drop_column('closed_at')
        batch_op.drop_column('paused_from')
        batch_op.drop_column('languages')

    with op.batch_alter_table('coverages', schema=None) as batch_op:
        batch_op.drop_index('ix_coverages_municipality')
        batch_op.drop_index(batch_op.f('ix_coverages_case_manager_id'))

    op.drop_table('coverages')
    with op.batch_alter_table('absences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_absences_case_manager_id'))

    op.drop_table('absences')
    op.drop_table('case_managers')
    op.drop_table('assessment_areas')
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.drop_index('ix_actions_case_due')

    op.drop_table('actions')
    op.drop_table('teams')
    with op.batch_alter_table('goals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_goals_case_id'))

    op.drop_table('goals')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index('ix_contacts_case_manager_at')
        batch_op.drop_index('ix_contacts_case_at')

    op.drop_table('contacts')
    with op.batch_alter_table('case_transitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_transitions_case_id'))

    op.drop_table('case_transitions')
    with op.batch_alter_table('case_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_assignments_case_id'))

    op.drop_table('case_assignments')
    with op.batch_alter_table('barriers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_barriers_case_id'))

    op.drop_table('barriers')
    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.drop_index('ix_assessments_case')

    op.drop_table('assessments')
