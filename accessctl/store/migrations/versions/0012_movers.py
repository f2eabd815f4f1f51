"""person_move from a sync, and the campaign reviewing it; manager_seen: movers (accessctl.reviews)

A mover is also a manager change the reviews see in the store after a roster import or a sync, with
no HR event: person_move.hr_event_id becomes nullable and ``source`` says which (hr | sync).
``campaign_id`` names the one-person campaign that reviews the move.  manager_seen holds each
person's manager as the reviews last saw it, what a change is measured against.

ix_review_item_campaign_id goes: uq_review_item_campaign_grant (campaign_id, grant_id) serves every
lookup by campaign, and a campaign of a million items wrote one b-tree more for nothing.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 04:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('person_move', schema=None) as batch_op:
        batch_op.alter_column('hr_event_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('source', sa.String(length=16), nullable=False, server_default='hr'))
        batch_op.add_column(sa.Column('campaign_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_person_move_campaign_id', 'campaign', ['campaign_id'], ['id'])
    with op.batch_alter_table('review_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_item_campaign_id'))
    op.create_table('manager_seen',
    sa.Column('person_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('manager_email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], ),
    sa.PrimaryKeyConstraint('person_id')
    )


def downgrade() -> None:
    op.drop_table('manager_seen')
    with op.batch_alter_table('review_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_item_campaign_id'), ['campaign_id'], unique=False)
    op.execute("DELETE FROM person_move WHERE hr_event_id IS NULL")
    with op.batch_alter_table('person_move', schema=None) as batch_op:
        batch_op.drop_constraint('fk_person_move_campaign_id', type_='foreignkey')
        batch_op.drop_column('campaign_id')
        batch_op.drop_column('source')
        batch_op.alter_column('hr_event_id', existing_type=sa.Integer(), nullable=False)
