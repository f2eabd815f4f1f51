"""hr_event: what the HR intake keeps of each event; hr_schedule (future-dated terminations);
person_move (movers)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_STR = sqlmodel.sql.sqltypes.AutoString
_NEW_EVENT_COLUMNS = (
    ('webhook_id', _STR(length=255), True),
    ('email', _STR(length=320), True),
    ('manager_employee_id', _STR(length=128), True),
    ('department', _STR(length=200), True),
    ('title', _STR(length=200), True),
    ('occurred_at', sa.DateTime(timezone=True), True),
    ('effective_date', sa.Date(), True),
    ('timezone', _STR(length=64), True),
    ('note', _STR(length=1000), True),
    ('person_id', sa.Integer(), True),
    ('job_id', sa.Integer(), True),
)


def upgrade() -> None:
    with op.batch_alter_table('hr_event', schema=None) as batch_op:
        for name, type_, nullable in _NEW_EVENT_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=nullable))
        batch_op.add_column(sa.Column('immediate', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('needs_admin', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(
            sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
        )
        batch_op.create_unique_constraint('uq_hr_event_source_webhook_id', ['source', 'webhook_id'])
        batch_op.create_foreign_key('fk_hr_event_person_id', 'person', ['person_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_hr_event_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_hr_event_needs_admin'), ['needs_admin'], unique=False)
    # the server defaults only filled existing rows; the models give every new row its values
    with op.batch_alter_table('hr_event', schema=None) as batch_op:
        batch_op.alter_column('immediate', server_default=None)
        batch_op.alter_column('needs_admin', server_default=None)
        batch_op.alter_column('updated_at', server_default=None)

    op.create_table('hr_schedule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hr_event_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('fire_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('effective_local', _STR(length=120), nullable=False),
    sa.Column('state', _STR(length=32), nullable=False),
    sa.Column('closed_reason', _STR(length=1000), nullable=True),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['hr_event_id'], ['hr_event.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('hr_event_id')
    )
    with op.batch_alter_table('hr_schedule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hr_schedule_fire_at'), ['fire_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_hr_schedule_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_hr_schedule_state'), ['state'], unique=False)

    op.create_table('person_move',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('hr_event_id', sa.Integer(), nullable=False),
    sa.Column('old_manager_employee_id', _STR(length=128), nullable=True),
    sa.Column('new_manager_employee_id', _STR(length=128), nullable=True),
    sa.Column('old_department', _STR(length=200), nullable=True),
    sa.Column('new_department', _STR(length=200), nullable=True),
    sa.Column('moved_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['hr_event_id'], ['hr_event.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('hr_event_id')
    )
    with op.batch_alter_table('person_move', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_move_person_id'), ['person_id'], unique=False)


def downgrade() -> None:
    op.drop_table('person_move')
    op.drop_table('hr_schedule')
    with op.batch_alter_table('hr_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hr_event_needs_admin'))
        batch_op.drop_index(batch_op.f('ix_hr_event_person_id'))
        batch_op.drop_constraint('fk_hr_event_person_id', type_='foreignkey')
        batch_op.drop_constraint('uq_hr_event_source_webhook_id', type_='unique')
        for name in ('updated_at', 'needs_admin', 'immediate', *(c[0] for c in _NEW_EVENT_COLUMNS)):
            batch_op.drop_column(name)
