"""scim_user: SCIM 2.0 Users an HR system provisioned (accessctl.hr.scim)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scim_user',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=True),
    sa.Column('employee_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('user_name', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
    sa.Column('live_user_name', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('resource', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('scim_user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scim_user_employee_id'), ['employee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scim_user_external_id'), ['external_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scim_user_live_user_name'), ['live_user_name'], unique=True)
        batch_op.create_index(batch_op.f('ix_scim_user_person_id'), ['person_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('scim_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scim_user_person_id'))
        batch_op.drop_index(batch_op.f('ix_scim_user_live_user_name'))
        batch_op.drop_index(batch_op.f('ix_scim_user_external_id'))
        batch_op.drop_index(batch_op.f('ix_scim_user_employee_id'))
    op.drop_table('scim_user')
