"""baseline

Revision ID: b19c8280f1f4
Revises: 
Create Date: 2026-11-28 01:09:48.445383

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b19c8280f1f4'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
