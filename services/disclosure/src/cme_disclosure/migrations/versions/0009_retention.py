"""Retention and disposal (issue 14, item 1): tombstones, the disposal role.

Placeholder laid by the lead so that parallel work chains in a fixed order; filled by its owner.

Revision ID: 0009
Revises: 0008
"""

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
