"""baseline

Revision ID: d933170309fa
Revises: 
Create Date: 2026-11-28 01:09:46.138561

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd933170309fa'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
