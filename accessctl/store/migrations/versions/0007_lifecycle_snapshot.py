"""lifecycle_snapshot: what a leaver took away, so restore can give it back (accessctl.lifecycle)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'lifecycle_snapshot',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('job_id', sa.Integer(), nullable=True),
        sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('taken_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column('accounts', sa.JSON(), nullable=False),
        sa.Column('restored_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('restored_by', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column('restore_job_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['job_id'], ['job.id']),
        sa.ForeignKeyConstraint(['person_id'], ['person.id']),
        sa.ForeignKeyConstraint(['restore_job_id'], ['job.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('lifecycle_snapshot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lifecycle_snapshot_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_lifecycle_snapshot_job_id'), ['job_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('lifecycle_snapshot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lifecycle_snapshot_job_id'))
        batch_op.drop_index(batch_op.f('ix_lifecycle_snapshot_person_id'))
    op.drop_table('lifecycle_snapshot')
