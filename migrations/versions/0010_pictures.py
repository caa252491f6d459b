"""pictures: a book's style, drawing seed and dedication; each page's English caption, drawn picture, its style, source, redraws, photo choice

Revision ID: 0010_pictures
Revises: 0009_email_updated_at
Create Date: 2026-12-07 13:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_pictures'
down_revision = '0009_email_updated_at'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('books', schema=None) as batch_op:
        batch_op.add_column(sa.Column('style', sa.String(length=16), server_default='photo', nullable=False))
        batch_op.add_column(sa.Column('seed', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('dedication', sa.String(length=100), nullable=True))
    with op.batch_alter_table('scenes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('caption_en', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('picture_name', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('picture_style', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('picture_source', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('redraws', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('use_photo', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('drawing_by', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('scenes', schema=None) as batch_op:
        for column in ('drawing_by', 'use_photo', 'redraws', 'picture_source', 'picture_style', 'picture_name', 'caption_en'):
            batch_op.drop_column(column)
    with op.batch_alter_table('books', schema=None) as batch_op:
        batch_op.drop_column('dedication')
        batch_op.drop_column('seed')
        batch_op.drop_column('style')
