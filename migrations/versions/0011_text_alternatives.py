"""a rewritten page keeps the writer's other candidates, the texts it has shown, its rewrite count, and whether the last rewrite found nothing new

Revision ID: 0011_text_alternatives
Revises: 0010_pictures
Create Date: 2026-12-08 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0011_text_alternatives'
down_revision = '0010_pictures'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('scenes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('alternatives', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('shown_texts', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('rewrites', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('nothing_new', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('scenes', schema=None) as batch_op:
        for column in ('nothing_new', 'rewrites', 'shown_texts', 'alternatives'):
            batch_op.drop_column(column)
