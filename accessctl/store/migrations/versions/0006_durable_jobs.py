"""job, job_step: the durable job engine's tables (accessctl.jobs)

The job and job_step tables of 0001 were placeholders nothing wrote; the engine needs other
columns (a job's reason and derived state; a step's target as JSON, expected effect, lease,
max_attempts, the provider's last answer), so both are made anew.  decision.job_id keeps its
foreign key to job.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def _drop_decision_fk() -> None:
    # on SQLite the constraint is text in decision's definition and holds for the new job table
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint('decision_job_id_fkey', 'decision', type_='foreignkey')


def _add_decision_fk() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        op.create_foreign_key('decision_job_id_fkey', 'decision', 'job', ['job_id'], ['id'])


def _drop_old() -> None:
    with op.batch_alter_table('job_step', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_step_status'))
        batch_op.drop_index(batch_op.f('ix_job_step_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_job_step_job_id'))
    op.drop_table('job_step')
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_status'))
        batch_op.drop_index(batch_op.f('ix_job_person_id'))
    op.drop_table('job')


def upgrade() -> None:
    _drop_decision_fk()
    _drop_old()
    op.create_table('job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('hr_event_id', sa.Integer(), nullable=True),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('requested_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['hr_event_id'], ['hr_event.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_job_state'), ['state'], unique=False)

    op.create_table('job_step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('target', sa.JSON(), nullable=False),
    sa.Column('expected_effect', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_owner', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_answer', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('result', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['job.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('job_id', 'provider', 'seq', name='uq_job_step_provider_seq')
    )
    with op.batch_alter_table('job_step', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_step_job_id'), ['job_id'], unique=False)
        batch_op.create_index(
            'ix_job_step_runnable', ['next_attempt_at', 'id'], unique=False,
            postgresql_where=sa.text("state IN ('pending', 'running')"),
            sqlite_where=sa.text("state IN ('pending', 'running')"),
        )
    _add_decision_fk()


def downgrade() -> None:
    _drop_decision_fk()
    with op.batch_alter_table('job_step', schema=None) as batch_op:
        batch_op.drop_index('ix_job_step_runnable')
        batch_op.drop_index(batch_op.f('ix_job_step_job_id'))
    op.drop_table('job_step')
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_state'))
        batch_op.drop_index(batch_op.f('ix_job_person_id'))
    op.drop_table('job')
    op.create_table('job',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('hr_event_id', sa.Integer(), nullable=True),
    sa.Column('requested_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('quarantined', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['hr_event_id'], ['hr_event.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_job_status'), ['status'], unique=False)
    op.create_table('job_step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('target', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('result', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['job.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('job_id', 'seq', name='uq_job_step_seq')
    )
    with op.batch_alter_table('job_step', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_step_job_id'), ['job_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_job_step_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_job_step_status'), ['status'], unique=False)
    _add_decision_fk()
