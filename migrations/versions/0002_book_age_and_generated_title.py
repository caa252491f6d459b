"""books: reader age band and the generated title

Revision ID: 0002_book_age
Revises: 0001
Create Date: 2026-12-02 05:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_book_age'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('books', schema=None) as batch_op:
        batch_op.add_column(sa.Column('generated_title', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('age', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('books', schema=None) as batch_op:
        batch_op.drop_column('age')
        batch_op.drop_column('generated_title')
