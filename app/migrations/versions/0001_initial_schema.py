"""initial schema

Revision ID: 0001
Revises: 
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inspectors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('is_admin', sa.Boolean(), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=False),
    sa.Column('wrapped_private_key', sa.LargeBinary(), nullable=False),
    sa.Column('totp_secret', sa.String(length=64), nullable=False),
    sa.Column('totp_last_step', sa.Integer(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.Double(), nullable=False),
    sa.Column('created_on', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspectors')),
    sa.UniqueConstraint('username', name=op.f('uq_inspectors_username'))
    )
    op.create_table('install_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('receipt_salt', sa.LargeBinary(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_install_settings'))
    )
    op.create_table('offices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_on', sa.Date(), nullable=False),
    sa.Column('current_key_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offices')),
    sa.UniqueConstraint('code', name=op.f('uq_offices_code'))
    )
    op.create_table('sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('site', sa.String(length=16), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('purge_after', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sessions')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sessions_purge_after'), ['purge_after'], unique=False)

    op.create_table('office_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=False),
    sa.Column('sealed_for_recovery', sa.LargeBinary(), nullable=False),
    sa.Column('recovery_public_key', sa.LargeBinary(), nullable=False),
    sa.Column('created_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['office_id'], ['offices.id'], name=op.f('fk_office_keys_office_id_offices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_office_keys'))
    )
    with op.batch_alter_table('office_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_office_keys_office_id'), ['office_id'], unique=False)

    # offices and office_keys refer to each other: the second foreign key is added once both exist.
    with op.batch_alter_table('offices', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_offices_current_key_id_office_keys'), 'office_keys', ['current_key_id'], ['id'])

    op.create_table('pending_setup',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('recovery_key_encrypted', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['office_id'], ['offices.id'], name=op.f('fk_pending_setup_office_id_offices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_setup'))
    )
    op.create_table('office_grants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('office_key_id', sa.Integer(), nullable=False),
    sa.Column('inspector_id', sa.Integer(), nullable=False),
    sa.Column('sealed_private_key', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['inspector_id'], ['inspectors.id'], name=op.f('fk_office_grants_inspector_id_inspectors'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['office_key_id'], ['office_keys.id'], name=op.f('fk_office_grants_office_key_id_office_keys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_office_grants')),
    sa.UniqueConstraint('office_key_id', 'inspector_id', name=op.f('uq_office_grants_office_key_id'))
    )
    with op.batch_alter_table('office_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_office_grants_inspector_id'), ['inspector_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_office_grants_office_key_id'), ['office_key_id'], unique=False)

    op.create_table('tips',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('office_key_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('lookup_id', sa.LargeBinary(length=32), nullable=False),
    sa.Column('reporter_public_key', sa.LargeBinary(), nullable=False),
    sa.Column('key_for_office', sa.LargeBinary(), nullable=False),
    sa.Column('key_for_reporter', sa.LargeBinary(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('outcome', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['office_id'], ['offices.id'], name=op.f('fk_tips_office_id_offices')),
    sa.ForeignKeyConstraint(['office_key_id'], ['office_keys.id'], name=op.f('fk_tips_office_key_id_office_keys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tips')),
    sa.UniqueConstraint('lookup_id', name=op.f('uq_tips_lookup_id')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('tips', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tips_office_id'), ['office_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tips_received_on'), ['received_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_tips_status'), ['status'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tip_id', sa.String(length=32), nullable=False),
    sa.Column('author', sa.String(length=16), nullable=False),
    sa.Column('written_on', sa.Date(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['tip_id'], ['tips.id'], name=op.f('fk_messages_tip_id_tips'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messages_tip_id'), ['tip_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('offices', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_offices_current_key_id_office_keys'), type_='foreignkey')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_tip_id'))

    op.drop_table('messages')
    with op.batch_alter_table('tips', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tips_status'))
        batch_op.drop_index(batch_op.f('ix_tips_received_on'))
        batch_op.drop_index(batch_op.f('ix_tips_office_id'))

    op.drop_table('tips')
    with op.batch_alter_table('office_grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_office_grants_office_key_id'))
        batch_op.drop_index(batch_op.f('ix_office_grants_inspector_id'))

    op.drop_table('office_grants')
    op.drop_table('pending_setup')
    with op.batch_alter_table('office_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_office_keys_office_id'))

    op.drop_table('office_keys')
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sessions_purge_after'))

    op.drop_table('sessions')
    op.drop_table('offices')
    op.drop_table('install_settings')
    op.drop_table('inspectors')
