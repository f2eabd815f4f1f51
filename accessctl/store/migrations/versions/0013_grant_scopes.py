"""access_grant.scopes: what a grant is bound to (the resource sets of an Okta custom admin role)

An Okta custom role is assigned over a resource set, and only over one: a grant that forgets it
cannot be given back (assignRoleToUser refuses a CUSTOM body without ``resource-set``).  ``scopes``
lists the resource sets the account holds the role over; NULL for every other grant.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('access_grant') as batch:
        batch.add_column(sa.Column('scopes', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('access_grant') as batch:
        batch.drop_column('scopes')
