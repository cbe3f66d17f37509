"""indexes for status counts and retention warnings

Revision ID: 0007
Revises: 0006
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tips', schema=None, table_kwargs={'sqlite_with_rowid': False}) as batch_op:
        batch_op.create_index('ix_tips_key_status', ['office_key_id', 'status', 'received_on'], unique=False)
        batch_op.create_index('ix_tips_office_closed', ['office_id', 'closed_on', 'status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('tips', schema=None, table_kwargs={'sqlite_with_rowid': False}) as batch_op:
        batch_op.drop_index('ix_tips_office_closed')
        batch_op.drop_index('ix_tips_key_status')

