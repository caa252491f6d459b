"""narrated pages and the e-book

Revision ID: 0004_narration
Revises: 0003
Create Date: 2026-12-03 07:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004_narration'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('books', schema=None) as batch_op:
        batch_op.add_column(sa.Column('epub_name', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('epub_bytes', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('narrator_label', sa.String(length=200), nullable=True))
    with op.batch_alter_table('scenes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audio_name', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('audio_text', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('audio_duration', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('audio_sentences', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('scenes', schema=None) as batch_op:
        batch_op.drop_column('audio_sentences')
        batch_op.drop_column('audio_duration')
        batch_op.drop_column('audio_text')
        batch_op.drop_column('audio_name')
    with op.batch_alter_table('books', schema=None) as batch_op:
        batch_op.drop_column('narrator_label')
        batch_op.drop_column('epub_bytes')
        batch_op.drop_column('epub_name')
