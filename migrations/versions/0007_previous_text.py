"""a rewritten page keeps its previous text, so the rewrite can be undone

Revision ID: 0007_previous_text
Revises: 0006_account
Create Date: 2026-12-03 07:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_previous_text'
down_revision = '0006_account'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('scenes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previous_text', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('scenes', schema=None) as batch_op:
        batch_op.drop_column('previous_text')
