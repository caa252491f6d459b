"""share links, confirmed email addresses, and spoken hints (transcriptions)

Revision ID: 0012_links_transcriptions
Revises: 0011_text_alternatives
Create Date: 2026-12-07 16:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012_links_transcriptions'
down_revision = '0011_text_alternatives'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_confirmed_at', sa.DateTime(), nullable=True))

    op.create_table(
        'share_links',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('book_id', sa.String(length=32), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['book_id'], ['books.id'], name=op.f('fk_share_links_book_id_books'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_share_links')),
        sa.UniqueConstraint('token', name=op.f('uq_share_links_token')),
    )
    op.create_index(op.f('ix_share_links_book_id'), 'share_links', ['book_id'], unique=False)
    op.create_index(op.f('ix_share_links_expires_at'), 'share_links', ['expires_at'], unique=False)

    op.create_table(
        'transcriptions',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.Enum('queued', 'running', 'done', 'failed', name='transcriptionstatus',
                                    native_enum=False, length=16), nullable=False),
        sa.Column('audio_name', sa.String(length=255), nullable=True),
        sa.Column('audio_format', sa.String(length=16), nullable=True),
        sa.Column('duration_s', sa.Float(), nullable=True),
        sa.Column('text', sa.Text(), nullable=True),
        sa.Column('hints', sa.JSON(), nullable=True),
        sa.Column('source', sa.String(length=200), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('worker_id', sa.String(length=64), nullable=True),
        sa.Column('lost_runs', sa.Integer(), server_default='0', nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_transcriptions_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_transcriptions')),
    )
    op.create_index(op.f('ix_transcriptions_user_id'), 'transcriptions', ['user_id'], unique=False)
    op.create_index(op.f('ix_transcriptions_status'), 'transcriptions', ['status'], unique=False)
    op.create_index(op.f('ix_transcriptions_created_at'), 'transcriptions', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_table('transcriptions')
    op.drop_table('share_links')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email_confirmed_at')
