"""Retention and disposal (issue 14, item 1): tombstones, the disposal role.

Placeholder laid by the lead so that parallel work chains in a fixed order; filled by its owner.

Revision ID: 0007
Revises: 0006
"""

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
