"""when a mail request last moved or was sent again, so the reconciler sends a lost one once a period

Revision ID: 0009_email_updated_at
Revises: 0008_hint_defaults
Create Date: 2026-12-04 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009_email_updated_at'
down_revision = '0008_hint_defaults'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('email_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(), nullable=True))
    # Existing requests count from when they were made, as the reconciler counted before.
    op.execute("UPDATE email_requests SET updated_at = created_at")
    with op.batch_alter_table('email_requests', schema=None) as batch_op:
        batch_op.alter_column('updated_at', existing_type=sa.DateTime(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('email_requests', schema=None) as batch_op:
        batch_op.drop_column('updated_at')
