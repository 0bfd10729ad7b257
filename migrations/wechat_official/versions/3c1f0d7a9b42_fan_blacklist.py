"""official account: fans carry the account's blacklist

Revision ID: 3c1f0d7a9b42
Revises: b91c5bb392ce
Create Date: 2026-11-28 11:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3c1f0d7a9b42'
down_revision = 'b91c5bb392ce'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('wechat_fans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('blacklisted', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('wechat_fans', schema=None) as batch_op:
        batch_op.drop_column('blacklisted')
