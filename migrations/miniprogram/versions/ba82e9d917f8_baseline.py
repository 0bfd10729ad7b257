"""baseline

Revision ID: ba82e9d917f8
Revises: 
Create Date: 2026-11-28 01:09:47.679154

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'ba82e9d917f8'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
