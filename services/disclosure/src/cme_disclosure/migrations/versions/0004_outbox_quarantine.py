"""The outbox relay quarantines a row it cannot send, so that the rows behind it flow on (issue 11).

Revision ID: 0004
Revises: 0003
"""
from cme_shared.migrations import add_outbox_quarantine, drop_outbox_quarantine

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_outbox_quarantine()


def downgrade() -> None:
    drop_outbox_quarantine()
