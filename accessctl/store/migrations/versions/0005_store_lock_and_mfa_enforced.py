"""store_lock: named locks (one sync per provider); account.mfa_enforced: the provider requires MFA

Two syncs of one provider at once both took over its runs (doubled counts, two "complete" events
per run): a sync now holds the provider's lock for its pass.  On SQLite the store_lock row is the
lock (a lease renewed by a heartbeat); on PostgreSQL an advisory lock is, and the row names its
holder.  account.mfa_enforced keeps what connectors map from the provider (Google's 2SV
enforcement), which the sync used to drop.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('store_lock',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('holder_pid', sa.Integer(), nullable=False),
    sa.Column('holder_host', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    with op.batch_alter_table('account') as batch:
        batch.add_column(sa.Column('mfa_enforced', sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('account') as batch:
        batch.drop_column('mfa_enforced')
    op.drop_table('store_lock')
