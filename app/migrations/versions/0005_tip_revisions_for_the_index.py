"""tip revisions for the index

Revision ID: 0005
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tip_revision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tip_revision'))
    )
    # The one counter row exists from the start, so that two first writers never race to create it.
    op.bulk_insert(sa.table('tip_revision', sa.column('id', sa.Integer), sa.column('value', sa.Integer)),
                   [{'id': 1, 'value': 0}])
    with op.batch_alter_table('tips', schema=None, table_kwargs={'sqlite_with_rowid': False}) as batch_op:
        batch_op.add_column(sa.Column('revision', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_index('ix_tips_key_received', ['office_key_id', 'received_on'], unique=False)
        batch_op.create_index('ix_tips_key_revision', ['office_key_id', 'revision'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tips', schema=None, table_kwargs={'sqlite_with_rowid': False}) as batch_op:
        batch_op.drop_index('ix_tips_key_revision')
        batch_op.drop_index('ix_tips_key_received')
        batch_op.drop_column('revision')

    op.drop_table('tip_revision')
