"""a sender name and a personal note on email requests

Revision ID: 0006_account
Revises: 0004_narration
Create Date: 2026-12-03 06:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_account'
down_revision = '0004_narration'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('email_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender_name', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('note', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('email_requests', schema=None) as batch_op:
        batch_op.drop_column('note')
        batch_op.drop_column('sender_name')
