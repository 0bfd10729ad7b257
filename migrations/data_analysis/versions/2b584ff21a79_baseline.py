"""baseline

Revision ID: 2b584ff21a79
Revises: 
Create Date: 2026-11-28 01:09:50.030375

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2b584ff21a79'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
