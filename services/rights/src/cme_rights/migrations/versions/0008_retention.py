"""Retention and disposal (issue 14, item 1): legal holds, tombstones, the disposal role.

Placeholder laid by the lead so that parallel work chains in a fixed order; filled by its owner.

Revision ID: 0008
Revises: 0007
"""

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
