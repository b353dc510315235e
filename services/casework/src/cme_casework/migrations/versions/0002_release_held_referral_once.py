"""A held referral is released (acted on) at most once: an officer's exception and a lifted restriction may race.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("case_history_released_once", "case_history", ["supersedes"], unique=True,
                    postgresql_where=sa.text("kind = 'referral_released'"))


def downgrade() -> None:
    op.drop_index("case_history_released_once", table_name="case_history")
