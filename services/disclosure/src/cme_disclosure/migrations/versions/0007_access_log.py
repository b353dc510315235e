"""Who looked at whose record: the kit's access log (issue 13), append-only like the other history.

Revision ID: 0007
Revises: 0006
"""
from cme_shared.migrations import create_access_log, drop_access_log

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_access_log()


def downgrade() -> None:
    drop_access_log()
