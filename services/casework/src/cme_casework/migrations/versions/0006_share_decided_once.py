"""A proposed share is decided (made or refused) at most once (the two-person rule, SEC-17).

The case row is locked while a decision is recorded, so two managers deciding the same share queue up
and the second is refused; this index makes the database refuse a second decision whatever path wrote it.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("case_history_share_decided_once", "case_history", [sa.text("(detail ->> 'share_id')")],
                    unique=True, postgresql_where=sa.text("kind IN ('share_made', 'share_refused')"))


def downgrade() -> None:
    op.drop_index("case_history_share_decided_once", table_name="case_history")
