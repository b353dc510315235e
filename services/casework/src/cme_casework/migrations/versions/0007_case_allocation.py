"""Cases allocated to officers (issue 15): `cases.allocated_to`, projected from `case_allocated` entries.

The allocation itself is a history entry (append-only, who allocated, to whom, when); this column is the
projection's copy the caseload filters on (`GET /cases?allocated_to=`). Existing cases have no allocation
entry, so null is what their history adds up to.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("allocated_to", sa.Text(), nullable=True))
    op.create_index("cases_allocated_to", "cases", ["allocated_to"])


def downgrade() -> None:
    op.drop_index("cases_allocated_to", table_name="cases")
    op.drop_column("cases", "allocated_to")
