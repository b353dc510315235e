"""Who looked at whose record: the kit's access log (issue 13), append-only like the other history.

Revision ID: 0006
Revises: 0005
"""
from cme_shared.migrations import create_access_log, drop_access_log

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_access_log()


def downgrade() -> None:
    drop_access_log()
