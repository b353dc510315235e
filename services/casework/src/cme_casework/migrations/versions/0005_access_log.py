"""Who looked at whose record: the kit's access log (issue 13), append-only like the other history.

Revision ID: 0005
Revises: 0004
"""
from cme_shared.migrations import create_access_log, drop_access_log

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_access_log()


def downgrade() -> None:
    drop_access_log()
