"""the main character and company typed once for a book, kept for hints that come later

Revision ID: 0008_hint_defaults
Revises: 0007_previous_text
Create Date: 2026-12-03 12:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_hint_defaults'
down_revision = '0007_previous_text'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('books', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hint_defaults', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('books', schema=None) as batch_op:
        batch_op.drop_column('hint_defaults')
