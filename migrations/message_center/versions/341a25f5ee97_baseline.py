"""baseline

Revision ID: 341a25f5ee97
Revises: 
Create Date: 2026-11-28 01:09:49.209983

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '341a25f5ee97'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
