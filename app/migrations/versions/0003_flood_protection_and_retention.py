"""flood protection and retention

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rate_buckets',
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('minute', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'minute', name=op.f('pk_rate_buckets')),
    sqlite_with_rowid=False
    )
    op.create_table('spent_tokens',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('purge_after', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_spent_tokens')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('spent_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spent_tokens_purge_after'), ['purge_after'], unique=False)

    with op.batch_alter_table('offices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retention_days', sa.Integer(), server_default='180', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('offices', schema=None) as batch_op:
        batch_op.drop_column('retention_days')

    with op.batch_alter_table('spent_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spent_tokens_purge_after'))

    op.drop_table('spent_tokens')
    op.drop_table('rate_buckets')
