"""published months: the transparency page's suppressed monthly aggregates

Revision ID: 0006
Revises: 0005
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('published_months',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('scope', sa.String(length=32), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=True),
    sa.Column('cells', sa.Text(), nullable=False),
    sa.Column('published_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['office_id'], ['offices.id'], name=op.f('fk_published_months_office_id_offices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_published_months')),
    sa.UniqueConstraint('month', 'scope', name=op.f('uq_published_months_month'))
    )


def downgrade() -> None:
    op.drop_table('published_months')
