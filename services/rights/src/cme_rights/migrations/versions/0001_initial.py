"""The kit's outbox and inbox.

Revision ID: 0001
Revises:
"""
from alembic import op

from cme_shared.migrations import create_kit_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_kit_tables()


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_table("outbox")
