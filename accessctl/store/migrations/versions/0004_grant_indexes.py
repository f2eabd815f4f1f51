"""access_grant: drop the index on account_id and the index on ended_at

The unique (account_id, entitlement_id) index already serves every lookup by account, so the
separate account_id index only cost a third random index write per grant.  Most grants are live,
so the ended_at index selects nothing, and without statistics SQLite chose it for
``entitlement_id IN (...) AND ended_at IS NULL``: a scan of every live grant instead of a lookup.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 00:00:00
"""

from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('access_grant') as batch:
        batch.drop_index('ix_access_grant_account_id')
        batch.drop_index('ix_access_grant_ended_at')


def downgrade() -> None:
    with op.batch_alter_table('access_grant') as batch:
        batch.create_index('ix_access_grant_ended_at', ['ended_at'], unique=False)
        batch.create_index('ix_access_grant_account_id', ['account_id'], unique=False)
