"""entitlement.held_through: the groups an entitlement is held through directly

An incremental sync derives the inherited grants of a parent group, app or role from the store
(the holders of the groups it is held through) instead of listing it again from the provider.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 23:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('entitlement') as batch:
        batch.add_column(sa.Column('held_through', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('entitlement') as batch:
        batch.drop_column('held_through')
