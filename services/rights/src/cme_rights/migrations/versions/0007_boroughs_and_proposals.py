"""Rights requests belong to a borough, an officer's decision may await the DPO, the printed pack is kept
(issue 13: SEC-06, SEC-12, SEC-25).

Requests recorded before this revision have no borough: only the cross-borough roles see them until
someone re-gathers their data (the identity index's answer then gives the borough of the subject's
records).

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("rights_requests", sa.Column("borough", sa.Text(), nullable=True))
    op.add_column("rights_requests", sa.Column("pending_proposal", JSONB(), nullable=True))
    op.add_column("rights_requests", sa.Column("response_pdf", sa.LargeBinary(), nullable=True))
    op.create_index("rights_requests_borough", "rights_requests", ["borough"])


def downgrade() -> None:
    op.drop_index("rights_requests_borough", table_name="rights_requests")
    op.drop_column("rights_requests", "response_pdf")
    op.drop_column("rights_requests", "pending_proposal")
    op.drop_column("rights_requests", "borough")
