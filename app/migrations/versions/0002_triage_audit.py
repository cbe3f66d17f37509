"""triage, internal notes, status history and the audit log

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_TIPS_TABLE_KWARGS = {'sqlite_with_rowid': False}


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.Double(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=128), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_table('tip_notes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tip_id', sa.String(length=32), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('written_at', sa.Double(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['inspectors.id'], name=op.f('fk_tip_notes_author_id_inspectors'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tip_id'], ['tips.id'], name=op.f('fk_tip_notes_tip_id_tips'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tip_notes')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('tip_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tip_notes_tip_id'), ['tip_id'], unique=False)

    op.create_table('tip_status_changes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tip_id', sa.String(length=32), nullable=False),
    sa.Column('inspector_id', sa.Integer(), nullable=True),
    sa.Column('changed_at', sa.Double(), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=False),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['inspector_id'], ['inspectors.id'], name=op.f('fk_tip_status_changes_inspector_id_inspectors'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tip_id'], ['tips.id'], name=op.f('fk_tip_status_changes_tip_id_tips'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tip_status_changes')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('tip_status_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tip_status_changes_tip_id'), ['tip_id'], unique=False)

    with op.batch_alter_table('inspectors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('auth_epoch', sa.Integer(), server_default='0', nullable=False))

    # Foreign keys on an existing table: SQLite can only add them by copying the table (batch mode);
    # the copy must stay WITHOUT ROWID like the original (no insertion order to read tips by).
    with op.batch_alter_table('tips', schema=None, table_kwargs=_TIPS_TABLE_KWARGS) as batch_op:
        batch_op.add_column(sa.Column('assignee_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('duplicate_of_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('updated_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('closed_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('tags', sa.LargeBinary(), nullable=True))
        batch_op.create_index(batch_op.f('ix_tips_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tips_duplicate_of_id'), ['duplicate_of_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_tips_duplicate_of_id_tips'), 'tips', ['duplicate_of_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_tips_assignee_id_inspectors'), 'inspectors', ['assignee_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('tips', schema=None, table_kwargs=_TIPS_TABLE_KWARGS) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_tips_assignee_id_inspectors'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_tips_duplicate_of_id_tips'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_tips_duplicate_of_id'))
        batch_op.drop_index(batch_op.f('ix_tips_assignee_id'))
        batch_op.drop_column('tags')
        batch_op.drop_column('closed_on')
        batch_op.drop_column('updated_on')
        batch_op.drop_column('duplicate_of_id')
        batch_op.drop_column('assignee_id')

    with op.batch_alter_table('inspectors', schema=None) as batch_op:
        batch_op.drop_column('auth_epoch')

    with op.batch_alter_table('tip_status_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tip_status_changes_tip_id'))

    op.drop_table('tip_status_changes')
    with op.batch_alter_table('tip_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tip_notes_tip_id'))

    op.drop_table('tip_notes')
    op.drop_table('audit_log')
