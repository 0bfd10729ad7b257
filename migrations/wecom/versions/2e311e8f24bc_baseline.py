"""baseline

Revision ID: 2e311e8f24bc
Revises: 
Create Date: 2026-11-28 01:09:46.913345

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2e311e8f24bc'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
